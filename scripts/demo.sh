#!/bin/bash
# demo.sh - the main job: build pqike and run `pqike demo`, an IKEv2 initiator and responder in one
# process over loopback UDP, negotiating a hybrid post-quantum IKE SA (X25519 + ML-KEM-768 in an
# IKE_INTERMEDIATE round) and a Child SA. No root, no configuration. Extra arguments go to
# `pqike demo` (e.g. --proposal aes256gcm16-prfsha384-mlkem768).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "demo.sh: cargo not found: install Rust (rustup) first" >&2; exit 1; }
cargo build --release --quiet -p pqike-daemon --bin pqike
exec target/release/pqike demo "$@"
