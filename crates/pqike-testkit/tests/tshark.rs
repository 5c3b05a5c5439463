//! Wireshark's IKEv2 dissector must accept every message type the engine emits.
//!
//! Several simulated runs (hybrid handshake through a NAT, so on UDP 4500 behind the non-ESP
//! marker, with RFC 7383 fragments, then a liveness check and a delete;
//! INVALID_KE_PAYLOAD retry; COOKIE round; NO_PROPOSAL_CHOSEN) are captured into one pcap and
//! dissected with `tshark -V`. The test fails on any "Malformed", "[Expert Info (Error" or
//! "Exception" line and checks that every frame was dissected as ISAKMP version 2.0.
//! The runs themselves are checked (with pqike-wire) to really contain each message type, so
//! the test cannot pass by capturing less.
//!
//! The SK payloads are not decrypted: the engine does not expose the IKE SA keys, so the
//! Wireshark `ikev2_decryption_table` UAT cannot be filled in; inner payloads go undissected.
//!
//! Without tshark the test fails when `CI=true` and is skipped (with a message) otherwise.
use pqike_testkit::scenarios::{self, ike_bytes};
use pqike_testkit::{write_pcap, Captured};
use pqike_wire::{ExchangeType, Message, Payload};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

/// What kinds of messages a capture holds: "EXCHANGE request|response", "N(TYPE)" for
/// unencrypted notifies, "SKF".
fn kinds(all: &[Captured]) -> BTreeSet<String> {
    let mut k = BTreeSet::new();
    for c in all {
        if c.dst.port() == 4500 {
            k.insert("UDP 4500".to_owned());
        }
        let m = Message::decode(ike_bytes(c)).expect("captured message decodes");
        let dir = if m.header.flags.response {
            "response"
        } else {
            "request"
        };
        k.insert(format!("{} {dir}", m.header.exchange));
        for p in &m.payloads {
            match p {
                Payload::Notify(n) => {
                    k.insert(format!("N({:?})", n.notify_type));
                }
                Payload::EncryptedFragment(_) => {
                    k.insert(format!("SKF {}", m.header.exchange));
                }
                _ => {}
            }
        }
    }
    k
}

#[test]
fn tshark_dissects_every_message_type() {
    let all = scenarios::all(11);
    let k = kinds(&all);
    for want in [
        "IKE_SA_INIT request",
        "IKE_SA_INIT response",
        "IKE_INTERMEDIATE request",
        "IKE_INTERMEDIATE response",
        "IKE_AUTH request",
        "IKE_AUTH response",
        "SKF IKE_AUTH",
        "INFORMATIONAL request",
        "INFORMATIONAL response",
        "N(INVALID_KE_PAYLOAD)",
        "N(COOKIE)",
        "N(NO_PROPOSAL_CHOSEN)",
        "UDP 4500",
    ] {
        assert!(k.contains(want), "capture lacks {want}; has {k:?}");
    }
    // Delete and liveness are both INFORMATIONAL; there must be at least two such exchanges.
    let informational = all
        .iter()
        .filter(|c| {
            Message::decode(ike_bytes(c))
                .is_ok_and(|m| m.header.exchange == ExchangeType::INFORMATIONAL)
        })
        .count();
    assert!(
        informational >= 4,
        "expected liveness and delete exchanges, got {informational} messages"
    );

    let Some(tshark) = tshark() else { return };
    let pcap = write("pqike-tshark.pcap", &all);
    match dissect(&tshark, &pcap, all.len()) {
        Ok(()) => println!(
            "tshark dissected {} frames cleanly ({})",
            all.len(),
            pcap.display()
        ),
        Err(e) => panic!("{}: {e}", pcap.display()),
    }
}

/// The checker itself: a message whose payload length runs past its end must be flagged.
#[test]
fn tshark_check_flags_a_malformed_message() {
    let mut run = scenarios::no_proposal(5);
    let first = &mut run[0].payload;
    // First payload's length field (offset 28 + 2) beyond the message.
    first[30..32].copy_from_slice(&0xfff0u16.to_be_bytes());
    let Some(tshark) = tshark() else { return };
    let pcap = write("pqike-tshark-malformed.pcap", &run[..1]);
    let err = dissect(&tshark, &pcap, 1).expect_err("corrupted frame passed the check");
    assert!(err.contains("complains"), "{err}");
}

fn write(name: &str, packets: &[Captured]) -> PathBuf {
    let pcap = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    write_pcap(std::fs::File::create(&pcap).expect("create pcap"), packets).expect("write pcap");
    pcap
}

/// tshark, or `None` after printing why the test is skipped; panics when CI=true.
fn tshark() -> Option<PathBuf> {
    let found = Process::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from("tshark"));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("tshark not found and CI=true (scripts/setup.sh installs it)");
    }
    eprintln!("SKIPPED: tshark not found (apt-get install tshark)");
    None
}

/// Run tshark on `pcap`: no error-level complaint anywhere in the verbose dissection, and
/// exactly `frames` frames, each dissected as ISAKMP version 2.0.
fn dissect(tshark: &Path, pcap: &Path, frames: usize) -> Result<(), String> {
    let verbose = Process::new(tshark)
        .arg("-r")
        .arg(pcap)
        .arg("-V")
        .output()
        .map_err(|e| format!("run tshark: {e}"))?;
    if !verbose.status.success() {
        return Err(format!(
            "tshark failed: {}",
            String::from_utf8_lossy(&verbose.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&verbose.stdout);
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("Malformed") || l.contains("[Expert Info (Error") || l.contains("Exception")
        })
        .collect();
    if !bad.is_empty() {
        return Err(format!("tshark complains:\n{}", bad.join("\n")));
    }
    let fields = Process::new(tshark)
        .arg("-r")
        .arg(pcap)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "frame.protocols",
            "-e",
            "isakmp.version",
        ])
        .output()
        .map_err(|e| format!("run tshark: {e}"))?;
    let rows = String::from_utf8_lossy(&fields.stdout);
    let rows: Vec<&str> = rows.lines().collect();
    if rows.len() != frames {
        return Err(format!(
            "tshark saw {} frames, expected {frames}",
            rows.len()
        ));
    }
    for row in &rows {
        let cols: Vec<&str> = row.split('\t').collect();
        if !(cols.len() == 3 && cols[1].contains("isakmp") && cols[2] == "0x20") {
            return Err(format!("frame not dissected as IKEv2: {row}"));
        }
    }
    Ok(())
}
