#!/usr/bin/env bash
# Instructions per statement built, counted by callgrind: repeatable to the instruction for the
# same binary, whatever else the machine is doing (wall-clock benches here drift 3-8%).
#
#   scripts/statement-instructions.sh [N]      # N statements per case, default 10000
#   KINDS=delete scripts/statement-instructions.sh   # only some statement kinds
#
# Each case runs twice, building 0 and N statements; the difference over N is the cost of one
# statement without the process's start-up. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
times="${1:-10000}"

bench=$(cargo bench -p optimistic-core --bench statements --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | tail -n 1)
[ -x "$bench" ] || { echo "could not build the statements bench" >&2; exit 1; }

count() { # case, times -> instructions
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --probe "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  rm -f "$out"
}

printf '%-8s %-9s %14s %14s %10s %10s\n' kind dialect generated hand_written ratio cached
for kind in ${KINDS:-update delete insert}; do
  for dialect in postgres mysql sqlite; do
    declare -A per=()
    for path in generated hand_written cached; do
      base=$(count "$kind/$path/$dialect" 0)
      full=$(count "$kind/$path/$dialect" "$times")
      per[$path]=$(( (full - base) / times ))
    done
    ratio=$(awk -v g="${per[generated]}" -v h="${per[hand_written]}" 'BEGIN { printf "%.3f", g / h }')
    printf '%-8s %-9s %14s %14s %10s %10s\n' "$kind" "$dialect" "${per[generated]}" "${per[hand_written]}" "$ratio" "${per[cached]}"
    unset per
  done
done
