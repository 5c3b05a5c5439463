# lab/common.sh - shared settings for pqike's interop lab (sourced, not executed).
#
# Paths:
#   PQIKE_LAB_ROOT  chroots built by scripts/setup-peers.sh   (default /srv/pqike-lab)
#   PQIKE_LAB_RUN   per-run state: instance dirs, logs, PKI   (default /tmp/pqike-lab)
#
# Peer builds (SS=...):  host / 5.9  -> bookworm's strongSwan 5.9.8 (no chroot)
#                        trixie / 6.0 -> $PQIKE_LAB_ROOT/trixie (strongSwan 6.0.1)
#                        sid / 6.1    -> $PQIKE_LAB_ROOT/sid    (strongSwan 6.1, ML-KEM)
#
# Addressing of the lab pair (lab/netns.sh): side a = 192.0.2.1 / fd00:2::1, id a.example,
# inner net 198.51.100.0/24; side b = 192.0.2.2 / fd00:2::2, id b.example, inner net
# 203.0.113.0/24. Only documentation/ULA prefixes, nothing routes out of the namespaces.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LAB_DIR/.." && pwd)
PQIKE_LAB_ROOT=${PQIKE_LAB_ROOT:-/srv/pqike-lab}
PQIKE_LAB_RUN=${PQIKE_LAB_RUN:-/tmp/pqike-lab}
LAB_STAMP=.pqike-lab-complete

lab_die() { echo "lab: $*" >&2; exit 1; }

# chroot root of a strongSwan build ("" = host)
ss_root() {
    case "${1:-host}" in
        ""|host|5.9|5.9.8) echo "" ;;
        trixie|6.0|6.0.1) echo "$PQIKE_LAB_ROOT/trixie" ;;
        sid|6.1|6.1.0) echo "$PQIKE_LAB_ROOT/sid" ;;
        /*) echo "$1" ;;
        *) lab_die "unknown strongSwan build '$1' (host|trixie|sid)" ;;
    esac
}

# true when the build is usable (host packages installed / chroot stamp present)
ss_available() {
    local r; r=$(ss_root "$1")
    if [ -z "$r" ]; then [ -x /usr/lib/ipsec/charon ]; else [ -f "$r/$LAB_STAMP" ]; fi
}

# side parameters: side_vars a|b [4|6] sets LOCAL_ADDR REMOTE_ADDR LOCAL_ID REMOTE_ID
# LOCAL_NET REMOTE_NET
side_vars() {
    local fam=${2:-4}
    case "$1" in
        a) LOCAL_ID=a.example REMOTE_ID=b.example LOCAL_NET=198.51.100.0/24 REMOTE_NET=203.0.113.0/24
           if [ "$fam" = 6 ]; then LOCAL_ADDR=fd00:2::1 REMOTE_ADDR=fd00:2::2; else LOCAL_ADDR=192.0.2.1 REMOTE_ADDR=192.0.2.2; fi ;;
        b) LOCAL_ID=b.example REMOTE_ID=a.example LOCAL_NET=203.0.113.0/24 REMOTE_NET=198.51.100.0/24
           if [ "$fam" = 6 ]; then LOCAL_ADDR=fd00:2::2 REMOTE_ADDR=fd00:2::1; else LOCAL_ADDR=192.0.2.2 REMOTE_ADDR=192.0.2.1; fi ;;
        *) lab_die "side must be a or b" ;;
    esac
    # pqike-lab's routed/NAT topology (crates/pqike-lab) uses other outer addresses
    LOCAL_ADDR=${LAB_LOCAL_ADDR:-$LOCAL_ADDR} REMOTE_ADDR=${LAB_REMOTE_ADDR:-$REMOTE_ADDR}
    # INNER6=1: the Child SA also covers the IPv6 inner hosts (fd00:a::1 in A, fd00:b::1 in B)
    if [ "${INNER6:-0}" = 1 ]; then
        case "$1" in
            a) LOCAL_NET="$LOCAL_NET,fd00:a::/64" REMOTE_NET="$REMOTE_NET,fd00:b::/64" ;;
            b) LOCAL_NET="$LOCAL_NET,fd00:b::/64" REMOTE_NET="$REMOTE_NET,fd00:a::/64" ;;
        esac
    fi
}

# Case parameters understood by both config generators (lab/strongswan.sh config,
# lab/pqiked.sh config), so one case description drives either implementation:
#   AUTH=psk|pubkey   PKI=<dir of lab/pki.sh output>/ecdsa|rsa (pubkey only)
#   PROPOSALS=...     IKE proposals (strongSwan syntax, comma separated)
#   ESP=...           ESP proposals; CHILD=none -> no child (childless IKE SA)
#   FRAGMENTATION=yes|no   FRAGMENT_SIZE=1280   CHILDLESS=allow|force|never|prefer
#   RETRANSMIT_TIMEOUT=2.0 RETRANSMIT_BASE=1.8 RETRANSMIT_TRIES=3
#   FAMILY=4|6        SECRET=<psk>
lab_defaults() {
    AUTH=${AUTH:-psk}
    PROPOSALS=${PROPOSALS:-aes256gcm16-prfsha384-x25519}
    ESP=${ESP:-aes256gcm16}
    CHILD=${CHILD:-net}
    FRAGMENTATION=${FRAGMENTATION:-yes}
    FRAGMENT_SIZE=${FRAGMENT_SIZE:-1280}
    CHILDLESS=${CHILDLESS:-allow}
    RETRANSMIT_TIMEOUT=${RETRANSMIT_TIMEOUT:-2.0}
    RETRANSMIT_BASE=${RETRANSMIT_BASE:-1.8}
    RETRANSMIT_TRIES=${RETRANSMIT_TRIES:-3}
    FAMILY=${FAMILY:-4}
    SECRET=${SECRET:-pqike-lab-test-psk-0123456789abcdef}
}

# wait_for SECONDS CMD... : poll CMD every 50 ms until it succeeds
wait_for() {
    local n=$(( $1 * 20 )); shift
    while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.05; n=$((n - 1)); done
    return 1
}

# stop_pid PID [SECONDS]: SIGTERM a process we started, SIGKILL it after the grace time
stop_pid() {
    local p=$1 n=$(( ${2:-5} * 20 ))
    kill -0 "$p" 2>/dev/null || return 0
    kill -TERM "$p" 2>/dev/null || true
    while [ $n -gt 0 ] && kill -0 "$p" 2>/dev/null; do sleep 0.05; n=$((n - 1)); done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    # give the kernel a moment to reap it, so the netns is empty afterwards
    wait_for 2 sh -c "! kill -0 $p 2>/dev/null" || true
}

# intermediate CA certificates of a lab/pki.sh chain, leaf-most first (int3 int2 int1)
pki_intermediates() {
    local f
    for f in "$1"/int[0-9]*.pem; do
        case "$f" in *.key.pem) continue ;; esac
        [ -e "$f" ] && echo "$f"
    done | sort -r -V
}
