#!/usr/bin/env bash
# Per-kernel GPU times of prefill, decode-1 and verify-8 steps of the synthetic benchmark model,
# under Nsight Compute (run on the GPU machine; docs/cuda.md, change 7). Each kernel is timed
# alone (ncu serialises them), so kernels of a few microseconds read ~2 us high against a
# graph-replayed step.
# The whole 48-layer model by default: fewer layers route differently (the synthetic model's
# verify tokens share fewer experts), which misplaces the time. LAYERS / CONTEXT / PREFILL_CHUNK
# (16: tokens=16 rows are the prefill chunks) override.
# Usage: tools/profile/ncu_breakdown.sh [mimo-bench binary] [output dir]
set -euo pipefail
bench=${1:-build-cudabin/cuda/mimo-bench}
out=${2:-${OUT:-.}}
ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
  "$bench" --synthetic --layers "${LAYERS:-48}" --context "${CONTEXT:-256}" --steps 2 \
  --prefill-chunk "${PREFILL_CHUNK:-16}" --prefill-runs 1 > "$out/ncu.csv" 2> "$out/ncu.err"
python3 "$(dirname "$0")/ncu_aggregate.py" "$out/ncu.csv" > "$out/ncu_breakdown.txt"
cat "$out/ncu_breakdown.txt"
