#!/usr/bin/env bash
# Builds the concurrency suite (tests/concurrency: several sessions on one model, cancel() from
# another thread, one tokenizer on several threads) and only what it links with ThreadSanitizer,
# and runs it: any data race fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
# -O1 -g1: cheaper to compile than -O2 -g, fast enough under TSan, stack traces with lines.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DMIMO_TSAN=ON -DMIMO_WITH_CUDA=OFF -DMIMO_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j "${MIMO_TSAN_JOBS:-$(nproc)}" --target mimo_concurrency_tests
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/mimo_concurrency_tests
