#!/usr/bin/env bash
# Configures and builds atman-serve in ./build (Release, two jobs).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${ATMAN_BUILD_JOBS:-2}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$jobs"
