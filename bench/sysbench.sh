#!/usr/bin/env bash
# Benchmark, not a test: sysbench directly against MariaDB and through Splitrail, on a test-bed
# style cluster (the dev cluster: primary 127.0.0.1:13306, replica 127.0.0.1:13307), printing
# QPS, p95 latency and the ratio proxy/direct for each workload and thread count.
#
#   bench/sysbench.sh                       # all workloads at 1, 8 and 32 threads, 20 s each
#   TIME=10 THREADS="1 16" TESTS=oltp_point_select bench/sysbench.sh
#
# "direct" runs against the primary (sysbench has one host); through the proxy, reads go to the
# replica. Two proxies run with the dev cluster's servers: "proxy" with the defaults, and "alt"
# with ALT_YAML added to its configuration (default `busy_poll: 0s`; e.g.
# ALT_YAML='pool: { pipeline: false }'), measured in the same run (ratios are to the direct run
# just before). Both are stopped at the end; a dev cluster already running is used as it is and
# left running.
set -euo pipefail
cd "$(dirname "$0")/.."
TIME=${TIME:-20}
THREADS=${THREADS:-"1 8 32"}
TESTS=${TESTS:-"oltp_point_select oltp_read_only oltp_read_write"}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
ALT_YAML=${ALT_YAML:-"busy_poll: 0s"}

source bench/lib.sh
start_proxies

sb() { # port test threads action
  sysbench "$2" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" \
    --mysql-user=app --mysql-password=app --mysql-db=app \
    --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$3" --time="$TIME" \
    --report-interval=0 "$4"
}

sb 13306 oltp_read_write 4 cleanup >/dev/null 2>&1 || true
sb 13306 oltp_read_write 4 prepare >/dev/null
# Let the replica apply the prepared tables before anything reads them there.
pos=$(mariadb -h127.0.0.1 -P13306 -uroot -N -e "SELECT @@GLOBAL.gtid_binlog_pos")
mariadb -h127.0.0.1 -P13307 -uroot -N -e "SELECT MASTER_GTID_WAIT('$pos', 120)" >/dev/null

qps() { awk '/queries:/ { gsub(/\(/, "", $3); print $3 }'; }
p95() { awk '/95th percentile:/ { print $3 }'; }
printf '%-18s %4s %9s %6s %9s %6s %5s %9s %6s %5s\n' test thr direct p95 proxy p95 ratio alt p95 ratio
for test in $TESTS; do
  for threads in $THREADS; do
    d=$(sb 13306 "$test" "$threads" run)
    p=$(sb "$PROXY_PORT" "$test" "$threads" run)
    n=$(sb "$ALT_PORT" "$test" "$threads" run)
    dq=$(qps <<<"$d"); pq=$(qps <<<"$p"); nq=$(qps <<<"$n")
    printf '%-18s %4s %9s %6s %9s %6s %5s %9s %6s %5s\n' "$test" "$threads" \
      "$dq" "$(p95 <<<"$d")" "$pq" "$(p95 <<<"$p")" "$(ratio "$pq" "$dq")" \
      "$nq" "$(p95 <<<"$n")" "$(ratio "$nq" "$dq")"
  done
done
