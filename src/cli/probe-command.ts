import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkStoreBinding } from '../approvals/index.ts';
import { engineFor } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import { KNOWN_ROUTES, probeDeployment } from '../probe/index.ts';
import type { Action } from './commands.ts';
import { DEFAULT_KEY_FILE, DEFAULT_STORE } from './defaults.ts';
import { approvalsIn, stateDirFor, storeBinding } from './state-guard.ts';

/** `fleetvault probe`'s options, read once and typed. */
export interface ProbeOptions {
  readonly url: URL;
  readonly store: string;
  readonly keyFile: string;
  readonly routes: readonly string[];
}

export function probeOptions(opts: Readonly<Record<string, unknown>>): ProbeOptions {
  let url: URL;
  try {
    url = new URL(typeof opts.url === 'string' ? opts.url : '');
  } catch {
    throw new FvError(
      'FV_USAGE',
      'give --url with the deployment’s base URL, e.g. https://vault.example:8787',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FvError('FV_USAGE', '--url is an http:// or https:// base URL');
  }
  const routes = ([] as unknown[]).concat(opts.route ?? []).filter((r): r is string => typeof r === 'string');
  return {
    url,
    store: typeof opts.store === 'string' ? opts.store : DEFAULT_STORE,
    keyFile: typeof opts.keyFile === 'string' ? opts.keyFile : DEFAULT_KEY_FILE,
    routes,
  };
}

export const probeAction: Action = async (out, raw) => {
  const opts = probeOptions(raw);
  const url = opts.url;
  const storePath = opts.store;
  const binding = await storeBinding(storePath);
  const stateDir = stateDirFor(raw, binding);
  // A store bound to another state, or a rolled-back one, is refused here as everywhere.
  if (existsSync(stateDir) || binding) checkStoreBinding(binding, approvalsIn(stateDir), storePath);
  const files = [...engineFor(storePath).files(storePath), opts.keyFile, stateDir].filter((f) =>
    existsSync(f),
  );
  const extra = opts.routes.map((r) => {
    const [method, path] = r.includes(' ') ? r.split(' ') : ['GET', r];
    return { method: String(method).toUpperCase(), url: String(path), access: 'unknown' };
  });
  const report = await probeDeployment({
    baseUrl: url.toString(),
    routes: [...KNOWN_ROUTES, ...extra],
    files,
  });
  if (out.json) out.data(report);
  out.line(
    `Probed ${report.target}: ${report.routesChecked} routes without credentials and with a bogus token, ${report.filesChecked} local files (${files.map((f) => join(f)).join(', ') || 'none'}).`,
  );
  if (report.findings.length === 0) out.line('No findings: nothing answered a stranger with data.');
  for (const f of report.findings) out.line(`  ${f.kind.padEnd(17)} ${f.where}  ${f.detail}`);
  return report.findings.length > 0 ? 1 : 0;
};
