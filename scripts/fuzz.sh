#!/usr/bin/env bash
# Builds the libFuzzer targets with ASan+UBSan (clang) and runs each for a bounded time.
# Seeds: the first 64 KiB of every GGUF in the repo's test data and the shared fixtures
# (all metadata, truncated tensor data) plus a few whole small models.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build=build-fuzz
CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DINHOUSE_FUZZ=ON -DINHOUSE_SANITIZE=ON -DINHOUSE_BENCH=OFF >/dev/null
cmake --build "$build" --target fuzz_gguf

corpus="$build/corpus-gguf"
mkdir -p "$corpus"
for dir in tests/data ../shared/fixtures; do
  [ -d "$dir" ] || continue
  while IFS= read -r -d '' f; do
    head -c 65536 "$f" > "$corpus/head-$(basename "$f")"
    if [ "$(stat -c %s "$f")" -le 1048576 ]; then cp "$f" "$corpus/"; fi
  done < <(find "$dir" -name '*.gguf' -print0)
done
echo "fuzz: running fuzz_gguf for ${seconds}s on $(ls "$corpus" | wc -l) seeds"
"$build/fuzz/fuzz_gguf" -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$build/" "$corpus" > "$build/fuzz.log" 2>&1 || { grep -A60 -m1 "==ERROR\|runtime error\|deadly signal\|ERROR: libFuzzer" "$build/fuzz.log" | head -n 80; exit 1; }
tail -n 6 "$build/fuzz.log"
echo "fuzz: no finding"
