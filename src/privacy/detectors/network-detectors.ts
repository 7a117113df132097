import { isIPv4, isIPv6 } from 'node:net';
import type { Detector } from './detector.ts';
import { isAscii } from './text-profile.ts';
import { matchesOf } from './token-boundary.ts';

// An address is found from its `@`: a local-part character right before it, a domain right after
// (one expression over the whole text, `[A-Za-z0-9._%+-]+@…`, backtracked over every long run of
// local-part characters: 80,000 characters and an `@` took 3.7 s, a million 15 minutes).
const LOCAL_END = /[A-Za-z0-9._%+-]$/;
const DOMAIN = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
// Local parts and domains in any script (after NFKC): `josé@exämple.de`, `用户@例子.广告`.
const LOCAL_END_UNICODE = /[\p{L}\p{N}._%+-]$/u;
const DOMAIN_UNICODE = /^[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/u;
/** A domain is at most 253 characters; an address's domain is looked for in that much text. */
const DOMAIN_MAX = 253;

/** Whether an e-mail address is in `t`: what `LOCAL+@DOMAIN` matches, in time linear in `t`. */
export function hasEmail(t: string, unicode: boolean): boolean {
  const localEnd = unicode ? LOCAL_END_UNICODE : LOCAL_END;
  const domain = unicode ? DOMAIN_UNICODE : DOMAIN;
  for (let at = t.indexOf('@'); at >= 0; at = t.indexOf('@', at + 1)) {
    if (at === 0 || !localEnd.test(t.slice(Math.max(0, at - 2), at))) continue;
    if (domain.test(t.slice(at + 1, at + 1 + DOMAIN_MAX))) return true;
  }
  return false;
}
const IPV4 = /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)(?:\/\d{1,2})?/g;
// Dotted forms with hexadecimal or octal parts (`0xC0.0xA8.0x1.0x1`, `0300.0250.01.01`): nobody
// writes those except to disguise an address.
const IPV4_ENCODED_PARTS =
  /(?<![\w.])(?:0x[0-9A-Fa-f]{1,2}|0[0-7]{1,3}|\d{1,3})(?:\.(?:0x[0-9A-Fa-f]{1,2}|0[0-7]{1,3}|\d{1,3})){3}(?![\w.])/g;
// An address as one number, where a host or an address is expected: `http://3232235777/`,
// `ip=0xC0A80101`. A scheme is at most 64 characters here: unbounded, the expression backtracked
// over every long run of scheme characters (quadratic: 40,000 characters took 1 s).
const IPV4_AS_NUMBER =
  /(?:[a-z][a-z0-9+.-]{0,63}:\/\/(?:[^\s/@]*@)?|\b(?:ip|ipv4|ip_?addr(?:ess)?|addr(?:ess)?|remote_?addr|client_?ip|src_?ip|dst_?ip|host)\s*[=:]\s*)(0x[0-9A-Fa-f]{1,8}|\d{8,10})(?![\w.])/gi;
const IPV6 =
  /(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?:%\w+)?(?![\w:]|\.\d)/g;
const MAC =
  /(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])|(?<![\w.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![\w.])/g;
const MAC_BARE_KEYED = /\b(?:mac|mac_?addr(?:ess)?|hwaddr|bssid|ether)\s*[=:]\s*([0-9A-Fa-f]{12})(?![\w])/gi;
const MAC_KEY = /mac|hwaddr|bssid|ether/i;
const HOST_KEY = /:\/\/|ip|addr|host|src|dst/i;
const HEX12 = /^\s*([0-9A-Fa-f]{12})\s*$/;

function decodePart(p: string): number {
  if (/^0x/i.test(p)) return Number.parseInt(p.slice(2), 16);
  if (p.length > 1 && p.startsWith('0')) return Number.parseInt(p, 8);
  return Number(p);
}

/** `ff:ff:ff:ff:ff:ff` (broadcast) and `00:00:00:00:00:00` point at no device. */
function isDeviceMac(hex12: string): boolean {
  return !/^(?:0{12}|[fF]{12})$/.test(hex12);
}

const numberInIpv4Range = (n: number) => Number.isInteger(n) && n >= 0x01000000 && n <= 0xffffffff;

export const emailDetector: Detector = {
  name: 'email',
  finds: 'e-mail addresses, also percent-encoded, full-width or with invisible characters inside',
  gate: (p) => p.at > 0,
  test: (t) => hasEmail(t, false) || (!isAscii(t) && hasEmail(t, true)),
};

export const ipv4Detector: Detector = {
  name: 'ipv4',
  finds:
    'IPv4 addresses (dotted, dotted hex or octal, or one number where a host is expected); not network prefixes wider than /24',
  gate: (p) => p.dot >= 3 || (p.colon + p.equals > 0 && p.digits >= 6),
  test: (t, p) => {
    if (p.dot >= 3) {
      for (const m of matchesOf(IPV4, t)) {
        const [ip = '', bits] = m[0].split('/');
        // A network of 256 addresses or more (a /24 prefix) points at no one.
        if (bits !== undefined && Number(bits) <= 24) continue;
        if (isIPv4(ip) && ip !== '0.0.0.0' && ip !== '255.255.255.255') return true;
      }
      if (/0x|\.0\d/i.test(t)) {
        for (const m of matchesOf(IPV4_ENCODED_PARTS, t)) {
          if (!/0x|(?:^|\.)0\d/i.test(m[0])) continue;
          if (m[0].split('.').every((p) => decodePart(p) <= 255)) return true;
        }
      }
    }
    if (p.colon + p.equals > 0 && t.length >= 10 && HOST_KEY.test(t)) {
      for (const m of matchesOf(IPV4_AS_NUMBER, t))
        if (numberInIpv4Range(decodePart(m[1] ?? ''))) return true;
    }
    return false;
  },
  inColumn: {
    column: /(^|_)(ip|ipv4|ip_?addr(ess)?|remote_?addr|client_?ip|host_?ip)($|_)/i,
    test: (t) => {
      const v = t.trim();
      return /^(0x[0-9A-Fa-f]{1,8}|\d{8,10})$/.test(v) && numberInIpv4Range(decodePart(v));
    },
  },
};

export const ipv6Detector: Detector = {
  name: 'ipv6',
  finds: 'IPv6 addresses with at least two groups (not `::` or `::1`)',
  gate: (p) => p.colon >= 2 && p.longestRun >= 3,
  test: (t) => {
    for (const m of matchesOf(IPV6, t)) {
      const a = m[0];
      const groups = a.split(':').filter((g) => /[0-9A-Fa-f]/.test(g));
      if (groups.at(-1)?.includes('.')) groups.push('ipv4');
      const prefix = /^\/(\d{1,3})/.exec(t.slice(m.index + a.length));
      if (prefix && Number(prefix[1]) <= 64) continue;
      if (groups.length >= 2 && isIPv6(a.split('%')[0] ?? '')) return true;
    }
    return false;
  },
};

export const macDetector: Detector = {
  name: 'mac',
  finds:
    'MAC addresses (colon, dash or Cisco dot form; 12 bare hex digits after a mac= key); not broadcast or all-zero',
  gate: (p) => p.colon >= 5 || p.dash >= 5 || p.dot >= 2 || (p.colon + p.equals > 0 && p.length >= 15),
  test: (t, p) => {
    if (p.colon >= 5 || p.dash >= 5 || p.dot >= 2) {
      for (const m of matchesOf(MAC, t)) if (isDeviceMac(m[0].replace(/[^0-9A-Fa-f]/g, ''))) return true;
    }
    if (p.colon + p.equals > 0 && t.length >= 15 && MAC_KEY.test(t)) {
      for (const m of matchesOf(MAC_BARE_KEYED, t)) if (isDeviceMac(m[1] ?? '')) return true;
    }
    return false;
  },
  inColumn: {
    column: /(^|_)(mac|mac_?addr(ess)?|hwaddr|bssid|ether(net)?_?addr)($|_)/i,
    test: (t) => {
      const m = HEX12.exec(t);
      return m !== null && isDeviceMac(m[1] as string);
    },
  },
};
