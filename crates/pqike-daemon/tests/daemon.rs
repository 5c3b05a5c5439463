//! Two real `pqiked` processes on 127.0.0.1 (high ports, no root), driven with the `pqike` CLI:
//! `up` over the control socket, then `status --json` on both sides, a proposal mismatch that
//! must fail with NO_PROPOSAL_CHOSEN, `down`, and a clean SIGTERM shutdown.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PQIKED: &str = env!("CARGO_BIN_EXE_pqiked");
const PQIKE: &str = env!("CARGO_BIN_EXE_pqike");

/// Kills the daemons if the test panics.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[allow(clippy::too_many_arguments)]
fn write_config(
    dir: &Path,
    name: &str,
    ports: (u16, u16),
    peer_port: u16,
    local_id: &str,
    remote_id: &str,
    local_net: &str,
    remote_net: &str,
    extra_conn: &str,
) -> PathBuf {
    let sock = dir.join(format!("{name}.sock"));
    let text = format!(
        r#"
[daemon]
control_socket = "{sock}"
log_level = "debug"
listen = ["127.0.0.1"]
ike_port = {ike}
nat_port = {nat}
retransmit_timeout = 1.0
retransmit_tries = 2

[[connection]]
name = "lab"
local_addrs = ["127.0.0.1"]
remote_addrs = ["127.0.0.1"]
remote_port = {peer_port}
proposals = ["aes256gcm16-prfsha384-x25519-ke1_mlkem768"]

[connection.local]
id = "{local_id}"
auth = "psk"

[connection.remote]
id = "{remote_id}"
auth = "psk"

[[connection.children]]
name = "net"
local_ts = ["{local_net}"]
remote_ts = ["{remote_net}"]
esp_proposals = ["aes256gcm16"]
{extra_conn}

[[secrets]]
kind = "psk"
ids = ["a.example", "b.example"]
secret = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
"#,
        sock = sock.display(),
        ike = ports.0,
        nat = ports.1,
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path, log: &Path) -> Child {
    Command::new(PQIKED)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn pqiked")
}

fn wait_for_socket(sock: &Path, log: &Path) {
    let until = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            Instant::now() < until,
            "no control socket; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pqike(sock: &Path, args: &[&str]) -> Output {
    Command::new(PQIKE)
        .arg("--socket")
        .arg(sock)
        .args(args)
        .output()
        .expect("run pqike")
}

fn status(sock: &Path) -> serde_json::Value {
    let out = pqike(sock, &["status", "--json"]);
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

fn logs(dir: &Path) -> String {
    ["a.log", "b.log"]
        .iter()
        .map(|f| {
            format!(
                "--- {f}\n{}",
                std::fs::read_to_string(dir.join(f)).unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn two_daemons_establish_and_report_hybrid_sa() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a_ports = (free_udp_port(), free_udp_port());
    let b_ports = (free_udp_port(), free_udp_port());
    // A also has a connection whose only proposal B does not accept.
    let mismatch = format!(
        r#"
[[connection]]
name = "mismatch"
local_addrs = ["127.0.0.1"]
remote_addrs = ["127.0.0.1"]
remote_port = {}
proposals = ["aes128-sha256-modp2048"]
childless = "force"
[connection.local]
id = "a.example"
auth = "psk"
[connection.remote]
id = "b.example"
auth = "psk"
"#,
        b_ports.0
    );
    let a_cfg = write_config(
        dir,
        "a",
        a_ports,
        b_ports.0,
        "a.example",
        "b.example",
        "10.1.0.0/16",
        "10.2.0.0/16",
        &mismatch,
    );
    let b_cfg = write_config(
        dir,
        "b",
        b_ports,
        a_ports.0,
        "b.example",
        "a.example",
        "10.2.0.0/16",
        "10.1.0.0/16",
        "",
    );
    let (a_sock, b_sock) = (dir.join("a.sock"), dir.join("b.sock"));

    let check = Command::new(PQIKED)
        .arg("--check")
        .arg("--config")
        .arg(&a_cfg)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("CURVE_25519 + KE1:ML_KEM_768"));

    let mut daemons = Daemons(vec![
        start(&a_cfg, &dir.join("a.log")),
        start(&b_cfg, &dir.join("b.log")),
    ]);
    wait_for_socket(&a_sock, &dir.join("a.log"));
    wait_for_socket(&b_sock, &dir.join("b.log"));
    assert_eq!(status(&a_sock)["ike_sas"], serde_json::json!([]));

    let up = pqike(&a_sock, &["up", "lab", "--timeout", "20"]);
    let up_out = String::from_utf8_lossy(&up.stdout);
    assert!(
        up.status.success(),
        "up failed: {}\n{}",
        String::from_utf8_lossy(&up.stderr),
        logs(dir)
    );
    assert!(up_out.contains("established"), "{up_out}");
    assert!(up_out.contains("CURVE_25519 + KE1:ML_KEM_768"), "{up_out}");

    let a = status(&a_sock);
    // The responder reports the SA once it has processed IKE_AUTH, which precedes the initiator's
    // IkeUp; poll briefly anyway.
    let mut b = status(&b_sock);
    for _ in 0..40 {
        if b["ike_sas"][0]["state"] == "ESTABLISHED" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        b = status(&b_sock);
    }
    let (sa_a, sa_b) = (&a["ike_sas"][0], &b["ike_sas"][0]);
    assert_eq!(a["ike_sas"].as_array().unwrap().len(), 1, "{a}");
    for (sa, role) in [(sa_a, "initiator"), (sa_b, "responder")] {
        assert_eq!(sa["name"], "lab", "{sa}");
        assert_eq!(sa["state"], "ESTABLISHED", "{sa}");
        assert_eq!(sa["role"], role, "{sa}");
        assert_eq!(sa["transforms"]["encr"], "AES_GCM_16-256", "{sa}");
        assert_eq!(sa["transforms"]["prf"], "PRF_HMAC_SHA2_384", "{sa}");
        assert_eq!(
            sa["transforms"]["ke"],
            serde_json::json!(["CURVE_25519", "ML_KEM_768"]),
            "{sa}"
        );
        assert_eq!(sa["nat"], false, "{sa}");
        let child = &sa["child_sas"][0];
        assert_eq!(child["name"], "net", "{sa}");
        assert_eq!(child["encr"], "AES_GCM_16-256", "{sa}");
        assert_eq!(child["mode"], "tunnel", "{sa}");
    }
    assert_eq!(sa_a["spi_i"], sa_b["spi_i"]);
    assert_eq!(sa_a["spi_r"], sa_b["spi_r"]);
    assert_eq!(sa_a["local"], format!("127.0.0.1:{}", a_ports.0));
    assert_eq!(sa_a["remote"], format!("127.0.0.1:{}", b_ports.0));
    assert_eq!(sa_a["local_id"], "a.example");
    assert_eq!(sa_a["remote_id"], "b.example");
    assert_eq!(
        sa_a["child_sas"][0]["spi_in"],
        sa_b["child_sas"][0]["spi_out"]
    );
    assert_eq!(
        sa_a["child_sas"][0]["spi_out"],
        sa_b["child_sas"][0]["spi_in"]
    );
    assert_eq!(
        sa_a["child_sas"][0]["local_ts"],
        serde_json::json!(["10.1.0.0/16"])
    );
    assert_eq!(
        sa_b["child_sas"][0]["local_ts"],
        serde_json::json!(["10.2.0.0/16"])
    );

    // The human listing shows every KE round too.
    let listing = pqike(&a_sock, &["status"]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519 + KE1:ML_KEM_768"),
        "{listing}"
    );
    assert!(listing.contains("10.1.0.0/16 === 10.2.0.0/16"), "{listing}");

    // A proposal B does not accept: `up` fails with the peer's notify.
    let bad = pqike(&a_sock, &["up", "mismatch", "--timeout", "20"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(err.contains("NO_PROPOSAL_CHOSEN"), "{err}\n{}", logs(dir));

    // Unknown connection.
    let unknown = pqike(&a_sock, &["up", "nope"]);
    assert!(!unknown.status.success());

    // down: both sides drop the SA.
    let down = pqike(&a_sock, &["down", "lab"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let until = Instant::now() + Duration::from_secs(10);
    while !(status(&a_sock)["ike_sas"].as_array().unwrap().is_empty()
        && status(&b_sock)["ike_sas"].as_array().unwrap().is_empty())
    {
        assert!(Instant::now() < until, "SAs not deleted\n{}", logs(dir));
        std::thread::sleep(Duration::from_millis(50));
    }

    // Bring it up again, then SIGTERM both: they delete the SA and exit 0, removing the sockets.
    let up = pqike(&a_sock, &["up", "lab", "--timeout", "20"]);
    assert!(up.status.success(), "{}", logs(dir));
    for c in &daemons.0 {
        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
    }
    for c in &mut daemons.0 {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                assert!(st.success(), "exit {st}\n{}", logs(dir));
                break;
            }
            assert!(Instant::now() < until, "daemon did not exit\n{}", logs(dir));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(!a_sock.exists() && !b_sock.exists());
    let a_log = std::fs::read_to_string(dir.join("a.log")).unwrap();
    let after_signal = a_log
        .split_once("SIGTERM")
        .map(|x| x.1)
        .unwrap_or_else(|| panic!("{a_log}"));
    assert!(
        after_signal.contains("sending INFORMATIONAL"),
        "shutdown sent no Delete:\n{a_log}"
    );
}
