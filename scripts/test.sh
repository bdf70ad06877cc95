#!/usr/bin/env bash
# The README's test command (make test): installs what the tests need, starts the servers they use,
# runs the whole suite on SQLite, then the database tests again on PostgreSQL.
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
trap 'bash scripts/pg-stop.sh "$pgdir" 2>/dev/null; rm -rf "$pgdir"' EXIT
pg_url=$(bash scripts/pg-start.sh "$pgdir") || { echo "PostgreSQL did not start"; exit 1; }

echo "== pytest (SQLite)"
python -m pytest "$@"
rc=$?
echo "== pytest -m \"db and not browser\" (PostgreSQL)"
VOIPADMIN_TEST_DB_URL="$pg_url" python -m pytest -m "db and not browser" -p no:cacheprovider "$@"
rc_pg=$?
[ $rc -ne 0 ] && exit $rc
exit $rc_pg
