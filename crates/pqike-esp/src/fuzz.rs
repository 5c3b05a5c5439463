//! Entry point for the cargo-fuzz target (feature `fuzzing`).

use crate::params::{EncrAlg, IntegAlg, Lifetime, Mode, SaParams, Selector};
use crate::{DataPlane, DecapError, Decapsulated, SaInfo};
use std::time::Instant;
use zeroize::Zeroizing;

/// Inbound SPIs of the fixed SAs: GCM-128 tunnel, ChaCha20-Poly1305 tunnel with ESN,
/// AES-CBC-256/HMAC-SHA-256 transport, GCM-256 transport with ESN.
pub const FUZZ_SPIS: [u32; 4] = [0x100, 0x200, 0x300, 0x400];

fn fixed_plane() -> DataPlane {
    let sas: [(EncrAlg, IntegAlg, Mode, bool); 4] = [
        (
            EncrAlg::AesGcm16 { key_bits: 128 },
            IntegAlg::None,
            Mode::Tunnel,
            false,
        ),
        (
            EncrAlg::ChaCha20Poly1305,
            IntegAlg::None,
            Mode::Tunnel,
            true,
        ),
        (
            EncrAlg::AesCbc { key_bits: 256 },
            IntegAlg::HmacSha256_128,
            Mode::Transport,
            false,
        ),
        (
            EncrAlg::AesGcm16 { key_bits: 256 },
            IntegAlg::None,
            Mode::Transport,
            true,
        ),
    ];
    let mut dp = DataPlane::new();
    let now = Instant::now();
    for (i, (encr, integ, mode, esn)) in sas.into_iter().enumerate() {
        let key = |len: usize, seed: u8| Zeroizing::new(vec![seed; len]);
        let p = SaParams {
            spi_in: FUZZ_SPIS[i],
            spi_out: FUZZ_SPIS[i] + 1,
            encr,
            integ,
            esn,
            encr_key_in: key(encr.key_len(), 0x11),
            integ_key_in: key(integ.key_len(), 0x22),
            encr_key_out: key(encr.key_len(), 0x33),
            integ_key_out: key(integ.key_len(), 0x44),
            local_ts: vec![Selector::any(false), Selector::any(true)],
            remote_ts: vec![Selector::any(false), Selector::any(true)],
            mode,
            local: "192.0.2.1:4500".parse().expect("literal"),
            remote: "192.0.2.2:4500".parse().expect("literal"),
            udp_encap: i % 2 == 1,
            lifetime: Lifetime::default(),
            replay_window: 64,
        };
        dp.install(p, now).expect("fixed SA parameters are valid");
    }
    dp
}

/// Feeds `data` to the decapsulation path of fixed SAs and checks that a drop changes nothing
/// but counters.
///
/// Byte 0 selects the shape: with the high bit clear the rest is a raw ESP datagram; with it
/// set, byte 1 picks an SA, bytes 2..6 the sequence number, and the rest is a plaintext
/// (payload, padding and trailer as the fuzzer likes) that is sealed as that SA's peer would,
/// so the checks after the ICV (padding, next header, inner packet, selectors) are reached.
pub fn fuzz_decap(data: &[u8]) {
    let mut dp = fixed_plane();
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let mut pkt = if shape & 0x80 == 0 {
        rest.to_vec()
    } else {
        let [pick, s0, s1, s2, s3, pt @ ..] = rest else {
            return;
        };
        let spi = FUZZ_SPIS[usize::from(*pick) % FUZZ_SPIS.len()];
        let seq = u64::from(u32::from_be_bytes([*s0, *s1, *s2, *s3]));
        match dp.seal_as_peer(spi, seq, pt) {
            Some(p) => p,
            None => return,
        }
    };
    let before: Vec<SaInfo> = dp.sas().collect();
    let result = dp.decapsulate(&mut pkt);
    // RFC 4303 §3.4.3: the window moves only for packets whose ICV verified; those may still
    // be dropped afterwards for their padding, next header or selectors.
    let authentic = match &result {
        Ok(_) => true,
        Err(e) => matches!(
            e,
            DecapError::BadPadding(_)
                | DecapError::BadNextHeader { .. }
                | DecapError::TsMismatch(_)
        ),
    };
    let delivered = matches!(result, Ok(Decapsulated::Packet(_)));
    for (b, a) in before.iter().zip(dp.sas()) {
        if !authentic {
            assert_eq!(
                b.seq_in, a.seq_in,
                "an unauthenticated packet moved the replay window"
            );
        }
        if !delivered {
            assert_eq!(b.counters.packets_in, a.counters.packets_in);
            assert_eq!(b.counters.bytes_in, a.counters.bytes_in);
        }
        assert_eq!(b.seq_out, a.seq_out);
    }
    if shape & 0x80 == 0 {
        assert!(!authentic, "random bytes passed an ICV check");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_entry_survives_samples() {
        fuzz_decap(&[]);
        fuzz_decap(&[0]);
        fuzz_decap(&[0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3]);
        fuzz_decap(&[0x80, 0, 0, 0, 0, 1, 1, 2, 2, 4]);
        for pick in 0..4u8 {
            let mut d = vec![0x80, pick, 0, 0, 0, 7];
            d.extend_from_slice(&[0x45; 40]);
            d.extend_from_slice(&[0, 4]);
            fuzz_decap(&d);
        }
        // Random-ish inputs of many lengths.
        let mut x = 0x1234_5678u32;
        for len in 0..300 {
            let d: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            fuzz_decap(&d);
            let mut s = d.clone();
            if let Some(b) = s.first_mut() {
                *b |= 0x80;
            }
            fuzz_decap(&s);
        }
    }
}
