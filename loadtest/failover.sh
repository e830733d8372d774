#!/usr/bin/env bash
# Failover on one machine: two replicas of one generated data set on loopback (a writer and a
# follower of its state directory), a live write on the writer that the follower applies, then
# `loadtest` balancing over both while one replica is killed with SIGKILL in the middle of the
# run. The report must show zero failed requests: the calls the kill cut are retried on the
# replica that lives.
#
#   loadtest/failover.sh                  # kill the writer
#   VICTIM=follower loadtest/failover.sh  # kill the follower
#   PERSONS=100000 METHOD=batch PROFILE=debug loadtest/failover.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-20000}
METHOD=${METHOD:-unary}
VICTIM=${VICTIM:-writer}
PROFILE=${PROFILE:-release}
case "$PROFILE" in
  release) cargo build --release -p healthcode -p healthcode-loadtest --bins; bin=target/release ;;
  debug) cargo build -p healthcode -p healthcode-loadtest --bins; bin=target/debug ;;
  *) echo "PROFILE=$PROFILE: release or debug" >&2; exit 2 ;;
esac
case "$VICTIM" in writer | follower) ;; *) echo "VICTIM=$VICTIM: writer or follower" >&2; exit 2 ;; esac

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export HEALTHCODE_HOME=$work/home
hc=$bin/healthcode

echo "== $PERSONS persons generated and built in $work"
$hc gen --persons "$PERSONS" --seed 7 --out "$work/feeds" >"$work/build.log" 2>&1 &&
  $hc build --feeds "$work/feeds" --out "$work/index.hcx" >>"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
printf 'query app %s\nadmin ops %s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" \
  "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" >"$work/tokens"

# Starts a replica named $1 logging to $work/$1.log; sets $addr (once it listens) and $pid.
start() {
  local name=$1
  shift
  $hc serve --listen 127.0.0.1:0 --today 2022-05-10 --tokens "$work/tokens" "$@" \
    >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 600); do
    if addr=$(grep -m1 -o 'listening on [0-9.:]*' "$work/$name.log"); then
      addr=${addr#listening on }
      return
    fi
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}
start writer --index "$work/index.hcx" --state-dir "$work/state"
writer=$addr writer_pid=$pid
start follower --follow "$work/state"
follower=$addr follower_pid=$pid
echo "== writer on $writer, follower of $work/state on $follower"

$hc live set-risk-area 110105 --level high --from 2022-05-01 --operator "Wang Wei" \
  --reason "CDC notice 17" --tokens "$work/tokens" --server "$writer"
for _ in $(seq 100); do
  grep -q 'applied live write 1' "$work/follower.log" && break
  sleep 0.1
done
grep 'applied live write 1' "$work/follower.log" || { echo "the follower did not apply the write" >&2; exit 1; }

echo "== loadtest over both for 10 s; the $VICTIM is killed (SIGKILL) after 4 s"
$bin/loadtest run --method "$METHOD" --batch 100 --server "http://$writer,http://$follower" \
  --tokens "$work/tokens" --ids "$work/feeds" --warmup 1s --duration 10s --as-of 2022-05-10 &
lt=$!
sleep 5
victim_pid=${VICTIM}_pid
kill -9 "${!victim_pid}"
echo "== killed the $VICTIM (pid ${!victim_pid})"
if wait "$lt"; then
  echo "== PASS: zero failed requests with one of two replicas killed mid-run"
else
  echo "== FAIL: loadtest reported failed requests (exit $?)" >&2
  exit 1
fi
