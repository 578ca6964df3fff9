#!/usr/bin/env bash
# Compile-time cost of #[optimistic]: a generated crate with N structs, built with and without
# the attribute (dependencies built beforehand, so only the crate itself is timed), RUNS times
# each; prints the median of each and the added time per struct.
#
#   scripts/compile-cost.sh [N=200] [RUNS=5]
set -euo pipefail
n=${1:-200}
runs=${2:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

generate() { # $1 = crate dir, $2 = with|without
  mkdir -p "$1/src"
  cat > "$1/Cargo.toml" <<TOML
[package]
name = "cost-$2"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
optimistic-core = { path = "$repo/optimistic-core" }
[workspace]
TOML
  {
    echo "#![allow(dead_code)]"
    if [ "$2" = with ]; then echo "use optimistic_core::{optimistic, Version};"; else echo "use optimistic_core::Version;"; fi
    for i in $(seq 1 "$n"); do
      [ "$2" = with ] && echo "#[optimistic(table = \"table_$i\")]"
      echo "#[derive(Debug, Clone)]"
      echo "pub struct Row$i { pub id: i64, pub name: String, pub amount: i64, pub note: Option<String>, pub version: Version }"
    done
  } > "$1/src/lib.rs"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for variant in without with; do
  generate "$work/$variant" "$variant"
  (cd "$work/$variant" && CARGO_TARGET_DIR="$work/target" cargo build -q 2>/dev/null)
  for _ in $(seq 1 "$runs"); do
    touch "$work/$variant/src/lib.rs"
    start=$(date +%s.%N)
    (cd "$work/$variant" && CARGO_TARGET_DIR="$work/target" cargo build -q)
    echo "$(date +%s.%N) - $start" | bc
  done | median > "$work/$variant.median"
done
without=$(cat "$work/without.median"); with=$(cat "$work/with.median")
printf 'structs: %s, runs: %s (median, debug build of the crate alone)\n' "$n" "$runs"
printf 'without #[optimistic]: %.2f s\nwith #[optimistic]:    %.2f s\nadded per struct:      %.2f ms\n' \
  "$without" "$with" "$(echo "($with - $without) * 1000 / $n" | bc -l)"
