#!/usr/bin/env bash
# The full test run (what CI runs): build + every CPU test suite (GPU tests report SKIP without
# a GPU), the find_package consumer, an ASan+UBSan build of the suites, a ThreadSanitizer build of
# the concurrency suite, bounded fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)")
bash scripts/sanitize.sh
bash scripts/tsan.sh
bash scripts/fuzz.sh
