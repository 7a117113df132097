import { dirname } from 'node:path';
import { engineFor, openStore } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import {
  IngestMetrics,
  kindOfFormattedType,
  MqttSubscriber,
  requireIngestTable,
  StreamIngest,
} from '../ingest/index.ts';
import { loadKeyFile, readSecret, type SecretSource, secretInUrl } from '../privacy/index.ts';
import { listenError, parseListen, requirePortFree, resolveListen } from '../server/index.ts';
import { connectSource, introspect, type SourceTable } from '../source/index.ts';
import type { Store } from '../store/index.ts';
import type { Action } from './commands.ts';
import { loadPolicyOrThrow, requireApprovedPolicy } from './commands.ts';
import {
  DEFAULT_KEY_FILE,
  DEFAULT_POLICY,
  DEFAULT_STORE,
  DEFAULT_TOPIC,
  ensurePrivateDir,
  INGEST_BATCH,
  INGEST_FLUSH_MS,
  INGEST_MAX_BYTES,
  untilStopped,
} from './defaults.ts';
import { intOpt, optionalText, type RawOptions, textOpt } from './options.ts';
import { bindStoreForSync } from './state-guard.ts';

/** The broker password: a 0600 file or the environment, never the command line (`ps` shows it). */
const MQTT_PASSWORD: SecretSource = {
  what: 'the MQTT password',
  fileVariable: 'FLEETVAULT_MQTT_PASSWORD_FILE',
  variable: 'FLEETVAULT_MQTT_PASSWORD',
};

/** The table's columns and types: from the source catalog when given, else as the last sync recorded them. */
async function sourceTable(
  name: string,
  schema: string,
  store: Store,
  sourceUrl: string | undefined,
): Promise<SourceTable> {
  if (sourceUrl) {
    const source = await connectSource(sourceUrl);
    try {
      const t = (await introspect(source, schema)).get(name);
      if (t) return t;
    } finally {
      await source.end().catch(() => {});
    }
    throw new FvError('FV_USAGE', `table ${schema}.${name} does not exist in the source`);
  }
  const state = await store.tableState(name);
  if (!state) {
    throw new FvError(
      'FV_USAGE',
      `the store has no table ${name} yet: run a sync first, or pass --source to read its types`,
    );
  }
  return {
    schema,
    name,
    primaryKey: [],
    columns: state.columns.map((c) => ({
      name: c.name,
      type: c.sourceType,
      kind: kindOfFormattedType(c.sourceType),
      readable: true,
    })),
  };
}

/** `fleetvault ingest`'s options, read once and typed. */
export interface IngestOptions {
  readonly mqtt: URL;
  readonly table: string;
  readonly topic: string;
  readonly clientId: string;
  readonly policy: string;
  readonly keyFile: string;
  readonly store: string;
  readonly source?: string;
  readonly batch: number;
  readonly flushMs: number;
  readonly maxBytes: number;
  readonly logBatches: boolean;
  readonly metricsListen?: string;
}

export function ingestOptions(opts: RawOptions): IngestOptions {
  let mqtt: URL;
  try {
    mqtt = new URL(textOpt(opts.mqtt, ''));
  } catch {
    throw new FvError('FV_USAGE', 'give the broker as --mqtt mqtt://host:1883');
  }
  if (mqtt.protocol !== 'mqtt:') throw new FvError('FV_USAGE', '--mqtt is an mqtt:// URL');
  const table = textOpt(opts.table, '');
  const batch = intOpt(opts.batch, 'batch', INGEST_BATCH);
  if (batch < 1 || batch > 65_535) throw new FvError('FV_USAGE', '--batch is 1 to 65535');
  const source = optionalText(opts.source);
  const metricsListen = optionalText(opts.metricsListen);
  return {
    mqtt,
    table,
    topic: textOpt(opts.topic, DEFAULT_TOPIC),
    clientId: textOpt(opts.clientId, `fleetvault-${table}`),
    policy: textOpt(opts.policy, DEFAULT_POLICY),
    keyFile: textOpt(opts.keyFile, DEFAULT_KEY_FILE),
    store: textOpt(opts.store, DEFAULT_STORE),
    ...(source !== undefined ? { source } : {}),
    batch,
    flushMs: intOpt(opts.flushMs, 'flush-ms', INGEST_FLUSH_MS),
    maxBytes: intOpt(opts.maxBytes, 'max-bytes', INGEST_MAX_BYTES),
    logBatches: opts.logBatches === true,
    ...(metricsListen !== undefined ? { metricsListen } : {}),
  };
}

export const ingestAction: Action = async (out, raw) => {
  const opts = ingestOptions(raw);
  const url = opts.mqtt;
  if (url.password) throw secretInUrl('--mqtt', MQTT_PASSWORD);
  const password = readSecret(MQTT_PASSWORD);
  const table = opts.table;
  const policy = loadPolicyOrThrow(opts.policy);
  requireIngestTable(policy, table);
  const approvals = requireApprovedPolicy(policy, raw);
  const key = loadKeyFile(opts.keyFile);
  const storePath = opts.store;
  for (const f of engineFor(storePath).files(storePath)) ensurePrivateDir(dirname(f));
  // Plain HTTP without a token: loopback only (the counts are operational, never values).
  const metricsAt =
    opts.metricsListen !== undefined
      ? await resolveListen(parseListen(opts.metricsListen), false)
      : undefined;
  if (metricsAt) {
    await requirePortFree(metricsAt);
  }
  const batchSize = opts.batch;
  const store = await openStore(storePath);
  try {
    // The same binding check and record as every sync: ingest writes into the same store.
    await bindStoreForSync(store, storePath, policy, approvals, 'ingest');
  } catch (error) {
    await store.close();
    throw error;
  }
  const subscriber = new MqttSubscriber({
    url,
    topic: opts.topic,
    clientId: opts.clientId,
    ...(password ? { password } : {}),
    receiveMaximum: batchSize,
    // Up to 8× --max-bytes reaches us and is counted as oversized; beyond that the broker drops it
    // unsent, which keeps memory within --batch × that size.
    maximumPacketSize: Math.max(8 * opts.maxBytes, 65_536),
  });
  let metrics: IngestMetrics | undefined;
  try {
    await store.bindKey(key.fingerprint);
    const ingest: StreamIngest = new StreamIngest({
      policy,
      table,
      source: await sourceTable(table, policy.schema, store, opts.source),
      store,
      key,
      messages: subscriber,
      batchSize,
      flushMs: opts.flushMs,
      maxBytes: opts.maxBytes,
      onBatch: (b: { rows: number; committedAt: number }) => {
        metrics?.committed(b.committedAt);
        if (opts.logBatches)
          out.warn(
            `batch committed: ${b.rows} rows (total ${ingest.stats.written}, received ${ingest.stats.received})`,
          );
      },
    });
    if (metricsAt) {
      metrics = new IngestMetrics(table, () => ingest.stats);
      const port = await metrics.listen(metricsAt.host, metricsAt.port).catch((e: unknown) => {
        throw listenError(e, metricsAt) ?? e;
      });
      out.warn(`Prometheus metrics on http://${metricsAt.host}:${port}/metrics`);
    }
    await ingest.start();
    subscriber.on('connected', () => out.warn(`connected to ${url.host}, subscribed to ${opts.topic}`));
    let stopping = false;
    subscriber.on('disconnected', () => {
      if (!stopping)
        out.warn(
          `lost the broker at ${url.host}; reconnecting (unacknowledged messages will be redelivered)`,
        );
    });
    subscriber.start();
    out.line(
      `Ingesting ${opts.topic} into ${store.location} table ${table}; Ctrl+C stops after the pending batch.`,
    );
    await untilStopped();
    stopping = true;
    const stats = await ingest.stop();
    await subscriber.stop();
    if (out.json) out.data(stats);
    out.line(
      `Received ${stats.received}, committed ${stats.written} rows in ${stats.batches} batches, ${stats.duplicates} duplicates folded, dropped ${Object.values(stats.dropped).reduce((a, b) => a + b, 0)}.`,
    );
    for (const [reason, n] of Object.entries(stats.dropped)) out.line(`  dropped ${n}: ${reason}`);
    return 0;
  } finally {
    await subscriber.stop().catch(() => {});
    await metrics?.close();
    await store.close();
  }
};
