//! CREATE_CHILD_SA (RFC 7296 §1.3): new Child SAs, Child SA rekeying (§1.3.3, N(REKEY_SA)) and
//! IKE SA rekeying (§1.3.2), each with an optional PFS key exchange and RFC 9370 additional key
//! exchanges in IKE_FOLLOWUP_KE rounds (§2.2.4).
//!
//! Flow with additional key exchanges (RFC 9370 §2.2.4):
//! ```text
//! CREATE_CHILD_SA  SA Ni KEi(0) [TS]          -->
//!                  <--  SA Nr KEr(0) [TS] N(ADDITIONAL_KEY_EXCHANGE, link1)
//! IKE_FOLLOWUP_KE  N(ADDITIONAL_KEY_EXCHANGE, link1) KEi(1) -->
//!                  <--  KEr(1) [N(ADDITIONAL_KEY_EXCHANGE, link2) if more rounds remain]
//! ```
//! The responder keeps the negotiation under the link value; an unknown link gets
//! STATE_NOT_FOUND. Keys come only after the last round: KEYMAT = prf+(SK_d, SK(0) | Ni | Nr |
//! SK(1) | ... | SK(n)) for a child, SKEYSEED = prf(SK_d(old), SK(0) | Ni | Nr | SK(1) | ...) for
//! an IKE SA ([`crate::tasks::rekey_ike`]).
//!
//! Errors in these exchanges fail only the Child SA / rekey, never the IKE SA (§2.21.3), except
//! an ML-KEM decapsulation failure, after which the IKE SA is deleted (ML-KEM draft §3).
use crate::exchange::Received;
use crate::notify::{find_notify, first_error, notify_name, IkeError};
use crate::proposal::{accept_reply, build_proposals, select, Selected};
use crate::sa_data::{ChildState, Collision};
use crate::tasks::ike_init::{random, supported, NONCE_LEN};
use crate::tasks::manager::{Ctx, IkeSa, Queued};
use crate::tasks::rekey::{self, RETRY_DELAY};
use crate::tasks::{child, rekey_ike, Pending};
use crate::ts::{is_subset, narrow};
use crate::{Event, IpsecMode, ProposalConfig};
use pqike_crypto::ActiveKeyExchange;
use pqike_wire::{
    Delete, ExchangeType, KeMethod, Notify, NotifyType, Payload, Proposal, ProtocolId,
    TrafficSelector,
};
use std::collections::VecDeque;
use std::time::Instant;
use zeroize::Zeroizing;

/// Length of our IKE_FOLLOWUP_KE link values (RFC 9370 leaves the content to the responder).
const LINK_LEN: usize = 8;
const MAX_INVALID_KE_TRIES: u32 = 3;

/// What a CREATE_CHILD_SA exchange creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A further Child SA from child config `cfg`.
    NewChild { cfg: usize },
    /// A replacement for the child with inbound SPI `old_spi_in`.
    RekeyChild { cfg: usize, old_spi_in: u32 },
    /// A replacement IKE SA.
    RekeyIke,
}

/// A negotiation whose proposal is chosen; complete once `rounds` is empty.
pub(crate) struct Negotiated {
    pub kind: Kind,
    pub sel: Selected,
    /// Our and the peer's new SPI (4 octets for children, 8 for an IKE SA).
    pub our_spi: u64,
    pub peer_spi: u64,
    /// Nonces of this exchange: its initiator's and its responder's.
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// We sent the CREATE_CHILD_SA request.
    pub we_initiated: bool,
    /// SK(0) (type-4 KE, if any) then SK(1).. of the rounds done.
    pub shared: Vec<Zeroizing<Vec<u8>>>,
    /// Additional key exchanges still to run.
    pub rounds: VecDeque<KeMethod>,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: IpsecMode,
    /// RFC 9867 §4: the PPK both peers agreed on in this exchange, as its PPK_ID and
    /// SK_d' = prf+(PPK, SK_d), which stands in for SK_d when the new SA's keys are derived.
    pub ppk: Option<PpkMix>,
}

/// A PPK mixed into one CREATE_CHILD_SA negotiation (RFC 9867 §4).
pub(crate) struct PpkMix {
    pub id: String,
    pub sk_d: Zeroizing<Vec<u8>>,
}

/// RFC 9867: PPKs in CREATE_CHILD_SA exist only on IKE SAs that negotiated USE_PPK_INT in
/// IKE_SA_INIT (as initiator: we offered it and the responder returned it; as responder: we
/// returned it), whether or not a PPK was then used in IKE_INTERMEDIATE.
pub(crate) fn ppk_negotiated(sa: &IkeSa) -> bool {
    crate::pqauth::ppk_int_negotiated(sa) || sa.pqauth.ppk_int_chosen
}

/// PPK Confirmation for a CREATE_CHILD_SA offer: the §3 formula (first 64 bits of
/// prf(PPK, Ni | Nr | SPIi | SPIr)) over the nonces and SPIs of the IKE SA the exchange runs on
/// (see docs/rfc9867-notes.md: this binding could not be checked against the RFC text).
fn ppk_confirmation(sa: &IkeSa, prf: &dyn pqike_crypto::Prf, ppk: &[u8]) -> [u8; 8] {
    crate::ppk::confirmation(prf, ppk, &sa.ni, &sa.nr, sa.spi_i, sa.spi_r)
}

/// SK_d' = prf+(PPK, SK_d) of the IKE SA the exchange runs on.
fn ppk_mix(sa: &IkeSa, ctx: &Ctx<'_>, id: String, ppk: &[u8]) -> Result<PpkMix, IkeError> {
    let prf = sa.prf(ctx.crypto)?;
    let sk_d = crate::ppk::mix(prf, ppk, &sa.keys()?.prf.sk_d);
    Ok(PpkMix { id, sk_d })
}

/// Responder: the first offered PPK_IDENTITY_KEY we hold a secret for and whose confirmation
/// matches; `offered` lists every offered id for the log.
fn pick_offered_ppk(
    sa: &IkeSa,
    ctx: &Ctx<'_>,
    payloads: &[Payload],
    offered: &mut Vec<String>,
) -> Result<Option<(Vec<u8>, PpkMix)>, IkeError> {
    let (_, key) = crate::pqauth::ppk_int_numbers(&sa.conn);
    let prf = sa.prf(ctx.crypto)?;
    for p in payloads {
        let Payload::Notify(n) = p else { continue };
        if n.notify_type != key || n.data.len() < 1 + 1 + 8 {
            continue;
        }
        let (ident, confirm) = n.data.split_at(n.data.len() - 8);
        let Ok(id) = crate::ppk::parse_identity(ident) else {
            continue;
        };
        let shown = crate::ppk::display_id(id);
        offered.push(shown.clone());
        let Some(secret) = crate::ppk::find(ctx.creds, id) else {
            continue;
        };
        if !pqike_crypto::ct_eq(&ppk_confirmation(sa, prf, secret), confirm) {
            tracing::warn!(
                sa = sa.id.0,
                "PPK confirmation for '{shown}' in CREATE_CHILD_SA does not match: the peers \
                 hold different secrets"
            );
            continue;
        }
        return Ok(Some((ident.to_vec(), ppk_mix(sa, ctx, shown, secret)?)));
    }
    Ok(None)
}

/// Responder: a negotiation waiting for its next IKE_FOLLOWUP_KE.
pub(crate) struct FollowupState {
    pub link: Vec<u8>,
    pub created: Instant,
    pub neg: Negotiated,
}

/// Initiator state of the CREATE_CHILD_SA request.
pub(crate) struct CreateState {
    kind: Kind,
    spi: u64,
    nonce: Vec<u8>,
    proposals: Vec<Proposal>,
    ke: Option<(KeMethod, Box<dyn ActiveKeyExchange>)>,
    tsi: Vec<TrafficSelector>,
    tsr: Vec<TrafficSelector>,
    mode: IpsecMode,
    invalid_ke_tries: u32,
    /// RFC 9867 §4: the PPK_ID we offer in this exchange.
    ppk_offer: Option<String>,
}

/// Our outstanding lifecycle request.
pub(crate) enum Task {
    Create(CreateState),
    Followup {
        neg: Negotiated,
        ke: Box<dyn ActiveKeyExchange>,
        method: KeMethod,
    },
    DeleteChild {
        spi_in: u32,
    },
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::NewChild { .. } => "new CHILD_SA",
        Kind::RekeyChild { .. } => "CHILD_SA rekey",
        Kind::RekeyIke => "IKE_SA rekey",
    }
}

/// A fresh child SPI (1..=255 are reserved, RFC 4303 §2.1).
fn child_spi(ctx: &Ctx<'_>) -> Result<u64, IkeError> {
    loop {
        let mut b = [0u8; 4];
        ctx.rng.fill(&mut b)?;
        let spi = u32::from_be_bytes(b);
        if spi > 255 {
            return Ok(u64::from(spi));
        }
    }
}

/// A fresh non-zero IKE SPI (collisions with existing SAs are checked when the endpoint adopts
/// the new SA).
fn ike_spi(ctx: &Ctx<'_>) -> Result<u64, IkeError> {
    loop {
        let mut b = [0u8; 8];
        ctx.rng.fill(&mut b)?;
        let spi = u64::from_be_bytes(b);
        if spi != 0 {
            return Ok(spi);
        }
    }
}

/// The IKE proposals for a rekey: the configured ones with the PRF fixed to the current one.
/// strongSwan and libreswan disagree on which PRF derives the new SKEYSEED when it changes
/// (RFC 7296 §2.18 says the old one); keeping it fixed sidesteps that.
fn ike_rekey_configs(sa: &IkeSa) -> Result<Vec<ProposalConfig>, IkeError> {
    let prf = sa
        .algs
        .ok_or_else(|| IkeError::Config("no algorithms".into()))?
        .prf;
    Ok(sa
        .conn
        .proposals
        .iter()
        .filter(|p| p.prf.contains(&prf))
        .map(|p| ProposalConfig {
            prf: vec![prf],
            ..p.clone()
        })
        .collect())
}

/// Initiator: start a CREATE_CHILD_SA exchange.
pub(crate) fn start(sa: &mut IkeSa, ctx: &mut Ctx<'_>, kind: Kind) -> Result<(), IkeError> {
    let conn = sa.conn.clone();
    let (configs, spi, protocol, tsi, tsr, mode) = match kind {
        Kind::NewChild { cfg } | Kind::RekeyChild { cfg, .. } => {
            let child = conn
                .children
                .get(cfg)
                .ok_or_else(|| IkeError::Config("child config gone".into()))?;
            // §2.8: a rekey keeps the old SA's traffic selectors.
            let (tsi, tsr) = match kind {
                Kind::RekeyChild { old_spi_in, .. } => {
                    let old = rekey::child_mut(sa, old_spi_in)
                        .ok_or_else(|| IkeError::Config("child to rekey is gone".into()))?;
                    old.life.state = ChildState::Rekeying;
                    old.life.collision = None;
                    (old.status.local_ts.clone(), old.status.remote_ts.clone())
                }
                _ => (child.local_ts.clone(), child.remote_ts.clone()),
            };
            (
                child.esp_proposals.clone(),
                child_spi(ctx)?,
                ProtocolId::ESP,
                tsi,
                tsr,
                child.mode,
            )
        }
        Kind::RekeyIke => {
            sa.life.rekeying = true;
            sa.life.ike_collision = None;
            (
                ike_rekey_configs(sa)?,
                ike_spi(ctx)?,
                ProtocolId::IKE,
                Vec::new(),
                Vec::new(),
                IpsecMode::Tunnel,
            )
        }
    };
    let spi_bytes = if protocol == ProtocolId::IKE {
        spi.to_be_bytes().to_vec()
    } else {
        (spi as u32).to_be_bytes().to_vec()
    };
    let proposals = build_proposals(&configs, protocol, &spi_bytes);
    let method = configs
        .iter()
        .find_map(|p| p.ke.iter().copied().find(|m| *m != KeMethod::NONE));
    if kind == Kind::RekeyIke && method.is_none() {
        sa.life.rekeying = false;
        return Err(IkeError::Config(
            "IKE rekey needs a key exchange method".into(),
        ));
    }
    let ke = match method {
        Some(m) => Some((m, start_ke(ctx, m)?)),
        None => None,
    };
    let ppk_offer = if conn.auth_ext.ppk_create_child && ppk_negotiated(sa) {
        match conn.auth_ext.ppk_id.as_deref() {
            Some(id) if crate::ppk::find(ctx.creds, id.as_bytes()).is_some() => {
                Some(id.to_string())
            }
            Some(id) => {
                tracing::warn!(
                    sa = sa.id.0,
                    "no PPK secret for '{id}': {} without PPK",
                    kind_name(kind)
                );
                None
            }
            None => None,
        }
    } else {
        None
    };
    let st = CreateState {
        kind,
        spi,
        nonce: Vec::new(),
        proposals,
        ke,
        tsi,
        tsr,
        mode,
        invalid_ke_tries: 0,
        ppk_offer,
    };
    send_create(sa, ctx, st)
}

fn start_ke(ctx: &Ctx<'_>, m: KeMethod) -> Result<Box<dyn ActiveKeyExchange>, IkeError> {
    let kex = ctx
        .crypto
        .key_exchange(m.0)
        .ok_or_else(|| IkeError::Config(format!("{m} unsupported")))?;
    Ok(kex.start()?)
}

fn send_create(sa: &mut IkeSa, ctx: &mut Ctx<'_>, mut st: CreateState) -> Result<(), IkeError> {
    st.nonce = random(ctx.rng, NONCE_LEN)?;
    let mut payloads = Vec::new();
    if let Kind::RekeyChild { old_spi_in, .. } = st.kind {
        // §1.3.3: REKEY_SA names the SA being rekeyed by our inbound SPI.
        payloads.push(Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            spi: old_spi_in.to_be_bytes().to_vec(),
            notify_type: NotifyType::REKEY_SA,
            data: Vec::new(),
        }));
    }
    if st.kind != Kind::RekeyIke && st.mode == IpsecMode::Transport {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            vec![],
        )));
    }
    payloads.push(Payload::Sa(st.proposals.clone()));
    payloads.push(Payload::Nonce(st.nonce.clone()));
    if let Some((m, ke)) = &st.ke {
        payloads.push(Payload::Ke {
            method: *m,
            data: ke.public_data().to_vec(),
        });
    }
    if st.kind != Kind::RekeyIke {
        payloads.push(Payload::TsI(st.tsi.clone()));
        payloads.push(Payload::TsR(st.tsr.clone()));
    }
    if let Some(id) = &st.ppk_offer {
        // RFC 9867 §4: offer the PPK as in IKE_INTERMEDIATE: PPK_ID Type | PPK_ID | PPK
        // Confirmation, in a status notify a peer without support ignores (RFC 7296 §3.10.1).
        let secret = crate::ppk::find(ctx.creds, id.as_bytes())
            .ok_or_else(|| IkeError::Config("PPK secret vanished".into()))?;
        let prf = sa.prf(ctx.crypto)?;
        let mut data = crate::ppk::identity_data(id);
        data.extend_from_slice(&ppk_confirmation(sa, prf, secret));
        let (_, key) = crate::pqauth::ppk_int_numbers(&sa.conn);
        payloads.push(Payload::Notify(Notify::new(key, data)));
        tracing::debug!(
            sa = sa.id.0,
            "offering PPK '{id}' in CREATE_CHILD_SA (RFC 9867)"
        );
    }
    tracing::info!(sa = sa.id.0, "starting {}", kind_name(st.kind));
    sa.send_request(
        ctx,
        ExchangeType::CREATE_CHILD_SA,
        &payloads,
        Pending::Lifecycle(Box::new(Task::Create(st))),
    )?;
    Ok(())
}

/// Initiator: delete one Child SA (hard expiry, the old SA after a rekey, a redundant SA).
pub(crate) fn start_delete_child(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    spi_in: u32,
) -> Result<(), IkeError> {
    if let Some(c) = rekey::child_mut(sa, spi_in) {
        c.life.state = ChildState::Deleting;
    }
    let d = Payload::Delete(Delete {
        protocol: ProtocolId::ESP,
        spi_size: 4,
        spis: vec![spi_in.to_be_bytes().to_vec()],
    });
    sa.send_request(
        ctx,
        ExchangeType::INFORMATIONAL,
        &[d],
        Pending::Lifecycle(Box::new(Task::DeleteChild { spi_in })),
    )?;
    Ok(())
}

/// Remove a child from the SA and the data plane.
fn remove_child(sa: &mut IkeSa, ctx: &mut Ctx<'_>, spi_in: u32) {
    if let Some(pos) = sa.children.iter().position(|c| c.status.spi_in == spi_in) {
        let c = sa.children.remove(pos);
        tracing::info!(
            sa = sa.id.0,
            "CHILD_SA {} {:08x}_i {:08x}_o removed",
            c.status.name,
            c.status.spi_in,
            c.status.spi_out
        );
        ctx.out.events.push_back(Event::RemoveChildSa {
            ike_sa: sa.id,
            spi_in: c.status.spi_in,
            spi_out: c.status.spi_out,
        });
    }
}

/// Initiator: a response to one of our lifecycle requests. `Err` fails the IKE SA.
pub(crate) fn process_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    task: Task,
    msg: &Received,
) -> Result<(), IkeError> {
    match task {
        Task::DeleteChild { spi_in } => {
            // §1.4.1: only now may the old inbound SA go; traffic already moved to the new one.
            remove_child(sa, ctx, spi_in);
            Ok(())
        }
        Task::Create(st) => create_response(sa, ctx, st, msg),
        Task::Followup { neg, ke, method } => followup_response(sa, ctx, neg, ke, method, msg),
    }
}

/// The exchange failed for this SA only: log, restore the old SA's state, schedule a retry.
fn fail_kind(sa: &mut IkeSa, ctx: &mut Ctx<'_>, kind: Kind, why: &str, notify: Option<NotifyType>) {
    tracing::warn!(sa = sa.id.0, "{} failed: {why}", kind_name(kind));
    let temporary = notify == Some(NotifyType::TEMPORARY_FAILURE);
    // Retry soon, but well before the hard lifetime ends (short lifetimes leave little room).
    let now = ctx.now;
    let retry_before = |expire: Option<Instant>| {
        let room = expire.map_or(RETRY_DELAY, |t| t.saturating_duration_since(now) / 2);
        now + RETRY_DELAY.min(room)
    };
    match kind {
        Kind::NewChild { .. } => {}
        Kind::RekeyChild { old_spi_in, .. } => {
            if notify == Some(NotifyType::CHILD_SA_NOT_FOUND) {
                // §2.25: the peer no longer has it (e.g. it deleted it in a collision).
                remove_child(sa, ctx, old_spi_in);
                return;
            }
            if let Some(c) = rekey::child_mut(sa, old_spi_in) {
                if c.life.state == ChildState::Rekeying {
                    c.life.state = ChildState::Installed;
                    // A collision's winner replaces it; otherwise retry.
                    if c.life.collision.is_none() {
                        c.life.rekey_at = Some(retry_before(c.life.expire_at));
                    } else {
                        c.life.state = ChildState::Rekeyed;
                    }
                }
            }
        }
        Kind::RekeyIke => {
            sa.life.rekeying = false;
            if sa.life.ike_collision.is_none() && !sa.life.rekeyed {
                sa.life.rekey_at = Some(if temporary {
                    retry_before(sa.life.expire_at)
                } else {
                    ctx.now + RETRY_DELAY * 5
                });
            }
        }
    }
}

fn find_ke(payloads: &[Payload]) -> Option<(KeMethod, &[u8])> {
    payloads.iter().find_map(|p| match p {
        Payload::Ke { method, data } => Some((*method, data.as_slice())),
        _ => None,
    })
}

fn find_nonce(payloads: &[Payload]) -> Option<&Vec<u8>> {
    payloads.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n),
        _ => None,
    })
}

fn find_sa(payloads: &[Payload]) -> Option<&Vec<Proposal>> {
    payloads.iter().find_map(|p| match p {
        Payload::Sa(v) => Some(v),
        _ => None,
    })
}

fn find_ts(payloads: &[Payload]) -> Option<(&Vec<TrafficSelector>, &Vec<TrafficSelector>)> {
    let tsi = payloads.iter().find_map(|p| match p {
        Payload::TsI(v) => Some(v),
        _ => None,
    })?;
    let tsr = payloads.iter().find_map(|p| match p {
        Payload::TsR(v) => Some(v),
        _ => None,
    })?;
    Some((tsi, tsr))
}

/// ML-KEM ciphertext failure (FIPS 203 §7.3) in our own exchange: the ML-KEM draft (§3) has the
/// IKE SA deleted; the Delete goes out with the keys both sides still share.
fn kem_failure(sa: &mut IkeSa, ctx: &mut Ctx<'_>, e: pqike_crypto::CryptoError) -> IkeError {
    let d = Payload::Delete(Delete {
        protocol: ProtocolId::IKE,
        spi_size: 0,
        spis: Vec::new(),
    });
    if let Err(e) = sa.send_request(ctx, ExchangeType::INFORMATIONAL, &[d], Pending::Delete) {
        tracing::debug!(sa = sa.id.0, "cannot send Delete: {e}");
    }
    e.into()
}

fn create_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut st: CreateState,
    msg: &Received,
) -> Result<(), IkeError> {
    let payloads = &msg.payloads;
    let kind = st.kind;
    if let Some(n) = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
        // §1.3: retry with the group the responder wants, if we offered it.
        let group = <[u8; 2]>::try_from(n.data.as_slice())
            .map(|b| KeMethod(u16::from_be_bytes(b)))
            .ok();
        let offered = group.filter(|g| {
            *g != KeMethod::NONE
                && st.proposals.iter().any(|p| {
                    p.transforms
                        .iter()
                        .any(|t| t.transform_type == pqike_wire::TransformType::KE && t.id == g.0)
                })
        });
        match offered {
            Some(g)
                if st.invalid_ke_tries < MAX_INVALID_KE_TRIES
                    && st.ke.as_ref().is_none_or(|(m, _)| *m != g) =>
            {
                tracing::info!(
                    sa = sa.id.0,
                    "peer wants {g} for the {}, retrying",
                    kind_name(kind)
                );
                st.ke = Some((g, start_ke(ctx, g)?));
                st.invalid_ke_tries += 1;
                return send_create(sa, ctx, st);
            }
            _ => {
                fail_kind(
                    sa,
                    ctx,
                    kind,
                    "INVALID_KE_PAYLOAD for a group we cannot use",
                    None,
                );
                return Ok(());
            }
        }
    }
    if let Some(n) = first_error(payloads) {
        let t = n.notify_type;
        fail_kind(
            sa,
            ctx,
            kind,
            &format!("peer sent {}", notify_name(t)),
            Some(t),
        );
        return Ok(());
    }
    let negotiated = (|| -> Result<Negotiated, &'static str> {
        let props = find_sa(payloads).ok_or("no SA payload")?;
        let sel = accept_reply(props, &st.proposals).ok_or("reply does not match our proposals")?;
        let nr = find_nonce(payloads).ok_or("no nonce")?.clone();
        let peer_spi = match kind {
            Kind::RekeyIke => <[u8; 8]>::try_from(sel.spi.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| "IKE SPI is not 8 octets")?,
            _ => <[u8; 4]>::try_from(sel.spi.as_slice())
                .map(|b| u64::from(u32::from_be_bytes(b)))
                .map_err(|_| "ESP SPI is not 4 octets")?,
        };
        if peer_spi == 0 {
            return Err("peer SPI is zero");
        }
        let (local_ts, remote_ts, mode) = if kind == Kind::RekeyIke {
            (Vec::new(), Vec::new(), IpsecMode::Tunnel)
        } else {
            let (tsi, tsr) = find_ts(payloads).ok_or("no traffic selectors")?;
            // §2.9: the responder may only narrow.
            if tsi.is_empty()
                || tsr.is_empty()
                || !is_subset(tsi, &st.tsi)
                || !is_subset(tsr, &st.tsr)
            {
                return Err("traffic selectors not a subset of ours");
            }
            let mode = if find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some() {
                IpsecMode::Transport
            } else {
                IpsecMode::Tunnel
            };
            (tsi.clone(), tsr.clone(), mode)
        };
        Ok(Negotiated {
            kind,
            rounds: sel.addke_rounds().into_iter().map(|(_, m)| m).collect(),
            sel,
            our_spi: st.spi,
            peer_spi,
            ni: st.nonce.clone(),
            nr,
            we_initiated: true,
            shared: Vec::new(),
            local_ts,
            remote_ts,
            mode,
            ppk: None,
        })
    })();
    let mut neg = match negotiated {
        Ok(n) => n,
        Err(why) => {
            fail_kind(sa, ctx, kind, why, None);
            return Ok(());
        }
    };
    if let Some(offer) = st.ppk_offer.take() {
        match ppk_response(sa, ctx, &offer, payloads)? {
            Some(mix) => neg.ppk = Some(mix),
            None if sa.conn.auth_ext.ppk_required => {
                let why = format!(
                    "peer did not use PPK '{offer}' in the {} and ppk_required is set",
                    kind_name(kind)
                );
                if kind == Kind::RekeyIke {
                    // The peer has built the new IKE SA already; we refuse it by closing the
                    // connection rather than running an IKE SA without the required PPK.
                    tracing::warn!(sa = sa.id.0, "{why}: closing the IKE SA");
                    return Err(IkeError::AuthFailed(why));
                }
                fail_kind(sa, ctx, kind, &why, None);
                // The responder installed the Child SA: delete it (our inbound SPI names it).
                sa.enqueue(Queued::DeleteChild(neg.our_spi as u32));
                return Ok(());
            }
            None => tracing::info!(
                sa = sa.id.0,
                "peer did not use PPK '{offer}' (RFC 9867): {} without PPK",
                kind_name(kind)
            ),
        }
    }
    match (neg.sel.ke.filter(|m| *m != KeMethod::NONE), st.ke.take()) {
        (Some(m), Some((sent, ke))) if m == sent => {
            let Some((rm, data)) = find_ke(payloads).filter(|(rm, _)| *rm == m) else {
                fail_kind(sa, ctx, kind, "no KE payload of the selected method", None);
                return Ok(());
            };
            let _ = rm;
            match ke.complete(data) {
                Ok(s) => neg.shared.push(s.0),
                Err(e) => return Err(kem_failure(sa, ctx, e)),
            }
        }
        (None, _) => {}
        _ => {
            fail_kind(
                sa,
                ctx,
                kind,
                "selected KE method is not the one we sent",
                None,
            );
            return Ok(());
        }
    }
    next_round_or_finish(sa, ctx, neg, payloads)
}

/// Initiator: the responder's PPK_IDENTITY (RFC 9867 §4) naming the PPK it mixed in, if any.
fn ppk_response(
    sa: &IkeSa,
    ctx: &Ctx<'_>,
    offer: &str,
    payloads: &[Payload],
) -> Result<Option<PpkMix>, IkeError> {
    let Some(n) = find_notify(payloads, NotifyType::PPK_IDENTITY) else {
        return Ok(None);
    };
    let id = crate::ppk::parse_identity(&n.data)?;
    if id != offer.as_bytes() {
        return Err(IkeError::AuthFailed(format!(
            "responder chose PPK '{}' in CREATE_CHILD_SA, we offered '{offer}'",
            crate::ppk::display_id(id)
        )));
    }
    let secret = crate::ppk::find(ctx.creds, id)
        .ok_or_else(|| IkeError::Config("PPK secret vanished".into()))?;
    Ok(Some(ppk_mix(sa, ctx, offer.to_string(), secret)?))
}

/// Initiator: after a response, run the next IKE_FOLLOWUP_KE round or complete.
fn next_round_or_finish(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    neg: Negotiated,
    payloads: &[Payload],
) -> Result<(), IkeError> {
    let Some(&method) = neg.rounds.front() else {
        return finish(sa, ctx, neg);
    };
    let Some(link) = find_notify(payloads, NotifyType::ADDITIONAL_KEY_EXCHANGE) else {
        fail_kind(
            sa,
            ctx,
            neg.kind,
            "additional key exchanges selected but no ADDITIONAL_KEY_EXCHANGE link",
            None,
        );
        return Ok(());
    };
    let link = link.data.clone();
    let ke = start_ke(ctx, method)?;
    // RFC 9370 §2.2.4: the link notify first, then the KE payload.
    let req = [
        Payload::Notify(Notify::new(NotifyType::ADDITIONAL_KEY_EXCHANGE, link)),
        Payload::Ke {
            method,
            data: ke.public_data().to_vec(),
        },
    ];
    sa.send_request(
        ctx,
        ExchangeType::IKE_FOLLOWUP_KE,
        &req,
        Pending::Lifecycle(Box::new(Task::Followup { neg, ke, method })),
    )?;
    Ok(())
}

fn followup_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut neg: Negotiated,
    ke: Box<dyn ActiveKeyExchange>,
    method: KeMethod,
    msg: &Received,
) -> Result<(), IkeError> {
    if let Some(n) = first_error(&msg.payloads) {
        let t = n.notify_type;
        fail_kind(
            sa,
            ctx,
            neg.kind,
            &format!("peer sent {} in IKE_FOLLOWUP_KE", notify_name(t)),
            Some(t),
        );
        return Ok(());
    }
    let Some((_, data)) = find_ke(&msg.payloads).filter(|(m, _)| *m == method) else {
        fail_kind(
            sa,
            ctx,
            neg.kind,
            "IKE_FOLLOWUP_KE response without our KE method",
            None,
        );
        return Ok(());
    };
    match ke.complete(data) {
        Ok(s) => neg.shared.push(s.0),
        Err(e) => return Err(kem_failure(sa, ctx, e)),
    }
    neg.rounds.pop_front();
    next_round_or_finish(sa, ctx, neg, &msg.payloads)
}

/// Both roles: all key exchanges done, create the SA.
fn finish(sa: &mut IkeSa, ctx: &mut Ctx<'_>, neg: Negotiated) -> Result<(), IkeError> {
    match neg.kind {
        Kind::RekeyIke => rekey_ike::finish(sa, ctx, neg),
        Kind::NewChild { cfg } | Kind::RekeyChild { cfg, .. } => {
            let shared: Vec<&[u8]> = neg.shared.iter().map(|s| s.as_slice()).collect();
            let (spi_in, spi_out) = (neg.our_spi as u32, neg.peer_spi as u32);
            // RFC 9867 §4: KEYMAT = prf+(SK_d', ...) with SK_d' = prf+(PPK, SK_d). The IKE SA
            // keeps its SK_d; SK_d' is used for this derivation only.
            let sk_d = match &neg.ppk {
                Some(mix) => mix.sk_d.clone(),
                None => sa.keys()?.prf.sk_d.clone(),
            };
            let installed = child::install_keyed(
                sa,
                ctx,
                cfg,
                &neg.sel,
                spi_in,
                spi_out,
                neg.local_ts.clone(),
                neg.remote_ts.clone(),
                neg.mode,
                child::KeymatInput {
                    sk_d: &sk_d,
                    shared: &shared,
                    ni: &neg.ni,
                    nr: &neg.nr,
                },
                neg.we_initiated,
            );
            if let Some(mix) = &neg.ppk {
                if installed.is_ok() {
                    tracing::info!(
                        sa = sa.id.0,
                        "PPK '{}' mixed into CHILD_SA {spi_in:08x}_i {spi_out:08x}_o keys in \
                         CREATE_CHILD_SA (RFC 9867)",
                        mix.id
                    );
                }
            }
            if let Err(e) = installed {
                tracing::warn!(sa = sa.id.0, "cannot install child: {e}");
                fail_kind(sa, ctx, neg.kind, "install failed", None);
                return Ok(());
            }
            if let Kind::RekeyChild { old_spi_in, .. } = neg.kind {
                if !neg.we_initiated && rekey::child_mut(sa, old_spi_in).is_some() {
                    inbound_only(sa, ctx, spi_in, old_spi_in);
                }
                rekeyed_child(sa, ctx, &neg, old_spi_in, spi_in);
            }
            Ok(())
        }
    }
}

/// Responder of a rekey: the initiator installs the new SA only when our response arrives, so
/// the new SA's outbound direction waits until the initiator deletes the old SA.
fn inbound_only(sa: &mut IkeSa, ctx: &mut Ctx<'_>, spi_in: u32, old: u32) {
    demote_install(ctx, spi_in);
    if let Some(c) = rekey::child_mut(sa, spi_in) {
        c.life.replaces = Some(old);
    }
}

/// Turn the install event just queued for `spi_in` into an inbound-only install.
fn demote_install(ctx: &mut Ctx<'_>, spi_in: u32) {
    let pos = ctx
        .out
        .events
        .iter()
        .rposition(|e| matches!(e, Event::InstallChildSa(k) if k.spi_in == spi_in));
    if let Some(pos) = pos {
        if let Some(Event::InstallChildSa(k)) = ctx.out.events.remove(pos) {
            ctx.out.events.insert(pos, Event::InstallChildSaInbound(k));
        }
    }
}

/// A rekey completed: the old child steps aside (make-before-break: the new SA is installed
/// already, the old one is removed only after the Delete exchange).
fn rekeyed_child(sa: &mut IkeSa, ctx: &mut Ctx<'_>, neg: &Negotiated, old: u32, new: u32) {
    let Some(c) = rekey::child_mut(sa, old) else {
        // Expired (and deleted) during the rekey: the new SA simply carries on.
        tracing::info!(
            sa = sa.id.0,
            "CHILD_SA {old:08x} went away during its rekey"
        );
        return;
    };
    if !neg.we_initiated {
        // The peer deletes the old SA (or, after a collision it lost, the new one).
        if c.life.state != ChildState::Rekeying {
            c.life.state = ChildState::Rekeyed;
        }
        return;
    }
    c.life.state = ChildState::Rekeyed;
    let collision = c.life.collision.take();
    let redundant = collision
        .as_ref()
        .is_some_and(|col| rekey::ours_is_redundant((&neg.ni, &neg.nr), (&col.ni, &col.nr)));
    if redundant {
        // §2.8.1: our new SA holds the lowest nonce: we delete it; the peer deletes the old.
        tracing::info!(
            sa = sa.id.0,
            "CHILD_SA rekey collision lost: deleting our redundant {new:08x}"
        );
        // It never carries our traffic: we keep sending on the old SA until the peer deletes
        // it, then on the peer's SA (installed inbound-only when we answered its rekey).
        demote_install(ctx, new);
        sa.enqueue(Queued::DeleteChild(new));
    } else {
        if collision.is_some() {
            tracing::info!(
                sa = sa.id.0,
                "CHILD_SA rekey collision won: the peer deletes its redundant SA"
            );
        }
        sa.enqueue(Queued::DeleteChild(old));
    }
}

/// Refuse a request with the notify [`IkeError::notify`] maps the error to; the IKE SA stays
/// (RFC 7296 §2.21.3).
fn reply_error(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    exchange: ExchangeType,
    mid: u32,
    e: IkeError,
) -> Result<(), IkeError> {
    let payloads: Vec<Payload> = e
        .notify_in(exchange)
        .map(Payload::Notify)
        .into_iter()
        .collect();
    tracing::info!(sa = sa.id.0, "answering {exchange} {mid}: {}", e.reason());
    sa.send_response(ctx, exchange, mid, &payloads)?;
    Ok(())
}

/// Is an exchange outstanding that conflicts with a new CREATE_CHILD_SA from the peer?
fn busy_with_child(sa: &IkeSa) -> bool {
    !sa.followups.is_empty()
        || matches!(
            sa.pending(),
            Some(Pending::Lifecycle(t)) if matches!(**t, Task::Followup { .. })
        )
}

/// Responder: a CREATE_CHILD_SA request.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
) -> Result<(), IkeError> {
    let mid = msg.header.message_id;
    let ex = ExchangeType::CREATE_CHILD_SA;
    let payloads = &msg.payloads;
    if sa.state != crate::IkeState::Established || sa.life.rekeyed || sa.delete_queued {
        // §2.25: we are closing this IKE SA.
        return reply_error(
            sa,
            ctx,
            ex,
            mid,
            IkeError::TemporaryFailure("the IKE SA is being closed"),
        );
    }
    let props = find_sa(payloads).ok_or_else(|| IkeError::Syntax("no SA payload".into()))?;
    let ni = find_nonce(payloads)
        .ok_or_else(|| IkeError::Syntax("no nonce".into()))?
        .clone();
    let rekey_ike = props.first().is_some_and(|p| p.protocol == ProtocolId::IKE);
    let rekey_sa = find_notify(payloads, NotifyType::REKEY_SA);
    let conn = sa.conn.clone();
    let (kind, configs, local_ts, remote_ts, mode) = if rekey_ike {
        if busy_with_child(sa)
            || matches!(sa.pending(),
                Some(Pending::Lifecycle(t)) if matches!(**t, Task::Create(ref c) if c.kind != Kind::RekeyIke))
        {
            // A Child SA exchange of ours is in flight on this IKE SA: rekey it afterwards.
            return reply_error(
                sa,
                ctx,
                ex,
                mid,
                IkeError::TemporaryFailure("a Child SA exchange is in flight"),
            );
        }
        (
            Kind::RekeyIke,
            ike_rekey_configs(sa)?,
            Vec::new(),
            Vec::new(),
            IpsecMode::Tunnel,
        )
    } else {
        if sa.life.rekeying {
            // §2.25.2: we are rekeying the IKE SA; the peer retries on the new one.
            return reply_error(
                sa,
                ctx,
                ex,
                mid,
                IkeError::TemporaryFailure("the IKE SA is being rekeyed"),
            );
        }
        let (tsi, tsr) =
            find_ts(payloads).ok_or_else(|| IkeError::Syntax("no traffic selectors".into()))?;
        let (kind, cfg) = match rekey_sa {
            Some(n) => {
                let spi = <[u8; 4]>::try_from(n.spi.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| IkeError::Syntax("REKEY_SA without a 4-octet SPI".into()))?;
                // The peer names its inbound SPI = our outbound one.
                let Some(old) = sa.children.iter().find(|c| c.status.spi_out == spi) else {
                    return reply_error(sa, ctx, ex, mid, IkeError::ChildSaNotFound(spi));
                };
                if matches!(old.life.state, ChildState::Rekeyed | ChildState::Deleting) {
                    // §2.25.1: we are closing that SA already.
                    return reply_error(
                        sa,
                        ctx,
                        ex,
                        mid,
                        IkeError::TemporaryFailure("that Child SA is being replaced or deleted"),
                    );
                }
                let (cfg, old_spi_in) = (old.life.cfg, old.status.spi_in);
                (Kind::RekeyChild { cfg, old_spi_in }, cfg)
            }
            None => {
                let cfg = conn
                    .children
                    .iter()
                    .position(|c| {
                        !narrow(tsi, &c.remote_ts).is_empty()
                            && !narrow(tsr, &c.local_ts).is_empty()
                    })
                    .ok_or(IkeError::TsUnacceptable)?;
                (Kind::NewChild { cfg }, cfg)
            }
        };
        let child = conn
            .children
            .get(cfg)
            .ok_or_else(|| IkeError::Config("child config gone".into()))?;
        let n_tsi = narrow(tsi, &child.remote_ts);
        let n_tsr = narrow(tsr, &child.local_ts);
        if n_tsi.is_empty() || n_tsr.is_empty() {
            return Err(IkeError::TsUnacceptable);
        }
        let transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some()
            && child.mode == IpsecMode::Transport;
        let mode = if transport {
            IpsecMode::Transport
        } else {
            IpsecMode::Tunnel
        };
        // Our view: TSr is ours (local), TSi the peer's (§2.9).
        (kind, child.esp_proposals.clone(), n_tsr, n_tsi, mode)
    };
    let protocol = if rekey_ike {
        ProtocolId::IKE
    } else {
        ProtocolId::ESP
    };
    let crypto = ctx.crypto;
    let mut sel = select(props, &configs, protocol, &|t, id| supported(crypto, t, id))
        .ok_or(IkeError::NoProposal)?;
    let peer_spi = match protocol {
        ProtocolId::IKE => <[u8; 8]>::try_from(sel.spi.as_slice())
            .map(u64::from_be_bytes)
            .ok()
            .filter(|s| *s != 0),
        _ => <[u8; 4]>::try_from(sel.spi.as_slice())
            .map(|b| u64::from(u32::from_be_bytes(b)))
            .ok(),
    }
    .ok_or_else(|| IkeError::Syntax("bad SPI in proposal".into()))?;
    // RFC 9867 §4: the initiator may offer PPKs; only on IKE SAs that negotiated USE_PPK_INT
    // (otherwise the notify is one we do not know here, and is ignored like any status).
    let mut ppk_reply = None;
    let mut ppk = None;
    if ppk_negotiated(sa) {
        let mut offered = Vec::new();
        match pick_offered_ppk(sa, ctx, payloads, &mut offered)? {
            Some((ident, mix)) => {
                tracing::info!(
                    sa = sa.id.0,
                    "using PPK '{}' for the {} (RFC 9867 CREATE_CHILD_SA)",
                    mix.id,
                    kind_name(kind)
                );
                ppk_reply = Some(Payload::Notify(Notify::new(
                    NotifyType::PPK_IDENTITY,
                    ident,
                )));
                ppk = Some(mix);
            }
            None if !offered.is_empty() && conn.auth_ext.ppk_required => {
                tracing::warn!(
                    sa = sa.id.0,
                    "no usable PPK among the peer's PPK_IDENTITY_KEY ids {offered:?} in \
                     CREATE_CHILD_SA and ppk_required is set: refusing the {}",
                    kind_name(kind)
                );
                return Err(IkeError::NoProposal);
            }
            None if !offered.is_empty() => tracing::info!(
                sa = sa.id.0,
                "no usable PPK among {offered:?} (RFC 9867): {} without PPK",
                kind_name(kind)
            ),
            // We would have offered one (ppk_create_child), the peer did not: say why these
            // keys have no PPK. Not refused: SK_d already carries the IKE_INTERMEDIATE PPK.
            None if conn.auth_ext.ppk_create_child => tracing::info!(
                sa = sa.id.0,
                "peer offered no PPK (no PPK_IDENTITY_KEY) in CREATE_CHILD_SA (RFC 9867): {} \
                 without PPK",
                kind_name(kind)
            ),
            None => {}
        }
    }
    let mut shared = Vec::new();
    let mut ke_reply = None;
    if let Some(want) = sel.ke.filter(|m| *m != KeMethod::NONE) {
        let (m, data) = find_ke(payloads).ok_or(IkeError::InvalidKe(want))?;
        if m != want {
            // §1.3: tell the initiator the group we selected.
            return Err(IkeError::InvalidKe(want));
        }
        let kex = ctx
            .crypto
            .key_exchange(want.0)
            .ok_or(IkeError::NoProposal)?;
        // ML-KEM: FIPS 203 §7.2 checks on the encapsulation key; failure -> INVALID_SYNTAX.
        let (ours, s) = kex.respond(data)?;
        shared.push(s.0);
        ke_reply = Some(Payload::Ke {
            method: want,
            data: ours,
        });
    }
    let our_spi = if rekey_ike {
        ike_spi(ctx)?
    } else {
        child_spi(ctx)?
    };
    sel.spi = if rekey_ike {
        our_spi.to_be_bytes().to_vec()
    } else {
        (our_spi as u32).to_be_bytes().to_vec()
    };
    let nr = random(ctx.rng, NONCE_LEN)?;
    // §2.8.1: the peer rekeys what we are rekeying too; decide when ours completes.
    match kind {
        Kind::RekeyChild { old_spi_in, .. } => {
            let id = sa.id.0;
            if let Some(c) = rekey::child_mut(sa, old_spi_in) {
                if c.life.state == ChildState::Rekeying {
                    tracing::info!(sa = id, "CHILD_SA rekey collision on {old_spi_in:08x}");
                    c.life.collision = Some(Collision {
                        created: our_spi,
                        ni: ni.clone(),
                        nr: nr.clone(),
                    });
                }
            }
        }
        Kind::RekeyIke if sa.life.rekeying => {
            tracing::info!(sa = sa.id.0, "IKE_SA rekey collision");
            sa.life.ike_collision = Some(Collision {
                created: 0,
                ni: ni.clone(),
                nr: nr.clone(),
            });
        }
        _ => {}
    }
    let mut reply = Vec::new();
    if mode == IpsecMode::Transport && !rekey_ike {
        reply.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            vec![],
        )));
    }
    reply.push(Payload::Sa(vec![sel.to_proposal()]));
    reply.push(Payload::Nonce(nr.clone()));
    reply.extend(ke_reply);
    reply.extend(ppk_reply);
    if !rekey_ike {
        // TSi is the initiator's = our remote.
        reply.push(Payload::TsI(remote_ts.clone()));
        reply.push(Payload::TsR(local_ts.clone()));
    }
    let neg = Negotiated {
        kind,
        rounds: sel.addke_rounds().into_iter().map(|(_, m)| m).collect(),
        sel,
        our_spi,
        peer_spi,
        ni,
        nr,
        we_initiated: false,
        shared,
        local_ts,
        remote_ts,
        mode,
        ppk,
    };
    if neg.rounds.is_empty() {
        sa.send_response(ctx, ex, mid, &reply)?;
        return finish(sa, ctx, neg);
    }
    let link = random(ctx.rng, LINK_LEN)?;
    reply.push(Payload::Notify(Notify::new(
        NotifyType::ADDITIONAL_KEY_EXCHANGE,
        link.clone(),
    )));
    sa.send_response(ctx, ex, mid, &reply)?;
    sa.followups.push(FollowupState {
        link,
        created: ctx.now,
        neg,
    });
    Ok(())
}

/// Responder: an IKE_FOLLOWUP_KE request (RFC 9370 §2.2.4).
pub(crate) fn process_followup_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
) -> Result<(), IkeError> {
    let mid = msg.header.message_id;
    let ex = ExchangeType::IKE_FOLLOWUP_KE;
    let link = find_notify(&msg.payloads, NotifyType::ADDITIONAL_KEY_EXCHANGE)
        .ok_or_else(|| IkeError::Syntax("IKE_FOLLOWUP_KE without a link".into()))?;
    let Some(pos) = sa
        .followups
        .iter()
        .position(|f| pqike_crypto::ct_eq(&f.link, &link.data))
    else {
        return reply_error(sa, ctx, ex, mid, IkeError::StateNotFound);
    };
    let FollowupState { mut neg, .. } = sa.followups.remove(pos);
    let want = neg
        .rounds
        .front()
        .copied()
        .ok_or_else(|| IkeError::Config("no round pending".into()))?;
    let (m, data) = find_ke(&msg.payloads)
        .ok_or_else(|| IkeError::Syntax("IKE_FOLLOWUP_KE without KE".into()))?;
    if m != want {
        // No renegotiation inside the rounds: the method was fixed by the proposal.
        return Err(IkeError::Syntax(format!("KE method {m}, expected {want}")));
    }
    let kex = ctx
        .crypto
        .key_exchange(want.0)
        .ok_or(IkeError::NoProposal)?;
    let (ours, s) = kex.respond(data)?;
    neg.shared.push(s.0);
    neg.rounds.pop_front();
    let mut reply = vec![Payload::Ke {
        method: want,
        data: ours,
    }];
    if neg.rounds.is_empty() {
        sa.send_response(ctx, ex, mid, &reply)?;
        return finish(sa, ctx, neg);
    }
    let link = random(ctx.rng, LINK_LEN)?;
    reply.push(Payload::Notify(Notify::new(
        NotifyType::ADDITIONAL_KEY_EXCHANGE,
        link.clone(),
    )));
    sa.send_response(ctx, ex, mid, &reply)?;
    sa.followups.push(FollowupState {
        link,
        created: ctx.now,
        neg,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::keymat::child_keymat;
    use crate::keymat::test_prf::HmacPrf;
    use crate::tasks::rekey_ike::rekey_skeyseed;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9867 §4 derivations (SK_d' = prf+(PPK, SK_d) standing in for SK_d) against values
    /// computed independently with Python's hmac/hashlib (HMAC-SHA-256, prf+ per RFC 7296
    /// §2.13): sk_d = 0x0d*32, PPK = 00..1f, Ni = 0x11*32, Nr = 0x22*32, g^ir = 0x33*32.
    #[test]
    fn ppk_keys_in_create_child_sa_match_independent_values() {
        let prf = HmacPrf(5);
        let ppk: Vec<u8> = (0..32).collect();
        let (sk_d, ni, nr, g) = ([0x0d; 32], [0x11; 32], [0x22; 32], [0x33; 32]);
        let sk_d2 = crate::ppk::mix(&prf, &ppk, &sk_d);
        assert_eq!(
            &sk_d2[..],
            &unhex("561bdd12d8b735ea1d7df8bd4ea0713c81eab8031cdfe98e2347204d23fbe354")[..]
        );
        // Child SA without PFS: KEYMAT = prf+(SK_d', Ni | Nr).
        let keymat = child_keymat(&prf, &sk_d2, &[], &ni, &nr, 72);
        assert_eq!(
            &keymat[..],
            &unhex(
                "5d0cf09738f52ac1a63da8e2337aa8c1f4ba6405defcdd6e4f8a602a4b98a1e26885b9c3bd822ddd\
                 e674f5de98383d4a4f8d1a1e7d8ad447086a226855cf2dd0cbb25aeec835f7d1"
            )[..]
        );
        // ... which is not what the same exchange gives without the PPK.
        let plain = child_keymat(&prf, &sk_d, &[], &ni, &nr, 72);
        assert_eq!(
            &plain[..8],
            &unhex("667fcd1a682fed8e")[..],
            "the no-PPK reference value"
        );
        assert_ne!(&plain[..], &keymat[..]);
        // IKE SA rekey: SKEYSEED = prf(SK_d', g^ir | Ni | Nr).
        let seed = rekey_skeyseed(&prf, &sk_d2, &[&g], &ni, &nr);
        assert_eq!(
            &seed[..],
            &unhex("507f22b517f6197ec242b94b974ccd6d307f1f8afab003064d8aae6860eff65e")[..]
        );
    }
}
