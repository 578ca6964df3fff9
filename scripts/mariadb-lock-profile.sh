#!/usr/bin/env bash
# A server-side profile of one contention point on MariaDB: for each strategy, run alone, the
# InnoDB row-lock waits, the time spent in them and the statements and commits per deposit,
# from SHOW GLOBAL STATUS before and after (the SQLite run the example also makes touches none
# of them). It explains where adaptive loses to optimistic locking (docs/BENCHMARKS.md, 3).
#
# Usage: MYSQL_URL=mysql://root@127.0.0.1:3306/test scripts/mariadb-lock-profile.sh \
#          [workers=32] [hot rows=10] [rounds=3] [strategies=optimistic,pessimistic,adaptive]
set -euo pipefail
workers=${1:-32}
hot=${2:-10}
rounds=${3:-3}
strategies=${4:-optimistic,pessimistic,adaptive}
deposits=1000
deposit=${DEPOSIT:-target/release/examples/deposit}
: "${MYSQL_URL:?set MYSQL_URL}"

counters() {
    mariadb -h127.0.0.1 -P3306 -uroot -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN
        ('Innodb_row_lock_waits', 'Innodb_row_lock_time', 'Com_commit', 'Com_rollback', 'Questions')"
}

printf '%-12s %9s %12s %12s %12s %12s\n' strategy deposits/s lock_waits/d lock_ms/d statements/d commits/d
for strategy in ${strategies//,/ }; do
    before=$(counters)
    output=$(env -u POSTGRES_URL "$deposit" 2>/dev/null --strategies "$strategy" --tasks "$workers" \
        --accounts "$hot" --deposits "$deposits" --repeat "$rounds")
    after=$(counters)
    goodput=$(awk '$1 == "mariadb" {print $4}' <<<"$output")
    total=$((deposits * rounds))
    paste <(echo "$before") <(echo "$after") | awk -v s="$strategy" -v n="$total" -v g="$goodput" '
        { d[$1] = $4 - $2 }
        END {
            printf "%-12s %9s %12.2f %12.2f %12.2f %12.2f\n", s, g,
                d["Innodb_row_lock_waits"] / n, d["Innodb_row_lock_time"] / n,
                d["Questions"] / n, (d["Com_commit"] + d["Com_rollback"]) / n
        }'
done
