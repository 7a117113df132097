/** What the catalog says of one code: the CLI's exit code, the HTTP status, and how to solve it. */
export interface CatalogEntry {
  readonly exit: 1 | 2;
  readonly http: 400 | 401 | 403 | 404 | 409 | 429 | 500 | 502;
  readonly solve: string;
}

/**
 * The catalog of every code fleetvault reports (errors it throws, problems its policy and metrics
 * checks list, answers of its HTTP edge), with the exit code the CLI uses, the HTTP status the
 * server answers with and a one-line "how to solve". `docs/ERRORS.md` is checked against this
 * list, and every `FV_…` literal in src/ and web/ against it, by `catalog.test.ts`.
 */
export const ERROR_CATALOG = {
  FV_USAGE: { exit: 2, http: 400, solve: 'Run the command with --help to see its options.' },
  FV_POLICY_MALFORMED: {
    exit: 1,
    http: 400,
    solve: 'Fix the policy file at the position named in the message.',
  },
  FV_POLICY_MISSING: {
    exit: 1,
    http: 400,
    solve:
      'Pass --policy <file>, or draft one from your database: `fleetvault policy suggest --source <url> --out fleetvault.policy.yaml`, review every line and set `reviewed: true` (the demo policy is examples/demo/fleetvault.policy.yaml).',
  },
  FV_POLICY_INVALID: {
    exit: 1,
    http: 400,
    solve: 'Fix each problem listed; `fleetvault policy check` lists them all.',
  },
  FV_POLICY_UNREVIEWED: {
    exit: 1,
    http: 400,
    solve: 'Review every line of the drafted policy, then set `reviewed: true` at its top.',
  },
  FV_POLICY_SYNTAX: {
    exit: 1,
    http: 400,
    solve: 'The policy file is not valid YAML at the position named; fix the indentation or quoting there.',
  },
  FV_POLICY_SHAPE: {
    exit: 1,
    http: 400,
    solve:
      'A part of the policy has the wrong shape (a map, list or name where the message says); compare it with examples/demo/fleetvault.policy.yaml.',
  },
  FV_POLICY_VERSION: { exit: 1, http: 400, solve: 'Set `version: 1` at the top of the policy.' },
  FV_POLICY_K: { exit: 1, http: 400, solve: 'Set k to an integer of at least 2 (the default is 5).' },
  FV_POLICY_UNKNOWN_KEY: {
    exit: 1,
    http: 400,
    solve: 'Remove or correct the key; the message lists the keys allowed at that place.',
  },
  FV_POLICY_DUPLICATE: { exit: 1, http: 400, solve: 'List each column once per table.' },
  FV_POLICY_CLASS: {
    exit: 1,
    http: 400,
    solve:
      'Give the column one of the classes the message lists (identifier, personal, sensitive, attribute, secret …).',
  },
  FV_POLICY_ACTION: { exit: 1, http: 400, solve: 'Give the column one of the actions the message lists.' },
  FV_POLICY_ACTION_NOT_ALLOWED: {
    exit: 1,
    http: 400,
    solve:
      'Choose an action or transform the column’s class allows (the message lists them), or change its class.',
  },
  FV_POLICY_TRANSFORM: {
    exit: 1,
    http: 400,
    solve:
      'Give a known transform with its parameters, and only with action generalize (README, "Transforms").',
  },
  FV_POLICY_DOMAIN: {
    exit: 1,
    http: 400,
    solve:
      'Give each pseudonymized identifier a domain name (the same for columns that join), and no other column a domain.',
  },
  FV_POLICY_KEY: {
    exit: 1,
    http: 400,
    solve:
      'Name primary key, cursor, soft-delete and retention columns that are listed in columns and stored (not secret, not dropped).',
  },
  FV_POLICY_PRIVACY: {
    exit: 1,
    http: 400,
    solve:
      'Fix the privacy section at the key the message names: model k_anonymity or differential_privacy, and the budget, window and contribution bounds the README lists.',
  },
  FV_POLICY_DETECTOR: { exit: 1, http: 400, solve: 'Give each custom detector a valid regular expression.' },
  FV_POLICY_UNKNOWN_TABLE: {
    exit: 1,
    http: 400,
    solve: 'The source has no such table: correct its name or schema in the policy, or remove it.',
  },
  FV_POLICY_UNKNOWN_COLUMN: {
    exit: 1,
    http: 400,
    solve: 'The source table has no such column: correct its name in the policy, or remove it.',
  },
  FV_POLICY_UNCLASSIFIED_COLUMN: {
    exit: 1,
    http: 400,
    solve:
      'Classify every column the source table has (a new column is never copied unclassified); `policy suggest` drafts a line for it.',
  },
  FV_POLICY_BINARY: {
    exit: 1,
    http: 400,
    solve: 'Binary columns are never copied: classify the column secret (never read) or personal (dropped).',
  },
  FV_POLICY_TRANSFORM_TYPE: {
    exit: 1,
    http: 400,
    solve:
      'The transform does not fit the column’s type in the source (the message names both): choose one that does.',
  },
  FV_SOURCE_OVERPRIVILEGED: {
    exit: 1,
    http: 400,
    solve:
      'The login role can read more than the policy copies: revoke the extra privileges, keeping only the GRANTs of `fleetvault policy grants`.',
  },
  FV_KEY_FILE_MISSING: {
    exit: 1,
    http: 400,
    solve: 'Run `fleetvault init` to create a key file, or pass --key-file.',
  },
  FV_KEY_FILE_INSECURE: {
    exit: 1,
    http: 400,
    solve: 'Run `chmod 600` on the key file; it must be readable by its owner only.',
  },
  FV_KEY_FILE_INVALID: {
    exit: 1,
    http: 400,
    solve: 'Restore the key file from your backup; it is not a fleetvault key.',
  },
  FV_KEY_MISMATCH: {
    exit: 1,
    http: 400,
    solve: 'Use the key file this store was built with, or sync into a new store path.',
  },
  FV_SOURCE_UNREACHABLE: {
    exit: 1,
    http: 400,
    solve: 'Check the source URL, that the server is up and that the role can log in.',
  },
  FV_SOURCE_PRIVILEGE: {
    exit: 1,
    http: 400,
    solve: 'Run the GRANT printed in the message (see `fleetvault policy grants`).',
  },
  FV_SOURCE_QUERY: { exit: 1, http: 400, solve: 'The source refused a query; the message names the table.' },
  FV_SOURCE_AUTH: {
    exit: 1,
    http: 400,
    solve:
      'The source refused the login: check the user and password of the URL (a password from PGPASSWORD or ~/.pgpass works too), and that pg_hba.conf lets this user reach this database from this host.',
  },
  FV_SOURCE_DATABASE: {
    exit: 1,
    http: 400,
    solve:
      'The database named in the source URL does not exist on that server: check the name after the last slash (`psql -l` lists the databases).',
  },
  FV_SOURCE_HOST: {
    exit: 1,
    http: 400,
    solve:
      'The host name of the source URL does not resolve: check its spelling, your DNS, or use the server’s IP address.',
  },
  FV_SOURCE_URL: {
    exit: 1,
    http: 400,
    solve: 'Give a PostgreSQL URL: postgres://user@host:5432/database (postgresql:// works too).',
  },
  FV_SOURCE_NOT_POPULATED: {
    exit: 1,
    http: 400,
    solve:
      'A materialized view named in the message has never been populated: run REFRESH MATERIALIZED VIEW on the source, or leave it out of the policy.',
  },
  FV_TRANSFORM_UNFIT: {
    exit: 1,
    http: 400,
    solve:
      'The column’s values do not fit its transform (every one became NULL): choose a transform that fits, or drop the column (class personal without a transform), review the policy, then sync again.',
  },
  FV_SCHEMA_DRIFT: {
    exit: 1,
    http: 400,
    solve: 'Update the policy as the message says, review it, then sync again.',
  },
  FV_PII_DETECTED: {
    exit: 1,
    http: 400,
    solve:
      'If the column holds personal data, classify it personal (dropped) or generalize it; if the hit is a false alarm on one value, set `on_detect: quarantine` for that table (the row is skipped and counted); then sync again. The other tables were copied. Change capture and `ingest` stop the same way with nothing of the batch written (the slot is not advanced; the broker keeps the messages).',
  },
  FV_VALUE_TOO_LARGE: {
    exit: 1,
    http: 400,
    solve:
      'fleetvault copies no kept text it could not scan for PII, and the scan reads at most 1,048,576 characters of a value. Classify the column `action: drop` (or personal) in the policy, or shorten the values in production; under `on_detect: quarantine` such rows are skipped and counted instead. The other tables were copied. Change capture and `ingest` stop the same way with nothing of the batch written.',
  },
  FV_INTERRUPTED: {
    exit: 1,
    http: 500,
    solve:
      'The sync was asked to stop (Ctrl+C, SIGTERM) and stopped at the next batch: every batch written before is kept with its checkpoint, nothing of the one in progress, and a rebuild in progress is not swapped in. Run the same sync again to go on. A second signal stops the process at once (then the staging folder under the temporary directory may be left behind: it holds only a named pipe).',
  },
  FV_STORE_OPEN: {
    exit: 1,
    http: 400,
    solve:
      'Check the store path or URL: a DuckDB file that another fleetvault process (a sync, `serve --sync-every`) holds for writing opens when it is done; a ClickHouse server must be up and reachable at the host and port of the URL, and accept the user and password file it names.',
  },
  FV_STORE_MISSING: {
    exit: 1,
    http: 400,
    solve:
      'Run `fleetvault sync` first to create the store, or pass --store with the path of one (after `npm start`, the demo store is .fleetvault-demo/store.duckdb, found by itself in that folder).',
  },
  FV_STORE_INSECURE: {
    exit: 1,
    http: 400,
    solve:
      'Connect to a ClickHouse beyond this machine over HTTPS: clickhouses://…:8443/db (FLEETVAULT_CLICKHOUSE_CA names a private CA).',
  },
  FV_STORE_WRITE: {
    exit: 1,
    http: 400,
    solve:
      'The store refused a statement (the message names the table and the server’s error code); fix the server or its disk, then run again.',
  },
  FV_STORE_REPLICATION: {
    exit: 1,
    http: 400,
    solve:
      'The replicated ClickHouse tables cannot reach ZooKeeper, so they take no writes (reads go on): bring ZooKeeper (or the servers’ connection to it) back, then run the write again; it waits up to a minute for the servers to re-attach their tables and resumes from its checkpoint.',
  },
  FV_STAGING_FAILED: {
    exit: 1,
    http: 500,
    solve:
      'The sync’s private in-memory staging database could not handle a batch of the table the message names (DuckDB’s kind of error: out of memory, or a row of megabytes); nothing of that batch was written and the other tables were copied. When it fails before the table’s first row is written, the table is copied on the row path instead and this is not reported. Give the machine more free memory and run again; for a column of very large values, drop it in the policy (a kept value over 1,048,576 characters is refused anyway: FV_VALUE_TOO_LARGE).',
  },
  FV_ERASURE_CORRUPT: {
    exit: 1,
    http: 400,
    solve:
      'A record of an erasure that did not finish does not open under this key (it was changed or written outside fleetvault): run `fleetvault sync --full` (it drops the record and rebuilds every table from the source without any row linked to an erased person), then run the last `forget` again.',
  },
  FV_STORE_LAYOUT: {
    exit: 1,
    http: 400,
    solve:
      'The ClickHouse cluster now has other shards or shard weights than when the table was written, and rows are placed by their routing value over those: run `fleetvault sync --full` to rebuild every table on the new layout (incremental syncs, change capture and ingest resume after it).',
  },
  FV_STORE_REPLICA_DOWN: {
    exit: 1,
    http: 400,
    solve:
      'Start the ClickHouse server the message names (or wait for it): a shard with no live replica cannot be written, and creating or rebuilding a table needs every replica up.',
  },
  FV_STORE_VALUE: {
    exit: 1,
    http: 400,
    solve:
      'The store cannot hold the value the message describes (ClickHouse dates start in 1970): generalize the column in the policy, or use the DuckDB store.',
  },
  FV_INGESTED_ROWS: {
    exit: 1,
    http: 400,
    solve:
      'Keep the rows devices sent by not rebuilding (sync without --full, keep the key), or pass --discard-ingested to rebuild from the source and lose them.',
  },
  FV_SECRET_IN_URL: {
    exit: 1,
    http: 400,
    solve:
      'Take the password out of the URL (every user of the machine sees command lines in `ps`): give it in the environment variable or the owner-only (chmod 600) file the message names.',
  },
  FV_SECRET_FILE_INSECURE: {
    exit: 1,
    http: 400,
    solve: 'Name a password file that exists and is readable by its owner only (`chmod 600`).',
  },
  FV_STORE_PRIVILEGE: {
    exit: 1,
    http: 400,
    solve:
      'Serve from ClickHouse as a read-only user (profile with readonly = 2, limited to the store database; README, "ClickHouse store"), not as the user sync writes with.',
  },
  FV_CHECKPOINT_CORRUPT: {
    exit: 1,
    http: 400,
    solve: 'The checkpoint failed authentication; run `fleetvault sync --full` to rebuild the table.',
  },
  FV_SQL_REFUSED: { exit: 1, http: 400, solve: 'Send one read-only SELECT (or WITH … SELECT) statement.' },
  FV_SQL_FAILED: {
    exit: 1,
    http: 400,
    solve: 'Fix the query; the message is the store engine’s (DuckDB or ClickHouse).',
  },
  FV_SQL_LIMIT: {
    exit: 1,
    http: 400,
    solve:
      'The statement was stopped at its time or memory limit; aggregate more, select fewer columns or rows, or narrow the range.',
  },
  FV_SQL_BUSY: {
    exit: 1,
    http: 429,
    solve:
      'Wait for your running statement to finish (one at a time per person or token), then send the next.',
  },
  FV_SIM_TABLES_EXIST: {
    exit: 1,
    http: 400,
    solve: 'Point simulate at an empty database, or pass --replace.',
  },
  FV_METRICS_MISSING: {
    exit: 1,
    http: 400,
    solve:
      'Pass --metrics <file>, or start from the shipped examples/demo/fleetvault.metrics.yaml (copy it to fleetvault.metrics.yaml and edit it for your tables).',
  },
  FV_METRICS_INVALID: { exit: 1, http: 400, solve: 'Fix the metrics file as each listed problem says.' },
  FV_METRICS_SYNTAX: {
    exit: 1,
    http: 400,
    solve: 'The metrics file is not valid YAML at the position named; fix the indentation or quoting there.',
  },
  FV_METRICS_SHAPE: {
    exit: 1,
    http: 400,
    solve:
      'Fix the metrics file at the position and path named, as the message says; examples/demo/fleetvault.metrics.yaml shows every kind of measure.',
  },
  FV_METRICS_PRIVACY: {
    exit: 1,
    http: 400,
    solve:
      "Give each metric a unit column pseudonymized in the policy's privacy unit domain (e.g. user_id) and drop identifier columns from its dimensions.",
  },
  FV_METRIC_UNKNOWN: {
    exit: 1,
    http: 404,
    solve: 'Run `fleetvault metrics list` to see the metrics and their dimensions.',
  },
  FV_METRIC_QUERY: {
    exit: 1,
    http: 400,
    solve:
      'Use a grain of day, week or month, dates as YYYY-MM-DD, and listed dimensions; a query stopped by a limit of the store answers for a shorter range, another grain, fewer dimensions or more filters.',
  },
  FV_PRIVACY_UNSUPPORTED: {
    exit: 1,
    http: 400,
    solve:
      "Under differential privacy, give every summed column, and every column a percentile is of, clamp bounds in the policy's privacy section (a time to a first match needs none); averages inside ratios are not answered.",
  },
  FV_PRIVACY_SQL_OFF: {
    exit: 1,
    http: 403,
    solve:
      "Under differential privacy the server answers metrics only (noised, or exact with a second admin's approval: `fleetvault metrics exact`); ad-hoc SQL would read exact rows around the budget.",
  },
  FV_PRIVACY_BUDGET_SPENT: {
    exit: 1,
    http: 429,
    solve:
      'Your privacy budget for this window is spent: repeat a question already answered (free), or wait until the window renews (the message says when).',
  },
  FV_METRIC_FILTER_UNSAFE: {
    exit: 1,
    http: 400,
    solve:
      'Filter on more values or on none: an answer whose filter leaves out, or splits off, fewer than k users could be subtracted from another answer.',
  },
  FV_STATE_CORRUPT: {
    exit: 1,
    http: 400,
    solve: 'Restore the named state file from backup, or remove it to start over.',
  },
  FV_USER_UNKNOWN: {
    exit: 1,
    http: 400,
    solve: '`fleetvault users list` shows the accounts and their names.',
  },
  FV_TOKEN_UNKNOWN: { exit: 1, http: 404, solve: 'Run `fleetvault tokens list` to see the token ids.' },
  FV_LISTEN_INSECURE: {
    exit: 1,
    http: 400,
    solve:
      'Listen on 127.0.0.1 (the default), or give --tls-cert and --tls-key to listen on another address.',
  },
  FV_PORT_IN_USE: {
    exit: 1,
    http: 400,
    solve:
      'Stop the program that listens there (often an earlier `npm start` or `fleetvault serve` still running), or choose a free port: `npm start -- --listen 127.0.0.1:8788` (`--listen` for `fleetvault demo` and `serve`).',
  },
  FV_LISTEN_UNAVAILABLE: {
    exit: 1,
    http: 400,
    solve:
      'Listen on an address this machine has (127.0.0.1 by default) and a port above 1023 unless you run as root: `--listen 127.0.0.1:8787`.',
  },
  FV_STATE_DIR: {
    exit: 1,
    http: 400,
    solve:
      'Give a folder you can write (`--dir` for the demo, `--state-dir` elsewhere), or make this one yours: `chown` it to your user and `chmod 700` it.',
  },
  FV_NOT_BUILT: {
    exit: 1,
    http: 400,
    solve:
      'Run `npm run build` in the fleetvault folder (`npm start` builds what changed by itself); a file the package ships is missing otherwise: reinstall it.',
  },
  FV_INIT_EXISTS: {
    exit: 1,
    http: 400,
    solve: 'A key file already exists there; keep it, or choose another path.',
  },
  FV_STATE_WEAKER: {
    exit: 1,
    http: 409,
    solve:
      'Propose the change with `fleetvault approvals propose` and have a second admin approve it, or restore the approved setting.',
  },
  FV_STATE_TAMPERED: {
    exit: 1,
    http: 409,
    solve:
      'Restore the state folder (approved-state.json, states/, keys/, proposals.json) from backup; change settings only through `fleetvault approvals`.',
  },
  FV_STATE_MISMATCH: {
    exit: 1,
    http: 409,
    solve:
      'Run the command with the state folder the store was synced under (the message names both); a store bound to one security state is never served, synced or probed under another.',
  },
  FV_STATE_FORK: {
    exit: 1,
    http: 400,
    solve:
      'The state folder holds another chain than the one you saw there: find out who replaced it (new store id, the alert webhook’s record of versions) before trusting it; restore the chain you saw.',
  },
  FV_STATE_ROLLBACK: {
    exit: 1,
    http: 409,
    solve:
      'Restore the newest signed state (the message names the version the store has seen); an older state is never accepted again.',
  },
  FV_STATE_UNSEALED: {
    exit: 1,
    http: 400,
    solve:
      'Have one admin record the policy in the signed state once: `fleetvault approvals seal --policy <file> --user <admin>`.',
  },
  FV_AUDIT_TRUNCATED: {
    exit: 1,
    http: 409,
    solve:
      'Restore the audit log from backup: the signed state, the store or audit.jsonl.head anchors a record the log no longer has.',
  },
  FV_APPROVAL_REQUIRED: {
    exit: 1,
    http: 403,
    solve:
      'Propose it with `fleetvault approvals propose`; once another admin approves, repeat with --approval <id>.',
  },
  FV_APPROVAL_INVALID: {
    exit: 1,
    http: 409,
    solve:
      'Check the proposal with `fleetvault approvals show <id>`: a different admin must decide it before it expires.',
  },
  FV_QUORUM_LOST: {
    exit: 1,
    http: 409,
    solve:
      'Only one admin is left in the signed state after two existed: the bootstrap never returns, so no admin or operator can be added and nothing weakened. Keep working under the current settings, or start a new deployment (new state folder and new store, synced from the source), which shows as a new state id.',
  },
  FV_PRINCIPAL_REENROL: {
    exit: 1,
    http: 403,
    solve:
      'The signed state names this principal without the digest of its credential (enrolled by an older fleetvault). Bind it once with your own secret: `fleetvault approvals reenrol --user <name>` (password in FLEETVAULT_PASSWORD) or `--token <token>`.',
  },
  FV_EXACT_ANSWER_REFUSED: {
    exit: 1,
    http: 403,
    solve:
      'An exact answer under differential privacy is for the admin who asked for it, for exactly the query approved, until its expiry: ask with `fleetvault metrics exact <metric> --from … --to …` (or POST /api/v1/privacy/exact), have a second admin run `fleetvault approvals approve <id>`, then repeat the same query with --exact <id>.',
  },
  FV_APPROVAL_UNKNOWN: {
    exit: 1,
    http: 404,
    solve: 'Run `fleetvault approvals list` to see the proposal ids.',
  },
  FV_CDC_UNAVAILABLE: {
    exit: 1,
    http: 400,
    solve:
      'Set wal_level = logical on the source (ALTER SYSTEM SET wal_level = logical; restart PostgreSQL), and have a superuser run the SQL from `fleetvault policy grants --mode cdc` (the login role needs no REPLICATION).',
  },
  FV_CDC_SLOT_LOST: {
    exit: 1,
    http: 400,
    solve: 'Run `fleetvault sync --mode cdc --full`: it copies everything again and starts a new slot.',
  },
  FV_CDC_CHANGE: {
    exit: 1,
    http: 400,
    solve:
      'A truncated or replaced table needs `fleetvault sync --mode cdc --full`; the message names the table.',
  },
  FV_CDC_PUBLICATION: {
    exit: 1,
    http: 400,
    solve:
      'Put the publication back to exactly the policy’s columns (run the SQL from `fleetvault policy grants --mode cdc` again), then `fleetvault sync --mode cdc --full` if the message says changes in the slot cannot be read.',
  },
  FV_CDC_SETUP: {
    exit: 1,
    http: 400,
    solve:
      'Change capture refused to start; the message names the table or slot and what would break. Nothing was created in the source.',
  },
  FV_ROTATION_FAILED: {
    exit: 1,
    http: 400,
    solve:
      'Fix what the message names (usually what a plain `fleetvault sync` would also refuse), then run `fleetvault keys rotate` again.',
  },
  FV_BAD_REQUEST: {
    exit: 1,
    http: 400,
    solve:
      'Send the request the API describes (/api/v1/openapi.json): the message names the field that does not fit.',
  },
  FV_AUTH_REQUIRED: {
    exit: 1,
    http: 401,
    solve:
      'Sign in, or send `Authorization: Bearer <token>` with a token from `fleetvault tokens create`; the message says why the credential was refused.',
  },
  FV_AUTH_FORBIDDEN: {
    exit: 1,
    http: 403,
    solve: 'Use an account or token whose role allows this route (the message names the role it needs).',
  },
  FV_CSRF: {
    exit: 1,
    http: 403,
    solve:
      'Send the x-csrf-token header the login answered with on every state-changing request (the dashboard does this by itself; reload it).',
  },
  FV_PRINCIPAL_UNAPPROVED: {
    exit: 1,
    http: 403,
    solve:
      'Have an admin approve the account or token in the signed security state (`fleetvault approvals propose`), then try again.',
  },
  FV_NOT_FOUND: { exit: 1, http: 404, solve: 'No such route; /api/v1/openapi.json lists the routes.' },
  FV_RATE_LIMITED: {
    exit: 1,
    http: 429,
    solve: 'Wait the seconds the message names, then send the request again.',
  },
  FV_HTTP: {
    exit: 1,
    http: 502,
    solve:
      'The dashboard got an HTTP error without a fleetvault answer (a proxy in between, or the server went away): check that the server runs and the proxy passes its answers through.',
  },
  FV_INTERNAL: {
    exit: 1,
    http: 500,
    solve:
      'An unexpected failure (a bug): run the command again with FLEETVAULT_DEBUG=1 (the server logs it) and report what it prints.',
  },
} as const satisfies Record<`FV_${string}`, CatalogEntry>;

/** Every code fleetvault emits: a string-literal union derived from the catalog. */
export type FvCode = keyof typeof ERROR_CATALOG;

/** The HTTP status the server answers a code with. */
export function httpStatusFor(code: FvCode): CatalogEntry['http'] {
  return ERROR_CATALOG[code].http;
}
