#!/bin/bash
# tests/interop/matrix-ci.sh - the CI subset of the interop matrix: the cases marked
# `ci = true` in interop/*.toml (one per peer and shape, plus the failure diagnostics),
# pqike in both roles, via `pqike-lab --ci` (= `pqike interop --ci`).
#
# Fails if any cell that is expected green is red; cells a peer cannot do ("not
# supported by peer") or pqike does not implement yet are listed, never failures.
# Needs root (network namespaces). Not root: fails under CI=true, else skips (exit 0).
# Env: PQIKE_MATRIX_OUT (default /tmp/pqike-matrix/ci), PQIKE_LAB_RUN (default
# /tmp/pqike-matrix). Extra arguments go to pqike-lab (e.g. --peer strongswan-6.1.0).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then echo "matrix-ci: must run as root (CI=true)"; exit 1; fi
    echo "matrix-ci: not root, skipping (needs network namespaces)"; exit 0
fi
cargo build --release -q -p pqike-daemon -p pqike-lab || { echo "matrix-ci: build failed"; exit 1; }
# own namespace prefix, so that a full `pqike interop` run (default prefix mx) can run meanwhile
exec target/release/pqike-lab --ci --prefix "${PQIKE_MATRIX_PREFIX:-mc}" \
    --out "${PQIKE_MATRIX_OUT:-/tmp/pqike-matrix/ci}" "$@"
