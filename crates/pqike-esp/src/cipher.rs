//! Per-SA cryptographic context: one [`pqike_crypto::EspCipher`] per direction, built once at
//! installation through the provider's [`EspCipherFactory`] and used in place on every packet.
//!
//! Layout (RFC 4303 §2): `SPI | Seq | IV | ciphertext | ICV`. The caller has written the header
//! and the padded plaintext; [`SaCipher::seal`] fills IV and ICV. The cipher's sizes are read
//! once here, so a packet costs one dynamic call (seal or open) and no allocation.

use crate::error::InstallError;
use crate::params::{EncrAlg, IntegAlg};
use pqike_crypto::{EspCipher, EspCipherFactory};

/// ESP header: SPI and low 32 bits of the sequence number.
pub(crate) const ESP_HDR: usize = pqike_crypto::esp::ESP_HEADER_LEN;

/// Largest IV, ICV and alignment the data plane's buffer bounds ([`crate::MAX_OVERHEAD`],
/// [`crate::IN_PLACE_HEADROOM`]) allow; a provider cipher beyond them is refused at install.
const MAX_IV: usize = 16;
const MAX_ICV: usize = 32;
const MAX_ALIGN: usize = 16;

/// The crypto failed: bad ICV (or, for CBC, a ciphertext that is not whole blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenError;

/// One direction's cipher state.
pub(crate) struct SaCipher {
    cipher: Box<dyn EspCipher>,
    iv_len: usize,
    icv_len: usize,
    align: usize,
}

impl SaCipher {
    /// Builds the context through `factory`. Key lengths were checked by the caller.
    pub(crate) fn new(
        factory: &dyn EspCipherFactory,
        encr: EncrAlg,
        integ: IntegAlg,
        ekey: &[u8],
        ikey: &[u8],
    ) -> Result<Self, InstallError> {
        let (encr_id, key_bits) = encr.transform_ids();
        let unsupported = || InstallError::UnsupportedTransform {
            encr: encr_id,
            key_bits,
            integ: integ.transform_id(),
        };
        let cipher = factory
            .build(encr_id, key_bits, integ.transform_id(), ekey, ikey)
            .map_err(|_| unsupported())?;
        let (iv_len, icv_len, align) = (cipher.iv_len(), cipher.icv_len(), cipher.align());
        // RFC 4303 §2.4: the alignment is at least 4 octets; padding is computed with it.
        if iv_len > MAX_IV || icv_len > MAX_ICV || !(4..=MAX_ALIGN).contains(&align) {
            return Err(unsupported());
        }
        Ok(Self {
            cipher,
            iv_len,
            icv_len,
            align,
        })
    }

    /// Octets of IV carried in each packet.
    pub(crate) fn iv_len(&self) -> usize {
        self.iv_len
    }

    /// Octets of ICV.
    pub(crate) fn icv_len(&self) -> usize {
        self.icv_len
    }

    /// Alignment of `payload | padding | pad length | next header` (RFC 4303 §2.4).
    pub(crate) fn align(&self) -> usize {
        self.align
    }

    /// Encrypts `pkt = hdr | IV(space) | plaintext | ICV(space)` in place. `seq` is the full
    /// 64-bit sequence number; `esn` says whether its high half is authenticated.
    pub(crate) fn seal(&self, seq: u64, esn: bool, pkt: &mut [u8]) -> Result<(), OpenError> {
        self.cipher.seal(seq, esn, pkt).map_err(|_| OpenError)
    }

    /// Verifies and decrypts in place; on success the plaintext is at
    /// `pkt[ESP_HDR + iv_len .. len - icv_len]`. Nothing is decrypted if the ICV is wrong.
    pub(crate) fn open(&self, seq: u64, esn: bool, pkt: &mut [u8]) -> Result<(), OpenError> {
        self.cipher.open(seq, esn, pkt).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pqike_crypto::awslc::AwsLcEspCiphers;
    use pqike_crypto::CryptoError;

    /// A provider cipher whose sizes exceed the data plane's buffer bounds.
    struct Oversized(usize, usize, usize);

    impl EspCipher for Oversized {
        fn iv_len(&self) -> usize {
            self.0
        }
        fn icv_len(&self) -> usize {
            self.1
        }
        fn align(&self) -> usize {
            self.2
        }
        fn seal(&self, _: u64, _: bool, _: &mut [u8]) -> Result<(), CryptoError> {
            Ok(())
        }
        fn open(&self, _: u64, _: bool, _: &mut [u8]) -> Result<(), CryptoError> {
            Ok(())
        }
    }

    struct OversizedFactory(usize, usize, usize);

    impl EspCipherFactory for OversizedFactory {
        fn key_lengths(&self, _: u16, _: Option<u16>, _: u16) -> Option<(usize, usize)> {
            Some((36, 0))
        }
        fn build(
            &self,
            _: u16,
            _: Option<u16>,
            _: u16,
            _: &[u8],
            _: &[u8],
        ) -> Result<Box<dyn EspCipher>, CryptoError> {
            Ok(Box::new(Oversized(self.0, self.1, self.2)))
        }
    }

    #[test]
    fn sizes_come_from_the_provider_cipher_and_are_bounded() {
        let c = SaCipher::new(
            &AwsLcEspCiphers,
            EncrAlg::ChaCha20Poly1305,
            IntegAlg::None,
            &[0; 36],
            &[],
        )
        .unwrap();
        assert_eq!((c.iv_len(), c.icv_len(), c.align()), (8, 16, 4));
        let c = SaCipher::new(
            &OversizedFactory(16, 32, 16),
            EncrAlg::ChaCha20Poly1305,
            IntegAlg::None,
            &[0; 36],
            &[],
        )
        .unwrap();
        assert_eq!((c.iv_len(), c.icv_len(), c.align()), (16, 32, 16));
        for (iv, icv, align) in [(17, 16, 4), (8, 33, 4), (8, 16, 32), (8, 16, 0), (8, 16, 1)] {
            assert!(
                SaCipher::new(
                    &OversizedFactory(iv, icv, align),
                    EncrAlg::ChaCha20Poly1305,
                    IntegAlg::None,
                    &[0; 36],
                    &[],
                )
                .is_err(),
                "{iv} {icv} {align} must be refused"
            );
        }
    }

    #[test]
    fn factory_refusal_names_the_transforms() {
        // The aws-lc factory refuses a 36-octet key for AES-128-GCM (it wants 16 + 4 salt).
        let e = SaCipher::new(
            &AwsLcEspCiphers,
            EncrAlg::AesGcm16 { key_bits: 128 },
            IntegAlg::None,
            &[0; 36],
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(
            e,
            InstallError::UnsupportedTransform {
                encr: 20,
                key_bits: Some(128),
                integ: 0
            }
        );
    }
}
