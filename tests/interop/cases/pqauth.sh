# tests/interop/cases/pqauth.sh - post-quantum authentication cases (sourced by run.sh):
# RFC 8784 PPK against strongSwan 5.9.8 / 6.0.1 / 6.1.0 (PSK and certificates, ML-KEM hybrid on
# 6.1) and libreswan 5.2 (childless), plus diagnosed failures when only one side has a PPK.
#
# PPK settings per side: ppk_a MODE sets strongSwan's (ns A) swanctl.conf, ppk_b MODE pqiked's
# (ns B) pqiked.toml; MODE = required | optional | none. Both hold the same PPK "lab-ppk".
# Under --self-check (strongSwan in B) the B side reads A's CONN_EXTRA: only symmetric cases
# are meaningful there.

PPK_ID=lab-ppk
PPK_HEX=0x9f3a5c7e1b2d4f6081a3c5e7092b4d6f8e1c3a5b7d9f0e2c4a6b8d0f1e3c5a7b

ppk_a() {
    case "$1" in
        none) CONN_EXTRA="" SECRETS_EXTRA="" ;;
        required|optional)
            local req=no; [ "$1" = required ] && req=yes
            CONN_EXTRA="ppk_id = $PPK_ID
        ppk_required = $req"
            SECRETS_EXTRA="ppk-lab {
        id-1 = $PPK_ID
        secret = $PPK_HEX
    }" ;;
    esac
    export CONN_EXTRA SECRETS_EXTRA
}

ppk_b() {
    case "$1" in
        none) PQIKED_CONN_EXTRA="" PQIKED_SECRETS_EXTRA="" ;;
        required|optional)
            local req=false; [ "$1" = required ] && req=true
            PQIKED_CONN_EXTRA="ppk_id = \"$PPK_ID\"
ppk_required = $req"
            PQIKED_SECRETS_EXTRA="
[[secrets]]
kind = \"ppk\"
ids = [\"$PPK_ID\"]
secret = \"$PPK_HEX\"" ;;
    esac
    export PQIKED_CONN_EXTRA PQIKED_SECRETS_EXTRA
}

# EXPECT=failed: no IKE SA on either side; WANT_LOG_A (strongSwan's log) and WANT_LOG_B
# (pqiked's log) patterns, one per line, must all match. $1 = strongSwan's role (i|r).
check_failed() {
    local role=$1 re out
    out=$(list_sas); echo "$out" > "$E/list-sas.txt"
    if echo "$out" | grep -qE '^lab: #[0-9]+, ESTABLISHED'; then fail_because "IKE SA established although it must fail"; return 1; fi
    snapshot_logs
    local want_a=${WANT_LOG_A:-} want_b=${WANT_LOG_B:-}
    [ "$role" = i ] && want_a=$(printf '%s\n%s' "$want_a" "${WANT_LOG_A_INIT:-}") && want_b=$(printf '%s\n%s' "$want_b" "${WANT_LOG_B_RESP:-}")
    [ "$role" = r ] && want_a=$(printf '%s\n%s' "$want_a" "${WANT_LOG_A_RESP:-}") && want_b=$(printf '%s\n%s' "$want_b" "${WANT_LOG_B_INIT:-}")
    while IFS= read -r re; do
        [ -n "$re" ] || continue
        grep -qE -- "$re" "$E/charon-a.log" || fail_because "strongSwan log lacks /$re/" || return 1
    done <<< "$want_a"
    [ "$PEER_B" = pqiked ] || return 0
    while IFS= read -r re; do
        [ -n "$re" ] || continue
        grep -qE -- "$re" "$E/peer-b.log" || fail_because "pqiked log lacks /$re/" || return 1
    done <<< "$want_b"
    if timeout 10 "$LAB/pqiked.sh" "$INST_B" ctl status --json 2>/dev/null | grep -qi '"established"'; then
        fail_because "pqiked shows an established IKE SA"; return 1
    fi
}

CASES+=(
    ss59-psk-ppk-required
    ss59-ecdsa-ppk-optional
    ss601-psk-ppk-required
    ss601-ecdsa-ppk-required
    ss61-mlkem768-psk-ppk-required
    ss61-mlkem768-ecdsa-ppk-optional
    ss61-ppk-optional-peer-without
    ss61-ppk-required-strongswan-only
    ss61-ppk-required-pqike-only
    ss59-ppk-required-pqike-only
    ls52-psk-ppk-childless
)

# PPK used on both sides: strongSwan's IKE_AUTH carries N(PPK_ID) both ways, it says it used
# the PPK, and both AUTH payloads (over SK_pi'/SK_pr') verified.
ppk_used_logs() {
    WANT_IKE="$WANT_IKE/PPK"   # swanctl --list-sas (and pqike status) mark PPK-derived keys
    WANT_LOG_A_INIT="generating IKE_AUTH request [0-9]+ \[ .*N\(PPK_ID\)
parsed IKE_AUTH response [0-9]+ \[ .*N\(PPK_ID\)"
    WANT_LOG_A_RESP="parsed IKE_AUTH request [0-9]+ \[ .*N\(PPK_ID\)
using PPK for PPK_ID '$PPK_ID'
generating IKE_AUTH response [0-9]+ \[ .*N\(PPK_ID\)"
    WANT_LOG_A=""
}

case_ss59-psk-ppk-required() {
    case_ss59-psk-x25519
    ppk_a required; ppk_b required; ppk_used_logs
    WANT_LOG_A="$WANT_LOG_A
authentication of 'b.example' with pre-shared key successful"
}

case_ss59-ecdsa-ppk-optional() {
    case_ss59-ecdsa-intermediate
    ppk_a optional; ppk_b optional; ppk_used_logs
    WANT_LOG_A="$WANT_LOG_A
authentication of 'b.example' with .*ECDSA.* successful"
    # optional on the initiator: NO_PPK_AUTH rides along (unused, since both have the PPK)
    WANT_LOG_A_INIT="$WANT_LOG_A_INIT
generating IKE_AUTH request [0-9]+ \[ .*N\(NO_PPK\)"
    WANT_LOG_A_RESP="$WANT_LOG_A_RESP
parsed IKE_AUTH request [0-9]+ \[ .*N\(NO_PPK\)"
}

case_ss601-psk-ppk-required() {
    SS=trixie
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    ppk_a required; ppk_b required; ppk_used_logs
}

case_ss601-ecdsa-ppk-required() {
    SS=trixie
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=pubkey PKI="$PKI_DIR/ecdsa"
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    ppk_a required; ppk_b required; ppk_used_logs
    WANT_LOG_A="$WANT_LOG_A
authentication of 'b.example' with .*ECDSA.* successful"
}

case_ss61-mlkem768-psk-ppk-required() {
    case_ss61-x25519-ke1-mlkem768
    ppk_a required; ppk_b required; ppk_used_logs
    # RFC 9370 IntAuth and the PPK-updated SK_p together in AUTH
    WANT_LOG_A="$WANT_LOG_A
IKE_INTERMEDIATE request 1 \[ KE \]"
}

case_ss61-mlkem768-ecdsa-ppk-optional() {
    case_ss61-x25519-ke1-mlkem768
    AUTH=pubkey PKI="$PKI_DIR/ecdsa"
    ppk_a optional; ppk_b optional; ppk_used_logs
    WANT_LOG_A="$WANT_LOG_A
authentication of 'b.example' with .*ECDSA.* successful"
}

case_ss61-ppk-optional-peer-without() {
    # strongSwan offers the PPK optionally, pqiked has none: the IKE SA comes up without PPK
    # (pqike-resp: pqiked does not answer USE_PPK; pqike-init: pqiked does not offer it)
    case_ss61-x25519-ke1-mlkem768
    ppk_a optional; ppk_b none
    WANT_LOG_A="authentication of 'b.example' with pre-shared key successful"
    NOT_LOG_A="using PPK for PPK_ID"
}

case_ss61-ppk-required-strongswan-only() {
    # strongSwan requires the PPK, pqiked has none: no IKE SA, and both logs say why
    case_ss61-x25519-ke1-mlkem768
    ppk_a required; ppk_b none
    EXPECT=failed
    # strongSwan initiates: USE_PPK goes unanswered, strongSwan refuses to continue
    WANT_LOG_A_INIT="PPK required but peer does not support PPK"
    # pqiked initiates without PPK: strongSwan refuses IKE_AUTH with AUTHENTICATION_FAILED
    WANT_LOG_A_RESP="PPK required but peer does not support PPK
generating IKE_AUTH response [0-9]+ \[ N\(AUTH_FAILED\) \]"
    WANT_LOG_B_INIT="exchange failed: peer sent AUTHENTICATION_FAILED"
    WAIT_LOG_A="AUTH_FAILED"
}

case_ss61-ppk-required-pqike-only() {
    # pqiked requires the PPK, strongSwan has none
    case_ss61-x25519-ke1-mlkem768
    ppk_a none; ppk_b required
    EXPECT=failed
    # strongSwan initiates without PPK: pqiked answers AUTHENTICATION_FAILED and says why
    WANT_LOG_A_INIT="parsed IKE_AUTH response [0-9]+ \\[ N\\(AUTH_FAILED\\) \\]"
    WANT_LOG_B_RESP="peer did not offer a PPK \(no PPK_IDENTITY\) but ppk_required is set
refusing IKE_AUTH request [0-9]+"
    # pqiked initiates: strongSwan does not answer USE_PPK, pqiked aborts before IKE_AUTH
    WANT_LOG_B_INIT="peer did not send USE_PPK .*ppk_required is set: aborting"
    WANT_LOG_A_RESP="parsed IKE_SA_INIT request 0 \\[ .*N\\(USE_PPK\\)"
    WAIT_LOG_A="IKE_SA_INIT response 0"
}

case_ss59-ppk-required-pqike-only() {
    case_ss61-ppk-required-pqike-only
    SS=host PROPOSALS=aes256gcm16-prfsha384-x25519
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_LOG_A=""
}

case_ls52-psk-ppk-childless() {
    # libreswan 5.2 as responder with ppk=insist: pqiked (PPK required) initiates childless
    case_ls52-psk-childless
    ppk_b required
    LS_EXTRA="	ppk=insist
	ppk-ids=$PPK_ID"
    LS_SECRETS_EXTRA="@a.example @b.example : PPKS \"$PPK_ID\" $PPK_HEX"
    export LS_EXTRA LS_SECRETS_EXTRA
    WANT_IKE="$WANT_IKE/PPK"
    WANT_LOG_A="$WANT_LOG_A
containing SK\{IDi,IDr,AUTH,N\(PPK_IDENTITY\),N\(INITIAL_CONTACT\)\}
PPK AUTH calculated as responder"
}

CASES+=(ls52-psk-ppk-intermediate-childless)

case_ls52-psk-ppk-intermediate-childless() {
    # RFC 9867 (PPK in IKE_INTERMEDIATE) as libreswan 5.2 implements it before the RFC, with
    # the private notify numbers 50209 (USE_PPK_INT) / 50208 (PPK_IDENTITY_KEY): pqiked uses
    # ppk_int_legacy_numbers. Needs IKE_INTERMEDIATE on both sides (libreswan intermediate=yes).
    case_ls52-psk-ppk-childless
    PQIKED_CONN_EXTRA="$PQIKED_CONN_EXTRA
ppk_intermediate = true
ppk_int_legacy_numbers = true"
    export PQIKED_CONN_EXTRA
    LS_EXTRA="$LS_EXTRA
	intermediate=yes"
    WANT_LOG_A="responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@b.example'
PPK used in IKE_INTERMEDIATE"
}

# RFC 4739 against strongSwan 6.1 with a classic combination: an ECDSA certificate first, the PSK
# as second round of the initiator (strongSwan's local-2 / remote-2). One role per case, since
# only the initiator has a second round.
CASES+=(ss61-multiauth-ecdsa-then-psk-ssinit ss61-multiauth-ecdsa-then-psk-pqinit)

case_ss61-multiauth-ecdsa-then-psk-ssinit() {
    SS=sid ROLES=pqike-resp
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=pubkey PKI="$PKI_DIR/ecdsa"
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    # after the local/remote blocks: strongSwan runs the rounds in config order
    CONN_EXTRA_AFTER_AUTH="local-2 {
            auth = psk
            id = a.example
        }"
    PQIKED_CONN_EXTRA="
[connection.remote2]
id = \"a.example\"
auth = \"psk\""
    export CONN_EXTRA_AFTER_AUTH PQIKED_CONN_EXTRA
    WANT_LOG_A="generating IKE_AUTH request 1 \[ .*N\(AUTH_FOLLOWS\)
authentication of 'b.example' with .*ECDSA.* successful
generating IKE_AUTH request 2 \[ IDi AUTH \]
parsed IKE_AUTH response 2 \[ .*SA TSi TSr"
}

case_ss61-multiauth-ecdsa-then-psk-pqinit() {
    case_ss61-multiauth-ecdsa-then-psk-ssinit
    ROLES=pqike-init
    CONN_EXTRA_AFTER_AUTH="remote-2 {
            auth = psk
            id = b.example
        }"
    PQIKED_CONN_EXTRA="
[connection.local2]
id = \"b.example\"
auth = \"psk\""
    export CONN_EXTRA_AFTER_AUTH PQIKED_CONN_EXTRA
    WANT_LOG_A="parsed IKE_AUTH request 1 \[ .*N\(AUTH_FOLLOWS\)
parsed IKE_AUTH request 2 \[ IDi AUTH \]
authentication of 'b.example' with pre-shared key successful
generating IKE_AUTH response 2 \[ .*SA TSi TSr"
}
