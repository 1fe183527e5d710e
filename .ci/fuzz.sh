#!/usr/bin/env bash
# CI: run each cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time,
# starting from the committed seeds (fuzz/corpus/<target>/); any crash,
# panic, timeout or out-of-memory fails the step and leaves the input that
# caused it in target/fuzz/artifacts/<target>/.
#
#   bash .ci/fuzz.sh                          # every target, 60 s each
#   FUZZ_SECONDS=600 bash .ci/fuzz.sh http_body
#
# Stable Rust is enough: with `--sanitizer none` cargo-fuzz needs no
# nightly flag. The first build (release, coverage-instrumented, with the
# server's dependencies) takes about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_INCREMENTAL=0

SECONDS_EACH="${FUZZ_SECONDS:-60}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"
WORK="$CARGO_TARGET_DIR/work"
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=(client_msgpack client_json http_body media_inspect)
fi

if ! command -v cargo-fuzz >/dev/null; then
  echo "ci: installing cargo-fuzz (about a minute)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

echo "ci: building the fuzz targets"
cargo fuzz build --sanitizer none
failed=()
for t in "${TARGETS[@]}"; do
  # Fresh inputs found here go to the scratch corpus, never into the
  # repository; the committed seeds are read alongside.
  mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t"
  echo "ci: fuzzing $t for ${SECONDS_EACH}s"
  if ! cargo fuzz run --sanitizer none "$t" "$WORK/corpus/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$WORK/artifacts/$t/" -print_final_stats=1 >"$WORK/$t.log" 2>&1; then
    echo "ci: FATAL: fuzz target $t failed; the input is in $WORK/artifacts/$t/, the log's end:" >&2
    tail -40 "$WORK/$t.log" >&2
    failed+=("$t")
  else
    grep -E '^Done [0-9]+ runs' "$WORK/$t.log" | sed "s/^/ci: $t: /" || true
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "ci: FATAL: fuzzing found crashes in: ${failed[*]} (reproduce: cargo fuzz run --sanitizer none TARGET INPUT)" >&2
  exit 1
fi
echo "ci: fuzzing passed (${TARGETS[*]})"
