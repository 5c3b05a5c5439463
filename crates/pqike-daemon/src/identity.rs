//! Identity strings (RFC 7296 §3.5 ID payload types) and a small DN-to-DER encoder.
//!
//! The string forms follow strongSwan: an IP address is ID_IPV4/6_ADDR, `C=CH, O=x, CN=y` is a
//! DER_ASN1_DN, `user@host` is RFC822_ADDR, `@host` forces FQDN, anything else is an FQDN, and
//! `%any` matches any peer identity.
use pqike_proto::Identity;
use std::net::IpAddr;

/// Parse an identity. `%any` is only accepted when `allow_any` (remote identities).
pub fn parse_identity(s: &str, allow_any: bool) -> Result<Identity, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty identity".into());
    }
    if s == "%any" {
        return if allow_any {
            Ok(Identity::Any)
        } else {
            Err("`%any` is only allowed as the remote identity".into())
        };
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Identity::Ip(ip));
    }
    if let Some(fqdn) = s.strip_prefix('@') {
        return check_name(fqdn).map(|()| Identity::Fqdn(fqdn.to_string()));
    }
    if s.contains('=') {
        return encode_dn(s).map(Identity::DerDn);
    }
    check_name(s)?;
    if s.contains('@') {
        Ok(Identity::Rfc822(s.to_string()))
    } else {
        Ok(Identity::Fqdn(s.to_string()))
    }
}

fn check_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{s}` is not a valid FQDN or e-mail identity"));
    }
    Ok(())
}

/// Human-readable form of an identity (for status output).
pub fn identity_to_string(id: &Identity) -> String {
    match id {
        Identity::Fqdn(s) | Identity::Rfc822(s) => s.clone(),
        Identity::Ip(ip) => ip.to_string(),
        Identity::DerDn(der) => {
            dn_to_string(der).unwrap_or_else(|| format!("DN:{}", hex::encode(der)))
        }
        Identity::Any => "%any".into(),
    }
}

/// DER string types used in the DN.
use pqike_wire::dn::PRINTABLE_STRING;
const UTF8_STRING: u8 = 0x0c;
const IA5_STRING: u8 = 0x16;

/// Attribute type OIDs (already DER-encoded content octets) for the keywords we accept.
fn attribute_oid(key: &str) -> Option<&'static [u8]> {
    // id-at = 2.5.4 -> 0x55 0x04; emailAddress = 1.2.840.113549.1.9.1 (PKCS #9).
    Some(match key.to_ascii_uppercase().as_str() {
        "CN" => &[0x55, 0x04, 0x03],
        "C" => &[0x55, 0x04, 0x06],
        "L" => &[0x55, 0x04, 0x07],
        "ST" => &[0x55, 0x04, 0x08],
        "O" => &[0x55, 0x04, 0x0a],
        "OU" => &[0x55, 0x04, 0x0b],
        "E" | "EMAIL" | "EMAILADDRESS" => &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        _ => return None,
    })
}

fn is_printable(s: &str) -> bool {
    // X.680 PrintableString alphabet.
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c))
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Split `C=CH, O=x\, y, CN=z` on unescaped commas.
fn split_rdns(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    parts.last_mut().expect("non-empty").push(n);
                }
            }
            ',' => parts.push(String::new()),
            _ => parts.last_mut().expect("non-empty").push(c),
        }
    }
    parts
}

/// Encode a DN string as a DER Name (RFC 5280 §4.1.2.4): one single-valued RDN per component,
/// in the order written. Country is a PrintableString, e-mail an IA5String, the rest a
/// PrintableString when the value fits its alphabet and a UTF8String otherwise.
pub fn encode_dn(s: &str) -> Result<Vec<u8>, String> {
    let mut rdns = Vec::new();
    for part in split_rdns(s) {
        let part = part.trim();
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("DN component `{part}` has no `=`"))?;
        let (key, value) = (key.trim(), value.trim());
        let oid = attribute_oid(key).ok_or_else(|| {
            format!("unknown DN attribute `{key}` (supported: C, ST, L, O, OU, CN, E)")
        })?;
        if value.is_empty() {
            return Err(format!("DN attribute `{key}` has an empty value"));
        }
        let upper = key.to_ascii_uppercase();
        let string_tag = if upper == "C" {
            if value.len() != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(format!("country `{value}` must be a two-letter code"));
            }
            PRINTABLE_STRING
        } else if oid.len() > 3 {
            if !value.is_ascii() {
                return Err(format!("e-mail address `{value}` must be ASCII"));
            }
            IA5_STRING
        } else if is_printable(value) {
            PRINTABLE_STRING
        } else {
            UTF8_STRING
        };
        let mut atv = der(0x06, oid);
        atv.extend(der(string_tag, value.as_bytes()));
        rdns.extend(der(0x31, &der(0x30, &atv)));
    }
    Ok(der(0x30, &rdns))
}

pub use pqike_wire::dn::{dn_attributes, dn_equivalent};

/// `C=XX, O=x, CN=y` for a DER DN (attributes we know by name, others as dotted OIDs are
/// shown as `OID.<hex>`); None if malformed or not UTF-8.
pub fn dn_to_string(der: &[u8]) -> Option<String> {
    let names: [(&str, &[u8]); 7] = [
        ("C", &[0x55, 0x04, 0x06]),
        ("ST", &[0x55, 0x04, 0x08]),
        ("L", &[0x55, 0x04, 0x07]),
        ("O", &[0x55, 0x04, 0x0a]),
        ("OU", &[0x55, 0x04, 0x0b]),
        ("CN", &[0x55, 0x04, 0x03]),
        ("E", &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
    ];
    let parts: Option<Vec<String>> = dn_attributes(der)?
        .into_iter()
        .map(|(oid, _, value)| {
            let key = names.iter().find(|(_, o)| *o == oid).map_or_else(
                || format!("OID.{}", hex::encode(oid)),
                |(n, _)| n.to_string(),
            );
            let value = std::str::from_utf8(value).ok()?.replace(',', "\\,");
            Some(format!("{key}={value}"))
        })
        .collect();
    parts.map(|p| p.join(", "))
}

/// An identity string from the engine's status, with `DN:<hex>` rendered as a readable DN.
pub fn pretty_id(s: &str) -> String {
    s.strip_prefix("DN:")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|der| dn_to_string(&der))
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            parse_identity("b.example", false),
            Ok(Identity::Fqdn("b.example".into()))
        );
        assert_eq!(
            parse_identity("@b.example", false),
            Ok(Identity::Fqdn("b.example".into()))
        );
        assert_eq!(
            parse_identity("user@x.example", false),
            Ok(Identity::Rfc822("user@x.example".into()))
        );
        assert_eq!(
            parse_identity("192.0.2.1", false),
            Ok(Identity::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            parse_identity("2001:db8::1", false),
            Ok(Identity::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(parse_identity("%any", true), Ok(Identity::Any));
        assert!(parse_identity("%any", false).is_err());
        assert!(parse_identity("a b", false).is_err());
        assert!(parse_identity("", true).is_err());
    }

    #[test]
    fn dn_der_encoding() {
        // Hand-assembled DER: SEQUENCE { SET { SEQUENCE { OID 2.5.4.6, PrintableString "CH" } },
        // SET { SEQ { OID 2.5.4.10, PrintableString "strongSwan" } }, SET { SEQ { 2.5.4.3, "moon" } } }
        let expected = hex::decode(concat!(
            "3031",
            "310b3009060355040613024348",
            "31133011060355040a130a7374726f6e675377616e",
            "310d300b060355040313046d6f6f6e",
        ))
        .unwrap();
        let der = encode_dn("C=CH, O=strongSwan, CN=moon").unwrap();
        assert_eq!(hex::encode(&der), hex::encode(&expected));
        assert_eq!(
            parse_identity("C=CH, O=strongSwan, CN=moon", false),
            Ok(Identity::DerDn(der))
        );
    }

    #[test]
    fn dn_string_types() {
        let der = encode_dn("CN=Zürich").unwrap();
        assert!(der
            .windows(2)
            .any(|w| w == [UTF8_STRING, "Zürich".len() as u8]));
        let der = encode_dn("E=a@b.example").unwrap();
        assert!(der.windows(2).any(|w| w == [IA5_STRING, 11]));
        let der = encode_dn("O=a\\, b").unwrap();
        assert!(der.ends_with(b"a, b"));
    }

    #[test]
    fn dn_equivalence_ignores_string_type() {
        let ours = encode_dn("C=XX, O=t, CN=a.example").unwrap();
        // What `openssl req -subj /C=XX/O=t/CN=a.example` writes: UTF8String for O and CN.
        let openssl = hex::decode(concat!(
            "302d",
            "310b3009060355040613025858",
            "310a3008060355040a0c0174",
            "3112301006035504030c09612e6578616d706c65"
        ))
        .unwrap();
        assert_ne!(ours, openssl);
        assert!(dn_equivalent(&ours, &openssl));
        assert!(dn_equivalent(
            &encode_dn("C=XX, O=T, CN=A.example").unwrap(),
            &openssl
        ));
        assert!(!dn_equivalent(
            &encode_dn("C=XX, O=t, CN=b.example").unwrap(),
            &openssl
        ));
        assert!(!dn_equivalent(
            &encode_dn("O=t, C=XX, CN=a.example").unwrap(),
            &openssl
        ));
        assert!(!dn_equivalent(&encode_dn("C=XX, O=t").unwrap(), &openssl));
        assert!(!dn_equivalent(&ours, &openssl[..20]));
    }

    #[test]
    fn dn_rendering() {
        let der = encode_dn("C=CH, O=strong\\, Swan, CN=moon, E=a@b.example").unwrap();
        assert_eq!(
            dn_to_string(&der).unwrap(),
            "C=CH, O=strong\\, Swan, CN=moon, E=a@b.example"
        );
        assert_eq!(
            pretty_id(&format!("DN:{}", hex::encode(&der))),
            dn_to_string(&der).unwrap()
        );
        assert_eq!(pretty_id("a.example"), "a.example");
        assert_eq!(pretty_id("DN:zz"), "DN:zz");
    }

    #[test]
    fn dn_errors() {
        assert!(encode_dn("X=1").unwrap_err().contains("`X`"));
        assert!(encode_dn("C=CHE").unwrap_err().contains("two-letter"));
        assert!(encode_dn("CN=").unwrap_err().contains("empty"));
        assert!(encode_dn("CN=a, foo").unwrap_err().contains("`foo`"));
    }

    #[test]
    fn long_dn_uses_long_form_length() {
        let long = "x".repeat(200);
        let der = encode_dn(&format!("CN={long}")).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(der[1], 0x81);
        assert_eq!(der.len(), 3 + der[2] as usize);
    }
}
