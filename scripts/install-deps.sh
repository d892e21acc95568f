#!/usr/bin/env bash
# Installs the Debian 12 packages that atman-serve needs to build, test and
# run. Packages already installed are skipped, so a second run is quick.
set -euo pipefail

packages=(
  cmake g++ make pkg-config git curl ca-certificates ccache
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libsentencepiece-dev libgoogle-glog-dev libgflags-dev
  nlohmann-json3-dev libre2-dev libssl-dev openssl
  python3 python3-yaml
)
if [[ "${ATMAN_WITH_BROWSER:-1}" == "1" ]]; then
  # Headless Chromium renders the client's HTML page in one test.
  packages+=(chromium fonts-dejavu-core)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=""
if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
