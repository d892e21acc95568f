#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test with ctest.
# Tests read models and golden files from ../shared (ATMAN_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh -DATMAN_SHARED_DIR="${ATMAN_SHARED_DIR:-$(pwd)/../shared}"
ctest --test-dir build --output-on-failure --timeout 900 -j "${ATMAN_TEST_JOBS:-1}"
