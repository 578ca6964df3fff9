#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on loopback, with data directories of its own under
# $OPTIMISTIC_GALERA_DIR (default /var/lib/optimistic-galera), beside the machine's MariaDB,
# which this never touches. Node N listens on 127.0.0.1:331N (SQL) and 457N (replication).
#
#   scripts/galera-servers.sh start   # idempotent: starts what is down, bootstraps if none is up
#   scripts/galera-servers.sh stop    # stops every node and removes the data directories
#
# Every node takes `root` from 127.0.0.1 without a password; the tests use database `test`.
set -euo pipefail

BASE=${OPTIMISTIC_GALERA_DIR:-/var/lib/optimistic-galera}
NODES=(1 2 3)
PROVIDER=/usr/lib/galera/libgalera_smm.so

port() { echo $((3310 + $1)); }
dir() { echo "$BASE/node$1"; }
socket() { echo "$(dir "$1")/mysqld.sock"; }

# galera-4 (the replication library) and rsync (its state transfer) come from Debian.
install_packages() {
  local missing=()
  dpkg -s galera-4 >/dev/null 2>&1 || missing+=(galera-4)
  dpkg -s rsync >/dev/null 2>&1 || missing+=(rsync)
  if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
}

write_config() {
  local n=$1 d
  d=$(dir "$n")
  mkdir -p "$d/data"
  cat >"$d/my.cnf" <<EOF
[mysqld]
user = mysql
datadir = $d/data
socket = $(socket "$n")
pid-file = $d/mysqld.pid
log-error = $d/error.log
port = $(port "$n")
bind-address = 127.0.0.1
innodb_buffer_pool_size = 32M
innodb_log_file_size = 16M
innodb_flush_log_at_trx_commit = 0
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = optimistic
wsrep_cluster_address = gcomm://127.0.0.1:4571,127.0.0.1:4572,127.0.0.1:4573
wsrep_node_address = 127.0.0.1:457$n
wsrep_node_name = node$n
wsrep_provider_options = "base_host=127.0.0.1;base_port=457$n;ist.recv_addr=127.0.0.1:458$n;gcache.size=16M;evs.inactive_timeout=PT6S;evs.suspect_timeout=PT3S"
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:459$n
EOF
  chown -R mysql:mysql "$d"
}

sql() {
  local n=$1
  shift
  mariadb --no-defaults -S "$(socket "$n")" -u root -N -B -e "$@"
}

running() {
  sql "$1" "SELECT 1" >/dev/null 2>&1
}

synced() {
  sql "$1" "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | grep -q Synced
}

wait_until() {
  local what=$1
  shift
  for _ in $(seq 1 120); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  echo "timed out waiting for $what" >&2
  tail -n 30 "$(dir "${*: -1}")/error.log" >&2 || true
  return 1
}

launch() {
  local n=$1
  shift
  # Detached, so the node outlives this script (and the CI step that ran it).
  setsid mariadbd --defaults-file="$(dir "$n")/my.cnf" "$@" </dev/null >/dev/null 2>&1 &
}

start() {
  install_packages
  local up=()
  for n in "${NODES[@]}"; do
    if running "$n"; then up+=("$n"); fi
  done
  if ((${#up[@]} == 0)); then
    # Nothing to join: a fresh cluster from node 1, the others filled by state transfer.
    rm -rf "$BASE"
    for n in "${NODES[@]}"; do write_config "$n"; done
    mariadb-install-db --defaults-file="$(dir 1)/my.cnf" --user=mysql \
      --auth-root-authentication-method=normal --skip-test-db >"$BASE/install.log" 2>&1
    launch 1 --wsrep-new-cluster
    wait_until "node 1 to bootstrap" synced 1
    sql 1 "CREATE USER IF NOT EXISTS root@'127.0.0.1';
           GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
           CREATE DATABASE IF NOT EXISTS test"
    up=(1)
  fi
  for n in "${NODES[@]}"; do
    if ! running "$n"; then
      write_config "$n"
      launch "$n"
    fi
  done
  for n in "${NODES[@]}"; do
    wait_until "node $n to sync" synced "$n"
  done
  local size
  size=$(sql 1 "SHOW STATUS LIKE 'wsrep_cluster_size'" | awk '{print $2}')
  echo "Galera cluster of $size on 127.0.0.1:$(port 1), :$(port 2), :$(port 3)"
}

stop() {
  for n in "${NODES[@]}"; do
    if running "$n"; then
      sql "$n" "SHUTDOWN" || true
    fi
  done
  for n in "${NODES[@]}"; do
    for _ in $(seq 1 60); do
      running "$n" || break
      sleep 0.5
    done
  done
  rm -rf "$BASE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
