#!/usr/bin/env bash
# Client instructions per deposit, by strategy, counted by callgrind: the work the deposit loop
# does in this process (building statements, binding, encoding, decoding, the driver's own
# code), without the database's. One task, so no conflict or retry varies between runs.
#
#   scripts/deposit-instructions.sh [DEPOSITS]         # default 500, on SQLite
#   POSTGRES_URL=.. MYSQL_URL=.. scripts/deposit-instructions.sh   # summed over all three
#   FEATURES=optimistic-core/tracing scripts/deposit-instructions.sh  # with a feature on
#   STRATEGIES="resolving resolving-logged" scripts/deposit-instructions.sh  # other strategies
#
# Prints the inclusive cost of deposit_once (callgrind_annotate) over the deposits made. Needs
# valgrind; builds the example with debug info in its own target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
deposits="${1:-500}"
target="${CARGO_TARGET_DIR:-target}/deposit-instructions"
CARGO_PROFILE_RELEASE_DEBUG=true CARGO_TARGET_DIR="$target" \
  cargo build --locked --release -p optimistic-server-examples --example deposit \
  ${FEATURES:+--features "$FEATURES"} >/dev/null 2>&1
binary="$target/release/examples/deposit"
backends=1
[ -n "${POSTGRES_URL:-}" ] && backends=$((backends + 1))
[ -n "${MYSQL_URL:-}" ] && backends=$((backends + 1))
out=$(mktemp)
trap 'rm -f "$out"' EXIT

printf '%-18s %12s\n' strategy "per deposit"
for strategy in ${STRATEGIES:-optimistic-builder optimistic-pooled optimistic-sql optimistic}; do
  valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" --strategies "$strategy" \
    --tasks 1 --deposits "$deposits" --accounts 10 >/dev/null 2>&1
  total=$(callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$out" 2>/dev/null \
    | grep -E 'deposit::deposit_once::\{\{closure\}\} \[' | head -n 1 | awk '{gsub(",", "", $1); print $1}')
  printf '%-18s %12d\n' "$strategy" $((total / (deposits * backends)))
done
