#!/usr/bin/env bash
# Starts the dev cluster (MariaDB primary 127.0.0.1:13306 + replica 127.0.0.1:13307, user app/app)
# and the proxy in the foreground on 127.0.0.1:6033 with ./proxy.yaml (admin on 127.0.0.1:6034).
# Then: mariadb -h127.0.0.1 -P6033 -uapp -papp
# The cluster keeps running after the proxy stops: `scripts/dev-cluster.sh down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages
cargo build --release -p splitrail -p splitrail-testbed --bins
target/release/splitrail-devcluster up
exec target/release/splitrail --config proxy.yaml "$@"
