//! Key-schedule known-answer test from an independent implementation: values logged by a
//! strongSwan 6.1 initiator (charon ike/enc level 4) in a strongSwan<->strongSwan run with
//! aes256gcm16-prfsha384-x25519-ke1_mlkem768 and PSK, extracted by
//! tests/data/extract_strongswan_kat.py into tests/data/strongswan_kat.json. Checks the initial
//! SKEYSEED and keys, the RFC 9370 update after the ML-KEM round, the RFC 9242 IntAuth chain
//! (including our reconstruction of the "A" part) and the PSK AUTH over strongSwan's octets.
use hmac::{Mac, SimpleHmac};
use pqike_crypto::Prf;
use pqike_proto::keymat::*;
use pqike_wire::{ExchangeType, Flags, Header, PayloadType};
use zeroize::Zeroizing;

/// Test-only PRF_HMAC_SHA2_384.
struct HmacSha384;

impl Prf for HmacSha384 {
    fn id(&self) -> u16 {
        6
    }
    fn output_len(&self) -> usize {
        48
    }
    fn key_len(&self) -> usize {
        48
    }
    fn compute(&self, key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        let mut m =
            <SimpleHmac<sha2::Sha384> as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
        data.iter().for_each(|d| m.update(d));
        Zeroizing::new(m.finalize().into_bytes().to_vec())
    }
}

struct Kat(serde_json::Value);

impl Kat {
    fn load() -> Kat {
        Kat(serde_json::from_str(include_str!("data/strongswan_kat.json")).unwrap())
    }
    fn hex(&self, k: &str) -> Vec<u8> {
        hex::decode(self.0[k].as_str().unwrap_or_else(|| panic!("missing {k}"))).unwrap()
    }
    fn spi(&self, k: &str) -> u64 {
        u64::from_str_radix(self.0[k].as_str().unwrap(), 16).unwrap()
    }
}

fn keys(kat: &Kat, skeyseed: &[u8]) -> IkeKeys {
    let (ni, nr) = (kat.hex("ni"), kat.hex("nr"));
    // AES-GCM-16-256: 32-octet key + 4-octet salt, no integrity key
    derive_ike_keys(
        &HmacSha384,
        skeyseed,
        &ni,
        &nr,
        kat.spi("spi_i"),
        kat.spi("spi_r"),
        36,
        0,
    )
}

fn check(kat: &Kat, k: &IkeKeys, gen: u8) {
    for (name, got) in [
        ("d", &k.sk_d),
        ("ei", &k.sk_ei),
        ("er", &k.sk_er),
        ("pi", &k.sk_pi),
        ("pr", &k.sk_pr),
    ] {
        assert_eq!(
            hex::encode(got.as_slice()),
            hex::encode(kat.hex(&format!("sk_{name}_{gen}"))),
            "sk_{name}_{gen}"
        );
    }
    assert!(k.sk_ai.is_empty() && k.sk_ar.is_empty());
}

fn generations(kat: &Kat) -> (IkeKeys, IkeKeys) {
    let prf = HmacSha384;
    let (ni, nr) = (kat.hex("ni"), kat.hex("nr"));
    let s0 = initial_skeyseed(&prf, &ni, &nr, &kat.hex("g_ir"));
    assert_eq!(hex::encode(&s0), hex::encode(kat.hex("skeyseed0")));
    let k0 = keys(kat, &s0);
    let s1 = addke_skeyseed(&prf, &k0.sk_d, &kat.hex("ss1"), &ni, &nr);
    assert_eq!(hex::encode(&s1), hex::encode(kat.hex("skeyseed1")));
    let k1 = keys(kat, &s1);
    (k0, k1)
}

#[test]
fn skeyseed_and_addke_update_match_strongswan() {
    let kat = Kat::load();
    let (k0, k1) = generations(&kat);
    check(&kat, &k0, 0);
    check(&kat, &k1, 1);
}

/// Rebuild A from the header fields strongSwan logged, with our own Length/Next Payload rules.
fn rebuilt_a(ap: &[u8]) -> (Vec<u8>, &[u8]) {
    let (a, p) = ap.split_at(32); // IKE header + SK generic header, no unencrypted payloads
    let header = Header {
        spi_i: u64::from_be_bytes(a[0..8].try_into().unwrap()),
        spi_r: u64::from_be_bytes(a[8..16].try_into().unwrap()),
        next_payload: PayloadType::SKF, // deliberately wrong: intauth_a must set SK
        version: a[17],
        exchange: ExchangeType(a[18]),
        flags: Flags::from_byte(a[19]),
        message_id: u32::from_be_bytes(a[20..24].try_into().unwrap()),
        length: 0, // deliberately wrong: intauth_a must compute it
    };
    assert_eq!(header.exchange, ExchangeType::IKE_INTERMEDIATE);
    (
        intauth_a(&header, &[], PayloadType::NONE, PayloadType(a[28]), p.len()).unwrap(),
        p,
    )
}

#[test]
fn intauth_and_psk_auth_match_strongswan() {
    let kat = Kat::load();
    let prf = HmacSha384;
    let (k0, k1) = generations(&kat);
    let (req, resp) = (kat.hex("intauth_req_ap"), kat.hex("intauth_resp_ap"));
    let (a_req, p_req) = rebuilt_a(&req);
    let (a_resp, p_resp) = rebuilt_a(&resp);
    assert_eq!(hex::encode(&a_req), hex::encode(&req[..32]));
    assert_eq!(hex::encode(&a_resp), hex::encode(&resp[..32]));

    // The IKE_INTERMEDIATE exchange was protected with generation-0 keys.
    let mut chain = IntAuthChain::default();
    chain.update_initiator(&prf, &k0.sk_pi, &a_req, p_req);
    chain.update_responder(&prf, &k0.sk_pr, &a_resp, p_resp);
    let mut want = kat.hex("intauth_i1");
    want.extend_from_slice(&kat.hex("intauth_r1"));
    want.extend_from_slice(&2u32.to_be_bytes()); // IKE_AUTH follows one IKE_INTERMEDIATE: MID 2
    let intauth = chain.value(2).unwrap();
    assert_eq!(hex::encode(&intauth), hex::encode(&want));

    // octets = IKE_SA_INIT request | Nr | MACedIDForI | IntAuth, with generation-1 SK_pi.
    let octets = kat.hex("octets_i");
    let idx = kat.hex("idx_i");
    let maced = maced_id(&prf, &k1.sk_pi, idx[0], &idx[4..]);
    let msg_len = octets.len() - 32 - 48 - intauth.len();
    let rebuilt = signed_octets(&octets[..msg_len], &kat.hex("nr"), &maced, Some(&intauth));
    assert_eq!(hex::encode(&rebuilt), hex::encode(&octets));
    let auth = psk_auth(&prf, &kat.hex("psk"), &octets);
    assert_eq!(hex::encode(auth), hex::encode(kat.hex("auth_i")));
}
