//! Key-schedule known-answer tests against the independent Python implementation in
//! tests/data/gen_kat.py (stdlib hmac/hashlib), whose output is tests/data/keymat_kat.json.
//! Covers prf+, SKEYSEED, the RFC 9370 key update, Child SA KEYMAT, IntAuth and PSK AUTH.
use hmac::{Mac, SimpleHmac};
use pqike_crypto::Prf;
use pqike_proto::keymat::*;
use pqike_wire::{ExchangeType, Flags, Header, PayloadType};
use zeroize::Zeroizing;

/// Test-only HMAC-SHA2 PRF (256/384 by transform ID), independent of the production provider.
struct HmacPrf(u16);

impl Prf for HmacPrf {
    fn id(&self) -> u16 {
        self.0
    }
    fn output_len(&self) -> usize {
        if self.0 == 5 {
            32
        } else {
            48
        }
    }
    fn key_len(&self) -> usize {
        self.output_len()
    }
    fn compute(&self, key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[&[u8]]) -> Vec<u8> {
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
            data.iter().for_each(|d| m.update(d));
            m.finalize().into_bytes().to_vec()
        }
        Zeroizing::new(if self.0 == 5 {
            run::<SimpleHmac<sha2::Sha256>>(key, data)
        } else {
            run::<SimpleHmac<sha2::Sha384>>(key, data)
        })
    }
}

struct Kat(serde_json::Value);

impl Kat {
    fn load() -> Kat {
        let text = include_str!("data/keymat_kat.json");
        Kat(serde_json::from_str(text).expect("valid JSON"))
    }
    fn hex(&self, k: &str) -> Vec<u8> {
        hex::decode(self.0[k].as_str().unwrap_or_else(|| panic!("missing {k}"))).unwrap()
    }
    fn num(&self, k: &str) -> usize {
        self.0[k].as_u64().unwrap_or_else(|| panic!("missing {k}")) as usize
    }
    fn u64(&self, k: &str) -> u64 {
        u64::from_str_radix(self.0[k].as_str().unwrap(), 16).unwrap()
    }
}

fn check_keys(kat: &Kat, keys: &IkeKeys, generation: u8) {
    let pairs: [(&str, &[u8]); 7] = [
        ("sk_d", &keys.sk_d),
        ("sk_ai", &keys.sk_ai),
        ("sk_ar", &keys.sk_ar),
        ("sk_ei", &keys.sk_ei),
        ("sk_er", &keys.sk_er),
        ("sk_pi", &keys.sk_pi),
        ("sk_pr", &keys.sk_pr),
    ];
    for (name, got) in pairs {
        assert_eq!(
            hex::encode(got),
            hex::encode(kat.hex(&format!("{name}_{generation}"))),
            "{name}_{generation}"
        );
    }
}

struct Schedule {
    k0: IkeKeys,
    k1: IkeKeys,
}

fn schedule(kat: &Kat) -> Schedule {
    let prf = HmacPrf(kat.num("prf") as u16);
    let (ni, nr) = (kat.hex("ni"), kat.hex("nr"));
    let (spi_i, spi_r) = (kat.u64("spi_i"), kat.u64("spi_r"));
    let (ek, ik) = (kat.num("encr_key_len"), kat.num("integ_key_len"));
    let s0 = initial_skeyseed(&prf, &ni, &nr, &kat.hex("g_ir"));
    assert_eq!(hex::encode(&s0), hex::encode(kat.hex("skeyseed0")));
    let k0 = derive_ike_keys(&prf, &s0, &ni, &nr, spi_i, spi_r, ek, ik);
    let s1 = addke_skeyseed(&prf, &k0.sk_d, &kat.hex("ss1"), &ni, &nr);
    assert_eq!(hex::encode(&s1), hex::encode(kat.hex("skeyseed1")));
    let k1 = derive_ike_keys(&prf, &s1, &ni, &nr, spi_i, spi_r, ek, ik);
    Schedule { k0, k1 }
}

#[test]
fn prf_plus_matches_reference() {
    let kat = Kat::load();
    let out = prf_plus(
        &HmacPrf(5),
        &kat.hex("prfplus_key"),
        &[&kat.hex("prfplus_seed")],
        100,
    );
    assert_eq!(hex::encode(&out), hex::encode(kat.hex("prfplus_out")));
}

#[test]
fn skeyseed_and_rfc9370_update_match_reference() {
    let kat = Kat::load();
    let s = schedule(&kat);
    check_keys(&kat, &s.k0, 0);
    check_keys(&kat, &s.k1, 1);
}

#[test]
fn child_keymat_matches_reference() {
    let kat = Kat::load();
    let prf = HmacPrf(6);
    let s = schedule(&kat);
    let (ni, nr) = (kat.hex("ni"), kat.hex("nr"));
    let nopfs = child_keymat(&prf, &s.k1.sk_d, &[], &ni, &nr, 72);
    assert_eq!(
        hex::encode(&nopfs),
        hex::encode(kat.hex("child_keymat_nopfs"))
    );
    let (g, s1) = (kat.hex("child_g"), kat.hex("child_s1"));
    let pfs = child_keymat(&prf, &s.k1.sk_d, &[&g, &s1], &ni, &nr, 72);
    assert_eq!(hex::encode(&pfs), hex::encode(kat.hex("child_keymat_pfs")));
}

fn intermediate_header(kat: &Kat, message_id: u32, response: bool) -> Header {
    Header {
        spi_i: kat.u64("spi_i"),
        spi_r: kat.u64("spi_r"),
        // as received in a fragment: intauth_a must rewrite it to SK
        next_payload: PayloadType::SKF,
        version: 0x20,
        exchange: ExchangeType::IKE_INTERMEDIATE,
        flags: Flags {
            initiator: !response,
            response,
            version: false,
        },
        message_id,
        length: 1234, // the on-the-wire length (with IV/ICV) must be replaced
    }
}

#[test]
fn intauth_and_psk_auth_match_reference() {
    let kat = Kat::load();
    let prf = HmacPrf(6);
    let s = schedule(&kat);
    let mut chain = IntAuthChain::default();
    // Round 1 is protected (and authenticated) with generation-0 keys, round 2 with generation 1.
    for (round, keys) in [(1u32, &s.k0), (2, &s.k1)] {
        let sfx = if round == 1 { "" } else { "2" };
        let (p_req, p_resp) = (
            kat.hex(&format!("p_req{sfx}")),
            kat.hex(&format!("p_resp{sfx}")),
        );
        let a_req = intauth_a(
            &intermediate_header(&kat, round, false),
            &[],
            PayloadType::NONE,
            PayloadType::KE,
            p_req.len(),
        )
        .unwrap();
        let a_resp = intauth_a(
            &intermediate_header(&kat, round, true),
            &[],
            PayloadType::NONE,
            PayloadType::KE,
            p_resp.len(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(&a_req),
            hex::encode(kat.hex(&format!("a_req{sfx}")))
        );
        assert_eq!(
            hex::encode(&a_resp),
            hex::encode(kat.hex(&format!("a_resp{sfx}")))
        );
        chain.update_initiator(&prf, &keys.sk_pi, &a_req, &p_req);
        chain.update_responder(&prf, &keys.sk_pr, &a_resp, &p_resp);
    }
    let intauth = chain.value(3).expect("two rounds ran");
    assert_eq!(hex::encode(&intauth), hex::encode(kat.hex("intauth")));

    let maced = maced_id(&prf, &s.k1.sk_pi, 2, &kat.hex("id_data"));
    assert_eq!(hex::encode(&maced), hex::encode(kat.hex("maced_id_i")));
    let octets = signed_octets(
        &kat.hex("real_msg1"),
        &kat.hex("nr"),
        &maced,
        Some(&intauth),
    );
    assert_eq!(
        hex::encode(&octets),
        hex::encode(kat.hex("signed_octets_i"))
    );
    let auth = psk_auth(&prf, &kat.hex("psk"), &octets);
    assert_eq!(hex::encode(auth), hex::encode(kat.hex("psk_auth_i")));
}
