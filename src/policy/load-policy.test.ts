import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLASS_RULES, CLASSES } from './classes.ts';
import { parsePolicy } from './load-policy.ts';
import { readColumns } from './read-plan.ts';

const demo = readFileSync(new URL('../../examples/demo/fleetvault.policy.yaml', import.meta.url), 'utf8');

describe('policy loading', () => {
  it('loads the demo policy without problems', () => {
    const { policy, problems } = parsePolicy(demo, 'demo.yaml');
    expect(problems).toEqual([]);
    expect(policy?.k).toBe(10);
    const users = policy!.tables.get('users')!;
    expect(users.columns.get('password_hash')?.action).toBe('never_read');
    expect(users.columns.get('email')?.action).toBe('drop');
    expect(users.columns.get('birth_date')?.action).toBe('generalize');
    expect(users.columns.get('id')?.domain).toBe('user');
    expect(readColumns(users)).toEqual([
      'id',
      'birth_date',
      'country',
      'timezone',
      'created_at',
      'updated_at',
      'deleted_at',
    ]);
  });

  it('reports every problem at once, each with its line and column', () => {
    const text = [
      'version: 1',
      'k: 1',
      'tables:',
      '  users:',
      '    primary_key: id',
      '    colour: red',
      '    columns:',
      '      id: { class: identifier }',
      '      email: { class: personal, action: keep }',
      '      token: { class: secret, action: pseudonymize }',
      '      born: { class: personal, transform: decade }',
      '      n: { class: measure, transform: year }',
      '      note: { class: nonsense }',
    ].join('\n');
    const { problems } = parsePolicy(text, 'p.yaml');
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(byPath.k?.line).toBe(2);
    expect(byPath['tables.users.colour']?.line).toBe(6);
    expect(byPath['tables.users.columns.id.domain']?.message).toContain('domain');
    expect(byPath['tables.users.columns.email.action']?.message).toContain('not allowed for class personal');
    expect(byPath['tables.users.columns.token.action']?.line).toBe(10);
    expect(byPath['tables.users.columns.born.transform']?.message).toContain('unknown transform');
    expect(byPath['tables.users.columns.n.transform']?.message).toContain('not allowed for class measure');
    expect(byPath['tables.users.columns.note.class']?.line).toBe(13);
  });

  it('turns a YAML syntax error into one problem with its position, never a throw', () => {
    const { policy, problems } = parsePolicy('version: 1\ntables:\n  users: [\n', 'bad.yaml');
    expect(policy).toBeUndefined();
    expect(problems[0]?.code).toBe('FV_POLICY_SYNTAX');
    expect(problems[0]?.line).toBeGreaterThan(1);
  });

  it('retention needs a stored time column and whole days', () => {
    const table = (r: string) =>
      `version: 1\ntables:\n  t:\n    primary_key: id\n    retention: ${r}\n    columns:\n      id: { class: attribute }\n      ts: { class: time }\n      n: { class: measure }\n`;
    expect(
      parsePolicy(table('{ column: ts, days: 400 }'), 'p.yaml').policy?.tables.get('t')?.retention,
    ).toEqual({ column: 'ts', days: 400 });
    expect(parsePolicy(table('{ column: n, days: 400 }'), 'p.yaml').problems[0]?.path).toBe(
      'tables.t.retention.column',
    );
    expect(parsePolicy(table('400d'), 'p.yaml').problems[0]?.path).toBe('tables.t.retention');
  });

  it('a secret can never be read, whatever action is written', () => {
    for (const action of ['keep', 'pseudonymize', 'generalize', 'drop']) {
      const { problems } = parsePolicy(
        `version: 1\ntables:\n  t:\n    primary_key: id\n    columns:\n      id: { class: attribute }\n      s: { class: secret, action: ${action} }\n`,
        'p.yaml',
      );
      expect(problems.some((p) => p.path === 'tables.t.columns.s.action')).toBe(true);
    }
  });

  it('every class accepts its default action and refuses anything outside its list (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CLASSES),
        fc.constantFrom('never_read', 'drop', 'pseudonymize', 'keep'),
        (cls, action) => {
          const domain = cls === 'identifier' ? ', domain: x' : '';
          const agg = cls === 'sensitive' ? ', aggregate_only: true' : '';
          const text = `version: 1\ntables:\n  t:\n    primary_key: id\n    columns:\n      id: { class: attribute }\n      c: { class: ${cls}, action: ${action}${domain}${agg} }\n`;
          const { problems } = parsePolicy(text, 'p.yaml');
          const refused = problems.some(
            (p) => p.path.startsWith('tables.t.columns.c') && p.code === 'FV_POLICY_ACTION_NOT_ALLOWED',
          );
          return refused === !CLASS_RULES[cls].allowed.includes(action as never);
        },
      ),
    );
  });

  it('never throws on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parsePolicy(s, 'fuzz.yaml');
        return Array.isArray(r.problems);
      }),
      { numRuns: 500 },
    );
  });
});
