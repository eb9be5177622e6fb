#!/usr/bin/env bash
# The main job on the bundled default model: build, describe the demo model, then let it complete
# a Python prompt with lookup-first DFlash speculative decoding (each step prompt lookup, the DFlash
# drafter or a plain step, whichever the speculator measured to pay most) and print the
# statistics, then decode the same prompt plainly (same settings, same model load) and print both
# speeds and their ratio. Greedy decoding: where speculation pays on the demo model
# (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cli=./build/examples/mimo-cli
"$cli" info
echo
"$cli" generate -p 'import os


def list_python_files(root):
    """Return the paths of all .py files below root."""
' -n 256 --temp 0 --speculative dflash+lookup --compare-plain
