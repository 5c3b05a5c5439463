#!/bin/bash
# fuzz.sh - run one cargo-fuzz target for a while.
#
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER_ARGS...]
#   scripts/fuzz.sh decode_message 600
#   scripts/fuzz.sh responder_datagram 600 -max_len=4096
#
# Targets live in fuzz/fuzz_targets (decode_message, responder_datagram, esp_decap). The corpus grows in
# fuzz/corpus/TARGET and crashes land in fuzz/artifacts/TARGET (both ignored by git); re-run a
# crash with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`.
# Needs the nightly toolchain; installs cargo-fuzz if it is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
if [ $# -lt 2 ]; then sed -n '2,12p' "$0"; exit 2; fi
TARGET=$1; SECONDS_TO_RUN=$2; shift 2

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz

cd "$ROOT/fuzz"
mkdir -p "corpus/$TARGET" "artifacts/$TARGET"
exec cargo +nightly fuzz run "$TARGET" "corpus/$TARGET" -- \
    -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 "$@"
