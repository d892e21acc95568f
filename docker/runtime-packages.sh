#!/bin/sh
# Print the Debian/Ubuntu packages that own the shared libraries the given
# binaries load (per ldd), one name a line. Libraries under the directories
# in SKIP_PREFIXES (space-separated) are skipped because the image brings
# them by other means. Exits 1 if a library is missing or has no owner.
set -eu

skip_prefixes="${SKIP_PREFIXES:-}"
status=0
owners="$(mktemp)"
ldd_output="$(mktemp)"
trap 'rm -f "$owners" "$ldd_output"' EXIT

owner_of() {
  # dpkg records a path as it was packaged, and merged-/usr systems reach
  # the same file as /lib/... and /usr/lib/..., so try each spelling.
  for candidate in "$1" "$(readlink -f "$1")" "/usr$1" "${1#/usr}"; do
    if owner="$(dpkg -S "$candidate" 2>/dev/null)"; then
      echo "${owner%%:*}"
      return 0
    fi
  done
  return 1
}

for binary in "$@"; do
  ldd "$binary" > "$ldd_output"
  if grep 'not found' "$ldd_output" >&2; then
    echo "error: $binary needs libraries that are not installed" >&2
    status=1
  fi
  for library in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' "$ldd_output"); do
    resolved="$(readlink -f "$library")"
    skipped=no
    for prefix in $skip_prefixes; do
      case "$resolved" in "$prefix"/*) skipped=yes ;; esac
    done
    [ "$skipped" = yes ] && continue
    if ! owner_of "$library" >> "$owners"; then
      echo "error: no package owns $library (needed by $binary)" >&2
      status=1
    fi
  done
done

sort -u "$owners"
exit "$status"
