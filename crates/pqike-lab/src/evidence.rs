//! Evidence of one cell: packet capture, its tshark summary, Wireshark decryption tables,
//! trimmed logs, and the failure diagnosis.
//!
//! Keys: strongSwan at `ike = 4` logs every derived IKE key (`Sk_ei secret => 36 bytes`
//! followed by a hex dump), once per key derivation, i.e. again after every RFC 9370 key
//! exchange. Wireshark keeps one key set per SPI pair, so the table holds the final set
//! (IKE_AUTH onwards); earlier rounds are written as commented rows to swap in.
use pqike_wire::algorithms::{self, AlgKind};
use pqike_wire::{ExchangeType, KeMethod, NotifyType, PayloadType};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Start dumpcap on `iface` in `ns`; IKE and ESP-in-UDP only.
pub fn start_capture(ns: &str, iface: &str, pcap: &Path) -> Option<Child> {
    let log = std::fs::File::create(pcap.with_extension("dumpcap.log")).ok()?;
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "dumpcap",
            "-q",
            "-P",
            "-i",
            iface,
            "-f",
            // IKE, ESP-in-UDP (RFC 3948) and plain ESP (traffic cases)
            "udp port 500 or udp port 4500 or esp",
            "-w",
        ])
        .arg(pcap)
        .stdin(Stdio::null())
        .stdout(log.try_clone().ok()?)
        .stderr(log)
        .spawn()
        .ok()?;
    let logp = pcap.with_extension("dumpcap.log");
    for _ in 0..100 {
        if std::fs::read_to_string(&logp)
            .unwrap_or_default()
            .contains("Capturing on")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    Some(child)
}

/// SIGTERM dumpcap (our child, by PID) so it flushes the file, then reap it.
pub fn stop_capture(mut c: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
    for _ in 0..60 {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// One derived IKE key set from a strongSwan log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IkeKeys {
    /// strongSwan's unique IKE SA id (`<lab|3>` -> 3)
    pub sa: u32,
    pub keys: BTreeMap<String, String>,
}

/// Parse every `Sk_xx secret => N bytes` hex dump of a strongSwan level-4 log.
pub fn strongswan_keys(log: &str) -> Vec<IkeKeys> {
    let lines: Vec<&str> = log.lines().collect();
    let mut sets: Vec<IkeKeys> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(pos) = l.find("Sk_").filter(|_| l.contains(" secret => ")) {
            let name = l[pos..].split_whitespace().next().unwrap_or("").to_string();
            let total: usize = l
                .split(" secret => ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let sa = l
                .split('<')
                .nth(1)
                .and_then(|r| r.split('>').next())
                .and_then(|r| r.rsplit('|').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let mut hex = String::new();
            let mut j = i + 1;
            while hex.len() < total * 2 && j < lines.len() {
                // "...[IKE] <lab|1>    0: 8A 3B ... 16 bytes  ascii" (prefix varies)
                let Some(colon) = lines[j]
                    .find(|c: char| c.is_ascii_digit())
                    .and_then(|_| dump_offset(lines[j]))
                else {
                    break;
                };
                for tok in lines[j][colon..].split_whitespace().take(16) {
                    if hex.len() >= total * 2
                        || tok.len() != 2
                        || !tok.chars().all(|c| c.is_ascii_hexdigit())
                    {
                        break;
                    }
                    hex.push_str(&tok.to_lowercase());
                }
                j += 1;
            }
            if hex.len() == total * 2 {
                // a new set starts with Sk_d (first key of each derivation)
                if name == "Sk_d"
                    || sets
                        .last()
                        .is_none_or(|s| s.sa != sa || s.keys.contains_key(&name))
                {
                    sets.push(IkeKeys {
                        sa,
                        keys: BTreeMap::new(),
                    });
                }
                if let Some(s) = sets.last_mut() {
                    s.keys.insert(name, hex);
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    sets
}

/// Byte index just after "NNN: " of a hex dump line, if it is one.
fn dump_offset(line: &str) -> Option<usize> {
    // find "<spaces><digits>: " followed by two hex digits
    let b = line.as_bytes();
    let mut k = 0;
    while k + 4 < b.len() {
        if b[k].is_ascii_digit()
            && b[k + 1] == b':'
            && b[k + 2] == b' '
            && (k == 0 || b[k - 1] == b' ' || b[k - 1].is_ascii_digit())
        {
            let rest = &line[k + 3..];
            if rest.len() >= 2 && rest.as_bytes()[..2].iter().all(|c| c.is_ascii_hexdigit()) {
                return Some(k + 3);
            }
        }
        k += 1;
    }
    None
}

/// Wireshark's name for an IKE encryption transform (ikev2_decryption_table), from the name
/// swanctl prints (`AES_GCM_16-256`).
pub fn wireshark_encr(encr: &str) -> Option<&'static str> {
    algorithms::by_name(encr)
        .filter(|a| a.kind == AlgKind::Encr)?
        .wireshark_ike
}

/// Wireshark's name for an IKE integrity transform; AEAD (no integrity) is NONE.
pub fn wireshark_integ(integ: Option<&str>) -> &'static str {
    let none = || algorithms::by_id(AlgKind::Integ, 0).and_then(|a| a.wireshark_ike);
    integ
        .and_then(algorithms::by_name)
        .filter(|a| a.kind == AlgKind::Integ)
        .and_then(|a| a.wireshark_ike)
        .or_else(none)
        .unwrap_or("NONE [RFC4306]")
}

/// The `ikev2_decryption_table` file: final key set per IKE SA, earlier rounds commented.
pub fn decryption_table(sets: &[IkeKeys], spis: &[(String, String)], ike_line: &str) -> String {
    let mut parts = ike_line.split('/');
    let encr = parts.next().unwrap_or("");
    let integ = ike_line.split('/').find(|p| p.starts_with("HMAC_"));
    let mut out = String::from(
        "# Wireshark IKEv2 decryption table (Preferences > Protocols > ISAKMP > IKEv2 Decryption Table,\n\
         # or copy to ~/.config/wireshark/ikev2_decryption_table). Keys from strongSwan's level-4 log.\n",
    );
    let Some(enc_name) = wireshark_encr(encr) else {
        out.push_str(&format!(
            "# encryption {encr} has no Wireshark IKEv2 decryption support\n"
        ));
        return out;
    };
    let mut sa_ids: Vec<u32> = sets.iter().map(|s| s.sa).collect();
    sa_ids.dedup();
    for (n, sa) in sa_ids.iter().enumerate() {
        let Some((ispi, rspi)) = spis.get(n) else {
            out.push_str(&format!(
                "# IKE SA <{sa}>: SPIs not seen in the capture (rekeyed IKE SA)\n"
            ));
            continue;
        };
        let rounds: Vec<&IkeKeys> = sets.iter().filter(|s| s.sa == *sa).collect();
        for (r, k) in rounds.iter().enumerate() {
            let g = |n: &str| k.keys.get(n).cloned().unwrap_or_default();
            let row = format!(
                // hex fields unquoted, names quoted: the format Wireshark itself writes
                "{ispi},{rspi},{},{},\"{enc_name}\",{},{},\"{}\"",
                g("Sk_ei"),
                g("Sk_er"),
                g("Sk_ai"),
                g("Sk_ar"),
                wireshark_integ(integ)
            );
            if r + 1 == rounds.len() {
                out.push_str(&row);
                out.push('\n');
            } else {
                out.push_str(&format!(
                    "# key set after KE round {r} (decrypts IKE_INTERMEDIATE #{}):\n#{row}\n",
                    r + 1
                ));
            }
        }
    }
    out
}

/// Decryption tables from pqiked's `key_log` directory (crates/pqike-daemon/src/keylog.rs).
pub struct EngineTables {
    /// `ikev2_decryption_table`: the final key set per SPI pair.
    pub ike: String,
    /// Round r: the key set that protects IKE_INTERMEDIATE #r+1, per SPI pair.
    pub rounds: Vec<String>,
    /// `esp_sa`: both directions of every Child SA.
    pub esp: String,
}

/// Read pqiked's key_log tables; `None` when it wrote no IKE key set.
pub fn engine_tables(dir: &Path) -> Option<EngineTables> {
    const SUPERSEDED: &str = "# superseded (IKE_INTERMEDIATE keys): ";
    let ike = std::fs::read_to_string(dir.join("ikev2_decryption_table")).ok()?;
    if !ike.lines().any(|l| !l.is_empty() && !l.starts_with('#')) {
        return None;
    }
    let esp = std::fs::read_to_string(dir.join("esp_sa")).unwrap_or_default();
    // the file lists, per SPI pair, its superseded sets (oldest first), then the live one
    let mut rounds: Vec<String> = Vec::new();
    let mut r = 0;
    for l in ike.lines() {
        if let Some(row) = l.strip_prefix(SUPERSEDED) {
            if rounds.len() <= r {
                rounds.push(format!(
                    "# pqiked key_log: key set of round {r} (decrypts IKE_INTERMEDIATE #{})\n",
                    r + 1
                ));
            }
            rounds[r].push_str(row);
            rounds[r].push('\n');
            r += 1;
        } else if !l.starts_with('#') {
            r = 0;
        }
    }
    let mut ike_out = String::from(
        "# Wireshark IKEv2 decryption table (Preferences > Protocols > ISAKMP > IKEv2 Decryption Table,\n\
         # or copy to ~/.config/wireshark/ikev2_decryption_table). Keys from pqiked's key_log:\n\
         # the final set per IKE SA (IKE_AUTH onwards); IKE_INTERMEDIATE sets are commented.\n",
    );
    ike_out.push_str(&ike);
    Some(EngineTables {
        ike: ike_out,
        rounds,
        esp,
    })
}

/// One decryption table per earlier key round (round r decrypts IKE_INTERMEDIATE #r+1).
pub fn round_tables(sets: &[IkeKeys], spis: &[(String, String)], ike_line: &str) -> Vec<String> {
    let Some(first) = sets.first() else {
        return vec![];
    };
    let rounds: Vec<IkeKeys> = sets.iter().filter(|s| s.sa == first.sa).cloned().collect();
    (0..rounds.len().saturating_sub(1))
        .map(|r| decryption_table(&rounds[r..=r], &spis[..spis.len().min(1)], ike_line))
        .collect()
}

/// One IKE datagram as tshark dissects it.
#[derive(Clone, Debug, Default)]
pub struct Pkt {
    pub t: f64,
    pub src: String,
    pub dst: String,
    pub udp_len: u32,
    pub exch: u32,
    pub response: bool,
    pub msgid: u32,
    pub frag: Option<(u32, u32)>,
    pub payloads: Vec<u32>,
    pub notifies: Vec<u32>,
    pub ke_groups: Vec<u32>,
    pub ispi: String,
    pub rspi: String,
    /// ESP (or ESP-in-UDP) packet: SPI and sequence number
    pub esp: Option<(u32, u32)>,
    /// what the decrypted ESP payload carries, e.g. "ICMP echo request 198.51.100.1 -> 203.0.113.1"
    pub inner: Option<String>,
}

// Names of what tshark dissects: the registry's (pqike-wire), with fallbacks for values the
// registry does not know.

pub fn exchange_name(x: u32) -> String {
    match u8::try_from(x).ok().and_then(|x| ExchangeType(x).name()) {
        Some(n) => n.into(),
        None if x == 0 => "non-IKE".into(),
        None => format!("EXCH_{x}"),
    }
}

/// strongSwan's payload abbreviation; types 33.. only (0 = none gives "").
pub fn payload_name(p: u32) -> String {
    match u8::try_from(p).ok().map(PayloadType) {
        Some(PayloadType::NONE) => String::new(),
        // The trace shows the wire payload with its RFC 7383 name (strongSwan's summaries say
        // EF, with the fragment numbers, which the trace prints separately).
        Some(PayloadType::SKF) => "SKF".into(),
        Some(t) => t
            .short_name()
            .map_or_else(|| format!("P{p}"), str::to_string),
        None => format!("P{p}"),
    }
}

/// The registry name of a notify type (error notifies end up in `expect_reason` matches).
pub fn notify_name(n: u32) -> String {
    let known = u16::try_from(n).ok().and_then(|n| NotifyType(n).name());
    match (known, n) {
        (Some(name), _) => name.into(),
        // values pqike does not implement but peers in the lab send
        (None, 16447) => "IKE_SA_INIT_FULL_TRANSCRIPT_AUTH".into(),
        (None, 50208) => "PPK_IDENTITY_KEY(libreswan-draft)".into(),
        (None, 50209) => "USE_PPK_INT(libreswan-draft)".into(),
        (None, _) => format!("NOTIFY_{n}"),
    }
}

/// A key exchange method as swanctl prints it (`CURVE_25519`).
pub fn group_name(g: u32) -> String {
    match u16::try_from(g) {
        Ok(id) if algorithms::by_id(AlgKind::Ke, id).is_some() => algorithms::ke_name(KeMethod(id)),
        _ => format!("GROUP_{g}"),
    }
}

fn nums(s: &str) -> Vec<u32> {
    s.split(',')
        .filter_map(|x| {
            let x = x.trim();
            x.strip_prefix("0x")
                .map_or_else(|| x.parse().ok(), |h| u32::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// Dissect the capture with tshark, using `wsconf` as HOME (.config/wireshark/ikev2_decryption_table)
/// as Wireshark's configuration so encrypted payloads are shown.
pub fn tshark_packets(pcap: &Path, wsconf: &Path) -> Result<Vec<Pkt>, String> {
    let fields = [
        "frame.time_relative",
        "ip.src",
        "ip.dst",
        "udp.length",
        "isakmp.exchangetype",
        "isakmp.flags",
        "isakmp.messageid",
        "isakmp.frag.number",
        "isakmp.frag.total",
        "isakmp.typepayload",
        "isakmp.notify.msgtype",
        "isakmp.key_exchange.dh_group",
        "isakmp.ispi",
        "isakmp.rspi",
        "esp.spi",
        "esp.sequence",
        "icmp.type",
        "ip.proto",
    ];
    let mut cmd = Command::new("tshark");
    cmd.env("HOME", wsconf).arg("-r").arg(pcap).args([
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        // ESP with the keys of wsconf's esp_sa (pqiked's key_log); UDP 4500 packets without
        // the non-ESP marker are ESP-in-UDP (RFC 3948) and dissected as ESP by default
        "-o",
        "esp.enable_encryption_decode:TRUE",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("tshark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut pkts = Vec::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < fields.len() {
            continue;
        }
        let flags = nums(c[5]).first().copied().unwrap_or(0);
        let frag = match (nums(c[7]).first(), nums(c[8]).first()) {
            (Some(n), Some(t)) => Some((*n, *t)),
            _ => None,
        };
        // ip.* has one value per IP header: outer first, then the decrypted inner one
        let srcs: Vec<&str> = c[1].split(',').collect();
        let dsts: Vec<&str> = c[2].split(',').collect();
        let esp = nums(c[14])
            .first()
            .map(|spi| (*spi, nums(c[15]).first().copied().unwrap_or(0)));
        let inner = (esp.is_some() && srcs.len() > 1).then(|| {
            let what = match (nums(c[16]).first(), nums(c[17]).get(1)) {
                (Some(8), _) => "ICMP echo request".to_string(),
                (Some(0), _) => "ICMP echo reply".to_string(),
                (Some(t), _) => format!("ICMP type {t}"),
                (None, Some(6)) => "TCP".into(),
                (None, Some(17)) => "UDP".into(),
                (None, Some(p)) => format!("IP proto {p}"),
                (None, None) => "IP".into(),
            };
            format!(
                "{what} {} -> {}",
                srcs[1],
                dsts.get(1).copied().unwrap_or("?")
            )
        });
        pkts.push(Pkt {
            t: c[0].parse().unwrap_or(0.0),
            src: srcs[0].to_string(),
            dst: dsts[0].to_string(),
            udp_len: c[3].parse().unwrap_or(0),
            exch: nums(c[4]).first().copied().unwrap_or(0),
            response: flags & 0x20 != 0,
            msgid: nums(c[6]).first().copied().unwrap_or(0),
            frag,
            payloads: nums(c[9]),
            notifies: nums(c[10]),
            ke_groups: nums(c[11]),
            ispi: c[12].split(',').next().unwrap_or("").to_string(),
            rspi: c[13].split(',').next().unwrap_or("").to_string(),
            esp,
            inner,
        });
    }
    Ok(pkts)
}

/// SPI pairs of the IKE SAs in the capture, in order of first appearance: the IKE_SA_INIT
/// pair, then those of IKE SAs made by rekeying (first seen in their own headers).
pub fn spi_pairs(pkts: &[Pkt]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for p in pkts
        .iter()
        .filter(|p| p.exch != 0 && !p.rspi.is_empty() && !p.rspi.chars().all(|c| c == '0'))
    {
        let pair = (p.ispi.clone(), p.rspi.clone());
        if !v.contains(&pair) {
            v.push(pair);
        }
    }
    v
}

/// Aggregates of a capture for the matrix and the summary file.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TraceStats {
    pub packets: usize,
    pub exchanges: Vec<String>,
    pub max_datagram: u32,
    pub fragments: usize,
    pub retransmissions: usize,
    /// KE transform of every key exchange round, in order (IKE_SA_INIT, then IKE_INTERMEDIATE...)
    pub ke_rounds: Vec<String>,
    /// error notifies: "NAME from SRC in EXCH request|response"
    pub errors: Vec<String>,
    /// datagrams the impairment stage dropped / duplicated
    pub dropped: usize,
    pub duplicated: usize,
    /// distinct requests per sender address and exchange (retransmits and fragments not
    /// counted): who drove which CREATE_CHILD_SA / IKE_FOLLOWUP_KE
    #[serde(default)]
    pub requests: BTreeMap<String, BTreeMap<String, usize>>,
    /// ESP packets on the wire / of those, decrypted by tshark with the `esp_sa` table
    #[serde(default)]
    pub esp_packets: usize,
    #[serde(default)]
    pub esp_decrypted: usize,
    /// SPIs of the ESP packets, in order of appearance (hex)
    #[serde(default)]
    pub esp_spis: Vec<String>,
}

impl TraceStats {
    /// Requests of exchange `exch` sent from `src`.
    pub fn requests_from(&self, src: &str, exch: &str) -> usize {
        self.requests
            .get(src)
            .and_then(|m| m.get(exch))
            .copied()
            .unwrap_or(0)
    }
}

pub fn stats(pkts: &[Pkt]) -> TraceStats {
    let mut s = TraceStats {
        packets: pkts.len(),
        ..Default::default()
    };
    let mut seen = std::collections::HashSet::new();
    for p in pkts {
        if let Some((spi, _)) = p.esp {
            s.esp_packets += 1;
            if p.inner.is_some() {
                s.esp_decrypted += 1;
            }
            let spi = format!("0x{spi:08x}");
            if !s.esp_spis.contains(&spi) {
                s.esp_spis.push(spi);
            }
            continue;
        }
        s.max_datagram = s.max_datagram.max(p.udp_len.saturating_sub(8));
        if p.frag.is_some() {
            s.fragments += 1;
        }
        if p.exch == 0 {
            continue;
        }
        let key = (
            p.src.clone(),
            p.exch,
            p.msgid,
            p.response,
            p.frag,
            p.ispi.clone(),
        );
        let first = seen.insert(key);
        if !first {
            s.retransmissions += 1;
        }
        let name = exchange_name(p.exch);
        if first && !p.response && p.frag.is_none_or(|(n, _)| n == 1) {
            *s.requests
                .entry(p.src.clone())
                .or_default()
                .entry(name.clone())
                .or_default() += 1;
        }
        if !p.response && s.exchanges.last() != Some(&name) {
            s.exchanges.push(name.clone());
        }
        if !p.response && (p.exch == 34 || p.exch == 43) {
            for g in &p.ke_groups {
                let r = group_name(*g);
                if p.exch == 34 && !s.ke_rounds.is_empty() {
                    continue; // retransmitted / cookie-repeated IKE_SA_INIT
                }
                if p.exch == 43 && s.ke_rounds.len() > p.msgid as usize {
                    continue;
                }
                s.ke_rounds.push(r);
            }
        }
        for n in &p.notifies {
            if *n < 16384 {
                let e = format!(
                    "{} from {} in {} {}",
                    notify_name(*n),
                    p.src,
                    name,
                    if p.response { "response" } else { "request" }
                );
                if !s.errors.contains(&e) {
                    s.errors.push(e);
                }
            }
        }
    }
    s
}

/// The human-readable per-packet summary (`trace.txt`).
pub fn summary_text(pkts: &[Pkt], st: &TraceStats, names: &BTreeMap<String, String>) -> String {
    let who = |a: &str| names.get(a).cloned().unwrap_or_else(|| a.to_string());
    let mut out = String::new();
    for p in pkts {
        if let Some((spi, seq)) = p.esp {
            out.push_str(&format!(
                "{:>8.3}s {:>12} -> {:<12} {:>5} B  ESP SPI 0x{spi:08x} seq {seq} -> {}\n",
                p.t,
                who(&p.src),
                who(&p.dst),
                p.udp_len.saturating_sub(8),
                p.inner.as_deref().unwrap_or("(not decrypted)")
            ));
            continue;
        }
        // types < 33 are proposal/transform substructures, not payloads
        let pl: Vec<String> = p
            .payloads
            .iter()
            .filter(|x| **x >= 33)
            .map(|x| payload_name(*x))
            .filter(|x| !x.is_empty())
            .collect();
        let mut extra = String::new();
        if let Some((n, t)) = p.frag {
            extra.push_str(&format!(" fragment {n}/{t}"));
        }
        for g in &p.ke_groups {
            extra.push_str(&format!(" KE={}", group_name(*g)));
        }
        for n in &p.notifies {
            extra.push_str(&format!(" N({})", notify_name(*n)));
        }
        out.push_str(&format!(
            "{:>8.3}s {:>12} -> {:<12} {:>5} B  {} {} {}  [{}]{}\n",
            p.t,
            who(&p.src),
            who(&p.dst),
            p.udp_len.saturating_sub(8),
            exchange_name(p.exch),
            if p.response { "resp" } else { "req " },
            p.msgid,
            pl.join(" "),
            extra
        ));
    }
    out.push_str(&format!(
        "\n{} datagrams; exchanges: {}; largest UDP payload {} B; {} fragment datagrams; {} repeated datagrams (retransmits or duplicates)\nKE rounds: {}\n",
        st.packets,
        st.exchanges.join(" "),
        st.max_datagram,
        st.fragments,
        st.retransmissions,
        if st.ke_rounds.is_empty() { "-".into() } else { st.ke_rounds.join(" + ") }
    ));
    for (src, m) in &st.requests {
        let list: Vec<String> = m.iter().map(|(x, n)| format!("{x} x{n}")).collect();
        out.push_str(&format!(
            "requests from {}: {}\n",
            who(src),
            list.join(", ")
        ));
    }
    if st.esp_packets > 0 {
        out.push_str(&format!(
            "ESP: {} packets ({} decrypted with esp_sa), SPIs {}\n",
            st.esp_packets,
            st.esp_decrypted,
            st.esp_spis.join(" ")
        ));
    }
    if !st.errors.is_empty() {
        out.push_str(&format!("error notifies: {}\n", st.errors.join("; ")));
    }
    out
}

/// Log lines worth keeping as evidence: no hex dumps, no key material, no chatty lines.
pub fn trim_log(log: &str, max_lines: usize) -> String {
    let mut out: Vec<&str> = log
        .lines()
        .filter(|l| {
            !l.contains(" => ")
                && dump_offset(l).is_none()
                && !l.contains("secret")
                && !l.contains(" key ")
                && !l.contains("| ")
        })
        .collect();
    if out.len() > max_lines {
        let skip = out.len() - max_lines;
        out.drain(..skip);
        out.insert(0, "[... earlier lines trimmed ...]");
    }
    let mut s = out.join("\n");
    s.push('\n');
    // strip ANSI colour codes pqiked may emit
    while let Some(i) = s.find('\u{1b}') {
        let end = s[i..].find('m').map(|e| i + e + 1).unwrap_or(i + 1);
        s.replace_range(i..end, "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "12:00:00.001 05[IKE] <lab|1> Sk_d secret => 4 bytes @ 0x55\n\
12:00:00.001 05[IKE] <lab|1>    0: 01 02 03 04                                      ....\n\
12:00:00.001 05[IKE] <lab|1> Sk_ei secret => 20 bytes @ 0x55\n\
12:00:00.001 05[IKE] <lab|1>    0: AA BB CC DD 00 11 22 33 44 55 66 77 88 99 AA BB  ..\"3DUfw........\n\
12:00:00.001 05[IKE] <lab|1>   16: 01 02 03 04                                      ....\n\
12:00:00.002 05[IKE] <lab|1> Sk_d secret => 4 bytes @ 0x56\n\
12:00:00.002 05[IKE] <lab|1>    0: 05 06 07 08                                      ....\n";

    #[test]
    fn parses_key_dumps_per_derivation() {
        let sets = strongswan_keys(LOG);
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].sa, 1);
        assert_eq!(
            sets[0].keys["Sk_ei"],
            "aabbccdd00112233445566778899aabb01020304"
        );
        assert_eq!(sets[1].keys["Sk_d"], "05060708");
    }

    #[test]
    fn table_has_final_keys_and_commented_earlier_round() {
        let sets = strongswan_keys(LOG);
        let t = decryption_table(
            &sets,
            &[("11".into(), "22".into())],
            "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519",
        );
        let rows: Vec<&str> = t.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].starts_with("11,22,,"), "{}", rows[0]);
        assert!(t.contains("#11,22,aabbccdd"));
    }

    fn pkt(src: &str, exch: u32, msgid: u32, response: bool, frag: Option<(u32, u32)>) -> Pkt {
        Pkt {
            src: src.into(),
            exch,
            msgid,
            response,
            frag,
            ispi: "aa".into(),
            ..Pkt::default()
        }
    }

    #[test]
    fn requests_are_counted_per_sender_once() {
        let pkts = vec![
            pkt("1.1.1.1", 36, 2, false, None),
            pkt("1.1.1.1", 36, 2, false, None), // retransmit
            pkt("2.2.2.2", 36, 2, true, None),
            pkt("1.1.1.1", 44, 3, false, Some((1, 2))),
            pkt("1.1.1.1", 44, 3, false, Some((2, 2))),
            pkt("2.2.2.2", 36, 0, false, None),
            Pkt {
                esp: Some((0xc0ffee, 1)),
                inner: Some("ICMP echo request 198.51.100.1 -> 203.0.113.1".into()),
                ..Pkt::default()
            },
            Pkt {
                esp: Some((0xc0ffee, 2)),
                ..Pkt::default()
            },
        ];
        let st = stats(&pkts);
        assert_eq!(st.requests_from("1.1.1.1", "CREATE_CHILD_SA"), 1);
        assert_eq!(st.requests_from("1.1.1.1", "IKE_FOLLOWUP_KE"), 1);
        assert_eq!(st.requests_from("2.2.2.2", "CREATE_CHILD_SA"), 1);
        assert_eq!(st.retransmissions, 1);
        assert_eq!((st.esp_packets, st.esp_decrypted), (2, 1));
        assert_eq!(st.esp_spis, vec!["0x00c0ffee".to_string()]);
        let text = summary_text(&pkts, &st, &BTreeMap::new());
        assert!(
            text.contains("ESP SPI 0x00c0ffee seq 1 -> ICMP echo request"),
            "{text}"
        );
        assert!(text.contains("seq 2 -> (not decrypted)"), "{text}");
    }

    #[test]
    fn trimmed_log_has_no_key_material() {
        let t = trim_log(LOG, 100);
        assert!(!t.contains("AA BB"));
        assert!(!t.contains("secret"));
    }
}
