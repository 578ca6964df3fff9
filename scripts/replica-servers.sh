#!/usr/bin/env bash
# A PostgreSQL primary and a hot standby streaming from it, as two clusters of their own
# (`optimistic_primary` on 127.0.0.1:5441, `optimistic_standby` on 127.0.0.1:5442), beside the
# machine's `main` cluster, which this never touches.
#
#   scripts/replica-servers.sh start   # idempotent: creates what is missing, starts what is down
#   scripts/replica-servers.sh stop    # stops and drops both clusters
#
# Both trust local TCP logins as `postgres`; the tests use database `test`.
set -euo pipefail

PRIMARY=optimistic_primary
STANDBY=optimistic_standby
PRIMARY_PORT=${OPTIMISTIC_PRIMARY_PORT:-5441}
STANDBY_PORT=${OPTIMISTIC_STANDBY_PORT:-5442}

version() {
  ls /usr/lib/postgresql | sort -n | tail -n 1
}

exists() {
  pg_lsclusters -h | awk '{print $2}' | grep -qx "$1"
}

online() {
  pg_lsclusters -h | awk -v name="$1" '$2 == name {print $4}' | grep -q online
}

wait_for() {
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "timed out waiting for: $*" >&2
  return 1
}

settings() {
  local name=$1 port=$2
  local conf=/etc/postgresql/$(version)/$name
  # Loopback only, trust: a throwaway test cluster.
  cat >"$conf/conf.d/optimistic.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
wal_level = replica
max_wal_senders = 5
hot_standby = on
# Throwaway data: no need to survive a crash. synchronous_commit stays on: off, WAL would
# reach the standby only every wal_writer_delay (200 ms), a lag no tuned replica has.
fsync = off
full_page_writes = off
EOF
  cat >"$conf/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
EOF
}

start() {
  local v
  v=$(version)
  if ! exists "$PRIMARY"; then
    pg_createcluster "$v" "$PRIMARY" -p "$PRIMARY_PORT" >/dev/null
    settings "$PRIMARY" "$PRIMARY_PORT"
  fi
  online "$PRIMARY" || pg_ctlcluster --skip-systemctl-redirect "$v" "$PRIMARY" start
  wait_for pg_isready -h 127.0.0.1 -p "$PRIMARY_PORT" -q
  if ! psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres -qc "CREATE DATABASE test"
  fi

  local data=/var/lib/postgresql/$v/$STANDBY
  # A standby left half-made (no standby.signal) by an interrupted start is made again.
  if exists "$STANDBY" && [ ! -f "$data/standby.signal" ]; then
    pg_dropcluster "$v" "$STANDBY" --stop
  fi
  if ! exists "$STANDBY"; then
    pg_createcluster "$v" "$STANDBY" -p "$STANDBY_PORT" >/dev/null
    settings "$STANDBY" "$STANDBY_PORT"
    find "$data" -mindepth 1 -delete
    # A copy of the primary that follows it (-R writes standby.signal and primary_conninfo).
    runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres \
      -D "$data" -R -X stream -c fast
  fi
  online "$STANDBY" || pg_ctlcluster --skip-systemctl-redirect "$v" "$STANDBY" start
  wait_for pg_isready -h 127.0.0.1 -p "$STANDBY_PORT" -q
  wait_for standby_streams
  echo "PostgreSQL primary on 127.0.0.1:$PRIMARY_PORT, standby on 127.0.0.1:$STANDBY_PORT"
}

standby_streams() {
  psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres -tAc \
    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" | grep -qx 1
}

stop() {
  local v
  v=$(version)
  for name in "$STANDBY" "$PRIMARY"; do
    if exists "$name"; then
      pg_dropcluster "$v" "$name" --stop
    fi
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
