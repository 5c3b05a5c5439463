//! INFORMATIONAL (RFC 7296 §1.4): Delete of the IKE SA or of Child SAs, and empty messages as
//! liveness checks (§2.4).
use crate::exchange::Received;
use crate::notify::IkeError;
use crate::tasks::manager::{Ctx, IkeSa};
use crate::tasks::Pending;
use crate::{DownReason, Event, IkeState};
use pqike_wire::{Delete, ExchangeType, Payload, ProtocolId};

/// Initiator: delete the IKE SA (and with it all children, §1.4.1).
pub(crate) fn start_delete(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    if sa.busy() {
        // One request at a time (§2.3): run it once the current exchange is done.
        sa.delete_queued = true;
        return;
    }
    sa.state = IkeState::Deleting;
    let d = Payload::Delete(Delete {
        protocol: ProtocolId::IKE,
        spi_size: 0,
        spis: Vec::new(),
    });
    if let Err(e) = sa.send_request(ctx, ExchangeType::INFORMATIONAL, &[d], Pending::Delete) {
        tracing::warn!(sa = sa.id.0, "cannot send Delete: {e}");
        sa.mark_down(DownReason::LocalDelete);
    }
}

/// Initiator: an empty INFORMATIONAL as a liveness check.
pub(crate) fn start_liveness(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    sa.last_activity = ctx.now;
    if let Err(e) = sa.send_request(ctx, ExchangeType::INFORMATIONAL, &[], Pending::Liveness) {
        tracing::warn!(sa = sa.id.0, "cannot send liveness check: {e}");
    }
}

/// Responder: answer an INFORMATIONAL request.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Received,
) -> Result<(), IkeError> {
    let mid = msg.header.message_id;
    let mut reply_spis = Vec::new();
    let mut delete_ike = false;
    for p in &msg.payloads {
        let Payload::Delete(d) = p else { continue };
        match d.protocol {
            ProtocolId::IKE => delete_ike = true,
            ProtocolId::ESP | ProtocolId::AH => {
                for spi in &d.spis {
                    let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()).map(u32::from_be_bytes)
                    else {
                        return Err(IkeError::Syntax("Child SA SPI is not 4 octets".into()));
                    };
                    // The peer names its inbound SPI = our outbound (§1.4.1); answer with ours.
                    if let Some(pos) = sa.children.iter().position(|c| c.status.spi_out == spi) {
                        let c = sa.children.remove(pos);
                        tracing::info!(
                            sa = sa.id.0,
                            "peer deleted CHILD_SA {} ({:08x})",
                            c.status.name,
                            c.status.spi_in
                        );
                        ctx.out.events.push_back(Event::RemoveChildSa {
                            ike_sa: sa.id,
                            spi_in: c.status.spi_in,
                            spi_out: c.status.spi_out,
                        });
                        reply_spis.push(c.status.spi_in.to_be_bytes().to_vec());
                    } else {
                        tracing::debug!(sa = sa.id.0, "Delete for unknown Child SA {spi:08x}");
                    }
                }
            }
            other => tracing::debug!(sa = sa.id.0, "Delete for protocol {other} ignored"),
        }
    }
    let reply = if delete_ike || reply_spis.is_empty() {
        Vec::new()
    } else {
        vec![Payload::Delete(Delete {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: reply_spis,
        })]
    };
    sa.send_response(ctx, ExchangeType::INFORMATIONAL, mid, &reply)?;
    if delete_ike {
        tracing::info!(sa = sa.id.0, "peer deleted the IKE SA");
        sa.mark_down(DownReason::PeerDelete);
    }
    Ok(())
}
