#!/usr/bin/env bash
# Prints the path of a model repository that contains stories260K.
#
# It uses ../shared/models/stories260K when that folder exists. Otherwise it
# downloads stories260K.bin and tok512.model from their public source, the
# Hugging Face hub repository karpathy/tinyllamas, into ./models/stories260K,
# and checks the weights' SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

repository="$root/build/model-repository"
mkdir -p "$repository"

shared="$root/../shared/models/stories260K"
if [[ -f "$shared/stories260K.bin" && -f "$shared/tok512.model" ]]; then
  ln -sfn "$(cd "$shared" && pwd)" "$repository/stories260K"
  echo "$repository"
  exit 0
fi

target="$root/models/stories260K"
source_url="https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K"
weights_sha256="b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"
mkdir -p "$target"
if [[ ! -f "$target/stories260K.bin" || ! -f "$target/tok512.model" ]]; then
  echo "fetch-models: ../shared/models is not here; downloading stories260K from $source_url" >&2
  curl -fsSL -o "$target/stories260K.bin" "$source_url/stories260K.bin"
  curl -fsSL -o "$target/tok512.model" "$source_url/tok512.model"
fi
if ! echo "$weights_sha256  $target/stories260K.bin" | sha256sum --check --quiet; then
  echo "fetch-models: $target/stories260K.bin has the wrong SHA-256; delete it and retry" >&2
  exit 1
fi
ln -sfn "$target" "$repository/stories260K"
echo "$repository"
