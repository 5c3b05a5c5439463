//! ESP packet protection (RFC 4303) as a provider part: the data plane builds one [`EspCipher`]
//! per SA direction through an [`EspCipherFactory`] and then calls it once per packet.
//!
//! Packet layout for [`EspCipher::seal`] and [`EspCipher::open`] (RFC 4303 §2):
//! `SPI (4) | Seq low (4) | IV (iv_len) | payload, padding, pad length, next header | ICV (icv_len)`.
//! The caller writes the header and the padded plaintext and leaves room for IV and ICV; the
//! cipher chooses the IV (it knows which IV rule its algorithm needs), encrypts and writes the
//! ICV, all in place. Neither call may allocate: they run for every packet.

use crate::CryptoError;

/// Octets of the ESP header in front of the IV: SPI and the low 32 bits of the sequence number.
pub const ESP_HEADER_LEN: usize = 8;

/// One direction's ESP cipher state, built once at SA installation.
pub trait EspCipher: Send + Sync {
    /// Octets of IV carried in each packet (8 for the AEADs, 16 for AES-CBC).
    fn iv_len(&self) -> usize;
    /// Octets of ICV at the end of each packet.
    fn icv_len(&self) -> usize;
    /// Alignment of `payload | padding | pad length | next header` (RFC 4303 §2.4): the cipher
    /// block for CBC, 4 for the stream-like AEADs (RFC 4106 §3, RFC 7634 §3).
    fn align(&self) -> usize;
    /// Writes the IV, encrypts the plaintext and writes the ICV, in place. `seq` is the full
    /// 64-bit sequence number; `esn` says whether its high half is authenticated
    /// (RFC 4303 §2.2.1). Fails only if `pkt` is too short for the layout.
    fn seal(&self, seq: u64, esn: bool, pkt: &mut [u8]) -> Result<(), CryptoError>;
    /// Verifies the ICV (in constant time), then decrypts in place; on success the plaintext is
    /// at `pkt[ESP_HEADER_LEN + iv_len .. len - icv_len]`. Nothing is decrypted when the ICV is
    /// wrong ([`CryptoError::Integrity`]).
    fn open(&self, seq: u64, esn: bool, pkt: &mut [u8]) -> Result<(), CryptoError>;
}

/// Builds [`EspCipher`]s from IKEv2 transform IDs (RFC 7296 §3.3.2: ENCR type 1 with its Key
/// Length attribute, INTEG type 3, 0 = none).
pub trait EspCipherFactory: Send + Sync {
    /// `(encryption key incl. salt, integrity key)` lengths in octets, `None` if this factory
    /// does not implement the combination (or it is invalid, e.g. an AEAD with an INTEG).
    fn key_lengths(&self, encr: u16, key_bits: Option<u16>, integ: u16) -> Option<(usize, usize)>;
    /// One direction's cipher. [`CryptoError::Unsupported`] for combinations outside
    /// [`EspCipherFactory::key_lengths`], [`CryptoError::Malformed`] for wrong key lengths.
    fn build(
        &self,
        encr: u16,
        key_bits: Option<u16>,
        integ: u16,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Box<dyn EspCipher>, CryptoError>;
}
