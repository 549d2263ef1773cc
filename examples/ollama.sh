#!/usr/bin/env bash
# ragcast against a local Ollama (https://ollama.com), then the quick-start client.
#   ollama pull llama3.2 && ollama serve      # in another terminal
#   ./examples/ollama.sh "When does water boil?"
set -euo pipefail
cd "$(dirname "$0")/.."

export RAGCAST_LLM=ollama
export RAGCAST_LLM_BASE_URL=${RAGCAST_LLM_BASE_URL:-http://127.0.0.1:11434}   # the host, no /api
export RAGCAST_LLM_MODEL=${RAGCAST_LLM_MODEL:-llama3.2}
export RAGCAST_LLM_FIRST_TOKEN_TIMEOUT_SECS=${RAGCAST_LLM_FIRST_TOKEN_TIMEOUT_SECS:-120}  # model load time
export DATABASE_URL=${DATABASE_URL:-sqlite://ragcast-ollama.db?mode=rwc}

cargo build --release
./target/release/ragcast &
server=$!
trap 'kill $server' EXIT
sleep 1
(cd examples/quickstart && npm ci --no-audit --no-fund --loglevel=error && node index.mjs http://127.0.0.1:8000 "${1:-At what temperature does water boil?}")
