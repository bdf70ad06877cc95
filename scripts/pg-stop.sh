#!/usr/bin/env bash
set -euo pipefail
dir=${1:?data directory}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$bin/pg_ctl -D '$dir' -m fast stop"; else "$bin/pg_ctl" -D "$dir" -m fast stop; fi >/dev/null
