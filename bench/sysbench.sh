#!/usr/bin/env bash
# Benchmark, not a test: sysbench directly against MariaDB and through Splitrail, on a test-bed
# style cluster (the dev cluster: primary 127.0.0.1:13306, replica 127.0.0.1:13307), printing
# QPS, p95 latency and the ratio proxy/direct for each workload and thread count.
#
#   bench/sysbench.sh                       # all workloads at 1, 8 and 32 threads, 20 s each
#   TIME=10 THREADS="1 16" TESTS=oltp_point_select bench/sysbench.sh
#
# "direct" runs against the primary (sysbench has one host); through the proxy, reads go to the
# replica. The proxy listens on a free port with the dev cluster's servers and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages

TIME=${TIME:-20}
THREADS=${THREADS:-"1 8 32"}
TESTS=${TESTS:-"oltp_point_select oltp_read_only oltp_read_write"}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
PROXY_PORT=${PROXY_PORT:-16033}
ADMIN_PORT=${ADMIN_PORT:-16034}

cargo build -q --release -p splitrail -p splitrail-testbed --bins
target/release/splitrail-devcluster up >/dev/null

workdir=$(mktemp -d)
trap 'kill "${proxy_pid:-}" 2>/dev/null || true; rm -rf "$workdir"' EXIT
cat > "$workdir/proxy.yaml" <<YAML
listen: 127.0.0.1:$PROXY_PORT
admin: { listen: 127.0.0.1:$ADMIN_PORT }
users: [{ user: app, password: app }]
servers:
  - { address: 127.0.0.1:13306, role: primary }
  - { address: 127.0.0.1:13307, role: replica }
YAML
target/release/splitrail --config "$workdir/proxy.yaml" >"$workdir/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
  mariadb -h127.0.0.1 -P"$PROXY_PORT" -uapp -papp -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.1
done

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

printf '%-20s %7s %12s %9s %12s %9s %7s\n' test threads direct_qps p95_ms proxy_qps p95_ms ratio
for test in $TESTS; do
  for threads in $THREADS; do
    d=$(sb 13306 "$test" "$threads" run)
    p=$(sb "$PROXY_PORT" "$test" "$threads" run)
    dq=$(awk '/queries:/ { gsub(/\(/, "", $3); print $3 }' <<<"$d")
    pq=$(awk '/queries:/ { gsub(/\(/, "", $3); print $3 }' <<<"$p")
    dl=$(awk '/95th percentile:/ { print $3 }' <<<"$d")
    pl=$(awk '/95th percentile:/ { print $3 }' <<<"$p")
    ratio=$(awk -v a="$pq" -v b="$dq" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    printf '%-20s %7s %12s %9s %12s %9s %7s\n' "$test" "$threads" "$dq" "$dl" "$pq" "$pl" "$ratio"
  done
done
