#!/bin/bash
# tests/interop/pqauth_pair.sh - pqiked <-> pqiked with post-quantum certificates over real
# sockets in two network namespaces (no packaged peer does ML-DSA / SLH-DSA in IKEv2 yet),
# plus independent checks with OpenSSL >= 3.5 from the lab's trixie chroot:
#   * `openssl verify` accepts the chain `pqike pki` generated,
#   * every AUTH signature each pqiked emitted verifies with `openssl pkeyutl -verify -rawin`
#     over the SignedOctets pqiked logged at debug level (and fails on a flipped octet).
#
#   tests/interop/pqauth_pair.sh [KEYTYPE...|ppk-child...]
#       default: ml-dsa-65 slh-dsa-sha2-128s ml-dsa-65+extras ppk-child-a ppk-child-b
#                ppk-child-oneside-offer ppk-child-oneside-nooffer
#
# KEYTYPE+extras: PSK as first round and the KEYTYPE certificate as RFC 4739 second round of the
# initiator, a required PPK mixed in IKE_INTERMEDIATE (RFC 9867) after ML-KEM-768, and RFC 9593
# SUPPORTED_AUTH_METHODS on both sides; asserts both daemons' log lines for each and OpenSSL's
# verdict on the initiator's ML-DSA AUTH signature.
#
# ppk-child-*: RFC 9867 PPK in CREATE_CHILD_SA between the two pqiked (PSK, ML-KEM-768, a
# required PPK in IKE_INTERMEDIATE; no certificates, no OpenSSL). One side (the "rekeyer") has
# short lifetimes (child_rekey_time 4 s, IKE rekey_time 10 s, jitter 1 s), the other the
# defaults, so every CREATE_CHILD_SA is started by the rekeyer; the case waits for >= 2 Child SA
# rekeys and an IKE SA rekey followed by a further Child SA rekey on the new IKE SA, then checks
# both logs, a ping through the tunnel (pqiked's userspace data plane) and `pqike status` of
# both (one IKE SA "lab" established, with a Child SA).
#   ppk-child-a        both have ppk_create_child, A (IKE_SA_INIT initiator) rekeys; ESP
#                      without PFS (KEYMAT = prf+(SK_d', Ni | Nr))
#   ppk-child-b        the same, B (IKE_SA_INIT responder) rekeys; ESP with PFS x25519 +
#                      ML-KEM-768 (RFC 9370 IKE_FOLLOWUP_KE in the child rekeys too)
#   ppk-child-oneside-offer    only the rekeyer (A) has ppk_create_child: B still accepts the
#                      offered PPK (it negotiated USE_PPK_INT; ppk_create_child only controls
#                      offering), so every rekey uses it
#   ppk-child-oneside-nooffer  only B has ppk_create_child, A rekeys: A offers nothing, every
#                      rekey runs without PPK (no PPK_IDENTITY_KEY / PPK_IDENTITY on the wire,
#                      no "mixed into" line; B logs "peer offered no PPK ... without PPK" for
#                      each), the SAs stay up
#
# Env: PQIKED_BIN / PQIKE_BIN (default target/release/...), PQIKE_LAB_RUN, PROPOSALS
# (default aes256gcm16-prfsha384-x25519-ke1_mlkem768), OPENSSL_ROOT (chroot with OpenSSL 3.5+,
# default $PQIKE_LAB_ROOT/trixie), MTU (default 1500; IKE_AUTH fragments at 1280 anyway),
# PAIR_DAEMON_EXTRA ([daemon] TOML of both pqiked; default raises max_fragments to 255 and
# max_message_size to 400000, which SLH-DSA-*f chains need; set it empty to see the default
# limit refuse them with a "fragments exceed the limit" warning).
# Namespace prefix "pqp" (pqpA / pqpB), instances pqp-a / pqp-b: does not collide with run.sh.
# With INTEROP_NS=X (run.sh's prefix) the prefix is "Xp" (PAIR_NS overrides it), so two labs
# can run at once when each also has its own PQIKE_LAB_RUN.
# Output: "ok   NAME" / "FAIL NAME: reason" per key type, last line "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB="$REPO/lab"
. "$LAB/common.sh"

if [ "$(id -u)" != 0 ]; then
    # in CI a missing prerequisite is a failure, never a skip
    [ "${CI:-false}" = true ] && { echo "pqauth_pair: CI=true but not root (needs namespaces)"; exit 1; }
    echo "pqauth_pair: needs root (namespaces); skipped"; exit 0
fi
export PQIKED_BIN=${PQIKED_BIN:-$REPO/target/release/pqiked}
export PQIKE_BIN=${PQIKE_BIN:-$REPO/target/release/pqike}
OPENSSL_ROOT=${OPENSSL_ROOT:-$PQIKE_LAB_ROOT/trixie}
NS=${PAIR_NS:-${INTEROP_NS:-pq}p}
IA=$NS-a IB=$NS-b
TYPES=("$@"); [ ${#TYPES[@]} -gt 0 ] || TYPES=(ml-dsa-65 slh-dsa-sha2-128s ml-dsa-65+extras
    ppk-child-a ppk-child-b ppk-child-oneside-offer ppk-child-oneside-nooffer)
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
a|IKE_SA_INIT request 0 \[ .*N\(USE_PPK_INT\).*N\(AUTH_METHODS\)
a|PPK 'lab-ppk' mixed into all IKE SA keys in IKE_INTERMEDIATE \(RFC 9867\)
b|using PPK 'lab-ppk' for all IKE SA keys \(RFC 9867 IKE_INTERMEDIATE\)
a|peer accepts auth methods \(RFC 9593\): PSK
b|peer accepts auth methods \(RFC 9593\): PSK
a|sending IKE_AUTH request [0-9]+ \[ .*N\(AUTH_FOLLOWS\)
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

# ---------------------------------------------------------------------------------------
# ppk-child-*: RFC 9867 PPK in CREATE_CHILD_SA (see the header). $1 = variant name.
PPK_CHILD_RE="PPK 'lab-ppk' mixed into CHILD_SA [0-9a-f]{8}_i [0-9a-f]{8}_o keys in CREATE_CHILD_SA \(RFC 9867\)"
PPK_IKE_RE="PPK 'lab-ppk' mixed into the new IKE SA [0-9]+ keys in CREATE_CHILD_SA \(RFC 9867\)"
IKE_REKEYED_RE="IKE_SA lab rekeyed: new IKE SA [0-9]+"
CHILD_UP_RE="CHILD_SA net established with SPIs"

# log_after LOG RE1 RE2 N: RE2 matches at least N lines after the first line matching RE1
log_after() {
    local first
    first=$(grep -nE -- "$2" "$1" | head -n1 | cut -d: -f1)
    [ -n "$first" ] && [ "$(grep -nE -- "$3" "$1" | cut -d: -f1 | awk -v f="$first" '$1 > f' | wc -l)" -ge "$4" ]
}

run_ppkchild() {
    local v=$1 w="$OUT/$1" rekeyer=a offer_a=true offer_b=true esp=aes256gcm16 used=1
    case "$v" in
        ppk-child-a) ;;
        ppk-child-b) rekeyer=b esp=aes256gcm16-x25519-ke1_mlkem768 ;;
        ppk-child-oneside-offer) offer_b=false ;;
        ppk-child-oneside-nooffer) offer_a=false used=0 ;;
        *) echo "unknown variant $v"; return 1 ;;
    esac
    local other=b; [ $rekeyer = b ] && other=a
    rm -rf "$w"; mkdir -p "$w"
    MTU=${MTU:-1500} "$LAB/netns.sh" up $NS >> "$w/steps.log" 2>&1 || { echo "netns up failed"; return 1; }
    export AUTH=psk PROPOSALS=${PROPOSALS:-aes256gcm16-prfsha384-x25519-ke1_mlkem768} ESP=$esp
    export PQIKED_LOG_LEVEL=debug PQIKED_EXTRA=""
    export PQIKED_SECRETS_EXTRA="
[[secrets]]
kind = \"ppk\"
ids = [\"lab-ppk\"]
secret = \"0x9f3a5c7e1b2d4f6081a3c5e7092b4d6f8e1c3a5b7d9f0e2c4a6b8d0f1e3c5a7b\""
    # the PPK of the IKE SA comes from IKE_INTERMEDIATE (RFC 9867 §3), required on both sides
    local common="ppk_id = \"lab-ppk\"
ppk_required = true
ppk_intermediate = true"
    # the rekeyer: Child SA rekey every 3-4 s, IKE SA every 9-10 s; hard lifetimes well above,
    # so a rekey that waits behind another exchange never meets a hard expiry
    local fast="child_rekey_time = 4
child_life_time = 12
rekey_time = 10
life_time = 30
rand_time = 1"
    local ca="$common
ppk_create_child = $offer_a" cb="$common
ppk_create_child = $offer_b"
    if [ $rekeyer = a ]; then ca="$ca
$fast"; else cb="$cb
$fast"; fi
    PQIKED_CONN_EXTRA="$ca" "$LAB/pqiked.sh" $IA config a >> "$w/steps.log" 2>&1 \
        && PQIKED_CONN_EXTRA="$cb" "$LAB/pqiked.sh" $IB config b >> "$w/steps.log" 2>&1 \
        || { echo "config failed"; return 1; }
    cp "$("$LAB/pqiked.sh" $IA dir)/pqiked.toml" "$w/pqiked-a.toml"
    cp "$("$LAB/pqiked.sh" $IB dir)/pqiked.toml" "$w/pqiked-b.toml"
    "$LAB/pqiked.sh" $IA start ${NS}A >> "$w/steps.log" 2>&1 && "$LAB/pqiked.sh" $IB start ${NS}B >> "$w/steps.log" 2>&1 \
        || { echo "pqiked did not start"; return 1; }
    local la lb up_rc=0
    la="$("$LAB/pqiked.sh" $IA dir)/pqiked.log" lb="$("$LAB/pqiked.sh" $IB dir)/pqiked.log"
    timeout 60 "$LAB/pqiked.sh" $IA ctl up lab >> "$w/steps.log" 2>&1 || up_rc=$?
    snap() { sed 's/\x1b\[[0-9;]*m//g' "$la" > "$w/pqiked-a.log"; sed 's/\x1b\[[0-9;]*m//g' "$lb" > "$w/pqiked-b.log"; }
    snap
    [ $up_rc = 0 ] || { echo "pqike up lab failed: $(tail -n 1 "$w/steps.log")"; return 1; }
    # ping through the tunnel the whole time (loss is reported, not asserted: the ping bursts
    # after the rekeys are)
    ip netns exec ${NS}A ping -q -i 0.2 -W 1 -w 45 -I 198.51.100.1 203.0.113.1 > "$w/ping-during.txt" 2>&1 &
    local pingpid=$!
    # wait (<= 45 s) for >= 2 Child SA rekeys and an IKE SA rekey followed by one more Child SA
    # rekey, all in the rekeyer's log
    local lr="$w/pqiked-$rekeyer.log" child_re=$PPK_CHILD_RE ike_re=$PPK_IKE_RE n=0
    [ $used = 1 ] || { child_re=$CHILD_UP_RE ike_re=$IKE_REKEYED_RE; }
    while :; do
        snap
        [ "$(grep -cE "$child_re" "$lr")" -ge 3 ] && log_after "$lr" "$ike_re" "$child_re" 1 && break
        n=$((n + 1)); [ $n -lt 90 ] || { kill $pingpid 2>/dev/null; echo "no IKE SA rekey followed by a Child SA rekey within 45 s in $rekeyer's log (/$child_re/: $(grep -cE "$child_re" "$lr"), /$ike_re/: $(grep -cE "$ike_re" "$lr"))"; return 1; }
        sleep 0.5
    done
    kill -INT $pingpid 2>/dev/null; wait $pingpid 2>/dev/null
    echo "during the rekeys: $(grep -E 'packets transmitted' "$w/ping-during.txt")" >> "$w/steps.log"
    # the data plane still carries traffic both ways on the rekeyed SAs
    ip netns exec ${NS}A ping -c 5 -i 0.2 -W 2 -I 198.51.100.1 203.0.113.1 >> "$w/steps.log" 2>&1 \
        || { echo "ping A -> B through the tunnel failed after the rekeys"; return 1; }
    ip netns exec ${NS}B ping -c 5 -i 0.2 -W 2 -I 203.0.113.1 198.51.100.1 >> "$w/steps.log" 2>&1 \
        || { echo "ping B -> A through the tunnel failed after the rekeys"; return 1; }
    snap
    local f re
    if [ $used = 1 ]; then
        # both sides mixed the PPK into every Child SA and into the new IKE SA, and the rekeys on
        # the new IKE SA still use it (its USE_PPK_INT state was carried over)
        for f in a b; do
            [ "$(grep -cE "$PPK_CHILD_RE" "$w/pqiked-$f.log")" -ge 3 ] \
                || { echo "pqiked-$f.log: fewer than 3 Child SAs with the PPK mixed in"; return 1; }
            grep -qE "$PPK_IKE_RE" "$w/pqiked-$f.log" || { echo "pqiked-$f.log lacks /$PPK_IKE_RE/"; return 1; }
            log_after "$w/pqiked-$f.log" "$PPK_IKE_RE" "$PPK_CHILD_RE" 1 \
                || { echo "pqiked-$f.log: no Child SA with the PPK after the IKE SA rekey"; return 1; }
        done
        while IFS='|' read -r f re; do
            [ "$f" = R ] && f=$rekeyer; [ "$f" = O ] && f=$other
            grep -qE -- "$re" "$w/pqiked-$f.log" || { echo "pqiked-$f.log lacks /$re/"; return 1; }
        done <<'EXPECT'
R|sending CREATE_CHILD_SA request [0-9]+ \[ N\(REKEY_SA\) .*N\(PPK_ID_KEY\)
R|sending CREATE_CHILD_SA request [0-9]+ \[ SA No KE .*N\(PPK_ID_KEY\)
R|received CREATE_CHILD_SA response [0-9]+ \[ .*N\(PPK_ID\)
O|using PPK 'lab-ppk' for the CHILD_SA rekey \(RFC 9867 CREATE_CHILD_SA\)
O|using PPK 'lab-ppk' for the IKE_SA rekey \(RFC 9867 CREATE_CHILD_SA\)
O|sending CREATE_CHILD_SA response [0-9]+ \[ .*N\(PPK_ID\)
EXPECT
    else
        # nothing offered: no PPK notify in any CREATE_CHILD_SA, no PPK mixed in there; the
        # rekeys themselves succeed (the IKE SA keys still carry the IKE_INTERMEDIATE PPK)
        for f in a b; do
            if grep -qE "CREATE_CHILD_SA (request|response) [0-9]+ \[.*N\(PPK_ID|mixed into .* in CREATE_CHILD_SA|RFC 9867 CREATE_CHILD_SA" "$w/pqiked-$f.log"; then
                echo "pqiked-$f.log shows a PPK in CREATE_CHILD_SA although A offers none"; return 1
            fi
        done
        # B (ppk_create_child) says why its rekeyed SAs have no PPK
        for re in "CHILD_SA rekey" "IKE_SA rekey"; do
            re="peer offered no PPK \(no PPK_IDENTITY_KEY\) in CREATE_CHILD_SA \(RFC 9867\): $re without PPK"
            grep -qE "$re" "$w/pqiked-$other.log" || { echo "pqiked-$other.log lacks /$re/"; return 1; }
        done
        grep -qE "$IKE_REKEYED_RE" "$w/pqiked-$other.log" || { echo "pqiked-$other.log: no IKE SA rekey"; return 1; }
        [ "$(grep -cE "$CHILD_UP_RE" "$w/pqiked-$other.log")" -ge 3 ] || { echo "pqiked-$other.log: fewer than 3 Child SAs"; return 1; }
    fi
    for f in a b; do
        grep -qE "PPK 'lab-ppk' mixed into all IKE SA keys in IKE_INTERMEDIATE \(RFC 9867\)|using PPK 'lab-ppk' for all IKE SA keys \(RFC 9867 IKE_INTERMEDIATE\)" "$w/pqiked-$f.log" \
            || { echo "pqiked-$f.log: the IKE SA has no IKE_INTERMEDIATE PPK"; return 1; }
        if grep -qE "panicked|closing the IKE SA|cannot install child|install failed" "$w/pqiked-$f.log"; then
            echo "pqiked-$f.log: $(grep -m1 -E "panicked|closing the IKE SA|cannot install child|install failed" "$w/pqiked-$f.log")"; return 1
        fi
    done
    # pqike status: one IKE SA "lab", established, with a Child SA, on both sides (a rekey may be
    # in flight at the moment of the query: retried for a few seconds)
    local side ok
    for side in IA IB; do
        ok=0
        for n in $(seq 20); do
            timeout 10 "$LAB/pqiked.sh" ${!side} ctl status --json > "$w/status-$side.json" 2>&1
            python3 - "$w/status-$side.json" $used > "$w/status-$side.check" 2>&1 <<'PY' && { ok=1; break; }
import json, sys
sas = [s for s in json.load(open(sys.argv[1]))["ike_sas"] if s["name"] == "lab"]
assert len(sas) == 1 and sas[0]["state"].lower() == "established" and sas[0]["child_sas"], sas
assert sas[0]["transforms"].get("ppk") == "lab-ppk", sas[0]["transforms"]
PY
            sleep 0.5
        done
        [ $ok = 1 ] || { echo "$side: pqike status: $(tail -n 1 "$w/status-$side.check")"; return 1; }
    done
    echo "rekeyer $rekeyer: $(grep -cE "$CHILD_UP_RE" "$w/pqiked-$rekeyer.log") Child SAs, $(grep -cE "$IKE_REKEYED_RE" "$w/pqiked-$rekeyer.log") IKE SA rekeys; $(grep -E 'packets transmitted' "$w/ping-during.txt")" > "$w/scheme"
}

pass=0 failn=0
mkdir -p "$OUT"
for kt in "${TYPES[@]}"; do
    t0=$SECONDS
    MODE=""; case "$kt" in *+extras) MODE=extras ;; esac
    if [[ $kt == ppk-child-* ]]; then
        why=$(run_ppkchild "$kt")
    else
        why=$(MODE=$MODE run_one "$kt")
    fi
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
