#!/usr/bin/env bash
# A/B of two endpoint settings on the same data: keep-alive req/s and server CPU per request.
# usage: bash bench/provisioning/ab.sh "ENV=A ..." "ENV=B ..." [DURATION_SECONDS] [ROUNDS]
#   e.g. bash bench/provisioning/ab.sh VOIPADMIN_HTTPS_THREADS=1 VOIPADMIN_HTTPS_THREADS=2 10 5
# Both run as `python -m core serve --no-sip` (each in its own session, as in run.sh), wrk -t2 -c64
# alternates between them, and the CPU of every process of each server is read from /proc.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
A=$1; B=$2; DUR=${3:-10}; ROUNDS=${4:-5}
PORT_A=19453; PORT_B=19454
OUT=$(mktemp -d /tmp/voipadmin-ab.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; true' EXIT
command -v wrk >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }

export PYTHONPATH=$ROOT VOIPADMIN_DB_URL=sqlite:///$OUT/db.sqlite3 VOIPADMIN_DATA_DIR=$OUT
$PY bench/provisioning/seed.py "$VOIPADMIN_DB_URL" 10000 "$OUT/keys.txt"
$PY -c "from core.tls import generate_self_signed as g; from pathlib import Path as P; g(P('$OUT/cert.pem'), P('$OUT/key.pem'), '127.0.0.1')"
KEY=$(head -1 "$OUT/keys.txt")
for side in A B; do
  port=PORT_$side; port=${!port}; setting=${!side}
  env $setting VOIPADMIN_PUBLIC_URL=https://127.0.0.1:$port setsid $PY -m core serve --no-sip --host 127.0.0.1 \
    --https-port "$port" --cert "$OUT/cert.pem" --key "$OUT/key.pem" > "$OUT/serve-$side.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -skf -o /dev/null "https://127.0.0.1:$port/$KEY.cfg" && break; sleep 0.2; done
done

ticks() {  # CPU ticks of every process serving a port (the serve parent, Granian and its workers)
  local s=0 f
  for p in $(pgrep -f -- "port $1( |$)"); do read -r -a f < "/proc/$p/stat"; s=$((s + f[13] + f[14])); done
  echo $s
}
hz=$(getconf CLK_TCK)
run() {  # port -> "req/s cpu_us_per_request"
  local t0 t1 out n
  t0=$(ticks "$1"); out=$(wrk -t2 -c64 -d"${DUR}"s "https://127.0.0.1:$1/$KEY.cfg"); t1=$(ticks "$1")
  n=$(echo "$out" | grep -o '[0-9]* requests in' | awk '{print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "($t1 - $t0) * 1000000 / $hz / $n" | bc -l)"
}
echo "round  A: $A  |  B: $B   (req/s, server CPU us/request)"
for r in $(seq "$ROUNDS"); do
  a=$(run $PORT_A); b=$(run $PORT_B)
  printf "%5d  A %9.0f %6.1f  |  B %9.0f %6.1f\n" "$r" $a $b
done
