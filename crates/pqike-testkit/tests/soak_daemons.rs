//! Smoke test of `pqike-soak-daemons` (issue 5): two real pqiked processes keep 20 IKE SAs with
//! one Child SA each for 25 s with 5 s rekey times, so every SA is rekeyed (IKE and child) a few
//! times. Asserts correctness only (zero failures, every SA up with one child, rekeys done on
//! both daemons), never timing. Needs `target/release/pqiked`: `cargo test --workspace --release`
//! builds it; with `-p pqike-testkit` alone, `cargo build --release -p pqike-daemon` first.
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn twenty_sas_rekeyed_between_two_daemons() {
    let soak = PathBuf::from(env!("CARGO_BIN_EXE_pqike-soak-daemons"));
    let pqiked = soak.with_file_name("pqiked");
    assert!(
        pqiked.exists(),
        "{} is missing: run `cargo build --release -p pqike-daemon` (or test the workspace)",
        pqiked.display()
    );
    let out = Command::new(&soak)
        .args([
            "--sas",
            "20",
            "--duration",
            "25",
            "--lifetime",
            "5",
            "--report",
            "5",
        ])
        .arg("--pqiked")
        .arg(&pqiked)
        .output()
        .expect("run pqike-soak-daemons");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let v: HashMap<&str, u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, v.parse().expect("number")))
        .collect();
    let ctx = format!("{line}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(v["failures"], 0, "{ctx}");
    assert_eq!(v["not_up_i"], 0, "{ctx}");
    assert_eq!(v["not_up_r"], 0, "{ctx}");
    assert_eq!(v["up_i"], 20, "{ctx}");
    assert_eq!(v["up_r"], 20, "{ctx}");
    // 25 s with 4-5 s rekey times: every SA is rekeyed several times; > 0 is all that is
    // asserted so that a slow machine does not fail it.
    for k in [
        "ike_rekeys_i",
        "ike_rekeys_r",
        "child_rekeys_i",
        "child_rekeys_r",
    ] {
        assert!(v[k] > 0, "{k}: {ctx}");
    }
    assert!(out.status.success(), "{ctx}");
}
