#!/usr/bin/env bash
# Runs the protocol crate's libFuzzer targets (crates/protocol/fuzz/). See docs/fuzzing.md.
#
#   scripts/fuzz.sh build            build every target (nightly, ASan + coverage flags)
#   scripts/fuzz.sh ci [SECONDS [ARGS]] every target SECONDS (default 25) from the repo corpus;
#                                    a crash fails the run and prints the input (hex + base64)
#   scripts/fuzz.sh long [RUNS [T..]] every target (or T..) RUNS executions (default 10000000), one at a
#                                    time, in target/fuzz/long/; prints a figures table
#                                    (FUZZ_MAX_TIME=SECONDS also bounds each target's time)
#   scripts/fuzz.sh seed             rebuild corpus/ from the MariaDB captures (seed.py), minimized
#                                    with -merge=1
#   scripts/fuzz.sh merge [T..]      fold what `long` found into corpus/, minimized with -merge=1
#                                    (units cut to FUZZ_MERGE_MAX_LEN, 512 bytes)
#   scripts/fuzz.sh run TARGET ARGS  one target with libFuzzer ARGS (e.g. a crash file to replay)
#
# No cargo-fuzz needed: the targets are built with `cargo +nightly` and the RUSTFLAGS cargo-fuzz
# would pass, which is what a fresh CI machine already has (see docs/fuzzing.md for the timings).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

FUZZ=crates/protocol/fuzz
TARGETS=(framing handshake command response tracker auth)
TRIPLE=x86_64-unknown-linux-gnu
BIN="$FUZZ/target/$TRIPLE/release"
WORK=target/fuzz

build() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "the fuzz targets need a nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
  fi
  command -v c++ >/dev/null 2>&1 || apt_install g++ # libfuzzer-sys compiles libFuzzer
  # The flags cargo-fuzz uses by default; --target keeps them off build scripts and proc macros.
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address \
-Cdebug-assertions -Coverflow-checks" \
    cargo +nightly build --manifest-path "$FUZZ/Cargo.toml" --target-dir "$FUZZ/target" --release --locked \
    --target "$TRIPLE" --bins
}

# Prints every crash/timeout/leak input libFuzzer left in DIR, as hex and base64.
print_artifacts() {
  local f
  for f in "$1"/*; do
    [ -f "$f" ] || continue
    echo "---- $f ($(wc -c <"$f") bytes)"
    echo "hex:    $(od -An -v -tx1 "$f" | tr -d ' \n')"
    echo "base64: $(base64 -w0 "$f")"
    echo "replay: scripts/fuzz.sh run $(basename "$(dirname "$f")") $f"
  done
}

# Runs TARGET with the repo corpus as read-only seeds (new units go to NEW); extra args follow.
fuzz_one() {
  local t=$1 new=$2
  shift 2
  local art="$WORK/artifacts/$t"
  rm -rf "$art"
  mkdir -p "$art" "$new" "$FUZZ/corpus/$t"
  if ! "$BIN/$t" "$new" "$FUZZ/corpus/$t" -artifact_prefix="$art/" -timeout=10 \
      -print_final_stats=1 "$@" 2>"$WORK/$mode-$t.log"; then
    tail -n 40 "$WORK/$mode-$t.log" >&2
    echo "fuzz target $t FAILED; inputs:" >&2
    print_artifacts "$art" >&2
    return 1
  fi
}

# One figures row from a finished run's log: TARGET LOG SECONDS.
figures() {
  local t=$1 log=$2 secs=$3 done
  done=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1)
  printf '| %s | %s | %s | %ss | %s | %s | %s | 0 |\n' "$t" \
    "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
    "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")" "$secs" \
    "$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$done")" \
    "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done")" \
    "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done")"
}

merge_into_corpus() {
  local t=$1
  shift
  local tmp="$WORK/merge/$t"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Units are cut to 512 bytes: the repo's corpus stays small (a few hundred KB for all
  # targets) at the cost of a few features of the longest inputs.
  "$BIN/$t" -merge=1 -max_len="${FUZZ_MERGE_MAX_LEN:-512}" "$tmp" "$@" 2>"$WORK/$t.merge.log"
  rm -rf "$FUZZ/corpus/$t"
  mkdir -p "$FUZZ/corpus"
  mv "$tmp" "$FUZZ/corpus/$t"
  echo "$t: $(find "$FUZZ/corpus/$t" -type f | wc -l) files, $(du -sb "$FUZZ/corpus/$t" | cut -f1) bytes"
}

mode=${1:-ci}
shift || true
mkdir -p "$WORK"
case "$mode" in
  build) build ;;
  ci)
    secs=${1:-25}
    shift || true
    build
    failed=0
    for t in "${TARGETS[@]}"; do
      rm -rf "$WORK/ci-new/$t"
      if fuzz_one "$t" "$WORK/ci-new/$t" -max_total_time="$secs" "$@"; then
        echo "fuzz $t: $(grep -E '^#[0-9]+.*DONE' "$WORK/$mode-$t.log" | tail -n 1)"
      else
        failed=1
      fi
    done
    exit "$failed"
    ;;
  long)
    runs=${1:-10000000}
    [ $# -le 1 ] || TARGETS=("${@:2}")
    build
    echo "| target | executions | exec/s | time | corpus (units/bytes) | cov | ft | crashes |"
    echo "|---|---|---|---|---|---|---|---|"
    for t in "${TARGETS[@]}"; do
      start=$(date +%s)
      fuzz_one "$t" "$WORK/long/$t" -runs="$runs" ${FUZZ_MAX_TIME:+-max_total_time=$FUZZ_MAX_TIME}
      figures "$t" "$WORK/$mode-$t.log" "$(( $(date +%s) - start ))"
    done
    ;;
  seed)
    build
    rm -rf "$WORK/seeds"
    python3 "$FUZZ/seed.py" "$WORK/seeds"
    for t in "${TARGETS[@]}"; do merge_into_corpus "$t" "$WORK/seeds/$t"; done
    ;;
  merge)
    [ $# -eq 0 ] || TARGETS=("$@")
    build
    for t in "${TARGETS[@]}"; do
      mkdir -p "$WORK/long/$t"
      cp -r "$FUZZ/corpus/$t" "$WORK/merge-old-$t"
      merge_into_corpus "$t" "$WORK/merge-old-$t" "$WORK/long/$t"
      rm -rf "$WORK/merge-old-$t"
    done
    ;;
  run)
    t=$1
    shift
    "$BIN/$t" "$@"
    ;;
  *)
    echo "usage: scripts/fuzz.sh build|ci [SECONDS]|long [RUNS]|seed|merge|run TARGET ARGS" >&2
    exit 2
    ;;
esac
