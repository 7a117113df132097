import { isIPv4 } from 'node:net';
import { FvError } from '../errors/index.ts';

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

/** Loopback only: 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
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
