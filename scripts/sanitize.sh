#!/usr/bin/env bash
# Builds the CPU test suites with AddressSanitizer + UndefinedBehaviorSanitizer and runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMIMO_SANITIZE=ON -DMIMO_WITH_CUDA=OFF \
  -DMIMO_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$(nproc)"
# Left to the Release run: the other sampler settings of the sampled-verification distribution
# test (the temperature case keeps the path under the sanitizers; each costs ~2 min here),
# the added-token time guard (its 50,000-token tokenizer loads for ~7 min under ASan, and a time
# bound means nothing there), the mimo-server end-to-end run (its unit tests, the scheduler's
# included, stay here), the million-deep template nest (~400 s here; 20,000 deep stays) and the
# demo model's JSON-schema and speculative JSON generations (~165 s and ~460 s here; the
# json_object generations and every recognizer / mask case stay).
heavy='sampled DFlash verification keeps the distribution: (top-k|top-p|min-p|penalties|logit bias)'
heavy+='|sampled verification keeps the distribution: penalties inside|added tokens: encoding time'
heavy+='|server: end to end|a loop nesting values a million deep'
heavy+='|answers of the demo model validate against the schema'
heavy+='|json constraint with speculative decoding'
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$(nproc)" -L cpu -E "$heavy")
