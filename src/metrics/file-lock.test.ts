import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileLock } from './file-lock.ts';

const fresh = () => new FileLock(join(mkdtempSync(join(tmpdir(), 'fv-lock-')), 'privacy-budget.json'));
const holder = (pid: number, host = hostname()) => JSON.stringify({ pid, host, nonce: 'left-behind' });
/** A pid that was a process a moment ago and is gone now. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid as number;
const old = (path: string) => {
  const t = new Date(Date.now() - 60_000);
  utimesSync(path, t, t);
};

describe('the lock between processes on one file', () => {
  it('runs the work holding `<file>.lock` (with its pid), then removes it, also when the work throws', async () => {
    const lock = fresh();
    const seen = await lock.hold(() => JSON.parse(readFileSync(lock.path, 'utf8')));
    expect(seen).toMatchObject({ pid: process.pid, host: hostname() });
    expect(existsSync(lock.path)).toBe(false);
    await expect(
      lock.hold(() => {
        throw new Error('no room');
      }),
    ).rejects.toThrow('no room');
    expect(existsSync(lock.path)).toBe(false);
  });

  it('breaks a lock left by a process that is gone, or by this very process', async () => {
    for (const pid of [deadPid(), process.pid]) {
      const lock = fresh();
      writeFileSync(lock.path, holder(pid));
      expect(await lock.hold(() => 'ran')).toBe('ran');
      expect(existsSync(lock.path)).toBe(false);
      expect(existsSync(`${lock.path}.break`)).toBe(false);
    }
  });

  it('breaks a lock older than a hold could last, even one naming a live process on another host', async () => {
    const lock = fresh();
    writeFileSync(lock.path, holder(process.ppid, 'another-host'));
    old(lock.path);
    expect(await lock.hold(() => 'ran')).toBe('ran');
    // A breaker left behind by a process that stopped while breaking does not block for ever.
    const again = fresh();
    writeFileSync(again.path, holder(deadPid()));
    writeFileSync(`${again.path}.break`, holder(deadPid()));
    old(`${again.path}.break`);
    expect(await again.hold(() => 'ran')).toBe('ran');
    expect(existsSync(`${again.path}.break`)).toBe(false);
  });

  it("never removes another holder's lock on release", async () => {
    const lock = fresh();
    const theirs = holder(process.ppid, 'another-host');
    await lock.hold(() => writeFileSync(lock.path, theirs)); // as if broken and taken meanwhile
    expect(readFileSync(lock.path, 'utf8')).toBe(theirs);
  });
});
