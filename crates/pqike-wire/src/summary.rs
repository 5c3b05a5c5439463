//! One-line message summaries for logs, in strongSwan's style:
//! `IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) ]`.
//!
//! This is the only summary format: the engine's logs and `Event::Exchange` use it too, so
//! pqike's and strongSwan's log lines can be grepped with one pattern. The abbreviations are
//! strongSwan's (its payload, notify and configuration attribute short names) where strongSwan
//! has one; notifies it does not know (RFC 9593, RFC 9867, RFC 8983) get abbreviations in the
//! same style. Two deliberate differences: the SK payload shows as `SK` when a summary is made
//! of an encrypted message (strongSwan only logs the decrypted inner payloads), and an unknown
//! payload with the critical bit set shows as `UNKN(type,crit)`, since that bit decides whether
//! the message is rejected (RFC 7296 §2.5).
use crate::payload::Payload;
use crate::registry::{CfgType, ExchangeType, NotifyType, PayloadType};
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
    let t = p.payload_type();
    // A payload we keep undecoded is UNKN even when its type has a name (e.g. GSPM).
    let name = match p {
        Payload::Unknown { .. } => None,
        _ => t.short_name(),
    };
    s.push_str(name.unwrap_or("UNKN"));
    // `write!` into a String cannot fail.
    let _ = match p {
        Payload::Notify(n) => match n.notify_type.short_name() {
            Some(name) => write!(s, "({name})"),
            None => write!(s, "({})", n.notify_type.0),
        },
        // strongSwan: `CP` then the type and the attributes, `CPRQ(ADDR DNS)`; no attributes, no
        // parentheses.
        Payload::Cp(c) if !c.attributes.is_empty() => {
            let _ = s.write_str(match c.cfg_type {
                CfgType::REQUEST => "RQ(",
                CfgType::REPLY => "RP(",
                CfgType::SET => "S(",
                CfgType::ACK => "A(",
                _ => "(",
            });
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
        Payload::EncryptedFragment(f) => write!(s, "({}/{})", f.number, f.total),
        Payload::Unknown { critical, .. } => {
            write!(s, "({}{})", t.0, if *critical { ",crit" } else { "" })
        }
        _ => Ok(()),
    };
}

impl PayloadType {
    /// strongSwan's abbreviation of a payload type (`No`, `IDi`, `EF`), if it is one we know.
    /// The SK payload is `SK` (see the module docs).
    pub fn short_name(self) -> Option<&'static str> {
        Some(match self {
            PayloadType::SA => "SA",
            PayloadType::KE => "KE",
            PayloadType::IDI => "IDi",
            PayloadType::IDR => "IDr",
            PayloadType::CERT => "CERT",
            PayloadType::CERTREQ => "CERTREQ",
            PayloadType::AUTH => "AUTH",
            PayloadType::NONCE => "No",
            PayloadType::NOTIFY => "N",
            PayloadType::DELETE => "D",
            PayloadType::VENDOR => "V",
            PayloadType::TSI => "TSi",
            PayloadType::TSR => "TSr",
            PayloadType::SK => "SK",
            PayloadType::CP => "CP",
            PayloadType::EAP => "EAP",
            PayloadType::GSPM => "GSPM",
            PayloadType::SKF => "EF",
            _ => return None,
        })
    }
}

/// Short names of configuration attributes (RFC 7296 §3.15.1).
fn cfg_attr_short_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "ADDR",
        2 => "MASK",
        3 => "DNS",
        4 => "NBNS",
        5 => "EXP",
        6 => "DHCP",
        7 => "VER",
        8 => "ADDR6",
        9 => "MASK6",
        10 => "DNS6",
        11 => "NBNS6",
        12 => "DHCP6",
        13 => "SUBNET",
        14 => "SUP",
        15 => "SUBNET6",
        _ => return None,
    })
}

impl NotifyType {
    /// Abbreviated name for log summaries (e.g. `NATD_S_IP`), if the type is known: strongSwan's
    /// `notify_type_short_names` where it has the type.
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
            NotifyType::CHILD_SA_NOT_FOUND => "NO_CHILD_SA",
            NotifyType::STATE_NOT_FOUND => "NO_STATE",
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
            NotifyType::NO_PPK_AUTH => "NO_PPK",
            NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED => "IKE_INT_SUP",
            NotifyType::IP4_ALLOWED => "IP4_ALLOWED",
            NotifyType::IP6_ALLOWED => "IP6_ALLOWED",
            NotifyType::ADDITIONAL_KEY_EXCHANGE => "ADD_KE",
            NotifyType::USE_AGGFRAG => "AGGFRAG",
            NotifyType::SUPPORTED_AUTH_METHODS => "AUTH_METHODS",
            NotifyType::USE_PPK_INT => "USE_PPK_INT",
            NotifyType::PPK_IDENTITY_KEY => "PPK_ID_KEY",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{CfgAttribute, Config, Notify};

    fn n(t: NotifyType) -> Payload {
        Payload::Notify(Notify::new(t, vec![]))
    }

    #[test]
    fn sample_message_in_strongswan_spelling() {
        let p = [
            n(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD),
            n(NotifyType::CHILD_SA_NOT_FOUND),
            n(NotifyType::STATE_NOT_FOUND),
            n(NotifyType::TEMPORARY_FAILURE),
            n(NotifyType::ADDITIONAL_KEY_EXCHANGE),
            Payload::Cp(Config {
                cfg_type: CfgType::REQUEST,
                attributes: vec![
                    CfgAttribute {
                        attr_type: 1,
                        value: vec![],
                    },
                    CfgAttribute {
                        attr_type: 3,
                        value: vec![],
                    },
                ],
            }),
            Payload::Cp(Config {
                cfg_type: CfgType::ACK,
                attributes: vec![],
            }),
            Payload::Unknown {
                payload_type: PayloadType::GSPM,
                critical: false,
                body: vec![],
            },
        ];
        assert_eq!(
            summary(ExchangeType::CREATE_CHILD_SA, true, 7, &p),
            "CREATE_CHILD_SA response 7 [ N(CRIT) N(NO_CHILD_SA) N(NO_STATE) N(TEMP_FAIL) \
             N(ADD_KE) CPRQ(ADDR DNS) CP UNKN(49) ]"
        );
    }

    #[test]
    fn every_named_notify_has_a_short_name() {
        // A notify type in the registry but not here would print as a number.
        for t in 0..=u16::MAX {
            let t = NotifyType(t);
            assert_eq!(t.name().is_some(), t.short_name().is_some(), "{t:?}");
        }
    }
}
