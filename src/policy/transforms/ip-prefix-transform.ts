import { isIPv4, isIPv6 } from 'node:net';
import type { Value } from '../classes.ts';
import type { Transform, TransformFactory } from './transform.ts';

function v4Prefix(ip: string, bits: number): string {
  const n = ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  const masked = bits === 0 ? 0 : n - (n % 2 ** (32 - bits));
  const parts = [24, 16, 8, 0].map((shift) => Math.floor(masked / 2 ** shift) % 256);
  return `${parts.join('.')}/${bits}`;
}

function expandV6(ip: string): number[] {
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') && tail ? tail.split(':') : [];
  const fill = ip.includes('::') ? new Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => Number.parseInt(g, 16));
}

function v6Prefix(ip: string, bits: number): string {
  const groups = expandV6(ip.split('%')[0] ?? ip);
  const kept = groups.map((g, i) => {
    const start = i * 16;
    if (start >= bits) return 0;
    if (start + 16 <= bits) return g;
    const keep = bits - start;
    return g & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${kept.map((g) => g.toString(16)).join(':')}/${bits}`;
}

function ipPrefixTransform(v4Bits: number, v6Bits: number): Transform {
  return {
    name: 'ip_prefix',
    classes: ['personal', 'attribute'],
    accepts: (kind) => kind === 'text',
    outputKind: () => 'text',
    apply(value: Value): Value {
      if (value === null) return null;
      const ip = String(value).split('/')[0] ?? '';
      if (isIPv4(ip)) return v4Prefix(ip, v4Bits);
      if (isIPv6(ip)) return v6Prefix(ip, v6Bits);
      return null;
    },
    describe: () => `IP kept as its /${v4Bits} (IPv4) or /${v6Bits} (IPv6) network`,
    detail: { family: 'ip', levels: [v4Bits, v6Bits] },
  };
}

/** `transform: ip_prefix` (/24 and /48) or `{ ip_prefix: 16 }` (IPv4 bits; IPv6 keeps /48). */
export const ipPrefixTransformFactory: TransformFactory = {
  name: 'ip_prefix',
  aliases: ['ip_prefix'],
  create(param) {
    if (param === undefined || param === null || param === true) return ipPrefixTransform(24, 48);
    if (typeof param === 'number' && Number.isInteger(param) && param >= 0 && param <= 24) {
      return ipPrefixTransform(param, 48);
    }
    return 'ip_prefix takes the IPv4 prefix length, an integer from 0 to 24';
  },
};
