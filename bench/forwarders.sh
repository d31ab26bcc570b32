#!/usr/bin/env bash
# Benchmark, not a test: what a plain L4 forwarder costs per query on each I/O back end, to
# answer whether io_uring would make the proxy cheaper on this machine (#13). sysbench point
# selects straight to the primary and through four forwarders to it, one thread each: nginx's
# stream module, and bench/forwarders (the same copy loop on tokio, on monoio's epoll driver
# and on monoio's io_uring driver). Prints QPS, the ratio to the direct run just before and
# the forwarder's CPU time per query, ROUNDS times interleaved (the host is noisy).
#
#   bench/forwarders.sh                                 # 16 threads, 3 rounds of 10 s
#   THREADS=1 ROUNDS=2 TIME=10 bench/forwarders.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TIME=${TIME:-10}
THREADS=${THREADS:-16}
ROUNDS=${ROUNDS:-3}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
# Ports of the three bench/forwarders processes (nginx takes ALT_PORT).
FORWARDER_PORTS=${FORWARDER_PORTS:-"16041 16042 16043"}

source bench/lib.sh
cargo build -q --release --manifest-path bench/forwarders/Cargo.toml
fwd=bench/forwarders/target/release/splitrail-bench-forwarders

start_forwarder "$ALT_PORT"
names=(nginx) ports=("$ALT_PORT") pids=("$FORWARDER_PID")
read -ra fports <<<"$FORWARDER_PORTS"
for mode in tokio epoll uring; do
  port=${fports[${#names[@]} - 1]}
  port_free "$port"
  "$fwd" "$mode" "127.0.0.1:$port" "127.0.0.1:$PRIMARY_PORT" >"$bench_dir/$mode.log" 2>&1 &
  proxy_pids="${proxy_pids:-} $!"
  await_answer "$mode forwarder" "$!" "$port" "$bench_dir/$mode.log"
  names+=("$mode") ports+=("$port") pids+=("$!")
done

sb "$PRIMARY_PORT" oltp_point_select 4 cleanup >/dev/null 2>&1 || true
sb "$PRIMARY_PORT" oltp_point_select 4 prepare >/dev/null

printf '%-5s %-6s %9s %5s %5s\n' round via qps ratio µs/q
for round in $(seq "$ROUNDS"); do
  dq=$(run "$PRIMARY_PORT" "" oltp_point_select "$THREADS" | qps)
  printf '%-5s %-6s %9s\n' "$round" direct "$dq"
  for i in "${!names[@]}"; do
    out=$(run "${ports[$i]}" "${pids[$i]}" oltp_point_select "$THREADS")
    q=$(qps <<<"$out")
    printf '%-5s %-6s %9s %5s %5s\n' "$round" "${names[$i]}" "$q" "$(ratio "$q" "$dq")" \
      "$(tail -1 <<<"$out")"
  done
done
