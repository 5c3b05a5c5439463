//! Completing an IKE SA rekey (RFC 7296 §1.3.2, §2.18; RFC 9370 §2.2.2): the new IKE SA with
//! SKEYSEED = prf(SK_d(old), SK(0) | Ni | Nr [| SK(1) | ... | SK(n)]) computed with the old SA's
//! PRF (which the rekey proposals keep fixed), the children moving over, and the §2.8.2
//! collision rule deciding which new SA survives.
use crate::exchange::protect::IkeAlgs;
use crate::notify::IkeError;
use crate::sa_data::Collision;
use crate::tasks::create_child::Negotiated;
use crate::tasks::ike_init::install_keys;
use crate::tasks::manager::{Ctx, IkeSa};
use crate::tasks::rekey;
use crate::{Event, IkeState, SaId};
use zeroize::Zeroizing;

/// SKEYSEED for the new IKE SA (RFC 7296 §2.18 with RFC 9370 §2.2.2's extension): `shared[0]`
/// before the nonces, the additional key exchanges' secrets after them.
pub(crate) fn rekey_skeyseed(
    prf: &dyn pqike_crypto::Prf,
    sk_d_old: &[u8],
    shared: &[&[u8]],
    ni: &[u8],
    nr: &[u8],
) -> Zeroizing<Vec<u8>> {
    let mut seed: Vec<&[u8]> = Vec::with_capacity(shared.len() + 2);
    if let Some((first, more)) = shared.split_first() {
        seed.push(first);
        seed.push(ni);
        seed.push(nr);
        seed.extend_from_slice(more);
    } else {
        seed.push(ni);
        seed.push(nr);
    }
    prf.compute(sk_d_old, &seed)
}

/// Build the new IKE SA from a completed negotiation.
fn build(old: &IkeSa, ctx: &mut Ctx<'_>, neg: &Negotiated) -> Result<IkeSa, IkeError> {
    let id = SaId(*ctx.next_id);
    *ctx.next_id += 1;
    // The new SA's initiator is whoever initiated the rekey (§2.18).
    let (spi_i, spi_r) = if neg.we_initiated {
        (neg.our_spi, neg.peer_spi)
    } else {
        (neg.peer_spi, neg.our_spi)
    };
    let mut new = IkeSa::new(
        id,
        old.conn.clone(),
        neg.we_initiated,
        spi_i,
        spi_r,
        // The new SA starts with both message-ID windows at 0 (RFC 7296 §2.18) on the old
        // SA's path.
        old.msg.path,
        ctx.now,
    );
    let prf_id = neg.sel.prf.ok_or(IkeError::NoProposal)?;
    new.algs = Some(IkeAlgs {
        encr: neg.sel.encr.0,
        key_bits: neg.sel.encr.1,
        integ: neg.sel.integ.unwrap_or(0),
        prf: prf_id,
    });
    new.ni = neg.ni.clone();
    new.nr = neg.nr.clone();
    new.ke_done = neg.sel.ke.into_iter().collect();
    new.ke_done
        .extend(neg.sel.addke_rounds().into_iter().map(|(_, m)| m));
    let old_prf = old.prf(ctx.crypto)?;
    let shared: Vec<&[u8]> = neg.shared.iter().map(|s| s.as_slice()).collect();
    // RFC 9867 §4: with a PPK, SK_d' = prf+(PPK, SK_d(old)) takes SK_d(old)'s place.
    let sk_d_old = match &neg.ppk {
        Some(mix) => &mix.sk_d[..],
        None => &old.keys()?.prf.sk_d[..],
    };
    let skeyseed = rekey_skeyseed(old_prf, sk_d_old, &shared, &new.ni, &new.nr);
    install_keys(&mut new, ctx, &skeyseed)?;
    if let Some(mix) = &neg.ppk {
        tracing::info!(
            sa = old.id.0,
            "PPK '{}' mixed into the new IKE SA {} keys in CREATE_CHILD_SA (RFC 9867)",
            mix.id,
            new.id.0
        );
        new.pqauth.ppk_used = Some(mix.id.clone());
    } else {
        new.pqauth.ppk_used = old.pqauth.ppk_used.clone();
    }
    // What IKE_SA_INIT negotiated stays with the replacement SA (RFC 9867 needs USE_PPK_INT).
    new.pqauth.peer_use_ppk_int = old.pqauth.peer_use_ppk_int;
    new.pqauth.ppk_int_chosen = old.pqauth.ppk_int_chosen;
    new.state = IkeState::Established;
    new.established_at = Some(ctx.now);
    new.nat_local = old.nat_local;
    new.nat_remote = old.nat_remote;
    new.peer = old.peer.clone();
    new.local_id = old.local_id.clone();
    new.remote_id = old.remote_id.clone();
    new.cp.vips = old.cp.vips.clone();
    rekey::arm_ike(&mut new, ctx);
    Ok(new)
}

fn log_new(old: &IkeSa, new: &IkeSa) {
    tracing::info!(
        sa = old.id.0,
        "IKE_SA {} rekeyed: new IKE SA {} with SPIs {:016x}_i {:016x}_r, KE {:?}",
        old.conn.name,
        new.id.0,
        new.spi_i,
        new.spi_r,
        new.ke_done
    );
}

/// Both roles: the last key exchange of an IKE rekey is done.
pub(crate) fn finish(sa: &mut IkeSa, ctx: &mut Ctx<'_>, neg: Negotiated) -> Result<(), IkeError> {
    let mut new = match build(sa, ctx, &neg) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(sa = sa.id.0, "cannot create the rekeyed IKE SA: {e}");
            sa.life.rekeying = false;
            return Ok(());
        }
    };
    log_new(sa, &new);
    if neg.we_initiated {
        sa.life.rekeying = false;
        let collision = sa.life.ike_collision.take();
        let redundant = collision
            .as_ref()
            .is_some_and(|c| rekey::ours_is_redundant((&neg.ni, &neg.nr), (&c.ni, &c.nr)));
        sa.life.rekeyed = true;
        if redundant {
            // §2.8.2: our new SA holds the lowest nonce: we delete it, the peer's new SA takes
            // the children and the peer deletes the old one.
            tracing::info!(
                sa = sa.id.0,
                "IKE_SA rekey collision lost: deleting our new SA"
            );
            crate::tasks::informational::start_delete(&mut new, ctx);
            if let Some(c) = collision.filter(|c| c.created != 0) {
                move_children(sa, ctx, SaId(c.created));
            } else {
                // The peer's exchange is still in its IKE_FOLLOWUP_KE rounds: it takes the
                // children when it completes.
                sa.life.ike_collision = Some(Collision {
                    created: 0,
                    ni: Vec::new(),
                    nr: Vec::new(),
                });
            }
        } else {
            if collision.is_some() {
                tracing::info!(sa = sa.id.0, "IKE_SA rekey collision won");
                sa.life.won_collision = true;
            }
            new.children = std::mem::take(&mut sa.children);
            ctx.out.events.push_back(Event::IkeRekeyed {
                old: sa.id,
                new: new.id,
            });
            crate::tasks::informational::start_delete(sa, ctx);
        }
    } else if sa.life.rekeying {
        // Collision, ours still outstanding: remember where the children go if we lose.
        if let Some(c) = &mut sa.life.ike_collision {
            c.created = new.id.0;
        }
    } else if sa.life.rekeyed && sa.life.won_collision {
        // Collision we won: this SA is redundant, the peer deletes it.
    } else {
        // Normal responder case, or a collision we lost: the children move, the peer deletes
        // the old SA.
        sa.life.rekeyed = true;
        new.children = std::mem::take(&mut sa.children);
        ctx.out.events.push_back(Event::IkeRekeyed {
            old: sa.id,
            new: new.id,
        });
    }
    for c in &new.children {
        tracing::debug!(
            sa = new.id.0,
            "CHILD_SA {:08x} moved from IKE SA {}",
            c.status.spi_in,
            sa.id.0
        );
    }
    ctx.out.new_sas.push(new);
    Ok(())
}

/// Children go to an SA the endpoint holds (the peer's winning new SA).
fn move_children(sa: &mut IkeSa, ctx: &mut Ctx<'_>, to: SaId) {
    ctx.out.moves.push((sa.id, to));
    ctx.out.events.push_back(Event::IkeRekeyed {
        old: sa.id,
        new: to,
    });
}

#[cfg(test)]
mod tests {
    use super::rekey_skeyseed;
    use crate::keymat::test_prf::HmacPrf;
    use pqike_crypto::Prf;

    #[test]
    fn skeyseed_orders_secrets_around_nonces() {
        let prf = HmacPrf(5);
        let got = rekey_skeyseed(&prf, b"d", &[b"S0", b"S1", b"S2"], b"NI", b"NR");
        assert_eq!(got, prf.compute(b"d", &[b"S0NINRS1S2"]));
        let one = rekey_skeyseed(&prf, b"d", &[b"S0"], b"NI", b"NR");
        assert_eq!(one, prf.compute(b"d", &[b"S0NINR"]));
    }
}
