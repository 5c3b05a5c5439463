//! Many established IKE SAs in one endpoint, for the endpoint-scale benchmark
//! (`benches/endpoint_scale.rs`): node 1 is a responder holding `n` IKE SAs (each with one Child
//! SA) that node 0 initiated in batches.
use crate::fixtures::{connection, ike_proposal, psk};
use crate::net::{Net, Verdict};
use crate::pair::Pair;
use pqike_proto::path::{Classified, Framing};
use pqike_proto::{Command, EndpointConfig, Event};
use pqike_wire::{ExchangeType, KeMethod};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// IKE SAs initiated per batch: below the responder's COOKIE threshold (RFC 7296 §2.6 would
/// otherwise add a round trip) and the half-open cap.
const BATCH: usize = 200;

/// A datagram node 0 sent: (local, remote, bytes).
pub type Datagram = (SocketAddr, SocketAddr, Vec<u8>);

/// A pair whose responder holds `n` established IKE SAs, and one IKE_AUTH request per SA as
/// sent (replaying one makes the responder resend its cached response: the cheapest full trip
/// through datagram classification, SPI lookup and the message-ID window).
pub struct Gateway {
    /// The pair; node 1 is the gateway.
    pub pair: Pair,
    /// One IKE_AUTH request per IKE SA.
    pub auth_requests: Vec<Datagram>,
}

impl Gateway {
    /// Establish `n` IKE SAs (X25519, PSK, AES-256-GCM; one Child SA each) with `dpd` as the
    /// gateway's liveness interval, so that every SA has rekey, expiry and liveness timers.
    pub fn establish(n: usize, dpd: Duration) -> Gateway {
        let proposals = vec![ike_proposal(&[KeMethod::CURVE25519], &[])];
        let gw_cfg = EndpointConfig {
            dpd_interval: Some(dpd),
            cookie_threshold: BATCH * 2,
            max_half_open: BATCH * 4,
            ..Default::default()
        };
        let mut net = Net::new(7);
        net.keep_records = false;
        net.keep_bytes = false;
        let captured: Arc<Mutex<Vec<Datagram>>> = Arc::default();
        let sink = captured.clone();
        net.tap = Some(Box::new(move |from, t| {
            if from == 0 && is_ike_auth_request(t.local.port(), &t.payload) {
                if let Ok(mut v) = sink.lock() {
                    v.push((t.local, t.remote, t.payload.clone()));
                }
            }
            Verdict::Deliver
        }));
        let mut pair = Pair::with_seeds(
            [EndpointConfig::default(), gw_cfg],
            [
                vec![connection(true, proposals.clone())],
                vec![connection(false, proposals)],
            ],
            [psk(b"scale"), psk(b"scale")],
            net,
            [11, 12],
        );
        let mut up = 0;
        while up < n {
            let batch = BATCH.min(n - up);
            for _ in 0..batch {
                pair.command(
                    0,
                    Command::Initiate {
                        connection: "c".into(),
                    },
                );
            }
            pair.drive_within(Duration::from_secs(5));
            up += batch;
            // Events are not needed: keep memory flat.
            let gw_ups = pair.events[1]
                .iter()
                .filter(|e| matches!(e, Event::IkeUp { .. }))
                .count();
            assert_eq!(
                gw_ups, batch,
                "batch ending at {up}: gateway reported {gw_ups} up"
            );
            for e in &mut pair.events {
                e.clear();
            }
        }
        pair.net.tap = None;
        let auth_requests =
            std::mem::take(&mut *captured.lock().unwrap_or_else(|e| e.into_inner()));
        assert_eq!(auth_requests.len(), n, "IKE_AUTH requests seen");
        Gateway {
            pair,
            auth_requests,
        }
    }
}

fn is_ike_auth_request(local_port: u16, datagram: &[u8]) -> bool {
    let cfg = EndpointConfig::default();
    let Classified::Ike(_, message) = Framing::classify(local_port, &cfg, datagram) else {
        return false;
    };
    pqike_wire::Header::decode(message)
        .is_ok_and(|h| h.exchange == ExchangeType::IKE_AUTH && !h.flags.response)
}
