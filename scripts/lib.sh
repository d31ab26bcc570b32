# Shared by the scripts in this folder (and examples/django/check.sh): installs what the project
# needs on Debian/Ubuntu.

# Runs apt-get install for the packages given, as root or through sudo.
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing $* (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# What the Django example needs to build its venv: Python with venv and headers, and for
# mysqlclient (built from source by pip) a C compiler, pkg-config and the MariaDB client library
# headers. `PYTHON` (python3) is the interpreter to check.
ensure_python_packages() {
  local need=() python="${PYTHON:-python3}"
  command -v "$python" >/dev/null 2>&1 || need+=(python3)
  "$python" -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  "$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    >/dev/null 2>&1 || need+=(python3-dev)
  command -v cc >/dev/null 2>&1 || need+=(gcc)
  command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
  if ! pkg-config --exists mysqlclient 2>/dev/null && ! pkg-config --exists mariadb 2>/dev/null \
      && ! pkg-config --exists libmariadb 2>/dev/null; then
    need+=(libmariadb-dev)
  fi
  if [ "${#need[@]}" -gt 0 ]; then
    apt_install "${need[@]}"
  fi
}

# Installs MariaDB (server + client), sysbench, Chromium (tests/dashboard.rs loads the admin
# dashboard in it, headless) and the Django example's build needs from the distribution when
# missing.
ensure_packages() {
  local need=()
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  # mariadb-binlog (tests/replication_clients.rs) is in mariadb-client, not -client-core.
  { command -v mariadb >/dev/null 2>&1 && command -v mariadb-binlog >/dev/null 2>&1; } \
    || need+=(mariadb-client)
  command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if [ "${#need[@]}" -gt 0 ]; then
    apt_install "${need[@]}"
  fi
  ensure_python_packages
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust with rustup (https://rustup.rs) and re-run" >&2
    exit 1
  fi
}

# A venv with kubernetes-validate (the Kubernetes API's JSON schemas, bundled: it checks offline)
# for scripts/check-kubernetes.py; prints the venv's python. Made once under target/.
ensure_kubernetes_validate() {
  local venv=target/kubernetes-venv
  if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' >/dev/null 2>&1; then
    ensure_python_packages
    echo "installing kubernetes-validate into $venv (pip)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'kubernetes-validate==1.37.0' >&2
  fi
  echo "$venv/bin/python"
}
