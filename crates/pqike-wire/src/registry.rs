//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registries as newtypes with named
//! constants, so that unknown values round-trip unchanged (RFC 7296 §3.3.6: unknown transform
//! IDs are skipped, not rejected).
//!
//! The algorithm registries ([`EncrId`], [`PrfId`], [`IntegId`], [`KeMethod`], [`EsnId`]) take
//! their names from the one algorithm table, [`crate::algorithms`]; the others are named after
//! their constants.

/// `Debug` (and `Display`, the same) print the name, or `Type(value)` for unknown values.
macro_rules! name_fmt {
    ($name:ident) => {
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }
    };
}

/// A registry whose names are its constants' names.
macro_rules! registry {
    ($(#[$m:meta])* $name:ident($ty:ty) { $($(#[$cm:meta])* $c:ident = $v:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $ty);
        impl $name {
            $($(#[$cm])* #[doc = concat!("`", stringify!($c), "` = ", stringify!($v), ".")] pub const $c: $name = $name($v);)*
            /// The registry name of this value, if it is one we know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $(x if x == $v => Some(stringify!($c)),)* _ => None }
            }
        }
        name_fmt!($name);
    };
}

/// A transform ID registry whose names come from the algorithm table
/// ([`crate::algorithms::ALGORITHMS`]); the constants are the IDs pqike has rows for.
macro_rules! algorithm_registry {
    ($(#[$m:meta])* $name:ident($ty:ty) = $kind:expr; { $($c:ident = $v:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $ty);
        impl $name {
            $(#[doc = concat!("`", stringify!($c), "` = ", stringify!($v), ".")] pub const $c: $name = $name($v);)*
            /// Every constant above (each has a row in the algorithm table; tested).
            pub const KNOWN: &'static [$name] = &[$($name($v)),*];
            /// strongSwan's name of this value (`CURVE_25519`), if the algorithm table has it.
            pub fn name(self) -> Option<&'static str> {
                crate::algorithms::by_id($kind, self.0).map(|a| a.name)
            }
            /// The IANA registry spelling (`Curve25519`), if the algorithm table has it.
            pub fn iana_name(self) -> Option<&'static str> {
                crate::algorithms::by_id($kind, self.0).map(|a| a.iana_name)
            }
        }
        name_fmt!($name);
    };
}

registry! {
    /// Exchange types (RFC 7296 §3.1, RFC 9242, RFC 9370).
    ExchangeType(u8) {
        IKE_SA_INIT = 34, IKE_AUTH = 35, CREATE_CHILD_SA = 36, INFORMATIONAL = 37,
        IKE_SESSION_RESUME = 38, IKE_INTERMEDIATE = 43, IKE_FOLLOWUP_KE = 44,
    }
}

registry! {
    /// Payload types (RFC 7296 §3.2, RFC 7383).
    PayloadType(u8) {
        NONE = 0, SA = 33, KE = 34, IDI = 35, IDR = 36, CERT = 37, CERTREQ = 38, AUTH = 39,
        NONCE = 40, NOTIFY = 41, DELETE = 42, VENDOR = 43, TSI = 44, TSR = 45, SK = 46,
        CP = 47, EAP = 48, GSPM = 49, SKF = 53,
    }
}

registry! {
    /// Transform types (RFC 7296 §3.3.2, RFC 9370 ADDKE1..7 = 6..12).
    TransformType(u8) {
        ENCR = 1, PRF = 2, INTEG = 3, KE = 4, ESN = 5,
        ADDKE1 = 6, ADDKE2 = 7, ADDKE3 = 8, ADDKE4 = 9, ADDKE5 = 10, ADDKE6 = 11, ADDKE7 = 12,
    }
}

impl TransformType {
    /// `Some(n)` (1..=7) for ADDKEn.
    pub fn addke_index(self) -> Option<u8> {
        (6..=12).contains(&self.0).then(|| self.0 - 5)
    }
    /// ADDKEn for n in 1..=7.
    pub fn addke(n: u8) -> TransformType {
        assert!((1..=7).contains(&n), "ADDKE index out of range");
        TransformType(n + 5)
    }
}

algorithm_registry! {
    /// Encryption algorithm transform IDs.
    EncrId(u16) = crate::algorithms::AlgKind::Encr; {
        AES_CBC = 12, AES_GCM_8 = 18, AES_GCM_12 = 19, AES_GCM_16 = 20, CHACHA20_POLY1305 = 28,
    }
}
algorithm_registry! {
    /// Pseudorandom function transform IDs.
    PrfId(u16) = crate::algorithms::AlgKind::Prf; {
        HMAC_SHA1 = 2, HMAC_SHA2_256 = 5, HMAC_SHA2_384 = 6, HMAC_SHA2_512 = 7,
    }
}
algorithm_registry! {
    /// Integrity algorithm transform IDs.
    IntegId(u16) = crate::algorithms::AlgKind::Integ; {
        NONE = 0, HMAC_SHA1_96 = 2, HMAC_SHA2_256_128 = 12, HMAC_SHA2_384_192 = 13,
        HMAC_SHA2_512_256 = 14,
    }
}
algorithm_registry! {
    /// Key exchange method IDs (transform type 4 and ADDKE1..7 share this registry).
    KeMethod(u16) = crate::algorithms::AlgKind::Ke; {
        NONE = 0, MODP_2048 = 14, MODP_3072 = 15, MODP_4096 = 16, ECP_256 = 19, ECP_384 = 20,
        ECP_521 = 21, CURVE25519 = 31, CURVE448 = 32, ML_KEM_512 = 35, ML_KEM_768 = 36,
        ML_KEM_1024 = 37,
    }
}
algorithm_registry! {
    /// Extended sequence numbers transform IDs.
    EsnId(u16) = crate::algorithms::AlgKind::Esn; { NO_ESN = 0, ESN = 1 }
}
registry! {
    /// Security protocol IDs (Proposal, Notify, Delete).
    ProtocolId(u8) { NONE = 0, IKE = 1, AH = 2, ESP = 3 }
}
registry! {
    /// Authentication methods (RFC 7296 §3.8, RFC 7427).
    AuthMethod(u8) {
        RSA_SIG = 1, PSK = 2, DSS = 3, ECDSA_SHA256_P256 = 9, ECDSA_SHA384_P384 = 10, ECDSA_SHA512_P521 = 11,
        GSPM = 12, NULL = 13, DIGITAL_SIGNATURE = 14,
    }
}
registry! {
    /// Identification types (RFC 7296 §3.5).
    IdType(u8) { IPV4_ADDR = 1, FQDN = 2, RFC822_ADDR = 3, IPV6_ADDR = 5, DER_ASN1_DN = 9, DER_ASN1_GN = 10, KEY_ID = 11 }
}
registry! {
    /// Certificate encodings (RFC 7296 §3.6).
    CertEncoding(u8) { X509_SIG = 4, HASH_URL_X509 = 12, HASH_URL_BUNDLE = 13 }
}
registry! {
    /// Traffic selector types (RFC 7296 §3.13.1).
    TsType(u8) { IPV4_ADDR_RANGE = 7, IPV6_ADDR_RANGE = 8 }
}
registry! {
    /// Configuration payload types (RFC 7296 §3.15).
    CfgType(u8) { REQUEST = 1, REPLY = 2, SET = 3, ACK = 4 }
}
registry! {
    /// RFC 7427 / RFC 8420 hash algorithm identifiers (SIGNATURE_HASH_ALGORITHMS data).
    HashAlg(u16) { SHA1 = 1, SHA2_256 = 2, SHA2_384 = 3, SHA2_512 = 4, IDENTITY = 5 }
}
registry! {
    /// Notify message types: errors 0..16383, status 16384..65535.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1, INVALID_IKE_SPI = 4, INVALID_MAJOR_VERSION = 5, INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9, INVALID_SPI = 11, NO_PROPOSAL_CHOSEN = 14, INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24, SINGLE_PAIR_REQUIRED = 34, NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36, FAILED_CP_REQUIRED = 37, TS_UNACCEPTABLE = 38, INVALID_SELECTORS = 39,
        TEMPORARY_FAILURE = 43, CHILD_SA_NOT_FOUND = 44, STATE_NOT_FOUND = 47,
        INITIAL_CONTACT = 16384, SET_WINDOW_SIZE = 16385, ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387, NAT_DETECTION_SOURCE_IP = 16388, NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390, USE_TRANSPORT_MODE = 16391, HTTP_CERT_LOOKUP_SUPPORTED = 16392, REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394, NON_FIRST_FRAGMENTS_ALSO = 16395, MOBIKE_SUPPORTED = 16396,
        MULTIPLE_AUTH_SUPPORTED = 16404, ANOTHER_AUTH_FOLLOWS = 16405, REDIRECT_SUPPORTED = 16406,
        CHILDLESS_IKEV2_SUPPORTED = 16418, IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        SIGNATURE_HASH_ALGORITHMS = 16431, USE_PPK = 16435, PPK_IDENTITY = 16436, NO_PPK_AUTH = 16437,
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438, IP4_ALLOWED = 16439, IP6_ALLOWED = 16440,
        ADDITIONAL_KEY_EXCHANGE = 16441, USE_AGGFRAG = 16442, SUPPORTED_AUTH_METHODS = 16443,
        USE_PPK_INT = 16445, PPK_IDENTITY_KEY = 16446,
    }
}

impl NotifyType {
    /// Error types are 0..=16383 (RFC 7296 §3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}
