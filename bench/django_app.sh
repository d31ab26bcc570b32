#!/usr/bin/env bash
# Benchmark, not a test: the Django example's write-then-read loop (examples/django, every
# request on a new database connection, as CONN_MAX_AGE = 0 does) run by CLIENTS processes at
# once, directly against the dev cluster's primary and through two proxies, printing each one's
# wall time, its stale reads and the ratio proxy/direct.
#
#   bench/django_app.sh                                  # 4 clients x 250 pairs
#   CLIENTS=8 ITERATIONS=100 bench/django_app.sh
#   ALT_YAML='pool: { max_size: 4 }' bench/django_app.sh
#
# "proxy" runs with the defaults, "alt" with ALT_YAML added to its configuration (default
# `pool: { pipeline: false }`). A ratio of 1.10 means 10 % slower than direct.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-4}
ITERATIONS=${ITERATIONS:-250}
ALT_YAML=${ALT_YAML:-"pool: { pipeline: false }"}

source bench/lib.sh
start_proxies

django_venv

# reset_posts: deletes the posts of earlier runs (their authors are named bench-N) and waits
# until the replica has applied that. The list view's query sorts every post of its authors, so
# it costs more the more posts there are: without this, each run starts with the previous
# runs' 1 000 posts more and the later columns (proxy, alt) pay for the earlier ones.
reset_posts() {
  mariadb -h127.0.0.1 -P"$PRIMARY_PORT" -uroot app -e "DELETE blog_post FROM blog_post
    JOIN blog_author ON blog_author.id = blog_post.author_id WHERE blog_author.name LIKE 'bench-%'"
  replica_caught_up
}

# run PORT: CLIENTS processes of the loop at once, starting from the same posts; prints
# "seconds stale".
run() {
  local start end stale=0 i
  reset_posts
  start=$(date +%s.%N)
  for i in $(seq "$CLIENTS"); do
    (cd examples/django && DB_PORT="$1" .venv/bin/python manage.py check_read_your_writes \
      --iterations "$ITERATIONS" --author "bench-$i" >"$bench_dir/run-$1-$i.out" 2>&1) &
  done
  wait
  end=$(date +%s.%N)
  for i in $(seq "$CLIENTS"); do
    n=$(awk '/write-then-read pairs/ { print $4 }' "$bench_dir/run-$1-$i.out")
    if [ -z "$n" ]; then
      echo "client $i on port $1 failed: $(tail -3 "$bench_dir/run-$1-$i.out")" >&2
      n=$ITERATIONS
    fi
    stale=$((stale + n))
  done
  awk -v s="$start" -v e="$end" -v st="$stale" 'BEGIN { printf "%.1f %d\n", e - s, st }'
}

read -r direct direct_stale < <(run 13306)
read -r proxy proxy_stale < <(run "$PROXY_PORT")
read -r alt alt_stale < <(run "$ALT_PORT")
printf '%s clients x %s write-then-read pairs (alt: %s)\n' "$CLIENTS" "$ITERATIONS" "$ALT_YAML"
printf '%-8s %8s %6s %6s\n' run seconds stale ratio
printf '%-8s %8s %6s %6s\n' direct "$direct" "$direct_stale" 1.00
printf '%-8s %8s %6s %6s\n' proxy "$proxy" "$proxy_stale" "$(ratio "$proxy" "$direct")"
printf '%-8s %8s %6s %6s\n' alt "$alt" "$alt_stale" "$(ratio "$alt" "$direct")"
