//! One-line message summaries for logs, in strongSwan's style:
//! `IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) ]`.
use crate::payload::Payload;
use crate::registry::{CfgType, ExchangeType, NotifyType};
use crate::Message;
use std::fmt::{self, Write as _};

/// Summarise a message: exchange, direction, message ID and the payloads' short names.
pub fn summary(
    exchange: ExchangeType,
    response: bool,
    message_id: u32,
    payloads: &[Payload],
) -> String {
    let mut s = format!(
        "{exchange} {} {message_id} [",
        if response { "response" } else { "request" }
    );
    for p in payloads {
        s.push(' ');
        push_short_name(&mut s, p);
    }
    s.push_str(" ]");
    s
}

/// `IKE_AUTH request 1 [ SK ]`: see [`summary`].
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        f.write_str(&summary(
            h.exchange,
            h.flags.response,
            h.message_id,
            &self.payloads,
        ))
    }
}

fn push_short_name(s: &mut String, p: &Payload) {
    // `write!` into a String cannot fail.
    let _ = match p {
        Payload::Sa(_) => write!(s, "SA"),
        Payload::Ke { .. } => write!(s, "KE"),
        Payload::IdI(_) => write!(s, "IDi"),
        Payload::IdR(_) => write!(s, "IDr"),
        Payload::Cert(_) => write!(s, "CERT"),
        Payload::CertReq(_) => write!(s, "CERTREQ"),
        Payload::Auth(_) => write!(s, "AUTH"),
        Payload::Nonce(_) => write!(s, "No"),
        Payload::Notify(n) => match n.notify_type.short_name() {
            Some(name) => write!(s, "N({name})"),
            None => write!(s, "N({})", n.notify_type.0),
        },
        Payload::Delete(_) => write!(s, "D"),
        Payload::Vendor(_) => write!(s, "V"),
        Payload::TsI(_) => write!(s, "TSi"),
        Payload::TsR(_) => write!(s, "TSr"),
        Payload::Cp(c) => {
            let kind = match c.cfg_type {
                CfgType::REQUEST => "CPRQ",
                CfgType::REPLY => "CPRP",
                CfgType::SET => "CPS",
                CfgType::ACK => "CPA",
                _ => "CP",
            };
            let _ = write!(s, "{kind}(");
            for (i, a) in c.attributes.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let _ = match cfg_attr_short_name(a.attr_type) {
                    Some(n) => write!(s, "{n}"),
                    None => write!(s, "{}", a.attr_type),
                };
            }
            write!(s, ")")
        }
        Payload::Eap(_) => write!(s, "EAP"),
        Payload::Encrypted(_) => write!(s, "SK"),
        Payload::EncryptedFragment(f) => write!(s, "EF({}/{})", f.number, f.total),
        Payload::Unknown {
            payload_type,
            critical,
            ..
        } => {
            write!(
                s,
                "U({}{})",
                payload_type.0,
                if *critical { ",crit" } else { "" }
            )
        }
    };
}

/// Short names of configuration attributes (RFC 7296 §3.15.1).
fn cfg_attr_short_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "ADDR",
        2 => "MASK",
        3 => "DNS",
        4 => "NBNS",
        6 => "DHCP",
        7 => "VER",
        8 => "ADDR6",
        10 => "DNS6",
        12 => "DHCP6",
        13 => "SUBNET",
        14 => "SUP",
        15 => "SUBNET6",
        _ => return None,
    })
}

impl NotifyType {
    /// Abbreviated name for log summaries (e.g. `NATD_S_IP`), if the type is known.
    pub fn short_name(self) -> Option<&'static str> {
        Some(match self {
            NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD => "CRIT",
            NotifyType::INVALID_IKE_SPI => "INVAL_IKE_SPI",
            NotifyType::INVALID_MAJOR_VERSION => "INVAL_MAJOR",
            NotifyType::INVALID_SYNTAX => "INVAL_SYN",
            NotifyType::INVALID_MESSAGE_ID => "INVAL_MID",
            NotifyType::INVALID_SPI => "INVAL_SPI",
            NotifyType::NO_PROPOSAL_CHOSEN => "NO_PROP",
            NotifyType::INVALID_KE_PAYLOAD => "INVAL_KE",
            NotifyType::AUTHENTICATION_FAILED => "AUTH_FAILED",
            NotifyType::SINGLE_PAIR_REQUIRED => "SINGLE_PAIR",
            NotifyType::NO_ADDITIONAL_SAS => "NO_ADD_SAS",
            NotifyType::INTERNAL_ADDRESS_FAILURE => "INT_ADDR_FAIL",
            NotifyType::FAILED_CP_REQUIRED => "FAIL_CP_REQ",
            NotifyType::TS_UNACCEPTABLE => "TS_UNACCEPT",
            NotifyType::INVALID_SELECTORS => "INVAL_SEL",
            NotifyType::TEMPORARY_FAILURE => "TEMP_FAIL",
            NotifyType::CHILD_SA_NOT_FOUND => "CHILD_NOT_FOUND",
            NotifyType::STATE_NOT_FOUND => "STATE_NOT_FOUND",
            NotifyType::INITIAL_CONTACT => "INIT_CONTACT",
            NotifyType::SET_WINDOW_SIZE => "SET_WINSIZE",
            NotifyType::ADDITIONAL_TS_POSSIBLE => "ADD_TS_POSS",
            NotifyType::IPCOMP_SUPPORTED => "IPCOMP_SUP",
            NotifyType::NAT_DETECTION_SOURCE_IP => "NATD_S_IP",
            NotifyType::NAT_DETECTION_DESTINATION_IP => "NATD_D_IP",
            NotifyType::COOKIE => "COOKIE",
            NotifyType::USE_TRANSPORT_MODE => "USE_TRANSP",
            NotifyType::HTTP_CERT_LOOKUP_SUPPORTED => "HTTP_CERT_LOOK",
            NotifyType::REKEY_SA => "REKEY_SA",
            NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED => "ESP_TFC_PAD_N",
            NotifyType::NON_FIRST_FRAGMENTS_ALSO => "NON_FIRST_FRAG",
            NotifyType::MOBIKE_SUPPORTED => "MOBIKE_SUP",
            NotifyType::MULTIPLE_AUTH_SUPPORTED => "MULT_AUTH",
            NotifyType::ANOTHER_AUTH_FOLLOWS => "AUTH_FOLLOWS",
            NotifyType::REDIRECT_SUPPORTED => "REDIR_SUP",
            NotifyType::CHILDLESS_IKEV2_SUPPORTED => "CHDLESS_SUP",
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED => "FRAG_SUP",
            NotifyType::SIGNATURE_HASH_ALGORITHMS => "HASH_ALG",
            NotifyType::USE_PPK => "USE_PPK",
            NotifyType::PPK_IDENTITY => "PPK_ID",
            NotifyType::NO_PPK_AUTH => "NO_PPK_AUTH",
            NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED => "IKE_INT_SUP",
            NotifyType::IP4_ALLOWED => "IP4_ALLOWED",
            NotifyType::IP6_ALLOWED => "IP6_ALLOWED",
            NotifyType::ADDITIONAL_KEY_EXCHANGE => "ADD_KE",
            NotifyType::USE_AGGFRAG => "USE_AGGFRAG",
            NotifyType::SUPPORTED_AUTH_METHODS => "AUTH_METHODS",
            NotifyType::USE_PPK_INT => "USE_PPK_INT",
            NotifyType::PPK_IDENTITY_KEY => "PPK_ID_KEY",
            _ => return None,
        })
    }
}
