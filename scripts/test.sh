#!/usr/bin/env bash
# The README's test command (make test): installs what the tests need, starts the servers they use,
# runs the whole suite on SQLite and, beside it, the database tests again on PostgreSQL.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  pkgs=$(grep -v '^\s*#' .ci/apt-packages.txt | xargs)
  missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    echo "== apt-get install $missing"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null || exit 1
  fi
fi
bash scripts/venv.sh requirements-dev.txt || exit 1
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check . || exit 1
ruff format --check . || exit 1
echo "== mypy"
mypy core || exit 1

pgdir=$(mktemp -d /tmp/voipadmin-pg.XXXXXX)
pgrun=$(mktemp -d /tmp/voipadmin-pgrun.XXXXXX)  # the PostgreSQL pass's log and temp files
trap 'kill "${pg_pid:-}" 2>/dev/null; bash scripts/pg-stop.sh "$pgdir" 2>/dev/null; rm -rf "$pgdir" "$pgrun"' EXIT
pg_url=$(bash scripts/pg-start.sh "$pgdir") || { echo "PostgreSQL did not start"; exit 1; }

# The two passes run side by side: most tests wait on servers and subprocesses (a pass keeps one of
# the two cores busy), so together they take about the time of one. The PostgreSQL pass prints after.
pg_log="$pgrun/pytest.log"
VOIPADMIN_TEST_DB_URL="$pg_url" python -m pytest -m "db and not browser" -p no:cacheprovider --basetemp="$pgrun/tmp" "$@" \
  >"$pg_log" 2>&1 &
pg_pid=$!
echo "== pytest (SQLite)"
python -m pytest "$@"
rc=$?
wait "$pg_pid"
rc_pg=$?
echo "== pytest -m \"db and not browser\" (PostgreSQL)"
cat "$pg_log"
[ $rc -ne 0 ] && exit $rc
exit $rc_pg
