import { FvError } from '../errors/index.ts';
import { duckDbTarget, pgTarget, type ScanReport, scanDatabase } from '../scan/index.ts';
import type { Action } from './commands.ts';
import { DEFAULT_SCAN_SAMPLE, DEFAULT_SCHEMA } from './defaults.ts';
import { intOpt, type RawOptions, textOpt } from './options.ts';

/** `fleetvault scan`'s options, read once and typed. */
export interface ScanOptions {
  readonly url: string;
  readonly schema: string;
  readonly sample: number;
  readonly expectClean: boolean;
}

export function scanOptions(opts: RawOptions): ScanOptions {
  const url = textOpt(opts.url, '');
  if (!url) throw new FvError('FV_USAGE', 'give --url postgres://… or a DuckDB file path');
  const sample = intOpt(opts.sample, 'sample', DEFAULT_SCAN_SAMPLE);
  if (sample < 10 || sample > 100_000) throw new FvError('FV_USAGE', '--sample is 10 to 100000');
  return {
    url,
    schema: textOpt(opts.schema, DEFAULT_SCHEMA),
    sample,
    expectClean: opts.expectClean === true,
  };
}

export const scanAction: Action = async (out, raw) => {
  const opts = scanOptions(raw);
  const { url, sample } = opts;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (scheme && !/^postgres(ql)?$/i.test(scheme)) {
    throw new FvError('FV_SOURCE_URL', `--url is a ${scheme}: URL; scan reads PostgreSQL or a DuckDB file`);
  }
  const target = /^postgres(ql)?:\/\//.test(url) ? await pgTarget(url, opts.schema) : await duckDbTarget(url);
  let report: ScanReport;
  try {
    report = await scanDatabase(target, { sample });
  } finally {
    await target.close();
  }
  const failing = report.findings.length > 0 && (report.fleetvaultStore || opts.expectClean);
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
