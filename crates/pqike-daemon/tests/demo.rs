//! `pqike demo` end to end: both sides in one process over loopback UDP.
use std::process::Command;

fn demo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pqike"))
        .arg("demo")
        .args(args)
        .output()
        .expect("run pqike demo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn default_hybrid_demo() {
    let (ok, out, err) = demo(&[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("initiator -> responder  IKE_INTERMEDIATE request 1 [ KE ]"),
        "{out}"
    );
    // Both sides report every KE round.
    assert_eq!(
        out.matches("AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519 + KE1:ML_KEM_768")
            .count(),
        3,
        "{out}"
    );
    assert!(out.contains("Child SA net (tunnel)"), "{out}");
    assert!(out.contains("INFORMATIONAL request"), "{out}");
    assert_eq!(out.matches("IKE SA gone").count(), 2, "{out}");
}

#[test]
fn pure_mlkem_demo() {
    let (ok, out, err) = demo(&["--proposal", "aes256gcm16-prfsha384-mlkem768"]);
    assert!(ok, "{out}\n{err}");
    assert!(!out.contains("IKE_INTERMEDIATE"), "{out}");
    assert!(out.contains("key exchanges: ML_KEM_768\n"), "{out}");
}

#[test]
fn bad_proposal_is_rejected() {
    let (ok, _, err) = demo(&["--proposal", "aes256gcm16-prfsha384-x25519-ke1_mlkem999"]);
    assert!(!ok);
    assert!(err.contains("`mlkem999`"), "{err}");
}
