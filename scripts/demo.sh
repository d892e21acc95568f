#!/usr/bin/env bash
# Installs what is missing, builds, starts atman-server on stories260K
# (127.0.0.1:50051) and explains one prompt with the client. The server is
# stopped with SIGTERM at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

ATMAN_WITH_BROWSER=0 scripts/install-deps.sh
scripts/build.sh -DATMAN_BUILD_TESTS=OFF
repository="$(scripts/fetch-models.sh)"

port="${ATMAN_DEMO_PORT:-50051}"
log="build/demo-server.log"
build/server/atman-server --model_repository="$repository" --default_model=stories260K \
  --address=127.0.0.1 --port="$port" --metrics_address=127.0.0.1 --metrics_port=-1 \
  2>"$log" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

# The server returns UNAVAILABLE until its models are loaded, so try for up
# to 60 seconds.
for attempt in $(seq 60); do
  if build/client/atman models --server="127.0.0.1:$port" 2>/dev/null; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "demo: atman-server exited; its log is in $log" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 1
done
build/client/atman explain --server="127.0.0.1:$port" \
  --prompt="Tom had a big red ball. He liked to kick the ball. One day, Tom kicked the" \
  --target=" ball" --granularity=word
