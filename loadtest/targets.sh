#!/usr/bin/env bash
# Measures the load targets of BENCHMARKS.md against a running server, in one go, and prints one
# line per target with the figure and the command that produced it.
#
#   loadtest/targets.sh [TARGET FLAGS OF loadtest, e.g. --server URL --ids DIR --tokens FILE]
#
# With no flags it runs against the demo server (`healthcode serve --demo`). DURATION (seconds per
# run, default 5; the ceiling comparisons run 3 alternating rounds of each side) and NO_REDIS=1
# (skip the Redis comparison) are read from the environment. It exits 1 when a target could not
# be measured (its line says so), after printing the others. With `cyclictest` installed
# (Debian's rt-tests) it also prints how late a sleeping thread wakes here: the floor under the
# open-loop tail.
#
# One core each: with SERVER_CPU and LOAD_CPU set (say 0 and 1), the load generator runs on
# LOAD_CPU and the ceiling server (and Redis) on SERVER_CPU, in a process of its own as healthcode
# is; start healthcode on the same core (`taskset -c 0 healthcode serve …`). Unset, every process
# may run on every core.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
. loadtest/pin.sh

cargo build --release -q -p healthcode-loadtest
LT=target/release/loadtest
out=$(mktemp -d)
ceiling_pid=
cleanup() {
  if [ -n "$ceiling_pid" ]; then kill "$ceiling_pid" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

ceiling=(--ceiling)
if [ ${#SRV[@]} -gt 0 ]; then
  "${SRV[@]}" "$LT" ceiling --listen 127.0.0.1:0 "$@" 2>"$out/ceiling.log" &
  ceiling_pid=$!
  addr=
  for _ in $(seq 600); do
    addr=$(sed -n 's/^loadtest: ceiling serving on \([^ ]*\).*/\1/p' "$out/ceiling.log")
    [ -n "$addr" ] && break
    kill -0 "$ceiling_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    echo "targets: the ceiling server did not start:" >&2
    cat "$out/ceiling.log" >&2
    exit 1
  fi
  echo "== ceiling: taskset -c $SERVER_CPU loadtest ceiling on $addr; the generator on CPU $LOAD_CPU" >&2
  ceiling=(--ceiling-server "http://$addr")
fi

run() { # NAME ARGS...: runs loadtest with --json into $out/NAME.json, echoing the command
  local name=$1
  shift
  echo "== $name: loadtest $*" >&2
  "${GEN[@]}" "$LT" "$@" --duration "${DURATION}s" --json >"$out/$name.json" || failed=1
}
failed=0

run unary run --method unary "${ceiling[@]}" --rounds 3 "$@"
run batch run --method batch --batch 1000 --concurrency 2 "${ceiling[@]}" --rounds 3 "$@"
run stream run --method stream --connections 4 --concurrency 1 --window 1024 "${ceiling[@]}" --rounds 3 "$@"
# Half the unary peak just measured, open loop, against healthcode and the ceiling alike: the
# ceiling's tail at the same offered rate is what the stack itself allows here.
half=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["healthcode"]["requests_per_s"] / 2))' "$out/unary.json" 2>/dev/null || echo 0)
if [ "$half" -gt 0 ]; then
  run half run --method unary --rate "$half" "${ceiling[@]}" --rounds 3 "$@"
else
  echo "== half: skipped, the unary run gave no rate to halve (its errors are above)" >&2
  echo "the unary run gave no rate to halve; its errors are printed above" >"$out/half.skipped"
  failed=1
fi
if [ "${NO_REDIS:-0}" != 1 ]; then
  echo "== redis: loadtest/redis-compare.sh $*" >&2
  DURATION=$DURATION loadtest/redis-compare.sh "$@" | tee "$out/redis.txt" >&2 || failed=1
fi

# How late a sleeping thread wakes on this machine (on the generator's core when pinned): the
# floor under any open-loop tail, since a call at half load waits for several such wake-ups.
if command -v cyclictest >/dev/null; then
  echo "== wake-up lateness: cyclictest -q -D 5 -i 500 -t 1 -h 20000 ${LOAD_CPU:+-a $LOAD_CPU}" >&2
  cyclictest -q -D 5 -i 500 -t 1 -h 20000 ${LOAD_CPU:+-a "$LOAD_CPU"} >"$out/cyclictest.txt" 2>&1 ||
    echo "cyclictest failed: $(tail -1 "$out/cyclictest.txt")" >"$out/cyclictest.failed"
fi

python3 - "$out" <<'EOF'
import json, os, re, sys
out = sys.argv[1]
def load(n):
    try:
        return json.load(open(os.path.join(out, n + ".json")))
    except Exception as e:
        return None
def line(what, figure, target):
    print(f"{what:<44} {figure:<48} {target}")
print(f"{'target':<44} {'measured':<48} goal")
NOT_RUN = "not run: its errors are printed above"
u = load("unary")
if u and u.get("ceiling"):
    line("unary GetCode, closed loop vs ceiling",
         f"{u['healthcode']['requests_per_s']:,.0f}/s = {100*u['ratio_to_ceiling']:.1f}% of {u['ceiling']['requests_per_s']:,.0f}/s",
         ">= 90%")
else:
    line("unary GetCode, closed loop vs ceiling", NOT_RUN, ">= 90%")
b = load("batch")
if b and b.get("ceiling"):
    line("GetCodes x1000, persons/s",
         f"{b['healthcode']['persons_per_s']:,.0f}/s ({100*b['ratio_to_ceiling']:.1f}% of ceiling)",
         ">= Redis MGET (see redis line)")
else:
    line("GetCodes x1000, persons/s", NOT_RUN, ">= Redis MGET (see redis line)")
s = load("stream")
if s and s.get("ceiling"):
    line("StreamCodes, 4 streams, persons/s",
         f"{s['healthcode']['persons_per_s']:,.0f}/s (ceiling {s['ceiling']['persons_per_s']:,.0f}/s)",
         ">= 1,000,000/s")
else:
    line("StreamCodes, 4 streams, persons/s", NOT_RUN, ">= 1,000,000/s")
try:
    t = open(os.path.join(out, "redis.txt")).read()
    rates = dict(re.findall(r"^(Redis 7 MGET|healthcode GetCodes)\S*[^\n]*?\s([0-9,]+)\s+[0-9,]+\s+[0-9.]+$", t, re.M))
    ratio = re.search(r"healthcode / Redis: ([0-9.]+)", t)
    if ratio:
        line("GetCodes x1000 vs Redis MGET x1000",
             f"{rates.get('healthcode GetCodes', '?')}/s vs {rates.get('Redis 7 MGET', '?')}/s = {float(ratio.group(1)):.2f}",
             ">= 1.00")
    else:
        line("GetCodes x1000 vs Redis MGET x1000", NOT_RUN, ">= 1.00")
except OSError:
    pass
h = load("half")
if os.path.exists(os.path.join(out, "half.skipped")):
    line("open loop at half the unary peak, p99", "not run: " + open(os.path.join(out, "half.skipped")).read().strip(), "<= 1 ms")
elif h and h.get("ceiling"):
    r, c = h["healthcode"], h["ceiling"]
    line("open loop at half the unary peak, p99",
         f"{r['latency_us']['p99']/1000:.2f} ms at {r['offered_rate']:,.0f}/s (ceiling {c['latency_us']['p99']/1000:.2f} ms)",
         "<= 1 ms")
cyc = os.path.join(out, "cyclictest.txt")
if os.path.exists(os.path.join(out, "cyclictest.failed")):
    line("wake-up lateness of a sleeping thread", open(os.path.join(out, "cyclictest.failed")).read().strip(), "well under 1 ms at p99.9")
elif os.path.exists(cyc):
    hist = {}
    for l in open(cyc):
        p = l.split()
        if not l.startswith("#") and len(p) >= 2 and p[0].isdigit():
            hist[int(p[0])] = hist.get(int(p[0]), 0) + int(p[1])
        elif l.startswith("# Histogram Overflows:"):
            hist[20000] = hist.get(20000, 0) + int(p[-1])  # 20 ms or later
    total, seen, q = sum(hist.values()), 0, {}
    for us in sorted(hist):
        seen += hist[us]
        for f in (0.5, 0.99, 0.999):
            if f not in q and seen >= f * total:
                q[f] = us
    if total:
        line("wake-up lateness of a sleeping thread",
             f"p50 {q[0.5]} us, p99 {q[0.99]} us, p99.9 {q[0.999]} us (cyclictest)",
             "well under 1 ms at p99.9")
else:
    line("wake-up lateness of a sleeping thread", "not measured: apt-get install rt-tests for cyclictest", "well under 1 ms at p99.9")
for n in ["unary", "batch", "stream", "half"]:
    d = load(n)
    if d:
        m = d["machine"]
        print(f"{n}: load average {m['load_before']:.2f} -> {m['load_after']:.2f}, {m['utc']}")
EOF
# A target that could not be measured fails the script, after the table of those that were.
exit "$failed"
