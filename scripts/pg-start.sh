#!/usr/bin/env bash
# Start a throwaway PostgreSQL (Debian package) on 127.0.0.1:$PGPORT for the tests and print its URL.
# Usage: scripts/pg-start.sh DIR   (stop: scripts/pg-stop.sh DIR)
set -euo pipefail
dir=${1:?data directory}
port=${PGPORT:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
mkdir -p "$dir"
chown postgres: "$dir" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if [ ! -f "$dir/PG_VERSION" ]; then
  as_pg "$bin/initdb -D '$dir' -A trust -U postgres --no-sync" >/dev/null
fi
as_pg "$bin/pg_ctl -D '$dir' -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" -w -l '$dir/server.log' start" >/dev/null
as_pg "$bin/psql -h 127.0.0.1 -p $port -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='voipadmin_test'\"" | grep -q 1 \
  || as_pg "$bin/createdb -h 127.0.0.1 -p $port -U postgres voipadmin_test"
echo "postgresql+psycopg://postgres@127.0.0.1:$port/voipadmin_test"
