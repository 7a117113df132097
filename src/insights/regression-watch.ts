import { postWebhook, type WebhookOutcome } from '../probe/index.ts';
import {
  detectRegressions,
  type Regression,
  type RegressionReport,
  type RegressionSource,
  regressionId,
} from './regressions.ts';

export interface RegressionAlert {
  readonly alert: 'fleetvault.regression';
  readonly checkedAt: string;
  readonly period: string | null;
  /** Regressions not in the previous check's report. */
  readonly regressions: readonly Regression[];
  readonly method: readonly string[];
  readonly webhook?: WebhookOutcome;
}

export interface RegressionWatchOptions {
  /** POSTed a JSON alert when a regression appears (https, or http on loopback). */
  readonly webhook?: string;
  /** Called with every alert, after the webhook: the log line and the audit record. */
  readonly onAlert: (alert: RegressionAlert) => void;
}

/**
 * Checks for regressions after each sync and alerts on those the previous check did not report.
 * The first check alerts on every regression it finds, as the exposure probe does.
 *
 * @example
 * const watch = new RegressionWatch({ webhook, onAlert: (a) => audit.append(...) });
 * await watch.check(reader); // after a sync
 */
export class RegressionWatch {
  #known = new Set<string>();

  constructor(private readonly opts: RegressionWatchOptions) {}

  async check(source: RegressionSource): Promise<RegressionReport> {
    const report = await detectRegressions(source);
    const ids = new Set(report.regressions.map(regressionId));
    const fresh = report.regressions.filter((r) => !this.#known.has(regressionId(r)));
    this.#known = ids;
    if (fresh.length > 0) {
      await this.#alert({
        alert: 'fleetvault.regression',
        checkedAt: new Date().toISOString(),
        period: report.period,
        regressions: fresh,
        method: report.method,
      });
    }
    return report;
  }

  async #alert(alert: RegressionAlert): Promise<void> {
    const webhook = this.opts.webhook ? await postWebhook(this.opts.webhook, alert) : undefined;
    this.opts.onAlert(webhook ? { ...alert, webhook } : alert);
  }
}
