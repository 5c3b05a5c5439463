//! The IKEv2 key schedule: SKEYSEED, the seven SK_* keys, Child SA KEYMAT, the AUTH inputs and
//! the RFC 9242 IntAuth chain.
//!
//! Call order for an initial exchange with RFC 9370 additional key exchanges:
//! 1. IKE_SA_INIT: [`initial_skeyseed`] with the type-4 shared secret, then [`derive_ike_keys`].
//! 2. After IKE_INTERMEDIATE round n completes: [`addke_skeyseed`] with the previous SK_d and the
//!    round's shared secret, then [`derive_ike_keys`] again (same nonces and SPIs). Each
//!    IKE_INTERMEDIATE message is fed to [`IntAuthChain`] with the keys *in force when it was
//!    protected* (generation n-1 for round n), using [`intauth_a`] for its "A" part.
//! 3. IKE_AUTH: [`maced_id`] and [`signed_octets`] (with [`IntAuthChain::value`]) with the final
//!    SK_pi/SK_pr; [`psk_auth`] for PSK authentication; [`child_keymat`] for the Child SA.
//!
//! Every function is pure; secrets are returned in [`Zeroizing`] buffers.
use pqike_crypto::Prf;
use pqike_wire::{EncodeError, Header, PayloadHeader, PayloadType, IKE_HEADER_LEN};
use zeroize::Zeroizing;

/// PRF transform IDs whose key is fixed at 128 bits (AES128_XCBC = 4, AES128_CMAC = 8).
/// RFC 7296 §2.14: for these, SKEYSEED's key is the first 64 bits of Ni and of Nr.
const FIXED_KEY_PRFS: [u16; 2] = [4, 8];

/// The seven IKE SA keys (RFC 7296 §2.14), in derivation order. For AEAD ciphers `sk_ai`/`sk_ar`
/// are empty and `sk_ei`/`sk_er` include the salt.
#[derive(Clone)]
pub struct IkeKeys {
    /// Key for deriving Child SA keys and the next generation's SKEYSEED.
    pub sk_d: Zeroizing<Vec<u8>>,
    /// Integrity key, initiator to responder.
    pub sk_ai: Zeroizing<Vec<u8>>,
    /// Integrity key, responder to initiator.
    pub sk_ar: Zeroizing<Vec<u8>>,
    /// Encryption key (plus salt), initiator to responder.
    pub sk_ei: Zeroizing<Vec<u8>>,
    /// Encryption key (plus salt), responder to initiator.
    pub sk_er: Zeroizing<Vec<u8>>,
    /// Key for the initiator's MACedID / IntAuth_i.
    pub sk_pi: Zeroizing<Vec<u8>>,
    /// Key for the responder's MACedID / IntAuth_r.
    pub sk_pr: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material; lengths are enough to debug a mismatch.
        write!(
            f,
            "IkeKeys {{ d: {}, ai: {}, ar: {}, ei: {}, er: {}, pi: {}, pr: {} }}",
            self.sk_d.len(),
            self.sk_ai.len(),
            self.sk_ar.len(),
            self.sk_ei.len(),
            self.sk_er.len(),
            self.sk_pi.len(),
            self.sk_pr.len()
        )
    }
}

/// prf+ (RFC 7296 §2.13): `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`, output
/// `T1 | T2 | ...` truncated to `len`. `seed` is S given in parts (concatenated).
///
/// # Panics
/// If `len` needs more than 255 blocks: the counter is one octet, so the RFC defines no more
/// output. Every caller asks for key lengths fixed by negotiated algorithms (at most a few hundred
/// octets), so this is a programming error, never reachable from peer input.
pub fn prf_plus(prf: &dyn Prf, key: &[u8], seed: &[&[u8]], len: usize) -> Zeroizing<Vec<u8>> {
    let block = prf.output_len();
    assert!(
        block > 0 && len <= 255 * block,
        "prf+ output of {len} octets exceeds 255 blocks"
    );
    let mut out = Zeroizing::new(Vec::with_capacity(len + block));
    let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    let mut counter: u8 = 1;
    while out.len() < len {
        let ctr = [counter];
        let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 2);
        parts.push(&prev);
        parts.extend_from_slice(seed);
        parts.push(&ctr);
        let t = prf.compute(key, &parts);
        out.extend_from_slice(&t);
        prev = t;
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). For fixed-key PRFs (AES-XCBC, AES-CMAC) the key
/// is the first 64 bits of Ni followed by the first 64 bits of Nr, as §2.14 requires.
pub fn initial_skeyseed(prf: &dyn Prf, ni: &[u8], nr: &[u8], shared: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(ni.len() + nr.len()));
    if FIXED_KEY_PRFS.contains(&prf.id()) {
        // Nonces are at least 16 octets (§3.9); `min` only keeps a malformed caller from panicking.
        key.extend_from_slice(&ni[..ni.len().min(8)]);
        key.extend_from_slice(&nr[..nr.len().min(8)]);
    } else {
        key.extend_from_slice(ni);
        key.extend_from_slice(nr);
    }
    prf.compute(&key, &[shared])
}

/// SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) after the n-th additional key exchange
/// (RFC 9370 §2.2.2). Ni/Nr are the IKE_SA_INIT nonces.
pub fn addke_skeyseed(
    prf: &dyn Prf,
    sk_d_prev: &[u8],
    shared: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Zeroizing<Vec<u8>> {
    prf.compute(sk_d_prev, &[shared, ni, nr])
}

/// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
/// (RFC 7296 §2.14). SK_d/SK_pi/SK_pr take the PRF's preferred key length (§2.13);
/// `integ_key_len` is 0 for AEAD ciphers, `encr_key_len` includes any salt (RFC 5282 §7.1).
#[allow(clippy::too_many_arguments)]
pub fn derive_ike_keys(
    prf: &dyn Prf,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
    encr_key_len: usize,
    integ_key_len: usize,
) -> IkeKeys {
    let prf_len = prf.key_len();
    let total = 3 * prf_len + 2 * integ_key_len + 2 * encr_key_len;
    let spi_i = spi_i.to_be_bytes();
    let spi_r = spi_r.to_be_bytes();
    let stream = prf_plus(prf, skeyseed, &[ni, nr, &spi_i, &spi_r], total);
    let mut rest: &[u8] = &stream;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Zeroizing::new(head.to_vec())
    };
    IkeKeys {
        sk_d: take(prf_len),
        sk_ai: take(integ_key_len),
        sk_ar: take(integ_key_len),
        sk_ei: take(encr_key_len),
        sk_er: take(encr_key_len),
        sk_pi: take(prf_len),
        sk_pr: take(prf_len),
    }
}

/// Child SA KEYMAT = prf+(SK_d, [g^ir(new)] | Ni | Nr [| SK(1) | ... | SK(n)]) (RFC 7296 §2.17,
/// RFC 9370 §2.2.4): `shared[0]` (the type-4 KE's secret) goes before the nonces, the additional
/// key exchanges' secrets after them, in round order. Empty `shared` = no PFS. The caller splits the
/// result as encr|integ for i->r, then encr|integ for r->i.
pub fn child_keymat(
    prf: &dyn Prf,
    sk_d: &[u8],
    shared: &[&[u8]],
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut seed: Vec<&[u8]> = Vec::with_capacity(shared.len() + 2);
    if let Some((first, more)) = shared.split_first() {
        seed.push(first);
        seed.push(ni);
        seed.push(nr);
        seed.extend_from_slice(more);
    } else {
        seed.push(ni);
        seed.push(nr);
    }
    prf_plus(prf, sk_d, &seed, len)
}

/// MACedIDForI/R = prf(SK_pi/SK_pr, IDType | RESERVED(3) | ID data) (RFC 7296 §2.15): the ID
/// payload body without its generic header.
pub fn maced_id(prf: &dyn Prf, sk_p: &[u8], id_type: u8, id_data: &[u8]) -> Vec<u8> {
    let head = [id_type, 0, 0, 0];
    prf.compute(sk_p, &[&head, id_data]).to_vec()
}

/// Initiator/ResponderSignedOctets = RealMessage | peer's Nonce data | MACedID [| IntAuth]
/// (RFC 7296 §2.15, RFC 9242 §3.3.2). `real_message` is our own IKE_SA_INIT message as sent
/// (without any non-ESP marker).
pub fn signed_octets(
    real_message: &[u8],
    peer_nonce: &[u8],
    maced_id: &[u8],
    intauth: Option<&[u8]>,
) -> Vec<u8> {
    let extra = intauth.map_or(0, <[u8]>::len);
    let mut out =
        Vec::with_capacity(real_message.len() + peer_nonce.len() + maced_id.len() + extra);
    out.extend_from_slice(real_message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(maced_id);
    if let Some(ia) = intauth {
        out.extend_from_slice(ia);
    }
    out
}

/// The 17-octet pad string of RFC 7296 §2.15 (no terminating NUL).
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// Shared-key AUTH data = prf(prf(Shared Secret, "Key Pad for IKEv2"), SignedOctets)
/// (RFC 7296 §2.15). The caller compares it with [`pqike_crypto::ct_eq`].
pub fn psk_auth(prf: &dyn Prf, psk: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    let inner = prf.compute(psk, &[KEY_PAD]);
    prf.compute(&inner, &[signed_octets]).to_vec()
}

/// RFC 9242 §3.3.2: the "A" part of an IKE_INTERMEDIATE message for IntAuth, built from its
/// logical parts so that fragmented and unfragmented messages (and CBC vs AEAD ciphers) give the
/// same value: IKE header (as given, with Next Payload = first unencrypted payload or SK,
/// Length = 28 + |unencrypted| + 4 + p_len) | unencrypted payloads | SK generic header
/// (Next Payload = `first_inner`, Length = 4 + p_len). The lengths are those of the message "as
/// if it were not encrypted": no IV, padding or ICV (§3.3.2). `unencrypted` must already chain
/// to SK in its last Next Payload field; `first_unencrypted` is ignored when it is empty.
///
/// Fails if the unencrypted SK payload (e.g. a reassembled message with more than 65 531 octets
/// of inner payloads) or the message is too long for its length field: such a message has no
/// "A" part, and the exchange fails instead of signing a made-up length.
pub fn intauth_a(
    header: &Header,
    unencrypted: &[u8],
    first_unencrypted: PayloadType,
    first_inner: PayloadType,
    p_len: usize,
) -> Result<Vec<u8>, EncodeError> {
    // Critical bit and reserved are zero for SK (RFC 7296 §3.14).
    let sk_header = PayloadHeader::new(first_inner, false, p_len, "SK payload (IntAuth)")?;
    // Buffer lengths: these sums cannot overflow.
    let total = IKE_HEADER_LEN + unencrypted.len() + PayloadHeader::LEN + p_len;
    let mut h = *header;
    h.next_payload = if unencrypted.is_empty() {
        PayloadType::SK
    } else {
        first_unencrypted
    };
    h.set_length(total)?;
    let mut out = Vec::with_capacity(IKE_HEADER_LEN + unencrypted.len() + PayloadHeader::LEN);
    h.encode(&mut out);
    out.extend_from_slice(unencrypted);
    sk_header.encode(&mut out);
    Ok(out)
}

/// The running IntAuth values of RFC 9242 §3.3.2: one chain over the initiator's IKE_INTERMEDIATE
/// requests (keyed with SK_pi) and one over the responder's responses (keyed with SK_pr).
#[derive(Clone, Default)]
pub struct IntAuthChain {
    initiator: Option<Zeroizing<Vec<u8>>>,
    responder: Option<Zeroizing<Vec<u8>>>,
}

impl core::fmt::Debug for IntAuthChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IntAuthChain")
            .field("initiator_rounds", &self.initiator.is_some())
            .field("responder_rounds", &self.responder.is_some())
            .finish()
    }
}

impl IntAuthChain {
    /// IntAuth_iN = prf(SK_pi, IntAuth_i(N-1) | IntAuth_iNA | IntAuth_iNP); IntAuth_i0 is empty.
    /// `sk_pi` is the key in force when this message was protected.
    pub fn update_initiator(&mut self, prf: &dyn Prf, sk_pi: &[u8], a: &[u8], p: &[u8]) {
        Self::update(&mut self.initiator, prf, sk_pi, a, p);
    }

    /// IntAuth_rN = prf(SK_pr, IntAuth_r(N-1) | IntAuth_rNA | IntAuth_rNP).
    pub fn update_responder(&mut self, prf: &dyn Prf, sk_pr: &[u8], a: &[u8], p: &[u8]) {
        Self::update(&mut self.responder, prf, sk_pr, a, p);
    }

    fn update(
        slot: &mut Option<Zeroizing<Vec<u8>>>,
        prf: &dyn Prf,
        key: &[u8],
        a: &[u8],
        p: &[u8],
    ) {
        let prev: &[u8] = slot.as_deref().map_or(&[], |v| v.as_slice());
        let next = prf.compute(key, &[prev, a, p]);
        *slot = Some(next);
    }

    /// True if no IKE_INTERMEDIATE message has been added.
    pub fn is_empty(&self) -> bool {
        self.initiator.is_none() && self.responder.is_none()
    }

    /// IntAuth = IntAuth_iN | IntAuth_rN | IKE_AUTH message ID (4 octets, network order)
    /// (RFC 9242 §3.3.2). `None` if no IKE_INTERMEDIATE ran: then nothing is appended to the signed
    /// octets, even if both sides announced INTERMEDIATE_EXCHANGE_SUPPORTED.
    pub fn value(&self, ike_auth_message_id: u32) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        if let Some(i) = &self.initiator {
            out.extend_from_slice(i);
        }
        if let Some(r) = &self.responder {
            out.extend_from_slice(r);
        }
        out.extend_from_slice(&ike_auth_message_id.to_be_bytes());
        Some(out)
    }
}

#[cfg(test)]
pub(crate) mod test_prf {
    //! A test-only HMAC-SHA2 PRF, independent of the production crypto provider.
    use hmac::{Mac, SimpleHmac};
    use pqike_crypto::Prf;
    use zeroize::Zeroizing;

    /// HMAC-SHA2-256 (id 5), -384 (6) or -512 (7).
    pub struct HmacPrf(pub u16);

    impl Prf for HmacPrf {
        fn id(&self) -> u16 {
            self.0
        }
        fn output_len(&self) -> usize {
            match self.0 {
                5 => 32,
                6 => 48,
                _ => 64,
            }
        }
        fn key_len(&self) -> usize {
            self.output_len()
        }
        fn compute(&self, key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
            fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[&[u8]]) -> Vec<u8> {
                let mut m =
                    <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key");
                for d in data {
                    m.update(d);
                }
                m.finalize().into_bytes().to_vec()
            }
            Zeroizing::new(match self.0 {
                5 => run::<SimpleHmac<sha2::Sha256>>(key, data),
                6 => run::<SimpleHmac<sha2::Sha384>>(key, data),
                _ => run::<SimpleHmac<sha2::Sha512>>(key, data),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_prf::HmacPrf;
    use super::*;
    use pqike_wire::{ExchangeType, Flags};

    #[test]
    fn prf_plus_blocks_chain_and_truncate() {
        let prf = HmacPrf(5);
        let out = prf_plus(&prf, b"key", &[b"se", b"ed"], 70);
        assert_eq!(out.len(), 70);
        let t1 = prf.compute(b"key", &[b"seed", &[1]]);
        let t2 = prf.compute(b"key", &[&t1, b"seed", &[2]]);
        let t3 = prf.compute(b"key", &[&t2, b"seed", &[3]]);
        assert_eq!(&out[..32], &t1[..]);
        assert_eq!(&out[32..64], &t2[..]);
        assert_eq!(&out[64..], &t3[..6]);
    }

    #[test]
    #[should_panic(expected = "exceeds 255 blocks")]
    fn prf_plus_refuses_more_than_255_blocks() {
        let _ = prf_plus(&HmacPrf(5), b"k", &[b"s"], 255 * 32 + 1);
    }

    #[test]
    fn ike_keys_split_in_rfc_order() {
        let prf = HmacPrf(6);
        let keys = derive_ike_keys(&prf, b"seed", b"ni", b"nr", 1, 2, 36, 0);
        let stream = prf_plus(
            &prf,
            b"seed",
            &[b"ni", b"nr", &1u64.to_be_bytes(), &2u64.to_be_bytes()],
            48 * 3 + 72,
        );
        assert_eq!(&keys.sk_d[..], &stream[..48]);
        assert!(keys.sk_ai.is_empty() && keys.sk_ar.is_empty());
        assert_eq!(&keys.sk_ei[..], &stream[48..84]);
        assert_eq!(&keys.sk_er[..], &stream[84..120]);
        assert_eq!(&keys.sk_pi[..], &stream[120..168]);
        assert_eq!(&keys.sk_pr[..], &stream[168..216]);
    }

    #[test]
    fn child_keymat_places_first_secret_before_nonces() {
        let prf = HmacPrf(5);
        let with = child_keymat(&prf, b"d", &[b"G", b"S1", b"S2"], b"NI", b"NR", 40);
        assert_eq!(with, prf_plus(&prf, b"d", &[b"GNINRS1S2"], 40));
        let without = child_keymat(&prf, b"d", &[], b"NI", b"NR", 40);
        assert_eq!(without, prf_plus(&prf, b"d", &[b"NINR"], 40));
    }

    #[test]
    fn psk_auth_uses_key_pad() {
        let prf = HmacPrf(5);
        let inner = prf.compute(b"secret", &[b"Key Pad for IKEv2"]);
        assert_eq!(
            psk_auth(&prf, b"secret", b"octets"),
            prf.compute(&inner, &[b"octets"]).to_vec()
        );
        assert_eq!(
            maced_id(&prf, b"k", 2, b"a.b"),
            prf.compute(b"k", &[&[2, 0, 0, 0], b"a.b"]).to_vec()
        );
    }

    #[test]
    fn signed_octets_appends_intauth_only_when_present() {
        assert_eq!(signed_octets(b"M", b"N", b"I", None), b"MNI");
        assert_eq!(signed_octets(b"M", b"N", b"I", Some(b"X")), b"MNIX");
    }

    fn header() -> Header {
        Header {
            spi_i: 0x0102030405060708,
            spi_r: 0x1112131415161718,
            next_payload: PayloadType::SKF,
            version: 0x20,
            exchange: ExchangeType::IKE_INTERMEDIATE,
            flags: Flags {
                initiator: true,
                response: false,
                version: false,
            },
            message_id: 1,
            length: 9999,
        }
    }

    #[test]
    fn intauth_a_rewrites_lengths_and_next_payload() {
        let a = intauth_a(&header(), &[], PayloadType::NONE, PayloadType::KE, 1192).unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(&a[..8], &0x0102030405060708u64.to_be_bytes());
        assert_eq!(a[16], PayloadType::SK.0);
        assert_eq!(a[17], 0x20);
        assert_eq!(a[18], ExchangeType::IKE_INTERMEDIATE.0);
        assert_eq!(a[19], 0x08);
        assert_eq!(&a[20..24], &1u32.to_be_bytes());
        assert_eq!(&a[24..28], &(28u32 + 4 + 1192).to_be_bytes());
        assert_eq!(&a[28..], &[PayloadType::KE.0, 0, 0x04, 0xac]);
        // with an unencrypted payload before SK, the header points at it
        let a = intauth_a(
            &header(),
            &[46, 0, 0, 5, 0xee],
            PayloadType::VENDOR,
            PayloadType::KE,
            10,
        )
        .unwrap();
        assert_eq!(a[16], PayloadType::VENDOR.0);
        assert_eq!(&a[24..28], &(28u32 + 5 + 4 + 10).to_be_bytes());
        assert_eq!(&a[28..33], &[46, 0, 0, 5, 0xee]);
    }

    #[test]
    fn intauth_a_refuses_an_sk_payload_longer_than_its_length_field() {
        // The SK header's 2-octet Payload Length counts itself (4) and P: P may be 65 531.
        let a = intauth_a(&header(), &[], PayloadType::NONE, PayloadType::KE, 65_531).unwrap();
        assert_eq!(&a[28..], &[PayloadType::KE.0, 0, 0xff, 0xff]);
        assert_eq!(
            intauth_a(&header(), &[], PayloadType::NONE, PayloadType::KE, 65_532),
            Err(EncodeError::TooLong {
                what: "SK payload (IntAuth)",
                len: 65_536,
                max: 65_535
            })
        );
    }

    #[test]
    fn intauth_chain_accumulates() {
        let prf = HmacPrf(5);
        let mut c = IntAuthChain::default();
        assert!(c.is_empty());
        assert_eq!(c.value(2), None);
        c.update_initiator(&prf, b"pi", b"A1", b"P1");
        c.update_responder(&prf, b"pr", b"a1", b"p1");
        c.update_initiator(&prf, b"pi2", b"A2", b"P2");
        let i1 = prf.compute(b"pi", &[b"A1P1"]);
        let i2 = prf.compute(b"pi2", &[&i1, b"A2P2"]);
        let r1 = prf.compute(b"pr", &[b"a1p1"]);
        let mut want = i2.to_vec();
        want.extend_from_slice(&r1);
        want.extend_from_slice(&[0, 0, 0, 3]);
        assert_eq!(c.value(3), Some(want));
        assert!(!c.is_empty());
    }
}
