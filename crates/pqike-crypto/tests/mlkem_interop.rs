//! Independent ML-KEM check: aws-lc-rs (through our KeyExchange) against RustCrypto `ml-kem`.
//! Keys and ciphertexts cross between the implementations in both directions and must give the
//! same shared secret; a key that breaks the modulus check is rejected by our responder.
use ml_kem::array::Array;
use ml_kem::kem::{Decapsulate, KeyExport};
use ml_kem::{DecapsulationKey, EncapsulationKey, MlKem1024, MlKem512, MlKem768};
use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::{CryptoError, CryptoProvider};

macro_rules! interop {
    ($name:ident, $kem:ty, $id:expr) => {
        #[test]
        fn $name() {
            let p = AwsLcProvider::new();
            let ke = p.key_exchange($id).unwrap();
            for i in 0u8..4 {
                // RustCrypto generates the key pair (from a fixed seed), aws-lc encapsulates.
                let seed: [u8; 64] =
                    core::array::from_fn(|j| (j as u8).wrapping_mul(7).wrapping_add(i));
                let dk = DecapsulationKey::<$kem>::from_seed(Array::from(seed));
                let ek_bytes = dk.encapsulation_key().to_bytes();
                let (ct, ss_aws) = ke.respond(&ek_bytes).unwrap();
                let ct = ml_kem::Ciphertext::<$kem>::try_from(&ct[..]).unwrap();
                let ss_rc = dk.decapsulate(&ct);
                assert_eq!(
                    ss_aws.as_bytes(),
                    &ss_rc[..],
                    "RustCrypto decapsulation differs"
                );

                // aws-lc generates the key pair, RustCrypto encapsulates.
                let init = ke.start().unwrap();
                let ek =
                    EncapsulationKey::<$kem>::new(&Array::try_from(init.public_data()).unwrap())
                        .unwrap();
                let m: [u8; 32] = [i; 32];
                let (ct, ss_rc) = ek.encapsulate_deterministic(&Array::from(m));
                let ss_aws = init.complete(&ct[..]).unwrap();
                assert_eq!(
                    ss_aws.as_bytes(),
                    &ss_rc[..],
                    "aws-lc decapsulation differs"
                );
            }
        }
    };
}

interop!(mlkem512_interop, MlKem512, 35);
interop!(mlkem768_interop, MlKem768, 36);
interop!(mlkem1024_interop, MlKem1024, 37);

/// Coefficient >= q in a RustCrypto-generated key: our responder refuses it.
#[test]
fn modulus_check_on_foreign_key() {
    let dk = DecapsulationKey::<MlKem768>::from_seed(Array::from([9u8; 64]));
    let mut ek = dk.encapsulation_key().to_bytes().to_vec();
    // Coefficient 1 of the first pair (the high 12 bits of bytes 1..3) := 0xfff.
    ek[1] |= 0xf0;
    ek[2] = 0xff;
    let p = AwsLcProvider::new();
    assert!(matches!(
        p.key_exchange(36).unwrap().respond(&ek),
        Err(CryptoError::InvalidPeerKey(_))
    ));
}
