#!/usr/bin/env bash
# Fraud-alert lag under load, SQLite then PostgreSQL (results: docs/PERFORMANCE.md).
# usage: bash bench/alerts/run.sh [lag.py options...]      e.g. bash bench/alerts/run.sh --duration 40 --profile
# A throwaway PostgreSQL on $PGPORT (default 54388) in $WORK/pg, stopped at the end (one already answering
# there is used and left running); the seeded copies ($WORK/lag.seed.sqlite3, database bench_alerts_seed)
# are kept for the next run.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=$PWD/.venv/bin/python
WORK=${WORK:-/tmp/bench-alerts}
export PGPORT=${PGPORT:-54388}
for tool in wrk sipp; do
  command -v $tool >/dev/null || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk sip-tester >/dev/null; }
done
mkdir -p "$WORK"
if pg_isready -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; then
  echo "PostgreSQL already answers on $PGPORT: using it (left running)"
else
  scripts/pg-start.sh "$WORK/pg" >/dev/null || exit 1
  trap 'scripts/pg-stop.sh "$WORK/pg"' EXIT
fi
rc=0
"$PY" bench/alerts/lag.py --work "$WORK" "$@" || rc=1
"$PY" bench/alerts/lag.py --work "$WORK" --db-url "postgresql+psycopg://postgres@127.0.0.1:$PGPORT/bench_alerts" "$@" || rc=1
exit $rc
