//! Distinguished names (ID type DER_ASN1_DN, RFC 7296 §3.5) compared the way peers expect.
//!
//! A DN written in a configuration file and the same DN in a certificate are often encoded
//! differently (PrintableString vs UTF8String), so byte equality is too strict. Two DNs are
//! equivalent when they have the same attributes in the same order with the same values, whatever
//! string type carries them, ignoring ASCII case where either side is a PrintableString (X.520
//! matching rules for PrintableString are case-insensitive). This is also how strongSwan matches.

/// ASN.1 tag of PrintableString.
pub const PRINTABLE_STRING: u8 = 0x13;

/// One attribute of a DN: (OID content octets, string tag, value octets).
pub type DnAttribute<'a> = (&'a [u8], u8, &'a [u8]);

/// Split one DER TLV off `input`: (tag, content, rest). Short or long form lengths (up to 4 octets).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (l0 as usize, rest)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (
            rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize),
            &rest[n..],
        )
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The attributes of a DER `Name` (SEQUENCE OF SET OF AttributeTypeAndValue), in order;
/// `None` if it is malformed.
pub fn dn_attributes(der: &[u8]) -> Option<Vec<DnAttribute<'_>>> {
    let (0x30, mut rdns, []) = tlv(der)? else {
        return None;
    };
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (0x31, mut set, rest) = tlv(rdns)? else {
            return None;
        };
        rdns = rest;
        while !set.is_empty() {
            let (0x30, atv, rest) = tlv(set)? else {
                return None;
            };
            set = rest;
            let (0x06, oid, value) = tlv(atv)? else {
                return None;
            };
            let (tag, value, []) = tlv(value)? else {
                return None;
            };
            out.push((oid, tag, value));
        }
    }
    Some(out)
}

/// Whether two DER DNs name the same entity (see the module docs).
pub fn dn_equivalent(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (Some(a), Some(b)) = (dn_attributes(a), dn_attributes(b)) else {
        return false;
    };
    a.len() == b.len()
        && a.iter().zip(&b).all(|((oa, ta, va), (ob, tb, vb))| {
            oa == ob
                && (va == vb
                    || ((*ta == PRINTABLE_STRING || *tb == PRINTABLE_STRING)
                        && va.eq_ignore_ascii_case(vb)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, body.len() as u8];
        v.extend_from_slice(body);
        v
    }
    fn name(attrs: &[(&[u8], u8, &str)]) -> Vec<u8> {
        let mut rdns = Vec::new();
        for (oid, tag, val) in attrs {
            let mut atv = der(0x06, oid);
            atv.extend(der(*tag, val.as_bytes()));
            rdns.extend(der(0x31, &der(0x30, &atv)));
        }
        der(0x30, &rdns)
    }
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];

    #[test]
    fn string_type_and_case() {
        let cfg = name(&[
            (O, PRINTABLE_STRING, "Lab"),
            (CN, PRINTABLE_STRING, "gw.example"),
        ]);
        let cert = name(&[(O, 0x0c, "Lab"), (CN, 0x0c, "GW.example")]);
        assert!(dn_equivalent(&cfg, &cert));
        // UTF8String on both sides is compared exactly
        let a = name(&[(CN, 0x0c, "gw")]);
        let b = name(&[(CN, 0x0c, "GW")]);
        assert!(!dn_equivalent(&a, &b));
    }

    #[test]
    fn different_values_order_or_malformed() {
        let a = name(&[(O, 0x0c, "Lab"), (CN, 0x0c, "a")]);
        assert!(!dn_equivalent(
            &a,
            &name(&[(O, 0x0c, "Lab"), (CN, 0x0c, "b")])
        ));
        assert!(!dn_equivalent(
            &a,
            &name(&[(CN, 0x0c, "a"), (O, 0x0c, "Lab")])
        ));
        assert!(!dn_equivalent(&a, &name(&[(O, 0x0c, "Lab")])));
        assert!(!dn_equivalent(&a, &a[..a.len() - 1]));
        assert!(dn_attributes(&[0x30, 0x05, 0x31]).is_none());
    }
}
