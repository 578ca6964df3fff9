#!/usr/bin/env bash
# Packages both crates as crates.io would receive them, unpacks them side by side, and runs the
# packaged optimistic-core's doctests (the README's included) against the packaged macro crate.
# This catches files a package leaves out, such as an include_str! that reaches outside it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo package --locked -p optimistic-macros -p optimistic-core "$@"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "optimistic-core"))')
for crate in optimistic-macros optimistic-core; do
  tar -xzf "target/package/$crate-$version.crate" -C "$work"
done
# The packaged optimistic-core asks crates.io for optimistic-macros; point it at the package.
cat > "$work/Cargo.toml" <<TOML
[workspace]
resolver = "3"
members = ["optimistic-core-$version"]

[patch.crates-io]
optimistic-macros = { path = "optimistic-macros-$version" }
TOML
# Same dependency versions as the repository's lockfile.
cp Cargo.lock "$work/Cargo.lock"
# The repository's own target directory: the dependencies built there already are reused.
target="$PWD/target"
(cd "$work" && CARGO_TARGET_DIR="$target" cargo test --doc -p optimistic-core --all-features)
