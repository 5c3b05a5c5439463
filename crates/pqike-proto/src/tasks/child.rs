//! The initial Child SA carried in IKE_AUTH (RFC 7296 §1.2, §2.9, §2.17): ESP proposal, traffic
//! selector narrowing, mode, KEYMAT and the install event.
use crate::keymat::child_keymat;
use crate::notify::{find_notify, IkeError};
use crate::proposal::{accept_reply, build_proposals, select, Selected};
use crate::sa_data::ChildSa;
use crate::tasks::ike_init::supported;
use crate::tasks::manager::{Ctx, IkeSa};
use crate::ts::{is_subset, narrow};
use crate::{ChildConfig, ChildSaKeys, ChildSaStatus, Event, IpsecMode, ProposalConfig};
use pqike_crypto::SecureRandom;
use pqike_wire::{
    KeMethod, Notify, NotifyType, Payload, Proposal, ProtocolId, TrafficSelector, TransformType,
};
use zeroize::Zeroizing;

/// What the initiator offered for the child.
pub(crate) struct ChildRequest {
    cfg: usize,
    spi: u32,
    proposals: Vec<Proposal>,
    tsi: Vec<TrafficSelector>,
    tsr: Vec<TrafficSelector>,
}

/// RFC 7296 §1.2: the Child SA created in IKE_AUTH has no KE payload, so its proposals carry no
/// key exchange transforms (RFC 9370 §2.2.3 for ADDKE) - unless both sides announced
/// CHILD_SA_PFS_INFO_SUPPORTED: then they stay, are negotiated (so a PFS mismatch shows now,
/// not at the first rekey), and the keys still come from SK_d.
fn esp_configs_for(sa: &IkeSa, child: &ChildConfig) -> Vec<ProposalConfig> {
    if sa.life.pfs_info {
        child.esp_proposals.clone()
    } else {
        esp_configs(child)
    }
}

fn esp_configs(child: &ChildConfig) -> Vec<ProposalConfig> {
    child
        .esp_proposals
        .iter()
        .map(|p| ProposalConfig {
            ke: Vec::new(),
            addke: Default::default(),
            ..p.clone()
        })
        .collect()
}

fn strip_ke(props: &[Proposal]) -> Vec<Proposal> {
    props
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.transforms.retain(|t| {
                t.transform_type != TransformType::KE && t.transform_type.addke_index().is_none()
            });
            p
        })
        .collect()
}

/// A fresh inbound SPI; 1..=255 are reserved (RFC 4303 §2.1).
fn new_spi(rng: &dyn SecureRandom) -> Result<u32, IkeError> {
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b)?;
        let spi = u32::from_be_bytes(b);
        if spi > 255 {
            return Ok(spi);
        }
    }
}

fn peer_spi(sel: &Selected) -> Result<u32, IkeError> {
    <[u8; 4]>::try_from(sel.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| IkeError::Syntax("ESP proposal SPI is not 4 octets".into()))
}

/// Initiator: the SA/TS payloads for the first configured child.
pub(crate) fn offer(
    sa: &IkeSa,
    ctx: &Ctx<'_>,
) -> Result<Option<(ChildRequest, Vec<Payload>)>, IkeError> {
    let Some(child) = sa.conn.children.first() else {
        return Ok(None);
    };
    if sa.conn.children.len() > 1 {
        tracing::debug!(
            sa = sa.id.0,
            "first child ({}) in IKE_AUTH, the others follow with CREATE_CHILD_SA",
            child.name
        );
    }
    let spi = new_spi(ctx.rng)?;
    let proposals = build_proposals(
        &esp_configs_for(sa, child),
        ProtocolId::ESP,
        &spi.to_be_bytes(),
    );
    let mut payloads = Vec::new();
    if child.mode == IpsecMode::Transport {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            vec![],
        )));
    }
    payloads.push(Payload::Sa(proposals.clone()));
    payloads.push(Payload::TsI(child.local_ts.clone()));
    payloads.push(Payload::TsR(child.remote_ts.clone()));
    let req = ChildRequest {
        cfg: 0,
        spi,
        proposals,
        tsi: child.local_ts.clone(),
        tsr: child.remote_ts.clone(),
    };
    Ok(Some((req, payloads)))
}

fn child_payloads(
    payloads: &[Payload],
) -> Option<(&Vec<Proposal>, &Vec<TrafficSelector>, &Vec<TrafficSelector>)> {
    let sa = payloads.iter().find_map(|p| {
        if let Payload::Sa(v) = p {
            Some(v)
        } else {
            None
        }
    })?;
    let tsi = payloads.iter().find_map(|p| {
        if let Payload::TsI(v) = p {
            Some(v)
        } else {
            None
        }
    })?;
    let tsr = payloads.iter().find_map(|p| {
        if let Payload::TsR(v) = p {
            Some(v)
        } else {
            None
        }
    })?;
    Some((sa, tsi, tsr))
}

/// Does the request carry a child (SA payload present)?
pub(crate) fn requested(payloads: &[Payload]) -> bool {
    payloads.iter().any(|p| matches!(p, Payload::Sa(_)))
}

/// Responder: choose child config, narrow TS, select the ESP proposal, install; returns the
/// response payloads.
pub(crate) fn respond(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload],
) -> Result<Vec<Payload>, IkeError> {
    let (props, tsi, tsr) = child_payloads(payloads)
        .ok_or_else(|| IkeError::Syntax("SA without TSi/TSr in IKE_AUTH".into()))?;
    let conn = sa.conn.clone();
    // TSi is the initiator's side = our remote; TSr ours (RFC 7296 §2.9).
    let (cfg, n_tsi, n_tsr) = conn
        .children
        .iter()
        .enumerate()
        .find_map(|(i, c)| {
            let ni = narrow(tsi, &c.remote_ts);
            let nr = narrow(tsr, &c.local_ts);
            (!ni.is_empty() && !nr.is_empty()).then_some((i, ni, nr))
        })
        .ok_or(IkeError::TsUnacceptable)?;
    // Remote access: the client's side is its virtual IP (RFC 7296 §2.19).
    let n_tsi = crate::tasks::cp::narrow_to_vips(sa, n_tsi);
    if n_tsi.is_empty() {
        return Err(IkeError::TsUnacceptable);
    }
    let child = &conn.children[cfg];
    let crypto = ctx.crypto;
    let offered = if sa.life.pfs_info {
        props.clone()
    } else {
        strip_ke(props)
    };
    let mut sel = select(
        &offered,
        &esp_configs_for(sa, child),
        ProtocolId::ESP,
        &|t, id| supported(crypto, t, id),
    )
    .ok_or(IkeError::NoProposal)?;
    let their_spi = peer_spi(&sel)?;
    let our_spi = new_spi(ctx.rng)?;
    sel.spi = our_spi.to_be_bytes().to_vec();
    let transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some()
        && child.mode == IpsecMode::Transport;
    let mode = if transport {
        IpsecMode::Transport
    } else {
        IpsecMode::Tunnel
    };
    install(
        sa,
        ctx,
        cfg,
        &sel,
        our_spi,
        their_spi,
        n_tsr.clone(),
        n_tsi.clone(),
        mode,
    )?;
    let mut reply = Vec::new();
    if transport {
        reply.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            vec![],
        )));
    }
    reply.push(Payload::Sa(vec![sel.to_proposal()]));
    reply.push(Payload::TsI(n_tsi));
    reply.push(Payload::TsR(n_tsr));
    Ok(reply)
}

/// Initiator: the child part of the IKE_AUTH response.
pub(crate) fn complete(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    req: ChildRequest,
    payloads: &[Payload],
) -> Result<(), IkeError> {
    crate::tasks::manager::peer_error(payloads)?;
    let (props, tsi, tsr) = child_payloads(payloads)
        .ok_or_else(|| IkeError::Syntax("no child SA in response".into()))?;
    let sel = accept_reply(props, &req.proposals).ok_or(IkeError::NoProposal)?;
    if sel.ke.is_some_and(|k| k != KeMethod::NONE) && !sa.life.pfs_info {
        return Err(IkeError::NoProposal);
    }
    // RFC 7296 §2.9: the responder may only narrow.
    if tsi.is_empty() || tsr.is_empty() || !is_subset(tsi, &req.tsi) || !is_subset(tsr, &req.tsr) {
        return Err(IkeError::TsUnacceptable);
    }
    let their_spi = peer_spi(&sel)?;
    let mode = if find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some() {
        IpsecMode::Transport
    } else {
        IpsecMode::Tunnel
    };
    install(
        sa,
        ctx,
        req.cfg,
        &sel,
        req.spi,
        their_spi,
        tsi.clone(),
        tsr.clone(),
        mode,
    )
}

/// The IKE_AUTH child: KEYMAT from SK_d and the IKE_SA_INIT nonces, no PFS (§2.17).
#[allow(clippy::too_many_arguments)]
fn install(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    cfg: usize,
    sel: &Selected,
    spi_in: u32,
    spi_out: u32,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    mode: IpsecMode,
) -> Result<(), IkeError> {
    let (ni, nr) = (sa.ni.clone(), sa.nr.clone());
    let sk_d = sa.keys()?.prf.sk_d.clone();
    let initiator = sa.initiator;
    install_keyed(
        sa,
        ctx,
        cfg,
        sel,
        spi_in,
        spi_out,
        local_ts,
        remote_ts,
        mode,
        KeymatInput {
            sk_d: &sk_d,
            shared: &[],
            ni: &ni,
            nr: &nr,
        },
        initiator,
    )
}

/// What a Child SA's KEYMAT is derived from (RFC 7296 §2.17, RFC 9370 §2.2.4): the SK_d of the
/// IKE SA's current key generation, or RFC 9867's PPK-mixed SK_d' for this one derivation (the
/// IKE SA keeps its own), the shared secrets of the exchange's key exchanges, and its nonces.
/// The caller passes copies, so no key generation is swapped in and out around the call.
pub(crate) struct KeymatInput<'a> {
    pub sk_d: &'a [u8],
    pub shared: &'a [&'a [u8]],
    pub ni: &'a [u8],
    pub nr: &'a [u8],
}

/// KEYMAT = prf+(SK_d, [SK(0) |] Ni | Nr [| SK(1) | ...]) (RFC 7296 §2.17, RFC 9370 §2.2.4;
/// i->r encr | integ, then r->i encr | integ) and the install event.
#[allow(clippy::too_many_arguments)]
pub(crate) fn install_keyed(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    cfg: usize,
    sel: &Selected,
    spi_in: u32,
    spi_out: u32,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    mode: IpsecMode,
    input: KeymatInput<'_>,
    we_initiated: bool,
) -> Result<(), IkeError> {
    let child = sa
        .conn
        .children
        .get(cfg)
        .ok_or_else(|| IkeError::Config("child config gone".into()))?
        .clone();
    let integ = sel.integ.unwrap_or(0);
    let (ek, ik) = ctx
        .crypto
        .sk_key_lengths(sel.encr.0, sel.encr.1, integ)
        .ok_or_else(|| IkeError::Config("ESP algorithms have no key lengths".into()))?;
    let prf = sa.prf(ctx.crypto)?;
    let keymat = child_keymat(
        prf,
        input.sk_d,
        input.shared,
        input.ni,
        input.nr,
        2 * (ek + ik),
    );
    let part = |from: usize, len: usize| Zeroizing::new(keymat[from..from + len].to_vec());
    let i_to_r = (part(0, ek), part(ek, ik));
    let r_to_i = (part(ek + ik, ek), part(2 * ek + ik, ik));
    // RFC 7296 §2.17: "initiator" is the initiator of the exchange that created the child
    // (like `ni`), not of the IKE SA: they differ when the original responder rekeys a child.
    let (key_in, key_out) = if we_initiated {
        (r_to_i, i_to_r)
    } else {
        (i_to_r, r_to_i)
    };
    let esn = sel.esn.unwrap_or(false);
    // The child's own ESP path, derived from the IKE path now (RFC 3948 encapsulation when a
    // NAT was detected) and kept as a value of its own.
    let esp = sa.msg.path.esp(sa.nat_detected());
    tracing::info!(
        sa = sa.id.0,
        "CHILD_SA {} established with SPIs {spi_in:08x}_i {spi_out:08x}_o, {} {:?}",
        child.name,
        crate::names::encr_name(sel.encr.0, sel.encr.1),
        mode
    );
    let life = crate::tasks::rekey::child_life(sa, ctx, cfg);
    sa.children.push(ChildSa {
        status: ChildSaStatus {
            name: child.name.clone(),
            spi_in,
            spi_out,
            encr: crate::names::encr_name(sel.encr.0, sel.encr.1),
            integ: if integ == 0 {
                String::new()
            } else {
                crate::names::integ_name(integ)
            },
            mode,
            local_ts: local_ts.clone(),
            remote_ts: remote_ts.clone(),
            installed_at: ctx.now,
            esp,
        },
        life,
    });
    ctx.out.events.push_back(Event::InstallChildSa(ChildSaKeys {
        ike_sa: sa.id,
        connection: sa.conn.name.clone(),
        child: child.name.clone(),
        spi_in,
        spi_out,
        encr: sel.encr,
        integ,
        esn,
        key_in,
        key_out,
        local_ts,
        remote_ts,
        mode,
        local: esp.local,
        remote: esp.remote,
        udp_encap: esp.udp_encap,
        // The hard lifetime: the engine rekeys before it (data-plane soft limits are the
        // daemon's to set) and tears the child down when it passes.
        lifetime: crate::tasks::rekey::child_hard_lifetime(&sa.conn.lifecycle),
    }));
    Ok(())
}
