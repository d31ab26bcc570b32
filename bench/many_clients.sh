#!/usr/bin/env bash
# Benchmark, not a test: many client threads through one proxy. sysbench point selects through
# Splitrail (defaults) at 16 threads, then at CLIENTS threads (default 1000), printing each run's
# QPS, errors and reconnects, the ratio of the big run's QPS to the 16-thread run's, and the most
# backend connections the proxy held on each server during the big run (sampled from the
# servers' processlists) against pool.max_size.
#
#   bench/many_clients.sh
#   CLIENTS=2000 TIME=30 bench/many_clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TIME=${TIME:-20}
CLIENTS=${CLIENTS:-1000}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
MAX_SIZE=${MAX_SIZE:-10}
ulimit -n "$((CLIENTS * 4 + 1024))" 2>/dev/null || true

source bench/lib.sh
start_proxy proxy "$PROXY_PORT" "$ADMIN_PORT" "pool: { max_size: $MAX_SIZE }"
PROXY_PID=$last_pid

sb() { # port threads action
  sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" \
    --mysql-user=app --mysql-password=app --mysql-db=app \
    --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$2" --time="$TIME" \
    --report-interval=0 --db-ps-mode=disable "$3"
}
sb 13306 4 cleanup >/dev/null 2>&1 || true
sb 13306 4 prepare >/dev/null
replica_caught_up

errors() { awk '/ignored errors:/ { print $3 }'; }
reconnects() { awk '/reconnects:/ { print $2 }'; }
# backends PORT: the proxy's connections on the server at PORT (user app, not the monitor's
# idle check connection, which is counted too: at most one per server).
backends() {
  mariadb -h127.0.0.1 -P"$1" -uroot -N -e \
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'"
}

small=$(sb "$PROXY_PORT" 16 run)
max_p=0; max_r=0
sb "$PROXY_PORT" "$CLIENTS" run >"$bench_dir/big.out" 2>&1 &
big_pid=$!
while kill -0 "$big_pid" 2>/dev/null; do
  p=$(backends 13306); r=$(backends 13307)
  [ "$p" -gt "$max_p" ] && max_p=$p
  [ "$r" -gt "$max_r" ] && max_r=$r
  sleep 0.5
done
wait "$big_pid" || { echo "sysbench at $CLIENTS threads failed:"; tail -20 "$bench_dir/big.out"; exit 1; }
big=$(cat "$bench_dir/big.out")

printf '%-8s %9s %7s %10s\n' threads qps errors reconnects
printf '%-8s %9s %7s %10s\n' 16 "$(qps <<<"$small")" "$(errors <<<"$small")" "$(reconnects <<<"$small")"
printf '%-8s %9s %7s %10s\n' "$CLIENTS" "$(qps <<<"$big")" "$(errors <<<"$big")" "$(reconnects <<<"$big")"
echo "ratio ${CLIENTS}/16: $(ratio "$(qps <<<"$big")" "$(qps <<<"$small")")"
echo "most backend connections during the $CLIENTS-thread run (pool.max_size $MAX_SIZE):" \
  "primary $max_p, replica $max_r"
