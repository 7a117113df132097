#!/bin/sh
# One cron-driven sync: never two at once (flock), one JSON result per run appended to a log
# (the sync's own --json output: per table, rows read = written + deleted + quarantined + blocked),
# exit code 0 ok, 1 refused or failed (cron mails the failure when MAILTO is set).
#
# Beside `serve`: on ClickHouse, `serve` reads as a read-only user while this job writes as the
# writer. A DuckDB store has one owner: when `serve` runs on it, let it sync
# (`serve --sync-every`, examples/systemd); this job is for a DuckDB store nothing serves.
#
# Settings from the environment (the crontab line sets them), with these defaults:
set -eu
FV_HOME="${FV_HOME:-/var/lib/fleetvault}"
FV_ETC="${FV_ETC:-/etc/fleetvault}"
FLEETVAULT="${FLEETVAULT:-/usr/local/bin/fleetvault}"
FV_STORE="${FV_STORE:-$FV_HOME/store.duckdb}"
FV_LOG="${FV_LOG:-$FV_HOME/sync.jsonl}"
# FLEETVAULT_SOURCE=postgres://fleetvault_reader@db.internal:5432/prod
. "$FV_ETC/env"
export FLEETVAULT_SOURCE
umask 077
cd "$FV_HOME"
exec flock --nonblock --conflict-exit-code 75 "$FV_HOME/sync.lock" \
  "$FLEETVAULT" sync --json \
  --store "$FV_STORE" \
  --policy "$FV_ETC/fleetvault.policy.yaml" \
  --key-file "$FV_ETC/master.key" \
  --state-dir "$FV_HOME/state" >>"$FV_LOG"
