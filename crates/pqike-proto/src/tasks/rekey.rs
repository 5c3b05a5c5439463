//! SA lifecycle timers: rekey and hard-expiry deadlines with strongSwan-style jitter, what
//! expiries queue (the queue itself and what runs next are the task manager's), and the RFC
//! 7296 §2.8.1 collision rule.
//!
//! Times come from [`crate::LifecycleConfig`]: an SA is rekeyed at
//! `rekey_time - uniform(0, rand_time)` after it was created and torn down at `life_time`
//! (strongSwan's `rekey_time`, `rand_time`, `life_time`; defaults life = rekey + 10 %,
//! rand = life - rekey). The jitter makes simultaneous rekeys by both peers unlikely (§2.8).
use crate::sa_data::{ChildLife, ChildSa, ChildState};
use crate::tasks::manager::{start_queued, Ctx, IkeSa, Queued};
use crate::{DownReason, IkeState, LifecycleConfig};
use std::time::{Duration, Instant};

/// How long a responder keeps the state of a CREATE_CHILD_SA waiting for its IKE_FOLLOWUP_KE
/// rounds (RFC 9370 §2.2.4 leaves it open; a lost round is retransmitted well within this).
pub(crate) const FOLLOWUP_STATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Retry delay after TEMPORARY_FAILURE or a failed rekey (strongSwan retries within seconds).
pub(crate) const RETRY_DELAY: Duration = Duration::from_secs(2);

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
pub(crate) fn child_life(sa: &crate::sa_data::SaData, ctx: &Ctx<'_>, cfg: usize) -> ChildLife {
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
pub(crate) fn arm_ike(sa: &mut crate::sa_data::SaData, ctx: &Ctx<'_>) {
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
pub(crate) fn dpd_interval(
    sa: &crate::sa_data::SaData,
    ctx_cfg: &crate::EndpointConfig,
) -> Option<Duration> {
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
        sa.followups
            .iter()
            .map(|f| f.created + FOLLOWUP_STATE_TIMEOUT),
    );
    times.into_iter().min()
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
        hard_delete(sa, ctx);
        return;
    }
    sa.followups
        .retain(|f| now < f.created + FOLLOWUP_STATE_TIMEOUT);
    if sa.life.rekey_at.is_some_and(|t| now >= t) && !sa.life.rekeying {
        sa.life.rekey_at = None;
        tracing::info!(sa = sa.id.0, "IKE SA rekey time reached");
        sa.enqueue(Queued::RekeyIke);
    }
    let mut expired = Vec::new();
    let mut rekey = Vec::new();
    let id = sa.id;
    for c in &mut sa.data.children {
        if c.life.expire_at.is_some_and(|t| now >= t) {
            c.life.expire_at = None;
            expired.push(c.status.spi_in);
        } else if c.life.state == ChildState::Installed && c.life.rekey_at.is_some_and(|t| now >= t)
        {
            c.life.rekey_at = None;
            tracing::info!(
                sa = id.0,
                "CHILD_SA {} {:08x} rekey time reached",
                c.status.name,
                c.status.spi_in
            );
            rekey.push(c.status.spi_in);
        }
    }
    sa.queue.extend(rekey.into_iter().map(Queued::RekeyChild));
    for spi in expired {
        expire_child(sa, ctx, spi);
    }
    start_queued(sa, ctx);
}

/// Tear the IKE SA down now: a Delete if the window is free, else silently.
fn hard_delete(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    if !sa.busy() {
        crate::tasks::informational::start_delete(sa, ctx);
    } else {
        sa.mark_down(DownReason::LifetimeExpired);
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
    sa.queue.retain(|q| *q != Queued::RekeyChild(spi_in));
    sa.enqueue(Queued::DeleteChild(spi_in));
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
            sa.enqueue(Queued::RekeyChild(spi_in));
        }
    }
    start_queued(sa, ctx);
}

/// Replacement SAs whose predecessor is gone (the peer deleted it after installing the new SA,
/// or it expired) may now carry our outbound traffic.
pub(crate) fn activate_replacements(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    let present: Vec<u32> = sa.children.iter().map(|c| c.status.spi_in).collect();
    let id = sa.id;
    for c in &mut sa.data.children {
        if let Some(old) = c.life.replaces {
            if !present.contains(&old) {
                c.life.replaces = None;
                ctx.out.events.push_back(crate::Event::ActivateChildSa {
                    ike_sa: id,
                    spi_in: c.status.spi_in,
                    spi_out: c.status.spi_out,
                });
            }
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
pub(crate) fn note_pfs_info(sa: &mut crate::sa_data::SaData, payloads: &[pqike_wire::Payload]) {
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
