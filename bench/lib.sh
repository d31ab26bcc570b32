# Shared by the bench/ scripts: the dev cluster and proxies in front of it, started for one run.
# Source it after `cd` to the repository root; it builds the release binaries, starts the dev
# cluster unless one is running (left running afterwards) and stops every proxy it started on
# exit.
# The dev cluster's ports (another PRIMARY_PORT starts a cluster of its own under
# .dev/cluster-PORT, e.g. when a colleague's dev cluster holds 13306 on a shared machine).
PRIMARY_PORT=${PRIMARY_PORT:-13306}
REPLICA_PORT=$((PRIMARY_PORT + 1))
# The build profile the proxies run (release for figures; debug only to try a script quickly).
PROFILE=${PROFILE:-release}
# Ports of the two proxies a script compares ("proxy" and "alt"), overridable.
PROXY_PORT=${PROXY_PORT:-16033}
ADMIN_PORT=${ADMIN_PORT:-16034}
ALT_PORT=${ALT_PORT:-16035}
ALT_ADMIN_PORT=${ALT_ADMIN_PORT:-16036}
# The binary the "alt" proxy runs (default: this checkout's): set it to another build, e.g. an
# older commit's target/release/splitrail, to compare two versions in one run.
ALT_BIN=${ALT_BIN:-target/$PROFILE/splitrail}

source scripts/lib.sh
ensure_packages

profile_flag=--release
[ "$PROFILE" = release ] || profile_flag="--profile=$PROFILE"
[ "$PROFILE" = debug ] && profile_flag=""
cargo build -q $profile_flag -p splitrail -p splitrail-testbed --bins
cluster_dir=.dev/cluster
[ "$PRIMARY_PORT" = 13306 ] || cluster_dir=.dev/cluster-$PRIMARY_PORT
if ! mariadb -h127.0.0.1 -P"$PRIMARY_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  target/$PROFILE/splitrail-devcluster up --dir "$cluster_dir" --port "$PRIMARY_PORT" >/dev/null
fi

bench_dir=$(mktemp -d)
trap 'kill ${proxy_pids:-} 2>/dev/null || true; rm -rf "$bench_dir"' EXIT

# django_venv: one write-then-read pair of examples/django against the primary, which builds
# its venv (Django, mysqlclient) and migrates its schema; sets `py` to the venv's python.
django_venv() {
  DB_PORT=13306 ITERATIONS=1 examples/django/check.sh >/dev/null
  py=$PWD/examples/django/.venv/bin/python
}

# port_free PORT: fails, saying so, when something listens on PORT already (a proxy left
# running by an earlier run would otherwise answer in place of the one a script starts).
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is taken (a proxy left running?): $(ss -ltnp "sport = :$1" | tail -n +2)" >&2
    return 1
  fi
}

# start_proxy NAME PORT ADMIN_PORT EXTRA_YAML: a proxy in front of the dev cluster's primary
# and replica with EXTRA_YAML added to its configuration; returns once it answers.
start_proxy() {
  port_free "$2" && port_free "$3" || return 1
  cat > "$bench_dir/$1.yaml" <<YAML
listen: 127.0.0.1:$2
admin: { listen: 127.0.0.1:$3 }
users: [{ user: app, password: app }]
servers:
  - { address: 127.0.0.1:$PRIMARY_PORT, role: primary }
  - { address: 127.0.0.1:$REPLICA_PORT, role: replica }
$4
YAML
  local bin=target/$PROFILE/splitrail
  [ "$1" = alt ] && bin=$ALT_BIN
  "$bin" --config "$bench_dir/$1.yaml" >"$bench_dir/$1.log" 2>&1 &
  proxy_pids="${proxy_pids:-} $!"
  last_pid=$!
  echo "$1 proxy: pid $! port $2${4:+ ($4)}" >&2
  await_answer "$1 proxy" "$last_pid" "$2" "$bench_dir/$1.log"
}

# await_answer NAME PID PORT LOG: returns once the process PID answers SQL on PORT; fails,
# with LOG's tail, when it exits first (its port taken, a bad configuration) or after 10 s.
await_answer() {
  for _ in $(seq 100); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$1 exited: $(tail -5 "$4")" >&2
      return 1
    fi
    mariadb -h127.0.0.1 -P"$3" -uapp -papp -e 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 did not answer on port $3: $(tail -5 "$4")" >&2
  return 1
}

# start_proxies: "proxy" with the defaults on PROXY_PORT, "alt" with ALT_YAML on ALT_PORT.
# Their pids: PROXY_PID, ALT_PID.
start_proxies() {
  start_proxy proxy "$PROXY_PORT" "$ADMIN_PORT" ""
  PROXY_PID=$last_pid
  start_proxy alt "$ALT_PORT" "$ALT_ADMIN_PORT" "$ALT_YAML"
  ALT_PID=$last_pid
}

# start_forwarder PORT: nginx's stream module on PORT as a plain L4 forwarder to the primary
# (what a proxy that does not read the protocol costs), one worker process; installs
# nginx-light and its stream module when missing. Its worker's pid: FORWARDER_PID.
start_forwarder() {
  port_free "$1" || return 1
  command -v nginx >/dev/null 2>&1 && [ -f /usr/lib/nginx/modules/ngx_stream_module.so ] \
    || apt_install nginx-light libnginx-mod-stream
  # The package starts a default server on port 80; only ours is wanted.
  systemctl stop nginx >/dev/null 2>&1 || true
  mkdir -p "$bench_dir/nginx"
  cat > "$bench_dir/nginx/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid $bench_dir/nginx/nginx.pid;
error_log $bench_dir/nginx/error.log;
events { worker_connections 8192; }
stream {
  server { listen 127.0.0.1:$1; proxy_pass 127.0.0.1:$PRIMARY_PORT; tcp_nodelay on; }
}
NGINX
  nginx -c "$bench_dir/nginx/nginx.conf" -p "$bench_dir/nginx" &
  proxy_pids="${proxy_pids:-} $!"
  local master=$!
  echo "forwarder: nginx stream, pid $master port $1" >&2
  await_answer nginx "$master" "$1" "$bench_dir/nginx/error.log" || return 1
  # It answers through its worker, whose CPU time is the forwarder's.
  FORWARDER_PID=$(pgrep -P "$master" | head -1)
}

# cpu_ticks PID: the process's user + system CPU time in clock ticks ("-" without a PID).
cpu_ticks() {
  if [ -z "$1" ]; then echo -; return; fi
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# replica_caught_up: waits until the dev cluster's replica has applied everything the primary
# has (e.g. the tables sysbench just prepared), before anything reads them there.
replica_caught_up() {
  local pos
  pos=$(mariadb -h127.0.0.1 -P"$PRIMARY_PORT" -uroot -N -e "SELECT @@GLOBAL.gtid_binlog_pos")
  mariadb -h127.0.0.1 -P"$REPLICA_PORT" -uroot -N -e "SELECT MASTER_GTID_WAIT('$pos', 120)" >/dev/null
}

# qps: the queries per second of sysbench's output on stdin.
qps() { awk '/queries:/ { gsub(/\(/, "", $3); print $3 }'; }

# sb PORT TEST THREADS ACTION [ARGS...]: sysbench TEST with THREADS threads against PORT, on
# TABLES tables of TABLE_SIZE rows, for TIME seconds (set by the script).
sb() {
  local port=$1 test=$2 threads=$3 action=$4
  shift 4
  sysbench "$test" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
    --mysql-user=app --mysql-password=app --mysql-db=app \
    --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$threads" --time="$TIME" \
    --report-interval=0 "$@" "$action"
}

# queries, p95: the query count and the 95th percentile latency of sysbench's output on stdin.
queries() { awk '/queries:/ { print $2 }'; }
p95() { awk '/95th percentile:/ { print $3 }'; }

# run PORT PID TEST THREADS ARGS...: sysbench's output, then a last line "CPU_US_PER_QUERY" for
# the process PID (empty PID: "-").
run() {
  local port=$1 pid=$2 before after out
  shift 2
  before=$(cpu_ticks "$pid")
  out=$(sb "$port" "$1" "$2" run "${@:3}")
  after=$(cpu_ticks "$pid")
  echo "$out"
  awk -v b="$before" -v a="$after" -v q="$(queries <<<"$out")" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (b == "-" || q == 0) print "-"; else printf "%.1f\n", (a - b) * 1e6 / hz / q }'
}
