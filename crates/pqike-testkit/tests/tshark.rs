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
//! `tshark_dissects_decrypted_messages` then decrypts: a certificate (ML-DSA-65) hybrid run
//! with child and IKE SA rekeys, whose initiator exports its keys (`EndpointConfig::export_keys`),
//! is dissected with the `ikev2_decryption_table` lines pqiked's `key_log` would write. Inner
//! payloads (IDi, AUTH, CERT, TS, SA, Delete...) must appear and be clean; IKE_INTERMEDIATE is
//! checked with the IKE_SA_INIT key set that protects it (RFC 9370 updates keys per round).
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

/// A certificate-authenticated (ML-DSA-65) hybrid run through the NAT with the initiator
/// exporting its keys (`EndpointConfig::export_keys`): fragmented IKE_AUTH with CERT payloads,
/// a Child SA rekey and an IKE SA rekey (CREATE_CHILD_SA), the old SA's delete, a liveness
/// check on the new SA and its delete (INFORMATIONAL).
fn decryptable_run(seed: u64) -> (Vec<Captured>, Vec<pqike_proto::IkeSaKeyLog>) {
    use pqike_crypto::pkigen::{generate_chain, ChainSpec, EndEntitySpec, KeyType};
    use pqike_proto::{Command, EndpointConfig, Event};
    use pqike_testkit::config::{PskPair, CONNECTION};
    use pqike_testkit::driver::{endpoint, provider, Pair, Side};
    use std::time::Duration;

    let kt = KeyType::MlDsa65;
    let mut spec = ChainSpec::new(kt);
    spec.end_entities = vec![
        EndEntitySpec::new("initiator.test", kt),
        EndEntitySpec::new("responder.test", kt),
    ];
    let chain = generate_chain(&spec).expect("test PKI");
    let cfg = PskPair::new(scenarios::HYBRID);
    let ep = |export_keys| EndpointConfig {
        export_keys,
        dpd_interval: Some(Duration::from_secs(30)),
        ..EndpointConfig::default()
    };
    let crypto = provider();
    let i = endpoint(
        ep(true),
        cfg.initiator().with_certs(&chain, 0),
        crypto.clone(),
        Box::new(pqike_crypto::DeterministicRandom::new(seed)),
    );
    let r = endpoint(
        ep(false),
        cfg.responder().with_certs(&chain, 1),
        crypto,
        Box::new(pqike_crypto::DeterministicRandom::new(seed + 1)),
    );
    let mut pair = Pair::from_endpoints(i, r).capture();
    pair.set_tap(Some(scenarios::nat_tap(
        pqike_testkit::config::INITIATOR_IP,
    )));
    assert!(pair.run_until_established(), "{:?}", pair.events);
    let quiet = |p: &mut Pair| {
        let n = p.captured().len();
        p.run_until(Duration::from_secs(5), |q| q.captured().len() > n);
        p.run_until(Duration::from_secs(5), |_| false);
    };
    for cmd in [
        Command::RekeyChild {
            connection: CONNECTION.into(),
            child: "net".into(),
        },
        Command::RekeyIke {
            connection: CONNECTION.into(),
        },
    ] {
        pair.command(Side::Initiator, cmd).expect("command");
        quiet(&mut pair);
    }
    // liveness check, then delete
    scenarios::liveness_then_delete(&mut pair);
    let keys = pair
        .events_of(Side::Initiator)
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaKeys(k) => Some(k.clone()),
            _ => None,
        })
        .collect();
    (pair.captured().to_vec(), keys)
}

/// With the `ikev2_decryption_table` built from the exported keys (the daemon's `key_log`
/// format, `pqike_daemon::keylog`), tshark decrypts IKE_AUTH (certificates, fragments),
/// CREATE_CHILD_SA and INFORMATIONAL and dissects the inner payloads without complaint. The
/// table holds the final key set per SPI pair (what the daemon writes), so IKE_INTERMEDIATE,
/// protected by the IKE_SA_INIT keys of RFC 9370, stays encrypted: checked separately with its
/// own table.
#[test]
fn tshark_dissects_decrypted_messages() {
    use std::collections::BTreeMap;
    let (run, keys) = decryptable_run(21);
    let k = kinds(&run);
    for want in [
        "IKE_INTERMEDIATE request",
        "IKE_AUTH request",
        "SKF IKE_AUTH",
        "CREATE_CHILD_SA request",
        "CREATE_CHILD_SA response",
        "INFORMATIONAL request",
        "INFORMATIONAL response",
    ] {
        assert!(k.contains(want), "capture lacks {want}; has {k:?}");
    }
    // Final key set per SPI pair, as the key_log writes it.
    let mut last: BTreeMap<(u64, u64), &pqike_proto::IkeSaKeyLog> = BTreeMap::new();
    for key in &keys {
        last.insert((key.spi_i, key.spi_r), key);
    }
    assert_eq!(last.len(), 2, "original and rekeyed IKE SA");
    let table: Vec<String> = last
        .values()
        .map(|k| pqike_daemon::keylog::ike_line(k))
        .collect();
    let Some(tshark) = tshark() else { return };
    let pcap = write("pqike-tshark-decrypted.pcap", &run);
    // Next to the pcap, for opening it decrypted in Wireshark (copy into a profile directory).
    std::fs::write(
        pcap.with_extension("ikev2_decryption_table"),
        table.join("\n") + "\n",
    )
    .expect("write table");
    let init = keys
        .iter()
        .find(|k| k.stage == pqike_proto::IkeKeyStage::Init)
        .expect("Init key set");
    let init_table = [pqike_daemon::keylog::ike_line(init)];
    std::fs::write(
        pcap.with_extension("intermediate.ikev2_decryption_table"),
        init_table.join("\n") + "\n",
    )
    .expect("write table");
    // Every frame but IKE_INTERMEDIATE (other keys, below) must dissect cleanly.
    let text = match dissect_with(&tshark, &pcap, &table, |f| !is_intermediate(f)) {
        Ok(t) => t,
        Err(e) => panic!("{}: {e}", pcap.display()),
    };
    // The decrypted inner payloads must show up: identities, AUTH, CERT (reassembled from the
    // SKF fragments), the CREATE_CHILD_SA SA/KE/Nonce, the Delete.
    for want in [
        "Payload: Identification - Initiator (35)",
        "Payload: Identification - Responder (36)",
        "Payload: Authentication (39)",
        "Payload: Certificate (37)",
        "Payload: Traffic Selector - Initiator (44)",
        "Payload: Delete (42)",
        "Payload: Security Association (33)",
    ] {
        assert!(text.contains(want), "decrypted dissection lacks {want:?}");
    }
    let summary = summary_with(&tshark, &pcap, &table);
    println!("{summary}");

    // IKE_INTERMEDIATE with the IKE_SA_INIT key set (the superseded one): clean, and both
    // KE payloads (request reassembled from its fragments, response) open.
    let text = dissect_with(&tshark, &pcap, &init_table, is_intermediate)
        .unwrap_or_else(|e| panic!("{}: {e}", pcap.display()));
    let inter = text
        .split("\nFrame ")
        .filter(|f| is_intermediate(f) && f.contains("Payload: Key Exchange (34)"))
        .count();
    assert_eq!(
        inter, 2,
        "IKE_INTERMEDIATE KE not decrypted with the Init keys"
    );
}

/// A `tshark -V` frame of an IKE_INTERMEDIATE exchange.
/// (Wireshark 4.0 prints exchange 43 as "Unknown (43)"; later versions name it.)
fn is_intermediate(frame: &str) -> bool {
    frame.lines().any(|l| {
        let l = l.trim();
        l.starts_with("Exchange type:") && l.ends_with("(43)")
    })
}

fn uat_args(table: &[String]) -> Vec<String> {
    table
        .iter()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| ["-o".to_owned(), format!("uat:ikev2_decryption_table:{l}")])
        .collect()
}

/// `tshark -V` with the decryption table; fails on any error-level complaint.
/// Only frames for which `check` holds are checked (the others need another key set).
fn dissect_with(
    tshark: &Path,
    pcap: &Path,
    table: &[String],
    check: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let out = Process::new(tshark)
        .arg("-r")
        .arg(pcap)
        .args(uat_args(table))
        .arg("-V")
        .output()
        .map_err(|e| format!("run tshark: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let checked: Vec<&str> = text.split("\nFrame ").filter(|f| check(f)).collect();
    if checked.is_empty() {
        return Err("no frame to check".into());
    }
    let bad: Vec<&str> = checked
        .iter()
        .flat_map(|f| f.lines())
        .filter(|l| {
            l.contains("Malformed") || l.contains("[Expert Info (Error") || l.contains("Exception")
        })
        .collect();
    if !bad.is_empty() {
        return Err(format!("tshark complains:\n{}", bad.join("\n")));
    }
    Ok(text)
}

fn summary_with(tshark: &Path, pcap: &Path, table: &[String]) -> String {
    let out = Process::new(tshark)
        .arg("-r")
        .arg(pcap)
        .args(uat_args(table))
        .output()
        .expect("run tshark");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
