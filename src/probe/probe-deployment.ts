import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isLoopback } from '../net/index.ts';
import { type PiiScanner, piiScanner } from '../privacy/index.ts';
import { httpAnswer } from './http-request.ts';

/** A route as the probe sees it: how it answers a stranger decides whether it is a finding. */
export interface ProbeRoute {
  readonly method: string;
  readonly url: string;
  /** `public` routes may answer without credentials; everything else must refuse. */
  readonly access: string;
  /** What the route serves; a guessed path has none. */
  readonly kind?: RouteKind;
}

/**
 * What a route serves, set once in its Fastify route config and read by the server's auth hook
 * and by this probe: `api` answers data (and must refuse strangers unless it is the sign-in),
 * `static` is built dashboard code with no data (the same bytes for everyone), `health` says it
 * is alive and nothing more.
 */
export const ROUTE_KINDS = ['api', 'static', 'health'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

export type FindingKind =
  | 'exposed-route'
  | 'tls'
  | 'file-permissions'
  | 'pii-in-response'
  | 'unreachable'
  | 'unapproved-principal';

/** One problem: what kind, where, and why; never a value from a response. */
export interface ProbeFinding {
  readonly kind: FindingKind;
  readonly where: string;
  readonly detail: string;
}

export interface ProbeReport {
  readonly target: string;
  readonly checkedAt: string;
  readonly routesChecked: number;
  readonly filesChecked: number;
  readonly findings: readonly ProbeFinding[];
}

/** The one public route that may answer 2xx; it must say no more than this. */
const HEALTH = '/healthz';
/** Built dashboard code (HTML, JS, CSS): public so the sign-in page loads, holds no data. */
const CODE_TYPES = /^(text\/html|(text|application)\/javascript|text\/css|image\/svg\+xml|image\/png)/;
/** Paths an attacker tries on any server, whatever its route table says. */
const GUESSES = [
  '/api',
  '/api/v1',
  '/api/v1/export',
  '/api/v1/tables',
  '/admin',
  '/debug',
  '/.env',
  '/store.duckdb',
  '/.fleetvault/store.duckdb',
  '/.fleetvault/master.key',
];
const SAFE_KEYS = new Set(['requestId']);

function concrete(url: string): string {
  return url.replace(/:id\b/g, '000000000000').replace(/:([A-Za-z]+)/g, 'probe');
}

/** Every string in a JSON body (keys and values), or the body's words when it is not JSON. */
function strings(body: string, contentType: string): string[] {
  if (contentType.includes('json')) {
    try {
      const out: string[] = [];
      const walk = (v: unknown, key?: string) => {
        if (typeof v === 'string') {
          if (!key || !SAFE_KEYS.has(key)) out.push(v);
        } else if (Array.isArray(v)) for (const x of v) walk(x);
        else if (v && typeof v === 'object')
          for (const [k, x] of Object.entries(v)) {
            out.push(k);
            walk(x, k);
          }
      };
      walk(JSON.parse(body));
      return out;
    } catch {
      // fall through to words
    }
  }
  return body.split(/[\s"'<>,;=(){}[\]]+/).filter((w) => w.length >= 6);
}

function modeFindings(paths: readonly string[]): { checked: number; findings: ProbeFinding[] } {
  const findings: ProbeFinding[] = [];
  let checked = 0;
  const seen = new Set<string>();
  const check = (p: string) => {
    // A store inside the state folder (the default) is checked once.
    if (seen.has(resolve(p))) return;
    seen.add(resolve(p));
    const st = statSync(p);
    checked++;
    if ((st.mode & 0o077) !== 0) {
      findings.push({
        kind: 'file-permissions',
        where: p,
        detail: `readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod ${st.isDirectory() ? '700' : '600'} it`,
      });
    }
    if (st.isDirectory()) for (const f of readdirSync(p)) check(join(p, f));
  };
  for (const p of paths) if (existsSync(p)) check(p);
  return { checked, findings };
}

/**
 * Checks a deployment the way an attacker would: every route without credentials and with a
 * bogus token (only `/healthz` may answer 2xx, and with no data; dashboard code files may load),
 * TLS present and valid beyond loopback, the given files readable by their owner only, and every
 * response scanned for personal data. The report names routes, files and detectors, never values.
 *
 * @example
 * const report = await probeDeployment({ baseUrl: 'https://vault.example:8787', routes });
 */
export async function probeDeployment(opts: {
  baseUrl: string;
  routes: readonly ProbeRoute[];
  files?: readonly string[];
  scanner?: PiiScanner;
  timeoutMs?: number;
  /** Sent with every request (the server's own probe marks itself; it grants nothing). */
  headers?: Readonly<Record<string, string>>;
}): Promise<ProbeReport> {
  const base = new URL(opts.baseUrl);
  const scanner = opts.scanner ?? piiScanner();
  const findings: ProbeFinding[] = [];
  const loopback = isLoopback(base.hostname.replace(/^\[|\]$/g, ''));
  if (!loopback && base.protocol !== 'https:') {
    findings.push({
      kind: 'tls',
      where: base.origin,
      detail: 'served without TLS on a non-loopback address',
    });
  }
  const routes = new Map<string, ProbeRoute>();
  for (const r of opts.routes) routes.set(`${r.method} ${r.url}`, r);
  for (const g of GUESSES)
    if (!routes.has(`GET ${g}`)) routes.set(`GET ${g}`, { method: 'GET', url: g, access: 'none' });
  const bogus = `Bearer fv_${randomBytes(24).toString('base64url')}`;
  let reached = 0;
  for (const route of routes.values()) {
    const url = new URL(concrete(route.url), base);
    const own = opts.headers ?? {};
    for (const [who, headers] of [
      ['without credentials', { ...own }],
      ['with a bogus token', { ...own, authorization: bogus }],
    ] as const) {
      const withBody = route.method !== 'GET' && route.method !== 'DELETE';
      let answer: Awaited<ReturnType<typeof httpAnswer>>;
      try {
        answer = await httpAnswer(url, {
          method: route.method,
          headers: withBody ? { ...headers, 'content-type': 'application/json' } : headers,
          ...(withBody ? { body: '{}' } : {}),
          insecure: loopback,
          timeoutMs: opts.timeoutMs ?? 5000,
        });
      } catch (error) {
        const code = (error as { code?: string }).code ?? (error as Error).message;
        if (base.protocol === 'https:' && /CERT|SELF_SIGNED|SSL|TLS|ALTNAME/i.test(code)) {
          findings.push({ kind: 'tls', where: base.origin, detail: `certificate not valid (${code})` });
          return finish();
        }
        findings.push({
          kind: 'unreachable',
          where: `${route.method} ${url.pathname}`,
          detail: `no answer (${code})`,
        });
        if (reached === 0) return finish();
        continue;
      }
      reached++;
      const where = `${route.method} ${url.pathname}`;
      const ok = answer.status >= 200 && answer.status < 300;
      if (ok && route.kind === 'health') {
        const extra = strings(answer.body, answer.contentType).filter((s) => s !== 'status' && s !== 'ok');
        if (extra.length > 0) {
          findings.push({ kind: 'exposed-route', where, detail: `${HEALTH} answers more than its status` });
        }
      } else if (ok && route.kind === 'static' && CODE_TYPES.test(answer.contentType)) {
        continue; // built dashboard code, the same bytes for everyone
      } else if (ok) {
        findings.push({
          kind: 'exposed-route',
          where,
          detail: `answered ${answer.status} ${who}; only ${HEALTH} may`,
        });
      }
      for (const s of strings(answer.body, answer.contentType)) {
        const hit = scanner.detect(s);
        if (hit) {
          findings.push({ kind: 'pii-in-response', where, detail: `a value in the response matched ${hit}` });
          break;
        }
      }
    }
  }
  return finish();

  function finish(): ProbeReport {
    const files = modeFindings(opts.files ?? []);
    return {
      target: base.origin,
      checkedAt: new Date().toISOString(),
      routesChecked: routes.size,
      filesChecked: files.checked,
      findings: [...findings, ...files.findings],
    };
  }
}
