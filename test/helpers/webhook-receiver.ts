import { createServer } from 'node:http';

/** A webhook receiver on loopback: what an alert webhook would post to outside the machine. */
export interface WebhookReceiver<T> {
  /** `http://127.0.0.1:<port>/hook` */
  readonly url: string;
  /** Each body received, as it came. */
  readonly bodies: string[];
  /** Each body received that is JSON, parsed. */
  readonly received: T[];
  close(): Promise<void>;
}

/** Starts a receiver that answers `ok` to every POST and keeps what it was sent. */
export async function startWebhookReceiver<T = unknown>(): Promise<WebhookReceiver<T>> {
  const bodies: string[] = [];
  const received: T[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      bodies.push(body);
      try {
        received.push(JSON.parse(body) as T);
      } catch {
        // Not JSON: kept in `bodies` only, for a test to find it there.
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
