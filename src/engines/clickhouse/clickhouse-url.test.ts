import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FvError } from '../../errors/index.ts';
import { isClickHouseUrl, parseClickHouseUrl } from './clickhouse-url.ts';

const fails = (url: string, env: NodeJS.ProcessEnv = {}): FvError => {
  try {
    parseClickHouseUrl(url, env);
  } catch (error) {
    if (error instanceof FvError) return error;
    throw error;
  }
  throw new Error(`parsed ${url}`);
};

describe('parseClickHouseUrl', () => {
  it('reads users, hosts, database and cluster, and never shows the password', () => {
    const w = parseClickHouseUrl('clickhouse://fv@127.0.0.1:8123,127.0.0.2:8124/fv?cluster=two', {
      FLEETVAULT_CLICKHOUSE_PASSWORD: 's@cret',
    });
    expect(w).toMatchObject({
      user: 'fv',
      password: 's@cret',
      hosts: ['127.0.0.1:8123', '127.0.0.2:8124'],
      database: 'fv',
      cluster: 'two',
      secure: false,
    });
    expect(w.display).toBe('clickhouse://fv@127.0.0.1:8123,127.0.0.2:8124/fv?cluster=two');
    expect(w.display).not.toContain('cret');
  });

  it('takes the password from FLEETVAULT_CLICKHOUSE_PASSWORD when the URL has none', () => {
    const w = parseClickHouseUrl('clickhouse://fv@localhost:8123/db', {
      FLEETVAULT_CLICKHOUSE_PASSWORD: 'pw',
    });
    expect(w.password).toBe('pw');
  });

  it('refuses a password in the URL (it would show in ps), without repeating it', () => {
    for (const url of [
      'clickhouse://fv:topsecret@127.0.0.1:8123/fv',
      'clickhouses://fv:topsecret@ch1.internal:8443/fv',
      'clickhouse://fv:@127.0.0.1:8123/fv',
    ]) {
      const e = fails(url, { FLEETVAULT_CLICKHOUSE_PASSWORD: 'other' });
      expect(e.code, url).toBe('FV_SECRET_IN_URL');
      expect(e.message).not.toContain('topsecret');
      expect(e.message).toContain('FLEETVAULT_CLICKHOUSE_PASSWORD');
    }
  });

  it('reads the password from a file readable by its owner only, named in the URL or the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-pw-'));
    const file = join(dir, 'ch.pw');
    writeFileSync(file, 'from-file\n', { mode: 0o600 });
    expect(parseClickHouseUrl(`clickhouse://fv@127.0.0.1:8123/fv?password_file=${file}`, {}).password).toBe(
      'from-file',
    );
    const viaEnv = parseClickHouseUrl('clickhouse://fv@127.0.0.1:8123/fv', {
      FLEETVAULT_CLICKHOUSE_PASSWORD_FILE: file,
      FLEETVAULT_CLICKHOUSE_PASSWORD: 'loses',
    });
    expect(viaEnv.password).toBe('from-file');
    expect(viaEnv.display).not.toContain('password_file');
    chmodSync(file, 0o644);
    const e = fails(`clickhouse://fv@127.0.0.1:8123/fv?password_file=${file}`);
    expect(e.code).toBe('FV_SECRET_FILE_INSECURE');
    expect(e.message).not.toContain('from-file');
    expect(fails(`clickhouse://fv@127.0.0.1:8123/fv?password_file=${file}.missing`).code).toBe(
      'FV_SECRET_FILE_INSECURE',
    );
  });

  it('refuses plain HTTP beyond loopback, naming the host but not the password', () => {
    const e = fails('clickhouse://fv@127.0.0.1:8123,ch2.internal:8123/fv?cluster=c', {
      FLEETVAULT_CLICKHOUSE_PASSWORD: 'topsecret',
    });
    expect(e.code).toBe('FV_STORE_INSECURE');
    expect(e.message).toContain('ch2.internal:8123');
    expect(e.message).not.toContain('topsecret');
    expect(fails('clickhouse://fv@10.0.0.5:8123/fv').code).toBe('FV_STORE_INSECURE');
    expect(fails('clickhouse://fv@[2001:db8::1]:8123/fv').code).toBe('FV_STORE_INSECURE');
    expect(parseClickHouseUrl('clickhouse://fv@[::1]:8123/fv', {}).hosts).toEqual(['[::1]:8123']);
  });

  it('speaks HTTPS for clickhouses://, with a private CA from FLEETVAULT_CLICKHOUSE_CA', () => {
    const w = parseClickHouseUrl('clickhouses://fv@ch1.internal:8443,ch2.internal:8443/fv?cluster=c', {
      FLEETVAULT_CLICKHOUSE_CA: '/etc/fv/ca.pem',
    });
    expect(w).toMatchObject({ secure: true, caFile: '/etc/fv/ca.pem' });
    expect(w.display).toBe('clickhouses://fv@ch1.internal:8443,ch2.internal:8443/fv?cluster=c');
    expect(isClickHouseUrl('clickhouses://x@h:1/d')).toBe(true);
    expect(isClickHouseUrl('store.duckdb')).toBe(false);
  });

  it('refuses what it cannot use, with one clear message', () => {
    expect(fails('clickhouse://fv@127.0.0.1/fv').message).toMatch(/without a port/);
    expect(fails('clickhouse://fv@127.0.0.1:1,127.0.0.1:2/fv').message).toMatch(/no \?cluster=/);
    expect(fails('clickhouse://fv@127.0.0.1:1/f-v').message).toMatch(/plain identifier/);
    expect(fails('clickhouse://fv@127.0.0.1:1/fv?secure=1').message).toMatch(/unknown parameter "secure"/);
    expect(parseClickHouseUrl('clickhouse://fv@127.0.0.1:1/fv', {}).user).toBe('fv');
  });
});
