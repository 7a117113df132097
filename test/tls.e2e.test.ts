// End to end: what a real `fleetvault serve --tls-cert …` offers, asked the way an auditor asks,
// with `openssl s_client` trying every TLS 1.2 suite OpenSSL knows, one at a time.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duckdb } from '../src/engines/index.ts';
import { TLS_CIPHERS } from '../src/server/index.ts';
import { BIN } from './helpers/cli.ts';
import { DEMO_METRICS } from './helpers/synced-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'fv-tls-'));
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }).toString();

/** Whether a handshake with exactly these options succeeds (`s_client` exits 0 only then). */
function handshake(port: number, ...args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, ...args],
      { timeout: 10_000 },
      (error) => resolve(!error),
    );
    child.stdin?.end();
  });
}

/** Every TLS 1.2 suite this OpenSSL can offer, at security level 0 so the weak ones are offered too. */
function tls12Suites(): string[] {
  return ssl('ciphers', '-v', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] !== 'TLSv1.3')
    .map((f) => f[0] as string);
}

async function serve(
  cert: string,
  key: string,
  store: string,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--store',
      store,
      '--metrics',
      DEMO_METRICS,
      '--policy',
      join(dir, 'no-policy.yaml'),
      '--state-dir',
      join(dir, `state-${cert.replace(/\W/g, '')}`),
      '--probe-every',
      'off',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let said = '';
  const port = await new Promise<number>((resolve, reject) => {
    const seen = (d: Buffer) => {
      said += d;
      const p = Number(/on https:\/\/127\.0\.0\.1:(\d+)\//.exec(said)?.[1] ?? 0);
      if (p > 0) resolve(p);
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${said}`)));
  });
  return { child, port };
}

describe('TLS offered by serve', () => {
  const servers: ChildProcess[] = [];
  let rsa: number;
  let ecdsa: number;

  beforeAll(async () => {
    const store = join(dir, 'store.duckdb');
    await (await duckdb.openStore(store)).close();
    const subj = ['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2', '-nodes'];
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-keyout', 'rsa.key', '-out', 'rsa.pem', ...subj);
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-keyout',
      'ec.key',
      '-out',
      'ec.pem',
      ...subj,
    );
    const a = await serve(join(dir, 'rsa.pem'), join(dir, 'rsa.key'), store);
    const b = await serve(join(dir, 'ec.pem'), join(dir, 'ec.key'), store);
    servers.push(a.child, b.child);
    rsa = a.port;
    ecdsa = b.port;
  });

  afterAll(() => {
    for (const s of servers) s.kill('SIGTERM');
  });

  it('TLS 1.2: only forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305), for RSA and ECDSA keys', async () => {
    const suites = tls12Suites();
    expect(suites.length).toBeGreaterThan(40);
    // The weak ones the review found are among what the client offers.
    for (const weak of [
      'AES128-SHA',
      'AES256-SHA',
      'AES128-GCM-SHA256',
      'ECDHE-RSA-AES128-SHA',
      'AES128-SHA256',
    ])
      expect(suites).toContain(weak);
    const accepted: Record<string, string[]> = { rsa: [], ecdsa: [] };
    for (const [name, port] of [
      ['rsa', rsa],
      ['ecdsa', ecdsa],
    ] as const) {
      for (let i = 0; i < suites.length; i += 8) {
        const chunk = suites.slice(i, i + 8);
        const ok = await Promise.all(
          chunk.map((s) => handshake(port, '-tls1_2', '-cipher', `${s}:@SECLEVEL=0`)),
        );
        chunk.forEach((s, j) => {
          if (ok[j]) accepted[name]?.push(s);
        });
      }
    }
    expect(accepted.rsa?.sort()).toEqual([
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ]);
    expect(accepted.ecdsa?.sort()).toEqual([
      'ECDHE-ECDSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-CHACHA20-POLY1305',
    ]);
    for (const s of [...(accepted.rsa ?? []), ...(accepted.ecdsa ?? [])]) {
      expect(s).toMatch(/^ECDHE-/);
      expect(s).toMatch(/-GCM-|CHACHA20-POLY1305/);
      expect(TLS_CIPHERS).toContain(s);
    }
  });

  it('TLS 1.3 with its three AEAD suites; TLS 1.0 and 1.1 refused', async () => {
    for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'])
      expect(await handshake(rsa, '-tls1_3', '-ciphersuites', suite), suite).toBe(true);
    for (const old of ['-tls1', '-tls1_1'])
      expect(await handshake(rsa, old, '-cipher', 'ALL:@SECLEVEL=0'), old).toBe(false);
    // A client that offers everything gets one of the suites above.
    const plain = await new Promise<string>((resolve) => {
      const c = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${rsa}`, '-tls1_2'], (_e, out) =>
        resolve(String(out)),
      );
      c.stdin?.end();
    });
    expect(plain).toMatch(/Cipher is ECDHE-RSA-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)/);
  });
});
