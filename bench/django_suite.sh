#!/usr/bin/env bash
# Benchmark, not a test: Django's own test suite (the modules in MODULES, from the source of the
# Django version examples/django's venv runs) directly against the dev cluster's primary and
# through two proxies, printing wall time, the suite's verdict, the ratio proxy/direct and, for
# the proxies, causal waits and reads that fell back to the primary
# (`splitrail_consistency_waits_total`, `…_primary_fallbacks_total`).
#
#   bench/django_suite.sh
#   MODULES="schema migrations" bench/django_suite.sh
#
# Test databases are created and dropped by the suite (test_default, test_other): DDL, then
# reads at once, as every test suite and migration does. "proxy" runs with the defaults, "alt"
# with ALT_YAML (default `pool: { pipeline: false }`). The Django source is downloaded from PyPI
# once, into target/django-src.
set -euo pipefail
cd "$(dirname "$0")/.."
MODULES=${MODULES:-"basic queries lookup aggregation expressions model_fields many_to_one
  select_related transactions schema migrations backends"}
ALT_YAML=${ALT_YAML:-"pool: { pipeline: false }"}

source bench/lib.sh
start_proxies
django_venv
version=$($py -c 'import django; print(django.__version__)')
src=target/django-src/django-$version
if [ ! -d "$src/tests" ]; then
  mkdir -p target/django-src
  $py -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    -d target/django-src "Django==$version"
  tar -C target/django-src -xzf "target/django-src/django-$version.tar.gz"
fi

# settings PORT: a settings module for the suite against PORT.
settings() {
  local name=splitrail_$1
  cat > "$src/tests/$name.py" <<PY
def db(name):
    return {
        "ENGINE": "django.db.backends.mysql", "HOST": "127.0.0.1", "PORT": $1,
        "USER": "app", "PASSWORD": "app", "NAME": name, "TEST": {"NAME": "test_" + name},
    }
DATABASES = {"default": db("default"), "other": db("other")}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
PY
  echo "$name"
}

# metric ADMIN_PORT NAME: the metric's value.
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

printf '%-6s %8s %-28s %6s %6s %9s\n' run seconds verdict ratio waits fallbacks
direct=
for run in direct:13306: proxy:$PROXY_PORT:$ADMIN_PORT alt:$ALT_PORT:$ALT_ADMIN_PORT; do
  IFS=: read -r name port admin <<<"$run"
  mod=$(settings "$port")
  w0=; f0=
  [ -n "$admin" ] && w0=$(metric "$admin" splitrail_consistency_waits_total) &&
    f0=$(metric "$admin" splitrail_consistency_primary_fallbacks_total)
  start=$(date +%s.%N)
  # shellcheck disable=SC2086 # MODULES is a word list
  (cd "$src/tests" && $py runtests.py --settings="$mod" --parallel=1 --noinput $MODULES) \
    >"$bench_dir/$name.out" 2>&1 || true
  end=$(date +%s.%N)
  secs=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
  verdict=$(grep -E '^(OK|FAILED)' "$bench_dir/$name.out" | tail -1 | tr -d ' ')
  direct=${direct:-$secs}
  waits=-; fallbacks=-
  if [ -n "$admin" ]; then
    waits=$(( $(metric "$admin" splitrail_consistency_waits_total) - w0 ))
    fallbacks=$(( $(metric "$admin" splitrail_consistency_primary_fallbacks_total) - f0 ))
  fi
  printf '%-6s %8s %-28s %6s %6s %9s\n' "$name" "$secs" "${verdict:-no-verdict}" \
    "$(ratio "$secs" "$direct")" "$waits" "$fallbacks"
  cp "$bench_dir/$name.out" "target/django-suite-$name.log"
done
echo "suite output: target/django-suite-{direct,proxy,alt}.log"
