import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { principalCredentials, principalsAboveViewer } from '../identity/index.ts';
import { ExposureMonitor, type ProbeFinding } from '../probe/index.ts';
import type { ListenAddress } from '../server/index.ts';
import type { Output } from './output.ts';
import type { ServerState, startServer } from './server-root.ts';

/** The running server the probe looks at from outside. */
export interface ProbedServer {
  readonly addr: ListenAddress;
  readonly port: number;
  readonly tls: boolean;
  readonly app: Awaited<ReturnType<typeof startServer>>['app'];
}

/**
 * `serve`'s exposure alarm: the probe's findings, and principals acting above what the signed state
 * gives them. Until a probe is started (or with `--probe-every off`) an alarm is a warning and an
 * audit record.
 */
export class ServeExposure {
  private monitor: ExposureMonitor | undefined;

  constructor(
    private readonly state: ServerState,
    private readonly out: Output,
  ) {}

  /** What the server's exposure endpoint reports. */
  readonly report = () => this.monitor?.state ?? { checkedAt: null, runs: 0, findings: [] };

  /** A principal acting above what the signed state gives it: the exposure alarm, with or without the probe. */
  readonly alarm = (f: ProbeFinding) => {
    if (this.monitor) this.monitor.raise(f);
    else {
      this.out.warn(`ALERT ${f.kind}  ${f.where}  ${f.detail}`);
      this.state.audit.append({
        actor: 'server',
        action: 'probe.alert',
        outcome: 'failed',
        detail: { kinds: [f.kind], where: f.where },
      });
    }
  };

  /** Principals enrolled before credential digests existed are refused until they re-enrol: says so now. */
  warnReenrol(): void {
    const { tokens, users, approvals } = this.state;
    for (const p of [...tokens.list(), ...users.list()]) {
      if (('revokedAt' in p && p.revokedAt) || ('disabledAt' in p && p.disabledAt)) continue;
      const kind = 'hash' in p ? 'token' : 'user';
      const principal = { kind, id: p.id, name: p.name, role: p.role } as const;
      if (approvals.needsReenrol(principal))
        this.out.warn(`FV_PRINCIPAL_REENROL: ${approvals.reenrolError(principal).message}`);
    }
  }

  /**
   * Starts the probe every `intervalMs` over the server, the store's files, the state folder and the
   * key file, with one log line and one audit record per run, and runs it once now.
   */
  start(
    server: ProbedServer,
    files: { store: readonly string[]; keyFile: string },
    intervalMs: number,
    webhook?: string,
  ) {
    const { out, state } = this;
    const { tokens, users, approvals, audit, dir } = state;
    this.monitor = new ExposureMonitor({
      baseUrls: () => ownUrls(server.addr.host, server.port, server.tls),
      routes: () => server.app.fvRoutes,
      files: [...files.store, dir, ...(existsSync(files.keyFile) ? [files.keyFile] : [])],
      intervalMs,
      ...(webhook ? { webhook } : {}),
      headers: server.app.fvProbeHeaders,
      checks: () =>
        approvals
          .unapproved(principalsAboveViewer(tokens, users), principalCredentials(tokens, users))
          .map((p) => ({
            kind: 'unapproved-principal',
            where: p,
            detail:
              'in the tokens or users file with a role the signed security state does not give it (edited by hand); refused',
          })),
      // One log line and one audit record per run: clean, or the findings' kinds (never their values).
      onRun: (probe, run) => {
        const kinds = [...new Set(probe.findings.map((f) => f.kind))];
        const clean = probe.findings.length === 0;
        out.log(
          'probe',
          { ok: clean, durationMs: run.durationMs, findings: probe.findings.length, kinds },
          clean ? 'info' : 'error',
        );
        audit.append({
          actor: 'probe',
          action: 'probe.run',
          outcome: clean ? 'ok' : 'failed',
          detail: {
            run: probe.runs,
            ...(clean ? { clean: true } : { findings: probe.findings.length, kinds }),
            ...(run.webhook ? { webhook: run.webhook } : {}),
          },
        });
      },
      onAlert: (a) => {
        if (a.findings.length === 0) {
          out.warn('exposure probe: clear, no findings');
          return;
        }
        out.warn(`ALERT exposure probe: ${a.findings.length} finding(s)`);
        for (const f of a.findings) out.warn(`  ${f.kind}  ${f.where}  ${f.detail}`);
      },
    });
    this.monitor.start();
    void this.monitor.runOnce();
  }

  async stop(): Promise<void> {
    await this.monitor?.stop();
  }
}

/** The server's own base URLs: its host, or for a wildcard address loopback and each interface. */
function ownUrls(host: string, port: number, tls: boolean): string[] {
  const scheme = tls ? 'https' : 'http';
  const wrap = (h: string) => (h.includes(':') ? `[${h}]` : h);
  if (host !== '0.0.0.0' && host !== '::') return [`${scheme}://${wrap(host)}:${port}`];
  const hosts = ['127.0.0.1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (!i.internal && i.family === 'IPv4') hosts.push(i.address);
  }
  return hosts.map((h) => `${scheme}://${wrap(h)}:${port}`);
}
