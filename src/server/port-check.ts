import { createServer } from 'node:net';
import { FvError } from '../errors/index.ts';
import type { ListenAddress } from './listen-address.ts';

/**
 * The catalog error for a failed listen (a busy port, an address this machine does not have), or
 * undefined for anything else.
 */
export function listenError(error: unknown, addr: ListenAddress): FvError | undefined {
  const code = (error as { code?: unknown }).code;
  const where = `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  if (code === 'EADDRINUSE')
    return new FvError(
      'FV_PORT_IN_USE',
      `${where} is already in use by another program; nothing was started`,
    );
  if (code === 'EADDRNOTAVAIL' || code === 'EACCES' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new FvError(
      'FV_LISTEN_UNAVAILABLE',
      `cannot listen on ${where} (${String(code)}); nothing was started`,
    );
  return undefined;
}

/**
 * Binds the address for a moment and lets it go, so a busy port fails before any work (a build,
 * a simulation, a sync), not after it. `listen()` still translates the same errors, for the rare
 * program that takes the port in between.
 *
 * @example
 * await requirePortFree({ host: '127.0.0.1', port: 8787 });
 */
export function requirePortFree(addr: ListenAddress): Promise<void> {
  if (addr.port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e) => reject(listenError(e, addr) ?? e));
    probe.listen({ host: addr.host, port: addr.port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
