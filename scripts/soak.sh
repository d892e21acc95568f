#!/usr/bin/env bash
# Soak test: runs `atman bench` against a fresh atman-server on 127.0.0.1 in
# consecutive rounds and checks that the server's resident memory stays flat.
# After the last round it must be within --tolerance percent of its value
# after the second round, because the first round warms caches and
# allocators up.
#
# Usage: scripts/soak.sh [--build DIR] [--duration_s N] [--rounds N]
#                        [--concurrency N] [--tolerance PERCENT]
set -euo pipefail
cd "$(dirname "$0")/.."

build="build"
duration=60
rounds=6
concurrency=4
tolerance=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --duration_s) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --tolerance) tolerance="$2"; shift 2 ;;
    *) echo "soak: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if (( rounds < 3 )); then
  echo "soak: --rounds must be at least 3" >&2
  exit 2
fi

repository="$(scripts/fetch-models.sh)"
log="$(mktemp)"
coproc SERVER { exec "$build/server/atman-server" --model_repository="$repository" \
  --address=127.0.0.1 --port=0 --metrics_port=-1 --queue_limit=64 2>&1; }
server=$SERVER_PID
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT

# The server logs "Serving on port N" once its models are loaded. Read its
# output line by line until then, then keep draining it into the log file.
port=""
while IFS= read -r line <&"${SERVER[0]}"; do
  echo "$line" >> "$log"
  if [[ "$line" =~ Serving\ on\ port\ ([0-9]+) ]]; then
    port="${BASH_REMATCH[1]}"
    break
  fi
done
if [[ -z "$port" ]]; then
  echo "soak: atman-server did not start; log:" >&2
  cat "$log" >&2
  exit 1
fi
# Coprocess descriptors are closed in subshells, so hand a copy to cat.
exec {server_output}<&"${SERVER[0]}"
cat <&"$server_output" >> "$log" &

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }

round_seconds=$(( duration / rounds ))
(( round_seconds > 0 )) || round_seconds=1
declare -a rss
for round in $(seq 1 "$rounds"); do
  "$build/client/atman" bench --server="127.0.0.1:$port" --concurrency="$concurrency" \
    --duration_s="$round_seconds" --mix=16:token:2,32:word:1 --seed="$round" --format=json \
    > /dev/null
  rss[$round]=$(rss_kib)
  echo "soak: round $round of $rounds: server VmRSS ${rss[$round]} KiB"
done

reference=${rss[2]}
last=${rss[$rounds]}
growth=$(awk -v a="$reference" -v b="$last" 'BEGIN { printf "%.2f", (b - a) * 100 / a }')
echo "soak: VmRSS after round 2: $reference KiB, after round $rounds: $last KiB (${growth}%)"
if awk -v g="$growth" -v t="$tolerance" 'BEGIN { exit !(g > t) }'; then
  echo "soak: FAILED: resident memory grew by ${growth}%, more than ${tolerance}%" >&2
  exit 1
fi
echo "soak: passed (growth within ${tolerance}%)"
