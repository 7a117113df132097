import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { FvError } from '../errors/index.ts';
import { isLoopback } from '../net/index.ts';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` or `[v6]:port`. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65_535)
    throw new FvError('FV_USAGE', `--listen is host:port, e.g. 127.0.0.1:8787 (got "${text}")`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Nothing listens beyond loopback without TLS. */
export function requireSafeListen(addr: ListenAddress, tls: boolean): void {
  if (!isLoopback(addr.host) && !tls) {
    throw new FvError(
      'FV_LISTEN_INSECURE',
      `refusing to listen on ${addr.host}:${addr.port} without TLS: only loopback addresses may serve plain HTTP`,
    );
  }
}

/**
 * The address to bind: an IP literal as given, a name resolved first. Without TLS every address
 * the name resolves to must be loopback (a `localhost` pointed at 0.0.0.0 in /etc/hosts is
 * refused), and the resolved address is what is bound, so the check and the bind see the same
 * address.
 *
 * @example
 * await resolveListen(parseListen('localhost:8787'), false); // { host: '127.0.0.1', port: 8787 }
 */
export async function resolveListen(addr: ListenAddress, tls: boolean): Promise<ListenAddress> {
  if (isIP(addr.host) !== 0) {
    requireSafeListen(addr, tls);
    return addr;
  }
  let found: Array<{ address: string }>;
  try {
    found = await lookup(addr.host, { all: true, verbatim: true });
  } catch {
    found = [];
  }
  const first = found[0];
  if (!first)
    throw new FvError('FV_USAGE', `--listen names ${addr.host}, which does not resolve to an address`);
  const wide = found.filter((a) => !isLoopback(a.address));
  if (!tls && wide.length > 0) {
    throw new FvError(
      'FV_LISTEN_INSECURE',
      `refusing to listen on ${addr.host}:${addr.port} without TLS: the name resolves to ${wide.map((a) => a.address).join(', ')}, not only loopback`,
    );
  }
  return { host: first.address, port: addr.port };
}
