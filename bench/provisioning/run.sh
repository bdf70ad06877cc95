#!/usr/bin/env bash
# Provisioning endpoint vs nginx serving the same bytes as a static file, same certificate, one run.
# usage: bash bench/provisioning/run.sh [DURATION_SECONDS] [ROUNDS]      (results: docs/PERFORMANCE.md)
# Each wrk test runs ROUNDS times, nginx and endpoint alternating, and the medians are compared:
# this 2-core VM is shared and a single back-to-back pair swung nginx between 48k and 86k req/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
DUR=${1:-10}
ROUNDS=${2:-3}
EP_PORT=19443
NGX_PORT=19444
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
  access_log off;
  keepalive_requests 100000;
  types { text/plain cfg; }
  server {
    listen 127.0.0.1:$NGX_PORT ssl;
    ssl_certificate $OUT/cert.pem;
    ssl_certificate_key $OUT/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off; ssl_session_tickets off;
    root $OUT/www;
    add_header Cache-Control no-store;
  }
}
NGX
$NGINX -c "$OUT/nginx.conf"

rate() { grep Requests/sec | awk '{print $2}'; }
run_wrk() {  # name port args...
  local name=$1 port=$2; shift 2
  local res; res=$(wrk "$@" "https://127.0.0.1:$port/$KEY.cfg")
  echo "$res" | grep -E "Non-2xx|Socket errors" | sed "s/^/   $name: /" >&2 || true
  echo "$res" | rate
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
alternate() {  # label wrk-args... : ROUNDS x (nginx, endpoint); sets ng_all ep_all
  local label=$1; shift
  ng_all=""; ep_all=""
  for r in $(seq "$ROUNDS"); do
    ng_all="$ng_all $(run_wrk nginx $NGX_PORT "$@")"
    ep_all="$ep_all $(run_wrk endpoint $EP_PORT "$@")"
  done
  echo "   $label nginx:   $ng_all" >&2
  echo "   $label endpoint:$ep_all" >&2
}
echo "== keep-alive: wrk -t2 -c64 -d${DUR}s, $ROUNDS rounds alternating"
alternate keep-alive -t2 -c64 -d${DUR}s
ng_ka=$(echo "$ng_all" | median); ep_ka=$(echo "$ep_all" | median)
echo "== new TLS connection per request: wrk -t2 -c16 -d${DUR}s -H 'Connection: close', $ROUNDS rounds alternating"
alternate new-connection -t2 -c16 -d${DUR}s -H "Connection: close"
ng_cl=$(echo "$ng_all" | median); ep_cl=$(echo "$ep_all" | median)
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

printf "\n%-28s %12s %12s %8s   (medians of %s rounds)\n" test nginx endpoint ratio "$ROUNDS"
printf "%-28s %12s %12s %8.2f\n" "keep-alive req/s" "$ng_ka" "$ep_ka" "$(echo "$ep_ka / $ng_ka" | bc -l)"
printf "%-28s %12s %12s %8.2f\n" "new connection req/s" "$ng_cl" "$ep_cl" "$(echo "$ep_cl / $ng_cl" | bc -l)"
echo "storm: $storm; access-log rows for it: $rows"
