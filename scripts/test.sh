#!/bin/bash
# test.sh - the whole pqike test suite, from a fresh Debian bookworm machine.
#
#   scripts/test.sh            everything: set-up, lint, unit/property/KAT/simulation tests,
#                              tshark dissection, and the interop suite against real peers
#   scripts/test.sh --quick    no set-up and no interop (for a developer's edit-test loop)
#
# Set-up (scripts/setup.sh: apt packages, strongSwan/libreswan chroots) and the interop suite need
# root. When CI=true a missing prerequisite is a failure, never a skip; outside CI a non-root run
# skips them with a message saying so.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
CI=${CI:-false}

failed=()
stage() {   # stage NAME CMD... : run one stage, remember failures, keep going
    local name=$1; shift
    echo
    echo "=== $name"
    local t0=$SECONDS
    if "$@"; then echo "=== $name: ok ($((SECONDS - t0)) s)"
    else echo "=== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi
}

need_root() {   # need_root WHAT: true if we may run WHAT; in CI without root that is a failure
    if [ "$IS_ROOT" = 1 ]; then return 0; fi
    if [ "$CI" = true ]; then echo "CI=true but not root: cannot run $1" >&2; failed+=("$1 (needs root)"); return 1; fi
    echo "not root: skipping $1 (run as root to include it)"; return 1
}

# Rust toolchain components the lint stage needs (rustup ships them; this only adds what is missing).
ensure_components() {
    command -v rustup >/dev/null || return 0
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
}

if [ "$QUICK" = 0 ] && need_root "set-up (apt packages, peer chroots)"; then
    stage "set-up" "$HERE/setup.sh"
fi
stage "toolchain" ensure_components
stage "rustfmt" cargo fmt --all -- --check
stage "clippy" cargo clippy --workspace --all-targets --release -- -D warnings
stage "build" cargo build --workspace --release --bins
stage "cargo test" cargo test --workspace --release
if [ "$QUICK" = 0 ] && need_root "interop suite (network namespaces, real peers)"; then
    stage "interop" "$ROOT/tests/interop/run.sh"
    # pqiked <-> pqiked where no packaged peer has the mechanism (ML-DSA / SLH-DSA with OpenSSL
    # cross-checks, RFC 4739 + RFC 9867 + RFC 9593 together, RFC 9867 PPK in CREATE_CHILD_SA)
    stage "interop pqiked pair (PQ auth, RFC 9867)" "$ROOT/tests/interop/pqauth_pair.sh"
    stage "interop matrix (CI subset)" "$ROOT/tests/interop/matrix-ci.sh"
fi

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "test.sh: all stages passed"
    exit 0
fi
echo "test.sh: FAILED stages: ${failed[*]}"
exit 1
