#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time over its corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${MIMO_FUZZ_SECONDS:-60}"
# Targets with a shorter budget (seconds at most), to keep CI's time in bounds: the token-id
# list parser is one small loop whose coverage saturates within seconds; the server's request
# parsing is capped likewise.
declare -A cap=([fuzz_server_request]=15 [fuzz_token_ids]=15 [fuzz_json_constraint]=15)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMIMO_BUILD_FUZZ=ON -DMIMO_WITH_CUDA=OFF -DMIMO_BUILD_TESTS=OFF -DMIMO_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target mimo_fuzz_targets
for target in build-fuzz/fuzz/fuzz_*; do
  name=$(basename "$target")
  corpus="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  limit=$seconds
  [ -n "${cap[$name]:-}" ] && [ "${cap[$name]}" -lt "$limit" ] && limit=${cap[$name]}
  echo "fuzz: $name for ${limit}s (corpus $corpus)"
  "$target" -max_total_time="$limit" -rss_limit_mb=2048 -max_len=65536 "$work" "$corpus" \
    2>&1 | tail -n 3
  rm -rf "$work"
done
