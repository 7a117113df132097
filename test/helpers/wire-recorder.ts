import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { PG_HOST, PG_PORT } from './pg.ts';

/**
 * A loopback TCP relay in front of the machine's PostgreSQL that keeps every byte the server
 * sends. A value absent from these bytes never reached the client's memory.
 */
export interface WireRecorder {
  readonly port: number;
  url(database: string, user: string): string;
  /** Everything the server sent to clients through the relay so far. */
  received(): Buffer;
  close(): Promise<void>;
}

export async function wireRecorder(): Promise<WireRecorder> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = tcpConnect(PG_PORT, PG_HOST);
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (database, user) => `postgres://${user}@127.0.0.1:${port}/${database}`,
    received: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
