import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkStoreBinding } from '../approvals/index.ts';
import { engineFor } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import { KNOWN_ROUTES, probeDeployment } from '../probe/index.ts';
import type { Action } from './commands.ts';
import { DEFAULT_KEY_FILE, DEFAULT_STORE } from './defaults.ts';
import { approvalsIn, stateDirFor, storeBinding } from './state-guard.ts';

export const probeAction: Action = async (out, opts) => {
  const raw = String(opts.url ?? '');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FvError(
      'FV_USAGE',
      'give --url with the deployment’s base URL, e.g. https://vault.example:8787',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FvError('FV_USAGE', '--url is an http:// or https:// base URL');
  }
  const storePath = String(opts.store ?? DEFAULT_STORE);
  const binding = await storeBinding(storePath);
  const stateDir = stateDirFor(opts, binding);
  // A store bound to another state, or a rolled-back one, is refused here as everywhere.
  if (existsSync(stateDir) || binding) checkStoreBinding(binding, approvalsIn(stateDir), storePath);
  const files = [
    ...engineFor(storePath).files(storePath),
    String(opts.keyFile ?? DEFAULT_KEY_FILE),
    stateDir,
  ].filter((f) => existsSync(f));
  const extra = ([] as string[]).concat((opts.route as string[] | undefined) ?? []).map((r) => {
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
