#!/usr/bin/env bash
# Each driver feature of optimistic-core adds only its own integration's crates to a user's
# Cargo.lock. For every feature, a throwaway app that depends on this checkout with that feature
# alone is resolved, and its lockfile is searched for the crates of every other driver. One more
# app pins libsqlite3-sys to the newest version sqlx accepts (what a fresh sqlx or SeaORM app
# resolves) and must still resolve with `sea-orm` on.
#
#   bash scripts/check-feature-leaks.sh
#
# Needs the package registry (resolving picks the newest versions, as a user's `cargo add` does).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The crates that mark a driver integration in a lockfile.
markers='rusqlite|sea-query-rusqlite|postgres|tokio-postgres|sea-query-postgres|sqlx|sqlx-core|sqlx-postgres|sqlx-mysql|sqlx-sqlite|sea-query-sqlx|sea-orm|diesel|diesel-async|pq-sys|mysqlclient-sys|mysql_async|libsqlite3-sys'
failed=0

# app NAME FEATURE [EXTRA DEPENDENCY LINES]: a fresh app, resolved; prints its lockfile's path.
app() {
    local dir="$work/$1"
    cargo new --quiet --vcs none --name leak_check "$dir"
    printf 'optimistic-core = { path = "%s/optimistic-core", features = ["%s"] }\n%s\n' \
        "$root" "$2" "${3:-}" >>"$dir/Cargo.toml"
    # `|| return`: errexit does not reach into a function run in an `if` condition.
    (cd "$dir" && cargo generate-lockfile --quiet) || return 1
    echo "$dir/Cargo.lock"
}

# check FEATURE ALLOWED...: the app's driver crates must all be ALLOWED.
check() {
    local feature=$1
    shift
    local lock found leaked
    if ! lock=$(app "$feature" "$feature"); then
        echo "FAIL $feature does not resolve"
        failed=1
        return
    fi
    found=$(grep -oE "^name = \"($markers)\"$" "$lock" | cut -d'"' -f2 | sort -u || true)
    leaked=$(comm -23 <(echo "$found") <(printf '%s\n' "$@" | sort -u))
    if [ -n "$leaked" ]; then
        echo "LEAK $feature brings in: $(echo $leaked)"
        failed=1
    else
        echo "ok   $feature: $(echo $found)"
    fi
}

sqlx="sqlx sqlx-core sea-query-sqlx"
check sqlx-postgres $sqlx sqlx-postgres
check sqlx-mysql $sqlx sqlx-mysql
check sqlx-sqlite $sqlx sqlx-sqlite libsqlite3-sys
check rusqlite rusqlite sea-query-rusqlite libsqlite3-sys
check postgres postgres tokio-postgres sea-query-postgres
check sea-orm sea-orm $sqlx
check diesel-postgres diesel pq-sys
check diesel-mysql diesel mysqlclient-sys
check diesel-sqlite diesel libsqlite3-sys
check diesel-async-postgres diesel diesel-async tokio-postgres
check diesel-async-mysql diesel diesel-async mysql_async
check diesel-async-sqlite diesel diesel-async libsqlite3-sys
# HTTP needs no driver.
check http
check axum

# sqlx 0.9 accepts libsqlite3-sys below 0.38; rusqlite (pinned by sea-query-rusqlite) does not.
if lock=$(app pinned sea-orm $'sqlx = { version = "0.9", features = ["sqlite"] }\nlibsqlite3-sys = "0.37"' 2>&1); then
    echo "ok   sea-orm beside libsqlite3-sys 0.37 resolves"
else
    echo "FAIL sea-orm beside libsqlite3-sys 0.37 does not resolve: $lock"
    failed=1
fi
exit "$failed"
