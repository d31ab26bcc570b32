#!/usr/bin/env bash
# Benchmark, not a test: sysbench directly against MariaDB and through Splitrail, on a test-bed
# style cluster (the dev cluster: primary 127.0.0.1:13306, replica 127.0.0.1:13307), printing
# QPS, p95 latency, the ratio proxy/direct and the proxy's CPU time per query for each case.
#
#   bench/sysbench.sh                                   # the cases below, 20 s each
#   TIME=10 CASES="oltp_point_select:1 oltp_point_select:16" bench/sysbench.sh
#
# A case is TEST:THREADS[:SYSBENCH_ARGS], the arguments comma-separated, e.g.
# `oltp_read_only:16:--skip_trx=on` or `oltp_point_select:16:--db-ps-mode=disable` (text
# protocol; sysbench's default `auto` uses prepared statements). The default cases are those of
# docs/benchmarks.md: point selects at 1, 16 and 64 threads, read-only with and without
# transactions, read-write, and point selects with each prepared-statement mode.
#
# "direct" runs against the primary (sysbench has one host); through the proxy, reads go to the
# replica. Two proxies run with the dev cluster's servers: "proxy" with the defaults, and "alt"
# with ALT_YAML added to its configuration (default `busy_poll: 0s`; e.g.
# ALT_YAML='pool: { pipeline: false }', or ALT_BIN for another build; or ALT=nginx for a plain L4
# forwarder to the primary), measured in the same run (ratios are to the direct run just
# before). "µs/q" is the proxy's (or nginx worker's) user+system CPU time over the run divided
# by its queries. Both are stopped at the end; a dev cluster already running is used as it is
# and left running.
#
#   ALT=nginx TIME=10 CASES="oltp_point_select:1 oltp_point_select:16" bench/sysbench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TIME=${TIME:-20}
CASES=${CASES:-"oltp_point_select:1 oltp_point_select:16 oltp_point_select:64
  oltp_read_only:16 oltp_read_only:16:--skip_trx=on oltp_read_write:16
  oltp_point_select:16:--db-ps-mode=disable oltp_point_select:16:--db-ps-mode=auto"}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
ALT_YAML=${ALT_YAML:-"busy_poll: 0s"}
# ALT=nginx: the "alt" column is nginx's stream module as a plain L4 forwarder to the primary
# instead of a second proxy (bench/lib.sh start_forwarder).
ALT=${ALT:-proxy}

source bench/lib.sh
if [ "$ALT" = nginx ]; then
  start_proxy proxy "$PROXY_PORT" "$ADMIN_PORT" ""
  PROXY_PID=$last_pid
  start_forwarder "$ALT_PORT"
  ALT_PID=$FORWARDER_PID
else
  start_proxies
fi

sb 13306 oltp_read_write 4 cleanup >/dev/null 2>&1 || true
sb 13306 oltp_read_write 4 prepare >/dev/null
replica_caught_up

printf '%-32s %4s %9s %6s %9s %6s %5s %5s %9s %6s %5s %5s\n' \
  test thr direct p95 proxy p95 ratio µs/q alt p95 ratio µs/q
for case in $CASES; do
  IFS=: read -r test threads args <<<"$case"
  IFS=, read -ra extra <<<"${args:-}"
  d=$(run 13306 "" "$test" "$threads" "${extra[@]}")
  p=$(run "$PROXY_PORT" "$PROXY_PID" "$test" "$threads" "${extra[@]}")
  n=$(run "$ALT_PORT" "$ALT_PID" "$test" "$threads" "${extra[@]}")
  dq=$(qps <<<"$d"); pq=$(qps <<<"$p"); nq=$(qps <<<"$n")
  printf '%-32s %4s %9s %6s %9s %6s %5s %5s %9s %6s %5s %5s\n' "$test${args:+ $args}" "$threads" \
    "$dq" "$(p95 <<<"$d")" "$pq" "$(p95 <<<"$p")" "$(ratio "$pq" "$dq")" "$(tail -1 <<<"$p")" \
    "$nq" "$(p95 <<<"$n")" "$(ratio "$nq" "$dq")" "$(tail -1 <<<"$n")"
done
