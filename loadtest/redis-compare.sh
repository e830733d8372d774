#!/usr/bin/env bash
# Side by side on this machine, now: healthcode's GetCodes (1,000 ids per call, every answer
# evaluated) against Redis 7 MGET of 1,000 precomputed answers (what a service that precomputes
# every answer would serve). The answers loaded into Redis are healthcode's own, encoded as on
# the wire, so both sides move the same bytes. Prints both rates and their ratio.
#
#   loadtest/redis-compare.sh [TARGET FLAGS OF loadtest, e.g. --server URL --ids DIR --tokens FILE]
#
# With no flags it runs against the demo server (`healthcode serve --demo`) and its data set.
# Settings (environment): KEYS (answers loaded, default 1000000), DURATION (seconds of the
# healthcode run, default 10), REDIS_REQUESTS (MGET calls, default 30000), REDIS_CLIENTS
# (default 8), CONNECTIONS / CONCURRENCY (of the healthcode run, default 2 / 2),
# REDIS_PORT (default 6390); SERVER_CPU and LOAD_CPU (both or neither): Redis runs on SERVER_CPU,
# redis-benchmark and the healthcode run on LOAD_CPU (start healthcode on SERVER_CPU too).
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
DURATION=${DURATION:-10}
REDIS_REQUESTS=${REDIS_REQUESTS:-30000}
REDIS_CLIENTS=${REDIS_CLIENTS:-8}
CONNECTIONS=${CONNECTIONS:-2}
CONCURRENCY=${CONCURRENCY:-2}
PORT=${REDIS_PORT:-6390}

for tool in redis-server redis-cli redis-benchmark python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "redis-compare: $tool is missing; on Debian: apt-get install redis-server redis-tools" >&2
    exit 2
  fi
done

. loadtest/pin.sh

cargo build --release -q -p healthcode-loadtest
LT=target/release/loadtest

work=$(mktemp -d)
cleanup() {
  if [ -f "$work/redis.pid" ]; then kill "$(cat "$work/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"${SRV[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --dir "$work" --logfile "$work/redis.log"
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-server --version | sed 's/^/redis-compare: /' >&2

echo "redis-compare: loading $KEYS precomputed answers into Redis" >&2
"$LT" answers --keys "$KEYS" --out "$work/answers.resp" "$@"
redis-cli -p "$PORT" --pipe < "$work/answers.resp" >/dev/null
loaded=$(redis-cli -p "$PORT" dbsize)
mem=$(redis-cli -p "$PORT" info memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r')
bytes=$(stat -c %s "$work/answers.resp")
echo "redis-compare: $loaded answers in Redis ($mem of memory; $bytes bytes of SET commands)" >&2

# MGET of 1,000 random keys of the loaded ones: redis-benchmark replaces every __rand_int__
# with its own random 12-digit number below -r.
args=()
for _ in $(seq 1000); do args+=("a:__rand_int__"); done
echo "redis-compare: redis-benchmark, $REDIS_REQUESTS MGET calls of 1,000 keys, $REDIS_CLIENTS clients" >&2
load_before=$(cut -d' ' -f1 /proc/loadavg)
redis_csv=$("${GEN[@]}" redis-benchmark -p "$PORT" -r "$loaded" -c "$REDIS_CLIENTS" -n "$REDIS_REQUESTS" --threads 2 --csv MGET "${args[@]}")
redis_rps=$(printf '%s\n' "$redis_csv" | python3 -c 'import csv,sys; rows=list(csv.reader(sys.stdin)); print(rows[1][1])')
redis_p99=$(printf '%s\n' "$redis_csv" | python3 -c 'import csv,sys; rows=list(csv.reader(sys.stdin)); h=rows[0]; print(rows[1][h.index("p99_latency_ms")] if "p99_latency_ms" in h else "n/a")')

echo "redis-compare: healthcode GetCodes, 1,000 ids per call, ${DURATION} s" >&2
hc_json=$("${GEN[@]}" "$LT" run --method batch --batch 1000 --mix 100,0,0 --connections "$CONNECTIONS" \
  --concurrency "$CONCURRENCY" --duration "${DURATION}s" --json "$@")
load_after=$(cut -d' ' -f1 /proc/loadavg)

python3 - "$redis_rps" "$redis_p99" "$hc_json" "$load_before" "$load_after" <<'EOF'
import json, sys
redis_rps, redis_p99, hc, lb, la = float(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
h = hc["healthcode"]
redis_keys = redis_rps * 1000
print(f"{'':<34}{'ids/s':>14}{'calls/s':>10}{'p99 ms':>10}")
print(f"{'Redis 7 MGET, 1,000 precomputed':<34}{redis_keys:>14,.0f}{redis_rps:>10,.0f}{redis_p99:>10}")
print(f"{'healthcode GetCodes, 1,000 ids':<34}{h['persons_per_s']:>14,.0f}{h['requests_per_s']:>10,.0f}{h['latency_us']['p99']/1000:>10.2f}")
print(f"healthcode / Redis: {h['persons_per_s'] / redis_keys:.3f}")
print(f"machine: {hc['machine']['cpus']} CPUs, load average {lb} -> {la}, started {hc['machine']['utc']}")
print(f"errors: {h['errors'] or 'none'}")
EOF
