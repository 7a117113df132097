import { FvError } from '../errors/index.ts';
import { duckDbTarget, pgTarget, type ScanReport, scanDatabase } from '../scan/index.ts';
import type { Action } from './commands.ts';

export const scanAction: Action = async (out, opts) => {
  const url = String(opts.url ?? '');
  if (!url) throw new FvError('FV_USAGE', 'give --url postgres://… or a DuckDB file path');
  const sample = Number(opts.sample ?? 500);
  if (!Number.isInteger(sample) || sample < 10 || sample > 100_000)
    throw new FvError('FV_USAGE', '--sample is 10 to 100000');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (scheme && !/^postgres(ql)?$/i.test(scheme)) {
    throw new FvError('FV_SOURCE_URL', `--url is a ${scheme}: URL; scan reads PostgreSQL or a DuckDB file`);
  }
  const target = /^postgres(ql)?:\/\//.test(url)
    ? await pgTarget(url, String(opts.schema ?? 'public'))
    : await duckDbTarget(url);
  let report: ScanReport;
  try {
    report = await scanDatabase(target, { sample });
  } finally {
    await target.close();
  }
  const failing = report.findings.length > 0 && (report.fleetvaultStore || opts.expectClean === true);
  if (out.json) out.data({ ...report, failing });
  out.line(
    `Scanned ${report.tables} tables, ${report.columns} columns${report.fleetvaultStore ? ' (a fleetvault store: values only)' : ''}: ${report.findings.length} column(s) look personal or secret.`,
  );
  for (const f of report.findings) {
    const what =
      f.evidence === 'values'
        ? `${f.kind} in ${f.hits}/${f.sampled} sampled values (${Math.round(f.confidence * 100)}%)`
        : f.evidence === 'binary'
          ? 'binary, never read (treat as personal)'
          : `name suggests ${f.kind}`;
    out.line(`  ${`${f.table}.${f.column}`.padEnd(36)} ${what}`);
  }
  for (const s of report.skipped) out.line(`  ${s.table.padEnd(36)} not scanned: ${s.reason}`);
  if (failing) out.line('This store should hold nothing personal: treat these columns as a leak.');
  return failing ? 1 : 0;
};
