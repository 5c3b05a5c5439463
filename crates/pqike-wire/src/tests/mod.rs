//! Crate tests: hand-made RFC byte vectors, malformed input, and proptest round trips.
mod length_limits;
mod malformed;
mod roundtrip;
mod vectors;

/// Hex (whitespace allowed) to bytes.
fn h(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).expect("test vector hex")
}
