#!/usr/bin/env bash
# The main job on the bundled default model: build, describe the checkpoint, generate from it.
# The default model is the tiny HF-written fixture until the trained demo model lands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
model="${MIMO_MODEL:-tests/data/models/tiny-bf16}"
./build/examples/mimo-cli info -m "$model"
if [ -f "$model/reference/greedy_prompt.txt" ]; then
  echo
  echo "greedy continuation of $model/reference/greedy_prompt.txt:"
  ./build/examples/mimo-cli generate -m "$model" --tokens "$model/reference/greedy_prompt.txt" -n 24 --temp 0
fi
