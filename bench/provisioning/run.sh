#!/usr/bin/env bash
# Provisioning endpoint vs nginx serving the same bytes as a static file, same certificate, one run.
# usage: bash bench/provisioning/run.sh [DURATION_SECONDS] [ROUNDS]      (results: docs/PERFORMANCE.md)
# Two nginx references: `access_log off` (nginx doing less work than the endpoint, which must log every
# request) and nginx's stock logging (`access_log FILE combined;`, one unbuffered write per request: the
# same work). Each wrk test runs ROUNDS times, the three servers alternating, and the medians are compared:
# this 2-core VM is shared and a single back-to-back pair swung nginx between 48k and 86k req/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
DUR=${1:-10}
ROUNDS=${2:-3}
EP_PORT=19443
NGX_PORT=19444   # nginx, access_log off
NGXL_PORT=19445  # nginx, access_log FILE combined (as shipped)
OUT=$(mktemp -d /tmp/voipadmin-bench.XXXXXX)
chmod 755 "$OUT"  # nginx workers (www-data) read the static copy
trap 'kill $EP_PID 2>/dev/null; [ -f $OUT/nginx.pid ] && kill $(cat $OUT/nginx.pid) 2>/dev/null; true' EXIT

for tool in wrk nginx; do
  if ! command -v $tool >/dev/null && ! [ -x /usr/sbin/$tool ]; then
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx >/dev/null
  fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

echo "== data: 10,000 devices in $OUT"
export PYTHONPATH=$ROOT VOIPADMIN_DB_URL=sqlite:///$OUT/db.sqlite3 VOIPADMIN_DATA_DIR=$OUT VOIPADMIN_PUBLIC_URL=https://127.0.0.1:$EP_PORT
$PY bench/provisioning/seed.py "$VOIPADMIN_DB_URL" 10000 "$OUT/keys.txt"
$PY -c "from core.tls import generate_self_signed as g; from pathlib import Path as P; g(P('$OUT/cert.pem'), P('$OUT/key.pem'), '127.0.0.1')"

echo "== endpoint: python -m core serve --no-sip (Granian, $(nproc) workers)"
$PY -m core serve --no-sip --host 127.0.0.1 --https-port $EP_PORT --cert "$OUT/cert.pem" --key "$OUT/key.pem" \
  > "$OUT/serve.log" 2>&1 &
EP_PID=$!
KEY=$(head -1 "$OUT/keys.txt")
for _ in $(seq 100); do curl -skf -o "$OUT/file.cfg" "https://127.0.0.1:$EP_PORT/$KEY.cfg" && break; sleep 0.2; done
mkdir -p "$OUT/www" && cp "$OUT/file.cfg" "$OUT/www/$KEY.cfg"
echo "   file: $(wc -c < "$OUT/file.cfg") bytes"

cat > "$OUT/nginx.conf" <<NGX
worker_processes auto;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  keepalive_requests 100000;
  types { text/plain cfg; }
  ssl_certificate $OUT/cert.pem;
  ssl_certificate_key $OUT/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache off; ssl_session_tickets off;
  root $OUT/www;
  add_header Cache-Control no-store;
  server {
    listen 127.0.0.1:$NGX_PORT ssl;
    access_log off;
  }
  server {
    listen 127.0.0.1:$NGXL_PORT ssl;
    access_log $OUT/nginx-access.log combined;  # nginx's default: unbuffered, one write(2) per request
  }
}
NGX
$NGINX -c "$OUT/nginx.conf"

rate() { grep Requests/sec | awk '{print $2}'; }
run_wrk() {  # name port args...
  local name=$1 port=$2; shift 2
  [ "$port" = "$NGXL_PORT" ] && : > "$OUT/nginx-access.log"  # O_APPEND: nginx keeps writing from 0
  local res; res=$(wrk "$@" "https://127.0.0.1:$port/$KEY.cfg")
  echo "$res" | grep -E "Non-2xx|Socket errors" | sed "s/^/   $name: /" >&2 || true
  if [ "$port" = "$NGXL_PORT" ]; then  # evidence that it really logged every request
    echo "   $name: $(wc -l < "$OUT/nginx-access.log") log lines, wrk:$(echo "$res" | grep -o '[0-9]* requests in')" >&2
  fi
  echo "$res" | rate
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
alternate() {  # label wrk-args... : ROUNDS x (nginx, nginx-log, endpoint); sets ng_all nl_all ep_all
  local label=$1; shift
  ng_all=""; nl_all=""; ep_all=""
  for r in $(seq "$ROUNDS"); do
    ng_all="$ng_all $(run_wrk nginx $NGX_PORT "$@")"
    nl_all="$nl_all $(run_wrk nginx-log $NGXL_PORT "$@")"
    ep_all="$ep_all $(run_wrk endpoint $EP_PORT "$@")"
  done
  echo "   $label nginx (access_log off):$ng_all" >&2
  echo "   $label nginx (access_log on): $nl_all" >&2
  echo "   $label endpoint:              $ep_all" >&2
}
echo "== keep-alive: wrk -t2 -c64 -d${DUR}s, $ROUNDS rounds alternating"
alternate keep-alive -t2 -c64 -d${DUR}s
ng_ka=$(echo "$ng_all" | median); nl_ka=$(echo "$nl_all" | median); ep_ka=$(echo "$ep_all" | median)
echo "== new TLS connection per request: wrk -t2 -c16 -d${DUR}s -H 'Connection: close', $ROUNDS rounds alternating"
alternate new-connection -t2 -c16 -d${DUR}s -H "Connection: close"
ng_cl=$(echo "$ng_all" | median); nl_cl=$(echo "$nl_all" | median); ep_cl=$(echo "$ep_all" | median)
kill "$(cat "$OUT/nginx.pid")"

# The wrk runs above logged rows too: count the storm's rows by their User-Agent.
echo "== storm: 10,000 distinct devices, each once, new connection each"
storm=$($PY bench/provisioning/storm.py "https://127.0.0.1:$EP_PORT" "$OUT/keys.txt" 64)
kill -TERM $EP_PID; wait $EP_PID || true
rows=$($PY - <<PYEOF
from sqlalchemy import create_engine, text
e = create_engine("$VOIPADMIN_DB_URL")
with e.connect() as c:
    print(c.execute(text("SELECT count(*) FROM access_log WHERE user_agent LIKE 'python-httpx%' AND status = 200")).scalar())
PYEOF
)

ratio() { printf "%.2f" "$(echo "$1 / $2" | bc -l)"; }
printf "\n%-22s %11s %11s %11s %9s %9s   (medians of %s rounds)\n" test "nginx-off" "nginx-log" endpoint \
  "vs off" "vs log" "$ROUNDS"
printf "%-22s %11s %11s %11s %9s %9s\n" "keep-alive req/s" "$ng_ka" "$nl_ka" "$ep_ka" \
  "$(ratio "$ep_ka" "$ng_ka")" "$(ratio "$ep_ka" "$nl_ka")"
printf "%-22s %11s %11s %11s %9s %9s\n" "new connection req/s" "$ng_cl" "$nl_cl" "$ep_cl" \
  "$(ratio "$ep_cl" "$ng_cl")" "$(ratio "$ep_cl" "$nl_cl")"
echo "(vs log = the same work: nginx writing one access-log line per request, as the endpoint writes one row)"
echo "storm: $storm; access-log rows for it: $rows"
