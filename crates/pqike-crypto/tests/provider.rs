//! Composition: a provider built from parts finds added key exchanges by ID, keeps the
//! built-ins, and replaced parts are the ones used.
use std::sync::Arc;

use pqike_crypto::awslc::{aws_lc, AwsLcProvider};
use pqike_crypto::{
    ActiveKeyExchange, CryptoError, CryptoProvider, HashAlgorithm, Hasher, KeyExchange,
    SharedSecret,
};

const BUILT_IN: [u16; 9] = [14, 15, 19, 20, 21, 31, 35, 36, 37];

/// X25519 under a private-use ID, defined here: composition needs no help from the crate.
struct Renamed(Arc<dyn KeyExchange>);

impl KeyExchange for Renamed {
    fn id(&self) -> u16 {
        0x8002
    }
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        self.0.start()
    }
    fn respond(&self, peer: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        self.0.respond(peer)
    }
}

#[test]
fn aws_lc_offers_the_built_ins_and_the_old_constructor_still_works() {
    let p = aws_lc();
    assert_eq!(p.key_exchange_ids(), BUILT_IN);
    let old: Arc<dyn CryptoProvider> = Arc::new(AwsLcProvider::new());
    assert_eq!(old.name(), "aws-lc-rs");
    for id in BUILT_IN {
        assert_eq!(old.key_exchange(id).map(|k| k.id()), Some(id));
    }
    for id in [2, 5, 6, 7] {
        assert_eq!(old.prf(id).map(|p| p.id()), Some(id));
    }
    assert!(old.key_exchange(0x8002).is_none());
    assert!(old.prf(1).is_none());
}

#[test]
fn added_key_exchange_is_found_and_works_through_the_trait() {
    let x25519 = aws_lc().key_exchange_part(31).unwrap();
    let p: Arc<dyn CryptoProvider> =
        Arc::new(aws_lc().with_key_exchange(Arc::new(Renamed(x25519))));
    for id in BUILT_IN {
        assert!(p.key_exchange(id).is_some(), "built-in {id} kept");
    }
    let kx = p.key_exchange(0x8002).expect("added method is found");
    assert_eq!(kx.id(), 0x8002);
    let init = kx.start().unwrap();
    assert_eq!(init.public_data().len(), 32);
    let (resp, ss_r) = kx.respond(init.public_data()).unwrap();
    assert_eq!(init.complete(&resp).unwrap().as_bytes(), ss_r.as_bytes());
}

/// A KE whose every call fails, to tell which implementation a lookup returned.
struct Refusing(u16);

impl KeyExchange for Refusing {
    fn id(&self) -> u16 {
        self.0
    }
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        Err(CryptoError::Unsupported("refusing".into()))
    }
    fn respond(&self, _: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        Err(CryptoError::Unsupported("refusing".into()))
    }
}

#[test]
fn same_id_replaces_in_place_and_without_removes() {
    let p = aws_lc().with_key_exchange(Arc::new(Refusing(31)));
    assert_eq!(p.key_exchange_ids(), BUILT_IN, "replaced, not appended");
    assert!(p.key_exchange(31).unwrap().start().is_err());
    assert!(p.key_exchange(19).unwrap().start().is_ok());
    let p = p.without_key_exchange(14).without_key_exchange(15);
    assert!(p.key_exchange(14).is_none() && p.key_exchange(15).is_none());
    assert_eq!(p.key_exchange_ids().len(), 7);
}

/// A hasher that answers with a marker, to see that the provider uses the replaced part.
struct Marker;

impl Hasher for Marker {
    fn hash(&self, _: HashAlgorithm, _: &[&[u8]]) -> Vec<u8> {
        vec![0xab]
    }
}

#[test]
fn replaced_parts_are_used() {
    let plain = aws_lc();
    assert_eq!(plain.hash(HashAlgorithm::Sha256, &[b"x"]).len(), 32);
    let p = aws_lc().with_hasher(Arc::new(Marker)).with_name("marked");
    assert_eq!(p.hash(HashAlgorithm::Sha256, &[b"x"]), vec![0xab]);
    assert_eq!(p.name(), "marked");
    // The other parts are untouched.
    assert_eq!(p.sk_key_lengths(20, Some(256), 0), Some((36, 0)));
    assert_eq!(
        p.esp_ciphers.key_lengths(20, Some(256), 0),
        Some((36, 0)),
        "ESP ciphers are a provider part"
    );
}

#[cfg(feature = "testing")]
#[test]
fn exported_private_id_kem_composes() {
    use pqike_crypto::testing::{private_mlkem768, PRIVATE_MLKEM768_ID};
    let p = aws_lc().with_key_exchange(private_mlkem768());
    let kx = p
        .key_exchange(PRIVATE_MLKEM768_ID)
        .expect("found by its id");
    assert_eq!(kx.id(), 0x8001);
    for id in BUILT_IN {
        assert!(p.key_exchange(id).is_some(), "built-in {id} kept");
    }
    // It is ML-KEM-768 on the wire, and interoperates with the built-in 36.
    let init = kx.start().unwrap();
    assert_eq!(init.public_data().len(), 1184);
    let (ct, ss_r) = p
        .key_exchange(36)
        .unwrap()
        .respond(init.public_data())
        .unwrap();
    assert_eq!(init.complete(&ct).unwrap().as_bytes(), ss_r.as_bytes());
}
