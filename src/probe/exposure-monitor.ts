import { postWebhook, type WebhookOutcome } from './http-request.ts';
import { type ProbeFinding, type ProbeReport, type ProbeRoute, probeDeployment } from './probe-deployment.ts';

/** What the server shows about its own exposure: the dashboard banner, the gauge, the status. */
export interface ExposureState {
  readonly checkedAt: string | null;
  readonly runs: number;
  readonly findings: readonly ProbeFinding[];
}

export interface ExposureMonitorOptions {
  /** The server's own listening base URLs. */
  readonly baseUrls: () => readonly string[];
  /** The live route table, read at every run (a route added later is probed too). */
  readonly routes: () => readonly ProbeRoute[];
  readonly files: readonly string[];
  readonly intervalMs: number;
  /** POSTed a JSON alert when findings appear or change (https, or http on loopback). */
  readonly webhook?: string;
  /** Called with every alert before the webhook is sent (the log lines), so nothing waits on the receiver. */
  readonly onAlert: (alert: ExposureAlert) => void;
  /**
   * Called once per run, after any webhook: the run's one audit record (findings or clean), its log
   * line and gauges. `webhook` is the outcome of an alert sent by this run, if one was.
   */
  readonly onRun?: (
    state: ExposureState,
    run: { readonly durationMs: number; readonly webhook?: ExposureAlert['webhook'] },
  ) => void;
  /** Headers on every probe request: the server's own secret, so its probe spends no login attempts. */
  readonly headers?: Readonly<Record<string, string>>;
  /** More checks each run (principals against the signed state); their findings alert like the rest. */
  readonly checks?: () => readonly ProbeFinding[];
}

export interface ExposureAlert {
  readonly alert: 'fleetvault.exposure';
  readonly checkedAt: string;
  readonly findings: readonly ProbeFinding[];
  readonly webhook?: WebhookOutcome;
}

/**
 * Runs the exposure probe against the server's own addresses every interval. A run whose
 * findings differ from the previous run's raises an alert (findings appearing, changing or
 * clearing); the state feeds the dashboard banner and the Prometheus gauge.
 */
export class ExposureMonitor {
  #state: ExposureState = { checkedAt: null, runs: 0, findings: [] };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ExposureState> | undefined;
  #last = '';
  #raised: ProbeFinding[] = [];

  constructor(private readonly opts: ExposureMonitorOptions) {}

  get state(): ExposureState {
    return this.#state;
  }

  start(): void {
    this.#timer = setInterval(() => void this.runOnce(), this.opts.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  /** One probe of every address now; a run already in flight is shared. */
  runOnce(): Promise<ExposureState> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /**
   * A finding from outside a run (a request by a principal the signed state does not know): it
   * stays in the state until restart and alerts at once, like a probe finding.
   */
  raise(finding: ProbeFinding): void {
    if (this.#raised.some((f) => f.kind === finding.kind && f.where === finding.where)) return;
    this.#raised.push(finding);
    void this.runOnce();
  }

  async #run(): Promise<ExposureState> {
    const started = Date.now();
    const reports: ProbeReport[] = [];
    for (const baseUrl of this.opts.baseUrls()) {
      reports.push(
        await probeDeployment({
          baseUrl,
          routes: this.opts.routes(),
          files: this.opts.files,
          ...(this.opts.headers ? { headers: this.opts.headers } : {}),
        }),
      );
    }
    const seen = new Set<string>();
    const findings = [
      ...reports.flatMap((r) => r.findings),
      ...this.#raised,
      ...(this.opts.checks?.() ?? []),
    ].filter((f) => {
      const id = `${f.kind} ${f.where} ${f.detail}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    const checkedAt = new Date().toISOString();
    this.#state = { checkedAt, runs: this.#state.runs + 1, findings };
    const fingerprint = [...seen].sort().join('\n');
    let webhook: ExposureAlert['webhook'];
    if (fingerprint !== this.#last) {
      this.#last = fingerprint;
      webhook = await this.#alert({ alert: 'fleetvault.exposure', checkedAt, findings });
    }
    this.opts.onRun?.(this.#state, {
      durationMs: Date.now() - started,
      ...(webhook ? { webhook } : {}),
    });
    return this.#state;
  }

  async #alert(alert: ExposureAlert): Promise<ExposureAlert['webhook']> {
    this.opts.onAlert(alert);
    return this.opts.webhook ? postWebhook(this.opts.webhook, alert) : undefined;
  }
}
