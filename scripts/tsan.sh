#!/usr/bin/env bash
# Builds the concurrency suite (tests/concurrency: several sessions on one model, cancel() from
# another thread, one tokenizer on several threads) and only what it links with ThreadSanitizer,
# and runs it: any data race fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
# -O1 -g1: a third of the compile time of -O2 -g, fast enough under TSan, and stack traces with
# file and line.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DMIMO_TSAN=ON -DMIMO_WITH_CUDA=OFF -DMIMO_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j "${MIMO_TSAN_JOBS:-$(nproc)}" --target mimo_concurrency_tests
# setarch -R: TSan's fixed shadow layout fails under the high mmap randomisation of recent
# kernels ("unexpected memory mapping").
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  setarch "$(uname -m)" -R build-tsan/tests/mimo_concurrency_tests
