#!/usr/bin/env bash
# tests/server/clients/run-tests.sh — drives a real `inhouse serve` process with real clients:
# the npm `openai` and `ollama` packages, curl, Python aiohttp, openssl and Prometheus. ctest
# runs one suite per test (tests/CMakeLists.txt, label "clients").
#
#   run-tests.sh SUITE INHOUSE_BINARY MODELS_DIR
#   SUITE: openai | ollama | curl | auth | tls | prometheus | load
#
# Exit 0: passed; 1: failed; 77: skipped because a prerequisite is not installed (the message
# says which; scripts/install-deps.sh installs them, `npm ci --prefix tests/server/clients`
# the npm packages). KEEP_WORK=1 keeps the scratch directory with the server logs.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 openai|ollama|curl|auth|tls|prometheus|load INHOUSE_BINARY MODELS_DIR" >&2
  exit 2
fi
SUITE=$1
INHOUSE=$(realpath "$2")
MODELS=$(realpath "$3")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's interpreter, where python3-aiohttp is installed (not a pyenv shim first on PATH).
PYTHON=${INHOUSE_TEST_PYTHON:-/usr/bin/python3}
export INHOUSE PYTHON

source "$HERE/lib.sh"

CHAT_MODEL=$MODELS/qwen2-tiny-chat-q4_0.gguf
PLAIN_MODEL=$MODELS/qwen2-tiny-q4_0.gguf
EMBED_MODEL=$MODELS/bert-tiny-q8_0.gguf
ALL_MODELS=(--model "chat=$CHAT_MODEL" --model "plain=$PLAIN_MODEL" --model "embed=$EMBED_MODEL")

# CI sets INHOUSE_REQUIRE_CLIENTS=1 so a missing install step fails instead of skipping.
skip() {
  if [[ "${INHOUSE_REQUIRE_CLIENTS:-0}" == 1 ]]; then
    echo "FAILED (INHOUSE_REQUIRE_CLIENTS=1): $*" >&2
    exit 1
  fi
  echo "SKIPPED: $*" >&2
  exit 77
}

need() {  # need COMMAND [HOW TO GET IT]
  command -v "$1" >/dev/null 2>&1 || skip "'$1' is not installed${2:+ ($2)}"
}

need_node_modules() {
  need node "Debian package nodejs"
  [[ -d "$HERE/node_modules/$1" ]] ||
    skip "npm package '$1' is missing: run 'npm ci --prefix tests/server/clients'"
}

need_aiohttp() {
  [[ -x "$PYTHON" ]] || skip "$PYTHON is missing"
  "$PYTHON" -c 'import aiohttp' 2>/dev/null || skip "aiohttp is missing for $PYTHON (Debian package python3-aiohttp)"
}

[[ -x "$PYTHON" ]] || skip "$PYTHON is missing (Debian package python3)"
[[ -x "$INHOUSE" ]] || { echo "FAIL: no inhouse binary at $INHOUSE" >&2; exit 1; }
for f in "$CHAT_MODEL" "$PLAIN_MODEL" "$EMBED_MODEL"; do
  [[ -f "$f" ]] || { echo "FAIL: missing test model $f" >&2; exit 1; }
done

# Under ASan the allocator's quarantine keeps freed memory resident: the load suite then reports
# memory without bounding it.
if [[ "$(ldd "$INHOUSE" 2>/dev/null)" =~ lib(asan|tsan) ]]; then export INHOUSE_SANITIZED=1; fi

clients_init
export INHOUSE_DATA_DIR="$CLIENTS_WORK/data"  # never the user's ~/.local/share/inhouse

case "$SUITE" in
  openai)
    need_node_modules openai
    start_server openai "${ALL_MODELS[@]}" --parallel 2 --ctx 512 --threads 1
    INHOUSE_URL=$SERVER_URL node --test --test-reporter=spec "$HERE/openai.test.mjs"
    ;;
  ollama)
    need_node_modules ollama
    start_server ollama "${ALL_MODELS[@]}" --parallel 2 --ctx 512 --threads 1
    INHOUSE_URL=$SERVER_URL node --test --test-reporter=spec "$HERE/ollama.test.mjs"
    ;;
  curl)
    need curl "Debian package curl"
    printf 'max_body_bytes = 4096\n' >"$CLIENTS_WORK/small-body.toml"
    start_server curl "${ALL_MODELS[@]}" --parallel 2 --ctx 512 --threads 1 --config "$CLIENTS_WORK/small-body.toml"
    source "$HERE/curl_test.sh"
    ;;
  auth)
    need_aiohttp
    cat >"$CLIENTS_WORK/auth.toml" <<'EOF'
[roles.limited]
requests_per_minute = 2
EOF
    start_server auth --model "chat=$CHAT_MODEL" --parallel 2 --ctx 512 --threads 1 \
      --auth required --config "$CLIENTS_WORK/auth.toml"
    INHOUSE_URL=$SERVER_URL "$PYTHON" "$HERE/auth_test.py" -v
    ;;
  tls)
    need curl "Debian package curl"
    need openssl "Debian package openssl"
    source "$HERE/tls_test.sh"
    ;;
  prometheus)
    need curl "Debian package curl"
    need prometheus "Debian package prometheus"
    need promtool "Debian package prometheus"
    start_server prometheus --model "chat=$CHAT_MODEL" --parallel 1 --ctx 256 --threads 1
    source "$HERE/prometheus_test.sh"
    ;;
  load)
    need_aiohttp
    # 16 clients against 4 slots: the queue (12 waiting at most) must not overflow.
    start_server load --model "plain=$PLAIN_MODEL" --parallel 4 --queue-limit 32 --ctx 1024 --threads 2
    load_url=$SERVER_URL
    # One slot and one queue place: the 503 answer of a full queue.
    start_server busy --model "plain=$PLAIN_MODEL" --parallel 1 --queue-limit 1 --ctx 1024 --threads 1
    INHOUSE_URL=$load_url INHOUSE_BUSY_URL=$SERVER_URL "$PYTHON" "$HERE/load_test.py"
    ;;
  *)
    echo "unknown suite '$SUITE'" >&2
    exit 2
    ;;
esac
