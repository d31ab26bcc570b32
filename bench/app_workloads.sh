#!/usr/bin/env bash
# Benchmark, not a test: bench/app_workloads.py's workloads ("states": THREADS sessions with
# distinct session state, more than pool.max_size, writing and reading back; "ddl": DDL then
# immediate reads; "pooled": a read and a pool's check-in ROLLBACK per request) directly
# against the dev cluster's primary and through two proxies, printing wall time, stale reads
# and the ratio proxy/direct.
#
#   bench/app_workloads.sh                               # all workloads, 12 threads x 200
#   THREADS=24 ITERATIONS=100 WORKLOADS=states bench/app_workloads.sh
#
# "proxy" runs with the defaults, "alt" with ALT_YAML (default `pool: { pipeline: false }`).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-12}
ITERATIONS=${ITERATIONS:-200}
WORKLOADS=${WORKLOADS:-"states ddl pooled"}
ALT_YAML=${ALT_YAML:-"pool: { pipeline: false }"}

source bench/lib.sh
start_proxies
# The example's venv has the driver.
django_venv
$py bench/app_workloads.py --port 13306 --workload states --prepare
replica_caught_up

printf '%-8s %-6s %8s %6s %6s\n' workload run seconds stale ratio
for w in $WORKLOADS; do
  direct=
  for run in direct:13306 proxy:$PROXY_PORT alt:$ALT_PORT; do
    read -r secs stale < <($py bench/app_workloads.py --port "${run#*:}" --workload "$w" \
      --threads "$THREADS" --iterations "$ITERATIONS")
    direct=${direct:-$secs}
    printf '%-8s %-6s %8s %6s %6s\n' "$w" "${run%%:*}" "$secs" "$stale" "$(ratio "$secs" "$direct")"
  done
done
