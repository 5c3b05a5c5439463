# tests/interop/cases/lifecycle.sh - SA lifecycle against strongSwan (sourced by run.sh):
# Child SA and IKE SA rekeying with additional key exchanges in IKE_FOLLOWUP_KE (ML-KEM-768 on
# 6.1.0, ECP-384 on 6.0.1), PFS in the Child SA rekeys, and a provoked rekey collision.
#
# pqike-resp: strongSwan drives `swanctl --rekey` (5 Child SA rekeys, 5 IKE SA rekeys, one at
# a time, each waited for). pqike-init: pqiked drives them from short lifetimes (child 6 s,
# IKE 11 s, jitter 1 s) for 70 s, so child and IKE rekeys also interleave. Evidence is
# strongSwan's own log ("CHILD_SA net{N} established", "IKE_SA lab[N] rekeyed between") and
# --list-sas at the end: one IKE SA, one INSTALLED child with the PFS transforms, no errors.
# (Packet loss across rekeys needs pqiked's ESP data plane: see tests/interop/cases/traffic.sh.)

CASES+=(
    ss61-mlkem768-rekeys
    ss601-ecp384-rekeys
    ss61-child-rekey-collision
    ss61-ike-rekey-collision
)

a_log() { cat "$(a_ss dir)/charon.log" 2>/dev/null; }
a_count() { a_log | grep -cE -- "$1"; }

# Wait until strongSwan's log has more than $2 lines matching $1 (max $3 s).
wait_count() {
    local re=$1 n=$2 t=${3:-15} i
    for ((i = 0; i < t * 5; i++)); do
        [ "$(a_count "$re")" -gt "$n" ] && return 0
        sleep 0.2
    done
    return 1
}

CHILD_UP_RE='CHILD_SA net\{[0-9]+\} established with SPIs'
IKE_REKEYED_RE='IKE_SA lab\[[0-9]+\] rekeyed between'
# strongSwan abbreviates notifies in message summaries (N(NO_STATE), N(NO_CHILD_SA)) and spells
# them out elsewhere: both spellings count.
BAD_RE='NO_PROP|INVAL_SYN|INVAL_KE|TS_UNACCEPT|AUTH_FAILED|STATE_NOT_FOUND|NO_STATE|CHILD_SA_NOT_FOUND|NO_CHILD_SA|giving up|failed to establish|rekeying failed|message verification failed|deleting IKE_SA lab\[[0-9]+\] .*failed'

# One IKE SA and one installed child with the PFS transforms, on both sides. pqiked may be
# mid-rekey (pqike-init keeps rekeying): up to 5 tries, 1.5 s apart.
lifecycle_final_state() {
    local try
    for try in 1 2 3 4 5; do
        rm -f "$E/reason"
        lifecycle_final_once "$1" 2>/dev/null && return 0
        sleep 1.5
    done
    return 1
}

lifecycle_final_once() {
    local out n
    sleep 1
    out=$(list_sas); echo "$out" > "$E/list-sas-final.txt"
    n=$(echo "$out" | grep -cE '^lab: #[0-9]+, ESTABLISHED')
    [ "$n" = 1 ] || fail_because "strongSwan lists $n established IKE SAs after the rekeys" || return 1
    n=$(echo "$out" | grep -cE "^  net: #[0-9]+, reqid [0-9]+, INSTALLED")
    [ "$n" = 1 ] || fail_because "strongSwan lists $n INSTALLED children after the rekeys" || return 1
    echo "$out" | grep -qE "^  net: #[0-9]+, reqid [0-9]+, INSTALLED, TUNNEL(-in-UDP)?, $WANT_CHILD_PFS(/|,|$)" \
        || fail_because "rekeyed child does not show $WANT_CHILD_PFS" || return 1
    echo "$out" | grep -m1 -E '^  [A-Z0-9_-]+(/[A-Z0-9_-]+)+$' | grep -qxE " *$WANT_IKE" \
        || fail_because "rekeyed IKE SA transforms differ from $WANT_IKE" || return 1
    # After an IKE rekey the rekey's initiator is the IKE SA's initiator: take strongSwan's role
    # from its own view (the `*` marks its side).
    check_b_established "$(echo "$out" | grep -qE '_i\* ' && echo i || echo r)" || return 1
    if a_log | grep -qE -- "$BAD_RE"; then
        fail_because "strongSwan log has errors: $(a_log | grep -E -- "$BAD_RE" | head -n 3)"; return 1
    fi
    snapshot_logs
}

lifecycle_rekeys() {
    local role=$1 c0 k0 i
    c0=$(a_count "$CHILD_UP_RE"); k0=$(a_count "$IKE_REKEYED_RE")
    note "lifecycle: start with $c0 child establishments, $k0 IKE rekeys"
    if [ "$role" = pqike-resp ]; then
        for i in 1 2 3 4 5; do
            note "+ swanctl --rekey --child net ($i)"
            a_ss swanctl --rekey --child net >> "$E/steps.log" 2>&1
            wait_count "$CHILD_UP_RE" $((c0 + i - 1)) 15 || fail_because "child rekey $i did not complete" || return 1
            sleep 1
        done
        for i in 1 2 3 4 5; do
            note "+ swanctl --rekey --ike lab ($i)"
            a_ss swanctl --rekey --ike lab >> "$E/steps.log" 2>&1
            wait_count "$IKE_REKEYED_RE" $((k0 + i - 1)) 15 || fail_because "IKE rekey $i did not complete" || return 1
            sleep 1
        done
    else
        note "lifecycle: pqiked rekeys on its own (child 6 s, IKE 11 s) for 70 s"
        sleep 70
        [ "$(a_count "$CHILD_UP_RE")" -ge $((c0 + 5)) ] || fail_because "fewer than 5 child rekeys: $(a_count "$CHILD_UP_RE")" || return 1
        [ "$(a_count "$IKE_REKEYED_RE")" -ge $((k0 + 5)) ] || fail_because "fewer than 5 IKE rekeys: $(a_count "$IKE_REKEYED_RE")" || return 1
    fi
    note "lifecycle: now $(a_count "$CHILD_UP_RE") child establishments, $(a_count "$IKE_REKEYED_RE") IKE rekeys"
    lifecycle_final_state "$role"
}

lifecycle_pqiked_lifetimes() {
    PQIKED_CONN_EXTRA="child_rekey_time = 6
rekey_time = 11
rand_time = 1"
    export PQIKED_CONN_EXTRA
}

case_ss61-mlkem768-rekeys() {
    SS=sid
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16-x25519-ke1_mlkem768 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_CHILD_PFS=ESP:AES_GCM_16-256/CURVE_25519/KE1_ML_KEM_768
    WANT_LOG_A=""
    lifecycle_pqiked_lifetimes
    AFTER_ESTABLISHED=lifecycle_rekeys
}

case_ss601-ecp384-rekeys() {
    SS=trixie
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_ecp384 ESP=aes256gcm16-x25519-ke1_ecp384 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ECP_384
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_CHILD_PFS=ESP:AES_GCM_16-256/CURVE_25519/KE1_ECP_384
    WANT_LOG_A=""
    lifecycle_pqiked_lifetimes
    AFTER_ESTABLISHED=lifecycle_rekeys
}

# A provoked Child SA rekey collision (RFC 7296 §2.8.1). pqiked's child rekey timer fires at 20 s
# (no jitter); from 15 s to 25 s after establishment everything pqiked sends to strongSwan is
# dropped (nft in ns A), and at 21 s strongSwan rekeys the same child (`swanctl --rekey`). So
# strongSwan's request reaches pqiked while pqiked's own is outstanding, and after the drop ends
# pqiked's retransmitted request reaches strongSwan while strongSwan's is outstanding: both see
# the collision and must agree on the survivor; afterwards exactly one child remains.
lifecycle_collision() {
    local t0=$SECONDS
    sleep 15
    ip netns exec ${NS}A nft -f - <<NFT || { fail_because "nft rule failed"; return 1; }
table inet lccoll {
    chain drop_b { type filter hook input priority 0; ip saddr 192.0.2.2 udp dport { 500, 4500 } counter drop; }
}
NFT
    note "lifecycle: dropping pqiked -> strongSwan from $((SECONDS - t0)) s"
    sleep 6
    local what=CHILD_SA
    if [ "${COLL_KIND:-child}" = ike ]; then
        what=IKE_SA
        note "+ swanctl --rekey --ike lab at $((SECONDS - t0)) s"
        a_ss swanctl --rekey --ike lab >> "$E/steps.log" 2>&1
    else
        note "+ swanctl --rekey --child net at $((SECONDS - t0)) s"
        a_ss swanctl --rekey --child net >> "$E/steps.log" 2>&1
    fi
    sleep 4
    ip netns exec ${NS}A nft list table inet lccoll 2>/dev/null | grep -o 'counter packets [0-9]*' >> "$E/steps.log"
    ip netns exec ${NS}A nft delete table inet lccoll
    note "lifecycle: drop removed at $((SECONDS - t0)) s"
    wait_count "$what rekey collision (won|lost)" 0 20 || true
    sleep 3
    snapshot_logs
    grep -E 'collision' "$E/charon-a.log" >> "$E/steps.log"
    if [ "$what" = IKE_SA ]; then
        # With a multi-KE rekey still in its IKE_FOLLOWUP_KE round, strongSwan may just abort
        # its own ("peer may not have noticed IKE_SA rekey collision"), or never see pqiked's
        # request before its rekey completes; at least one side must have seen the collision,
        # and the end state (one IKE SA, one child, both sides) is what counts.
        grep -qE "detected IKE_REKEY collision|IKE_SA rekey collision" "$E/charon-a.log" \
            || grep -qE "IKE_SA rekey collision" "$E/peer-b.log" \
            || fail_because "no side saw the IKE SA rekey collision" || return 1
        lifecycle_final_state "$1"
        return
    fi
    grep -qE "$what rekey collision (won|lost)" "$E/charon-a.log" \
        || fail_because "strongSwan saw no $what rekey collision" || return 1
    grep -qE "$what rekey collision (won|lost)" "$E/peer-b.log" || [ "$PEER_B" != pqiked ] \
        || fail_because "pqiked logged no $what rekey collision outcome" || return 1
    # Both must have come to the same conclusion: exactly one of them deleted the redundant SA.
    local ss_lost pq_lost
    ss_lost=$(grep -cE "$what rekey collision lost" "$E/charon-a.log")
    pq_lost=$(grep -cE "$what rekey collision lost" "$E/peer-b.log")
    [ $((ss_lost + pq_lost)) = 1 ] || fail_because "collision outcome: strongSwan lost $ss_lost, pqiked lost $pq_lost (want exactly one loser)" || return 1
    lifecycle_final_state "$1"
}

case_ss61-child-rekey-collision() {
    SS=sid
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16-x25519 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_CHILD_PFS=ESP:AES_GCM_16-256/CURVE_25519
    WANT_LOG_A=""
    # hard lifetime well past the drop window (the default 22 s would expire the child first)
    PQIKED_CONN_EXTRA="child_rekey_time = 20
child_life_time = 300
rand_time = 0"
    export PQIKED_CONN_EXTRA
    AFTER_ESTABLISHED=lifecycle_collision
}

# --- Remote access (RFC 7296 §2.19 configuration payload) ------------------------------------
# strongSwan as client (vips = 0.0.0.0, local_ts = dynamic) of pqiked's pool 10.3.0.0/24; and
# pqiked as client (vips = ["0.0.0.0"], local_ts 0.0.0.0/0) of strongSwan's pool 10.4.0.0/24.
# Evidence: strongSwan's "installing new virtual IP" / "assigning virtual IP", --list-sas
# showing the virtual IP as the child's local/remote selector, pqiked's log of the lease; and
# traffic through the tunnel from the virtual IP (both data planes are userspace ESP over
# TUN: pqiked's, strongSwan's kernel-libipsec):
#   * strongSwan client: pqiked routes the narrowed TS 10.3.0.1/32 into its TUN, and a ping
#     10.3.0.1 -> 203.0.113.1 (pqiked's inner host) from strongSwan's namespace is answered;
#   * pqiked client: 10.4.0.1/32 is on pqiked's TUN, the route to strongSwan's inner host
#     198.51.100.1 goes through the TUN with src 10.4.0.1 (a plain ping, no -I, is answered),
#     the DNS server is in <state dir>/lab.resolv.conf, and after `pqike down` address, route
#     and file are gone. On 6.1 strongSwan's selector is 0.0.0.0/0 and its pool sends the
#     split subnet 198.51.100.0/24 (INTERNAL_IP4_SUBNET): only that may go into the TUN.
CASES+=(
    ss61-ra-strongswan-client
    ss59-ra-strongswan-client
    ss61-ra-pqike-client
    ss59-ra-pqike-client
)

pq_tun() { echo pqike0; }   # pqiked's default tun_name (the lab does not set one)

ra_checks() {
    local out; out=$(list_sas); echo "$out" > "$E/list-sas-ra.txt"
    snapshot_logs
    if [ "$1" = pqike-resp ]; then
        echo "$out" | grep -qE "^    local  10\.3\.0\.1/32" \
            || fail_because "strongSwan's child does not use the virtual IP 10.3.0.1/32" || return 1
        grep -qE "assigning virtual IP 10\.3\.0\.1 from pool ra" "$E/peer-b.log" \
            || fail_because "pqiked did not log the lease" || return 1
        ip -n ${NS}B route show 10.3.0.1 > "$E/ra-route-b.txt" 2>&1
        grep -q "dev $(pq_tun)" "$E/ra-route-b.txt" \
            || fail_because "pqiked routes no 10.3.0.1/32 into its TUN: $(cat "$E/ra-route-b.txt")" || return 1
        # strongSwan installs its route a moment after the SA
        wait_for 3 ip netns exec ${NS}A ping -c 1 -W 1 -I 10.3.0.1 203.0.113.1 >/dev/null 2>&1 || true
        ip netns exec ${NS}A ping -c 3 -i 0.2 -W 2 -I 10.3.0.1 203.0.113.1 >> "$E/steps.log" 2>&1 \
            || fail_because "no ping 10.3.0.1 (virtual IP) -> 203.0.113.1 through the tunnel" || return 1
    else
        echo "$out" | grep -qE "^    remote 10\.4\.0\.1/32" \
            || fail_because "strongSwan's child does not narrow to the virtual IP 10.4.0.1/32" || return 1
        grep -qE "virtual IP 10\.4\.0\.1 assigned by the peer" "$E/peer-b.log" \
            || fail_because "pqiked did not log its virtual IP" || return 1
        grep -qE "virtual IP 10\.4\.0\.1/[0-9]+ assigned \(DNS \[10\.4\.0\.53\]" "$E/peer-b.log" \
            || fail_because "pqiked's VirtualIp event lacks address/DNS" || return 1
        ip -n ${NS}B addr show dev "$(pq_tun)" > "$E/ra-addr-b.txt" 2>&1
        grep -q "inet 10\.4\.0\.1/32 " "$E/ra-addr-b.txt" \
            || fail_because "pqiked's TUN lacks the virtual IP: $(tr '\n' ' ' < "$E/ra-addr-b.txt")" || return 1
        ip -n ${NS}B route get 198.51.100.1 > "$E/ra-route-b.txt" 2>&1
        grep -qE "dev $(pq_tun) .*src 10\.4\.0\.1" "$E/ra-route-b.txt" \
            || fail_because "route to 198.51.100.1 not via TUN with src 10.4.0.1: $(cat "$E/ra-route-b.txt")" || return 1
        if [ -n "${RA_SPLIT:-}" ]; then
            # split subnet 198.51.100.0/24 only, although the selectors allow 0.0.0.0/0
            grep -qE "split \[\(198\.51\.100\.0, 24\)\]" "$E/peer-b.log" \
                || fail_because "pqiked did not receive the split subnet 198.51.100.0/24" || return 1
            ip -n ${NS}B route show dev "$(pq_tun)" > "$E/ra-routes-tun.txt" 2>&1
            [ "$(grep -c . "$E/ra-routes-tun.txt")" = 1 ] && grep -q "^198\.51\.100\.0/24 " "$E/ra-routes-tun.txt" \
                || fail_because "TUN routes are not just the split subnet: $(tr '\n' ';' < "$E/ra-routes-tun.txt")" || return 1
        fi
        local dns; dns="$(b_ctl dir)/lab.resolv.conf"
        grep -qx "nameserver 10.4.0.53" "$dns" 2>/dev/null \
            || fail_because "no 'nameserver 10.4.0.53' in $dns" || return 1
        # the route's src is the virtual IP: no -I needed
        wait_for 3 ip netns exec ${NS}B ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1 || true
        ip netns exec ${NS}B ping -c 3 -i 0.2 -W 2 198.51.100.1 >> "$E/steps.log" 2>&1 \
            || fail_because "no ping from pqiked's side (src 10.4.0.1) -> 198.51.100.1 through the tunnel" || return 1
        # Down: virtual IP, its route and the DNS file go away.
        note "+ pqike down lab"
        timeout 20 "$LAB/pqiked.sh" "$INST_B" ctl down lab >> "$E/steps.log" 2>&1 || fail_because "pqike down lab failed" || return 1
        wait_for 10 b_has_no_sa || fail_because "pqiked still has the IKE SA after pqike down" || return 1
        sleep 0.3
        ip -n ${NS}B addr show dev "$(pq_tun)" > "$E/ra-addr-b-down.txt" 2>&1
        ! grep -q "10\.4\.0\.1" "$E/ra-addr-b-down.txt" \
            || fail_because "virtual IP still on the TUN after pqike down" || return 1
        ! ip -n ${NS}B route show 198.51.100.0/24 | grep -q "dev $(pq_tun)" \
            || fail_because "route to 198.51.100.0/24 still via the TUN after pqike down" || return 1
        [ ! -e "$dns" ] || fail_because "$dns still there after pqike down" || return 1
    fi
}

case_ss61-ra-strongswan-client() {
    SS=sid ROLES=pqike-resp
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    CONN_EXTRA="vips = 0.0.0.0"
    SS_LOCAL_TS=dynamic
    PQIKED_REMOTE_TS=10.3.0.0/24
    PQIKED_CONN_EXTRA='pools = ["ra"]'
    PQIKED_SECRETS_EXTRA='
[[pools]]
name = "ra"
addrs = "10.3.0.0/24"
dns = ["10.3.0.53"]
split = ["203.0.113.0/24"]'
    export CONN_EXTRA SS_LOCAL_TS PQIKED_REMOTE_TS PQIKED_CONN_EXTRA PQIKED_SECRETS_EXTRA
    WANT_LOG_A="installing new virtual IP 10\.3\.0\.1"
    AFTER_ESTABLISHED=ra_checks
}

case_ss59-ra-strongswan-client() {
    case_ss61-ra-strongswan-client
    SS=host
    PROPOSALS=aes256gcm16-prfsha384-x25519
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
}

case_ss61-ra-pqike-client() {
    SS=sid ROLES=pqike-init
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    CONN_EXTRA="pools = rapool"
    SS_REMOTE_TS=dynamic
    PQIKED_LOCAL_TS=0.0.0.0/0
    PQIKED_CONN_EXTRA='vips = ["0.0.0.0"]'
    # strongSwan offers everything, its pool narrows it with a split subnet (RFC 7296 §3.15.1
    # INTERNAL_IP4_SUBNET): pqiked must route only 198.51.100.0/24 into the tunnel
    SS_LOCAL_TS=0.0.0.0/0 PQIKED_REMOTE_TS=0.0.0.0/0 RA_SPLIT=1
    SWANCTL_EXTRA="pools {
    rapool {
        addrs = 10.4.0.0/24
        dns = 10.4.0.53
        subnet = 198.51.100.0/24
    }
}"
    export CONN_EXTRA SWANCTL_EXTRA SS_REMOTE_TS SS_LOCAL_TS PQIKED_LOCAL_TS PQIKED_REMOTE_TS PQIKED_CONN_EXTRA
    WANT_LOG_A="assigning virtual IP 10\.4\.0\.1 to peer 'b\.example'"
    AFTER_ESTABLISHED=ra_checks
}

# strongSwan 5.9.8 as the server: classic proposal, selectors 198.51.100.0/24 (no split).
case_ss59-ra-pqike-client() {
    SS=host ROLES=pqike-init
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    CONN_EXTRA="pools = rapool"
    SWANCTL_EXTRA="pools {
    rapool {
        addrs = 10.4.0.0/24
        dns = 10.4.0.53
    }
}"
    SS_REMOTE_TS=dynamic
    PQIKED_LOCAL_TS=0.0.0.0/0
    PQIKED_CONN_EXTRA='vips = ["0.0.0.0"]'
    export CONN_EXTRA SWANCTL_EXTRA SS_REMOTE_TS PQIKED_LOCAL_TS PQIKED_CONN_EXTRA
    WANT_LOG_A="assigning virtual IP 10\.4\.0\.1 to peer 'b\.example'"
    AFTER_ESTABLISHED=ra_checks
}

# The same for the IKE SA (RFC 7296 §2.8.2), with an ML-KEM-768 IKE_FOLLOWUP_KE round in each
# of the two crossing rekeys: the survivor takes the child, the other new IKE SA is deleted.
case_ss61-ike-rekey-collision() {
    case_ss61-child-rekey-collision
    COLL_KIND=ike
    WANT_CHILD_PFS=ESP:AES_GCM_16-256   # the child moves to the new IKE SA unchanged
    PQIKED_CONN_EXTRA="rekey_time = 20
life_time = 300
rand_time = 0"
    export PQIKED_CONN_EXTRA
}

# --- Trap policies: on-demand SAs (start_action / close_action = "trap") ----------------------
# pqiked's data plane routes the trap's remote selector (198.51.100.0/24) into its TUN; a packet
# there without a Child SA becomes an acquire (crates/pqike-daemon/src/dataplane/trap.rs).
#   ss61-trap: start_action = "trap", close_action = "trap". pqiked comes up with NO IKE SA on
#     either side and the trap route in place; a ping 203.0.113.1 -> 198.51.100.1 triggers the
#     IKE SA (exactly one acquire for ten pings) and, after the first packets, is answered.
#     Then `pqike down lab`: the trap stays armed, the next ping triggers again; then
#     strongSwan deletes the IKE SA: close_action re-arms the trap, and a third ping triggers.
#   ss61-close-trap: start_action = "none", close_action = "trap": no trap until strongSwan
#     deletes the IKE SA that `pqike up` made; then a ping brings it back.
CASES+=(
    ss61-trap
    ss61-close-trap
)

pq_log() { sed 's/\x1b\[[0-9;]*m//g' "$(b_ctl dir)/pqiked.log" 2>/dev/null; }
pq_count() { pq_log | grep -cE -- "$1"; }
pq_more() { [ "$(pq_count "$1")" -gt "$2" ]; }
ACQ_RE='acquire for lab/net: initiating'
ARM_RE='trap policy lab/net armed'

# Ping B -> A into the trap: the first packets trigger the acquire and are dropped, later ones
# must be answered; then a clean ping through the new SA. $1 = step name for the log.
trap_ping() {
    local n0; n0=$(pq_count "$ACQ_RE")
    note "+ ping 203.0.113.1 -> 198.51.100.1 into the trap ($1)"
    ip netns exec ${NS}B ping -c 10 -i 0.3 -W 1 -I 203.0.113.1 198.51.100.1 >> "$E/steps.log" 2>&1 \
        || { fail_because "no reply to a ping into the trap ($1)"; return 1; }
    [ "$(pq_count "$ACQ_RE")" = $((n0 + 1)) ] \
        || { fail_because "want exactly 1 acquire for the ping ($1), pqiked logged $(( $(pq_count "$ACQ_RE") - n0 ))"; return 1; }
    wait_for 10 a_established || { fail_because "strongSwan has no SA after the acquire ($1)"; return 1; }
    ip netns exec ${NS}B ping -c 3 -i 0.2 -W 2 -I 203.0.113.1 198.51.100.1 >> "$E/steps.log" 2>&1 \
        || { fail_because "ping through the triggered SA lost packets ($1)"; return 1; }
}

# INITIATE_B of ss61-trap: instead of `pqike up lab`, traffic. Failures are kept for trap_checks
# (run.sh does not look at this function's status).
trap_initiate() {
    : > "$E/trap-pre"
    wait_for 5 pq_more "$ARM_RE" 0 || echo "pqiked armed no trap for lab/net at start" >> "$E/trap-pre"
    b_has_no_sa || echo "pqiked has an IKE SA before any traffic" >> "$E/trap-pre"
    a_has_no_sa || echo "strongSwan has an IKE SA before any traffic" >> "$E/trap-pre"
    ip -n ${NS}B route show 198.51.100.0/24 > "$E/trap-route.txt" 2>&1
    grep -q "dev $(pq_tun) .*src 203\.0\.113\.1" "$E/trap-route.txt" \
        || echo "no trap route 198.51.100.0/24 via $(pq_tun) src 203.0.113.1: $(cat "$E/trap-route.txt")" >> "$E/trap-pre"
    trap_ping "start_action = trap" || cat "$E/reason" >> "$E/trap-pre"
}

trap_checks() {
    [ ! -s "$E/trap-pre" ] || { fail_because "$(head -n 1 "$E/trap-pre")"; return 1; }
    # pqike down: the trap stays armed (start_action = "trap"), the next packet triggers again
    note "+ pqike down lab"
    timeout 20 "$LAB/pqiked.sh" "$INST_B" ctl down lab >> "$E/steps.log" 2>&1 || fail_because "pqike down lab failed" || return 1
    wait_for 10 a_has_no_sa || fail_because "strongSwan still has the IKE SA after pqike down" || return 1
    wait_for 5 b_has_no_sa || fail_because "pqiked still has the IKE SA after pqike down" || return 1
    trap_ping "after pqike down" || return 1
    # the peer deletes: close_action = "trap" re-arms, the next packet triggers again
    local arm0; arm0=$(pq_count "$ARM_RE")
    note "+ swanctl --terminate --ike lab"
    a_ss swanctl --terminate --ike lab --timeout 15 >> "$E/steps.log" 2>&1 || fail_because "swanctl --terminate failed" || return 1
    wait_for 5 b_has_no_sa || fail_because "pqiked still has the IKE SA after strongSwan's delete" || return 1
    wait_for 5 pq_more "$ARM_RE" "$arm0" || fail_because "close_action = trap did not re-arm the trap" || return 1
    trap_ping "after the peer's delete" || return 1
    [ "$(pq_count "$ACQ_RE")" = 3 ] || fail_because "want 3 acquires in all, pqiked logged $(pq_count "$ACQ_RE")" || return 1
    snapshot_logs
    check_b_established r
}

case_ss61-trap() {
    SS=sid ROLES=pqike-init
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_LOG_A=""
    START_ACTION=trap PQIKED_CONN_EXTRA='close_action = "trap"'
    export START_ACTION PQIKED_CONN_EXTRA
    INITIATE_B=trap_initiate
    AFTER_ESTABLISHED=trap_checks
}

close_trap_checks() {
    [ "$(pq_count "$ARM_RE")" = 0 ] || fail_because "trap armed before any close" || return 1
    note "+ swanctl --terminate --ike lab"
    a_ss swanctl --terminate --ike lab --timeout 15 >> "$E/steps.log" 2>&1 || fail_because "swanctl --terminate failed" || return 1
    wait_for 5 b_has_no_sa || fail_because "pqiked still has the IKE SA after strongSwan's delete" || return 1
    wait_for 5 pq_more "$ARM_RE" 0 || fail_because "close_action = trap armed no trap after the peer's delete" || return 1
    trap_ping "close_action = trap" || return 1
    snapshot_logs
    check_b_established r
}

case_ss61-close-trap() {
    case_ss61-trap
    START_ACTION=none
    export START_ACTION
    INITIATE_B=""
    AFTER_ESTABLISHED=close_trap_checks
}
