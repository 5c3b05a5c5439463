# tests/interop/cases/rekey_traffic.sh - no packet lost across rekeys (RFC 7296 §2.8
# make-before-break), pqiked's userspace data plane against strongSwan with kernel-libipsec
# (sourced by run.sh; uses TA/TB and sha256_sink from cases/traffic.sh and a_count/wait_count/CHILD_UP_RE/
# IKE_REKEYED_RE from cases/lifecycle.sh).
#
# Rekeys come from short lifetimes while traffic flows:
#   pqike-init: pqiked rekeys (child_rekey_time 5 s, IKE rekey_time 11 s, jitter 1 s): pqiked
#               is the rekey INITIATOR (InstallChildSa: the new SA takes over outbound at once);
#   pqike-resp: strongSwan rekeys (child rekey_time 5 s, IKE rekey_time 11 s): pqiked is the
#               rekey RESPONDER (InstallChildSaInbound: decapsulate on the new SA, keep sending
#               on the old one until the first packet arrives on the new SA or the old one is
#               deleted, ActivateChildSa).
# IKE rekeys interleave with the child rekeys (children move to the new IKE SA, the data plane
# must not touch them).
#
# Traffic (iperf3 UDP, 1200-byte datagrams, both directions at once, RT_RATE each, RT_SECS):
# the RECEIVER's JSON (the iperf3 server's; the client's JSON does not carry the receiver's
# out_of_order) must show lost_packets == 0 and out_of_order == 0, and the receiver's packet
# count must equal what the sender sent, up to 20 datagrams at the very end (iperf3's server
# stops reading at the client's TEST_END while the last datagrams are still in libipsec). iperf3 counts a duplicate as
# out-of-order (checked: 105 nft-duplicated datagrams on loopback gave out_of_order 105 in the
# server's JSON, 0 in the client's), so this also asserts "no duplicates".
# Then: >= 5 child rekeys and >= 1 IKE rekey in strongSwan's log during the transfer; in
# pqiked's log >= 5 Child SAs removed after carrying traffic both ways (the traffic moved to
# their successors), and for pqike-resp the outbound switch of each new SA. Finally a TCP
# iperf3 (A -> B) and a paced checksummed TCP transfer (B -> A) across further rekeys:
# bytes intact (sha256), TCP retransmits reported (not asserted).
#
# Which losses pqiked controls: its own decapsulation drops (unknown SPI: a packet on an SA not
# yet or no longer installed; replay) are counted by the ESP core and logged per SA at removal.
# The UDP assertion covers the whole path, strongSwan's libipsec included; if it fails, the
# case prints pqiked's unknown-SPI/replay counts and strongSwan's libipsec complaints so the
# loss can be attributed (see docs/testing.md for what was observed).
#
# rekey-traffic-bytes: the child rekey comes from the data plane's soft VOLUME expiry
# (child_rekey_bytes = 8 MB, ESP core -> EspNotice::SoftExpire -> engine), no time rekeys.

CASES+=(
    ss61-rekey-traffic-mlkem768
    ss601-rekey-traffic-ecp384
    ss61-rekey-traffic-bytes
)

RT_RATE=${RT_RATE:-20M}
RT_SECS=${RT_SECS:-34}

case_ss61-rekey-traffic-mlkem768() {
    SS=sid
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_mlkem768 ESP=aes256gcm16-x25519-ke1_mlkem768 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_CHILD_PFS=ESP:AES_GCM_16-256/CURVE_25519/KE1_ML_KEM_768
    WANT_LOG_A=""
    RT_KIND=time
    AFTER_ESTABLISHED=rekey_traffic_checks
    rt_configure
}

case_ss601-rekey-traffic-ecp384() {
    SS=trixie
    PROPOSALS=aes256gcm16-prfsha384-x25519-ke1_ecp384 ESP=aes256gcm16-x25519-ke1_ecp384 AUTH=psk
    WANT_IKE=AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ECP_384
    WANT_CHILD=ESP:AES_GCM_16-256
    WANT_CHILD_PFS=ESP:AES_GCM_16-256/CURVE_25519/KE1_ECP_384
    WANT_LOG_A=""
    RT_KIND=time
    AFTER_ESTABLISHED=rekey_traffic_checks
    rt_configure
}

case_ss61-rekey-traffic-bytes() {
    case_ss61-rekey-traffic-mlkem768
    RT_KIND=bytes
    rt_configure
}

# Lifetimes per RT_KIND and the role run.sh is running ($role is set by run_case before the
# case function is called for the run; for --list it is empty and nothing matters).
rt_configure() {
    unset CHILD_EXTRA CONN_EXTRA PQIKED_CONN_EXTRA
    if [ "$RT_KIND" = bytes ]; then
        # pqiked's data plane: soft at 8 MB (max of in/out per SA), hard +50 % (12 MB)
        PQIKED_CONN_EXTRA="child_rekey_bytes = 8000000"
        export PQIKED_CONN_EXTRA
    elif [ "${role:-}" = pqike-resp ]; then
        # strongSwan drives: child every 5 s (life 7 s, jitter 0), IKE every 11 s
        CHILD_EXTRA="rekey_time = 5s
                life_time = 7s
                rand_time = 0s"
        CONN_EXTRA="rekey_time = 11s
        over_time = 3s
        rand_time = 0s"
        export CHILD_EXTRA CONN_EXTRA
    else
        PQIKED_CONN_EXTRA="child_rekey_time = 5
rekey_time = 11
rand_time = 1"
        export PQIKED_CONN_EXTRA
    fi
}

# pqiked's log (instance B) as far as written
rt_b_log() { cat "$(b_ctl dir)/pqiked.log" 2>/dev/null; }

# iperf3 UDP one way: $1 = sender ns suffix (A|B), $2 sender addr, $3 receiver ns, $4 receiver
# addr, $5 port, $6 tag. Server JSON -> $E/udp-$6-recv.json, client JSON -> $E/udp-$6-send.json
rt_udp_start() {
    local sns=$1 saddr=$2 rns=$3 raddr=$4 port=$5 tag=$6
    ip netns exec ${NS}$rns iperf3 -s -1 -B $raddr -p $port -i 0.5 -J > "$E/udp-$tag-recv.json" 2>&1 &
    echo $! > "$E/udp-$tag-server.pid"
    wait_for 3 sh -c "ip netns exec ${NS}$rns ss -ltn | grep -q $raddr:$port" || true
    ip netns exec ${NS}$sns timeout $((RT_SECS + 20)) iperf3 -c $raddr -B $saddr -p $port \
        -u -b $RT_RATE -l 1200 -t $RT_SECS -i 0.5 -J > "$E/udp-$tag-send.json" 2>> "$E/steps.log" &
    echo $! > "$E/udp-$tag-client.pid"
}

# Distinct Child SAs strongSwan established (as rekey responder it logs "inbound CHILD_SA
# net{N} established" and "outbound CHILD_SA net{N} established" for the same SA)
rt_children() { a_log | grep -oE 'CHILD_SA net\{[0-9]+\} established' | sort -u | wc -l; }

# Kernel drop counters of both namespaces: "udp_rcvbuf_errors link_drops" (sockets full and
# device queues full: CPU starvation, not SA handling)
rt_drops() {
    local n r=0 l=0 x
    for n in A B; do
        x=$(ip netns exec ${NS}$n nstat -az -s UdpRcvbufErrors Udp6RcvbufErrors UdpSndbufErrors 2>/dev/null \
            | awk '/Errors/ {s += $2} END {print s + 0}')
        r=$((r + x))
        x=$(ip netns exec ${NS}$n ip -s -j link 2>/dev/null | python3 -c 'import json,sys; print(sum(l["stats64"]["rx"]["dropped"]+l["stats64"]["tx"]["dropped"] for l in json.load(sys.stdin)))' 2>/dev/null || echo 0)
        l=$((l + x))
    done
    echo "$r $l"
}

# "sent received lost out_of_order" of one direction, or exit 1
rt_udp_result() {
    python3 - "$E/udp-$1-send.json" "$E/udp-$1-recv.json" <<'PY'
import json, sys
snd = json.load(open(sys.argv[1]))["end"]["streams"][0]["udp"]
rcv = json.load(open(sys.argv[2]))["end"]["streams"][0]["udp"]
print(snd["packets"], rcv["packets"], rcv["lost_packets"], rcv["out_of_order"])
PY
}

rekey_traffic_checks() {
    local role=$1 c0 k0 c1 k1 ab ba why
    command -v iperf3 >/dev/null || { fail_because "iperf3 missing (scripts/setup.sh)"; return 1; }
    ip netns exec ${NS}A ping -c 2 -i 0.2 -W 2 -I $TA $TB >> "$E/steps.log" 2>&1 \
        || { fail_because "no ping $TA -> $TB through the tunnel"; return 1; }
    c0=$(rt_children); k0=$(a_count "$IKE_REKEYED_RE")
    local d0 d1; d0=$(rt_drops)
    local b0; b0=$(rt_b_log | wc -l)
    note "rekey-traffic ($RT_KIND, $role): UDP $RT_RATE each way for $RT_SECS s; strongSwan so far: $c0 child establishments, $k0 IKE rekeys"
    rt_udp_start A $TA B $TB 5201 ab
    rt_udp_start B $TB A $TA 5202 ba
    wait "$(cat "$E/udp-ab-client.pid")" 2>/dev/null
    wait "$(cat "$E/udp-ba-client.pid")" 2>/dev/null
    stop_pid "$(cat "$E/udp-ab-server.pid")" 3; stop_pid "$(cat "$E/udp-ba-server.pid")" 3
    c1=$(rt_children); k1=$(a_count "$IKE_REKEYED_RE"); d1=$(rt_drops)
    snapshot_logs
    rt_b_log | tail -n +$((b0 + 1)) > "$E/pqiked-during.log"
    ab=$(rt_udp_result ab) || { fail_because "iperf3 UDP A->B failed: $(grep -o '"error":.*' "$E"/udp-ab-*.json | head -c 200)"; return 1; }
    ba=$(rt_udp_result ba) || { fail_because "iperf3 UDP B->A failed: $(grep -o '"error":.*' "$E"/udp-ba-*.json | head -c 200)"; return 1; }
    note "UDP (sent received lost out_of_order): A->B $ab, B->A $ba"
    note "during the transfer: $((c1 - c0)) child SAs established, $((k1 - k0)) IKE rekeys (strongSwan's log)"
    note "kernel drops (udp buffer errors, device drops) in both namespaces: before $d0, after $d1"
    # evidence for attributing any loss: pqiked's drops and strongSwan's libipsec complaints
    grep -E "removed: |unknown SPI|carries outbound|inbound-only|expiry" "$E/pqiked-during.log" > "$E/pqiked-sa-moves.log"
    grep -iE "libipsec|no matching|SPI .* not found|dropping|replay" "$E/charon-a.log" | tail -n 20 > "$E/charon-drops.log"

    [ $((c1 - c0)) -ge 5 ] || { fail_because "only $((c1 - c0)) child rekeys during the transfer (want >= 5)"; return 1; }
    if [ "$RT_KIND" = time ]; then
        [ $((k1 - k0)) -ge 1 ] || { fail_because "no IKE rekey during the transfer"; return 1; }
    else
        local soft; soft=$(grep -cE "expiry \(Bytes\)" "$E/pqiked-during.log")
        note "pqiked: $soft soft volume expiries during the transfer"
        [ "$soft" -ge 5 ] || { fail_because "only $soft byte-triggered soft expiries in pqiked's log (want >= 5)"; return 1; }
        grep -qE "SoftExpire|Soft expiry \(Time\)" "$E/pqiked-during.log" \
            && note "note: time-based expiries seen too"
    fi
    # pqiked's own decapsulation drops (debug log of the ESP core): none may happen
    local own; own=$(grep -cE "ESP in: (unknown SPI|replay check failed|ICV check failed)" "$E/pqiked-during.log")
    note "pqiked ESP-in drops (unknown SPI / replay / ICV) during the transfer: $own"
    [ "$own" = 0 ] || { fail_because "pqiked dropped $own ESP packets (unknown SPI/replay/ICV) across rekeys"; return 1; }
    # Traffic moved: >= 5 retired SAs that carried packets both ways before their successor.
    why=$(python3 - "$E/pqiked-during.log" <<'PY'
import re, sys
moved = 0
for l in open(sys.argv[1], errors="replace"):
    m = re.search(r"Child SA ([0-9a-f]+)_i removed: (\d+) packets / \d+ bytes in, (\d+) packets", l)
    if m and int(m.group(2)) > 0 and int(m.group(3)) > 0:
        moved += 1
print(moved)
PY
    )
    note "pqiked: $why Child SAs removed after carrying traffic both ways"
    [ "${why:-0}" -ge 5 ] || { fail_because "pqiked removed only ${why:-0} Child SAs that carried traffic both ways (want >= 5)"; return 1; }
    if [ "$role" = pqike-resp ] && [ "$RT_KIND" = time ]; then
        local ino act
        ino=$(grep -c "installed inbound-only" "$E/pqiked-during.log")
        act=$(grep -cE "carries outbound traffic" "$E/pqiked-during.log")
        note "pqiked as rekey responder: $ino inbound-only installs, $act outbound switches"
        [ "$ino" -ge 5 ] && [ "$act" -ge 5 ] \
            || { fail_because "pqiked: $ino inbound-only installs / $act outbound switches (want >= 5 each)"; return 1; }
    fi
    # IKE rekeys must not reinstall children: every install is a new SPI, none twice
    if grep -oE "Child SA [0-9a-f]+_i/[0-9a-f]+_o installed" "$E/pqiked-during.log" | sort | uniq -d | grep -q .; then
        fail_because "pqiked installed a Child SA twice (IKE rekey reinstalled a child?)"; return 1
    fi

    # Loss timeline (iperf3 0.5 s intervals) against the rekey instants in strongSwan's log
    python3 - "$E" > "$E/loss-timeline.txt" 2>&1 <<'PY'
import json, re, sys, datetime
E = sys.argv[1]
ev = []
for l in open(f"{E}/charon-a.log", errors="replace"):
    m = re.match(r"(\d\d):(\d\d):(\d\d\.\d+) .*(CHILD_SA net\{\d+\} established|closing CHILD_SA|IKE_SA lab\[\d+\] rekeyed)", l)
    if m:
        ev.append((int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]), m[4]))
for t in ("ab", "ba"):
    d = json.load(open(f"{E}/udp-{t}-recv.json"))
    st = datetime.datetime.fromtimestamp(d["start"]["timestamp"]["timesecs"])
    base = st.hour * 3600 + st.minute * 60 + st.second
    for i in d["intervals"]:
        s = i["sum"]
        if s["lost_packets"] or s.get("out_of_order"):
            a, b = base + s["start"], base + s["end"]
            near = [n for (x, n) in ev if a - 1 <= x <= b + 1]
            print(f"{t} {s['start']:.1f}-{s['end']:.1f}s lost {s['lost_packets']} ooo {s.get('out_of_order')} rekey events within 1 s: {near}")
PY
    python3 - "$ab" "$ba" "$d0" "$d1" <<'PY' > "$E/udp-verdict" || { fail_because "$(cat "$E/udp-verdict")"; rt_loss_evidence; return 1; }
import sys
bad, lost_total = [], 0
for name, v in (("A->B", sys.argv[1]), ("B->A", sys.argv[2])):
    sent, got, lost, ooo = map(int, v.split())
    if ooo:
        bad.append(f"{name}: {ooo} out-of-order/duplicated")
    # Datagrams missing after the last one received: iperf3's server stops reading when the
    # client's TEST_END arrives on the control connection, while the last datagrams may still
    # be in strongSwan's userspace ESP path. Up to 20 (10 ms at this rate) are reported, not
    # counted; a gap anywhere else (lost) is.
    tail = sent - got
    if tail < 0 or tail > 20:
        lost_total += max(tail, 0)
        if tail < 0:
            bad.append(f"{name}: receiver counted {got} > {sent} sent")
    lost_total += lost
    if lost or got != sent:
        print(f"note {name}: sent {sent}, receiver counted {got}, lost {lost}", file=sys.stderr)
r0, l0 = map(int, sys.argv[3].split()); r1, l1 = map(int, sys.argv[4].split())
explained = (r1 - r0) + (l1 - l0)
if lost_total > explained:
    bad.append(f"{lost_total} datagrams lost, only {explained} accounted for by kernel socket/device drops")
if bad:
    print("UDP across rekeys: " + "; ".join(bad)); sys.exit(1)
if lost_total:
    print(f"NOTE: {lost_total} datagrams lost, all accounted for by {explained} kernel socket-buffer/device drops (CPU starvation), not by SA handling")
PY
    cat "$E/udp-verdict" >> "$E/steps.log"

    # TCP A -> B across more rekeys: retransmits reported
    ip netns exec ${NS}B iperf3 -s -1 -B $TB -p 5203 > "$E/iperf3-tcp-server.log" 2>&1 &
    local pid=$!
    wait_for 3 sh -c "ip netns exec ${NS}B ss -ltn | grep -q $TB:5203" || true
    ip netns exec ${NS}A timeout 40 iperf3 -c $TB -B $TA -p 5203 -t 12 -J > "$E/iperf3-tcp.json" 2>> "$E/steps.log"
    stop_pid $pid 2
    local got
    got=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print(e["sum_received"]["bytes"], round(e["sum_received"]["bits_per_second"]/1e6), e["sum_sent"].get("retransmits", 0))' \
        "$E/iperf3-tcp.json" 2>/dev/null) || { fail_because "iperf3 TCP across rekeys failed"; return 1; }
    note "TCP A->B across rekeys (12 s): received bytes, Mbit/s, retransmits: $got"

    # checksummed TCP B -> A, paced over ~10 s (24 MB in 64 KB chunks, 2.4 MB/s)
    head -c 24M /dev/urandom > "$E/blob"
    local want; want=$(sha256sum < "$E/blob" | cut -d' ' -f1)
    sha256_sink A "$TA" 5204 40 > "$E/blob.recv" 2>> "$E/steps.log" &
    pid=$!
    wait_for 3 sh -c "ip netns exec ${NS}A ss -ltn | grep -q $TA:5204" || true
    ip netns exec ${NS}B timeout 40 python3 -c '
import socket, sys, time
d = open(sys.argv[1], "rb").read()
s = socket.create_connection((sys.argv[2], 5204), timeout=20, source_address=(sys.argv[3], 0))
t0 = time.monotonic()
for i in range(0, len(d), 1 << 16):
    s.sendall(d[i:i + (1 << 16)])
    time.sleep(max(0, t0 + (i >> 16) * 0.026 - time.monotonic()))
s.close()' "$E/blob" "$TA" "$TB" 2>> "$E/steps.log" || { stop_pid $pid 1; fail_because "paced TCP transfer B -> A failed"; return 1; }
    wait $pid 2>/dev/null
    got=$(cat "$E/blob.recv")
    note "paced transfer B->A: sent 25165824 $want, received $got"
    [ "$got" = "25165824 $want" ] || { fail_because "transfer B->A across rekeys corrupted or short: got '$got'"; return 1; }
    note "rekey-traffic: now $(rt_children) child SAs, $(a_count "$IKE_REKEYED_RE") IKE rekeys in strongSwan's log"
    lifecycle_final_state "$role"
}

# On a UDP failure: what pqiked dropped (per removed SA, unknown SPIs) and what libipsec said.
rt_loss_evidence() {
    note "--- pqiked SA moves/drops during the transfer:"; cat "$E/pqiked-sa-moves.log" >> "$E/steps.log"
    note "--- strongSwan libipsec lines:"; cat "$E/charon-drops.log" >> "$E/steps.log"
    note "--- loss timeline:"; cat "$E/loss-timeline.txt" >> "$E/steps.log"
}
