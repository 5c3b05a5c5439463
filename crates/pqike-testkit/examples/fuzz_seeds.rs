//! Seed the fuzzers' corpora with real traffic: every datagram of the captured scenarios
//! (`pqike_testkit::scenarios::all`), in each target's input format.
//!
//! `cargo run -p pqike-testkit --example fuzz_seeds [FUZZ_DIR]` (default `fuzz`, run from the
//! repository root); writes `FUZZ_DIR/corpus/{decode_message,responder_datagram}/seed-*`.
use pqike_testkit::scenarios::{self, ike_bytes};
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let fuzz = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz".into()));
    let decode = fuzz.join("corpus/decode_message");
    let responder = fuzz.join("corpus/responder_datagram");
    std::fs::create_dir_all(&decode)?;
    std::fs::create_dir_all(&responder)?;
    let all = scenarios::all(1);
    for (i, c) in all.iter().enumerate() {
        // decode_message: mode 0 (whole message).
        let mut d = vec![0u8];
        d.extend_from_slice(ike_bytes(c));
        std::fs::write(decode.join(format!("seed-{i:03}")), d)?;
        // responder_datagram mode 0: one length-prefixed datagram (port 500, no time step).
        let m = ike_bytes(c);
        if let Ok(len) = u16::try_from(m.len()) {
            if len < 0x4000 {
                let mut r = vec![0u8];
                r.extend_from_slice(&len.to_be_bytes());
                r.extend_from_slice(m);
                std::fs::write(responder.join(format!("seed-raw-{i:03}")), r)?;
            }
        }
    }
    // Modes 1 and 2 mutate valid traffic themselves: seed them with "no edit" inputs.
    std::fs::write(responder.join("seed-init"), [1u8])?;
    for k in 0..8u8 {
        std::fs::write(responder.join(format!("seed-hs-{k}")), [2u8, k])?;
    }
    println!(
        "wrote {} datagrams as seeds under {}",
        all.len(),
        fuzz.join("corpus").display()
    );
    Ok(())
}
