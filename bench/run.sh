#!/usr/bin/env bash
# Runs the load generator against ragcast and against the node socket.io 4.8 peer, each server
# pinned to CPU 0 and the generator to CPU 1, and prints both results.
#   bench/run.sh [receivers=1000] [events=300] [idle_connections=10000] [handshakes=5000] [wide=19000] [cycles=20000]
# `wide` receivers get a paced fanout (5 broadcasts a second; this machine's open-file limit is
# 20 000, so 20k sockets do not fit one process), and `cycles` connect/disconnect cycles show
# whether memory returns to its baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ragcast-target}"
RECEIVERS=${1:-1000}
EVENTS=${2:-300}
IDLE=${3:-10000}
HANDSHAKES=${4:-5000}
WIDE=${5:-19000}
CYCLES=${6:-20000}
ulimit -n 65536 2>/dev/null || true

cargo build --release --bins --example loadgen
(cd bench/peers/node && npm ci --no-audit --no-fund --loglevel=error)
LOADGEN="taskset -c 1 $CARGO_TARGET_DIR/release/examples/loadgen"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; return 1; }

# Each scenario gets a fresh server, so one's sockets do not weigh on the next one's figures.
start_ragcast() {
  # Limits meant for hostile clients are lifted: the generator is one trusted client sending fast.
  RAGCAST_BIND=127.0.0.1:8090 DATABASE_URL="sqlite://$work/bench-$1.db?mode=rwc" RAGCAST_MAX_CONNECTIONS_PER_IP=1000000 \
    RAGCAST_RATE_EVENTS_PER_SEC=1000000 RAGCAST_RATE_EVENTS_BURST=1000000 \
    RAGCAST_RATE_MESSAGES_PER_MIN=1000000 RAGCAST_RATE_MESSAGES_BURST=1000000 \
    RUST_LOG=warn taskset -c 0 "$CARGO_TARGET_DIR/release/ragcast" &
  server=$!
  wait_port 8090
}
start_node() {
  PORT=8091 taskset -c 0 node bench/peers/node/server.js > /dev/null &
  server=$!
  wait_port 8091
}
stop() { kill $server; wait $server 2>/dev/null || true; }

for peer in ragcast node; do
  if [ $peer = ragcast ]; then url=http://127.0.0.1:8090; echo "== ragcast (server on CPU 0, generator on CPU 1)"
  else url=http://127.0.0.1:8091; echo "== node socket.io 4.8 peer (server on CPU 0, generator on CPU 1)"; fi
  start_$peer connect; $LOADGEN connect --url $url --pid $server --connections "$HANDSHAKES"; stop
  start_$peer connect; $LOADGEN connect --url $url --pid $server --connections "$HANDSHAKES" --transport polling; stop
  start_$peer fanout; $LOADGEN fanout --url $url --pid $server --receivers "$RECEIVERS" --events "$EVENTS"; stop
  start_$peer fanout; $LOADGEN fanout --url $url --pid $server --receivers "$WIDE" --events 60 --rate 5; stop
  # One of the receivers stops reading: what the others pay for it.
  start_$peer fanout; $LOADGEN fanout --url $url --pid $server --receivers $((RECEIVERS - 1)) --paused 1 --payload-bytes 1024 --events "$EVENTS"; stop
  start_$peer idle; $LOADGEN idle --url $url --pid $server --connections "$IDLE"; stop
  start_$peer churn; $LOADGEN churn --url $url --pid $server --connections "$CYCLES"; stop
  start_$peer ping; $LOADGEN ping --url $url --pid $server --events 2000; stop
  start_$peer ping; $LOADGEN ping --url $url --pid $server --events 2000 --busy 1000; stop
done
# The chat pipeline has no node counterpart.
start_ragcast first_token; $LOADGEN first_token --url http://127.0.0.1:8090 --pid $server --events 300; stop
start_ragcast first_token; $LOADGEN first_token --url http://127.0.0.1:8090 --pid $server --events 300 --busy 1000; stop
# A back end's stream against the built-in generator's, 300 tokens into 1 000 receivers: all at
# once, then paced at 100 tokens a second (a model's pace) on both sides.
for pace in 0 10; do
  extra=""; [ $pace = 0 ] || extra="--rate $((1000 / pace))"
  RAGCAST_BUILTIN_MAX_TOKENS=$EVENTS RAGCAST_BUILTIN_TOKEN_DELAY_MS=$pace start_ragcast tokens
  $LOADGEN tokens --url http://127.0.0.1:8090 --pid $server --receivers "$RECEIVERS" --events "$EVENTS"; stop
  start_ragcast producer; $LOADGEN producer $extra --url http://127.0.0.1:8090 --pid $server --receivers "$RECEIVERS" --events "$EVENTS"; stop
done
