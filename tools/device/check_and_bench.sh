#!/usr/bin/env bash
# One device session's worth of checks on the GPU machine, with binaries built on the dev machine
# and carried (the GPU machine cannot configure the project: docs/cuda.md). Writes logs to $OUT.
#   tools/device/check_and_bench.sh BUILD_DIR [BASELINE_BENCH]
# BUILD_DIR holds tests/gpu/mimo_gpu_tests and cuda/mimo-bench; BASELINE_BENCH (optional) is a
# mimo-bench of an earlier commit, run on the same card for an A/B comparison in the same session.
set -u
build=$1
baseline=${2:-}
out=${OUT:-/tmp/out}
mkdir -p "$out"
export MIMO_TEST_DATA_DIR=$PWD/tests/data
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$out/gpu.txt"
"$build/tests/gpu/mimo_gpu_tests" > "$out/gpu_tests.log" 2>&1
echo "gpu tests rc=$?" | tee -a "$out/summary.txt"
tail -3 "$out/gpu_tests.log" >> "$out/summary.txt"
bench() {  # name binary args...
  local name=$1 bin=$2
  shift 2
  "$bin" "$@" > "$out/$name.log" 2>&1
  echo "$name rc=$?" >> "$out/summary.txt"
}
# A/B: the new and baseline binaries alternate, three rounds (run-to-run spread is ~0.5%); one
# summary line per run with decode-1 / verify-8 ms and roofline fraction.
for round in 1 2 3; do
  for side in new base; do
    bin=$build/cuda/mimo-bench
    [ "$side" = base ] && bin=$baseline
    [ -n "$bin" ] || continue
    bench "bench_${side}_$round" "$bin" --synthetic
    echo "$side $round: $(grep -E '^(decode-1|verify-8) ' "$out/bench_${side}_$round.log" |
      awk '{printf "%s %s ms (%s)  ", $1, $2, $6}')" >> "$out/summary.txt"
  done
done
bench bench_new "$build/cuda/mimo-bench" --synthetic --profile
bench demo_new "$build/cuda/mimo-bench" -m models/demo/mixed --draft models/demo/drafter --generate 256
if [ -n "$baseline" ]; then
  bench demo_base "$baseline" -m models/demo/mixed --draft models/demo/drafter --generate 256
fi
if command -v compute-sanitizer > /dev/null && [ "${SANITIZE:-0}" = 1 ]; then
  compute-sanitizer --tool memcheck "$build/tests/gpu/mimo_gpu_tests" > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$?" >> "$out/summary.txt"
  tail -2 "$out/memcheck.log" >> "$out/summary.txt"
fi
cat "$out/summary.txt"
