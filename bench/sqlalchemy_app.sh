#!/usr/bin/env bash
# Benchmark, not a test: bench/sqlalchemy_app.py, a small SQLAlchemy ORM app on a pooled
# engine, in SQLAlchemy's default mode (autocommit off: every request a transaction, on the
# primary) and with isolation_level="AUTOCOMMIT" (reads outside transactions go to replicas),
# directly against the dev cluster's primary and through two proxies, printing wall time,
# stale reads and the ratio proxy/direct.
#
#   bench/sqlalchemy_app.sh                              # 4 threads x 1 000 requests
#   THREADS=8 REQUESTS=500 bench/sqlalchemy_app.sh
#
# "proxy" runs with the defaults, "alt" with ALT_YAML (default `pool: { pipeline: false }`).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-4}
REQUESTS=${REQUESTS:-1000}
ALT_YAML=${ALT_YAML:-"pool: { pipeline: false }"}

source bench/lib.sh
start_proxies
# The example's venv has the driver; SQLAlchemy is added to it.
django_venv
$py -c 'import sqlalchemy' 2>/dev/null || examples/django/.venv/bin/pip install -q sqlalchemy

printf '%-11s %-6s %8s %6s %6s\n' mode run seconds stale ratio
for mode in default autocommit; do
  flag=
  [ "$mode" = autocommit ] && flag=--autocommit
  direct=
  for run in direct:13306 proxy:$PROXY_PORT alt:$ALT_PORT; do
    $py bench/sqlalchemy_app.py --port 13306 --threads "$THREADS" --prepare
    replica_caught_up
    read -r secs stale < <($py bench/sqlalchemy_app.py --port "${run#*:}" $flag \
      --threads "$THREADS" --requests "$REQUESTS")
    direct=${direct:-$secs}
    printf '%-11s %-6s %8s %6s %6s\n' "$mode" "${run%%:*}" "$secs" "$stale" \
      "$(ratio "$secs" "$direct")"
  done
done
