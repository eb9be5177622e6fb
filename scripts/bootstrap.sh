#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages libmimo builds and tests with (idempotent; needs root or
# sudo). CUDA comes from /usr/local/cuda when present; without nvcc the CPU backend is built.
set -euo pipefail
packages=(cmake ninja-build g++ ccache pkg-config nlohmann-json3-dev libfmt-dev catch2
          libpcre2-dev libutf8proc-dev libcli11-dev libbenchmark-dev python3 python3-numpy
          clang libclang-rt-dev libcpp-httplib-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere than Debian (the tokenizer, chat template and mimo-server
# tests need node + npm).
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
