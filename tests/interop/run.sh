#!/bin/bash
# tests/interop/run.sh - pqiked against real strongSwan peers, in network namespaces.
#
#   tests/interop/run.sh [OPTIONS] [PATTERN...]
#     PATTERN          run only cases whose name contains one of the patterns
#     --self-check     put a second strongSwan where pqiked goes (PEER_B=strongswan): checks
#                      the lab and the assertions themselves, no pqiked needed
#     --list           print the case names and exit
#     --keep-going     (default) run all cases; --fail-fast stops at the first failure
#
# Every case runs twice (unless it sets ROLES): "pqike-resp" (strongSwan in ns A initiates, pqiked in ns B
# responds) and "pqike-init" (pqiked initiates). Per case: lab/netns.sh up, peer configs
# from the case variables, both daemons started, initiate, then assertions on strongSwan's
# own view: `swanctl --list-sas` must show the IKE SA ESTABLISHED in the expected role
# with exactly the expected transform line (e.g. AES_GCM_16-256/PRF_HMAC_SHA2_384/
# CURVE_25519/KE1_ML_KEM_768) and the CHILD_SA INSTALLED with the expected ESP transform;
# plus case-specific patterns in charon's log (fragments, certificates, NO_PROPOSAL_CHOSEN)
# and pqiked's own status. Then both daemons are stopped and the namespaces deleted.
#
# Output: "ok   NAME (Ns)" / "FAIL NAME (Ns)" + evidence, last line "N passed, M failed".
# Exit status non-zero on any failure. Logs of every case stay in
# $PQIKE_LAB_RUN/results/NAME/ (charon.log, pqiked.log, list-sas.txt, steps.log).
#
# Needs root (namespaces, mounts). Not root: fails under CI=true, else skips (exit 0).
# Prerequisites: scripts/setup.sh; for pqiked cases `cargo build --release`.
# Env: PEER_B=pqiked|strongswan, PQIKED_BIN, PQIKE_BIN, PQIKE_LAB_RUN (default
#      /tmp/pqike-lab), INTEROP_TRAFFIC=1 (also ping through the tunnel; default on in
#      --self-check only, since that needs an ESP data path in pqiked), INTEROP_PCAP=0
#      (no per-case capture; default: results/NAME/ike.pcap of A's veth, UDP 500/4500).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LAB="$REPO/lab"
. "$LAB/common.sh"

PEER_B=${PEER_B:-pqiked}
LIST=0 FAIL_FAST=0 PATTERNS=()
for a in "$@"; do
    case "$a" in
        --self-check) PEER_B=strongswan ;;
        --list) LIST=1 ;;
        --fail-fast) FAIL_FAST=1 ;;
        --keep-going) FAIL_FAST=0 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        -*) echo "unknown option $a" >&2; exit 2 ;;
        *) PATTERNS+=("$a") ;;
    esac
done
TRAFFIC=${INTEROP_TRAFFIC:-$([ "$PEER_B" = strongswan ] && echo 1 || echo 0)}
PCAP=${INTEROP_PCAP:-1}
PKI_DIR="$PQIKE_LAB_RUN/pki"   # lab/pki.sh output (made before the first case)
NS=${INTEROP_NS:-pq}     # namespaces pqA (strongSwan) / pqB (pqiked or 2nd strongSwan); override
                         # (with PQIKE_LAB_RUN) to run two labs at once
INST_A=ia INST_B=ib      # instance names of the two daemons

# ---------------------------------------------------------------------------------------
# Cases. Each case_* function sets:
#   SS          strongSwan build in ns A: host (5.9.8) | trixie (6.0.1) | sid (6.1)
#   case env    PROPOSALS ESP AUTH PKI CHILD FRAGMENT_SIZE ... (lab/common.sh), MTU
#   WANT_IKE    exact transform line of `swanctl --list-sas`
#   WANT_CHILD  ESP transform shown for the CHILD_SA ("" = no CHILD_SA expected)
#   WANT_LOG_A  extended regexes that must all match strongSwan's log (one per line)
#   EXPECT      established (default) | no-proposal (IKE SA must fail with NO_PROPOSAL_CHOSEN)
#               | failed (no IKE SA; check_failed from the case file asserts the logs; for
#               pqike-init WAIT_LOG_A is the strongSwan log regex to wait for)
#   B_PROPOSALS proposals of the pqiked side if different from PROPOSALS
#   PEER_A      strongswan (default) | libreswan (lab/libreswan.sh; WANT_LOG_A then
#               applies to pluto's log, no --list-sas checks)
#   ROLES       roles to run (default "pqike-resp pqike-init")
#   LOSE_RESPONSES_MS  drop the responder's IKE datagrams on UDP 4500 (everything after
#               IKE_SA_INIT) for this long from the start (nftables in ns A)
#   WANT_LOG_A_INIT / WANT_LOG_A_RESP  extra log patterns when strongSwan is the
#               initiator / responder
#   INITIATE_B  pqike-init: function run instead of `pqike up lab` (e.g. traffic into a trap)
#   TEARDOWN    1: after the checks the initiating side deletes the IKE SA, and both
#               sides must have dropped it (strongSwan waits for the DELETE response)
# ---------------------------------------------------------------------------------------
CASES=(
    ss59-psk-x25519
    ss59-ecdsa-intermediate
    ss59-rsa-chain-fragmented
    ss601-x25519-ke1-ecp384-ke2-modp3072
    ss61-x25519-ke1-mlkem768
    ss61-x25519-ke1-mlkem1024
    ss61-pure-mlkem768
    ss61-no-proposal-chosen
    ss61-mlkem768-delete
    ss59-rsa-chain-response-lost
    ss61-mlkem768-intermediate-response-lost
    ls52-psk-childless
)

# More cases live in tests/interop/cases/*.sh (one file per feature area): each appends its
# names to CASES and defines the matching case_* functions, using the variables above.
for f in "$(dirname "${BASH_SOURCE[0]}")"/cases/*.sh; do
    [ -e "$f" ] || continue
    # shellcheck source=/dev/null
    . "$f"
done

case_ss59-psk-x25519() {
    SS=host
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_LOG_A="authentication of 'b.example' with pre-shared key successful"
}

case_ss59-ecdsa-intermediate() {
    SS=host
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=pubkey PKI="$PKI_DIR/ecdsa"
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    # each side sends its intermediate; strongSwan must have received b's and built
    # the path b.example -> Intermediate CA 1 -> Root CA
    WANT_LOG_A="sending issuer cert \"C=XX, O=pqike-lab, CN=pqike-lab ecdsa Intermediate CA 1\"
received issuer cert \"C=XX, O=pqike-lab, CN=pqike-lab ecdsa Intermediate CA 1\"
received end entity cert \"C=XX, O=pqike-lab, CN=b.example\"
authentication of 'b.example' with .*ECDSA.* successful"
}

case_ss59-rsa-chain-fragmented() {
    SS=host
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=pubkey PKI="$PKI_DIR/rsa"
    MTU=1280 FRAGMENT_SIZE=1280 FRAGMENTATION=yes
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    # both IKE_AUTH messages carry EE + 3 RSA-3072 intermediates (> 5 KB): strongSwan
    # must split its own and reassemble the peer's
    WANT_LOG_A="splitting IKE message \([5-9][0-9]{3} bytes\) into [0-9]+ fragments
received fragment #1 of [0-9]+, waiting for complete IKE message
reassembled fragmented IKE message \([5-9][0-9]{3} bytes\)
received issuer cert \"C=XX, O=pqike-lab, CN=pqike-lab rsa Intermediate CA 1\"
authentication of 'b.example' with .*RSA.* successful"
}

case_ss601-x25519-ke1-ecp384-ke2-modp3072() {
    SS=trixie
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_ecp384-ke2_modp3072 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ECP_384/KE2_MODP_3072
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_LOG_A="IKE_INTERMEDIATE request 1 \[ KE \]
IKE_INTERMEDIATE request 2 \[ KE \]"
}

case_ss61-x25519-ke1-mlkem768() {
    SS=sid
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_LOG_A="IKE_INTERMEDIATE request 1 \[ KE \]"
}

case_ss61-x25519-ke1-mlkem1024() {
    SS=sid
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem1024 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_1024
    WANT_CHILD=ESP:AES_GCM_16-256
    # an ML-KEM-1024 ciphertext/public key (1568 bytes) does not fit one 1280 fragment
    WANT_LOG_A="IKE_INTERMEDIATE request 1 \[ (KE|EF) \]"
}

case_ss61-pure-mlkem768() {
    SS=sid
    PROPOSALS=aes256gcm16-prfsha384-mlkem768 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    # ML-KEM alone in IKE_SA_INIT: no IKE_INTERMEDIATE exchange at all
    WANT_LOG_A="selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/ML_KEM_768"
    NOT_LOG_A="IKE_INTERMEDIATE"
}

case_ss61-no-proposal-chosen() {
    SS=sid
    # disjoint: strongSwan offers only hybrid ML-KEM-768, pqiked only x25519 with AES-128
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 AUTH=psk
    B_PROPOSALS=aes128gcm16-prfsha256-ecp256
    EXPECT=no-proposal
}

case_ss61-mlkem768-delete() {
    case_ss61-x25519-ke1-mlkem768
    WANT_LOG_A=""
    # after establishing, the side that initiated also deletes the IKE SA (INFORMATIONAL
    # with DELETE); both sides must drop it
    TEARDOWN=1
}

case_ss59-rsa-chain-response-lost() {
    # the responder's first message on UDP 4500 (the 5-fragment IKE_AUTH response) is
    # dropped for 1 s: the initiator must retransmit its whole fragmented request after
    # 2 s, and the responder must answer the retransmit from its cache, not re-process it
    case_ss59-rsa-chain-fragmented
    WANT_LOG_A=""
    LOSE_RESPONSES_MS=1000
    WANT_LOG_A_INIT="retransmit 1 of request with message ID 1"
    WANT_LOG_A_RESP="received retransmit of request with ID 1, retransmitting response"
}

case_ss61-mlkem768-intermediate-response-lost() {
    # same, for the IKE_INTERMEDIATE exchange carrying ML-KEM-768 (2-fragment request)
    case_ss61-x25519-ke1-mlkem768
    WANT_LOG_A=""
    LOSE_RESPONSES_MS=1000
    WANT_LOG_A_INIT="retransmit 1 of request with message ID 1"
    WANT_LOG_A_RESP="received retransmit of request with ID 1, retransmitting response"
}

case_ls52-psk-childless() {
    # libreswan 5.2 (no ML-KEM, no RFC 9370) as a second, independent implementation.
    # Only as responder: pluto cannot initiate childless and its Child SAs fail in this
    # kernel (no ESP), so pqiked initiates an IKE SA without children (childless = force).
    PEER_A=libreswan ROLES=pqike-init
    PROPOSALS=aes256gcm16-prfsha384-x25519 AUTH=psk CHILD=none CHILDLESS=force
    LS_IKE="aes_gcm256-sha2_384;dh31"
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_LOG_A="responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@b.example'
IKE_AUTH request does not propose a Child SA; creating childless SA
\{cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_384 group=DH31\}"
}

# ---------------------------------------------------------------------------------------
# machinery
# ---------------------------------------------------------------------------------------
if [ "$LIST" = 1 ]; then
    for c in "${CASES[@]}"; do for r in $( "case_$c"; echo "${ROLES:-pqike-resp pqike-init}" ); do echo "$c/$r"; done; done; exit 0
fi

if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then echo "interop: must run as root (CI=true)"; echo "0 passed, 1 failed"; exit 1; fi
    echo "interop: not root, skipping (needs network namespaces)"; exit 0
fi

RESULTS="$PQIKE_LAB_RUN/results"
mkdir -p "$RESULTS"
"$LAB/pki.sh" "$PKI_DIR" > /dev/null || { echo "interop: PKI generation failed"; echo "0 passed, 1 failed"; exit 1; }

b_ctl() { "$LAB/pqiked.sh" "$INST_B" "$@"; }
a_ss() { "$LAB/strongswan.sh" "$INST_A" "$@"; }
b_ss() { "$LAB/strongswan.sh" "$INST_B" "$@"; }

stop_capture() {
    [ -n "$E" ] && [ -f "$E/dumpcap.pid" ] || return 0
    stop_pid "$(cat "$E/dumpcap.pid")" 3
    rm -f "$E/dumpcap.pid"
}
# capture the IKE datagrams on A's veth (dumpcap: cheap to start, pcap for tshark/wireshark)
start_capture() {
    [ "$PCAP" = 1 ] && command -v dumpcap >/dev/null || return 0
    : > "$E/dumpcap.log"   # exists before the background job opens it
    ip netns exec ${NS}A dumpcap -q -i ${NS}a -f 'udp port 500 or udp port 4500' -w "$E/ike.pcap" \
        > "$E/dumpcap.log" 2>&1 < /dev/null &
    echo $! > "$E/dumpcap.pid"
    wait_for 3 grep -q "Capturing on" "$E/dumpcap.log" || note "dumpcap did not start"
}

stop_daemons() {   # in parallel: each charon with libipsec needs ~1.7 s to exit
    stop_capture &   # dumpcap needs ~1 s to notice SIGTERM
    a_ss stop >/dev/null 2>&1 &
    "$LAB/libreswan.sh" "$INST_A" stop >/dev/null 2>&1 &
    "$LAB/pqiked.sh" "$INST_A" stop >/dev/null 2>&1 &   # pqiked pairs (cases/traffic.sh)
    if [ "$PEER_B" = strongswan ]; then b_ss stop >/dev/null 2>&1 & else b_ctl stop >/dev/null 2>&1 & fi
    wait
}
cleanup() { stop_daemons; "$LAB/netns.sh" down "$NS" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$PEER_B" = pqiked ]; then
    PQIKED_BIN=${PQIKED_BIN:-$REPO/target/release/pqiked}
    PQIKE_BIN=${PQIKE_BIN:-$REPO/target/release/pqike}
    export PQIKED_BIN PQIKE_BIN
    if [ ! -x "$PQIKED_BIN" ] || [ ! -x "$PQIKE_BIN" ]; then
        echo "interop: $PQIKED_BIN / $PQIKE_BIN missing: run 'cargo build --release'"
        echo "         (or set PQIKED_BIN/PQIKE_BIN, e.g. to target/debug/..., or use --self-check)"
        echo "0 passed, 1 failed"; exit 1
    fi
    # run copies: a concurrent cargo build must not swap the binaries between cases
    mkdir -p "$PQIKE_LAB_RUN/bin"
    cp "$PQIKED_BIN" "$PQIKE_LAB_RUN/bin/pqiked"; cp "$PQIKE_BIN" "$PQIKE_LAB_RUN/bin/pqike"
    echo "interop: pqiked from $PQIKED_BIN ($(stat -c '%y' "$PQIKED_BIN" | cut -d. -f1))"
    PQIKED_BIN="$PQIKE_LAB_RUN/bin/pqiked" PQIKE_BIN="$PQIKE_LAB_RUN/bin/pqike"
fi

# evidence: print on failure
E=""   # per-case dir
note() { echo "$*" >> "$E/steps.log"; }
fail_because() { note "ASSERTION FAILED: $*"; echo "$*" > "$E/reason"; return 1; }

list_sas() { a_ss swanctl --list-sas --ike lab 2>&1; }

# A's --list-sas shows the IKE SA ESTABLISHED (and the CHILD_SA INSTALLED when expected)
a_established() {
    local out; out=$(list_sas) || return 1
    echo "$out" | grep -qE '^lab: #[0-9]+, ESTABLISHED, IKEv2' || return 1
    [ -z "$WANT_CHILD" ] || echo "$out" | grep -qE "^  $CHILD: #[0-9]+, reqid [0-9]+, INSTALLED"
}

# assertions for an expected success; $1 = role of strongSwan (i|r)
check_established() {
    local role=$1 out line
    out=$(list_sas); echo "$out" > "$E/list-sas.txt"
    echo "$out" | grep -qE '^lab: #[0-9]+, ESTABLISHED, IKEv2' || fail_because "no ESTABLISHED IKE SA in strongSwan's --list-sas" || return 1
    # the '*' marks the local SPI: _i* = strongSwan is the original initiator
    echo "$out" | grep -qE "^lab: #[0-9]+, ESTABLISHED, IKEv2, [0-9a-f]+_i(\*)? [0-9a-f]+_r(\*)?$" || fail_because "unexpected SPI line" || return 1
    if [ "$role" = i ]; then
        echo "$out" | grep -qE '_i\* [0-9a-f]+_r$' || fail_because "strongSwan is not the initiator of the IKE SA" || return 1
    else
        echo "$out" | grep -qE '_i [0-9a-f]+_r\*$' || fail_because "strongSwan is not the responder of the IKE SA" || return 1
    fi
    # the transform line: "  AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768"
    line=$(echo "$out" | grep -m1 -E '^  [A-Z0-9_-]+(/[A-Z0-9_-]+)+$' | sed 's/^ *//')
    [ "$line" = "$WANT_IKE" ] || fail_because "IKE transforms: got '$line', want '$WANT_IKE'" || return 1
    if [ -n "$WANT_CHILD" ]; then
        echo "$out" | grep -qE "^  $CHILD: #[0-9]+, reqid [0-9]+, INSTALLED, TUNNEL(-in-UDP)?, $WANT_CHILD(/|$)" \
            || fail_because "CHILD_SA $CHILD not INSTALLED with $WANT_CHILD" || return 1
    fi
    check_log_a || return 1
    if [ "$TRAFFIC" = 1 ] && [ -n "$WANT_CHILD" ]; then
        ip netns exec ${NS}A ping -c 2 -i 0.2 -W 2 -I 198.51.100.1 203.0.113.1 >> "$E/steps.log" 2>&1 \
            || fail_because "no ping through the tunnel 198.51.100.1 -> 203.0.113.1" || return 1
    fi
    check_b_established $role
}

check_log_a() {
    local re
    snapshot_logs
    while IFS= read -r re; do
        [ -n "$re" ] || continue
        grep -qE -- "$re" "$E/charon-a.log" || fail_because "strongSwan log lacks /$re/" || return 1
    done <<< "$WANT_LOG_A"
    if [ -n "$NOT_LOG_A" ] && grep -qE -- "$NOT_LOG_A" "$E/charon-a.log"; then
        fail_because "strongSwan log unexpectedly has /$NOT_LOG_A/"; return 1
    fi
}

snapshot_logs() {
    cp "$(a_ss dir)/charon.log" "$E/charon-a.log" 2>/dev/null || true
    # pluto logs every line of its debug dump with "| "; keep the readable lines
    if [ -f "$("$LAB/libreswan.sh" "$INST_A" dir)/pluto.log" ]; then
        grep -v '^[^|]*: | ' "$("$LAB/libreswan.sh" "$INST_A" dir)/pluto.log" > "$E/pluto-a.log" 2>/dev/null || true
    fi
    if [ "$PEER_B" = strongswan ]; then
        cp "$(b_ss dir)/charon.log" "$E/peer-b.log" 2>/dev/null || true
    else
        # pqiked may colour its log even when stderr is a file: strip ANSI escapes
        sed 's/\x1b\[[0-9;]*m//g' "$(b_ctl dir)/pqiked.log" > "$E/peer-b.log" 2>/dev/null || true
        cp "$(b_ctl dir)/pqiked.toml" "$E/pqiked.toml" 2>/dev/null || true
    fi
}

# the B side's own view: pqiked's status (or the 2nd strongSwan's list-sas)
check_b_established() {
    local out
    if [ "$PEER_B" = strongswan ]; then
        out=$(b_ss swanctl --list-sas --ike lab 2>&1); echo "$out" > "$E/b-status.txt"
        echo "$out" | grep -qE '^lab: #[0-9]+, ESTABLISHED' || fail_because "peer B has no ESTABLISHED IKE SA" || return 1
        return 0
    fi
    out=$(timeout 10 "$LAB/pqiked.sh" "$INST_B" ctl status --json 2>&1); echo "$out" > "$E/b-status.txt"
    # pqiked's own view (crates/pqike-daemon/src/control.rs, IkeSaInfo): an IKE SA "lab"
    # in state ESTABLISHED, in the role opposite to strongSwan's, with the same transforms
    # (rendered like swanctl: ENCR[/INTEG]/PRF/KE/KE1_x/KE2_y) and the Child SA
    local want_role=responder; [ "$1" = r ] && want_role=initiator
    local why
    why=$(python3 - "$E/b-status.txt" "$want_role" "$WANT_IKE" "$WANT_CHILD" "$CHILD" <<'PY'
import json, sys
path, want_role, want_ike, want_child, child = sys.argv[1:6]
try:
    doc = json.load(open(path))
except Exception as e:
    print(f"status --json is not JSON ({e})"); sys.exit(1)
sas = [sa for sa in doc.get("ike_sas", []) if sa.get("name") == "lab"]
est = [sa for sa in sas if str(sa.get("state", "")).lower() == "established"]
if not est:
    print("no established IKE SA 'lab' (states: %s)" % [sa.get("state") for sa in sas]); sys.exit(1)
if len(sas) != 1:
    print(f"{len(sas)} IKE SAs named 'lab' (want exactly 1; states {[sa.get('state') for sa in sas]})"); sys.exit(1)
sa = est[0]
if sa.get("role") != want_role:
    print(f"role {sa.get('role')!r}, want {want_role!r}"); sys.exit(1)
t = sa.get("transforms", {})
parts = [t.get("encr", "")] + ([t["integ"]] if t.get("integ") else []) + [t.get("prf", "")]
for i, k in enumerate(t.get("ke", [])):
    parts.append(k if i == 0 else f"KE{i}_{k}")
if t.get("ppk"):
    parts.append("PPK")   # like swanctl --list-sas (RFC 8784 / RFC 9867 PPK mixed in)
line = "/".join(parts)
if line != want_ike:
    print(f"transforms {line!r}, want {want_ike!r}"); sys.exit(1)
if want_child:
    kids = [c for c in sa.get("child_sas", []) if c.get("name") == child]
    if not kids:
        print(f"no Child SA {child!r}"); sys.exit(1)
    enc = "ESP:" + kids[0].get("encr", "")
    if not (enc == want_child or enc.startswith(want_child + "/")):
        print(f"Child SA encr {enc!r}, want {want_child!r}"); sys.exit(1)
PY
    ) || { fail_because "pqike status: $why"; return 1; }
}

# drop the responder's datagrams on UDP 4500 for $2 ms (netem is not available; an
# nftables rule in ns A that a background job deletes again). pqike-resp: B responds, so
# drop on A's input; pqike-init: A responds, so drop on A's output.
lose_responses() {
    local hook=input src=192.0.2.2
    [ "$1" = pqike-init ] && hook=output src=192.0.2.1
    ip netns exec ${NS}A nft -f - <<NFT || { fail_because "nft rule failed"; return 1; }
table inet pqlab {
    chain lose { type filter hook $hook priority 0; ip saddr $src udp sport 4500 counter drop; }
}
NFT
    note "dropping $src:4500 -> * on $hook of ${NS}A for $2 ms"
    ( sleep "$(printf '%d.%03d' $(( $2 / 1000 )) $(( $2 % 1000 )))"
      ip netns exec ${NS}A nft list table inet pqlab 2>/dev/null | grep -o 'counter packets [0-9]*' >> "$E/steps.log"
      ip netns exec ${NS}A nft delete table inet pqlab 2>/dev/null ) &
}

# peer B (pqiked or strongSwan) lists no IKE SA "lab"
b_has_no_sa() {
    if [ "$PEER_B" = strongswan ]; then
        b_ss swanctl --list-sas --ike lab > "$E/b-status-after-delete.txt" 2>&1
        ! grep -q '^lab: ' "$E/b-status-after-delete.txt"
    else
        "$LAB/pqiked.sh" "$INST_B" ctl status --json > "$E/b-status-after-delete.txt" 2>&1 || return 1
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(1 if any(sa.get("name")=="lab" for sa in d.get("ike_sas",[])) else 0)' \
            "$E/b-status-after-delete.txt"
    fi
}

a_has_no_sa() { ! a_ss swanctl --list-sas --ike lab 2>&1 | grep -q '^lab: '; }

# delete the IKE SA from the side that initiated it; $1 = pqike-resp | pqike-init
teardown() {
    if [ "$1" = pqike-resp ]; then
        note "+ swanctl --terminate --ike lab"
        # swanctl returns when the DELETE was answered (or timed out)
        a_ss swanctl --terminate --ike lab --timeout 15 >> "$E/steps.log" 2>&1 \
            || fail_because "swanctl --terminate failed (no DELETE response from peer B?)" || return 1
        wait_for 5 b_has_no_sa || true
        b_has_no_sa || fail_because "peer B still lists IKE SA lab after strongSwan's DELETE: $(head -c 300 "$E/b-status-after-delete.txt")" || return 1
        snapshot_logs
        grep -qE 'generating INFORMATIONAL request [0-9]+ \[ D \]' "$E/charon-a.log" || fail_because "strongSwan did not send DELETE" || return 1
        grep -qE 'parsed INFORMATIONAL response [0-9]+ \[ \]' "$E/charon-a.log" || fail_because "no (empty) INFORMATIONAL response to strongSwan's DELETE" || return 1
    else
        if [ "$PEER_B" = strongswan ]; then
            note "+ (peer B) swanctl --terminate --ike lab"
            b_ss swanctl --terminate --ike lab --timeout 15 >> "$E/steps.log" 2>&1 || fail_because "peer B terminate failed" || return 1
        else
            note "+ pqike down lab"
            timeout 20 "$LAB/pqiked.sh" "$INST_B" ctl down lab >> "$E/steps.log" 2>&1 || fail_because "pqike down lab failed" || return 1
        fi
        wait_for 10 a_has_no_sa \
            || fail_because "strongSwan still lists the IKE SA after the peer's DELETE" || return 1
        snapshot_logs
        grep -qE 'parsed INFORMATIONAL request [0-9]+ \[ D \]' "$E/charon-a.log" || fail_because "strongSwan did not receive a DELETE" || return 1
        grep -qE 'received DELETE for IKE_SA lab' "$E/charon-a.log" || fail_because "strongSwan log lacks 'received DELETE for IKE_SA lab'" || return 1
    fi
}

# expected failure with NO_PROPOSAL_CHOSEN; $1 = role of strongSwan
check_no_proposal() {
    local role=$1 out
    out=$(list_sas); echo "$out" > "$E/list-sas.txt"
    if echo "$out" | grep -qE '^lab: #[0-9]+, ESTABLISHED'; then fail_because "IKE SA established despite disjoint proposals"; return 1; fi
    snapshot_logs
    if [ "$role" = i ]; then
        # initiator: "received NO_PROPOSAL_CHOSEN notify error" / "parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]"
        grep -qE 'NO_PROPOSAL_CHOSEN|N\(NO_PROP\)' "$E/charon-a.log" || fail_because "strongSwan (initiator) log has no NO_PROPOSAL_CHOSEN" || return 1
    else
        # responder: "received proposals unacceptable" (6.x) / "no acceptable proposal
        # found" (5.9), then "generating IKE_SA_INIT response 0 [ N(NO_PROP) ]"
        grep -qE 'received proposals unacceptable|no acceptable proposal found' "$E/charon-a.log" \
            || fail_because "strongSwan (responder) did not reject the proposals" || return 1
        grep -qE 'generating IKE_SA_INIT response 0 \[ N\(NO_PROP\) \]' "$E/charon-a.log" \
            || fail_because "strongSwan (responder) did not send NO_PROPOSAL_CHOSEN" || return 1
    fi
    if [ "$PEER_B" = strongswan ]; then
        grep -qE 'NO_PROPOSAL_CHOSEN|N\(NO_PROP\)' "$E/peer-b.log" || fail_because "peer B log has no NO_PROPOSAL_CHOSEN" || return 1
    else
        grep -qiE 'NO_PROPOSAL_CHOSEN|no.proposal.chosen' "$E/peer-b.log" || fail_because "pqiked log has no NO_PROPOSAL_CHOSEN" || return 1
    fi
}

# libreswan in ns A as responder; peer B initiates a childless IKE SA
run_case_libreswan() {
    local role=$1
    [ "$role" = pqike-init ] || { fail_because "libreswan cases only support pqike-init"; return 1; }
    [ -f "$PQIKE_LAB_ROOT/trixie-libreswan/$LAB_STAMP" ] || { echo "skip: libreswan chroot not set up (scripts/setup.sh)" > "$E/reason"; return 3; }
    MTU=$MTU "$LAB/netns.sh" up "$NS" >> "$E/steps.log" 2>&1 || fail_because "netns up failed" || return 1
    start_capture
    rm -rf "$(a_ss dir)"   # no stale charon log from an earlier case
    LS_IKE=$LS_IKE "$LAB/libreswan.sh" "$INST_A" config a >> "$E/steps.log" 2>&1 || fail_because "libreswan config failed" || return 1
    if [ "$PEER_B" = strongswan ]; then
        SS=sid b_ss config b >> "$E/steps.log" 2>&1 || fail_because "peer B config failed" || return 1
    else
        b_ctl config b >> "$E/steps.log" 2>&1 || fail_because "pqiked config failed" || return 1
    fi
    "$LAB/libreswan.sh" "$INST_A" start ${NS}A >> "$E/steps.log" 2>&1 || fail_because "pluto did not start" || return 1
    if [ "$PEER_B" = strongswan ]; then
        b_ss start ${NS}B >> "$E/steps.log" 2>&1 || fail_because "peer B strongSwan did not start" || return 1
        note "+ (peer B) swanctl --initiate --ike lab"
        b_ss swanctl --initiate --ike lab --timeout 30 >> "$E/steps.log" 2>&1
    else
        b_ctl start ${NS}B >> "$E/steps.log" 2>&1 || { snapshot_logs; fail_because "pqiked did not start"; return 1; }
        note "+ pqike up lab"
        timeout 40 "$LAB/pqiked.sh" "$INST_B" ctl up lab >> "$E/steps.log" 2>&1
    fi
    note "initiate rc=$?"
    local pl; pl="$("$LAB/libreswan.sh" "$INST_A" dir)/pluto.log"
    wait_for 10 grep -q "responder established IKE SA" "$pl" || true
    snapshot_logs
    local re
    while IFS= read -r re; do
        [ -n "$re" ] || continue
        grep -qE -- "$re" "$E/pluto-a.log" || fail_because "pluto log lacks /$re/" || return 1
    done <<< "$WANT_LOG_A"
    "$LAB/libreswan.sh" "$INST_A" whack --showstates > "$E/list-sas.txt" 2>&1 || true
    grep -q 'ESTABLISHED_IKE_SA' "$E/list-sas.txt" || fail_because "whack --showstates has no ESTABLISHED_IKE_SA" || return 1
    check_b_established r   # pluto is the responder
}

run_case() {   # run_case CASE ROLE   (ROLE = pqike-resp | pqike-init); runs in a subshell
    local c=$1 role=$2
    # case defaults, then the case's own settings
    SS=host MTU=1500 WANT_IKE="" WANT_CHILD="" WANT_LOG_A="" NOT_LOG_A="" EXPECT=established B_PROPOSALS="" TEARDOWN=0
    PEER_A=strongswan LS_IKE="" LOSE_RESPONSES_MS=0 WANT_LOG_A_INIT="" WANT_LOG_A_RESP=""
    AFTER_ESTABLISHED="" INNER6=0 INITIATE_B=""
    unset PROPOSALS ESP AUTH PKI CHILD FRAGMENTATION FRAGMENT_SIZE CHILDLESS
    "case_$c"
    lab_defaults
    export PROPOSALS ESP AUTH PKI CHILD FRAGMENTATION FRAGMENT_SIZE CHILDLESS RETRANSMIT_TIMEOUT \
        RETRANSMIT_BASE RETRANSMIT_TRIES FAMILY SECRET
    export INNER6
    [ "$PEER_A" = libreswan ] && { run_case_libreswan "$role"; return; }
    # pqiked in both namespaces (tests/interop/cases/traffic.sh)
    [ "$PEER_A" = pqiked ] && { run_case_pqiked_pair "$role"; return; }
    local ss_b=$SS
    ss_available "$SS" || { note "strongSwan build $SS not set up"; echo "skip: strongSwan $SS not set up (scripts/setup.sh)" > "$E/reason"; return 3; }

    MTU=$MTU "$LAB/netns.sh" up "$NS" >> "$E/steps.log" 2>&1 || fail_because "netns up failed" || return 1
    start_capture
    SS=$SS a_ss config a >> "$E/steps.log" 2>&1 || fail_because "strongSwan config failed" || return 1
    if [ "$PEER_B" = strongswan ]; then
        PROPOSALS=${B_PROPOSALS:-$PROPOSALS} SS=$ss_b b_ss config b >> "$E/steps.log" 2>&1 || fail_because "peer B config failed" || return 1
    else
        PROPOSALS=${B_PROPOSALS:-$PROPOSALS} b_ctl config b >> "$E/steps.log" 2>&1 || fail_because "pqiked config failed" || return 1
    fi
    a_ss start ${NS}A >> "$E/steps.log" 2>&1 || fail_because "strongSwan did not start" || return 1
    if [ "$PEER_B" = strongswan ]; then
        b_ss start ${NS}B >> "$E/steps.log" 2>&1 || fail_because "peer B strongSwan did not start" || return 1
    else
        b_ctl start ${NS}B >> "$E/steps.log" 2>&1 || { snapshot_logs; fail_because "pqiked did not start"; return 1; }
    fi

    local child_arg=() t0
    [ "$CHILD" != none ] && child_arg=(--child "$CHILD")
    if [ "$role" = pqike-resp ]; then
        WANT_LOG_A=$(printf '%s\n%s' "$WANT_LOG_A" "$WANT_LOG_A_INIT")
    else
        WANT_LOG_A=$(printf '%s\n%s' "$WANT_LOG_A" "$WANT_LOG_A_RESP")
    fi
    [ "$LOSE_RESPONSES_MS" -gt 0 ] && { lose_responses "$role" "$LOSE_RESPONSES_MS" || return 1; }
    t0=$(date +%s%N)
    if [ "$role" = pqike-resp ]; then
        # strongSwan initiates; swanctl blocks until done/failed (bounded by --timeout)
        note "+ swanctl --initiate --ike lab ${child_arg[*]}"
        a_ss swanctl --initiate --ike lab "${child_arg[@]}" --timeout 30 >> "$E/steps.log" 2>&1
        note "initiate rc=$? after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    else
        if [ "$PEER_B" = strongswan ]; then
            note "+ (peer B) swanctl --initiate --ike lab ${child_arg[*]}"
            b_ss swanctl --initiate --ike lab "${child_arg[@]}" --timeout 30 >> "$E/steps.log" 2>&1
        elif [ -n "$INITIATE_B" ]; then
            # the case makes pqiked initiate its own way (cases/lifecycle.sh: a trap)
            note "+ $INITIATE_B"
            "$INITIATE_B"
        else
            note "+ pqike up lab"
            timeout 40 "$LAB/pqiked.sh" "$INST_B" ctl up lab >> "$E/steps.log" 2>&1
        fi
        note "initiate rc=$?"
        # the initiating command may return before the exchange completes: poll strongSwan
        if [ "$EXPECT" = established ]; then
            wait_for 30 a_established || true
        elif [ "$EXPECT" = failed ]; then
            wait_for 10 sh -c "grep -qE '${WAIT_LOG_A:-AUTH_FAILED}' '$(a_ss dir)/charon.log'" || true
        else
            wait_for 10 sh -c "grep -qE 'N\(NO_PROP\)' '$(a_ss dir)/charon.log'" || true
        fi
        note "strongSwan view settled after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    fi
    local sw_role=i; [ "$role" = pqike-init ] && sw_role=r
    if [ "$EXPECT" = established ]; then
        check_established $sw_role || return 1
        # case-specific checks on the established tunnel (e.g. traffic.sh's traffic_checks)
        if [ -n "$AFTER_ESTABLISHED" ]; then "$AFTER_ESTABLISHED" "$role" || return 1; fi
        [ "$TEARDOWN" = 1 ] || return 0
        teardown "$role"
    else
        # give the peer a moment to log the notify it received/sent
        sleep 0.5
        if [ "$EXPECT" = failed ]; then
            check_failed $sw_role   # defined by the case file that uses it (cases/pqauth.sh)
        else
            check_no_proposal $sw_role
        fi
    fi
}

pass=0 failn=0 skipn=0
for c in "${CASES[@]}"; do
    for role in $( "case_$c"; echo "${ROLES:-pqike-resp pqike-init}" ); do
        name="$c/$role"
        if [ ${#PATTERNS[@]} -gt 0 ]; then
            m=0; for p in "${PATTERNS[@]}"; do [[ "$name" == *"$p"* ]] && m=1; done
            [ $m = 1 ] || continue
        fi
        E="$RESULTS/$c.$role"; rm -rf "$E"; mkdir -p "$E"
        t0=$SECONDS
        ( run_case "$c" "$role" ); rc=$?
        snapshot_logs
        cleanup
        dt=$((SECONDS - t0))
        if [ $rc = 0 ]; then
            pass=$((pass + 1)); echo "ok   $name (${dt}s)"
        elif [ $rc = 3 ] && [ "${CI:-}" != true ]; then
            skipn=$((skipn + 1)); echo "skip $name ($(cat "$E/reason"))"
        else
            failn=$((failn + 1)); echo "FAIL $name (${dt}s)"
            echo "     reason: $(cat "$E/reason" 2>/dev/null || echo "exit $rc")"
            echo "     evidence in $E"
            tail -n 8 "$E/steps.log" 2>/dev/null | sed 's/^/     steps| /'
            [ -s "$E/list-sas.txt" ] && sed 's/^/     list-sas| /' "$E/list-sas.txt" | head -n 12
            grep -E 'ERROR|error|failed|NO_PROP|INVAL|AUTH_FAILED|no acceptable|retransmit|giving up' "$E/charon-a.log" 2>/dev/null \
                | head -n 12 | sed 's/^/     strongswan| /'
            grep -iE 'error|warn|fail|panic' "$E/peer-b.log" 2>/dev/null | head -n 12 | sed 's/^/     peer-b| /'
            [ -s "$E/ike.pcap" ] && tshark -r "$E/ike.pcap" 2>/dev/null | head -n 16 | sed 's/^/     pcap| /'
            [ $FAIL_FAST = 1 ] && break 2
        fi
    done
done
[ $skipn -gt 0 ] && echo "($skipn skipped)"
echo "$pass passed, $failn failed"
[ $failn = 0 ]
