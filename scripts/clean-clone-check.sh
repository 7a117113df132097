#!/usr/bin/env bash
# Proves the README's two commands on a clean clone: `npm ci`, then `npm test` with nothing else
# done. As root (and with iproute2), `npm test` runs inside a network namespace of its own, where
# 127.0.0.1 is a private loopback: no server the machine runs (its PostgreSQL on 5432, whatever
# its configuration, or anything else) is reachable, so a pass shows the tests start everything
# they use. `npm ci` runs outside it, since it needs the npm registry.
#
#   scripts/clean-clone-check.sh [commit]       (default HEAD)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
commit="${1:-HEAD}"
work="$(mktemp -d /tmp/fv-clean-clone.XXXXXX)"
netns="fv-clean-$$"
cleanup() {
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet --no-local "$repo" "$work/fleetvault"
cd "$work/fleetvault"
git checkout --quiet "$commit"
echo "== clean clone of $(git rev-parse --short HEAD) in $work/fleetvault"
if command -v psql >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "== the machine's PostgreSQL on 5432: wal_level = $(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW wal_level' 2>/dev/null || echo '?')"
fi

start=$(date +%s)
npm ci --no-audit --no-fund
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
  ip netns add "$netns"
  ip -n "$netns" link set lo up
  # A LAN-like address of its own, for the tests that listen beyond loopback (with TLS).
  ip -n "$netns" link add fv0 type veth peer name fv1
  ip -n "$netns" addr add 10.254.0.1/24 dev fv0
  ip -n "$netns" link set fv0 up
  ip -n "$netns" link set fv1 up
  echo "== npm test in network namespace $netns (the machine's services are out of reach)"
  ip netns exec "$netns" npm test
else
  echo "== npm test (not root or no iproute2: runs beside the machine's services)"
  npm test
fi
echo "== passed in $(($(date +%s) - start)) s"
