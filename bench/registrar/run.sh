#!/usr/bin/env bash
# REGISTER/s at 0 failures: the product's `serve`, its registrar alone and Kamailio, same users, same sipp scenario.
# usage: bench/registrar/run.sh [USERS] [STEP_SECONDS] [RATES...]   (results: docs/PERFORMANCE.md)
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
USERS=${1:-1000}; STEP=${2:-5}; shift 2 2>/dev/null || true
RATES=${*:-"500 1000 1500 2000 2500 3000 4000 5000 6000 7000 8000"}
PY=$ROOT/.venv/bin/python
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  for p in sip-tester kamailio kamailio-sqlite-modules; do
    dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null; }
  done
fi
W=$(mktemp -d /tmp/bench-registrar.XXXXXX)
RPORT=5170; KPORT=5180
"$PY" bench/registrar/seed.py "sqlite:///$W/voipadmin.sqlite3" "$W/kamailio.sqlite" "$W/users.csv" "$USERS" || exit 1
sed -e "s|@KPORT@|$KPORT|" -e "s|@KDB@|$W/kamailio.sqlite|" bench/registrar/kamailio.cfg > "$W/kamailio.cfg"

# The product as it ships: `python -m core serve` (HTTPS workers, redirection, retention and rollup
# workers alive, default settings) with one change, stated: VOIPADMIN_SIP_RATE=0 (the per-source limit
# off, as sipp sends everything from one address; Kamailio's config has no pike/ratelimit either).
SPORT=5190; HPORT=18449
cp "$W/voipadmin.sqlite3" "$W/serve.sqlite3"  # its own copy: each registrar its own bindings and heartbeat
VOIPADMIN_DB_URL="sqlite:///$W/serve.sqlite3" VOIPADMIN_DATA_DIR="$W/serve-data" VOIPADMIN_SIP_RATE=0 \
  VOIPADMIN_PUBLIC_URL="https://127.0.0.1:$HPORT" \
  setsid "$PY" -m core serve --host 127.0.0.1 --https-port $HPORT --sip-port $SPORT > "$W/serve.log" 2>&1 &
SPID=$!
# The registrar alone (`python -m core.sip`), the figure earlier rounds reported.
VOIPADMIN_DB_URL="sqlite:///$W/voipadmin.sqlite3" VOIPADMIN_DATA_DIR="$W/data" \
  "$PY" -m core.sip --host 127.0.0.1 --port $RPORT --rate 0 > "$W/registrar.log" 2>&1 &
RPID=$!
kamailio -f "$W/kamailio.cfg" -P "$W/kamailio.pid" -w "$W" -DD -E > "$W/kamailio.log" 2>&1 &
KPID=$!
trap 'kill $RPID $KPID 2>/dev/null; kill -TERM -- -$SPID 2>/dev/null; wait 2>/dev/null' EXIT
wait_sip() {  # until something answers an OPTIONS on UDP port $1 (20 s at most)
  "$PY" - "$1" <<'PYEOF'
import socket, sys, time
port = int(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKready;rport\r\n"
       "From: <sip:ready@127.0.0.1>;tag=r\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\n"
       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
for _ in range(100):
    s.sendto(msg, ("127.0.0.1", port))
    try:
        s.recvfrom(65535); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PYEOF
}
for port in $SPORT $RPORT $KPORT; do wait_sip $port || { echo "nothing answers SIP on $port: logs in $W"; exit 1; }; done

# One step: RATE calls/s for STEP seconds; prints "ok failed elapsed".
step() {
  local port=$1 rate=$2 tag=$3
  local d="$W/$tag-$rate"; mkdir -p "$d"
  local t0; t0=$(date +%s.%N)
  (cd "$d" && timeout $((STEP + 60)) sipp 127.0.0.1:$port -sf "$ROOT/tests/sip/scenarios/reg_auth.xml" -inf "$W/users.csv" \
     -i 127.0.0.1 -p $((port + 1)) -r "$rate" -m $((rate * STEP)) -l $((rate * 2)) -nostdin -timeout 60s \
     -trace_stat -stf stats.csv -fd 1 >/dev/null 2>&1)
  local t1; t1=$(date +%s.%N)
  tail -1 "$d/stats.csv" | awk -F';' -v t="$(echo "$t1 - $t0" | bc)" '{print $16, $18, t}'
}

ramp() {
  local port=$1 tag=$2 best=0 best_rate=0
  for rate in $RATES; do
    read -r ok failed elapsed < <(step "$port" "$rate" "$tag")
    secs=$elapsed  # wall time of the sipp run (includes its ~0.1 s start-up)
    got=$(awk -v o="$ok" -v s="$secs" 'BEGIN{ if (s>0) printf "%.0f", o/s; else print 0 }')
    echo "$tag rate=$rate ok=$ok failed=$failed elapsed=${secs}s achieved=${got}/s" >&2
    [ "${failed:-1}" = 0 ] && [ "${ok:-0}" = $((rate * STEP)) ] || break
    best=$rate; [ "$got" -gt "$best_rate" ] && best_rate=$got
  done
  echo "$best $best_rate"
}

read -r s_best s_got < <(ramp $SPORT serve)
read -r v_best v_got < <(ramp $RPORT core.sip)
read -r k_best k_got < <(ramp $KPORT kamailio)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
echo "serve:     ${s_got} REGISTER/s best achieved at 0 failures (highest clean step ${s_best}/s)"
echo "core.sip:  ${v_got} REGISTER/s best achieved at 0 failures (highest clean step ${v_best}/s)"
echo "kamailio:  ${k_got} REGISTER/s best achieved at 0 failures (highest clean step ${k_best}/s)"
echo "ratio serve/kamailio:    $(ratio "$s_got" "$k_got")   (what a provider gets)"
echo "ratio core.sip/kamailio: $(ratio "$v_got" "$k_got")   (the registrar alone)"
echo "work dir:  $W"
