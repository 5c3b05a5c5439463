//! Property tests: every payload and whole messages survive encode → decode; decoding never
//! panics on arbitrary or mutated input.
use crate::arbitrary::*;
use crate::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Encode a payload's body and decode it again; also as a one-payload chain.
fn round_trip(p: &Payload) -> Result<(), TestCaseError> {
    let mut body = Vec::new();
    p.encode_body(&mut body).unwrap();
    prop_assert_eq!(
        &Payload::decode_body(p.payload_type(), p.critical(), &body).unwrap(),
        p
    );
    let (first, chain) = encode_payload_chain(std::slice::from_ref(p)).unwrap();
    prop_assert_eq!(first, p.payload_type());
    prop_assert_eq!(chain.len(), body.len() + GENERIC_HEADER_LEN);
    prop_assert_eq!(
        decode_payload_chain(first, &chain).unwrap(),
        vec![p.clone()]
    );
    Ok(())
}

/// One round-trip property per payload kind, so a failure names the payload.
macro_rules! payload_round_trip {
    ($($name:ident: $strategy:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $name(p in $strategy) {
                    round_trip(&p)?;
                }
            )*
        }
    };
}

payload_round_trip! {
    sa: vec(proposal(), 0..4).prop_map(Payload::Sa);
    ke: (any::<u16>(), bytes(1600)).prop_map(|(m, data)| Payload::Ke { method: KeMethod(m), data });
    id_i: (any::<u8>(), bytes(40)).prop_map(|(t, data)| Payload::IdI(Identification { id_type: IdType(t), data }));
    id_r: (any::<u8>(), bytes(40)).prop_map(|(t, data)| Payload::IdR(Identification { id_type: IdType(t), data }));
    cert: (any::<u8>(), bytes(80)).prop_map(|(e, data)| Payload::Cert(CertData { encoding: CertEncoding(e), data }));
    cert_req: (any::<u8>(), bytes(80)).prop_map(|(e, data)| Payload::CertReq(CertData { encoding: CertEncoding(e), data }));
    auth: (any::<u8>(), bytes(80)).prop_map(|(m, data)| Payload::Auth(Auth { method: AuthMethod(m), data }));
    nonce: vec(any::<u8>(), NONCE_MIN_LEN..=NONCE_MAX_LEN).prop_map(Payload::Nonce);
    notify_payload: notify().prop_map(Payload::Notify);
    delete_payload: delete().prop_map(Payload::Delete);
    vendor: bytes(40).prop_map(Payload::Vendor);
    ts_i: vec(traffic_selector(), 0..5).prop_map(Payload::TsI);
    ts_r: vec(traffic_selector(), 0..5).prop_map(Payload::TsR);
    cp: config().prop_map(Payload::Cp);
    eap: bytes(60).prop_map(Payload::Eap);
    unknown: (unknown_payload_type(), any::<bool>(), bytes(40))
        .prop_map(|(payload_type, critical, body)| Payload::Unknown { payload_type, critical, body });
}

/// `m` with the header fields that encoding computes filled in.
fn with_computed_header(m: &Message, bytes: &[u8]) -> Message {
    let mut m = m.clone();
    m.header.next_payload = m
        .payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type);
    m.header.length = u32::try_from(bytes.len()).unwrap();
    m
}

proptest! {
    #[test]
    fn message_round_trip(m in message()) {
        let bytes = m.encode().unwrap();
        let expected = with_computed_header(&m, &bytes);
        let decoded = Message::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &expected);
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
    }

    #[test]
    fn payload_chain_round_trip(ps in vec(plain_payload(), 0..8)) {
        let (first, bytes) = encode_payload_chain(&ps).unwrap();
        prop_assert_eq!(decode_payload_chain(first, &bytes).unwrap(), ps);
    }

    #[test]
    fn locate_encrypted_agrees_with_decode(m in message()) {
        let bytes = m.encode().unwrap();
        let loc = locate_encrypted(&bytes);
        match m.payloads.last() {
            Some(Payload::Encrypted(e)) => {
                let loc = loc.unwrap();
                prop_assert_eq!(loc.end, bytes.len());
                prop_assert_eq!(loc.iv_offset, bytes.len() - e.body.len());
                prop_assert_eq!(loc.payload_offset, loc.iv_offset - GENERIC_HEADER_LEN);
                prop_assert_eq!(loc.first_inner, e.first_inner);
                prop_assert_eq!(loc.fragment, None);
            }
            Some(Payload::EncryptedFragment(f)) => {
                let loc = loc.unwrap();
                prop_assert_eq!(loc.payload_offset, IKE_HEADER_LEN);
                prop_assert_eq!(loc.iv_offset, IKE_HEADER_LEN + 8);
                prop_assert_eq!(&bytes[loc.iv_offset..loc.end], &f.body[..]);
                prop_assert_eq!(loc.fragment, Some((f.number, f.total)));
            }
            _ => prop_assert_eq!(loc, Err(DecodeError::Invalid { what: "no encrypted payload" })),
        }
    }

    #[test]
    fn sk_layout_decodes(
        hd in header(),
        first in any::<u8>(),
        frag in proptest::option::of((1u16..=20).prop_flat_map(|t| (1..=t, Just(t)))),
        iv_len in 0usize..32,
        plaintext in bytes(100),
        icv_len in 0usize..32,
    ) {
        let (buf, l) = sk_layout(&hd, PayloadType(first), frag, iv_len, &plaintext, icv_len).unwrap();
        prop_assert_eq!(buf.len(), l.total_len);
        prop_assert_eq!(l.plaintext_offset - l.iv_offset, iv_len);
        prop_assert_eq!(l.total_len - l.icv_offset, icv_len);
        prop_assert_eq!(&buf[l.plaintext_offset..l.icv_offset], &plaintext[..]);
        let m = Message::decode(&buf).unwrap();
        prop_assert_eq!((m.header.spi_i, m.header.spi_r, m.header.message_id), (hd.spi_i, hd.spi_r, hd.message_id));
        let body = match (&m.payloads[..], frag) {
            ([Payload::Encrypted(e)], None) => &e.body,
            ([Payload::EncryptedFragment(f)], Some((n, t))) => {
                prop_assert_eq!((f.number, f.total), (n, t));
                &f.body
            }
            _ => return Err(TestCaseError::fail("wrong payloads")),
        };
        prop_assert_eq!(body.len(), l.total_len - l.iv_offset);
        let loc = locate_encrypted(&buf).unwrap();
        prop_assert_eq!((loc.iv_offset, loc.end, loc.first_inner), (l.iv_offset, l.total_len, PayloadType(first)));
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(buf in bytes(400), first in any::<u8>()) {
        let _ = Header::decode(&buf);
        let _ = Message::decode(&buf);
        let _ = locate_encrypted(&buf);
        let _ = decode_payload_chain(PayloadType(first), &buf);
        let _ = Payload::decode_body(PayloadType(first), false, &buf);
        let _ = strip_non_esp_marker(&buf);
    }

    /// Arbitrary bytes rarely get past the header; mutating valid messages reaches the payload
    /// decoders. The header length is kept consistent so the chain is always walked.
    #[test]
    fn decoders_never_panic_on_mutated_messages(
        m in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = m.encode().unwrap();
        for (i, v) in edits {
            let i = i.index(bytes.len());
            if i != 17 { // keep the version, or nothing past the header is reached
                bytes[i] = v;
            }
        }
        bytes.truncate(IKE_HEADER_LEN + cut.index(bytes.len() - IKE_HEADER_LEN + 1));
        let len = u32::try_from(bytes.len()).unwrap();
        bytes[24..28].copy_from_slice(&len.to_be_bytes());
        if let Ok(d) = Message::decode(&bytes) {
            // Whatever decodes must re-encode and decode to the same payloads.
            let again = Message::decode(&d.encode().unwrap()).unwrap();
            prop_assert_eq!(again.payloads, d.payloads);
        }
        let _ = locate_encrypted(&bytes);
        let _ = decode_payload_chain(PayloadType(bytes[16]), &bytes[IKE_HEADER_LEN..]);
    }
}
