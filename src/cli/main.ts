import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { asFvError } from '../errors/index.ts';
import { DEFAULT_PUBLICATION } from '../source/index.ts';
import {
  approvalsDecideAction,
  approvalsListAction,
  approvalsProposeAction,
  approvalsReenrolAction,
  approvalsSealAction,
  approvalsShowAction,
  approvalsStateAction,
} from './approvals-command.ts';
import {
  type Action,
  forgetAction,
  initAction,
  metricsListAction,
  policyCheckAction,
  policyGrantsAction,
  policySuggestAction,
  simulateAction,
  sqlAction,
  syncAction,
} from './commands.ts';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_KEY_FILE,
  DEFAULT_LISTEN,
  DEFAULT_METRICS,
  DEFAULT_POLICY,
  DEFAULT_PROBE_EVERY,
  DEFAULT_STORE,
  DEMO_DAYS,
  DEMO_DIR,
  DEMO_STORE,
  DEMO_USERS,
  packageRoot,
  STATE_DIR,
} from './defaults.ts';
import { metricsExactAction, metricsQueryAction } from './metrics-commands.ts';

const STORE_HELP =
  'DuckDB store file, or clickhouse://user@127.0.0.1:8123[,host2:port…]/db[?cluster=name] (clickhouses:// for HTTPS, required beyond loopback; password never in the URL: FLEETVAULT_CLICKHOUSE_PASSWORD, or a 0600 file named by FLEETVAULT_CLICKHOUSE_PASSWORD_FILE or &password_file=)';

const READ_STORE_HELP = `${STORE_HELP}. Default ${DEFAULT_STORE}, or the demo's (${DEMO_STORE}) when only that exists`;
const METRICS_HELP = `metrics file (default ${DEFAULT_METRICS}, or the demo's when only the demo is here)`;

import { demoAction } from './demo.ts';
import { ingestAction } from './ingest-command.ts';
import { keysRetireAction, keysRotateAction } from './keys-command.ts';
import { Output } from './output.ts';
import { probeAction } from './probe-command.ts';
import { scanAction } from './scan-command.ts';
import { serveAction } from './serve-command.ts';
import {
  auditVerifyAction,
  tokensCreateAction,
  tokensListAction,
  tokensRevokeAction,
  usersAddAction,
  usersDisableAction,
  usersListAction,
  usersResetPasswordAction,
} from './server-commands.ts';

async function execute(
  action: Action,
  opts: Record<string, string | boolean | undefined>,
  args: string[],
): Promise<number> {
  const format = opts.format === 'csv' ? 'csv' : 'text';
  const out = new Output(opts.json === true, format);
  try {
    return await action(out, opts, args);
  } catch (error) {
    return report(out, error);
  }
}

/**
 * The CLI's one error edge: code, message, details and how to solve; anything not an `FvError`
 * as `FV_INTERNAL` with its kind only (the stack with FLEETVAULT_DEBUG=1).
 */
function report(out: Output, error: unknown): 1 | 2 {
  out.clearProgress();
  const e = asFvError(error);
  if (out.json) out.data({ ok: false, error: { code: e.code, message: e.message, details: e.details } });
  out.warn(`error ${e.code}: ${e.message}`);
  for (const d of e.details) out.warn(`  ${d}`);
  out.warn(`  how to solve: ${e.solve}`);
  if (e !== error && process.env.FLEETVAULT_DEBUG === '1')
    out.warn(String((error as { stack?: unknown }).stack));
  return e.exitCode;
}

/** Wraps an action as commander's handler: its options and arguments in, its exit code out. */
type Run = (action: Action) => (this: Command, ...params: unknown[]) => Promise<void>;

function program(setCode: (code: number) => void): Command {
  const p = new Command('fleetvault')
    .description('The analytics copy of production data, done right.')
    .version(packageVersion(), '--version', 'print the version and exit')
    .addOption(new Option('--json', 'machine-readable output (JSON; numbers as numbers)'))
    .addOption(
      new Option('--format <format>', 'tables as text or csv').choices(['text', 'csv']).default('text'),
    )
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s) });
  const run: Run = (action) =>
    async function (this: Command, ...params: unknown[]) {
      const cmd = params[params.length - 1] as Command;
      setCode(await execute(action, cmd.optsWithGlobals(), cmd.args));
    };
  registerSetupCommands(p, run);
  registerPolicyCommands(p, run);
  registerSyncCommands(p, run);
  registerMetricsCommands(p, run);
  registerStoreCommands(p, run);
  registerServeCommand(p, run);
  registerAccountCommands(p, run);
  registerApprovalsCommands(p, run);
  registerKeysCommands(p, run);
  registerFleetCommands(p, run);
  registerDemoCommand(p, run);
  return p;
}

/** `init` and `simulate`: a key and a demo source. */
function registerSetupCommands(p: Command, run: Run): void {
  p.command('init')
    .description('create the master key file (256-bit, mode 0600)')
    .option('--key-file <file>', 'where to write the key', DEFAULT_KEY_FILE)
    .action(run(initAction));
  p.command('simulate')
    .description('create and fill the demo production schema in a PostgreSQL database')
    .option('--source <url>', 'target PostgreSQL URL (or FLEETVAULT_SOURCE)')
    .option('--users <n>', 'number of users', '10000')
    .option('--days <n>', 'days of connection events', '30')
    .option('--seed <n>', 'random seed', '42')
    .option('--end-date <yyyy-mm-dd>', 'last simulated day (default 2026-11-01)')
    .option('--replace', 'drop and recreate the demo tables if they exist')
    .option('--canaries <file>', 'write the planted canary values to this file (mode 0600)')
    .action(run(simulateAction));
}

/** `policy`: the data contract. */
function registerPolicyCommands(p: Command, run: Run): void {
  const policy = p.command('policy').description('the data contract: check, draft, grants');
  policy
    .command('check')
    .description('report every problem of a policy, against the live source when given')
    .option('--policy <file>', 'policy file', DEFAULT_POLICY)
    .option('--source <url>', 'source PostgreSQL URL (or FLEETVAULT_SOURCE)')
    .option('--strict', 'a role that can read never-needed columns (or decode WAL) is an error')
    .option('--role <name>', 'role name used in suggested GRANTs')
    .option(
      '--mode <mode>',
      'cursor, or cdc: also check change capture (gate, publication, replica identity)',
      'cursor',
    )
    .option('--publication <name>', 'with --mode cdc: publication (and gate) name', DEFAULT_PUBLICATION)
    .action(run(policyCheckAction));
  policy
    .command('suggest')
    .description('draft a policy from the source catalog and sampled values (marked unreviewed)')
    .option('--source <url>', 'source PostgreSQL URL (or FLEETVAULT_SOURCE)')
    .option('--schema <name>', 'schema to describe', 'public')
    .option('--tables <list>', 'comma-separated tables (default: all)')
    .option('--out <file>', 'write the draft here instead of stdout')
    .option('--force', 'overwrite --out if it exists')
    .action(run(policySuggestAction));
  policy
    .command('grants')
    .description('print the SQL that creates a least-privilege reader role for the policy')
    .option('--policy <file>', 'policy file', DEFAULT_POLICY)
    .option('--role <name>', 'role to create', 'fleetvault_reader')
    .option('--database <name>', 'database to grant CONNECT on (default: from --source)')
    .option('--source <url>', 'source PostgreSQL URL, for the database name')
    .option(
      '--mode <mode>',
      'cursor, or cdc: also the publication and the change-capture gate (run as a superuser)',
      'cursor',
    )
    .option(
      '--publication <name>',
      'with --mode cdc: publication, gate schema and slot name',
      DEFAULT_PUBLICATION,
    )
    .option(
      '--replication-role <name>',
      'with --mode cdc: the NOLOGIN role with REPLICATION that owns the gate',
      'fleetvault_replication',
    )
    .action(run(policyGrantsAction));
}

/** `sync`: the copy through the policy. */
function registerSyncCommands(p: Command, run: Run): void {
  p.command('sync')
    .description('copy the source into the store through the policy')
    .option('--source <url>', 'source PostgreSQL URL (or FLEETVAULT_SOURCE)')
    .option('--policy <file>', 'policy file', DEFAULT_POLICY)
    .option('--store <path>', STORE_HELP, DEFAULT_STORE)
    .option('--key-file <file>', 'master key file', DEFAULT_KEY_FILE)
    .option('--full', 'rescan and rebuild every table (also removes rows hard-deleted in the source)')
    .option(
      '--batch-size <n>',
      'rows (with --mode cdc: changes) per committed batch',
      String(DEFAULT_BATCH_SIZE),
    )
    .option(
      '--state-dir <dir>',
      'state folder (default: the one the store records, else the store’s own folder)',
    )
    .option('--mode <mode>', 'cursor (scan cursor columns) or cdc (PostgreSQL logical replication)', 'cursor')
    .option(
      '--metrics <file>',
      `metrics file whose rollups the store keeps (default ./${DEFAULT_METRICS} when present)`,
    )
    .option('--follow', 'with --mode cdc: keep applying changes until stopped')
    .option('--poll-ms <ms>', 'with --follow: pause between reads of the slot', '1000')
    .option('--publication <name>', 'with --mode cdc: publication (and gate) to read', DEFAULT_PUBLICATION)
    .option(
      '--discard-ingested',
      'let a rebuild (--full, a first change-capture run) drop the rows devices sent (refused otherwise)',
    )
    .action(run(syncAction));
}

/** `metrics`: k-anonymous answers. */
function registerMetricsCommands(p: Command, run: Run): void {
  const metrics = p.command('metrics').description('k-anonymous business metrics from the store');
  metrics
    .command('list')
    .description('the metrics and their dimensions')
    .option('--metrics <file>', METRICS_HELP)
    .action(run(metricsListAction));
  const queryOptions = (c: Command): Command =>
    c
      .argument('<name>', 'metric name')
      .option('--metrics <file>', METRICS_HELP)
      .option('--store <path>', READ_STORE_HELP)
      .option(
        '--state-dir <dir>',
        'state folder (default: the one the store records, else the store’s own folder)',
      )
      .option('--grain <grain>', 'day, week or month', 'week')
      .option('--by <dims>', 'comma-separated dimensions')
      .option('--from <yyyy-mm-dd>', 'first day (widened to its period)')
      .option('--to <yyyy-mm-dd>', 'last day, inclusive (widened to its period)')
      .option(
        '--filter <dim=v1,v2>',
        'keep only these values (repeatable)',
        (v: string, prev: string[] = []) => [...prev, v],
      );
  const asAdmin = (c: Command): Command =>
    c
      .option('--user <admin>', 'your admin account (password in FLEETVAULT_PASSWORD, or --password-stdin)')
      .option('--password-stdin', 'read your password from stdin')
      .option('--token <token>', 'your admin token (or FLEETVAULT_TOKEN)');
  asAdmin(
    queryOptions(
      metrics
        .command('query')
        .description('answer one metric by calendar period and dimensions; groups under k are suppressed'),
    ).option(
      '--exact <id>',
      'under differential privacy: the exact answer a second admin approved for you (same query, with --user or --token)',
    ),
  ).action(run(metricsQueryAction));
  asAdmin(
    queryOptions(
      metrics
        .command('exact')
        .description(
          'under differential privacy: ask for the exact answer to one query (--from and --to required); a second admin approves it',
        ),
    )
      .option('--reason <text>', 'why (shown to the approver)')
      .option('--expires-in <hours>', 'hours until the request and its answer expire (default 24)'),
  ).action(run(metricsExactAction));
}

/** `forget` and `sql`: one person out of the store, one read-only query into it. */
function registerStoreCommands(p: Command, run: Run): void {
  p.command('forget')
    .description('erase one person from the store now (and keep them out of later syncs)')
    .requiredOption('--user-id <id>', 'the production id (never stored; only its pseudonym is used)')
    .option('--domain <name>', 'pseudonym domain of that id', 'user')
    .option('--policy <file>', 'policy file', DEFAULT_POLICY)
    .option('--store <path>', STORE_HELP, DEFAULT_STORE)
    .option('--key-file <file>', 'master key file', DEFAULT_KEY_FILE)
    .option('--state-dir <dir>', 'where the audit log is', STATE_DIR)
    .action(run(forgetAction));
  p.command('sql')
    .description('run one read-only SELECT against the store')
    .argument('<statement...>', 'the SELECT statement')
    .option('--store <path>', READ_STORE_HELP)
    .option('--max-rows <n>', 'row cap', '1000')
    .option(
      '--state-dir <dir>',
      'state folder (default: the one the store records, else the store’s own folder)',
    )
    .action(run(sqlAction));
}

/** `serve`: the HTTP API and dashboard. */
function registerServeCommand(p: Command, run: Run): void {
  p.command('serve')
    .description('serve the HTTP API (loopback only unless TLS is given)')
    .option('--store <path>', STORE_HELP, DEFAULT_STORE)
    .option('--metrics <file>', 'metrics file', DEFAULT_METRICS)
    .option('--listen <host:port>', 'address to listen on', DEFAULT_LISTEN)
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option(
      '--state-dir <dir>',
      'state folder (default: the one the store records, else the store’s own folder)',
    )
    .option('--log', 'request logs on stdout (authorization headers redacted)')
    .option(
      '--sync-every <interval>',
      'also sync on a schedule, e.g. 15m (needs --source, --policy, --key-file)',
    )
    .option(
      '--sync-mode <mode>',
      'scheduled syncs by cursor (default) or cdc (logical replication)',
      'cursor',
    )
    .option(
      '--publication <name>',
      'with --sync-mode cdc: publication (and gate) to read',
      DEFAULT_PUBLICATION,
    )
    .option('--source <url>', 'source PostgreSQL URL for scheduled syncs (or FLEETVAULT_SOURCE)')
    .option('--policy <file>', 'policy file for scheduled syncs', DEFAULT_POLICY)
    .option(
      '--key-file <file>',
      'master key file (scheduled syncs; its permissions are probed)',
      DEFAULT_KEY_FILE,
    )
    .option(
      '--probe-every <interval>',
      'probe this server for exposure, e.g. 5m, or off',
      DEFAULT_PROBE_EVERY,
    )
    .option('--alert-webhook <url>', 'POST exposure alerts here (https, or http on loopback)')
    .action(run(serveAction));
}

/** `users`, `tokens` and `audit`: who may sign in, what may call, what happened. */
function registerAccountCommands(p: Command, run: Run): void {
  const users = p
    .command('users')
    .description('dashboard accounts (argon2id passwords, one-time password on creation)');
  users
    .command('add')
    .requiredOption('--name <name>', 'user name')
    .option('--role <role>', 'viewer, analyst or admin', 'viewer')
    .option('--approval <id>', 'the approved proposal for an analyst or admin')
    .option('--state-dir <dir>', 'state folder', STATE_DIR)
    .action(run(usersAddAction));
  users.command('list').option('--state-dir <dir>', 'state folder', STATE_DIR).action(run(usersListAction));
  users
    .command('disable')
    .description(
      'the account can no longer sign in; its sessions end (above viewer: an admin signs its removal)',
    )
    .requiredOption('--name <name>', 'user name')
    .option('--state-dir <dir>', 'state folder', STATE_DIR)
    .option('--user <admin>', 'above viewer: your admin account (password in FLEETVAULT_PASSWORD)')
    .option('--token <token>', 'above viewer: your admin token (or FLEETVAULT_TOKEN)')
    .action(run(usersDisableAction));
  users
    .command('reset-password')
    .description('a new one-time password (above viewer: an approved proposal, as for the account)')
    .requiredOption('--name <name>', 'user name')
    .option('--approval <id>', 'the approved proposal (approvals propose --new-user NAME --role ROLE)')
    .option('--state-dir <dir>', 'state folder', STATE_DIR)
    .action(run(usersResetPasswordAction));
  const tokens = p
    .command('tokens')
    .description('API tokens: shown once, stored hashed, expiring, revocable');
  tokens
    .command('create')
    .option('--role <role>', 'viewer, analyst or admin', 'viewer')
    .option('--name <name>', 'what the token is for')
    .option('--expires <days>', 'e.g. 30d, or never', '30d')
    .option('--approval <id>', 'the approved proposal for an analyst or admin token')
    .option('--state-dir <dir>', 'tokens and audit log', STATE_DIR)
    .action(run(tokensCreateAction));
  tokens
    .command('list')
    .option('--state-dir <dir>', 'tokens and audit log', STATE_DIR)
    .action(run(tokensListAction));
  tokens
    .command('revoke')
    .argument('<id>', 'token id')
    .option('--state-dir <dir>', 'tokens and audit log', STATE_DIR)
    .option('--user <admin>', 'above viewer: your admin account (password in FLEETVAULT_PASSWORD)')
    .option('--token <token>', 'above viewer: your admin token (or FLEETVAULT_TOKEN)')
    .action(run(tokensRevokeAction));
  p.command('audit')
    .description('the hash-chained audit log')
    .command('verify')
    .description('check that no record was edited, removed or reordered')
    .option('--state-dir <dir>', 'state folder', STATE_DIR)
    .option('--audit-log <file>', 'audit log file (default <state-dir>/audit.jsonl)')
    .option(
      '--store <path>',
      'also check the audit head this store anchored (a DuckDB file or clickhouse:// URL)',
    )
    .action(run(auditVerifyAction));
}

/** `approvals`: the two-person rule. */
function registerApprovalsCommands(p: Command, run: Run): void {
  const approvals = p
    .command('approvals')
    .description('the two-person rule: weakening a security setting needs a second admin');
  const who = (c: Command) =>
    c
      .option('--user <name>', 'your admin account (password in FLEETVAULT_PASSWORD, or --password-stdin)')
      .option('--password-stdin', 'read your password from stdin')
      .option('--token <token>', 'your admin token (or FLEETVAULT_TOKEN)')
      .option('--state-dir <dir>', 'state folder', STATE_DIR)
      .option('--json', 'the result as JSON');
  who(
    approvals
      .command('propose')
      .description('propose a weaker setting or a token/account above viewer; prints the exact difference')
      .option('--reason <text>', 'why; shown to the approver')
      .option('--policy <file>', 'a policy whose weaker columns or k need approval')
      .option('--listen <host:port>', 'a listen address beyond loopback')
      .option('--tls-cert <file>', 'with --listen: TLS certificate')
      .option('--tls-key <file>', 'with --listen: TLS key')
      .option('--probe-every <interval>', 'a slower exposure probe, or off')
      .option('--alert-webhook <url>', 'another alert webhook for serve, or none')
      .option('--new-token <name>', 'a token above viewer (with --role)')
      .option('--new-user <name>', 'an account above viewer (with --role)')
      .option('--role <role>', 'analyst or admin')
      .option('--expires-in <hours>', 'hours until the proposal expires (default 72)'),
  ).action(run(approvalsProposeAction));
  who(
    approvals
      .command('seal')
      .description('record a first or stronger setting in the signed state (one admin signs)')
      .option('--policy <file>', 'a policy to record (its k, columns and on_detect)')
      .option('--listen <host:port>', 'a listen address')
      .option('--tls-cert <file>', 'with --listen: TLS certificate')
      .option('--tls-key <file>', 'with --listen: TLS key')
      .option('--probe-every <interval>', 'a faster exposure probe')
      .option('--alert-webhook <url>', 'the alert webhook serve must use (a first one needs one admin)'),
  ).action(run(approvalsSealAction));
  approvals
    .command('list')
    .description('every proposal and what it would change')
    .option('--state-dir <dir>', 'state folder', STATE_DIR)
    .option('--json', 'as JSON')
    .action(run(approvalsListAction));
  approvals
    .command('show <id>')
    .description('one proposal and the exact difference it would approve')
    .option('--state-dir <dir>', 'state folder', STATE_DIR)
    .option('--json', 'as JSON')
    .action(run(approvalsShowAction));
  who(approvals.command('approve <id>').description('approve another admin’s proposal')).action(
    run(approvalsDecideAction('approve')),
  );
  who(approvals.command('reject <id>').description('reject a proposal')).action(
    run(approvalsDecideAction('reject')),
  );
  who(
    approvals
      .command('reenrol')
      .description(
        'bind your own credential in the signed state (principals enrolled before digests existed)',
      ),
  ).action(run(approvalsReenrolAction));
  approvals
    .command('state')
    .description('the approved, signed security state')
    .option('--state-dir <dir>', 'state folder', STATE_DIR)
    .action(run(approvalsStateAction));
}

/** `keys`: key epochs. */
function registerKeysCommands(p: Command, run: Run): void {
  const keys = p.command('keys').description('key epochs: rotate pseudonyms, destroy old key material');
  keys
    .command('rotate')
    .description(
      'new key epoch: rebuild the store under new pseudonyms by a full sync, swap it in atomically',
    )
    .option('--source <url>', 'source PostgreSQL URL (or FLEETVAULT_SOURCE)')
    .option('--policy <file>', 'policy file', DEFAULT_POLICY)
    .option('--store <path>', STORE_HELP, DEFAULT_STORE)
    .option('--key-file <file>', 'master key file', DEFAULT_KEY_FILE)
    .option('--state-dir <dir>', 'state folder (default: the store’s own folder)')
    .option(
      '--discard-ingested',
      'rotate even though tables hold rows devices sent, which cannot be re-pseudonymized: they are lost',
    )
    .option('--json', 'the result as JSON')
    .action(run(keysRotateAction));
  keys
    .command('retire')
    .description(
      'destroy the previous key epoch (crypto-shredding: old pseudonyms can never be linked again)',
    )
    .option('--key-file <file>', 'master key file', DEFAULT_KEY_FILE)
    .option('--state-dir <dir>', 'state folder (audit log)', STATE_DIR)
    .action(run(keysRetireAction));
}

/** `ingest`, `probe` and `scan`: device messages in, a deployment and a database checked. */
function registerFleetCommands(p: Command, run: Run): void {
  p.command('ingest')
    .description('device messages from MQTT through the policy into the store, at least once')
    .requiredOption(
      '--mqtt <url>',
      'the broker, e.g. mqtt://user@127.0.0.1:1883 (password in FLEETVAULT_MQTT_PASSWORD or a 0600 file named by FLEETVAULT_MQTT_PASSWORD_FILE, never in the URL)',
    )
    .requiredOption('--table <name>', 'the policy table the messages are rows of, e.g. connection_events')
    .option('--topic <filter>', "topic filter, e.g. 'fleet/+/conn'", '#')
    .option('--policy <file>', 'policy file', DEFAULT_POLICY)
    .option('--store <path>', STORE_HELP, DEFAULT_STORE)
    .option('--key-file <file>', 'master key file', DEFAULT_KEY_FILE)
    .option(
      '--state-dir <dir>',
      'state folder (default: the one the store records, else the store’s own folder)',
    )
    .option('--source <url>', "read the table's types from the source (else from the store)")
    .option('--client-id <id>', 'MQTT client id of the persistent session (default fleetvault-<table>)')
    .option('--batch <n>', 'rows per committed batch, and the most unacknowledged messages in memory', '1000')
    .option('--flush-ms <ms>', 'longest a message waits for its batch', '1000')
    .option('--max-bytes <n>', 'largest message accepted', '16384')
    .option('--log-batches', 'a line on stderr for every committed batch')
    .option('--metrics-listen <host:port>', 'serve Prometheus series at /metrics on this loopback address')
    .action(run(ingestAction));
  p.command('probe')
    .description('check a deployment as an attacker would: routes, TLS, file permissions, PII in answers')
    .requiredOption('--url <base-url>', 'the deployment, e.g. https://vault.example:8787')
    .option(
      '--route <route>',
      'also probe this route, e.g. "GET /api/v1/export" (repeatable)',
      (v, prev: string[] = []) => [...prev, v],
    )
    .option('--store <path>', 'store file whose permissions to check', DEFAULT_STORE)
    .option('--key-file <file>', 'key file whose permissions to check', DEFAULT_KEY_FILE)
    .option(
      '--state-dir <dir>',
      'state folder (default: the one the store records, else the store’s own folder)',
    )
    .option('--json', 'the report as JSON')
    .action(run(probeAction));
  p.command('scan')
    .description(
      'profile any PostgreSQL or DuckDB database for personal data and secrets (counts, never values)',
    )
    .requiredOption('--url <url>', 'postgres://… URL or a DuckDB file path')
    .option('--schema <name>', 'PostgreSQL schema', 'public')
    .option('--sample <n>', 'values sampled per column', '500')
    .option('--expect-clean', 'exit 1 on any finding (always so for a fleetvault store)')
    .action(run(scanAction));
}

/** `demo`: the whole story on embedded defaults. */
function registerDemoCommand(p: Command, run: Run): void {
  p.command('demo')
    .description('the whole story on embedded defaults (what `npm start` runs)')
    .option('--dir <path>', 'state folder', DEMO_DIR)
    .option('--users <n>', 'simulated users on first run', String(DEMO_USERS))
    .option('--days <n>', 'simulated days on first run', String(DEMO_DAYS))
    .option('--listen <host:port>', 'dashboard address (loopback)', DEFAULT_LISTEN)
    .option('--no-serve', 'stop after the report instead of serving the dashboard')
    .option('--resync', 'sync the embedded production database again even when it has not changed')
    .action(run(demoAction));
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** Runs the CLI and resolves to its exit code: 0 ok, 1 refused or failed, 2 usage. */
export async function main(argv: readonly string[]): Promise<number> {
  process.umask(0o077);
  // A closed pipe (`fleetvault … | head`) is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  let code = 0;
  try {
    await program((c) => {
      code = c;
    }).parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    return report(new Output(false, 'text'), error);
  }
  return code;
}
