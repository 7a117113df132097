// A private Mosquitto broker (Debian's binary) on a free loopback port, with persistent sessions,
// that a test can stop and start again mid-stream.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';

export interface Broker {
  readonly url: string;
  start(): Promise<void>;
  /** A clean stop: the broker writes persistent sessions and their queues to disk. */
  stop(): Promise<void>;
  /** Stops it and removes its files. */
  close(): Promise<void>;
}

export const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startBroker(): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fv-mqtt-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'max_queued_messages 0',
      // Started as root, mosquitto would drop to its own user and could not save into our folder.
      `user ${userInfo().username}`,
      '',
    ].join('\n'),
  );
  const url = `mqtt://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 500 });
        c.once('connect', () => {
          resolve(true);
          c.end(true);
        });
        c.once('error', () => {
          resolve(false);
          c.end(true);
        });
        c.once('close', () => resolve(false));
      });
      if (ok) return;
      await wait(100);
    }
    throw new Error('mosquitto did not start');
  };
  const stop = async () => {
    const b = child;
    if (!b || b.exitCode !== null) return;
    await new Promise((r) => {
      b.once('exit', r);
      b.kill('SIGTERM');
    });
  };
  await start();
  return {
    url,
    start,
    stop,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
