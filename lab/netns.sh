#!/bin/bash
# lab/netns.sh - two network namespaces joined by one veth pair: the wire between the
# two IKE peers of an interop case.
#
#   lab/netns.sh up   [PREFIX]   create (an old pair with that prefix is removed first)
#   lab/netns.sh down [PREFIX]   delete both namespaces (the veth goes with them)
#   lab/netns.sh show [PREFIX]   addresses and routes of both sides
#
#   ns ${PREFIX}A                                      ns ${PREFIX}B
#   ${PREFIX}a  192.0.2.1/24 fd00:2::1/64  <-- veth -->  ${PREFIX}b  192.0.2.2/24 fd00:2::2/64
#   lo: 198.51.100.1 fd00:a::1 (inner host)              lo: 203.0.113.1 fd00:b::1 (inner host)
#
# PREFIX defaults to "pq". Env MTU sets the veth MTU (default 1500); a small MTU (e.g.
# 1280) forces large IKE messages to be fragmented. The namespaces have no default route,
# so nothing the tests send can leave the machine.
set -euo pipefail
. "$(dirname "$0")/common.sh"

cmd=${1:-}; P=${2:-pq}
A=${P}A B=${P}B
MTU=${MTU:-1500}
# interface names are limited to 15 characters
[ ${#P} -le 12 ] || lab_die "prefix too long"

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

down() {
    local ns pids
    for ns in "$A" "$B"; do
        ns_exists "$ns" || continue
        # A daemon left inside would keep running in a detached namespace. Say so loudly (a
        # leak is a harness bug to fix), then stop it: these processes can only be ours, since
        # the namespace is ours, and refusing would make every later case fail on "netns up".
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            echo "netns $ns still has processes, stopping them: $(echo $pids)" >&2
            kill -TERM $pids 2>/dev/null || true
            for _ in $(seq 30); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
            sleep 0.2
        fi
        ip netns del "$ns"
    done
}

up() {
    down
    ip netns add "$A"
    ip netns add "$B"
    ip link add "${P}a" netns "$A" mtu "$MTU" type veth peer name "${P}b" netns "$B" mtu "$MTU"
    local ns
    for ns in "$A" "$B"; do
        ip -n "$ns" link set lo up
        # skip IPv6 duplicate address detection so the addresses work at once
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    done
    ip -n "$A" addr add 192.0.2.1/24 dev "${P}a"
    ip -n "$A" addr add fd00:2::1/64 dev "${P}a" nodad
    ip -n "$A" addr add 198.51.100.1/32 dev lo
    ip -n "$A" addr add fd00:a::1/128 dev lo
    ip -n "$B" addr add 192.0.2.2/24 dev "${P}b"
    ip -n "$B" addr add fd00:2::2/64 dev "${P}b" nodad
    ip -n "$B" addr add 203.0.113.1/32 dev lo
    ip -n "$B" addr add fd00:b::1/128 dev lo
    ip -n "$A" link set "${P}a" up
    ip -n "$B" link set "${P}b" up
    # the outer path must work before any daemon starts (catches a half-built pair)
    ip netns exec "$A" ping -c1 -W2 -q 192.0.2.2 >/dev/null || lab_die "no ping $A -> $B"
}

show() {
    local ns
    for ns in "$A" "$B"; do
        echo "== $ns"; ip -n "$ns" -br addr; ip -n "$ns" route
        ip -n "$ns" route show table all | grep -v -e '^local' -e '^broadcast' -e 'table local' | grep 'table' || true
    done
}

case "$cmd" in
    up) up ;;
    down) down ;;
    show) show ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
esac
