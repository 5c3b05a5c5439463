//! The SAD (inbound SAs by SPI), the SPD (outbound SA by traffic selector) and the per-packet
//! encapsulation and decapsulation paths.

use crate::cipher::{SaCipher, ESP_HDR};
use crate::error::{DecapError, EncapError, InstallError};
use crate::flow::{self, proto, Flow};
use crate::lifetime::{ExpiryCause, ExpiryEvent, ExpiryKind, LifetimeState, SaCounters};
use crate::params::{Mode, SaParams, Selector};
use crate::replay::{ReplayWindow, DEFAULT_WINDOW, MAX_WINDOW};
use pqike_crypto::awslc::AwsLcEspCiphers;
use pqike_crypto::EspCipherFactory;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::debug;

/// Largest number of octets ESP adds to a packet: header 8, IV 16, padding 15, trailer 2,
/// ICV 32. An output buffer of `inner.len() + MAX_OVERHEAD` always suffices.
pub const MAX_OVERHEAD: usize = ESP_HDR + 16 + 15 + 2 + 32;

/// Octets to leave in front of an inner packet for [`DataPlane::encapsulate_in_place`]: the
/// ESP header and the largest IV (AES-CBC's 16).
pub const IN_PLACE_HEADROOM: usize = ESP_HDR + 16;

/// What the SPD lookup chose for one outbound packet.
struct Selected {
    /// The SA (its key in the SAD).
    key: u32,
    /// The part of the inner packet ESP carries.
    payload: std::ops::Range<usize>,
    next_header: u8,
    iv_len: usize,
    align: usize,
    icv_len: usize,
}

impl Selected {
    /// Octets of the ESP packet: header, IV, payload padded with the trailer, ICV.
    fn total(&self) -> usize {
        let padded = (self.payload.len() + 2).div_ceil(self.align) * self.align;
        ESP_HDR + self.iv_len + padded + self.icv_len
    }
}

/// Soft expiry this many packets before a 32-bit sequence number space runs out, so that the
/// engine can rekey before RFC 4303 §3.3.3 forces the SA to stop.
const SEQ_SOFT_MARGIN: u64 = 1 << 26;

/// Drops that cannot be charged to one SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlobalCounters {
    /// Outbound packets that matched no SA (RFC 4301 §5.1 DISCARD).
    pub no_policy: u64,
    /// Outbound packets that were not parseable IP packets.
    pub malformed_inner: u64,
    /// Inbound ESP packets with an SPI we do not know.
    pub unknown_spi: u64,
    /// Inbound ESP packets too short or otherwise malformed before any SA state was touched.
    pub malformed: u64,
}

/// A packet ready to send, borrowed from the caller's output buffer.
#[derive(Debug)]
pub struct Encapsulated<'a> {
    /// Outbound SPI used.
    pub spi: u32,
    /// Our outer address.
    pub local: SocketAddr,
    /// Where to send it.
    pub remote: SocketAddr,
    /// Send as UDP payload on port 4500 (RFC 3948) rather than as IP protocol 50.
    pub udp_encap: bool,
    /// The ESP packet (header to ICV).
    pub packet: &'a [u8],
}

/// A successfully decapsulated packet, borrowed from the caller's (decrypted in place) buffer.
#[derive(Debug)]
pub struct Inner<'a> {
    /// Inbound SPI it arrived on.
    pub spi: u32,
    /// Tunnel or transport.
    pub mode: Mode,
    /// The Next Header field: 4/41 in tunnel mode, the upper-layer protocol in transport mode.
    pub next_header: u8,
    /// The SA's outer source address (the peer): the source of a rebuilt transport-mode
    /// header ([`crate::transport::build_ip_packet`]).
    pub outer_src: std::net::IpAddr,
    /// The SA's outer destination address (us).
    pub outer_dst: std::net::IpAddr,
    /// Whether the SA is UDP-encapsulated (transport mode: the upper-layer checksum must be
    /// recomputed, RFC 3948 §3.1.2).
    pub udp_encap: bool,
    /// Tunnel mode: the inner IP packet (TFC padding trimmed). Transport mode: the upper-layer
    /// payload, to be put behind an IP header from the SA's outer addresses.
    pub data: &'a mut [u8],
}

/// Result of [`DataPlane::decapsulate`] when nothing was wrong with the packet.
#[derive(Debug)]
pub enum Decapsulated<'a> {
    /// Deliver this.
    Packet(Inner<'a>),
    /// A TFC dummy packet (next header 59, RFC 4303 §2.6): authentic, counted, dropped silently.
    Dummy {
        /// Inbound SPI.
        spi: u32,
    },
}

/// A read-only view of one installed Child SA.
#[derive(Debug, Clone, Copy)]
pub struct SaInfo {
    /// Inbound SPI.
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// Counters.
    pub counters: SaCounters,
    /// Last outbound sequence number used.
    pub seq_out: u64,
    /// Highest inbound sequence number accepted.
    pub seq_in: u64,
    /// Whether a hard limit was reached.
    pub expired: bool,
    /// Whether the SPD may select this SA for outbound traffic.
    pub outbound: Outbound,
}

/// Whether an installed SA carries outbound traffic (make-before-break, RFC 7296 §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// Selected for matching outbound traffic (the newest active SA wins).
    Active,
    /// Installed for decapsulation only: the rekey responder's new SA, which the peer may not
    /// have installed yet. It becomes [`Outbound::Active`] with [`DataPlane::activate`], with
    /// the first authentic packet received on it (the peer evidently has it), or when no
    /// active SA matches a packet any more (its predecessor is gone).
    InboundOnly,
    /// Removed from the SPD ([`DataPlane::retire`]): decapsulates stragglers until
    /// [`DataPlane::remove`], never selected for outbound, no expiry events.
    Retired,
}

/// An inbound-only SA switched to outbound by the data plane itself ([`DataPlane::poll_activated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activated {
    /// Inbound SPI.
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// What switched it.
    pub cause: ActivationCause,
}

/// Why the data plane switched an inbound-only SA to outbound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationCause {
    /// An authentic packet arrived on it: the peer has installed it (RFC 7296 §2.8).
    FirstPacket,
    /// No active SA matched an outbound packet that it matches (its predecessor was removed
    /// before the engine's activation arrived).
    NoActiveSa,
}

struct ChildSa {
    spi_in: u32,
    spi_out: u32,
    esn: bool,
    mode: Mode,
    local: SocketAddr,
    remote: SocketAddr,
    udp_encap: bool,
    local_ts: Vec<Selector>,
    remote_ts: Vec<Selector>,
    out: SaCipher,
    inb: SaCipher,
    seq_out: u64,
    replay: ReplayWindow,
    counters: SaCounters,
    life: LifetimeState,
    outbound: Outbound,
}

impl ChildSa {
    fn matches_outbound(&self, f: &Flow) -> bool {
        flow::matches(&self.local_ts, Some(f.src), f.src_port, f.protocol)
            && flow::matches(&self.remote_ts, Some(f.dst), f.dst_port, f.protocol)
    }

    fn event(&self, kind: ExpiryKind, cause: ExpiryCause) -> ExpiryEvent {
        ExpiryEvent {
            spi_in: self.spi_in,
            spi_out: self.spi_out,
            kind,
            cause,
        }
    }
}

/// The userspace ESP data plane: install SAs, then call [`DataPlane::encapsulate`] for each
/// packet read from the TUN device and [`DataPlane::decapsulate`] for each ESP datagram; poll
/// [`DataPlane::poll_expiry`] after that and whenever [`DataPlane::poll_timeout`] passes.
pub struct DataPlane {
    /// Where per-SA ciphers come from: the crypto provider's ESP part.
    ciphers: Arc<dyn EspCipherFactory>,
    sas: HashMap<u32, ChildSa>,
    /// SPD order: inbound SPIs in installation order; the newest matching SA wins, so after a
    /// rekey the new SA carries the traffic while the old one still decrypts stragglers.
    spd: Vec<u32>,
    events: VecDeque<ExpiryEvent>,
    activated: VecDeque<Activated>,
    counters: GlobalCounters,
}

impl Default for DataPlane {
    fn default() -> Self {
        Self::with_ciphers(Arc::new(AwsLcEspCiphers))
    }
}

impl DataPlane {
    /// An empty data plane with the aws-lc ESP ciphers.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty data plane whose SAs get their ciphers from `ciphers` (a provider's
    /// `esp_ciphers` part, `pqike_crypto::ComposedProvider::esp_ciphers`).
    pub fn with_ciphers(ciphers: Arc<dyn EspCipherFactory>) -> Self {
        DataPlane {
            ciphers,
            sas: HashMap::new(),
            spd: Vec::new(),
            events: VecDeque::new(),
            activated: VecDeque::new(),
            counters: GlobalCounters::default(),
        }
    }

    /// Installs a Child SA (both directions) at time `now` (the start of its time limits).
    /// It takes over outbound traffic from older SAs with matching selectors (a rekey we
    /// initiated: the peer installed it before answering).
    pub fn install(&mut self, p: SaParams, now: Instant) -> Result<(), InstallError> {
        self.install_as(p, now, Outbound::Active)
    }

    /// Installs a Child SA that decapsulates but is not selected for outbound traffic until
    /// [`DataPlane::activate`] or its first inbound packet (the responder of a rekey, RFC 7296
    /// §2.8: the initiator installs the SA only when our response arrives).
    pub fn install_inbound_only(&mut self, p: SaParams, now: Instant) -> Result<(), InstallError> {
        self.install_as(p, now, Outbound::InboundOnly)
    }

    /// Lets an inbound-only SA carry outbound traffic (it becomes the newest in the SPD, so it
    /// takes over from its predecessor). Returns false for an unknown or retired SA.
    pub fn activate(&mut self, spi_in: u32) -> bool {
        match self.sas.get_mut(&spi_in) {
            Some(sa) if sa.outbound != Outbound::Retired => {
                if sa.outbound == Outbound::InboundOnly {
                    sa.outbound = Outbound::Active;
                    self.spd.retain(|s| *s != spi_in);
                    self.spd.push(spi_in);
                }
                true
            }
            _ => false,
        }
    }

    /// Stops using an SA for outbound traffic and for expiry events, but keeps decapsulating
    /// with it: packets the peer sent on it before it switched may still be in flight
    /// (make-before-break; strongSwan keeps a rekeyed inbound SA for `delete_rekeyed_delay`
    /// for the same reason). [`DataPlane::remove`] drops it for good.
    pub fn retire(&mut self, spi_in: u32) -> bool {
        match self.sas.get_mut(&spi_in) {
            Some(sa) => {
                sa.outbound = Outbound::Retired;
                true
            }
            None => false,
        }
    }

    /// Inbound-only SAs the data plane switched to outbound on its own; call until `None`.
    pub fn poll_activated(&mut self) -> Option<Activated> {
        self.activated.pop_front()
    }

    fn install_as(
        &mut self,
        p: SaParams,
        now: Instant,
        outbound: Outbound,
    ) -> Result<(), InstallError> {
        if self.sas.contains_key(&p.spi_in) {
            return Err(InstallError::DuplicateSpi(p.spi_in));
        }
        if p.replay_window > MAX_WINDOW {
            return Err(InstallError::ReplayWindow(p.replay_window));
        }
        let want_e = p.encr.key_len();
        let want_i = p.integ.key_len();
        for (what, got, want) in [
            ("inbound encryption key", p.encr_key_in.len(), want_e),
            ("outbound encryption key", p.encr_key_out.len(), want_e),
            ("inbound integrity key", p.integ_key_in.len(), want_i),
            ("outbound integrity key", p.integ_key_out.len(), want_i),
        ] {
            if got != want {
                return Err(InstallError::KeyLength { what, got, want });
            }
        }
        let factory = &*self.ciphers;
        let out = SaCipher::new(factory, p.encr, p.integ, &p.encr_key_out, &p.integ_key_out)?;
        let inb = SaCipher::new(factory, p.encr, p.integ, &p.encr_key_in, &p.integ_key_in)?;
        let window = if p.replay_window == 0 {
            DEFAULT_WINDOW
        } else {
            p.replay_window
        };
        self.sas.insert(
            p.spi_in,
            ChildSa {
                spi_in: p.spi_in,
                spi_out: p.spi_out,
                esn: p.esn,
                mode: p.mode,
                local: p.local,
                remote: p.remote,
                udp_encap: p.udp_encap,
                local_ts: p.local_ts,
                remote_ts: p.remote_ts,
                out,
                inb,
                seq_out: 0,
                replay: ReplayWindow::new(window),
                counters: SaCounters::default(),
                life: LifetimeState::new(p.lifetime, now),
                outbound,
            },
        );
        self.spd.push(p.spi_in);
        Ok(())
    }

    /// Removes the Child SA with inbound SPI `spi_in`; returns its final counters.
    pub fn remove(&mut self, spi_in: u32) -> Option<SaCounters> {
        self.spd.retain(|s| *s != spi_in);
        self.sas.remove(&spi_in).map(|sa| sa.counters)
    }

    /// Counters that belong to no SA.
    pub fn global_counters(&self) -> GlobalCounters {
        self.counters
    }

    /// Status of one SA by inbound SPI.
    pub fn sa(&self, spi_in: u32) -> Option<SaInfo> {
        self.sas.get(&spi_in).map(|sa| SaInfo {
            spi_in: sa.spi_in,
            spi_out: sa.spi_out,
            counters: sa.counters,
            seq_out: sa.seq_out,
            seq_in: sa.replay.top(),
            expired: sa.life.hard_fired,
            outbound: sa.outbound,
        })
    }

    /// Status of every SA, in SPD order.
    pub fn sas(&self) -> impl Iterator<Item = SaInfo> + '_ {
        self.spd.iter().filter_map(|s| self.sa(*s))
    }

    /// Encrypts one IP packet (as read from TUN) into `out` with the SA the SPD selects.
    /// Tunnel mode carries the whole packet; transport mode carries what follows the IP header.
    pub fn encapsulate<'a>(
        &mut self,
        inner: &[u8],
        out: &'a mut [u8],
    ) -> Result<Encapsulated<'a>, EncapError> {
        let sel = self.select_outbound(inner)?;
        let payload = &inner[sel.payload.clone()];
        let body = ESP_HDR + sel.iv_len;
        let Some(dst) = out.get_mut(body..body + payload.len()) else {
            return Err(EncapError::BufferTooSmall {
                needed: sel.total(),
            });
        };
        dst.copy_from_slice(payload);
        self.seal_outbound(&sel, out, 0)
    }

    /// Like [`DataPlane::encapsulate`] for an inner packet the caller already placed at
    /// `buf[at..at + len]`, so that no copy is needed: the ESP header and IV go in front of
    /// it (leave [`IN_PLACE_HEADROOM`] octets there), padding and ICV behind it (leave
    /// [`MAX_OVERHEAD`] minus the headroom). The returned packet is a part of `buf`; in
    /// transport mode it starts inside the inner packet's IP header, which ESP replaces.
    /// On an error other than a too small buffer, `buf[at..at + len]` is unchanged.
    pub fn encapsulate_in_place<'a>(
        &mut self,
        buf: &'a mut [u8],
        at: usize,
        len: usize,
    ) -> Result<Encapsulated<'a>, EncapError> {
        let Some(inner) = buf.get(at..at.saturating_add(len)) else {
            return Err(EncapError::BufferTooSmall {
                needed: at.saturating_add(len).saturating_add(MAX_OVERHEAD),
            });
        };
        let sel = self.select_outbound(inner)?;
        let Some(start) = (at + sel.payload.start).checked_sub(ESP_HDR + sel.iv_len) else {
            return Err(EncapError::BufferTooSmall {
                needed: IN_PLACE_HEADROOM + len + MAX_OVERHEAD,
            });
        };
        self.seal_outbound(&sel, buf, start)
    }

    /// The SPD lookup (RFC 4301 §5.1): the active SA whose selectors match `inner`, what of
    /// `inner` it carries and with which Next Header.
    fn select_outbound(&mut self, inner: &[u8]) -> Result<Selected, EncapError> {
        let Some((f, l4_off)) = flow::parse_ip(inner) else {
            self.counters.malformed_inner += 1;
            debug!(
                len = inner.len(),
                "ESP out: dropping unparseable inner packet"
            );
            return Err(EncapError::MalformedInner);
        };
        let mut expired = None;
        let mut chosen = None;
        let mut standby = None;
        for spi in self.spd.iter().rev() {
            let Some(sa) = self.sas.get(spi) else {
                continue;
            };
            if sa.matches_outbound(&f) {
                if sa.life.hard_fired {
                    expired.get_or_insert(sa.spi_out);
                    continue;
                }
                match sa.outbound {
                    Outbound::Active => {
                        chosen = Some(*spi);
                        break;
                    }
                    Outbound::InboundOnly => {
                        standby.get_or_insert(*spi);
                    }
                    Outbound::Retired => {}
                }
            }
        }
        if chosen.is_none() {
            // The engine removes the old SA and activates its replacement as two events: a
            // packet in between goes out on the replacement instead of being dropped (the old
            // SA is only removed once the peer deleted it, i.e. has the new one).
            if let Some(spi) = standby {
                self.activate(spi);
                if let Some(sa) = self.sas.get(&spi) {
                    self.activated.push_back(Activated {
                        spi_in: sa.spi_in,
                        spi_out: sa.spi_out,
                        cause: ActivationCause::NoActiveSa,
                    });
                }
                chosen = Some(spi);
            }
        }
        let Some((key, sa)) = chosen.and_then(|s| self.sas.get(&s).map(|sa| (s, sa))) else {
            if let Some(spi_out) = expired {
                return Err(EncapError::Expired { spi_out });
            }
            self.counters.no_policy += 1;
            debug!(?f, "ESP out: no SA matches, dropping");
            return Err(EncapError::NoPolicy);
        };

        let ip_len = flow::ip_len(inner).unwrap_or(inner.len());
        let (payload, next_header) = match sa.mode {
            Mode::Tunnel => (
                0..ip_len,
                if inner[0] >> 4 == 4 {
                    proto::IPV4_IN_IP
                } else {
                    proto::IPV6_IN_IP
                },
            ),
            Mode::Transport => (l4_off..ip_len, f.protocol),
        };
        Ok(Selected {
            key,
            payload,
            next_header,
            iv_len: sa.out.iv_len(),
            align: sa.out.align(),
            icv_len: sa.out.icv_len(),
        })
    }

    /// Completes the ESP packet whose payload (`sel.payload.len()` octets) is at
    /// `buf[start + ESP_HDR + iv ..]`: header, padding, trailer, encryption, ICV, counters.
    fn seal_outbound<'a>(
        &mut self,
        sel: &Selected,
        buf: &'a mut [u8],
        start: usize,
    ) -> Result<Encapsulated<'a>, EncapError> {
        let Some(sa) = self.sas.get_mut(&sel.key) else {
            return Err(EncapError::NoPolicy); // selected just before: cannot happen
        };
        let payload_len = sel.payload.len();
        // RFC 4303 §3.3.3: without ESN the counter must not cycle; with ESN it is 64 bits.
        let limit = if sa.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if sa.seq_out >= limit {
            if sa.life.fire(ExpiryKind::Hard) {
                let ev = sa.event(ExpiryKind::Hard, ExpiryCause::SequenceNumber);
                self.events.push_back(ev);
            }
            return Err(EncapError::SequenceExhausted {
                spi_out: sa.spi_out,
            });
        }

        let total = sel.total();
        let body = ESP_HDR + sel.iv_len;
        let pad = total - body - sel.icv_len - payload_len - 2;
        if buf.len() < start + total {
            return Err(EncapError::BufferTooSmall {
                needed: start + total,
            });
        }
        let seq = sa.seq_out + 1;
        let pkt = &mut buf[start..start + total];
        pkt[..4].copy_from_slice(&sa.spi_out.to_be_bytes());
        pkt[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        let trailer = body + payload_len;
        // RFC 4303 §2.4: padding bytes are 1, 2, 3, ...
        for (i, b) in pkt[trailer..trailer + pad].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        pkt[trailer + pad] = pad as u8;
        pkt[trailer + pad + 1] = sel.next_header;
        if sa.out.seal(seq, sa.esn, pkt).is_err() {
            // Only reachable if aws-lc refuses a well-formed input; never send plaintext.
            return Err(EncapError::MalformedInner);
        }
        sa.seq_out = seq;
        sa.counters.packets_out += 1;
        sa.counters.bytes_out += payload_len as u64;
        let (spi_in, spi_out, events) = (sa.spi_in, sa.spi_out, &mut self.events);
        sa.life.check_volume(&sa.counters, |kind, cause| {
            events.push_back(ExpiryEvent {
                spi_in,
                spi_out,
                kind,
                cause,
            })
        });
        if !sa.esn && seq == limit - SEQ_SOFT_MARGIN && sa.life.fire(ExpiryKind::Soft) {
            self.events
                .push_back(sa.event(ExpiryKind::Soft, ExpiryCause::SequenceNumber));
        }
        Ok(Encapsulated {
            spi: sa.spi_out,
            local: sa.local,
            remote: sa.remote,
            udp_encap: sa.udp_encap,
            packet: &buf[start..start + total],
        })
    }

    /// Verifies and decrypts one ESP packet (from the SPI on; for UDP-encapsulated ESP, the
    /// UDP payload after [`crate::udp::classify`]) in place. On error nothing but counters
    /// changed: the replay window moves only for packets whose ICV verified.
    pub fn decapsulate<'a>(&mut self, pkt: &'a mut [u8]) -> Result<Decapsulated<'a>, DecapError> {
        if pkt.len() < ESP_HDR {
            self.counters.malformed += 1;
            return Err(DecapError::Malformed);
        }
        let spi = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
        let seq_lo = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        if spi == 0 {
            self.counters.malformed += 1;
            return Err(DecapError::ZeroSpi);
        }
        let Some(sa) = self.sas.get_mut(&spi) else {
            self.counters.unknown_spi += 1;
            debug!(
                spi = format_args!("{spi:08x}"),
                "ESP in: unknown SPI, dropping"
            );
            return Err(DecapError::UnknownSpi(spi));
        };
        if sa.life.hard_fired {
            return Err(DecapError::Expired(spi));
        }
        let min = ESP_HDR + sa.inb.iv_len() + 2 + sa.inb.icv_len();
        if pkt.len() < min {
            self.counters.malformed += 1;
            return Err(DecapError::Malformed);
        }
        // RFC 4303 §3.4.3: the replay check comes first (cheap), the window update last.
        let seq = if sa.esn {
            match sa.replay.infer_esn(seq_lo) {
                Some(s) => s,
                None => {
                    sa.counters.replay_drops += 1;
                    return Err(DecapError::Replay {
                        spi,
                        seq: u64::from(seq_lo),
                    });
                }
            }
        } else {
            u64::from(seq_lo)
        };
        if let Err(e) = sa.replay.check(seq) {
            sa.counters.replay_drops += 1;
            debug!(
                spi = format_args!("{spi:08x}"),
                seq,
                ?e,
                "ESP in: replay check failed"
            );
            return Err(DecapError::Replay { spi, seq });
        }
        if sa.inb.open(seq, sa.esn, pkt).is_err() {
            sa.counters.auth_failures += 1;
            debug!(
                spi = format_args!("{spi:08x}"),
                seq, "ESP in: ICV check failed"
            );
            return Err(DecapError::AuthFailed(spi));
        }
        sa.replay.update(seq);

        let body = ESP_HDR + sa.inb.iv_len();
        let end = pkt.len() - sa.inb.icv_len();
        let pt = &pkt[body..end];
        let n = pt.len();
        let next_header = pt[n - 1];
        let pad = usize::from(pt[n - 2]);
        let pad_ok = pad + 2 <= n
            && pt[n - 2 - pad..n - 2]
                .iter()
                .enumerate()
                .all(|(i, b)| usize::from(*b) == i + 1);
        if !pad_ok {
            sa.counters.pad_errors += 1;
            debug!(spi = format_args!("{spi:08x}"), "ESP in: bad padding");
            return Err(DecapError::BadPadding(spi));
        }
        if next_header == proto::NO_NEXT {
            sa.counters.dummies += 1;
            return Ok(Decapsulated::Dummy { spi });
        }
        let payload_end = body + n - 2 - pad;
        let bad_nh = DecapError::BadNextHeader { spi, next_header };
        let (data_end, ts_ok) = match sa.mode {
            Mode::Tunnel => {
                let version = match next_header {
                    proto::IPV4_IN_IP => 4,
                    proto::IPV6_IN_IP => 6,
                    _ => {
                        sa.counters.bad_next_header += 1;
                        return Err(bad_nh);
                    }
                };
                let inner = &pkt[body..payload_end];
                let parsed = (inner.first().map(|b| b >> 4) == Some(version))
                    .then(|| flow::parse_ip(inner))
                    .flatten();
                let Some((f, _)) = parsed else {
                    sa.counters.bad_next_header += 1;
                    return Err(bad_nh);
                };
                // TFC padding (RFC 4303 §2.7) may follow the inner packet: trim to its length.
                let len = flow::ip_len(inner).unwrap_or(inner.len());
                let ok = flow::matches(&sa.remote_ts, Some(f.src), f.src_port, f.protocol)
                    && flow::matches(&sa.local_ts, Some(f.dst), f.dst_port, f.protocol);
                (body + len, ok)
            }
            Mode::Transport => {
                let (sp, dp) = flow::ports(next_header, &pkt[body..payload_end]);
                // Behind NAT the peer's original address is not the one we see (RFC 3948
                // §3.1.2): then only protocol and ports are checked.
                let (src, dst) = if sa.udp_encap {
                    (None, None)
                } else {
                    (Some(sa.remote.ip()), Some(sa.local.ip()))
                };
                let ok = flow::matches(&sa.remote_ts, src, sp, next_header)
                    && flow::matches(&sa.local_ts, dst, dp, next_header);
                (payload_end, ok)
            }
        };
        if !ts_ok {
            sa.counters.ts_mismatch += 1;
            debug!(
                spi = format_args!("{spi:08x}"),
                "ESP in: inner packet outside the SA's TS"
            );
            return Err(DecapError::TsMismatch(spi));
        }
        sa.counters.packets_in += 1;
        sa.counters.bytes_in += (data_end - body) as u64;
        if sa.outbound == Outbound::InboundOnly {
            // RFC 7296 §2.8: the rekey responder may start sending on the new SA once it
            // receives traffic on it. An authentic packet proves the peer installed it.
            sa.outbound = Outbound::Active;
            self.activated.push_back(Activated {
                spi_in: sa.spi_in,
                spi_out: sa.spi_out,
                cause: ActivationCause::FirstPacket,
            });
            self.spd.retain(|s| *s != spi);
            self.spd.push(spi);
        }
        let (spi_in, spi_out, events) = (sa.spi_in, sa.spi_out, &mut self.events);
        if sa.outbound != Outbound::Retired {
            sa.life.check_volume(&sa.counters, |kind, cause| {
                events.push_back(ExpiryEvent {
                    spi_in,
                    spi_out,
                    kind,
                    cause,
                })
            });
        }
        Ok(Decapsulated::Packet(Inner {
            spi,
            mode: sa.mode,
            next_header,
            outer_src: sa.remote.ip(),
            outer_dst: sa.local.ip(),
            udp_encap: sa.udp_encap,
            data: &mut pkt[body..data_end],
        }))
    }

    /// The next soft/hard expiry, if any is due at `now` (volume and sequence-number events
    /// are queued as packets cross them; time limits are checked here). Call until `None`.
    pub fn poll_expiry(&mut self, now: Instant) -> Option<ExpiryEvent> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        for spi in &self.spd {
            let Some(sa) = self.sas.get_mut(spi) else {
                continue;
            };
            if sa.outbound == Outbound::Retired {
                // Its successor carries the traffic; the engine has forgotten it already.
                continue;
            }
            while let Some(kind) = sa.life.check_time(now) {
                self.events.push_back(sa.event(kind, ExpiryCause::Time));
            }
        }
        self.events.pop_front()
    }

    /// When the next time limit falls due; call [`DataPlane::poll_expiry`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas
            .values()
            .filter(|sa| sa.outbound != Outbound::Retired)
            .filter_map(|sa| sa.life.next_deadline())
            .min()
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl DataPlane {
    /// Seals an arbitrary plaintext (payload, padding and trailer chosen by the caller) as the
    /// peer of inbound SA `spi_in` would: for tests of the post-decryption checks.
    pub(crate) fn seal_as_peer(&self, spi_in: u32, seq: u64, plaintext: &[u8]) -> Option<Vec<u8>> {
        let sa = self.sas.get(&spi_in)?;
        let body = ESP_HDR + sa.inb.iv_len();
        let mut pkt = vec![0u8; body + plaintext.len() + sa.inb.icv_len()];
        pkt[..4].copy_from_slice(&spi_in.to_be_bytes());
        pkt[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        pkt[body..body + plaintext.len()].copy_from_slice(plaintext);
        sa.inb.seal(seq, sa.esn, &mut pkt).ok()?;
        Some(pkt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{EncrAlg, IntegAlg, Lifetime, Limits};
    use std::time::Duration;
    use zeroize::Zeroizing;

    const A_IN: u32 = 0xa1;
    const B_IN: u32 = 0xb1;

    fn params(
        encr: EncrAlg,
        integ: IntegAlg,
        esn: bool,
        lifetime: Lifetime,
    ) -> (SaParams, SaParams) {
        let net = |lo: &str, hi: &str| Selector {
            start_addr: lo.parse().unwrap(),
            end_addr: hi.parse().unwrap(),
            ..Selector::any(false)
        };
        let a = SaParams {
            spi_in: A_IN,
            spi_out: B_IN,
            encr,
            integ,
            esn,
            encr_key_in: Zeroizing::new(vec![1; encr.key_len()]),
            integ_key_in: Zeroizing::new(vec![2; integ.key_len()]),
            encr_key_out: Zeroizing::new(vec![3; encr.key_len()]),
            integ_key_out: Zeroizing::new(vec![4; integ.key_len()]),
            local_ts: vec![net("10.1.0.0", "10.1.255.255")],
            remote_ts: vec![net("10.2.0.0", "10.2.255.255")],
            mode: Mode::Tunnel,
            local: "192.0.2.1:4500".parse().unwrap(),
            remote: "192.0.2.2:4500".parse().unwrap(),
            udp_encap: true,
            lifetime,
            replay_window: 64,
        };
        let b = SaParams {
            spi_in: B_IN,
            spi_out: A_IN,
            encr_key_in: a.encr_key_out.clone(),
            integ_key_in: a.integ_key_out.clone(),
            encr_key_out: a.encr_key_in.clone(),
            integ_key_out: a.integ_key_in.clone(),
            local_ts: a.remote_ts.clone(),
            remote_ts: a.local_ts.clone(),
            local: a.remote,
            remote: a.local,
            ..a.clone()
        };
        (a, b)
    }

    fn setup(
        encr: EncrAlg,
        integ: IntegAlg,
        esn: bool,
        lt: Lifetime,
        now: Instant,
    ) -> (DataPlane, DataPlane) {
        let (a, b) = params(encr, integ, esn, lt);
        let mut da = DataPlane::new();
        da.install(a, now).unwrap();
        let mut db = DataPlane::new();
        db.install(b, now).unwrap();
        (da, db)
    }

    fn ip4(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len.max(20)];
        p[0] = 0x45;
        let n = p.len() as u16;
        p[2..4].copy_from_slice(&n.to_be_bytes());
        p[9] = 253; // experimental protocol: no ports
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p
    }

    fn a_to_b() -> Vec<u8> {
        ip4([10, 1, 0, 1], [10, 2, 0, 1], 100)
    }

    fn enc(d: &mut DataPlane, inner: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; inner.len() + MAX_OVERHEAD];
        d.encapsulate(inner, &mut buf).unwrap().packet.to_vec()
    }

    fn gcm() -> (EncrAlg, IntegAlg) {
        (EncrAlg::AesGcm16 { key_bits: 128 }, IntegAlg::None)
    }

    /// The in-place path produces the same octets as the copying one (same keys, same
    /// sequence numbers), in tunnel and transport mode, for every cipher family; the peer
    /// decrypts them; a packet no SA carries leaves the buffer untouched.
    #[test]
    fn in_place_matches_copying_encapsulation() {
        for mode in [Mode::Tunnel, Mode::Transport] {
            for (encr, integ) in [
                gcm(),
                (EncrAlg::ChaCha20Poly1305, IntegAlg::None),
                (EncrAlg::AesCbc { key_bits: 256 }, IntegAlg::HmacSha512_256),
            ] {
                let now = Instant::now();
                let (mut a, b) = params(encr, integ, false, Lifetime::default());
                a.mode = mode;
                let b = SaParams { mode, ..b };
                let (mut copy, mut in_place, mut peer) =
                    (DataPlane::new(), DataPlane::new(), DataPlane::new());
                copy.install(a.clone(), now).unwrap();
                in_place.install(a, now).unwrap();
                peer.install(b, now).unwrap();
                for len in [20, 21, 100, 1400] {
                    let inner = ip4([10, 1, 0, 1], [10, 2, 0, 1], len);
                    let expect = enc(&mut copy, &inner);
                    let mut buf = vec![0xeeu8; IN_PLACE_HEADROOM + len + MAX_OVERHEAD];
                    buf[IN_PLACE_HEADROOM..IN_PLACE_HEADROOM + len].copy_from_slice(&inner);
                    let got = in_place
                        .encapsulate_in_place(&mut buf, IN_PLACE_HEADROOM, len)
                        .unwrap()
                        .packet
                        .to_vec();
                    assert_eq!(got, expect, "{mode:?} {encr:?} {len}");
                    let mut p = got.clone();
                    assert!(peer.decapsulate(&mut p).is_ok(), "{mode:?} {encr:?} {len}");
                }
                // No headroom: refused, nothing sent.
                let inner = a_to_b();
                let mut buf = inner.clone();
                buf.resize(inner.len() + MAX_OVERHEAD, 0);
                if mode == Mode::Tunnel {
                    assert!(matches!(
                        in_place.encapsulate_in_place(&mut buf, 0, inner.len()),
                        Err(EncapError::BufferTooSmall { .. })
                    ));
                }
                // No SA for it: the inner packet is left as it was (trap policies read it).
                let stray = ip4([10, 9, 0, 1], [10, 8, 0, 1], 60);
                let mut buf = vec![0u8; IN_PLACE_HEADROOM + 60 + MAX_OVERHEAD];
                buf[IN_PLACE_HEADROOM..IN_PLACE_HEADROOM + 60].copy_from_slice(&stray);
                let before = buf.clone();
                assert!(matches!(
                    in_place.encapsulate_in_place(&mut buf, IN_PLACE_HEADROOM, 60),
                    Err(EncapError::NoPolicy)
                ));
                assert_eq!(buf, before);
            }
        }
    }

    #[test]
    fn esn_rollover_with_reordering() {
        for (encr, integ) in [
            gcm(),
            (EncrAlg::ChaCha20Poly1305, IntegAlg::None),
            (EncrAlg::AesCbc { key_bits: 128 }, IntegAlg::HmacSha256_128),
        ] {
            let now = Instant::now();
            let (mut da, mut db) = setup(encr, integ, true, Lifetime::default(), now);
            let start = (1u64 << 32) - 3;
            da.sas.get_mut(&A_IN).unwrap().seq_out = start;
            db.sas.get_mut(&B_IN).unwrap().replay.update(start);
            let pkts: Vec<Vec<u8>> = (0..6).map(|_| enc(&mut da, &a_to_b())).collect();
            // Low halves on the wire: fffffffe, ffffffff, 0, 1, 2, 3.
            let lows: Vec<u32> = pkts
                .iter()
                .map(|p| u32::from_be_bytes(p[4..8].try_into().unwrap()))
                .collect();
            assert_eq!(lows, [0xffff_fffe, 0xffff_ffff, 0, 1, 2, 3]);
            for i in [0, 2, 1, 4, 3, 5] {
                let mut p = pkts[i].clone();
                assert!(db.decapsulate(&mut p).is_ok(), "{encr:?} packet {i}");
            }
            assert_eq!(db.sa(B_IN).unwrap().seq_in, (1 << 32) + 3);
            for i in [1, 3] {
                let mut p = pkts[i].clone();
                assert!(matches!(
                    db.decapsulate(&mut p),
                    Err(DecapError::Replay { .. })
                ));
            }
            assert_eq!(db.sa(B_IN).unwrap().counters.replay_drops, 2);
        }
    }

    #[test]
    fn sequence_exhaustion_without_esn() {
        let now = Instant::now();
        let (mut da, mut db) = setup(gcm().0, gcm().1, false, Lifetime::default(), now);
        da.sas.get_mut(&A_IN).unwrap().seq_out = u64::from(u32::MAX) - 1;
        let mut last = enc(&mut da, &a_to_b());
        assert_eq!(&last[4..8], &[0xff; 4]);
        let mut buf = [0u8; 256];
        assert_eq!(
            da.encapsulate(&a_to_b(), &mut buf).unwrap_err(),
            EncapError::SequenceExhausted { spi_out: B_IN }
        );
        assert_eq!(
            da.poll_expiry(now),
            Some(ExpiryEvent {
                spi_in: A_IN,
                spi_out: B_IN,
                kind: ExpiryKind::Hard,
                cause: ExpiryCause::SequenceNumber
            })
        );
        assert_eq!(da.poll_expiry(now), None);
        assert_eq!(
            da.encapsulate(&a_to_b(), &mut buf).unwrap_err(),
            EncapError::Expired { spi_out: B_IN }
        );
        // The receiver accepts 2^32-1 without ESN (no inference involved).
        db.sas
            .get_mut(&B_IN)
            .unwrap()
            .replay
            .update(u64::from(u32::MAX) - 1);
        assert!(db.decapsulate(&mut last).is_ok());
    }

    #[test]
    fn soft_sequence_warning_before_exhaustion() {
        let now = Instant::now();
        let (mut da, _) = setup(gcm().0, gcm().1, false, Lifetime::default(), now);
        da.sas.get_mut(&A_IN).unwrap().seq_out = u64::from(u32::MAX) - SEQ_SOFT_MARGIN - 1;
        enc(&mut da, &a_to_b());
        let ev = da.poll_expiry(now).unwrap();
        assert_eq!(
            (ev.kind, ev.cause),
            (ExpiryKind::Soft, ExpiryCause::SequenceNumber)
        );
    }

    #[test]
    fn packet_and_byte_lifetimes() {
        let now = Instant::now();
        let lt = Lifetime {
            soft: Limits {
                packets: Some(3),
                ..Limits::default()
            },
            hard: Limits {
                bytes: Some(500),
                ..Limits::default()
            },
        };
        let (mut da, mut db) = setup(gcm().0, gcm().1, false, lt, now);
        let mut kinds = vec![];
        for i in 0..5 {
            let mut p = enc(&mut da, &a_to_b());
            db.decapsulate(&mut p).unwrap();
            while let Some(ev) = da.poll_expiry(now) {
                kinds.push((i, ev.kind, ev.cause));
            }
        }
        // 3rd packet: soft by packets; 5th (500 bytes): hard by bytes.
        assert_eq!(
            kinds,
            [
                (2, ExpiryKind::Soft, ExpiryCause::Packets),
                (4, ExpiryKind::Hard, ExpiryCause::Bytes)
            ]
        );
        // The receiver counted the same and expired too.
        assert_eq!(db.poll_expiry(now).map(|e| e.kind), Some(ExpiryKind::Soft));
        assert_eq!(db.poll_expiry(now).map(|e| e.kind), Some(ExpiryKind::Hard));
        let mut buf = [0u8; 256];
        assert!(matches!(
            da.encapsulate(&a_to_b(), &mut buf),
            Err(EncapError::Expired { .. })
        ));
        assert!(da.sa(A_IN).unwrap().expired);
    }

    #[test]
    fn time_lifetimes() {
        let now = Instant::now();
        let lt = Lifetime {
            soft: Limits {
                time: Some(Duration::from_secs(10)),
                ..Limits::default()
            },
            hard: Limits {
                time: Some(Duration::from_secs(20)),
                ..Limits::default()
            },
        };
        let (mut da, mut db) = setup(gcm().0, gcm().1, false, lt, now);
        let mut p = enc(&mut da, &a_to_b());
        assert_eq!(da.poll_timeout(), Some(now + Duration::from_secs(10)));
        assert_eq!(da.poll_expiry(now + Duration::from_secs(9)), None);
        let ev = da.poll_expiry(now + Duration::from_secs(10)).unwrap();
        assert_eq!((ev.kind, ev.cause), (ExpiryKind::Soft, ExpiryCause::Time));
        assert_eq!(da.poll_timeout(), Some(now + Duration::from_secs(20)));
        // Late poll: soft and hard at once, soft is not repeated.
        let evs: Vec<_> =
            std::iter::from_fn(|| db.poll_expiry(now + Duration::from_secs(30))).collect();
        assert_eq!(
            evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [ExpiryKind::Soft, ExpiryKind::Hard]
        );
        assert_eq!(db.poll_timeout(), None);
        assert_eq!(
            db.decapsulate(&mut p).unwrap_err(),
            DecapError::Expired(B_IN)
        );
    }

    #[test]
    fn tampering_is_dropped_and_counted_without_moving_the_window() {
        for (encr, integ) in [
            gcm(),
            (EncrAlg::AesCbc { key_bits: 256 }, IntegAlg::HmacSha512_256),
        ] {
            let now = Instant::now();
            let (mut da, mut db) = setup(encr, integ, false, Lifetime::default(), now);
            let good = enc(&mut da, &a_to_b());
            for at in [4usize, 8, 20, good.len() - 1] {
                let mut bad = good.clone();
                bad[at] ^= 0x80;
                let e = db.decapsulate(&mut bad).unwrap_err();
                assert!(
                    matches!(e, DecapError::AuthFailed(_) | DecapError::Replay { .. }),
                    "{at}: {e:?}"
                );
            }
            let mut bad_spi = good.clone();
            bad_spi[3] ^= 1;
            assert_eq!(
                db.decapsulate(&mut bad_spi).unwrap_err(),
                DecapError::UnknownSpi(B_IN ^ 1)
            );
            assert_eq!(db.global_counters().unknown_spi, 1);
            let mut short = good[..20].to_vec();
            assert_eq!(
                db.decapsulate(&mut short).unwrap_err(),
                DecapError::Malformed
            );
            assert_eq!(
                db.sa(B_IN).unwrap().seq_in,
                0,
                "forgeries must not move the window"
            );
            assert!(db.sa(B_IN).unwrap().counters.auth_failures >= 3);
            let mut p = good.clone();
            assert!(db.decapsulate(&mut p).is_ok());
        }
    }

    #[test]
    fn authentic_but_bad_trailers() {
        let now = Instant::now();
        let (_, mut db) = setup(gcm().0, gcm().1, false, Lifetime::default(), now);
        let inner = a_to_b();
        let mut seq = 0;
        let mut try_pt = |db: &mut DataPlane, pt: &[u8]| {
            seq += 1;
            let mut p = db.seal_as_peer(B_IN, seq, pt).unwrap();
            db.decapsulate(&mut p)
                .map(|d| matches!(d, Decapsulated::Dummy { .. }))
        };
        // Good: pad 1 2, pad length 2, next header 4 (100 + 4 = 104, 4-aligned).
        let mut pt = inner.clone();
        pt.extend_from_slice(&[1, 2, 2, 4]);
        assert_eq!(try_pt(&mut db, &pt), Ok(false));
        // Pad contents not monotonic.
        let n = pt.len();
        pt[n - 3] = 7;
        assert_eq!(try_pt(&mut db, &pt), Err(DecapError::BadPadding(B_IN)));
        // Pad length beyond the payload.
        assert_eq!(
            try_pt(&mut db, &[200, 4]),
            Err(DecapError::BadPadding(B_IN))
        );
        // Next header not IP in tunnel mode.
        let mut pt = inner.clone();
        pt.extend_from_slice(&[1, 2, 2, 6]);
        assert_eq!(
            try_pt(&mut db, &pt),
            Err(DecapError::BadNextHeader {
                spi: B_IN,
                next_header: 6
            })
        );
        // Next header says IPv6, packet is IPv4.
        let n = pt.len();
        pt[n - 1] = 41;
        assert!(matches!(
            try_pt(&mut db, &pt),
            Err(DecapError::BadNextHeader { .. })
        ));
        // TFC dummy: dropped silently, counted.
        assert_eq!(try_pt(&mut db, &[0xaa, 0xbb, 0, 59]), Ok(true));
        // Wrong SA: an inner packet from outside the peer's selectors.
        let mut pt = ip4([10, 9, 0, 1], [10, 2, 0, 1], 100);
        pt.extend_from_slice(&[1, 2, 2, 4]);
        assert_eq!(try_pt(&mut db, &pt), Err(DecapError::TsMismatch(B_IN)));
        // TFC padding after the inner packet is trimmed.
        let mut pt = inner.clone();
        pt.extend_from_slice(&[0; 12]);
        pt.extend_from_slice(&[1, 2, 2, 4]);
        seq += 1;
        let mut p = db.seal_as_peer(B_IN, seq, &pt).unwrap();
        let Ok(Decapsulated::Packet(got)) = db.decapsulate(&mut p) else {
            panic!()
        };
        assert_eq!(got.data, &inner[..]);
        let c = db.sa(B_IN).unwrap().counters;
        assert_eq!(
            (c.pad_errors, c.bad_next_header, c.dummies, c.ts_mismatch),
            (2, 2, 1, 1)
        );
        assert_eq!(c.packets_in, 2);
    }

    #[test]
    fn spd_selection_no_policy_and_rekey() {
        let now = Instant::now();
        let (mut da, _) = setup(gcm().0, gcm().1, false, Lifetime::default(), now);
        let mut buf = [0u8; 256];
        // Outside every selector.
        assert_eq!(
            da.encapsulate(&ip4([10, 1, 0, 1], [10, 3, 0, 1], 60), &mut buf)
                .unwrap_err(),
            EncapError::NoPolicy
        );
        assert_eq!(
            da.encapsulate(&ip4([10, 7, 0, 1], [10, 2, 0, 1], 60), &mut buf)
                .unwrap_err(),
            EncapError::NoPolicy
        );
        assert_eq!(da.global_counters().no_policy, 2);
        assert_eq!(
            da.encapsulate(&[0x45, 0], &mut buf).unwrap_err(),
            EncapError::MalformedInner
        );
        assert_eq!(
            da.encapsulate(&a_to_b(), &mut buf[..50]).unwrap_err(),
            EncapError::BufferTooSmall {
                needed: 8 + 8 + 104 + 16
            }
        );
        // A rekeyed SA with the same selectors takes over outbound traffic.
        let (mut a2, _) = params(gcm().0, gcm().1, false, Lifetime::default());
        a2.spi_in = 0xa2;
        a2.spi_out = 0xb2;
        da.install(a2.clone(), now).unwrap();
        assert_eq!(
            da.install(a2, now).unwrap_err(),
            InstallError::DuplicateSpi(0xa2)
        );
        assert_eq!(da.encapsulate(&a_to_b(), &mut buf).unwrap().spi, 0xb2);
        assert!(da.remove(0xa2).is_some());
        assert_eq!(da.encapsulate(&a_to_b(), &mut buf).unwrap().spi, B_IN);
        assert_eq!(da.sas().count(), 1);
    }

    /// The rekeyed pair (SPIs a2/b2) with the same selectors and fresh keys.
    fn rekeyed() -> (SaParams, SaParams) {
        let (mut a, mut b) = params(gcm().0, gcm().1, false, Lifetime::default());
        (a.spi_in, a.spi_out, b.spi_in, b.spi_out) = (0xa2, 0xb2, 0xb2, 0xa2);
        a.encr_key_in = Zeroizing::new(vec![5; a.encr_key_in.len()]);
        a.encr_key_out = Zeroizing::new(vec![6; a.encr_key_out.len()]);
        b.encr_key_in = a.encr_key_out.clone();
        b.encr_key_out = a.encr_key_in.clone();
        (a, b)
    }

    fn out_spi(d: &mut DataPlane) -> u32 {
        let mut buf = [0u8; 256];
        d.encapsulate(&a_to_b(), &mut buf).unwrap().spi
    }

    #[test]
    fn inbound_only_sa_activates_on_first_packet() {
        let now = Instant::now();
        let (mut da, mut db) = setup(gcm().0, gcm().1, false, Lifetime::default(), now);
        let (a2, b2) = rekeyed();
        // A answered the rekey: new SA inbound-only, A keeps sending on the old one.
        da.install_inbound_only(a2, now).unwrap();
        assert_eq!(da.sa(0xa2).unwrap().outbound, Outbound::InboundOnly);
        assert_eq!(out_spi(&mut da), B_IN);
        assert_eq!(da.poll_activated(), None);
        // B (initiator) got the response: installs fully, switches at once.
        db.install(b2, now).unwrap();
        let mut b_to_a = ip4([10, 2, 0, 1], [10, 1, 0, 1], 100);
        let mut on_new = enc(&mut db, &b_to_a);
        assert_eq!(&on_new[..4], &0xa2u32.to_be_bytes());
        // A forged packet on the new SA does not switch anything.
        let mut forged = on_new.clone();
        let n = forged.len();
        forged[n - 1] ^= 1;
        assert!(da.decapsulate(&mut forged).is_err());
        assert_eq!(out_spi(&mut da), B_IN);
        // The first authentic packet on the new SA does (RFC 7296 §2.8).
        assert!(da.decapsulate(&mut on_new).is_ok());
        assert_eq!(
            da.poll_activated(),
            Some(Activated {
                spi_in: 0xa2,
                spi_out: 0xb2,
                cause: ActivationCause::FirstPacket
            })
        );
        assert_eq!(da.poll_activated(), None);
        assert_eq!(out_spi(&mut da), 0xb2);
        // The engine's later ActivateChildSa is a no-op.
        assert!(da.activate(0xa2));
        assert_eq!(da.poll_activated(), None);
        assert_eq!(out_spi(&mut da), 0xb2);
        // B's packets sent on the old SA before it switched still decapsulate...
        db.remove(0xb2);
        b_to_a = ip4([10, 2, 0, 1], [10, 1, 0, 2], 80);
        let mut straggler = enc(&mut db, &b_to_a);
        assert_eq!(&straggler[..4], &A_IN.to_be_bytes());
        // ...also after the old SA was retired (RemoveChildSa), until it is removed.
        assert!(da.retire(A_IN));
        assert_eq!(out_spi(&mut da), 0xb2);
        assert!(da.decapsulate(&mut straggler.clone()).is_ok());
        assert!(da.remove(A_IN).is_some());
        assert_eq!(
            da.decapsulate(&mut straggler).unwrap_err(),
            DecapError::UnknownSpi(A_IN)
        );
    }

    #[test]
    fn inbound_only_sa_takes_over_when_engine_activates_or_old_sa_goes() {
        let now = Instant::now();
        let (mut da, _) = setup(gcm().0, gcm().1, false, Lifetime::default(), now);
        let (a2, _) = rekeyed();
        da.install_inbound_only(a2.clone(), now).unwrap();
        assert_eq!(out_spi(&mut da), B_IN);
        assert!(da.activate(0xa2));
        assert_eq!(out_spi(&mut da), 0xb2);
        assert_eq!(
            da.poll_activated(),
            None,
            "engine activations are not reported back"
        );
        assert!(!da.activate(0x99));

        // RemoveChildSa(old) before ActivateChildSa(new): the next packet uses the new SA.
        let (mut da, _) = setup(gcm().0, gcm().1, false, Lifetime::default(), now);
        da.install_inbound_only(a2, now).unwrap();
        assert!(da.retire(A_IN));
        assert_eq!(out_spi(&mut da), 0xb2);
        assert_eq!(
            da.poll_activated().map(|a| (a.spi_in, a.cause)),
            Some((0xa2, ActivationCause::NoActiveSa))
        );
        assert_eq!(da.sa(0xa2).unwrap().outbound, Outbound::Active);
        // A retired SA is never selected again and raises no expiry events.
        assert!(!da.activate(A_IN));
        da.remove(0xa2);
        let mut buf = [0u8; 256];
        assert_eq!(
            da.encapsulate(&a_to_b(), &mut buf).unwrap_err(),
            EncapError::NoPolicy
        );
    }

    #[test]
    fn retired_sa_raises_no_expiry() {
        let now = Instant::now();
        let lt = Lifetime {
            soft: Limits {
                time: Some(Duration::from_secs(1)),
                bytes: Some(1),
                ..Limits::default()
            },
            ..Lifetime::default()
        };
        let (mut da, mut db) = setup(gcm().0, gcm().1, false, lt, now);
        let mut p = enc(&mut db, &ip4([10, 2, 0, 1], [10, 1, 0, 1], 100));
        da.retire(A_IN);
        assert!(da.decapsulate(&mut p).is_ok());
        assert_eq!(da.poll_timeout(), None);
        assert_eq!(da.poll_expiry(now + Duration::from_secs(5)), None);
        // Not retired, the same traffic and time would have fired.
        assert!(db.poll_expiry(now + Duration::from_secs(5)).is_some());
    }

    /// Records what it is asked to build and delegates to aws-lc (or refuses everything).
    struct Recording {
        built: std::sync::Mutex<Vec<(u16, Option<u16>, u16)>>,
        refuse: bool,
    }

    impl EspCipherFactory for Recording {
        fn key_lengths(&self, e: u16, b: Option<u16>, i: u16) -> Option<(usize, usize)> {
            AwsLcEspCiphers.key_lengths(e, b, i)
        }
        fn build(
            &self,
            e: u16,
            b: Option<u16>,
            i: u16,
            ek: &[u8],
            ik: &[u8],
        ) -> Result<Box<dyn pqike_crypto::EspCipher>, pqike_crypto::CryptoError> {
            self.built.lock().unwrap().push((e, b, i));
            if self.refuse {
                return Err(pqike_crypto::CryptoError::Unsupported("refused".into()));
            }
            AwsLcEspCiphers.build(e, b, i, ek, ik)
        }
    }

    #[test]
    fn ciphers_come_from_the_given_provider_part() {
        let f = Arc::new(Recording {
            built: Default::default(),
            refuse: false,
        });
        let (a, b) = params(
            EncrAlg::AesCbc { key_bits: 192 },
            IntegAlg::HmacSha384_192,
            true,
            Lifetime::default(),
        );
        let mut da = DataPlane::with_ciphers(f.clone());
        da.install(a, Instant::now()).unwrap();
        // One cipher per direction, asked for by IKEv2 transform IDs.
        assert_eq!(*f.built.lock().unwrap(), vec![(12, Some(192), 13); 2]);
        // And they work against a data plane with the default ciphers.
        let mut db = DataPlane::new();
        db.install(b, Instant::now()).unwrap();
        let mut pkt = enc(&mut da, &a_to_b());
        assert!(db.decapsulate(&mut pkt).is_ok());

        let refusing = Arc::new(Recording {
            built: Default::default(),
            refuse: true,
        });
        let (a, _) = params(gcm().0, gcm().1, false, Lifetime::default());
        let e = DataPlane::with_ciphers(refusing)
            .install(a, Instant::now())
            .unwrap_err();
        assert!(matches!(
            e,
            InstallError::UnsupportedTransform { encr: 20, .. }
        ));
    }

    #[test]
    fn install_validates_keys() {
        let (mut a, _) = params(gcm().0, gcm().1, false, Lifetime::default());
        a.encr_key_in = Zeroizing::new(vec![0; 16]); // salt missing
        let e = DataPlane::new().install(a, Instant::now()).unwrap_err();
        assert!(matches!(
            e,
            InstallError::KeyLength {
                got: 16,
                want: 20,
                ..
            }
        ));
        assert!(EncrAlg::from_ids(20, Some(192), 0).is_err());
        assert!(
            EncrAlg::from_ids(12, Some(128), 0).is_err(),
            "CBC needs integrity"
        );
        assert!(
            EncrAlg::from_ids(20, Some(128), 12).is_err(),
            "AEAD takes no integrity"
        );
        assert_eq!(
            EncrAlg::from_ids(28, None, 0).unwrap(),
            (EncrAlg::ChaCha20Poly1305, IntegAlg::None)
        );
    }
}
