//! The message layer of one IKE SA, below the tasks and knowing nothing of them (strongSwan's
//! task_manager owns the same duties; quinn's `Connection` keeps the equivalent state per
//! connection).
//!
//! It owns:
//! * the message-ID windows: one request outstanding each way (RFC 7296 §2.3), the next request
//!   ID (IKE_SA_INIT always uses 0, also when a COOKIE or INVALID_KE_PAYLOAD answer makes us
//!   send it again, §2.6 and §1.2) and the next request ID expected from the peer;
//! * retransmission of our outstanding request with exponential backoff, and giving up
//!   (§2.1; not on a reliable stream, RFC 9329 §6: [`Path::retransmits`]);
//! * the cached last response, resent for a retransmitted request (§2.1; all fragments once per
//!   retransmitted message, RFC 7383 §2.6.1);
//! * SK protection with the SA's current key generation and RFC 7383 fragmentation/reassembly,
//!   within the datagram budget of the [`Path`];
//! * the path itself, which follows the peer after NAT detection (§2.23);
//! * a transcript hook: every IKE_SA_INIT and IKE_INTERMEDIATE message sent and received is
//!   recorded as a [`TranscriptEntry`] for the layer above to consume (RFC 7296 §2.15 RealMessage1/2,
//!   RFC 9242 §3.3.2 IntAuth, and later the full-transcript AUTH of downgrade prevention).
//!
//! Call order, per input: [`MessageLayer::on_datagram`] for a datagram addressed to the SA, which
//! answers with an [`Inbound`]; [`MessageLayer::send_request`] / [`MessageLayer::send_response`]
//! to put a message on the wire; [`MessageLayer::deadline`] and [`MessageLayer::on_timeout`] for
//! the retransmission timer; [`MessageLayer::take_transcript`] after each of them.
pub(crate) mod fragment;
pub(crate) mod protect;

use crate::notify::{summary, IkeError};
use crate::path::{Framing, Path};
use crate::{EndpointConfig, Event, SaId, Transmit};
use fragment::{FragResult, Reassembly};
use pqike_crypto::SecureRandom;
use pqike_wire::{
    decode_payload_chain, encode_payload_chain, locate_encrypted, EncodeError, ExchangeType, Flags,
    Header, Message, Notify, Payload, PayloadType,
};
use protect::{decode_inner, open_message, seal_message, SaKeys};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// The SA's identity as the message layer needs it for headers and logs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ident {
    pub sa: SaId,
    pub spi_i: u64,
    pub spi_r: u64,
    /// We are the original initiator (the I flag, RFC 7296 §3.1).
    pub initiator: bool,
}

/// How messages are protected right now.
#[derive(Clone, Copy)]
pub(crate) struct Protection<'a> {
    /// The current key generation (none before IKE_SA_INIT completed).
    pub keys: Option<&'a SaKeys>,
    /// RFC 7383 fragmentation negotiated (both sides announced it): we may fragment.
    pub fragment: bool,
    /// RFC 7383 enabled locally: we accept fragments.
    pub accept_fragments: bool,
}

/// Where output goes while handling one input.
pub(crate) struct Io<'a> {
    pub now: Instant,
    pub cfg: &'a EndpointConfig,
    pub rng: &'a dyn SecureRandom,
    pub transmits: &'a mut VecDeque<Transmit>,
    pub events: &'a mut VecDeque<Event>,
}

/// A decrypted (and reassembled) message.
pub(crate) struct Received {
    pub header: Header,
    pub payloads: Vec<Payload>,
}

/// One IKE_SA_INIT or IKE_INTERMEDIATE message, as the transcript hook records it.
#[derive(Clone, Debug)]
pub(crate) enum TranscriptEntry {
    /// An IKE_SA_INIT message as it was on the wire (RFC 7296 §2.15 RealMessage1/2).
    Init { sent: bool, raw: Vec<u8> },
    /// An IKE_INTERMEDIATE message in its logical, unfragmented form (RFC 9242 §3.3.2): the
    /// header, the unencrypted payloads before SK, the first inner payload type and the inner
    /// plaintext.
    Intermediate {
        sent: bool,
        header: Header,
        unencrypted: Vec<u8>,
        first_inner: PayloadType,
        inner: Vec<u8>,
    },
}

/// What a datagram turned out to be.
pub(crate) enum Inbound {
    /// Nothing for the layer above: dropped (logged), a fragment of an incomplete message, or a
    /// retransmitted request answered from the cache.
    Nothing,
    /// A new request, decrypted.
    Request(Received),
    /// The response to our outstanding request (the request slot is free again).
    Response(Received),
    /// The IKE_SA_INIT response (unprotected).
    InitResponse(Message),
    /// An authenticated request that does not decode: RFC 7296 §2.21.2 says answer inside the SA.
    BadRequest {
        exchange: ExchangeType,
        mid: u32,
        error: IkeError,
    },
    /// An authenticated response that does not decode: the exchange cannot complete.
    BadResponse {
        exchange: ExchangeType,
        error: IkeError,
    },
}

/// What a timer expiry did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Not due.
    Idle,
    /// The outstanding request was sent again.
    Retransmitted,
    /// No response after every retransmission.
    GaveUp {
        exchange: ExchangeType,
        retransmits: u32,
    },
}

/// Our request waiting for its response.
struct Outstanding {
    mid: u32,
    exchange: ExchangeType,
    packets: Vec<Vec<u8>>,
    retransmits: u32,
    deadline: Instant,
}

/// The message layer of one IKE SA.
pub(crate) struct MessageLayer {
    /// Where messages go and how they are framed.
    pub path: Path,
    next_request_mid: u32,
    outstanding: Option<Outstanding>,
    next_peer_mid: u32,
    cached_response: Option<(u32, Vec<Vec<u8>>)>,
    reassembly: Option<Reassembly>,
    transcript: Vec<TranscriptEntry>,
}

impl MessageLayer {
    /// A fresh layer: both windows at message ID 0.
    pub fn new(path: Path) -> MessageLayer {
        MessageLayer {
            path,
            next_request_mid: 0,
            outstanding: None,
            next_peer_mid: 0,
            cached_response: None,
            reassembly: None,
            transcript: Vec::new(),
        }
    }

    /// The message ID our next request gets (IKE_SA_INIT aside): RFC 9242 §3.3.2 signs the first
    /// IKE_AUTH request's ID.
    pub fn next_request_mid(&self) -> u32 {
        self.next_request_mid
    }

    /// Whether our request window is in use.
    pub fn busy(&self) -> bool {
        self.outstanding.is_some()
    }

    /// The messages recorded since the last call (see [`TranscriptEntry`]).
    pub fn take_transcript(&mut self) -> Vec<TranscriptEntry> {
        std::mem::take(&mut self.transcript)
    }

    /// Record the peer's IKE_SA_INIT request, which the endpoint received before the SA existed.
    pub fn record_init_request(&mut self, raw: &[u8]) {
        self.transcript.push(TranscriptEntry::Init {
            sent: false,
            raw: raw.to_vec(),
        });
    }

    fn header(ident: &Ident, exchange: ExchangeType, response: bool, mid: u32) -> Header {
        Header {
            spi_i: ident.spi_i,
            spi_r: ident.spi_r,
            next_payload: PayloadType::NONE,
            version: 0x20,
            exchange,
            flags: Flags {
                initiator: ident.initiator,
                response,
                version: false,
            },
            message_id: mid,
            length: 0,
        }
    }

    /// Encode (IKE_SA_INIT) or protect a message, and record it in the transcript.
    fn build(
        &mut self,
        io: &Io<'_>,
        prot: Protection<'_>,
        header: &Header,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, IkeError> {
        if header.exchange == ExchangeType::IKE_SA_INIT {
            let raw = Message {
                header: *header,
                payloads: payloads.to_vec(),
            }
            .encode()
            .map_err(|e| Self::encode_failed(header, e))?;
            self.transcript.push(TranscriptEntry::Init {
                sent: true,
                raw: raw.clone(),
            });
            return Ok(vec![raw]);
        }
        let keys = prot
            .keys
            .ok_or_else(|| IkeError::Config("no keys yet".into()))?;
        let (first_inner, inner) =
            encode_payload_chain(payloads).map_err(|e| Self::encode_failed(header, e))?;
        let limit = if prot.fragment {
            self.path.max_ike_len(io.cfg.fragment_size)
        } else {
            None
        };
        // Without fragmentation an SK payload over the Payload Length limit cannot be sent.
        let packets = seal_message(&*keys.out, io.rng, header, first_inner, &inner, limit)
            .map_err(|e| match e {
                IkeError::Encode(e) => Self::encode_failed(header, e),
                e => e,
            })?;
        if header.exchange == ExchangeType::IKE_INTERMEDIATE {
            self.transcript.push(TranscriptEntry::Intermediate {
                sent: true,
                header: *header,
                unencrypted: Vec::new(),
                first_inner,
                inner,
            });
        }
        Ok(packets)
    }

    /// Log a message we could not encode (the error names the payload and both sizes); the
    /// exchange then fails as a local error and nothing is transmitted.
    fn encode_failed(header: &Header, e: EncodeError) -> IkeError {
        tracing::warn!(
            "cannot send {} {} #{}: {e}",
            header.exchange,
            if header.flags.response {
                "response"
            } else {
                "request"
            },
            header.message_id
        );
        IkeError::Encode(e)
    }

    fn log_message(
        &self,
        io: &mut Io<'_>,
        ident: &Ident,
        verb: &str,
        header: &Header,
        payloads: &[Payload],
        packets: usize,
    ) {
        let s = summary(
            header.exchange,
            header.flags.response,
            header.message_id,
            payloads,
        );
        let frag = if packets > 1 {
            format!(" in {packets} fragments")
        } else {
            String::new()
        };
        tracing::debug!(
            sa = ident.sa.0,
            "{verb} {s}{frag} ({} -> {})",
            self.path.local,
            self.path.remote
        );
        io.events.push_back(Event::Exchange {
            sa: ident.sa,
            summary: format!("{verb} {s}{frag}"),
        });
    }

    /// Put messages on the wire, framed for the path.
    fn transmit(&self, io: &mut Io<'_>, packets: &[Vec<u8>]) {
        for p in packets {
            io.transmits.push_back(Transmit {
                local: self.path.local,
                remote: self.path.remote,
                payload: self.path.frame(p),
            });
        }
    }

    /// Send a request and keep it for retransmission. Returns its message ID.
    pub fn send_request(
        &mut self,
        io: &mut Io<'_>,
        ident: &Ident,
        prot: Protection<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
    ) -> Result<u32, IkeError> {
        // RFC 7296 §2.2: IKE_SA_INIT is message 0, every time it is sent.
        let mid = if exchange == ExchangeType::IKE_SA_INIT {
            0
        } else {
            self.next_request_mid
        };
        let header = Self::header(ident, exchange, false, mid);
        let packets = self.build(io, prot, &header, payloads)?;
        self.log_message(io, ident, "sending", &header, payloads, packets.len());
        self.transmit(io, &packets);
        self.outstanding = Some(Outstanding {
            mid,
            exchange,
            packets,
            retransmits: 0,
            deadline: io.now + io.cfg.retransmit_timeout,
        });
        Ok(mid)
    }

    /// Send the response to request `mid` and cache it for retransmitted requests.
    pub fn send_response(
        &mut self,
        io: &mut Io<'_>,
        ident: &Ident,
        prot: Protection<'_>,
        exchange: ExchangeType,
        mid: u32,
        payloads: &[Payload],
    ) -> Result<(), IkeError> {
        let header = Self::header(ident, exchange, true, mid);
        let packets = self.build(io, prot, &header, payloads)?;
        self.log_message(io, ident, "sending", &header, payloads, packets.len());
        self.transmit(io, &packets);
        self.cached_response = Some((mid, packets));
        self.next_peer_mid = mid.wrapping_add(1);
        Ok(())
    }

    /// The retransmission deadline of our outstanding request.
    pub fn deadline(&self) -> Option<Instant> {
        self.outstanding.as_ref().map(|o| o.deadline)
    }

    /// Retransmit the outstanding request if its deadline passed, or give up after
    /// `retransmit_tries` (RFC 7296 §2.1 leaves the schedule open; strongSwan's
    /// `timeout * base^n`).
    pub fn on_timeout(&mut self, io: &mut Io<'_>, ident: &Ident) -> Expiry {
        let retransmits_here = self.path.retransmits();
        let Some(out) = &mut self.outstanding else {
            return Expiry::Idle;
        };
        if io.now < out.deadline {
            return Expiry::Idle;
        }
        if !retransmits_here || out.retransmits >= io.cfg.retransmit_tries {
            let exchange = out.exchange;
            let retransmits = out.retransmits;
            tracing::info!(
                sa = ident.sa.0,
                "giving up on {exchange} after {retransmits} retransmissions"
            );
            self.outstanding = None;
            return Expiry::GaveUp {
                exchange,
                retransmits,
            };
        }
        out.retransmits += 1;
        let factor = io
            .cfg
            .retransmit_base
            .powi(i32::try_from(out.retransmits).unwrap_or(i32::MAX));
        out.deadline = io.now + io.cfg.retransmit_timeout.mul_f64(factor.max(1.0));
        let (n, exchange, mid) = (out.retransmits, out.exchange, out.mid);
        tracing::debug!(
            sa = ident.sa.0,
            "retransmit {n} of {exchange} request {mid}"
        );
        let packets = std::mem::take(&mut out.packets);
        self.transmit(io, &packets);
        if let Some(out) = &mut self.outstanding {
            out.packets = packets;
        }
        Expiry::Retransmitted
    }

    /// A datagram addressed to this SA (framing removed, header decoded). `nat` says whether a
    /// NAT was detected, which lets the path follow the peer to a new address.
    #[allow(clippy::too_many_arguments)]
    pub fn on_datagram(
        &mut self,
        io: &mut Io<'_>,
        ident: &Ident,
        prot: Protection<'_>,
        nat: bool,
        local: SocketAddr,
        remote: SocketAddr,
        framing: Framing,
        header: Header,
        buf: &[u8],
    ) -> Inbound {
        let inbound = if header.flags.response {
            self.on_response(io, ident, prot, header, buf)
        } else {
            self.on_request(io, ident, prot, header, buf)
        };
        if matches!(
            inbound,
            Inbound::Request(_) | Inbound::Response(_) | Inbound::BadRequest { .. }
        ) && self.path.follow(local, remote, framing, nat)
        {
            tracing::debug!(
                sa = ident.sa.0,
                "peer moved: now {} (local {})",
                self.path.remote,
                self.path.local
            );
        }
        inbound
    }

    fn on_response(
        &mut self,
        io: &mut Io<'_>,
        ident: &Ident,
        prot: Protection<'_>,
        header: Header,
        buf: &[u8],
    ) -> Inbound {
        let Some(out) = &self.outstanding else {
            tracing::debug!(
                sa = ident.sa.0,
                "dropping response {}: no request outstanding",
                header.message_id
            );
            return Inbound::Nothing;
        };
        if out.mid != header.message_id || out.exchange != header.exchange {
            tracing::debug!(
                sa = ident.sa.0,
                "dropping {} response {}: expected {} {}",
                header.exchange,
                header.message_id,
                out.exchange,
                out.mid
            );
            return Inbound::Nothing;
        }
        if header.exchange == ExchangeType::IKE_SA_INIT {
            let msg = match Message::decode(buf) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(
                        sa = ident.sa.0,
                        "dropping malformed IKE_SA_INIT response: {e}"
                    );
                    return Inbound::Nothing;
                }
            };
            self.log_message(io, ident, "received", &msg.header, &msg.payloads, 1);
            self.transcript.push(TranscriptEntry::Init {
                sent: false,
                raw: buf.to_vec(),
            });
            self.outstanding = None;
            self.next_request_mid = 1;
            return Inbound::InitResponse(msg);
        }
        match self.receive_protected(io, ident, prot, &header, buf) {
            Ok(Some(m)) => {
                self.outstanding = None;
                self.next_request_mid = self.next_request_mid.wrapping_add(1);
                Inbound::Response(m)
            }
            Ok(None) => Inbound::Nothing,
            Err(error) => {
                // Authenticated but undecodable: the exchange cannot complete (RFC 7296 §2.21.1).
                tracing::warn!(
                    sa = ident.sa.0,
                    "malformed {} response: {error}",
                    header.exchange
                );
                self.outstanding = None;
                Inbound::BadResponse {
                    exchange: header.exchange,
                    error,
                }
            }
        }
    }

    fn on_request(
        &mut self,
        io: &mut Io<'_>,
        ident: &Ident,
        prot: Protection<'_>,
        header: Header,
        buf: &[u8],
    ) -> Inbound {
        // RFC 7296 §2.1: a retransmitted request gets the cached response again (all fragments,
        // RFC 7383 §2.6.1, sent once per retransmitted message: on its first fragment).
        if let Some((mid, packets)) = &self.cached_response {
            if *mid == header.message_id {
                let first = match locate_encrypted(buf) {
                    Ok(loc) => loc.fragment.is_none_or(|(n, _)| n == 1),
                    Err(_) => header.exchange == ExchangeType::IKE_SA_INIT,
                };
                if first {
                    tracing::debug!(
                        sa = ident.sa.0,
                        "retransmitted request {mid}: resending cached response"
                    );
                    let packets = packets.clone();
                    self.transmit(io, &packets);
                }
                return Inbound::Nothing;
            }
        }
        if header.message_id != self.next_peer_mid {
            tracing::debug!(
                sa = ident.sa.0,
                "dropping request {}: expected message ID {}",
                header.message_id,
                self.next_peer_mid
            );
            return Inbound::Nothing;
        }
        if header.exchange == ExchangeType::IKE_SA_INIT {
            tracing::debug!(
                sa = ident.sa.0,
                "dropping IKE_SA_INIT request on an existing SA"
            );
            return Inbound::Nothing;
        }
        match self.receive_protected(io, ident, prot, &header, buf) {
            Ok(Some(msg)) => Inbound::Request(msg),
            Ok(None) => Inbound::Nothing,
            Err(error) => {
                tracing::warn!(
                    sa = ident.sa.0,
                    "malformed {} request {}: {error}",
                    header.exchange,
                    header.message_id
                );
                Inbound::BadRequest {
                    exchange: header.exchange,
                    mid: header.message_id,
                    error,
                }
            }
        }
    }

    /// Open an SK/SKF message and reassemble fragments. `Ok(None)`: dropped or incomplete (logged).
    /// `Err`: authenticated but malformed (the caller answers INVALID_SYNTAX).
    fn receive_protected(
        &mut self,
        io: &mut Io<'_>,
        ident: &Ident,
        prot: Protection<'_>,
        header: &Header,
        buf: &[u8],
    ) -> Result<Option<Received>, IkeError> {
        let Some(keys) = prot.keys else {
            tracing::debug!(sa = ident.sa.0, "dropping {}: no keys yet", header.exchange);
            return Ok(None);
        };
        let opened = match open_message(&*keys.inp, buf) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(
                    sa = ident.sa.0,
                    "dropping {} message {}: {e}",
                    header.exchange,
                    header.message_id
                );
                return Ok(None);
            }
        };
        let (first_inner, inner, unencrypted) = match opened.loc.fragment {
            None => (opened.loc.first_inner, opened.inner, opened.unencrypted),
            Some((number, total)) => {
                if !prot.accept_fragments {
                    tracing::warn!(
                        sa = ident.sa.0,
                        "dropping fragment: fragmentation not enabled"
                    );
                    return Ok(None);
                }
                let response = header.flags.response;
                let r = match &mut self.reassembly {
                    Some(r) if r.mid == header.message_id && r.response == response => r,
                    slot => slot.insert(Reassembly::new(header.message_id, response, total)),
                };
                match r.add(
                    number,
                    total,
                    opened.loc.first_inner,
                    opened.inner,
                    io.cfg.max_fragments,
                    io.cfg.max_message_size,
                ) {
                    Ok(FragResult::Complete(first, whole)) => {
                        self.reassembly = None;
                        tracing::debug!(
                            sa = ident.sa.0,
                            "reassembled message {} from {total} fragments",
                            header.message_id
                        );
                        (first, whole, Vec::new())
                    }
                    Ok(FragResult::Incomplete | FragResult::Duplicate) => return Ok(None),
                    Err(why) => {
                        tracing::warn!(
                            sa = ident.sa.0,
                            "dropping fragmented message {}: {why}",
                            header.message_id
                        );
                        self.reassembly = None;
                        return Ok(None);
                    }
                }
            }
        };
        let mut payloads = if unencrypted.is_empty() {
            Vec::new()
        } else {
            decode_payload_chain(header.next_payload, &unencrypted).unwrap_or_default()
        };
        payloads.extend(decode_inner(first_inner, &inner)?);
        self.log_message(io, ident, "received", header, &payloads, 1);
        if header.exchange == ExchangeType::IKE_INTERMEDIATE {
            self.transcript.push(TranscriptEntry::Intermediate {
                sent: false,
                header: *header,
                unencrypted,
                first_inner,
                inner,
            });
        }
        Ok(Some(Received {
            header: *header,
            payloads,
        }))
    }

    /// An unprotected error notify answering an IKE_SA_INIT request (RFC 7296 §2.21.1), for
    /// requests that never get an SA. Fails only if the notify data is too long for its payload.
    pub fn plain_notify(header: &Header, n: Notify) -> Result<Vec<u8>, EncodeError> {
        let h = Header {
            spi_i: header.spi_i,
            spi_r: 0,
            next_payload: PayloadType::NONE,
            version: 0x20,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags {
                initiator: false,
                response: true,
                version: false,
            },
            message_id: header.message_id,
            length: 0,
        };
        Message {
            header: h,
            payloads: vec![Payload::Notify(n)],
        }
        .encode()
    }
}
