#!/usr/bin/env bash
# Configures and builds libmimo into build/ (Release; CUDA backend when nvcc exists).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
