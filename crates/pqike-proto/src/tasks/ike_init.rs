//! IKE_SA_INIT (RFC 7296 §1.2): proposals, the type-4 key exchange, nonces, COOKIE (§2.6) and
//! INVALID_KE_PAYLOAD (§1.2) retries, and the capability notifies (RFC 7383, RFC 7427, RFC
//! 9242, RFC 6023). NAT detection, the PQ authentication notifies, PFS info and CERTREQ are
//! contributed to the same messages by their own tasks ([`crate::tasks::features`]).
use crate::exchange::protect::{IkeAlgs, SaKeys};
use crate::keymat::{derive_ike_keys, initial_skeyseed};
use crate::notify::{find_notify, IkeError};
use crate::proposal::{accept_reply, build_proposals, Selected};
use crate::sa_data::{PeerSupport, SaData};
use crate::tasks::features::{self, Stage};
use crate::tasks::manager::{next_exchange, peer_error, responder_next_state, Ctx, IkeSa};
use crate::tasks::Pending;
use crate::{Childless, IkeKeyStage, IkeSaKeyLog};
use pqike_crypto::{ActiveKeyExchange, CryptoProvider, SecureRandom};
use pqike_wire::{
    ExchangeType, KeMethod, Message, Notify, NotifyType, Payload, Proposal, ProtocolId,
    TransformType,
};

/// Nonce length we send (RFC 7296 §2.10: at least half the PRF key size; 32 covers SHA-512).
pub(crate) const NONCE_LEN: usize = 32;
/// How often we follow a COOKIE or INVALID_KE_PAYLOAD answer before giving up.
const MAX_COOKIE_TRIES: u32 = 3;
const MAX_INVALID_KE_TRIES: u32 = 3;
/// RFC 7427 §4 / RFC 8420: SHA2-256, SHA2-384, SHA2-512, Identity.
const HASH_ALGS: [u16; 4] = [2, 3, 4, 5];

/// Initiator state while the IKE_SA_INIT request is outstanding.
pub(crate) struct InitState {
    ke: Box<dyn ActiveKeyExchange>,
    method: KeMethod,
    proposals: Vec<Proposal>,
    cookie: Option<Vec<u8>>,
    cookie_tries: u32,
    invalid_ke_tries: u32,
}

/// Random bytes from the injected generator.
pub(crate) fn random(rng: &dyn SecureRandom, len: usize) -> Result<Vec<u8>, IkeError> {
    let mut v = vec![0u8; len];
    rng.fill(&mut v)?;
    Ok(v)
}

pub(crate) fn peer_support(payloads: &[Payload]) -> PeerSupport {
    let mut s = PeerSupport::default();
    for p in payloads {
        match p {
            Payload::Notify(n) => match n.notify_type {
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED => s.fragmentation = true,
                NotifyType::CHILDLESS_IKEV2_SUPPORTED => s.childless = true,
                NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED => s.intermediate = true,
                NotifyType::SIGNATURE_HASH_ALGORITHMS => {
                    s.hash_algs = n
                        .data
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                }
                _ => {}
            },
            Payload::CertReq(_) => s.certreq = true,
            _ => {}
        }
    }
    s
}

fn hash_algs_notify() -> Payload {
    let data = HASH_ALGS.iter().flat_map(|h| h.to_be_bytes()).collect();
    Payload::Notify(Notify::new(NotifyType::SIGNATURE_HASH_ALGORITHMS, data))
}

fn empty(t: NotifyType) -> Payload {
    Payload::Notify(Notify::new(t, vec![]))
}

/// The capability notifies of an IKE_SA_INIT message: RFC 7383 fragmentation, RFC 7427 hash
/// algorithms, RFC 9242 IKE_INTERMEDIATE. `responder_intermediate`: `None` in the request,
/// else whether the responder runs IKE_INTERMEDIATE.
pub(crate) fn capabilities(
    sa: &SaData,
    responder_intermediate: Option<bool>,
    out: &mut Vec<Payload>,
) {
    let conn = &sa.conn;
    let fragmentation = match responder_intermediate {
        None => conn.fragmentation,
        Some(_) => conn.fragmentation && sa.peer.fragmentation,
    };
    if fragmentation {
        out.push(empty(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED));
    }
    out.push(hash_algs_notify());
    let intermediate = match responder_intermediate {
        Some(i) => i,
        // RFC 9242 §3.1; like strongSwan, only when additional key exchanges are configured,
        // or (RFC 9867 §3) for a PPK in IKE_INTERMEDIATE, which needs the exchange too.
        None => {
            conn.proposals.iter().any(|p| {
                p.addke
                    .iter()
                    .any(|l| l.iter().any(|m| *m != KeMethod::NONE))
            }) || crate::pqauth::wants_ppk_int(conn)
        }
    };
    if intermediate {
        out.push(empty(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED));
    }
}

/// RFC 6023: the responder announces childless support unless the connection forbids it.
pub(crate) fn childless_notify(sa: &SaData, out: &mut Vec<Payload>) {
    if sa.conn.childless != Childless::Never {
        out.push(empty(NotifyType::CHILDLESS_IKEV2_SUPPORTED));
    }
}

/// Initiator: start the IKE SA.
pub(crate) fn initiate(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), IkeError> {
    let proposals = build_proposals(&sa.conn.proposals, ProtocolId::IKE, &[]);
    let method = sa
        .conn
        .proposals
        .iter()
        .find_map(|p| p.ke.first().copied())
        .ok_or_else(|| IkeError::Config("no key exchange method configured".into()))?;
    sa.ni = random(ctx.rng, NONCE_LEN)?;
    let ke = start_ke(ctx.crypto, method)?;
    send(
        sa,
        ctx,
        InitState {
            ke,
            method,
            proposals,
            cookie: None,
            cookie_tries: 0,
            invalid_ke_tries: 0,
        },
    )
}

fn start_ke(
    crypto: &dyn CryptoProvider,
    method: KeMethod,
) -> Result<Box<dyn ActiveKeyExchange>, IkeError> {
    let kex = crypto
        .key_exchange(method.0)
        .ok_or_else(|| IkeError::Config(format!("{method} unsupported")))?;
    Ok(kex.start()?)
}

fn send(sa: &mut IkeSa, ctx: &mut Ctx<'_>, st: InitState) -> Result<(), IkeError> {
    let mut payloads = Vec::new();
    // RFC 7296 §2.6: the COOKIE notify comes first.
    if let Some(c) = &st.cookie {
        payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
    }
    payloads.push(Payload::Sa(st.proposals.clone()));
    payloads.push(Payload::Ke {
        method: st.method,
        data: st.ke.public_data().to_vec(),
    });
    payloads.push(Payload::Nonce(sa.ni.clone()));
    features::build(sa, ctx, Stage::InitRequest, &mut payloads)?;
    // RealMessage1 (RFC 7296 §2.15) comes from the transcript hook: the last request sent.
    sa.send_request(
        ctx,
        ExchangeType::IKE_SA_INIT,
        &payloads,
        Pending::IkeInit(st),
    )?;
    Ok(())
}

/// Initiator: the IKE_SA_INIT response.
pub(crate) fn process_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut st: InitState,
    msg: Message,
) -> Result<(), IkeError> {
    let payloads = &msg.payloads;
    if let Some(c) = find_notify(payloads, NotifyType::COOKIE) {
        if st.cookie_tries >= MAX_COOKIE_TRIES || c.data.is_empty() || c.data.len() > 64 {
            return Err(IkeError::PeerNotify(NotifyType::COOKIE));
        }
        tracing::debug!(sa = sa.id.0, "responder demands a cookie, retrying");
        st.cookie = Some(c.data.clone());
        st.cookie_tries += 1;
        return send(sa, ctx, st);
    }
    if let Some(n) = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
        let group = match n.data.as_slice() {
            [a, b] => KeMethod(u16::from_be_bytes([*a, *b])),
            _ => return Err(IkeError::PeerNotify(NotifyType::INVALID_KE_PAYLOAD)),
        };
        let offered = sa.conn.proposals.iter().any(|p| p.ke.contains(&group));
        if !offered || st.invalid_ke_tries >= MAX_INVALID_KE_TRIES || group == st.method {
            tracing::warn!(sa = sa.id.0, "responder wants {group}, which we cannot use");
            return Err(IkeError::PeerNotify(NotifyType::INVALID_KE_PAYLOAD));
        }
        tracing::info!(
            sa = sa.id.0,
            "responder wants {group} instead of {}, retrying",
            st.method
        );
        st.ke = start_ke(ctx.crypto, group)?;
        st.method = group;
        st.invalid_ke_tries += 1;
        return send(sa, ctx, st);
    }
    peer_error(payloads)?;
    if msg.header.spi_r == 0 {
        return Err(IkeError::Syntax("responder SPI is zero".into()));
    }
    let props = payloads
        .iter()
        .find_map(|p| {
            if let Payload::Sa(v) = p {
                Some(v)
            } else {
                None
            }
        })
        .ok_or_else(|| IkeError::Syntax("no SA payload".into()))?;
    let selected = accept_reply(props, &st.proposals).ok_or(IkeError::NoProposal)?;
    let (method, data) = payloads
        .iter()
        .find_map(|p| {
            if let Payload::Ke { method, data } = p {
                Some((*method, data))
            } else {
                None
            }
        })
        .ok_or_else(|| IkeError::Syntax("no KE payload".into()))?;
    if selected.ke != Some(st.method) || method != st.method {
        return Err(IkeError::Syntax(format!(
            "KE method {method} does not match the proposal"
        )));
    }
    let nonce = payloads
        .iter()
        .find_map(|p| {
            if let Payload::Nonce(n) = p {
                Some(n.clone())
            } else {
                None
            }
        })
        .ok_or_else(|| IkeError::Syntax("no nonce".into()))?;
    let shared = st.ke.complete(data)?;
    sa.spi_r = msg.header.spi_r;
    sa.nr = nonce;
    features::received(
        sa,
        ctx,
        Stage::InitResponse {
            intermediate: false,
        },
        payloads,
    );
    set_algorithms(sa, &selected)?;
    derive_initial(sa, ctx, shared.as_bytes())?;
    if sa.nat_detected() {
        // RFC 7296 §2.23: after NAT detection the initiator moves to port 4500.
        sa.msg.path.float_to_nat_t(ctx.cfg);
    }
    if !sa.addke_pending.is_empty() && !sa.peer.intermediate {
        tracing::warn!(
            sa = sa.id.0,
            "additional key exchanges selected without INTERMEDIATE_EXCHANGE_SUPPORTED"
        );
    }
    next_exchange(sa, ctx)
}

fn set_algorithms(sa: &mut SaData, selected: &Selected) -> Result<(), IkeError> {
    let prf = selected.prf.ok_or(IkeError::NoProposal)?;
    let ke = selected.ke.ok_or(IkeError::NoProposal)?;
    sa.algs = Some(IkeAlgs {
        encr: selected.encr.0,
        key_bits: selected.encr.1,
        integ: selected.integ.unwrap_or(0),
        prf,
    });
    sa.ke_done = vec![ke];
    sa.addke_pending = selected.addke_rounds().into_iter().collect();
    Ok(())
}

/// SKEYSEED and the first key generation (RFC 7296 §2.14).
fn derive_initial(sa: &mut SaData, ctx: &Ctx<'_>, shared: &[u8]) -> Result<(), IkeError> {
    let prf = sa.prf(ctx.crypto)?;
    let skeyseed = initial_skeyseed(prf, &sa.ni, &sa.nr, shared);
    derive_keys(sa, ctx, &skeyseed, IkeKeyStage::Init)
}

/// Derive and install a key generation from SKEYSEED: after each RFC 9370 / RFC 9867
/// IKE_INTERMEDIATE round (the SA already has keys) or for the new SA of an IKE rekey (it has
/// none yet; the IKE_SA_INIT derivation goes through [`derive_initial`]).
pub(crate) fn install_keys(
    sa: &mut SaData,
    ctx: &Ctx<'_>,
    skeyseed: &[u8],
) -> Result<(), IkeError> {
    let stage = if sa.keys.is_some() {
        IkeKeyStage::Intermediate
    } else {
        IkeKeyStage::Rekey
    };
    derive_keys(sa, ctx, skeyseed, stage)
}

/// The one place SK_e/SK_a are derived, hence the one place they are exported.
fn derive_keys(
    sa: &mut SaData,
    ctx: &Ctx<'_>,
    skeyseed: &[u8],
    stage: IkeKeyStage,
) -> Result<(), IkeError> {
    let algs = sa
        .algs
        .ok_or_else(|| IkeError::Config("no algorithms".into()))?;
    let prf = sa.prf(ctx.crypto)?;
    let (ek, ik) = ctx
        .crypto
        .sk_key_lengths(algs.encr, algs.key_bits, algs.integ)
        .ok_or_else(|| {
            IkeError::Config(format!(
                "cipher {}/{:?}/{} unsupported",
                algs.encr, algs.key_bits, algs.integ
            ))
        })?;
    let keys = derive_ike_keys(prf, skeyseed, &sa.ni, &sa.nr, sa.spi_i, sa.spi_r, ek, ik);
    if ctx.cfg.export_keys {
        sa.key_log.push(IkeSaKeyLog {
            sa: sa.id,
            connection: sa.conn.name.clone(),
            stage,
            initiator: sa.initiator,
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            encr: (algs.encr, algs.key_bits),
            integ: algs.integ,
            prf: algs.prf,
            sk_ei: keys.sk_ei.clone(),
            sk_er: keys.sk_er.clone(),
            sk_ai: keys.sk_ai.clone(),
            sk_ar: keys.sk_ar.clone(),
        });
    }
    sa.keys = Some(SaKeys::new(ctx.crypto, algs, keys, sa.initiator)?);
    Ok(())
}

/// Whether the provider can do an algorithm (for proposal selection).
pub(crate) fn supported(crypto: &dyn CryptoProvider, t: TransformType, id: u16) -> bool {
    match t {
        TransformType::ENCR => [Some(128), Some(192), Some(256), None].iter().any(|bits| {
            crypto.sk_key_lengths(id, *bits, 0).is_some()
                || crypto.sk_key_lengths(id, *bits, 12).is_some()
        }),
        TransformType::PRF => crypto.prf(id).is_some(),
        // AES-CBC-128 is the reference cipher every provider pairs with an HMAC.
        TransformType::INTEG => id == 0 || crypto.sk_key_lengths(12, Some(128), id).is_some(),
        TransformType::ESN => id <= 1,
        t if t == TransformType::KE || t.addke_index().is_some() => {
            id == 0 || crypto.key_exchange(id).is_some()
        }
        _ => false,
    }
}

/// Responder: the IKE_SA_INIT request on a fresh SA (the endpoint chose the connection and the
/// proposal, and did the cookie checks). On error the endpoint answers with the notify.
pub(crate) fn respond(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    msg: &Message,
    selected: Selected,
) -> Result<(), IkeError> {
    let payloads = &msg.payloads;
    let want = selected.ke.ok_or(IkeError::NoProposal)?;
    let (method, data) = payloads
        .iter()
        .find_map(|p| {
            if let Payload::Ke { method, data } = p {
                Some((*method, data))
            } else {
                None
            }
        })
        .ok_or_else(|| IkeError::Syntax("no KE payload".into()))?;
    let nonce = payloads
        .iter()
        .find_map(|p| {
            if let Payload::Nonce(n) = p {
                Some(n.clone())
            } else {
                None
            }
        })
        .ok_or_else(|| IkeError::Syntax("no nonce".into()))?;
    if method != want {
        // RFC 7296 §1.2: tell the initiator which group we selected.
        return Err(IkeError::InvalidKe(want));
    }
    let kex = ctx
        .crypto
        .key_exchange(want.0)
        .ok_or(IkeError::NoProposal)?;
    let (our_data, shared) = kex.respond(data)?;
    sa.ni = nonce;
    sa.nr = random(ctx.rng, NONCE_LEN)?;
    features::received(sa, ctx, Stage::InitRequest, payloads);
    set_algorithms(sa, &selected)?;
    derive_initial(sa, ctx, shared.as_bytes())?;
    let mut reply = vec![
        Payload::Sa(vec![selected.to_proposal()]),
        Payload::Ke {
            method: want,
            data: our_data,
        },
        Payload::Nonce(sa.nr.clone()),
    ];
    // RFC 9867 §3: a PPK in IKE_INTERMEDIATE also needs the exchange.
    let ppk_int = crate::pqauth::wants_ppk_int(&sa.conn) && sa.pqauth.peer_use_ppk_int;
    let intermediate = sa.peer.intermediate && (!sa.addke_pending.is_empty() || ppk_int);
    features::build(sa, ctx, Stage::InitResponse { intermediate }, &mut reply)?;
    // RealMessage2 comes from the transcript hook.
    sa.send_response(
        ctx,
        ExchangeType::IKE_SA_INIT,
        msg.header.message_id,
        &reply,
    )?;
    responder_next_state(sa);
    Ok(())
}
