#!/bin/bash
# scripts/bench-esp.sh - ESP throughput through the tunnel, in the namespace lab.
#
#   sudo scripts/bench-esp.sh [PAIR...]      PAIR: pq-pq-encap | pq-pq | pq-ss61 | ss61-ss61
#                                             (default: all four)
#
# pq-pq-encap: pqiked <-> pqiked with `encap = true` on the connection (ESP-in-UDP negotiated
# without a NAT, RFC 7296 §2.23, like strongSwan's `encap`), which buys UDP GSO/GRO batching;
# pq-pq: the same with plain ESP (IP protocol 50, no batching in the kernel for raw sockets).
#
# Per pair: lab/netns.sh pair (veth, MTU 1500), side A initiates, then through the tunnel
# (198.51.100.1 in A -> 203.0.113.1 in B):
#   * TCP: one iperf3 stream for 10 s (Gbit/s at the receiver, retransmits)
#   * small packets: iperf3 UDP with 64-byte payloads at full speed for 5 s (packets/s that
#     arrived, loss)
#   * latency: ping RTT through the tunnel minus the plain RTT on the outer addresses
# and prints one table. strongSwan runs with kernel-libipsec (userspace ESP over TUN, always
# ESP-in-UDP); pqiked with its userspace data plane. Env: ESP (default aes256gcm16),
# BENCH_TIME (10), PQIKED_BIN/PQIKE_BIN (target/release), PQIKED_EXTRA (e.g. tun_queues = 2).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
LAB="$REPO/lab"
. "$LAB/common.sh"
[ "$(id -u)" = 0 ] || { echo "bench-esp: needs root (network namespaces)"; exit 1; }
command -v iperf3 >/dev/null || { echo "bench-esp: iperf3 missing (scripts/setup.sh)"; exit 1; }

PAIRS=("$@"); [ ${#PAIRS[@]} -gt 0 ] || PAIRS=(pq-pq-encap pq-pq pq-ss61 ss61-ss61)
T=${BENCH_TIME:-10}
export ESP=${ESP:-aes256gcm16}
export PROPOSALS=${PROPOSALS:-aes256gcm16-prfsha384-x25519}
export PQIKED_BIN=${PQIKED_BIN:-$REPO/target/release/pqiked} PQIKE_BIN=${PQIKE_BIN:-$REPO/target/release/pqike}
export PQIKED_LOG_LEVEL=${PQIKED_LOG_LEVEL:-info}
NS=pqbench
OUT="$PQIKE_LAB_RUN/bench"; mkdir -p "$OUT"

stop_all() {
    "$LAB/strongswan.sh" ba stop >/dev/null 2>&1 &
    "$LAB/strongswan.sh" bb stop >/dev/null 2>&1 &
    "$LAB/pqiked.sh" ba stop >/dev/null 2>&1 &
    "$LAB/pqiked.sh" bb stop >/dev/null 2>&1 &
    wait
    "$LAB/netns.sh" down "$NS" >/dev/null 2>&1 || true
}
trap stop_all EXIT

# start side $2 (a|b) of kind $1 (pq|ss61) as instance b$2 in ns $NS<A|B>
start_side() {
    local kind=$1 side=$2 ns=${NS}${2^^}
    if [ "$kind" = pq ]; then
        "$LAB/pqiked.sh" "b$side" config "$side" && "$LAB/pqiked.sh" "b$side" start "$ns"
    else
        SS=sid "$LAB/strongswan.sh" "b$side" config "$side" && "$LAB/strongswan.sh" "b$side" start "$ns"
    fi
}

established() {   # kind of side A
    if [ "$1" = pq ]; then
        "$LAB/pqiked.sh" ba ctl status --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(s["state"]=="ESTABLISHED" and s["child_sas"] for s in d["ike_sas"]) else 1)'
    else
        "$LAB/strongswan.sh" ba swanctl --list-sas --ike lab 2>/dev/null | grep -q INSTALLED
    fi
}

run_pair() {
    local pair=$1 ka kb
    case "$pair" in
        pq-pq) ka=pq kb=pq ;;
        pq-pq-encap) ka=pq kb=pq ;;
        pq-ss61) ka=pq kb=ss61 ;;
        ss61-ss61) ka=ss61 kb=ss61 ;;
        *) echo "unknown pair $pair" >&2; return 1 ;;
    esac
    local conn_extra=${PQIKED_CONN_EXTRA:-}
    [ "$pair" = pq-pq-encap ] && conn_extra="encap = true${conn_extra:+
$conn_extra}"
    stop_all
    "$LAB/netns.sh" up "$NS" > /dev/null || return 1
    PQIKED_CONN_EXTRA=$conn_extra start_side "$ka" a > "$OUT/$pair.start.log" 2>&1 || { echo "$pair: side A did not start" >&2; return 1; }
    PQIKED_CONN_EXTRA=$conn_extra start_side "$kb" b >> "$OUT/$pair.start.log" 2>&1 || { echo "$pair: side B did not start" >&2; return 1; }
    if [ "$ka" = pq ]; then timeout 30 "$LAB/pqiked.sh" ba ctl up lab > /dev/null 2>&1
    else "$LAB/strongswan.sh" ba swanctl --initiate --ike lab --child net --timeout 30 > /dev/null 2>&1; fi
    wait_for 10 established "$ka" || { echo "$pair: no tunnel" >&2; return 1; }
    if [ "$ka" = pq ] && [ "$kb" = pq ]; then
        # The two pq-pq rows differ only in the encapsulation: make sure it is the intended one.
        local want=False; [ "$pair" = pq-pq-encap ] && want=True
        "$LAB/pqiked.sh" ba ctl status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if str(d["ike_sas"][0]["nat"]) == sys.argv[1] else 1)' "$want" \
            || { echo "$pair: ESP-in-UDP is not what was asked for (want nat=$want)" >&2; return 1; }
    fi
    sleep 1
    local A="ip netns exec ${NS}A" B="ip netns exec ${NS}B"
    $A ping -c 3 -W 2 -I 198.51.100.1 203.0.113.1 > /dev/null || { echo "$pair: no ping through the tunnel" >&2; return 1; }

    $B iperf3 -s -1 -B 203.0.113.1 > /dev/null 2>&1 & local sp=$!
    sleep 0.3
    $A iperf3 -c 203.0.113.1 -B 198.51.100.1 -t "$T" -J > "$OUT/$pair.tcp.json" 2>&1
    stop_pid $sp 2
    $B iperf3 -s -1 -B 203.0.113.1 > /dev/null 2>&1 & sp=$!
    sleep 0.3
    $A iperf3 -c 203.0.113.1 -B 198.51.100.1 -u -l 64 -b 0 -t 5 -J > "$OUT/$pair.udp64.json" 2>&1
    stop_pid $sp 2
    $A ping -q -c 200 -i 0.005 -I 198.51.100.1 203.0.113.1 > "$OUT/$pair.ping-tunnel.txt" 2>&1
    $A ping -q -c 200 -i 0.005 192.0.2.2 > "$OUT/$pair.ping-plain.txt" 2>&1
    python3 - "$pair" "$OUT" <<'PY'
import json, re, sys
pair, out = sys.argv[1:3]
def j(name):
    try: return json.load(open(f"{out}/{pair}.{name}.json"))
    except Exception: return None
tcp, udp = j("tcp"), j("udp64")
gbps = tcp["end"]["sum_received"]["bits_per_second"] / 1e9 if tcp and "end" in tcp else float("nan")
retr = tcp["end"]["sum_sent"].get("retransmits", 0) if tcp and "end" in tcp else -1
if udp and "end" in udp:
    s = udp["end"]["sum"]
    pps = (s["packets"] - s["lost_packets"]) / s["seconds"]; loss = s["lost_percent"]
else:
    pps, loss = float("nan"), float("nan")
def rtt(f):
    m = re.search(r"= [\d.]+/([\d.]+)/", open(f"{out}/{pair}.{f}.txt").read())
    return float(m.group(1)) * 1000 if m else float("nan")
t, p = rtt("ping-tunnel"), rtt("ping-plain")
print(f"| {pair:<10} | {gbps:6.2f} | {retr:6d} | {pps/1000:8.0f}k | {loss:5.1f}% | {t:6.0f} | {t-p:6.0f} |")
PY
}

echo "ESP=$ESP, single TCP stream ${T}s (iperf3), UDP 64-byte payloads 5s, ping RTT (µs)"
echo "| pair       | Gbit/s | retran | 64B pkt/s | loss   | RTT µs | added |"
echo "|------------|--------|--------|-----------|--------|--------|-------|"
for p in "${PAIRS[@]}"; do run_pair "$p"; done
