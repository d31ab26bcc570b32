#!/usr/bin/env bash
# The dev cluster on its own: `scripts/dev-cluster.sh up|down|status`.
# Data lives in .dev/cluster (git-ignored); `down` keeps it for the next `up`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages
cargo build -q --release -p splitrail-testbed --bin splitrail-devcluster
exec target/release/splitrail-devcluster "$@"
