import { isIPv4 } from 'node:net';

/**
 * Loopback only, judged on an address, never on a name: 127.0.0.0/8, ::1 and ::ffff:127.x. A name
 * such as `localhost` is resolved first (resolveListen), since /etc/hosts may point it anywhere.
 */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith('127.');
}
