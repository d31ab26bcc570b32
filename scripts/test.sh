#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, and the whole test suite (unit tests, and the
# integration tests, which start their own MariaDB servers on free 127.0.0.1 ports), then the
# Django example's check through the proxy (tests/django.rs), the Kubernetes manifests' check
# (scripts/check-kubernetes.py) and a short fuzz campaign.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages
cargo fmt --all --check
python3 scripts/check-compose.py
cargo clippy --workspace --all-targets -- -D warnings
mkdir -p target
cargo test --workspace 2>&1 | tee target/test-output.log
# The Kubernetes manifests (deploy/kubernetes/), against the API schemas, offline; the check
# first proves it refuses broken copies.
"$(ensure_kubernetes_validate)" scripts/check-kubernetes.py --self-test \
  --splitrail "${CARGO_TARGET_DIR:-target}/debug/splitrail"
# The Django example through the proxy (installs Django and mysqlclient into a venv the first
# time; about a minute then, seconds after).
cargo test --test django -- --ignored 2>&1 | tee -a target/test-output.log
# A short fuzz campaign: every protocol fuzz target 20 s from the corpus in the repo; a crash
# fails the run and prints the input (about 3 minutes with the build; see docs/fuzzing.md).
scripts/fuzz.sh ci 20
# One closing line for the whole run (the last crate's doc-tests may otherwise close on "0 passed").
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' \
  target/test-output.log
