import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/fleetvault.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Where commands run unless a test says otherwise: one private folder per test file, so default
 * paths (`.fleetvault/` state, audit log, approved security state) never land in the repository.
 */
const WORK_DIR = mkdtempSync(join(tmpdir(), 'fv-cli-'));

/** Runs the built CLI as a user would, in its own process. */
export function runCli(
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? WORK_DIR,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The child's exit code once it has exited (null when a signal ended it), at once when it already
 * has: an 'exit' listener added after the event would wait forever.
 */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** `serve` in its own process, listening on a free loopback port. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** The port, once it says where it listens; rejected if it exits before. */
  readonly port: Promise<number>;
  /** What it wrote so far, stdout and stderr. */
  out(): string;
}

/** Starts `fleetvault serve --store <store> --metrics <metrics> --state-dir <state> --listen 127.0.0.1:0 …extra`. */
export function spawnServe(store: string, metrics: string, state: string, ...extra: string[]): ServeProcess {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--store',
      store,
      '--metrics',
      metrics,
      '--state-dir',
      state,
      '--listen',
      '127.0.0.1:0',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const port = new Promise<number>((resolve, reject) => {
    const seen = (d: Buffer) => {
      out += d;
      const p = Number(/on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1] ?? 0);
      if (p > 0) resolve(p);
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  port.catch(() => {});
  return { child, port, out: () => out };
}

/** `ingest` in its own process. */
export interface IngestProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr as they came. */
  said(): string;
}

/** A demo device's successful connection as it publishes it (JSON), with `over` replacing fields. */
export function connectionMessage(
  id: number,
  device: string,
  ts: Date,
  over: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    id,
    device_id: device,
    ts: ts.toISOString(),
    outcome: 'success',
    error_code: null,
    rssi: -50,
    duration_ms: 100,
    client_ip: '10.1.2.3',
    app_version: '4.12.0',
    ...over,
  });
}

/** The arguments of `fleetvault ingest` of the demo devices' `fleet/+/conn` messages into connection_events. */
export function eventIngestArgs(
  o: { broker: string; policy: string; store: string; keyFile: string; stateDir: string },
  ...extra: string[]
): string[] {
  return [
    '--mqtt',
    o.broker,
    '--topic',
    'fleet/+/conn',
    '--table',
    'connection_events',
    '--policy',
    o.policy,
    '--store',
    o.store,
    '--key-file',
    o.keyFile,
    '--state-dir',
    o.stateDir,
    ...extra,
  ];
}

/** Starts `fleetvault ingest …args` and resolves once it has subscribed (rejects if it exits before). */
export async function spawnIngest(args: readonly string[]): Promise<IngestProcess> {
  const child = spawn(process.execPath, [BIN, 'ingest', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let said = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    said += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    said += d;
  });
  while (!stderr.includes('subscribed to')) {
    if (child.exitCode !== null) throw new Error(`ingest exited: ${said}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, stdout: () => stdout, stderr: () => stderr, said: () => said };
}
