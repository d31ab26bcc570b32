#!/usr/bin/env bash
# Benchmark, not a test: what `routing.consistency: cluster` costs against `global` and
# `eventual`. Three proxies in front of the dev cluster (primary 127.0.0.1:13306, replica
# 127.0.0.1:13307), one per mode, run sysbench oltp_point_select in turn in one run; prints QPS,
# p95 latency, each mode's ratio to `global`, and for `cluster` the primary queries it added per
# 1 000 reads (from splitrail_consistency_position_fetches_total / _reads_total).
#
#   bench/consistency_modes.sh                 # 16 threads, 20 s per mode
#   TIME=5 THREADS="1 16" bench/consistency_modes.sh
#   PRIMARY_PORT=23306 PROFILE=debug TIME=2 bench/consistency_modes.sh   # a quick try on a
#                                   # cluster of its own (stop it: splitrail-devcluster down --dir .dev/cluster-23306)
set -euo pipefail
cd "$(dirname "$0")/.."
TIME=${TIME:-20}
THREADS=${THREADS:-16}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
# Ports: eventual, global, cluster (admin port = port + 1).
EVENTUAL_PORT=${EVENTUAL_PORT:-16043}
GLOBAL_PORT=${GLOBAL_PORT:-16045}
CLUSTER_PORT=${CLUSTER_PORT:-16047}

source bench/lib.sh
start_proxy eventual "$EVENTUAL_PORT" $((EVENTUAL_PORT + 1)) "routing: { consistency: eventual }"
start_proxy global "$GLOBAL_PORT" $((GLOBAL_PORT + 1)) "routing: { consistency: global }"
start_proxy cluster "$CLUSTER_PORT" $((CLUSTER_PORT + 1)) "routing: { consistency: cluster }"

sb() { # port threads action
  sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" \
    --mysql-user=app --mysql-password=app --mysql-db=app \
    --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$2" --time="$TIME" \
    --report-interval=0 "$3"
}

sb "$PRIMARY_PORT" 4 cleanup >/dev/null 2>&1 || true
sb "$PRIMARY_PORT" 4 prepare >/dev/null
replica_caught_up

p95() { awk '/95th percentile:/ { print $3 }'; }
metric() { # admin_port name
  curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

printf '%4s %10s %6s %10s %6s %10s %6s %6s %6s %14s\n' \
  thr eventual p95 global p95 cluster p95 ev/gl cl/gl "fetch/1k reads"
for threads in $THREADS; do
  e=$(sb "$EVENTUAL_PORT" "$threads" run)
  g=$(sb "$GLOBAL_PORT" "$threads" run)
  f0=$(metric $((CLUSTER_PORT + 1)) splitrail_consistency_position_fetches_total)
  r0=$(metric $((CLUSTER_PORT + 1)) splitrail_consistency_position_reads_total)
  c=$(sb "$CLUSTER_PORT" "$threads" run)
  f1=$(metric $((CLUSTER_PORT + 1)) splitrail_consistency_position_fetches_total)
  r1=$(metric $((CLUSTER_PORT + 1)) splitrail_consistency_position_reads_total)
  eq=$(qps <<<"$e"); gq=$(qps <<<"$g"); cq=$(qps <<<"$c")
  per_k=$(awk -v f=$((f1 - f0)) -v r=$((r1 - r0)) \
    'BEGIN { if (r > 0) printf "%.0f", 1000 * f / r; else print "n/a" }')
  printf '%4s %10s %6s %10s %6s %10s %6s %6s %6s %14s\n' "$threads" \
    "$eq" "$(p95 <<<"$e")" "$gq" "$(p95 <<<"$g")" "$cq" "$(p95 <<<"$c")" \
    "$(ratio "$eq" "$gq")" "$(ratio "$cq" "$gq")" "$per_k"
done
echo "ratios are to global; fetch/1k reads: primary position queries cluster added per 1 000 reads"
