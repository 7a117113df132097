import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/index.ts';
import { FvError } from '../errors/index.ts';
import { auditedBy } from './audited.ts';

describe('audited(action, handler)', () => {
  const audit = new AuditLog(join(mkdtempSync(join(tmpdir(), 'fv-audited-')), 'audit.jsonl'));
  const audited = auditedBy(audit);
  const app = Fastify();
  app.get(
    '/ok',
    audited('thing.read', async (_req, note) => {
      note({ asked: 'x' });
      note({ rows: 2 });
      return { rows: [1, 2] };
    }),
  );
  app.get(
    '/quiet',
    audited('thing.list', async () => ({ n: 0 })),
  );
  app.get(
    '/refused',
    audited('thing.read', async (_req, note) => {
      note({ asked: 'y' });
      throw new FvError('FV_USAGE', 'no');
    }),
  );
  app.get(
    '/broken',
    audited('thing.read', async () => {
      throw new Error('a value that must not be written');
    }),
  );
  const last = () => audit.recent(1)[0];

  it('writes one ok record with the noted facts, and answers as the handler did', async () => {
    const res = await app.inject({ url: '/ok' });
    expect(res.json()).toEqual({ rows: [1, 2] });
    expect(last()).toMatchObject({
      actor: 'anonymous',
      action: 'thing.read',
      outcome: 'ok',
      detail: { asked: 'x', rows: 2 },
    });
    await app.inject({ url: '/quiet' });
    expect(last()).toMatchObject({ action: 'thing.list', outcome: 'ok' });
    expect(last()?.detail).toBeUndefined();
  });

  it('writes a refused record with the facts and the code, then lets the error go on', async () => {
    expect((await app.inject({ url: '/refused' })).statusCode).toBe(500);
    expect(last()).toMatchObject({ outcome: 'refused', detail: { asked: 'y', code: 'FV_USAGE' } });
    await app.inject({ url: '/broken' });
    expect(last()).toMatchObject({ outcome: 'refused', detail: { code: 'FV_INTERNAL' } });
    expect(JSON.stringify(audit.recent(10))).not.toContain('must not be written');
  });
});
