#!/usr/bin/env bash
# ragcast against any OpenAI-compatible server: OpenAI itself, vLLM, llama.cpp's llama-server,
# LM Studio… then the quick-start client. The base URL includes /v1, as OpenAI's SDKs take it.
#
#   OpenAI:        RAGCAST_LLM_API_KEY=sk-... ./examples/openai-compatible.sh
#   vLLM:          RAGCAST_LLM_BASE_URL=http://127.0.0.1:8001/v1 RAGCAST_LLM_MODEL=Qwen/Qwen2.5-7B-Instruct ./examples/openai-compatible.sh
#   llama.cpp:     RAGCAST_LLM_BASE_URL=http://127.0.0.1:8080/v1 RAGCAST_LLM_MODEL=local ./examples/openai-compatible.sh
#   LM Studio:     RAGCAST_LLM_BASE_URL=http://127.0.0.1:1234/v1 RAGCAST_LLM_MODEL=qwen2.5-7b-instruct ./examples/openai-compatible.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export RAGCAST_LLM=openai
export RAGCAST_LLM_BASE_URL=${RAGCAST_LLM_BASE_URL:-https://api.openai.com/v1}
export RAGCAST_LLM_MODEL=${RAGCAST_LLM_MODEL:-gpt-4o-mini}
# RAGCAST_LLM_API_KEY is sent as `Authorization: Bearer …` and never logged.
export DATABASE_URL=${DATABASE_URL:-sqlite://ragcast-openai.db?mode=rwc}

cargo build --release
./target/release/ragcast &
server=$!
trap 'kill $server' EXIT
sleep 1
(cd examples/quickstart && npm ci --no-audit --no-fund --loglevel=error && node index.mjs http://127.0.0.1:8000 "${1:-At what temperature does water boil?}")
