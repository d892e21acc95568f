#!/usr/bin/env bash
# Configures and builds atman-serve in ./build (Release, two jobs).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${ATMAN_BUILD_JOBS:-2}"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  # Paths below the source folder are hashed relative to it, so clones in
  # other folders share the cache.
  export CCACHE_BASEDIR="$(pwd)" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@"
cmake --build build -j "$jobs"
