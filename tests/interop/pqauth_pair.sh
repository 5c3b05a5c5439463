#!/bin/bash
# tests/interop/pqauth_pair.sh - pqiked <-> pqiked with post-quantum certificates over real
# sockets in two network namespaces (no packaged peer does ML-DSA / SLH-DSA in IKEv2 yet),
# plus independent checks with OpenSSL >= 3.5 from the lab's trixie chroot:
#   * `openssl verify` accepts the chain `pqike pki` generated,
#   * every AUTH signature each pqiked emitted verifies with `openssl pkeyutl -verify -rawin`
#     over the SignedOctets pqiked logged at debug level (and fails on a flipped octet).
#
#   tests/interop/pqauth_pair.sh [KEYTYPE...]     default: ml-dsa-65 slh-dsa-sha2-128s ml-dsa-65+extras
#
# KEYTYPE+extras: PSK as first round and the KEYTYPE certificate as RFC 4739 second round of the
# initiator, a required PPK mixed in IKE_INTERMEDIATE (RFC 9867) after ML-KEM-768, and RFC 9593
# SUPPORTED_AUTH_METHODS on both sides; asserts both daemons' log lines for each and OpenSSL's
# verdict on the initiator's ML-DSA AUTH signature.
#
# Env: PQIKED_BIN / PQIKE_BIN (default target/release/...), PQIKE_LAB_RUN, PROPOSALS
# (default aes256gcm16-prfsha384-x25519-ke1_mlkem768), OPENSSL_ROOT (chroot with OpenSSL 3.5+,
# default $PQIKE_LAB_ROOT/trixie), MTU (default 1500; IKE_AUTH fragments at 1280 anyway),
# PAIR_DAEMON_EXTRA ([daemon] TOML of both pqiked; default raises max_fragments to 255 and
# max_message_size to 400000, which SLH-DSA-*f chains need; set it empty to see the default
# limit refuse them with a "fragments exceed the limit" warning).
# Namespace prefix "pqp" (pqpA / pqpB), instances pqp-a / pqp-b: does not collide with run.sh.
# Output: "ok   NAME" / "FAIL NAME: reason" per key type, last line "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB="$REPO/lab"
. "$LAB/common.sh"

[ "$(id -u)" = 0 ] || { echo "pqauth_pair: needs root (namespaces)"; exit 0; }
export PQIKED_BIN=${PQIKED_BIN:-$REPO/target/release/pqiked}
export PQIKE_BIN=${PQIKE_BIN:-$REPO/target/release/pqike}
OPENSSL_ROOT=${OPENSSL_ROOT:-$PQIKE_LAB_ROOT/trixie}
NS=pqp IA=pqp-a IB=pqp-b
TYPES=("$@"); [ ${#TYPES[@]} -gt 0 ] || TYPES=(ml-dsa-65 slh-dsa-sha2-128s ml-dsa-65+extras)
OUT="$PQIKE_LAB_RUN/results/pqauth-pair"

ossl() { chroot "$OPENSSL_ROOT" openssl "$@"; }

cleanup() {
    "$LAB/pqiked.sh" $IA stop >/dev/null 2>&1 || true
    "$LAB/pqiked.sh" $IB stop >/dev/null 2>&1 || true
    "$LAB/netns.sh" down $NS >/dev/null 2>&1 || true
}
trap cleanup EXIT

# hex of the last line matching $2 in log $1 (the value after the last ": ")
log_hex() { grep -E "$2" "$1" | tail -n1 | sed -E 's/\x1b\[[0-9;]*m//g; s/.*: ([0-9a-f]+)( sa=[0-9]+)?$/\1/'; }

# verify_auth LOG SIDE(initiator|responder) CERT: the signature SIDE made over its SignedOctets
verify_auth_sig() {
    local log=$1 side=$2 cert=$3 w=$4 so sig
    so=$(log_hex "$log" "$side SignedOctets \(")
    sig=$(log_hex "$log" "AUTH: RFC 7427 digital signature with")
    [ -n "$so" ] && [ -n "$sig" ] || { echo "no SignedOctets/signature in $log"; return 1; }
    echo "$so" | xxd -r -p > "$w/$side.signed"
    echo "$sig" | xxd -r -p > "$w/$side.sig"
    # the chroot sees the host's $w only through a bind mount: copy into it instead
    local c="$OPENSSL_ROOT/tmp/pqauth-$side"; rm -rf "$c"; mkdir -p "$c"
    cp "$w/$side.signed" "$w/$side.sig" "$c/"; cp "$cert" "$c/cert.pem"
    ossl x509 -in "/tmp/pqauth-$side/cert.pem" -pubkey -noout > "$c/pub.pem" || { echo "cannot read $cert"; return 1; }
    ossl pkeyutl -verify -pubin -inkey "/tmp/pqauth-$side/pub.pem" -rawin \
        -in "/tmp/pqauth-$side/$side.signed" -sigfile "/tmp/pqauth-$side/$side.sig" \
        > "$w/$side.openssl" 2>&1 || { echo "openssl rejects the $side AUTH signature: $(cat "$w/$side.openssl")"; return 1; }
    # the check must be able to fail: one flipped octet of SignedOctets
    python3 -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[len(d)//2]^=1; open(sys.argv[1],"wb").write(d)' "$c/$side.signed"
    if ossl pkeyutl -verify -pubin -inkey "/tmp/pqauth-$side/pub.pem" -rawin \
        -in "/tmp/pqauth-$side/$side.signed" -sigfile "/tmp/pqauth-$side/$side.sig" >/dev/null 2>&1; then
        echo "openssl accepted a signature over modified SignedOctets"; return 1
    fi
    echo "$side: $(cat "$w/$side.openssl") ($(stat -c %s "$w/$side.sig")-octet signature over $(stat -c %s "$w/$side.signed") octets)" >> "$w/steps.log"
    rm -rf "$c"
}

run_one() {
    local kt=$1 w="$OUT/$1"
    rm -rf "$w"; mkdir -p "$w"
    "$PQIKE_BIN" pki --out "$w/pki" --type "${kt%+extras}" --intermediates 1 --ee a.example --ee b.example >> "$w/steps.log" 2>&1 \
        || { echo "pqike pki failed"; return 1; }
    # independent chain check
    local c="$OPENSSL_ROOT/tmp/pqauth-pki"; rm -rf "$c"; cp -r "$w/pki" "$c"
    for ee in a.example b.example; do
        ossl verify -CAfile /tmp/pqauth-pki/ca.pem -untrusted /tmp/pqauth-pki/int1.pem "/tmp/pqauth-pki/$ee.pem" >> "$w/steps.log" 2>&1 \
            || { echo "openssl verify rejects $ee.pem"; rm -rf "$c"; return 1; }
    done
    # a certificate from a foreign chain must not verify (the check can fail)
    if ossl verify -CAfile /tmp/pqauth-pki/int1.pem /tmp/pqauth-pki/ca.pem >/dev/null 2>&1; then
        echo "openssl verify accepted the root against the intermediate"; rm -rf "$c"; return 1
    fi
    rm -rf "$c"
    MTU=${MTU:-1500} "$LAB/netns.sh" up $NS >> "$w/steps.log" 2>&1 || { echo "netns up failed"; return 1; }
    export AUTH=pubkey PKI="$w/pki" PROPOSALS=${PROPOSALS:-aes256gcm16-prfsha384-x25519-ke1_mlkem768}
    export PQIKED_LOG_LEVEL=debug
    # SLH-DSA-*f chains need more than the default 64 fragments (a -256f IKE_AUTH is ~127 at
    # 1280 octets): the documented knobs, raised for every key type here.
    export PQIKED_EXTRA=${PAIR_DAEMON_EXTRA-"max_fragments = 255
max_message_size = 400000"}
    if [ "${MODE:-}" = extras ]; then
        # PSK first round + ML-DSA second round (RFC 4739), PPK in IKE_INTERMEDIATE (RFC 9867)
        # with ML-KEM-768, RFC 9593 announcements on both sides
        export AUTH=psk
        local common="ppk_id = \"lab-ppk\"
ppk_required = true
ppk_intermediate = true
announce_auth_methods = true"
        export PQIKED_SECRETS_EXTRA="
[[secrets]]
kind = \"ppk\"
ids = [\"lab-ppk\"]
secret = \"0x9f3a5c7e1b2d4f6081a3c5e7092b4d6f8e1c3a5b7d9f0e2c4a6b8d0f1e3c5a7b\""
        PQIKED_CONN_EXTRA="$common
[connection.local2]
id = \"a.example\"
auth = \"pubkey\"
cert = \"$PKI/a.example.pem\"
key = \"$PKI/a.example.key.pem\"
intermediates = [\"$PKI/int1.pem\"]" "$LAB/pqiked.sh" $IA config a >> "$w/steps.log" 2>&1 \
        && PQIKED_CONN_EXTRA="$common
[connection.remote2]
id = \"a.example\"
auth = \"pubkey\"
cacerts = [\"$PKI/ca.pem\"]" "$LAB/pqiked.sh" $IB config b >> "$w/steps.log" 2>&1 \
        || { echo "config failed"; return 1; }
    else
        "$LAB/pqiked.sh" $IA config a >> "$w/steps.log" 2>&1 && "$LAB/pqiked.sh" $IB config b >> "$w/steps.log" 2>&1 \
            || { echo "config failed"; return 1; }
    fi
    "$LAB/pqiked.sh" $IA start ${NS}A >> "$w/steps.log" 2>&1 && "$LAB/pqiked.sh" $IB start ${NS}B >> "$w/steps.log" 2>&1 \
        || { echo "pqiked did not start"; return 1; }
    local la lb up_rc=0
    timeout 60 "$LAB/pqiked.sh" $IA ctl up lab >> "$w/steps.log" 2>&1 || up_rc=$?
    la="$("$LAB/pqiked.sh" $IA dir)/pqiked.log" lb="$("$LAB/pqiked.sh" $IB dir)/pqiked.log"
    sed 's/\x1b\[[0-9;]*m//g' "$la" > "$w/pqiked-a.log"; sed 's/\x1b\[[0-9;]*m//g' "$lb" > "$w/pqiked-b.log"
    [ $up_rc = 0 ] || { echo "pqike up lab failed: $(tail -n 1 "$w/steps.log"); $(grep -m1 WARN "$w/pqiked-b.log")"; return 1; }
    for side in IA IB; do
        timeout 10 "$LAB/pqiked.sh" ${!side} ctl status --json > "$w/status-$side.json" 2>&1
        python3 - "$w/status-$side.json" <<'PY' || { echo "$side: no established IKE SA with a Child SA"; return 1; }
import json, sys
sas = [s for s in json.load(open(sys.argv[1]))["ike_sas"] if s["name"] == "lab"]
assert len(sas) == 1 and sas[0]["state"].lower() == "established" and sas[0]["child_sas"], sas
PY
    done
    local scheme
    scheme=$(grep -oE "AUTH: RFC 7427 digital signature with [A-Za-z0-9-]+" "$w/pqiked-a.log" | head -n1 | awk '{print $NF}')
    [ -n "$scheme" ] || { echo "no RFC 7427 signature in A's log"; return 1; }
    [ "${MODE:-}" = extras ] || grep -qE "peer AUTH: $scheme signature verified" "$w/pqiked-a.log" || { echo "A did not verify B's $scheme AUTH"; return 1; }
    grep -qE "peer AUTH: $scheme signature verified" "$w/pqiked-b.log" || { echo "B did not verify A's $scheme AUTH"; return 1; }
    grep -qE "sending IKE_AUTH request .* in [0-9]+ fragments" "$w/pqiked-a.log" || { echo "IKE_AUTH request was not fragmented"; return 1; }
    verify_auth_sig "$w/pqiked-a.log" initiator "$w/pki/a.example.pem" "$w" || return 1
    if [ "${MODE:-}" = extras ]; then
        local re
        while IFS='|' read -r f re; do
            grep -qE -- "$re" "$w/pqiked-$f.log" || { echo "pqiked-$f.log lacks /$re/"; return 1; }
        done <<'EXPECT'
a|IKE_SA_INIT request 0 \[ .*N\(USE_PPK_INT\).*N\(SUPPORTED_AUTH_METHODS\)
a|PPK 'lab-ppk' mixed into all IKE SA keys in IKE_INTERMEDIATE \(RFC 9867\)
b|using PPK 'lab-ppk' for all IKE SA keys \(RFC 9867 IKE_INTERMEDIATE\)
a|peer accepts auth methods \(RFC 9593\): PSK
b|peer accepts auth methods \(RFC 9593\): PSK
a|sending IKE_AUTH request [0-9]+ \[ .*N\(ANOTHER_AUTH_FOLLOWS\)
b|first authentication round of a.example verified, waiting for the second \(RFC 4739\)
b|second authentication round of a.example verified \(RFC 4739\)
EXPECT
        python3 -c 'import json,sys; sa=json.load(open(sys.argv[1]))["ike_sas"][0]; assert sa["transforms"].get("ppk")=="lab-ppk", sa' "$w/status-IA.json" \
            || { echo "pqike status does not show the PPK"; return 1; }
    else
        verify_auth_sig "$w/pqiked-b.log" responder "$w/pki/b.example.pem" "$w" || return 1
    fi
    echo "$scheme" > "$w/scheme"
}

pass=0 failn=0
mkdir -p "$OUT"
for kt in "${TYPES[@]}"; do
    t0=$SECONDS
    MODE=""; case "$kt" in *+extras) MODE=extras ;; esac
    why=$(MODE=$MODE run_one "$kt")
    rc=$?
    cleanup
    if [ $rc = 0 ]; then
        pass=$((pass + 1)); echo "ok   pqike-pair-$kt ($(cat "$OUT/$kt/scheme"), $((SECONDS - t0))s; evidence $OUT/$kt)"
    else
        failn=$((failn + 1)); echo "FAIL pqike-pair-$kt: $why (evidence $OUT/$kt)"
    fi
done
echo "$pass passed, $failn failed"
[ $failn = 0 ]
