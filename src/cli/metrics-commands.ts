import { guardSeen } from '../approvals/index.ts';
import { openMetricsReader } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import {
  CLI_FILTER,
  GRAINS,
  type Grain,
  type MetricAnswer,
  type MetricQuery,
  type MetricsReader,
  parseFilters,
  readMetricsFile,
} from '../metrics/index.ts';
import { actingAdmin } from './acting-admin.ts';
import type { Action } from './commands.ts';
import { DEFAULT_GRAIN, metricsPath, readStorePath, requireStoreFile } from './defaults.ts';
import { answerCsv, printAnswer } from './metric-report.ts';
import { optionalText, type RawOptions, textOpt } from './options.ts';
import type { Output } from './output.ts';
import { stateFiles } from './server-commands.ts';
import { requireStoreState, storeBinding } from './state-guard.ts';

function splitList(v: string | boolean | undefined): string[] {
  return typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
}

/** The metric query `metrics query` and `metrics exact` name with --grain, --by, --from, --to, --filter. */
export function metricQueryOptions(opts: RawOptions, args: readonly string[]): MetricQuery {
  const grain = textOpt(opts.grain, DEFAULT_GRAIN);
  if (!GRAINS.includes(grain as Grain))
    throw new FvError('FV_USAGE', `--grain must be one of ${GRAINS.join(', ')}`);
  const filters = parseFilters(
    [opts.filter].flat().filter((x): x is string => typeof x === 'string'),
    CLI_FILTER,
  );
  return {
    metric: args[0] ?? '',
    grain: grain as Grain,
    by: splitList(opts.by),
    ...(typeof opts.from === 'string' ? { from: opts.from } : {}),
    ...(typeof opts.to === 'string' ? { to: opts.to } : {}),
    filters,
  };
}

/**
 * The store's metrics reader and its state folder's files, after the same checks every reading
 * command makes; `work` runs with both and the reader is closed after.
 */
export async function withMetricsReader<T>(
  out: Output,
  opts: RawOptions,
  work: (reader: MetricsReader, files: () => Promise<ReturnType<typeof stateFiles>>) => Promise<T>,
): Promise<T> {
  const file = readMetricsFile(metricsPath(opts.metrics, (l) => out.warn(l)));
  const storePath = readStorePath(opts.store, (l) => out.warn(l));
  requireStoreFile(storePath);
  await requireStoreState(storePath, opts);
  const binding = await storeBinding(storePath);
  const reader = await openMetricsReader(storePath, file);
  try {
    // The state folder, refused when it went back or forked since this user last saw it.
    return await work(reader, async () => {
      const files = stateFiles({ ...opts, store: storePath }, binding);
      guardSeen(files.approvals);
      return files;
    });
  } finally {
    reader.close();
  }
}

export const metricsQueryAction: Action = async (out, opts, args) => {
  const query = metricQueryOptions(opts, args);
  const exact = optionalText(opts.exact);
  return withMetricsReader(out, opts, async (reader, files) => {
    let answer: MetricAnswer;
    if (exact !== undefined) {
      // Under differential privacy, the exact answer a second admin approved for this admin.
      const f = await files();
      const who = await actingAdmin(opts, f);
      answer = await reader.exact(query, exact, who.id, f.approvals);
    } else answer = await reader.query(query);
    if (out.json) out.data(answer);
    else if (out.csv) answerCsv(out, answer);
    else printAnswer(out, answer);
    return 0;
  });
};

/**
 * `fleetvault metrics exact`: an admin asks for the exact answer to one query under differential
 * privacy; a second admin approves it with `approvals approve`, then the asker reads it with
 * `metrics query … --exact <id>`.
 */
export const metricsExactAction: Action = async (out, opts, args) => {
  const query = metricQueryOptions(opts, args);
  const reason = textOpt(opts.reason, '').trim();
  if (reason.length < 3)
    throw new FvError('FV_USAGE', 'say why with --reason "…" (it is shown to the approver)');
  const hours = opts.expiresIn === undefined ? undefined : Number(opts.expiresIn);
  if (hours !== undefined && (!Number.isInteger(hours) || hours < 1 || hours > 168))
    throw new FvError('FV_USAGE', '--expires-in is 1 to 168 hours');
  return withMetricsReader(out, opts, async (reader, files) => {
    const f = await files();
    const who = await actingAdmin(opts, f);
    const view = f.approvals.proposeExact(await reader.exactQuestion(query), who, reason, hours);
    if (out.json) out.data(view);
    out.line(
      `Request ${view.proposal.id} for an exact answer waits for a second admin (expires ${view.proposal.expiresAt.slice(0, 16)}):`,
    );
    for (const d of view.differences) out.line(`    ${d.configured}`);
    out.line(
      `Another admin approves it with: fleetvault approvals approve ${view.proposal.id} --user <their name>`,
    );
    out.line(`Then read it with the same query and --exact ${view.proposal.id}.`);
    return 0;
  });
};
