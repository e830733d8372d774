#!/usr/bin/env bash
# The client-side checks, run by .ci/run after `cargo test` and runnable alone from a clone:
# the contract linted and checked for breaking changes with buf, deploy/ linted, then a small
# generated world served by the debug binary on a free loopback port and queried from Python
# (pytest: answers, health, reflection, credentials) and from Node.js.
#
#   examples/ci.sh               # builds target/debug/healthcode first if it is missing
#   HEALTHCODE_BIN=path examples/ci.sh
#   HEALTHCODE_BUF_AGAINST=REF examples/ci.sh   # buf breaking against this git ref instead
#
# Tools go to target/: a Python venv (target/clients-venv) from pinned requirements, the buf CLI
# (target/ci-tools) and the Node client's packages (examples/node/node_modules) with `npm ci`
# from committed lock files. The server is stopped and the scratch directory removed on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BIN=${HEALTHCODE_BIN:-$ROOT/target/debug/healthcode}
DAY=2022-05-10
PERSONS=2000
VENV=$ROOT/target/clients-venv
TOOLS=$ROOT/target/ci-tools

# Each step's header, and the time the step before it took.
started=$SECONDS
last=
step() {
  [ -z "$last" ] || echo "   ($((SECONDS - last)) s)"
  echo "== clients: $*"
  last=$SECONDS
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/healthcode-clients.XXXXXX")
SERVER_PID=
cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$WORK/serve.log" ]; then
    echo "== clients: FAILED (exit $rc); the server's log:"
    sed 's/^/    /' "$WORK/serve.log"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

step "tools: Python venv, buf and the Node client's packages (pinned)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r examples/python/requirements.txt -r .ci/tools/requirements.txt
mkdir -p "$TOOLS"
cp .ci/tools/package.json .ci/tools/package-lock.json "$TOOLS/"
npm ci --prefix "$TOOLS" --ignore-scripts --no-audit --no-fund --loglevel=error
npm ci --prefix examples/node --ignore-scripts --no-audit --no-fund --loglevel=error
BUF=$TOOLS/node_modules/.bin/buf
PY=$VENV/bin/python

step "buf lint proto ($("$BUF" --version))"
"$BUF" lint proto

# Breaking changes are checked against the contract clients have: the newest release tag v*
# when one exists; before any release, the previous commit (the contract is published in
# DOMAIN.md §5 already); skipped, saying why, when that commit is not there (a shallow clone, the
# first commit) or holds no proto/healthcode/v1/healthcode.proto (an older layout).
against=${HEALTHCODE_BUF_AGAINST:-}
why=
if [ -z "$against" ]; then
  if tag=$(git describe --tags --abbrev=0 --match 'v*' HEAD 2>/dev/null); then
    against=$tag
    why="the last release"
  elif git rev-parse --verify --quiet HEAD~1 >/dev/null; then
    against=HEAD~1
    why="the previous commit; no release tag v* yet"
  fi
else
  why="HEALTHCODE_BUF_AGAINST"
fi
if [ -z "$against" ]; then
  step "buf breaking: SKIPPED: no release tag v* and no previous commit in this clone"
elif ! git cat-file -e "$against:proto/healthcode/v1/healthcode.proto" 2>/dev/null; then
  step "buf breaking: SKIPPED: $against ($why) has no proto/healthcode/v1/healthcode.proto to compare with"
else
  step "buf breaking proto against $against ($why)"
  "$BUF" breaking proto --against ".git#ref=$(git rev-parse "$against"),subdir=proto"
fi

step "deploy/: hadolint $("$VENV/bin/hadolint" --version | grep -o '[0-9][0-9.]*' | head -1), kubernetes-validate --strict"
"$VENV/bin/hadolint" --no-color deploy/Dockerfile
"$VENV/bin/kubernetes-validate" --strict --quiet deploy/k8s/*.yaml deploy/index-loader.yaml

if [ ! -x "$BIN" ]; then
  step "building $BIN"
  cargo build --bin healthcode
fi

step "a world of $PERSONS persons: gen, build, serve on a free port"
export HEALTHCODE_HOME=$WORK/home
"$BIN" gen --persons "$PERSONS" --seed 7 --today "$DAY" --out "$WORK/feeds" >"$WORK/gen.log" 2>&1 ||
  { cat "$WORK/gen.log"; exit 1; }
"$BIN" build --feeds "$WORK/feeds" --out "$WORK/index.hcx" >"$WORK/build.log" 2>&1 ||
  { cat "$WORK/build.log"; exit 1; }
"$PY" - "$WORK/tokens" <<'PY'
import secrets, sys
with open(sys.argv[1], "w") as f:
    f.write(f"query ci-app {secrets.token_hex(16)}\nadmin ci-operator {secrets.token_hex(16)}\n")
PY
# The server runs with the arguments of deploy/k8s/deployment.yaml, the container's paths mapped
# to this world's files and the port to a free loopback one, so a flag the binary lacks fails
# here; the Dockerfile's CMD may only use flags the Deployment uses.
mapfile -d '' -t serve_args < <("$PY" - "$WORK" <<'PY'
import json, re, sys, yaml
work = sys.argv[1]
deployment = yaml.safe_load(open("deploy/k8s/deployment.yaml", encoding="utf-8"))
args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
paths = {
    "/var/lib/healthcode/index/index.hcx": f"{work}/index.hcx",
    "/var/lib/healthcode/state": f"{work}/state",
    "/etc/healthcode/tokens": f"{work}/tokens",
    "/run/healthcode/key": f"{work}/home/key",
    "0.0.0.0:50051": "127.0.0.1:0",
}
out = []
for a in args:
    flag, _, value = a.partition("=")
    out.append(f"{flag}={paths.get(value, value)}" if value else a)
assert out[0] == "serve" and all(a in out for a in (f"--index={work}/index.hcx", "--listen=127.0.0.1:0")), out
cmd = json.loads(re.search(r"^CMD (\[.*?\])$", open("deploy/Dockerfile").read().replace("\\\n", ""), re.M | re.S)[1])
used = {a.partition("=")[0] for a in args}
missing = [a for a in cmd if a.startswith("--") and a not in used]
assert not missing, f"deploy/Dockerfile CMD uses {missing}, which deploy/k8s/deployment.yaml does not"
sys.stdout.write("".join(a + "\0" for a in out))
PY
)
[ "${#serve_args[@]}" -gt 3 ] || { echo "could not read the server's arguments from deploy/k8s/deployment.yaml"; exit 1; }
"$BIN" "${serve_args[@]}" --today="$DAY" 2>"$WORK/serve.log" &
SERVER_PID=$!
# The port the server bound, from its log line "listening on ADDR, ...".
ADDR=
for _ in $(seq 1 300); do
  ADDR=$(sed -n 's/^healthcode: listening on \([0-9.]*:[0-9]*\),.*/\1/p' "$WORK/serve.log")
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited before listening"; exit 1; }
  sleep 0.2
done
[ -n "$ADDR" ] || { echo "the server did not say where it listens within 60 s"; exit 1; }
"$PY" - "$ADDR" <<'PY'
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
give_up = time.monotonic() + 60
while True:
    try:
        status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
        if status == health_pb2.HealthCheckResponse.SERVING:
            break
    except grpc.RpcError as e:
        status = e.code()
    if time.monotonic() > give_up:
        sys.exit(f"health of {sys.argv[1]} is still {status} after 60 s")
    time.sleep(0.2)
PY
step "serving on $ADDR: health SERVING; pytest examples/python"
HEALTHCODE_TEST_SERVER=$ADDR HEALTHCODE_TEST_TOKENS=$WORK/tokens HEALTHCODE_TEST_FEEDS=$WORK/feeds \
  HEALTHCODE_TEST_BIN=$BIN HEALTHCODE_TEST_TODAY=$DAY \
  "$PY" -m pytest -p no:cacheprovider -q examples/python/test_live_server.py

step "the Node client against the same server"
# A red, a yellow and a green person, an unknown one (11010519491231002X, valid) and an invalid
# id (a wrong check character): the Node client must print exactly what the Python client prints,
# and each single answer exactly what `healthcode query` prints.
mapfile -t ids < <("$PY" - "$ADDR" "$WORK/tokens" "$WORK/feeds/truth.csv" <<'PY'
import csv, sys
sys.path.insert(0, "examples/python")
import healthcode_client as hc
server, tokens, truth = sys.argv[1:]
pb2, pb2_grpc = hc.load_stubs()
ids = sorted({r["id_number"] for r in csv.DictReader(open(truth, newline="", encoding="utf-8"))})
batch = pb2_grpc.HealthCodeStub(hc.connect(server)).GetCodes(
    pb2.BatchCodeRequest(id_numbers=ids), metadata=[("authorization", "Bearer " + hc.first_token(tokens))])
for colour in (pb2.COLOR_RED, pb2.COLOR_YELLOW, pb2.COLOR_GREEN):
    print(next(i for i, r in zip(ids, batch.results) if r.code.color == colour))
PY
)
[ "${#ids[@]}" -eq 3 ] || { echo "no red, yellow and green person to query from Node"; exit 1; }
node examples/node/client.js --server "$ADDR" --tokens "$WORK/tokens" "${ids[@]}" 11010519491231002X 110105194912310021 \
  >"$WORK/node.txt" || [ $? -eq 1 ]
"$PY" examples/python/healthcode_client.py --server "$ADDR" --tokens "$WORK/tokens" "${ids[@]}" 11010519491231002X 110105194912310021 \
  >"$WORK/python.txt" || [ $? -eq 1 ]
diff -u "$WORK/python.txt" "$WORK/node.txt"
grep -q '^invalid: ' "$WORK/node.txt" || { echo "the invalid id was not reported as invalid"; exit 1; }
for id in "${ids[@]}"; do
  node examples/node/client.js --server "$ADDR" --tokens "$WORK/tokens" "$id" >"$WORK/node-one.txt"
  "$BIN" query "$id" --server "$ADDR" --tokens "$WORK/tokens" >"$WORK/query-one.txt"
  diff -u "$WORK/query-one.txt" "$WORK/node-one.txt"
done
echo "node client: 1 batch and ${#ids[@]} single answers identical to the Python client's and healthcode query's"

step "done in $((SECONDS - started)) s"
