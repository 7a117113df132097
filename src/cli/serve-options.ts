import { readFileSync } from 'node:fs';
import { FvError } from '../errors/index.ts';
import { isLoopback } from '../net/index.ts';
import { DEFAULT_PUBLICATION } from '../source/index.ts';
import {
  DEFAULT_KEY_FILE,
  DEFAULT_LISTEN,
  DEFAULT_METRICS,
  DEFAULT_POLICY,
  DEFAULT_PROBE_EVERY,
  DEFAULT_STORE,
} from './defaults.ts';
import { optionalText, type RawOptions, textOpt } from './options.ts';

/** `fleetvault serve`'s options, read once and typed (intervals and the webhook are parsed where used). */
export interface ServeOptions {
  readonly listen: string;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly store: string;
  readonly policy: string;
  readonly metrics: string;
  readonly keyFile: string;
  readonly probeEvery: string;
  readonly alertWebhook?: string;
  readonly syncEvery?: string;
  readonly syncMode: string;
  readonly publication: string;
  readonly source?: string;
  readonly log: boolean;
}

export function serveOptions(opts: RawOptions): ServeOptions {
  const cert = optionalText(opts.tlsCert);
  const key = optionalText(opts.tlsKey);
  if ((cert === undefined) !== (key === undefined))
    throw new FvError('FV_USAGE', 'TLS needs both --tls-cert and --tls-key');
  const alertWebhook = optionalText(opts.alertWebhook);
  const syncEvery = optionalText(opts.syncEvery);
  const source = optionalText(opts.source);
  return {
    listen: textOpt(opts.listen, DEFAULT_LISTEN),
    ...(cert !== undefined && key !== undefined ? { tls: { cert, key } } : {}),
    store: textOpt(opts.store, DEFAULT_STORE),
    policy: textOpt(opts.policy, DEFAULT_POLICY),
    metrics: textOpt(opts.metrics, DEFAULT_METRICS),
    keyFile: textOpt(opts.keyFile, DEFAULT_KEY_FILE),
    probeEvery: textOpt(opts.probeEvery, DEFAULT_PROBE_EVERY),
    ...(alertWebhook !== undefined ? { alertWebhook } : {}),
    ...(syncEvery !== undefined ? { syncEvery } : {}),
    syncMode: textOpt(opts.syncMode, 'cursor'),
    publication: textOpt(opts.publication, DEFAULT_PUBLICATION),
    ...(source !== undefined ? { source } : {}),
    log: opts.log === true,
  };
}

/** The certificate and key files `--tls-cert` and `--tls-key` name, read now. */
export function readTls(tls: NonNullable<ServeOptions['tls']>): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch {
      throw new FvError('FV_USAGE', `cannot read the TLS ${what} file ${file}`);
    }
  };
  return { cert: read(tls.cert, 'certificate'), key: read(tls.key, 'key') };
}

/** `--probe-every`: a duration of at least 1 second, or `off`. */
export function parseProbeInterval(v: string): number | null {
  if (v === 'off') return null;
  const ms = durationMs(v);
  if (ms < 1000) throw new FvError('FV_USAGE', '--probe-every is a duration such as 30s or 5m, or off');
  return ms;
}

/** An alert webhook: https, or plain http to a loopback receiver. */
export function parseWebhook(v: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new FvError('FV_USAGE', '--alert-webhook is a URL such as https://alerts.example/hook');
  }
  const h = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(h))) return url.toString();
  throw new FvError('FV_USAGE', '--alert-webhook must be https (plain http only to a loopback receiver)');
}

/** `--sync-every`: a duration of at least 10 seconds. */
export function parseSyncInterval(v: string): number {
  const ms = durationMs(v);
  if (ms < 10_000)
    throw new FvError('FV_USAGE', '--sync-every is a duration of at least 10s, such as 30s, 15m or 1h');
  return ms;
}

/** `--sync-mode`: cursor or cdc. */
export function parseSyncMode(v: string): 'cursor' | 'cdc' {
  if (v !== 'cursor' && v !== 'cdc') throw new FvError('FV_USAGE', '--sync-mode is cursor or cdc');
  return v;
}

/** `30s`, `15m`, `1h` as milliseconds; 0 for anything else. */
function durationMs(v: string): number {
  const m = /^(\d{1,6})(s|m|h)$/.exec(v);
  return m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'] : 0;
}
