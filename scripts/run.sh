#!/usr/bin/env bash
# The main job on the bundled default model: build, describe the demo model, then let it complete
# a Python prompt with DFlash speculative decoding and print the statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cli=./build/examples/mimo-cli
"$cli" info
echo
"$cli" generate -p 'import os


def list_python_files(root):
    """Return the paths of all .py files below root."""
' -n 120 --temp 0.6 --top-k 40 --repeat-penalty 1.1 --seed 7 --speculative dflash
