//! Wire decoder on arbitrary bytes: decoding never panics, and whatever decodes survives
//! encode -> decode unchanged (the encoder writes every field the decoder keeps). A decoded value
//! came from the wire, so every length fits its field: encoding it must not fail.
//!
//! Input layout: byte 0 selects the mode, the rest is the data.
//! * even: a whole IKE message (`Message::decode`), first with the bytes as they are, then
//!   behind the RFC 3948 non-ESP marker classification.
//! * odd: an inner payload chain (`decode_payload_chain`) whose first type is byte 1, as the
//!   engine parses the decrypted body of an SK payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pqike_wire::{
    classify_udp4500, decode_payload_chain, encode_payload_chain, Message, PayloadType, Udp4500,
};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check_message(data);
        if let Udp4500::Ike(inner) = classify_udp4500(data) {
            check_message(inner);
        }
    } else if let Some((&first, chain)) = data.split_first() {
        check_chain(PayloadType(first), chain);
    }
});

fn check_message(data: &[u8]) {
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    // The log summary must render for anything that decodes.
    let _ = msg.to_string();
    let encoded = msg.encode().expect("a decoded message must encode");
    let again = Message::decode(&encoded).expect("re-encoded message must decode");
    // Length and first-payload type are recomputed by `encode`; the encoder may normalise
    // fields the decoder ignores (reserved bits), so compare the decoded values, then check
    // the encoding is a fixed point.
    assert_eq!(
        again.payloads, msg.payloads,
        "payloads changed by encode/decode"
    );
    let mut h = msg.header;
    h.length = again.header.length;
    h.next_payload = again.header.next_payload;
    assert_eq!(again.header, h, "header changed by encode/decode");
    assert_eq!(
        again.encode().expect("a decoded message must encode"),
        encoded,
        "encoding is not a fixed point"
    );
    if let Some(sk) = msg.encrypted() {
        // The engine parses the decrypted SK body as a chain; the opaque body is a good
        // stand-in for a plaintext here.
        check_chain(sk.first_inner, &sk.body);
    }
}

fn check_chain(first: PayloadType, data: &[u8]) {
    let Ok(payloads) = decode_payload_chain(first, data) else {
        return;
    };
    let (first2, encoded) = encode_payload_chain(&payloads).expect("a decoded chain must encode");
    if payloads.is_empty() {
        assert!(encoded.is_empty());
        return;
    }
    assert_eq!(first2, first, "first payload type changed");
    let again = decode_payload_chain(first2, &encoded).expect("re-encoded chain must decode");
    assert_eq!(again, payloads, "chain changed by encode/decode");
    assert_eq!(
        encode_payload_chain(&again)
            .expect("a decoded chain must encode")
            .1,
        encoded,
        "chain encoding is not a fixed point"
    );
}
