#!/usr/bin/env bash
# Server benchmark: aggregate decode tokens/s of `inhouse serve` at 1, 4 and 8 concurrent
# streams (Python aiohttp client, temperature 0, fixed max_tokens), printed as a Markdown table.
# Each stream's prompt is cached in a slot first, so the sets measure decode (see
# bench/server/bench_client.py). Not a test: run it on a quiet machine, compare ratios.
#
# Usage: scripts/bench-server.sh MODEL.gguf [options]
#   --inhouse PATH      the binary (default: $INHOUSE_BIN, else build/inhouse)
#   --concurrency LIST  comma-separated stream counts (default 1,4,8); the server gets
#                       --parallel = the largest
#   --max-tokens N      tokens per request (default 64)
#   --requests N        requests per stream, one after another (default 2)
#   --reps N            repetitions per concurrency; the median is reported (default 3)
#   --threads N         server worker threads (default: all cores)
#   --ctx N             context per slot (default 512)
#   --cold-prompts      do not cache the prompts first: every set also prefills them
# Needs Debian's python3 with python3-aiohttp.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '7,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 && "$1" != -* ]] || usage
MODEL=$(realpath "$1")
shift
INHOUSE=${INHOUSE_BIN:-build/inhouse}
CONCURRENCY=1,4,8
MAX_TOKENS=64
REQUESTS=2
REPS=3
THREADS=0
CTX=512
COLD=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --inhouse) INHOUSE=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --max-tokens) MAX_TOKENS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --ctx) CTX=$2; shift 2 ;;
    --cold-prompts) COLD=(--cold-prompts); shift ;;
    *) usage ;;
  esac
done
PYTHON=${INHOUSE_TEST_PYTHON:-/usr/bin/python3}
[[ -f "$MODEL" ]] || { echo "bench-server: no model file $MODEL" >&2; exit 1; }
[[ -x "$INHOUSE" ]] || { echo "bench-server: no inhouse binary at $INHOUSE (build it, or pass --inhouse)" >&2; exit 1; }
"$PYTHON" -c 'import aiohttp' 2>/dev/null || { echo "bench-server: $PYTHON lacks aiohttp (apt-get install python3-aiohttp)" >&2; exit 1; }
INHOUSE=$(realpath "$INHOUSE")
PARALLEL=$(tr ',' '\n' <<<"$CONCURRENCY" | sort -n | tail -n 1)
export INHOUSE PYTHON

source tests/server/clients/lib.sh
clients_init
export INHOUSE_DATA_DIR="$CLIENTS_WORK/data"
threads_flag=()
[[ "$THREADS" -gt 0 ]] && threads_flag=(--threads "$THREADS")
start_server bench --model "bench=$MODEL" --parallel "$PARALLEL" --ctx "$CTX" --queue-limit 256 "${threads_flag[@]}"

echo "inhouse serve benchmark: $(basename "$MODEL"), --parallel $PARALLEL, --ctx $CTX, threads ${THREADS/#0/all} of $(nproc) cores," \
  "max_tokens $MAX_TOKENS, $REQUESTS requests per stream, median of $REPS, prompts ${COLD:+not }cached first;" \
  "$(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$PYTHON" bench/server/bench_client.py --url "$SERVER_URL" --model bench --concurrency "$CONCURRENCY" \
  --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" --reps "$REPS" "${COLD[@]}"
