# Sourced by the load scripts: SERVER_CPU and LOAD_CPU (both or neither) become SRV and GEN, the
# `taskset` prefixes of the server side (ceiling server, Redis) and of the load generator; both
# are empty when neither is set, so every process may run on every core.
SRV=()
GEN=()
if [ -n "${SERVER_CPU:-}${LOAD_CPU:-}" ]; then
  if [ -z "${SERVER_CPU:-}" ] || [ -z "${LOAD_CPU:-}" ]; then
    echo "$(basename "$0" .sh): set both SERVER_CPU and LOAD_CPU, or neither" >&2
    exit 2
  fi
  SRV=(taskset -c "$SERVER_CPU")
  GEN=(taskset -c "$LOAD_CPU")
fi
