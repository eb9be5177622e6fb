#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time over its corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${MIMO_FUZZ_SECONDS:-60}"
# The token-id list parser is one small loop: its coverage saturates within seconds, so it gets
# at most 15 s of the CI run (with its build, about 25 s).
token_ids_seconds=$((seconds < 15 ? seconds : 15))
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMIMO_BUILD_FUZZ=ON -DMIMO_WITH_CUDA=OFF -DMIMO_BUILD_TESTS=OFF -DMIMO_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target mimo_fuzz_targets
for target in build-fuzz/fuzz/fuzz_*; do
  name=$(basename "$target")
  corpus="fuzz/corpus/${name#fuzz_}"
  budget=$seconds
  [ "$name" = fuzz_token_ids ] && budget=$token_ids_seconds
  work=$(mktemp -d)
  echo "fuzz: $name for ${budget}s (corpus $corpus)"
  "$target" -max_total_time="$budget" -rss_limit_mb=2048 -max_len=65536 "$work" "$corpus" \
    2>&1 | tail -n 3
  rm -rf "$work"
done
