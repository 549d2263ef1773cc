#!/usr/bin/env bash
# Two builds of ragcast, same run: the fanout (burst and paced) and handshake scenarios against
# each in turn, ROUNDS times, each server on CPU 0 and the generator on CPU 1, so a change's cost
# is read within one run on a quiet machine.
#   bench/compare.sh BIN_A BIN_B [rounds=3] [receivers=1000] [events=300] [paced_receivers=2000]
# e.g. the socketio-v2 feature on and off:
#   cargo build --release --bins --example loadgen && cp $CARGO_TARGET_DIR/release/ragcast /tmp/with
#   cargo build --release --bins --no-default-features && cp $CARGO_TARGET_DIR/release/ragcast /tmp/without
#   bench/compare.sh /tmp/with /tmp/without
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ragcast-target}"
A=$1 B=$2 ROUNDS=${3:-3} RECEIVERS=${4:-1000} EVENTS=${5:-300} PACED=${6:-2000}
LOADGEN="taskset -c 1 ${LOADGEN_BIN:-$CARGO_TARGET_DIR/release/examples/loadgen}"
ulimit -n 65536 2>/dev/null || true
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
url=http://127.0.0.1:8092

start() {
  RAGCAST_BIND=127.0.0.1:8092 DATABASE_URL="sqlite://$work/bench-$RANDOM.db?mode=rwc" RAGCAST_EMBEDDER=none \
    RAGCAST_MAX_CONNECTIONS_PER_IP=1000000 RAGCAST_RATE_EVENTS_PER_SEC=1000000 RAGCAST_RATE_EVENTS_BURST=1000000 \
    RUST_LOG=warn taskset -c 0 "$1" &
  server=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$url/health" && return 0; sleep 0.1; done
  return 1
}
stop() { kill $server; wait $server 2>/dev/null || true; }

for round in $(seq "$ROUNDS"); do
  for bin in "$A" "$B"; do
    echo "== round $round: $bin"
    start "$bin"; $LOADGEN fanout --url $url --pid $server --receivers "$RECEIVERS" --events "$EVENTS"; stop
    start "$bin"; $LOADGEN fanout --url $url --pid $server --receivers "$PACED" --events 100 --rate 20; stop
    start "$bin"; $LOADGEN connect --url $url --pid $server --connections 3000; stop
  done
done
