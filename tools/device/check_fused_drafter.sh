#!/usr/bin/env bash
# The first device run for the one-kernel drafter block pass (written in a session without a GPU;
# docs/speculative.md, "The block pass as one kernel"): its GPU tests first, then the A/B on the
# held-out prompts (op by op / fused + context fold / fused without the fold), the whole GPU
# suite, the comm tests on one GPU, and compute-sanitizer on the drafter cases. Logs in $OUT.
#   tools/device/check_fused_drafter.sh BIN_DIR [sanitize|quick]
# BIN_DIR holds mimo_gpu_tests, mimo-bench and mimo_comm_tests (optionally gzipped), built on the
# dev machine (docs/cuda.md). With `sanitize`, only the compute-sanitizer part runs (it takes a
# call of its own); with `quick` (little device time left), the drafter tests, the fused-default
# cases and an op-by-op / fused / op-by-op A/B only.
set -u
q=$1
part=${2:-all}
out=${OUT:-/tmp/out}
mkdir -p "$out"
ls "$q"/*.gz > /dev/null 2>&1 && (cd "$q" && gunzip -f ./*.gz && chmod +x ./*)
export MIMO_TEST_DATA_DIR=$PWD/tests/data
export LD_LIBRARY_PATH=/usr/local/cuda/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
s=$out/summary.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv >> "$s"
if [ "$part" = sanitize ]; then
  timeout 280 compute-sanitizer --tool memcheck "$q/mimo_gpu_tests" "GPU DFlash drafter*bit for bit" \
    > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$?" >> "$s"; tail -2 "$out/memcheck.log" >> "$s"
  for tool in racecheck synccheck; do
    timeout 140 compute-sanitizer --tool $tool "$q/mimo_gpu_tests" "GPU DFlash drafter is chosen*" \
      > "$out/$tool.log" 2>&1
    echo "$tool rc=$?" >> "$s"; tail -2 "$out/$tool.log" >> "$s"
  done
  cat "$s"
  exit 0
fi
timeout 240 "$q/mimo_gpu_tests" "[drafter]" > "$out/drafter_tests.log" 2>&1
echo "drafter tests rc=$?" >> "$s"; tail -4 "$out/drafter_tests.log" >> "$s"
# Every drafter, taps and speculation case with the fused pass as the default (the flip to on).
MIMO_DRAFTER_FUSED=1 timeout 240 "$q/mimo_gpu_tests" "[drafter],[taps],[spec]" \
  > "$out/fused_default_tests.log" 2>&1
echo "drafter/taps/spec tests, fused default, rc=$?" >> "$s"
tail -4 "$out/fused_default_tests.log" >> "$s"
modes="0 1 block 0 1"
[ "$part" = quick ] && modes="0 1 0"
i=0
for mode in $modes; do
  i=$((i + 1))
  MIMO_DRAFTER_FUSED=$mode timeout 60 "$q/mimo-bench" -m models/demo/mixed \
    --draft models/demo/drafter --spec-eval bench/spec_eval/prompts --generate 128 \
    > "$out/spec_${i}_$mode.log" 2>&1
  echo "spec eval $i MIMO_DRAFTER_FUSED=$mode rc=$?" >> "$s"
  grep -E "^(plain|dflash|ngram|dflash\+lookup) " "$out/spec_${i}_$mode.log" >> "$s"
done
[ "$part" = quick ] && { cat "$s"; exit 0; }
timeout 200 "$q/mimo_gpu_tests" > "$out/gpu_tests.log" 2>&1
echo "gpu tests rc=$?" >> "$s"; tail -3 "$out/gpu_tests.log" >> "$s"
timeout 60 "$q/mimo_comm_tests" "[one-gpu]" > "$out/comm_tests.log" 2>&1
echo "comm tests rc=$?" >> "$s"; tail -3 "$out/comm_tests.log" >> "$s"
cat "$s"
