#!/usr/bin/env bash
# Runs the Django example against a MySQL server and checks that every write is visible to a
# read on a new connection right after it (see docs/django.md).
#
#   examples/django/check.sh                  # through the proxy on 127.0.0.1:6033 (scripts/run.sh)
#   DB_PORT=13306 examples/django/check.sh    # straight to the dev cluster's primary
#
# Environment: DB_HOST (127.0.0.1), DB_PORT (6033), DB_USER (app), DB_PASSWORD (app),
# DB_NAME (app), ITERATIONS (200), PYTHON (python3, for the venv; Django 5 needs 3.10+).
# Prints `N write-then-read pairs, M stale`; exits 1 when M > 0.
set -euo pipefail
cd "$(dirname "$0")"

export DB_HOST="${DB_HOST:-127.0.0.1}" DB_PORT="${DB_PORT:-6033}" DB_USER="${DB_USER:-app}"
export DB_PASSWORD="${DB_PASSWORD:-app}" DB_NAME="${DB_NAME:-app}"
ITERATIONS="${ITERATIONS:-200}"
PYTHON="${PYTHON:-python3}"

# mysqlclient is built from source: scripts/lib.sh installs what it needs (Debian/Ubuntu).
source ../../scripts/lib.sh
ensure_python_packages

# The venv (git-ignored) is reused; pip runs again only when requirements.txt changed.
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/requirements.installed
if ! cmp -s requirements.txt "$stamp" 2>/dev/null; then
  echo "check.sh: installing requirements.txt into examples/django/.venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$stamp"
fi

# Say plainly when nothing listens, instead of a long traceback from migrate.
.venv/bin/python - <<'PY'
import os, socket, sys
host, port = os.environ["DB_HOST"], int(os.environ["DB_PORT"])
try:
    socket.create_connection((host, port), timeout=3).close()
except OSError as err:
    sys.exit(f"check.sh: nothing answers on {host}:{port} ({err.strerror or err}). Start the proxy "
             "with scripts/run.sh, or set DB_PORT=13306 to use the dev cluster's primary directly.")
PY

echo "check.sh: Django against ${DB_USER}@${DB_HOST}:${DB_PORT}/${DB_NAME}" >&2
.venv/bin/python manage.py migrate --noinput -v 0
exec .venv/bin/python manage.py check_read_your_writes --iterations "$ITERATIONS"
