#!/usr/bin/env bash
# Performance report for docs/performance.md: synthesises DeepSeek-R1-Distill-Qwen-1.5B-shaped
# models (random weights, exact shapes; speed does not depend on weight values) as Q4_0, Q8_0
# and Q4_K_M into DIR (skipped when already there), then runs the bench matrix and prints
# Markdown tables:
#   - pp512 / tg128 at THREADS threads, REPS repetitions (median, min-max), TTFT of 512 tokens,
#     memory bandwidth, decode roofline and the tg/roofline ratio, peak RSS vs file + KV + 10%;
#   - tg128 at context depths 512 / 2048 / 8192.
# Usage: scripts/perf-report.sh DIR [INHOUSE_BINARY]
#   env: THREADS=2 REPS=3 DEPTHS="512 2048 8192" SHAPE=r1-distill-qwen-1.5b
# Run it on a quiet machine: other processes skew every number.
set -euo pipefail

dir=${1:?usage: scripts/perf-report.sh DIR [INHOUSE_BINARY]}
bin=${2:-$(dirname "$0")/../build/inhouse}
threads=${THREADS:-2}
reps=${REPS:-3}
depths=${DEPTHS:-512 2048 8192}
types=(Q4_0 Q8_0 Q4_K_M)
shape=${SHAPE:-r1-distill-qwen-1.5b}  # another shape (e.g. tiny-qwen2) only to try the script
command -v jq > /dev/null || { echo "perf-report.sh needs jq" >&2; exit 1; }
[ -x "$bin" ] || { echo "no inhouse binary at $bin (build it, or pass its path)" >&2; exit 1; }
mkdir -p "$dir"

model_path() { echo "$dir/$shape-$(echo "$1" | tr 'A-Z' 'a-z').gguf"; }

for t in "${types[@]}"; do
  m=$(model_path "$t")
  if [ -f "$m" ]; then
    echo "using $m" >&2
  else
    echo "synthesising $m ..." >&2
    "$bin" synth --shape "$shape" --type "$t" --seed 1 -q -t "$threads" "$m" >&2
  fi
done

mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

echo "### pp512 / tg128, $threads threads, $reps repetitions ($(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores)"
echo
echo "| type | file MiB | pp512 t/s (min-max) | tg128 t/s (min-max) | TTFT 512 ms | bandwidth GB/s | MiB/token | roofline t/s | tg/roofline | peak RSS MiB | file+KV+10% MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in "${types[@]}"; do
  j=$("$bin" bench -m "$(model_path "$t")" -p 512 -n 128 -t "$threads" -r "$reps" --json)
  echo "$j" | jq -r --arg t "$t" '
    def f(x): (x * 100 | round) / 100;
    "| \($t) | \(.model_bytes / 1048576 | round) | \(f(.pp.tokens_per_s)) (\(f(.pp.min))-\(f(.pp.max))) | " +
    "\(f(.tg.tokens_per_s)) (\(f(.tg.min))-\(f(.tg.max))) | \(.ttft_ms.median | round) | \(f(.bandwidth_gb_s)) | " +
    "\(.bytes_per_token / 1048576 | round) | \(f(.tg_roofline_tokens_per_s)) | \(f(.tg_roofline_ratio)) | " +
    "\(.peak_rss_bytes / 1048576 | round) | \(.peak_rss_limit_bytes / 1048576 | round) |"'
done

echo
echo "### tg128 at context depth, $threads threads, $reps repetitions"
echo
header="| type |"; rule="|---|"
for d in $depths; do header+=" depth $d t/s (tg/roofline; peak RSS / limit MiB) |"; rule+="---:|"; done
echo "$header"; echo "$rule"
for t in "${types[@]}"; do
  row="| $t |"
  for d in $depths; do
    j=$("$bin" bench -m "$(model_path "$t")" -p 0 -n 128 --depth "$d" -t "$threads" -r "$reps" --json)
    row+=$(echo "$j" | jq -r '" \((.tg.tokens_per_s * 100 | round) / 100) (\((.tg_roofline_ratio * 100 | round) / 100); " +
      "\(.peak_rss_bytes / 1048576 | round) / \(.peak_rss_limit_bytes / 1048576 | round)) |"')
  done
  echo "$row"
done
