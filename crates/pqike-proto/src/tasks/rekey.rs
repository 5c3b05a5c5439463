//! SA lifecycle state and timers: rekey and hard-expiry deadlines with strongSwan-style jitter,
//! the queue of exchanges waiting for the (one-request) window, and the RFC 7296 §2.8.1
//! collision rule.
//!
//! Times come from [`crate::LifecycleConfig`]: an SA is rekeyed at
//! `rekey_time - uniform(0, rand_time)` after it was created and torn down at `life_time`
//! (strongSwan's `rekey_time`, `rand_time`, `life_time`; defaults life = rekey + 10 %,
//! rand = life - rekey). The jitter makes simultaneous rekeys by both peers unlikely (§2.8).
use crate::ike_sa::{ChildSa, Ctx, IkeSa};
use crate::tasks::create_child::{self, Kind};
use crate::{DownReason, IkeState, LifecycleConfig};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a responder keeps the state of a CREATE_CHILD_SA waiting for its IKE_FOLLOWUP_KE
/// rounds (RFC 9370 §2.2.4 leaves it open; a lost round is retransmitted well within this).
pub(crate) const FOLLOWUP_STATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Retry delay after TEMPORARY_FAILURE or a failed rekey (strongSwan retries within seconds).
pub(crate) const RETRY_DELAY: Duration = Duration::from_secs(2);

/// An exchange waiting for the request window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Create the child of config index `cfg` (further children, or after a childless setup).
    NewChild(usize),
    /// Rekey the child with this inbound SPI.
    RekeyChild(u32),
    /// Rekey the IKE SA.
    RekeyIke,
    /// Delete the child with this inbound SPI (hard expiry).
    DeleteChild(u32),
}

/// State of one Child SA in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum ChildState {
    /// Carrying traffic.
    #[default]
    Installed,
    /// Our CREATE_CHILD_SA rekeying it is outstanding.
    Rekeying,
    /// A new SA replaced it; it stays installed (inbound stragglers) until the Delete exchange.
    Rekeyed,
    /// Our Delete for it is outstanding.
    Deleting,
}

/// The peer's rekey of a child we were rekeying ourselves (RFC 7296 §2.8.1).
#[derive(Clone, Debug)]
pub(crate) struct Collision {
    /// Inbound SPI (Child SA) or SA handle (IKE SA) of what the peer's exchange created.
    pub created: u64,
    /// That exchange's nonces.
    pub ni: Vec<u8>,
    /// Responder nonce.
    pub nr: Vec<u8>,
}

/// Lifecycle of one Child SA.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildLife {
    /// Index of its child config.
    pub cfg: usize,
    pub state: ChildState,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    pub collision: Option<Collision>,
    /// Installed inbound-only as the replacement of this (old) SA: activate the outbound
    /// direction once the old one is gone.
    pub replaces: Option<u32>,
}

/// Lifecycle of one IKE SA.
#[derive(Default)]
pub(crate) struct IkeLife {
    /// Timers were armed (at establishment).
    pub armed: bool,
    pub rekey_at: Option<Instant>,
    pub expire_at: Option<Instant>,
    pub queue: VecDeque<Queued>,
    /// Replaced by a new IKE SA: its removal is no close/dpd event.
    pub rekeyed: bool,
    /// Our IKE rekey is outstanding.
    pub rekeying: bool,
    /// Our IKE rekey won a collision: the peer's new SA is redundant.
    pub won_collision: bool,
    /// The peer rekeyed this IKE SA while our rekey was outstanding.
    pub ike_collision: Option<Collision>,
    /// Responder: CREATE_CHILD_SA exchanges waiting for IKE_FOLLOWUP_KE rounds.
    pub followups: Vec<create_child::FollowupState>,
    /// Both sides sent CHILD_SA_PFS_INFO_SUPPORTED in IKE_SA_INIT.
    pub pfs_info: bool,
    /// Remote access (`cp`): our CFG_REQUEST went out / the CFG_REPLY waiting for the IKE_AUTH
    /// response / the virtual IPs assigned (to the peer as server, to us as client).
    pub cp_sent: bool,
    pub cp_reply: Vec<pqike_wire::Payload>,
    pub vips: Vec<std::net::IpAddr>,
}

/// Uniform jitter in `[0, max]` from the injected random source.
fn jitter(ctx: &Ctx<'_>, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut b = [0u8; 8];
    if ctx.rng.fill(&mut b).is_err() {
        return Duration::ZERO;
    }
    // 53 random bits as a fraction in [0, 1].
    let f = (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(f)
}

/// (rekey_at, expire_at) for an SA created at `now` with these times.
fn deadlines(
    ctx: &Ctx<'_>,
    lc: &LifecycleConfig,
    rekey: Duration,
    life: Option<Duration>,
) -> (Option<Instant>, Option<Instant>) {
    let life = life.unwrap_or(rekey + rekey / 10);
    let rand = lc.rand_time.unwrap_or(life.saturating_sub(rekey));
    let rekey_at =
        (!rekey.is_zero()).then(|| ctx.now + rekey.saturating_sub(jitter(ctx, rand.min(rekey))));
    let expire_at = (!life.is_zero()).then(|| ctx.now + life);
    (rekey_at, expire_at)
}

/// Hard lifetime of a child config's SAs (for the install event's `lifetime`).
pub(crate) fn child_hard_lifetime(lc: &LifecycleConfig) -> Duration {
    lc.child_life_time
        .unwrap_or(lc.child_rekey_time + lc.child_rekey_time / 10)
}

/// Lifecycle of a Child SA installed now.
pub(crate) fn child_life(sa: &IkeSa, ctx: &Ctx<'_>, cfg: usize) -> ChildLife {
    let lc = &sa.conn.lifecycle;
    let (rekey_at, expire_at) = deadlines(ctx, lc, lc.child_rekey_time, lc.child_life_time);
    ChildLife {
        cfg,
        state: ChildState::Installed,
        rekey_at,
        expire_at,
        collision: None,
        replaces: None,
    }
}

/// Arm the IKE SA timers (at establishment, or for an IKE SA created by a rekey).
pub(crate) fn arm_ike(sa: &mut IkeSa, ctx: &Ctx<'_>) {
    let lc = &sa.conn.lifecycle;
    let (rekey_at, expire_at) = deadlines(ctx, lc, lc.ike_rekey_time, lc.ike_life_time);
    sa.life.rekey_at = rekey_at;
    sa.life.expire_at = expire_at;
    sa.life.armed = true;
}

/// RFC 7296 §2.8.1: the redundant SA is the one "created with the lowest of the four nonces",
/// compared octet by octet (a prefix is lower). True if the exchange with nonces `ours` created
/// the redundant SA, i.e. its lower nonce is below the other exchange's lower nonce.
pub(crate) fn ours_is_redundant(ours: (&[u8], &[u8]), theirs: (&[u8], &[u8])) -> bool {
    let a = ours.0.min(ours.1);
    let b = theirs.0.min(theirs.1);
    a < b
}

/// Effective liveness interval: the connection's `dpd_delay`, else the endpoint's.
pub(crate) fn dpd_interval(sa: &IkeSa, ctx_cfg: &crate::EndpointConfig) -> Option<Duration> {
    sa.conn
        .lifecycle
        .dpd_delay
        .or(ctx_cfg.dpd_interval)
        .filter(|d| !d.is_zero())
}

/// Earliest lifecycle deadline of an established SA.
pub(crate) fn deadline(sa: &IkeSa) -> Option<Instant> {
    if sa.state != IkeState::Established || sa.life.rekeyed {
        return None;
    }
    let mut times: Vec<Instant> = Vec::new();
    if !sa.life.rekeying {
        times.extend(sa.life.rekey_at);
    }
    times.extend(sa.life.expire_at);
    for c in &sa.children {
        if c.life.state == ChildState::Installed {
            times.extend(c.life.rekey_at);
        }
        times.extend(c.life.expire_at);
    }
    times.extend(
        sa.life
            .followups
            .iter()
            .map(|f| f.created + FOLLOWUP_STATE_TIMEOUT),
    );
    times.into_iter().min()
}

fn enqueue(sa: &mut IkeSa, q: Queued) {
    if !sa.life.queue.contains(&q) {
        sa.life.queue.push_back(q);
    }
}

/// Timers: hard expiry, rekey triggers, stale follow-up state. Then start queued work.
pub(crate) fn on_timeout(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    if sa.state != IkeState::Established || sa.life.rekeyed {
        return;
    }
    let now = ctx.now;
    if sa.life.expire_at.is_some_and(|t| now >= t) {
        tracing::info!(sa = sa.id.0, "IKE SA lifetime expired, deleting it");
        sa.life.expire_at = None;
        hard_delete(sa, ctx, "IKE SA lifetime expired");
        return;
    }
    sa.life
        .followups
        .retain(|f| now < f.created + FOLLOWUP_STATE_TIMEOUT);
    if sa.life.rekey_at.is_some_and(|t| now >= t) && !sa.life.rekeying {
        sa.life.rekey_at = None;
        tracing::info!(sa = sa.id.0, "IKE SA rekey time reached");
        enqueue(sa, Queued::RekeyIke);
    }
    let mut expired = Vec::new();
    for c in &mut sa.children {
        if c.life.expire_at.is_some_and(|t| now >= t) {
            c.life.expire_at = None;
            expired.push(c.status.spi_in);
        } else if c.life.state == ChildState::Installed && c.life.rekey_at.is_some_and(|t| now >= t)
        {
            c.life.rekey_at = None;
            tracing::info!(
                sa = sa.id.0,
                "CHILD_SA {} {:08x} rekey time reached",
                c.status.name,
                c.status.spi_in
            );
            sa.life.queue.push_back(Queued::RekeyChild(c.status.spi_in));
        }
    }
    for spi in expired {
        expire_child(sa, ctx, spi);
    }
    start_queued(sa, ctx);
}

/// Tear the IKE SA down now: a Delete if the window is free, else silently.
fn hard_delete(sa: &mut IkeSa, ctx: &mut Ctx<'_>, why: &str) {
    if sa.outstanding.is_none() {
        crate::tasks::informational::start_delete(sa, ctx);
    } else {
        sa.finish(DownReason::LocalError(why.into()));
    }
}

/// A child's hard lifetime passed: remove it now (no traffic may use it) and tell the peer.
pub(crate) fn expire_child(sa: &mut IkeSa, ctx: &mut Ctx<'_>, spi_in: u32) {
    let Some(pos) = sa.children.iter().position(|c| c.status.spi_in == spi_in) else {
        return;
    };
    tracing::info!(
        sa = sa.id.0,
        "CHILD_SA {} {spi_in:08x} hard lifetime expired",
        sa.children[pos].status.name
    );
    let c = sa.children.remove(pos);
    ctx.out.events.push_back(crate::Event::RemoveChildSa {
        ike_sa: sa.id,
        spi_in: c.status.spi_in,
        spi_out: c.status.spi_out,
    });
    sa.life.queue.retain(|q| *q != Queued::RekeyChild(spi_in));
    enqueue(sa, Queued::DeleteChild(spi_in));
    // The IKE SA may be in the middle of rekeying this child: that exchange now fails cleanly
    // (its response finds no old SA) and the new SA is deleted again.
    let _ = c;
}

/// The data plane's soft/hard expiry for a child (bytes, packets or time).
pub(crate) fn esp_notice(sa: &mut IkeSa, ctx: &mut Ctx<'_>, spi_in: u32, hard: bool) {
    if hard {
        expire_child(sa, ctx, spi_in);
    } else if let Some(c) = sa.children.iter_mut().find(|c| c.status.spi_in == spi_in) {
        if c.life.state == ChildState::Installed {
            c.life.rekey_at = None;
            tracing::info!(
                sa = sa.id.0,
                "soft expiry of CHILD_SA {spi_in:08x}: rekeying"
            );
            enqueue(sa, Queued::RekeyChild(spi_in));
        }
    }
    start_queued(sa, ctx);
}

/// Queue creation of a child config (further children / childless setup / acquire).
pub(crate) fn queue_child(sa: &mut IkeSa, cfg: usize) {
    enqueue(sa, Queued::NewChild(cfg));
}

/// Queue a rekey of the IKE SA or one child (commands).
pub(crate) fn queue(sa: &mut IkeSa, q: Queued) {
    enqueue(sa, q);
}

/// After every input: arm timers of a freshly established SA, queue its further children, and
/// start the next queued exchange if the request window is free.
pub(crate) fn after_input(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    if sa.dead.is_some() || sa.state != IkeState::Established {
        return;
    }
    activate_replacements(sa, ctx);
    if !sa.life.armed {
        arm_ike(sa, ctx);
        if sa.initiator {
            // RFC 7296 §1.3: further children (and every child of a childless IKE SA, RFC 6023)
            // come with CREATE_CHILD_SA.
            // The first child went in IKE_AUTH unless the IKE SA was initiated childless; a
            // failure there is final (no retry here).
            let first = usize::from(sa.conn.childless != crate::Childless::Force);
            for i in first..sa.conn.children.len() {
                enqueue(sa, Queued::NewChild(i));
            }
        }
    }
    start_queued(sa, ctx);
}

/// Replacement SAs whose predecessor is gone (the peer deleted it after installing the new SA,
/// or it expired) may now carry our outbound traffic.
pub(crate) fn activate_replacements(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    let present: Vec<u32> = sa.children.iter().map(|c| c.status.spi_in).collect();
    for c in &mut sa.children {
        if let Some(old) = c.life.replaces {
            if !present.contains(&old) {
                c.life.replaces = None;
                ctx.out.events.push_back(crate::Event::ActivateChildSa {
                    ike_sa: sa.id,
                    spi_in: c.status.spi_in,
                    spi_out: c.status.spi_out,
                });
            }
        }
    }
}

/// Start the next queued exchange when no request is outstanding (RFC 7296 §2.3 window of 1).
pub(crate) fn start_queued(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    while sa.outstanding.is_none() && sa.dead.is_none() && sa.state == IkeState::Established {
        if sa.delete_queued || sa.life.rekeyed {
            return;
        }
        let Some(q) = sa.life.queue.pop_front() else {
            return;
        };
        let r = match q {
            Queued::NewChild(cfg) => create_child::start(sa, ctx, Kind::NewChild { cfg }),
            Queued::RekeyChild(spi) => match sa.children.iter().find(|c| c.status.spi_in == spi) {
                Some(c) if c.life.state == ChildState::Installed => {
                    let cfg = c.life.cfg;
                    create_child::start(
                        sa,
                        ctx,
                        Kind::RekeyChild {
                            cfg,
                            old_spi_in: spi,
                        },
                    )
                }
                _ => continue,
            },
            Queued::RekeyIke => create_child::start(sa, ctx, Kind::RekeyIke),
            Queued::DeleteChild(spi) => create_child::start_delete_child(sa, ctx, spi),
        };
        if let Err(e) = r {
            tracing::warn!(sa = sa.id.0, "cannot start {q:?}: {e}");
        }
    }
}

/// The child with inbound SPI `spi_in`.
pub(crate) fn child_mut(sa: &mut IkeSa, spi_in: u32) -> Option<&mut ChildSa> {
    sa.children.iter_mut().find(|c| c.status.spi_in == spi_in)
}

/// CHILD_SA_PFS_INFO_SUPPORTED (draft-kivinen-ipsecme-pfsinfo; strongSwan's child-pfs-info
/// work uses the private-use number 50600): sent empty in IKE_SA_INIT when configured.
pub(crate) fn pfs_info_notify(conn: &crate::ConnectionConfig) -> Option<pqike_wire::Payload> {
    conn.lifecycle.pfs_info_notify.map(|t| {
        pqike_wire::Payload::Notify(pqike_wire::Notify::new(
            pqike_wire::NotifyType(t),
            Vec::new(),
        ))
    })
}

/// Record whether the peer's IKE_SA_INIT message announced PFS info (and we do too).
pub(crate) fn note_pfs_info(sa: &mut IkeSa, payloads: &[pqike_wire::Payload]) {
    sa.life.pfs_info =
        sa.conn.lifecycle.pfs_info_notify.is_some_and(|t| {
            crate::notify::find_notify(payloads, pqike_wire::NotifyType(t)).is_some()
        });
    if sa.life.pfs_info {
        tracing::debug!(sa = sa.id.0, "CHILD_SA_PFS_INFO_SUPPORTED negotiated");
    }
}

#[cfg(test)]
mod tests {
    use super::ours_is_redundant;

    #[test]
    fn lowest_nonce_is_compared_octet_by_octet() {
        // Our exchange holds the lowest nonce (0x00..): ours is redundant.
        assert!(ours_is_redundant(
            (&[0x00, 0xff], &[0x80]),
            (&[0x10], &[0x20])
        ));
        // Theirs holds it.
        assert!(!ours_is_redundant((&[0x30], &[0x80]), (&[0x10], &[0x20])));
        // The responder nonce of ours is the lowest.
        assert!(ours_is_redundant((&[0x90], &[0x01]), (&[0x10], &[0x20])));
        // A prefix is lower than its extension.
        assert!(ours_is_redundant(
            (&[0x10], &[0x99]),
            (&[0x10, 0x00], &[0x99])
        ));
        // Octet-wise, not as integers: 0x02 < 0x10 0x00 although shorter-is-smaller numerically too;
        // 0x01 0xff.. vs 0x02: first octet decides.
        assert!(ours_is_redundant(
            (&[0x01, 0xff, 0xff], &[0xff]),
            (&[0x02], &[0xff])
        ));
    }
}
