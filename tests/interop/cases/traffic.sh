# tests/interop/cases/traffic.sh - traffic through the tunnel (sourced by run.sh): pqiked's
# userspace ESP data plane (crates/pqike-daemon/src/dataplane) against strongSwan 5.9.8 and
# 6.1.0 with kernel-libipsec (ESP-in-UDP, RFC 3948), and pqiked against pqiked (plain ESP).
#
# Per case, after the usual IKE checks (traffic_checks):
#   * ping IPv4 inner hosts both ways (198.51.100.1 in A <-> 203.0.113.1 in B) and, with
#     INNER6=1 (the Child SA also covers fd00:a::/64 <-> fd00:b::/64), IPv6 (fd00:a::1 <-> fd00:b::1)
#   * iperf3 TCP A -> B, bounded (-n 50M); the receiver must report >= 90% (its final sum
#     misses the last window in flight)
#   * B -> A: a random 8 MB file over TCP; the receiver's sha256 must match the sender's
#   * the Child SA counters of both sides agree (check_counters; strongSwan: `swanctl
#     --list-sas`; pqiked: `pqike status --json`)

# TCP sink in namespace ${NS}$1 on $2:$3 (timeout $4 s): prints "BYTES SHA256" of everything one
# connection delivered. Run it in the background: it execs, so $! is the receiver itself.
sha256_sink() {
    exec ip netns exec ${NS}$1 timeout $4 python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest())' "$2" "$3"
}

CASES+=(
    ss59-traffic-aes256gcm
    ss59-traffic-chacha20
    ss61-traffic-aes256gcm
    ss61-traffic-chacha20
    pq-pq-traffic-aes256gcm
    pq-pq-traffic-chacha20
    pq-pq-transport
    pq-pq-transport-udp
    pq-pq-traffic-encap
)

case_ss59-traffic-aes256gcm() {
    SS=host
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=aes256gcm16 AUTH=psk INNER6=1
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:AES_GCM_16-256
    AFTER_ESTABLISHED=traffic_checks
}

case_ss59-traffic-chacha20() {
    SS=host
    PROPOSALS=aes256gcm16-prfsha384-x25519 ESP=chacha20poly1305 AUTH=psk INNER6=1
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519
    WANT_CHILD=ESP:CHACHA20_POLY1305
    AFTER_ESTABLISHED=traffic_checks
}

case_ss61-traffic-aes256gcm() {
    SS=sid
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 AUTH=psk INNER6=1
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    AFTER_ESTABLISHED=traffic_checks
}

case_ss61-traffic-chacha20() {
    case_ss61-traffic-aes256gcm
    ESP=chacha20poly1305 WANT_CHILD=ESP:CHACHA20_POLY1305
}

case_pq-pq-traffic-aes256gcm() {
    PEER_A=pqiked
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16 AUTH=psk INNER6=1
    AFTER_ESTABLISHED=traffic_checks
}

case_pq-pq-traffic-chacha20() {
    case_pq-pq-traffic-aes256gcm
    ESP=chacha20poly1305
}

# Transport mode host to host (RFC 4303 §3.1.1): TS = the two outer addresses, traffic between
# them goes through ESP (pqiked's policy rules steer it into TUN, IKE and ESP bypass it), the
# receiver rebuilds the IP header from the outer addresses.
case_pq-pq-transport() {
    case_pq-pq-traffic-aes256gcm
    INNER6=0
    export PQIKED_MODE=transport
    TA=192.0.2.1 TB=192.0.2.2
}

# The same over ESP-in-UDP (pqiked's force_udp_encap): the receiver recomputes the TCP/UDP/
# ICMPv6 checksum of the rebuilt packet (RFC 3948 §3.1.2).
case_pq-pq-transport-udp() {
    case_pq-pq-transport
    export PQIKED_EXTRA='force_udp_encap = true'
}

# `encap = true` (strongSwan's `encap`, RFC 7296 §2.23 fake NAT-D) on a path without NAT: the
# SA must come up UDP-encapsulated on port 4500 and carry the traffic. (strongSwan's
# kernel-libipsec fakes a NAT itself, so against it this would prove nothing.)
case_pq-pq-traffic-encap() {
    case_pq-pq-traffic-aes256gcm
    export PQIKED_CONN_EXTRA='encap = true'
    AFTER_ESTABLISHED=encap_checks
}

encap_checks() {
    snapshot_logs
    grep -q "installed (ESP-in-UDP" "$E/peer-b.log" \
        || fail_because "pqiked installed the Child SA without UDP encapsulation despite encap = true" || return 1
    grep -q "NAT detected" "$E/peer-b.log" \
        || fail_because "pqiked logged no (forced) NAT detection" || return 1
    traffic_checks
}

# --- helpers ------------------------------------------------------------------------------

# Inner hosts the checks use: A's and B's (tunnel mode: inside the TS; transport mode: the
# outer addresses themselves).
TA=198.51.100.1 TB=203.0.113.1

# counters of the Child SA "net" as "in_bytes in_pkts out_bytes out_pkts"
ss_counters() {   # $1 = instance (ia | ib)
    "$LAB/strongswan.sh" "$1" swanctl --list-sas --ike lab 2>/dev/null | python3 -c '
import re, sys
t = sys.stdin.read()
i = re.search(r"^\s+in\s+[0-9a-f]+.*?,\s*(\d+) bytes,\s*(\d+) packets", t, re.M)
o = re.search(r"^\s+out\s+[0-9a-f]+.*?,\s*(\d+) bytes,\s*(\d+) packets", t, re.M)
if not (i and o): sys.exit(1)
print(i.group(1), i.group(2), o.group(1), o.group(2))'
}

pq_counters() {   # $1 = instance (ia | ib)
    timeout 10 "$LAB/pqiked.sh" "$1" ctl status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for sa in d.get("ike_sas", []):
    for c in sa.get("child_sas", []):
        print(c["bytes_in"], c["packets_in"], c["bytes_out"], c["packets_out"]); sys.exit(0)
sys.exit(1)'
}

a_counters() { if [ "$PEER_A" = pqiked ]; then pq_counters "$INST_A"; else ss_counters "$INST_A"; fi; }
b_counters() { if [ "$PEER_B" = strongswan ]; then ss_counters "$INST_B"; else pq_counters "$INST_B"; fi; }

# Counters agree: over a phase without congestion (100 pings each way: 200 ESP packets per
# direction) what one side counted as sent the other counted as received, packets and bytes,
# exactly; over the whole run (iperf3 saturates the path and UDP may drop) no side received
# more than the other sent.
check_counters() {
    local a0 b0 a1 b1
    sleep 0.5
    a0=$(a_counters) || { fail_because "no Child SA counters from side A"; return 1; }
    b0=$(b_counters) || { fail_because "no Child SA counters from side B"; return 1; }
    ip netns exec ${NS}A ping -q -c 100 -i 0.005 -W 2 -I $TA $TB >> "$E/steps.log" 2>&1 \
        || { fail_because "ping burst A -> B lost packets"; return 1; }
    ip netns exec ${NS}B ping -q -c 100 -i 0.005 -W 2 -I $TB $TA >> "$E/steps.log" 2>&1 \
        || { fail_because "ping burst B -> A lost packets"; return 1; }
    sleep 0.3
    a1=$(a_counters) || { fail_because "no Child SA counters from side A"; return 1; }
    b1=$(b_counters) || { fail_because "no Child SA counters from side B"; return 1; }
    note "counters (in_bytes in_pkts out_bytes out_pkts): before the ping bursts A: $a0  B: $b0; after A: $a1  B: $b1"
    local why
    why=$(python3 - "$a0" "$b0" "$a1" "$b1" 2>> "$E/steps.log" <<'PY'
import sys
a0, b0, a1, b1 = ([int(x) for x in v.split()] for v in sys.argv[1:5])
IB, IP, OB, OP = range(4)
d = lambda x1, x0, k: x1[k] - x0[k]
for name, snd1, snd0, rcv1, rcv0 in (("A->B", a1, a0, b1, b0), ("B->A", b1, b0, a1, a0)):
    sp, rp = d(snd1, snd0, OP), d(rcv1, rcv0, IP)
    sb, rb = d(snd1, snd0, OB), d(rcv1, rcv0, IB)
    if sp != 200 or rp != 200:
        print(f"{name}: during 100+100 pings sender counted {sp} packets, receiver {rp} (want 200 each)"); sys.exit(1)
    if sb != rb:
        print(f"{name}: during the pings sender counted {sb} bytes, receiver {rb}"); sys.exit(1)
    if rcv1[IP] > snd1[OP] or rcv1[IB] > snd1[OB]:
        print(f"{name}: receiver counted more than the sender sent ({rcv1} vs {snd1})"); sys.exit(1)
    if snd1[OP] - rcv1[IP]:
        print(f"note {name}: {snd1[OP] - rcv1[IP]} of {snd1[OP]} packets lost under iperf3 load", file=sys.stderr)
PY
    ) || { fail_because "counters: $why"; return 1; }
}

traffic_checks() {
    local out pid got want
    # ping both ways
    ip netns exec ${NS}A ping -c 3 -i 0.2 -W 2 -I $TA $TB >> "$E/steps.log" 2>&1 \
        || { fail_because "no IPv4 ping $TA -> $TB through the tunnel"; return 1; }
    ip netns exec ${NS}B ping -c 3 -i 0.2 -W 2 -I $TB $TA >> "$E/steps.log" 2>&1 \
        || { fail_because "no IPv4 ping $TB -> $TA through the tunnel"; return 1; }
    if [ "${INNER6:-0}" = 1 ]; then
        # strongSwan installs its routes a moment after the SA; retry briefly
        wait_for 3 ip netns exec ${NS}A ping -6 -c 1 -W 1 -I fd00:a::1 fd00:b::1 >/dev/null 2>&1 || true
        ip netns exec ${NS}A ping -6 -c 3 -i 0.2 -W 2 -I fd00:a::1 fd00:b::1 >> "$E/steps.log" 2>&1 \
            || { fail_because "no IPv6 ping fd00:a::1 -> fd00:b::1 through the tunnel"; return 1; }
        ip netns exec ${NS}B ping -6 -c 3 -i 0.2 -W 2 -I fd00:b::1 fd00:a::1 >> "$E/steps.log" 2>&1 \
            || { fail_because "no IPv6 ping fd00:b::1 -> fd00:a::1 through the tunnel"; return 1; }
    fi

    # iperf3 TCP A -> B, 50 MB
    command -v iperf3 >/dev/null || { fail_because "iperf3 missing (scripts/setup.sh)"; return 1; }
    ip netns exec ${NS}B iperf3 -s -1 -B $TB -p 5201 > "$E/iperf3-server.log" 2>&1 &
    pid=$!
    wait_for 3 sh -c "ip netns exec ${NS}B ss -ltn | grep -q $TB:5201" || true
    ip netns exec ${NS}A timeout 60 iperf3 -c $TB -B $TA -p 5201 -n 50M -J \
        > "$E/iperf3.json" 2>> "$E/steps.log"
    stop_pid $pid 2
    got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d["end"]; print(e["sum_received"]["bytes"], round(e["sum_received"]["bits_per_second"]/1e6), e["sum_sent"].get("retransmits", 0))' \
        "$E/iperf3.json" 2>/dev/null) || { fail_because "iperf3 through the tunnel failed: $(grep -o '"error":.*' "$E/iperf3.json" | head -c 200)"; return 1; }
    note "iperf3 A->B: received bytes, Mbit/s, retransmits: $got"
    # iperf3's final receiver sum stops when the sender is done, so the last window in flight
    # is not in it; completeness is the checksummed transfer's job
    [ "${got%% *}" -ge 47185920 ] || { fail_because "iperf3 receiver got ${got%% *} of 52428800 bytes (< 90%)"; return 1; }

    # checksummed transfer B -> A
    head -c 8M /dev/urandom > "$E/blob"
    want=$(sha256sum < "$E/blob" | cut -d' ' -f1)
    sha256_sink A "$TA" 5202 30 > "$E/blob.recv" 2>> "$E/steps.log" &
    pid=$!
    wait_for 3 sh -c "ip netns exec ${NS}A ss -ltn | grep -q $TA:5202" || true
    ip netns exec ${NS}B timeout 30 python3 -c '
import socket, sys
d = open(sys.argv[1], "rb").read()
s = socket.create_connection((sys.argv[2], 5202), timeout=20, source_address=(sys.argv[3], 0))
s.sendall(d); s.close()' "$E/blob" "$TA" "$TB" 2>> "$E/steps.log" || { stop_pid $pid 1; fail_because "TCP transfer B -> A failed"; return 1; }
    wait $pid 2>/dev/null
    got=$(cat "$E/blob.recv")
    note "transfer B->A: sent 8388608 $want, received $got"
    [ "$got" = "8388608 $want" ] || { fail_because "transfer B->A corrupted or short: got '$got', want '8388608 $want'"; return 1; }

    check_counters
}

# pqiked in both namespaces: A is instance ia (side a), B is instance ib (side b)
run_case_pqiked_pair() {
    local role=$1
    MTU=$MTU "$LAB/netns.sh" up "$NS" >> "$E/steps.log" 2>&1 || fail_because "netns up failed" || return 1
    start_capture
    "$LAB/pqiked.sh" "$INST_A" config a >> "$E/steps.log" 2>&1 || fail_because "pqiked A config failed" || return 1
    b_ctl config b >> "$E/steps.log" 2>&1 || fail_because "pqiked B config failed" || return 1
    "$LAB/pqiked.sh" "$INST_A" start ${NS}A >> "$E/steps.log" 2>&1 || fail_because "pqiked A did not start" || return 1
    b_ctl start ${NS}B >> "$E/steps.log" 2>&1 || fail_because "pqiked B did not start" || return 1
    local init=$INST_A
    [ "$role" = pqike-init ] && init=$INST_B
    note "+ ($init) pqike up lab"
    timeout 40 "$LAB/pqiked.sh" "$init" ctl up lab >> "$E/steps.log" 2>&1 || fail_because "pqike up lab failed" || return 1
    local both='import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(s.get("state")=="ESTABLISHED" and s.get("child_sas") for s in d.get("ike_sas",[])) else 1)'
    wait_for 10 sh -c "'$LAB/pqiked.sh' $INST_A ctl status --json | python3 -c '$both'" \
        || fail_because "pqiked A has no established IKE SA with a Child SA" || return 1
    wait_for 10 sh -c "'$LAB/pqiked.sh' $INST_B ctl status --json | python3 -c '$both'" \
        || fail_because "pqiked B has no established IKE SA with a Child SA" || return 1
    "$LAB/pqiked.sh" "$INST_A" ctl status > "$E/list-sas.txt" 2>&1 || true
    traffic_checks "$role"
    local rc=$?
    cp "$("$LAB/pqiked.sh" "$INST_A" dir)/pqiked.log" "$E/peer-a.log" 2>/dev/null || true
    return $rc
}
