//! The one table of the algorithms pqike knows: transform IDs (RFC 7296 §3.3.2, RFC 9370),
//! their names and the strongSwan proposal keywords that select them.
//!
//! Every other place that needs an algorithm's name reads [`ALGORITHMS`]: the registry
//! newtypes' `Debug`/`Display` ([`crate::EncrId`], [`crate::KeMethod`], ...), the engine's status
//! names, the daemon's and the test kit's proposal parsers, the key log's Wireshark names and the
//! interop lab. A row is one (kind, transform ID, key size): AES-GCM-16 with 128-, 192- and
//! 256-bit keys are three rows with one ID, since the key size is a separate Key Length
//! attribute on the wire (RFC 7296 §3.3.5) but a separate keyword and name for users.
//!
//! Names per row:
//! * [`Algorithm::iana_name`]: the IANA "IKEv2 Parameters" spelling (`ENCR_AES_GCM_16`,
//!   `AUTH_HMAC_SHA2_256_128`, `Curve25519`, `ML-KEM-768`);
//! * [`Algorithm::name`]: what strongSwan's `swanctl --list-sas` prints and pqike prints in
//!   status and logs (`AES_GCM_16`, `HMAC_SHA2_256_128`, `CURVE_25519`, `ML_KEM_768`), so that
//!   both implementations' lines compare side by side; [`Algorithm::display`] adds the key size
//!   (`AES_GCM_16-256`);
//! * [`Algorithm::keywords`]: strongSwan proposal keywords, preferred one first
//!   (`aes256gcm16`, `x25519`, `ke1_` prefixes are the proposal parser's business);
//! * the names Wireshark's IKEv2 and ESP decryption tables expect, where Wireshark has one.
//!
//! The table covers what the code supports (the aws-lc-rs provider, the ESP data path) plus
//! the few methods the daemon's proposal parser has always accepted (AES-GCM-8/12, MODP-4096,
//! Curve448): offering them is harmless, negotiation skips what the provider lacks.
use crate::registry::KeMethod;

/// The largest KE payload data a method may need to be offered in IKE_SA_INIT.
///
/// IKE_SA_INIT cannot be fragmented (RFC 7383 §2.5: fragmentation starts once keys exist, in
/// IKE_AUTH), so its KE payload must fit in one UDP datagram. 8192 octets is what a reasonable
/// path carries in one (IPv4 and IPv6 reassemble IP fragments up to 64 KiB, but losing one
/// fragment loses the message and middleboxes drop fragments; RFC 7383 §1). A method whose
/// public data is larger (e.g. Classic McEliece keys of 256 KiB and more) can only run as an
/// additional key exchange (RFC 9370 §2.2.2), in IKE_INTERMEDIATE or IKE_FOLLOWUP_KE, which are
/// protected and can be fragmented.
pub const IKE_SA_INIT_MAX_KE_DATA: usize = 8192;

/// Transform type family of a row. ADDKE1..7 (RFC 9370) share the key exchange registry, so they
/// are [`AlgKind::Ke`] rows too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlgKind {
    /// Encryption algorithm (transform type 1).
    Encr,
    /// Pseudorandom function (transform type 2).
    Prf,
    /// Integrity algorithm (transform type 3).
    Integ,
    /// Key exchange method (transform type 4, and ADDKE1..7).
    Ke,
    /// Extended sequence numbers (transform type 5).
    Esn,
}

impl AlgKind {
    /// Prefix for IDs without a row: `ENCR_99`, `KE_1036` (as strongSwan prints them).
    fn unknown_prefix(self) -> &'static str {
        match self {
            AlgKind::Encr => "ENCR",
            AlgKind::Prf => "PRF",
            AlgKind::Integ => "INTEG",
            AlgKind::Ke => "KE",
            AlgKind::Esn => "ESN",
        }
    }
}

/// Length of a key exchange method's public data (KE payload data, RFC 7296 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeDataLen {
    /// What the initiator sends: a public key (ML-KEM: the encapsulation key).
    pub initiator: usize,
    /// What the responder sends (ML-KEM: the ciphertext).
    pub responder: usize,
}

/// Whether a key exchange with this much public data may be offered in IKE_SA_INIT (see
/// [`IKE_SA_INIT_MAX_KE_DATA`]).
pub const fn fits_ike_sa_init(len: KeDataLen) -> bool {
    len.initiator <= IKE_SA_INIT_MAX_KE_DATA && len.responder <= IKE_SA_INIT_MAX_KE_DATA
}

/// One algorithm (one key size of it): see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorithm {
    /// Transform type family.
    pub kind: AlgKind,
    /// IANA transform ID.
    pub id: u16,
    /// Key Length attribute (RFC 7296 §3.3.5), for ciphers with variable key sizes.
    pub key_bits: Option<u16>,
    /// IANA registry spelling.
    pub iana_name: &'static str,
    /// strongSwan's name (without key size), as status and logs print it.
    pub name: &'static str,
    /// strongSwan proposal keywords, preferred first; empty when no keyword selects the row.
    pub keywords: &'static [&'static str],
    /// Combined-mode cipher (takes no INTEG transform, RFC 5282 §8). Only for ENCR rows.
    pub aead: bool,
    /// Public data lengths. Only for KE rows.
    pub ke_data: Option<KeDataLen>,
    /// The method may be the type-4 KE of IKE_SA_INIT (derived from `ke_data` by
    /// [`fits_ike_sa_init`]); `false` means ADDKE only. Always `true` for other kinds.
    pub allowed_in_ike_sa_init: bool,
    /// Wireshark's name in the IKEv2 decryption table (`ikev2_decryption_table`), for ENCR
    /// (with key size) and INTEG rows Wireshark can decrypt with.
    pub wireshark_ike: Option<&'static str>,
    /// Wireshark's name in the ESP SA table (`esp_sa`), for ENCR and INTEG rows.
    pub wireshark_esp: Option<&'static str>,
}

impl Algorithm {
    /// The name with the key size, as swanctl prints it: `AES_GCM_16-256`, `CURVE_25519`.
    pub fn display(&self) -> String {
        with_bits(self.name.to_owned(), self.key_bits)
    }

    /// The preferred proposal keyword, if the row has one.
    pub fn keyword(&self) -> Option<&'static str> {
        self.keywords.first().copied()
    }

    /// For KE rows: the method as a registry value.
    pub fn ke_method(&self) -> Option<KeMethod> {
        (self.kind == AlgKind::Ke).then_some(KeMethod(self.id))
    }
}

const BASE: Algorithm = Algorithm {
    kind: AlgKind::Encr,
    id: 0,
    key_bits: None,
    iana_name: "",
    name: "",
    keywords: &[],
    aead: false,
    ke_data: None,
    allowed_in_ike_sa_init: true,
    wireshark_ike: None,
    wireshark_esp: None,
};

/// An ENCR row. `ws` = (Wireshark IKEv2 name, Wireshark ESP name).
const fn encr(
    id: u16,
    key_bits: Option<u16>,
    (iana_name, name): (&'static str, &'static str),
    keywords: &'static [&'static str],
    aead: bool,
    (wireshark_ike, wireshark_esp): (Option<&'static str>, Option<&'static str>),
) -> Algorithm {
    Algorithm {
        kind: AlgKind::Encr,
        id,
        key_bits,
        iana_name,
        name,
        keywords,
        aead,
        wireshark_ike,
        wireshark_esp,
        ..BASE
    }
}

const fn prf(
    id: u16,
    iana_name: &'static str,
    name: &'static str,
    keywords: &'static [&'static str],
) -> Algorithm {
    Algorithm {
        kind: AlgKind::Prf,
        id,
        iana_name,
        name,
        keywords,
        ..BASE
    }
}

const fn integ(
    id: u16,
    (iana_name, name): (&'static str, &'static str),
    keywords: &'static [&'static str],
    (wireshark_ike, wireshark_esp): (&'static str, &'static str),
) -> Algorithm {
    Algorithm {
        kind: AlgKind::Integ,
        id,
        iana_name,
        name,
        keywords,
        wireshark_ike: Some(wireshark_ike),
        wireshark_esp: Some(wireshark_esp),
        ..BASE
    }
}

/// A KE row; whether it may run in IKE_SA_INIT follows from its data lengths.
const fn ke(
    id: u16,
    (iana_name, name): (&'static str, &'static str),
    keywords: &'static [&'static str],
    initiator: usize,
    responder: usize,
) -> Algorithm {
    let len = KeDataLen {
        initiator,
        responder,
    };
    Algorithm {
        kind: AlgKind::Ke,
        id,
        iana_name,
        name,
        keywords,
        ke_data: Some(len),
        allowed_in_ike_sa_init: fits_ike_sa_init(len),
        ..BASE
    }
}

const fn esn(
    id: u16,
    iana_name: &'static str,
    name: &'static str,
    keywords: &'static [&'static str],
) -> Algorithm {
    Algorithm {
        kind: AlgKind::Esn,
        id,
        iana_name,
        name,
        keywords,
        ..BASE
    }
}

const AES_CBC: (&str, &str) = ("ENCR_AES_CBC", "AES_CBC");
const AES_GCM_8: (&str, &str) = ("ENCR_AES_GCM_8", "AES_GCM_8");
const AES_GCM_12: (&str, &str) = ("ENCR_AES_GCM_12", "AES_GCM_12");
const AES_GCM_16: (&str, &str) = ("ENCR_AES_GCM_16", "AES_GCM_16");
const GCM8_ESP: Option<&str> = Some("AES-GCM with 8 octet ICV [RFC4106]");
const GCM12_ESP: Option<&str> = Some("AES-GCM with 12 octet ICV [RFC4106]");
const GCM16_ESP: Option<&str> = Some("AES-GCM with 16 octet ICV [RFC4106]");
const CBC_ESP: Option<&str> = Some("AES-CBC [RFC3602]");

/// Every algorithm pqike knows. Lookups take the first matching row.
pub const ALGORITHMS: &[Algorithm] = &[
    // ENCR. AES-GCM keywords: strongSwan names the ICV in octets (gcm16) or bits (gcm128);
    // `aesNNNgcm` alone means the 16-octet ICV.
    encr(
        12,
        Some(128),
        AES_CBC,
        &["aes128"],
        false,
        (Some("AES-CBC-128 [RFC3602]"), CBC_ESP),
    ),
    encr(
        12,
        Some(192),
        AES_CBC,
        &["aes192"],
        false,
        (Some("AES-CBC-192 [RFC3602]"), CBC_ESP),
    ),
    encr(
        12,
        Some(256),
        AES_CBC,
        &["aes256"],
        false,
        (Some("AES-CBC-256 [RFC3602]"), CBC_ESP),
    ),
    encr(
        18,
        Some(128),
        AES_GCM_8,
        &["aes128gcm8", "aes128gcm64"],
        true,
        (Some("AES-GCM-128 with 8 octet ICV [RFC5282]"), GCM8_ESP),
    ),
    encr(
        18,
        Some(192),
        AES_GCM_8,
        &["aes192gcm8", "aes192gcm64"],
        true,
        (Some("AES-GCM-192 with 8 octet ICV [RFC5282]"), GCM8_ESP),
    ),
    encr(
        18,
        Some(256),
        AES_GCM_8,
        &["aes256gcm8", "aes256gcm64"],
        true,
        (Some("AES-GCM-256 with 8 octet ICV [RFC5282]"), GCM8_ESP),
    ),
    encr(
        19,
        Some(128),
        AES_GCM_12,
        &["aes128gcm12", "aes128gcm96"],
        true,
        (Some("AES-GCM-128 with 12 octet ICV [RFC5282]"), GCM12_ESP),
    ),
    encr(
        19,
        Some(192),
        AES_GCM_12,
        &["aes192gcm12", "aes192gcm96"],
        true,
        (Some("AES-GCM-192 with 12 octet ICV [RFC5282]"), GCM12_ESP),
    ),
    encr(
        19,
        Some(256),
        AES_GCM_12,
        &["aes256gcm12", "aes256gcm96"],
        true,
        (Some("AES-GCM-256 with 12 octet ICV [RFC5282]"), GCM12_ESP),
    ),
    encr(
        20,
        Some(128),
        AES_GCM_16,
        &["aes128gcm16", "aes128gcm128", "aes128gcm"],
        true,
        (Some("AES-GCM-128 with 16 octet ICV [RFC5282]"), GCM16_ESP),
    ),
    encr(
        20,
        Some(192),
        AES_GCM_16,
        &["aes192gcm16", "aes192gcm128", "aes192gcm"],
        true,
        (Some("AES-GCM-192 with 16 octet ICV [RFC5282]"), GCM16_ESP),
    ),
    encr(
        20,
        Some(256),
        AES_GCM_16,
        &["aes256gcm16", "aes256gcm128", "aes256gcm"],
        true,
        (Some("AES-GCM-256 with 16 octet ICV [RFC5282]"), GCM16_ESP),
    ),
    // RFC 7634 §2: the key is always 256 bits, so there is no Key Length attribute. Wireshark's
    // IKEv2 and ESP tables have no ChaCha20-Poly1305 entry.
    encr(
        28,
        None,
        ("ENCR_CHACHA20_POLY1305", "CHACHA20_POLY1305"),
        &["chacha20poly1305"],
        true,
        (None, None),
    ),
    // PRF
    prf(2, "PRF_HMAC_SHA1", "PRF_HMAC_SHA1", &["prfsha1"]),
    prf(5, "PRF_HMAC_SHA2_256", "PRF_HMAC_SHA2_256", &["prfsha256"]),
    prf(6, "PRF_HMAC_SHA2_384", "PRF_HMAC_SHA2_384", &["prfsha384"]),
    prf(7, "PRF_HMAC_SHA2_512", "PRF_HMAC_SHA2_512", &["prfsha512"]),
    // INTEG. NONE is what an AEAD proposal carries, if anything (RFC 7296 §3.3.3).
    integ(0, ("NONE", "NONE"), &[], ("NONE [RFC4306]", "NULL")),
    integ(
        2,
        ("AUTH_HMAC_SHA1_96", "HMAC_SHA1_96"),
        &["sha1", "sha"],
        ("HMAC_SHA1_96 [RFC2404]", "HMAC-SHA-1-96 [RFC2404]"),
    ),
    integ(
        12,
        ("AUTH_HMAC_SHA2_256_128", "HMAC_SHA2_256_128"),
        &["sha256", "sha2_256"],
        ("HMAC_SHA2_256_128 [RFC4868]", "HMAC-SHA-256-128 [RFC4868]"),
    ),
    integ(
        13,
        ("AUTH_HMAC_SHA2_384_192", "HMAC_SHA2_384_192"),
        &["sha384", "sha2_384"],
        ("HMAC_SHA2_384_192 [RFC4868]", "HMAC-SHA-384-192 [RFC4868]"),
    ),
    integ(
        14,
        ("AUTH_HMAC_SHA2_512_256", "HMAC_SHA2_512_256"),
        &["sha512", "sha2_512"],
        ("HMAC_SHA2_512_256 [RFC4868]", "HMAC-SHA-512-256 [RFC4868]"),
    ),
    // KE. Data lengths: MODP groups send the group-sized value (RFC 7296 §3.4); ECP groups x | y
    // (RFC 5903 §7); Curve25519/448 the u-coordinate (RFC 8031 §3.1); ML-KEM the encapsulation
    // key one way and the ciphertext back (FIPS 203 Table 3, draft-ietf-ipsecme-ikev2-mlkem §3).
    // NONE (RFC 9370 §2.2.1: an optional additional round) sends nothing.
    ke(0, ("NONE", "KE_NONE"), &["none"], 0, 0),
    ke(
        14,
        ("2048-bit MODP Group", "MODP_2048"),
        &["modp2048"],
        256,
        256,
    ),
    ke(
        15,
        ("3072-bit MODP Group", "MODP_3072"),
        &["modp3072"],
        384,
        384,
    ),
    ke(
        16,
        ("4096-bit MODP Group", "MODP_4096"),
        &["modp4096"],
        512,
        512,
    ),
    ke(
        19,
        ("256-bit random ECP group", "ECP_256"),
        &["ecp256"],
        64,
        64,
    ),
    ke(
        20,
        ("384-bit random ECP group", "ECP_384"),
        &["ecp384"],
        96,
        96,
    ),
    ke(
        21,
        ("521-bit random ECP group", "ECP_521"),
        &["ecp521"],
        132,
        132,
    ),
    ke(
        31,
        ("Curve25519", "CURVE_25519"),
        &["x25519", "curve25519"],
        32,
        32,
    ),
    ke(32, ("Curve448", "CURVE_448"), &["x448", "curve448"], 56, 56),
    ke(35, ("ML-KEM-512", "ML_KEM_512"), &["mlkem512"], 800, 768),
    ke(36, ("ML-KEM-768", "ML_KEM_768"), &["mlkem768"], 1184, 1088),
    ke(
        37,
        ("ML-KEM-1024", "ML_KEM_1024"),
        &["mlkem1024"],
        1568,
        1568,
    ),
    // ESN (ESP proposals only)
    esn(0, "No Extended Sequence Numbers", "NO_EXT_SEQ", &["noesn"]),
    esn(1, "Extended Sequence Numbers", "EXT_SEQ", &["esn"]),
];

/// The row for exactly this (kind, ID, key size).
pub fn find(kind: AlgKind, id: u16, key_bits: Option<u16>) -> Option<&'static Algorithm> {
    ALGORITHMS
        .iter()
        .find(|a| a.kind == kind && a.id == id && a.key_bits == key_bits)
}

/// The first row for (kind, ID), whatever its key size: for what all key sizes share (names,
/// AEAD, Wireshark's ESP name).
pub fn by_id(kind: AlgKind, id: u16) -> Option<&'static Algorithm> {
    ALGORITHMS.iter().find(|a| a.kind == kind && a.id == id)
}

/// The row a strongSwan proposal keyword selects (ASCII case-insensitive, as strongSwan).
pub fn by_keyword(keyword: &str) -> Option<&'static Algorithm> {
    ALGORITHMS
        .iter()
        .find(|a| a.keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword)))
}

/// The row whose [`Algorithm::display`] is `name` (`AES_GCM_16-256`, `HMAC_SHA2_256_128`).
pub fn by_name(name: &str) -> Option<&'static Algorithm> {
    ALGORITHMS.iter().find(|a| {
        let (base, bits) = match (a.key_bits, name.rsplit_once('-')) {
            (Some(b), Some((base, bits))) => (base, bits.parse::<u16>() == Ok(b)),
            (None, _) => (name, true),
            (Some(_), None) => return false,
        };
        bits && a.name == base
    })
}

fn with_bits(name: String, key_bits: Option<u16>) -> String {
    match key_bits {
        Some(b) => format!("{name}-{b}"),
        None => name,
    }
}

/// The display name of any (kind, ID, key size); IDs without a row print as `ENCR_99-128`,
/// `KE_1036` instead of failing.
pub fn display_name(kind: AlgKind, id: u16, key_bits: Option<u16>) -> String {
    let base = by_id(kind, id).map_or_else(
        || format!("{}_{id}", kind.unknown_prefix()),
        |a| a.name.to_owned(),
    );
    with_bits(base, key_bits)
}

/// ENCR name with key size: `AES_GCM_16-256`, `AES_CBC-128`, `CHACHA20_POLY1305`.
pub fn encr_name(id: u16, key_bits: Option<u16>) -> String {
    display_name(AlgKind::Encr, id, key_bits)
}

/// PRF name: `PRF_HMAC_SHA2_384`.
pub fn prf_name(id: u16) -> String {
    display_name(AlgKind::Prf, id, None)
}

/// INTEG name: `HMAC_SHA2_256_128` (`NONE` for 0).
pub fn integ_name(id: u16) -> String {
    display_name(AlgKind::Integ, id, None)
}

/// Key exchange method name: `CURVE_25519`, `ECP_256`, `MODP_3072`, `ML_KEM_768`.
pub fn ke_name(method: KeMethod) -> String {
    display_name(AlgKind::Ke, method.0, None)
}

/// Whether an ENCR transform ID is a combined-mode cipher we know (no INTEG transform).
pub fn is_aead(encr: u16) -> bool {
    by_id(AlgKind::Encr, encr).is_some_and(|a| a.aead)
}

#[cfg(test)]
mod tests;
