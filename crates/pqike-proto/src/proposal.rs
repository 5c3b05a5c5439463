//! SA proposal building and negotiation (RFC 7296 §2.7, §3.3; RFC 9370 §2.2.1).
//!
//! * Initiator: [`build_proposals`] for the SA payload, then [`accept_reply`] on the responder's SA.
//! * Responder: [`select`] on the initiator's SA, set [`Selected::spi`] to our own SPI (ESP, IKE
//!   rekey) and answer with [`Selected::to_proposal`].
//!
//! The key-exchange slots (type 4 and ADDKE1..7) are chosen together so that no method repeats
//! (RFC 9370 §2.2.1); [`Selected::addke_rounds`] gives the IKE_INTERMEDIATE / IKE_FOLLOWUP_KE rounds.
use crate::config::ProposalConfig;
use pqike_wire::{Attribute, KeMethod, Proposal, ProtocolId, Transform, TransformType};

/// Highest transform type we understand (ADDKE7). RFC 7296 §3.3.6: a proposal with a transform
/// type we do not know must be rejected as a whole, since we cannot tell what it would require.
const MAX_KNOWN_TYPE: u8 = 12;

/// The ENCR transform IDs of combined-mode (AEAD) ciphers, which take no INTEG transform
/// (RFC 5282 §8): AES-CCM 14-16, AES-GCM 18-20, NULL_AUTH_AES_GMAC 21, Camellia-CCM 25-27,
/// ChaCha20-Poly1305 28 and the implicit-IV variants 29-31 (RFC 8750).
pub fn is_aead(encr: u16) -> bool {
    matches!(encr, 14..=16 | 18..=21 | 25..=31)
}

/// The outcome of a negotiation: one algorithm per transform type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// Proposal number (echoed in the reply).
    pub number: u8,
    /// IKE or ESP.
    pub protocol: ProtocolId,
    /// SPI of the proposal: the peer's after [`select`], the responder's after [`accept_reply`].
    /// A responder replaces it with its own SPI before [`Selected::to_proposal`].
    pub spi: Vec<u8>,
    /// ENCR transform ID and Key Length attribute.
    pub encr: (u16, Option<u16>),
    /// PRF (IKE only).
    pub prf: Option<u16>,
    /// INTEG; `None` for AEAD ciphers (also when INTEG NONE was chosen).
    pub integ: Option<u16>,
    /// Type-4 key exchange; `None` when absent or NONE was chosen.
    pub ke: Option<KeMethod>,
    /// ADDKE1..7; `addke[i] = None` when the round is absent or NONE was chosen.
    pub addke: [Option<KeMethod>; 7],
    /// ESN (ESP only): `Some(true)` = ESN, `Some(false)` = NO_ESN, `None` = no ESN transform.
    pub esn: Option<bool>,
    /// Transform types (KE, ADDKEn, INTEG) for which ID NONE (0) was chosen explicitly. They carry
    /// no algorithm but must be echoed in the reply: RFC 7296 §3.3.6 wants one transform of each
    /// offered type back.
    pub none_types: Vec<TransformType>,
}

impl Selected {
    /// The responder's reply: exactly one transform per negotiated type, in type order, with
    /// [`Selected::spi`] as SPI.
    pub fn to_proposal(&self) -> Proposal {
        let mut transforms = Vec::new();
        let attrs = self
            .encr
            .1
            .map(|l| vec![Attribute::KeyLength(l)])
            .unwrap_or_default();
        transforms.push(Transform {
            transform_type: TransformType::ENCR,
            id: self.encr.0,
            attributes: attrs,
        });
        let mut push = |t: TransformType, id: Option<u16>| {
            let id = id.or_else(|| self.none_types.contains(&t).then_some(0));
            if let Some(id) = id {
                transforms.push(Transform {
                    transform_type: t,
                    id,
                    attributes: Vec::new(),
                });
            }
        };
        push(TransformType::PRF, self.prf);
        push(TransformType::INTEG, self.integ);
        push(TransformType::KE, self.ke.map(|m| m.0));
        for (i, m) in self.addke.iter().enumerate() {
            push(ProposalConfig::addke_type(i), m.map(|m| m.0));
        }
        push(TransformType::ESN, self.esn.map(u16::from));
        Proposal {
            number: self.number,
            protocol: self.protocol,
            spi: self.spi.clone(),
            transforms,
        }
    }

    /// The additional key exchanges to run, in order (RFC 9370 §2.2.2), NONE skipped.
    pub fn addke_rounds(&self) -> Vec<(TransformType, KeMethod)> {
        self.addke
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                m.filter(|m| *m != KeMethod::NONE)
                    .map(|m| (ProposalConfig::addke_type(i), m))
            })
            .collect()
    }
}

/// The initiator's SA payload: one proposal per config, numbered from 1 (at most 255), with
/// transforms ENCR (with Key Length), PRF, INTEG, KE, ADDKE1..7, ESN. For ESP/AH, ESN defaults
/// to NO_ESN when the config lists none; IKE proposals never carry ESN.
pub fn build_proposals(
    configs: &[ProposalConfig],
    protocol: ProtocolId,
    spi: &[u8],
) -> Vec<Proposal> {
    configs
        .iter()
        .zip(1..=u8::MAX)
        .map(|(cfg, number)| {
            let mut transforms = Vec::new();
            for &(id, bits) in &cfg.encr {
                let attributes = bits
                    .map(|b| vec![Attribute::KeyLength(b)])
                    .unwrap_or_default();
                transforms.push(Transform {
                    transform_type: TransformType::ENCR,
                    id,
                    attributes,
                });
            }
            let mut add = |t: TransformType, ids: &mut dyn Iterator<Item = u16>| {
                for id in ids {
                    transforms.push(Transform {
                        transform_type: t,
                        id,
                        attributes: Vec::new(),
                    });
                }
            };
            add(TransformType::PRF, &mut cfg.prf.iter().copied());
            add(TransformType::INTEG, &mut cfg.integ.iter().copied());
            add(TransformType::KE, &mut cfg.ke.iter().map(|m| m.0));
            for (i, list) in cfg.addke.iter().enumerate() {
                add(ProposalConfig::addke_type(i), &mut list.iter().map(|m| m.0));
            }
            if protocol != ProtocolId::IKE {
                let no_esn = [0u16];
                let esn: &[u16] = if cfg.esn.is_empty() {
                    &no_esn
                } else {
                    &cfg.esn
                };
                add(TransformType::ESN, &mut esn.iter().copied());
            }
            Proposal {
                number,
                protocol,
                spi: spi.to_vec(),
                transforms,
            }
        })
        .collect()
}

/// SPI sizes RFC 7296 §3.3.1 allows: IKE 0 (IKE_SA_INIT) or 8 (rekey), ESP/AH 4.
fn spi_size_ok(protocol: ProtocolId, spi: &[u8]) -> bool {
    match protocol {
        ProtocolId::IKE => spi.is_empty() || spi.len() == 8,
        ProtocolId::ESP | ProtocolId::AH => spi.len() == 4,
        _ => false,
    }
}

/// The usable transforms of one proposal, grouped by type (index = type number).
struct Offer {
    present: [bool; MAX_KNOWN_TYPE as usize + 1],
    /// ENCR as (id, key length).
    encr: Vec<(u16, Option<u16>)>,
    /// Other types: IDs, in the peer's order.
    ids: [Vec<u16>; MAX_KNOWN_TYPE as usize + 1],
}

impl Offer {
    /// `None` if the proposal has a transform type we do not know (RFC 7296 §3.3.6).
    fn parse(p: &Proposal) -> Option<Offer> {
        let mut o = Offer {
            present: [false; 13],
            encr: Vec::new(),
            ids: Default::default(),
        };
        for t in &p.transforms {
            let ty = t.transform_type.0;
            if ty == 0 || ty > MAX_KNOWN_TYPE {
                tracing::debug!(
                    transform_type = ty,
                    "proposal {} has an unknown transform type",
                    p.number
                );
                return None;
            }
            o.present[usize::from(ty)] = true;
            if t.transform_type == TransformType::ENCR {
                // Only Key Length is defined for ENCR; a transform with other attributes is one we
                // cannot implement, so it is skipped like an unknown transform ID.
                let only_key_len = t
                    .attributes
                    .iter()
                    .all(|a| matches!(a, Attribute::KeyLength(_)));
                if only_key_len && t.attributes.len() <= 1 {
                    o.encr.push((t.id, t.key_length()));
                }
            } else if t.attributes.is_empty() {
                o.ids[usize::from(ty)].push(t.id);
            }
        }
        Some(o)
    }

    fn has(&self, t: TransformType) -> bool {
        self.present[usize::from(t.0)]
    }

    fn ids(&self, t: TransformType) -> &[u16] {
        &self.ids[usize::from(t.0)]
    }
}

/// KE slot types: index 0 = KE (type 4), 1..=7 = ADDKE1..7.
fn ke_slot_type(slot: usize) -> TransformType {
    if slot == 0 {
        TransformType::KE
    } else {
        ProposalConfig::addke_type(slot - 1)
    }
}

/// Pick one method per present slot, in preference order, with no method repeated except NONE
/// (RFC 9370 §2.2.1). Depth-first over at most 8 short lists, so the first complete assignment
/// found is the most preferred one.
fn assign_ke(slots: &[Option<Vec<KeMethod>>], chosen: &mut Vec<Option<KeMethod>>) -> bool {
    let Some(slot) = slots.get(chosen.len()) else {
        return true;
    };
    match slot {
        None => {
            chosen.push(None);
            if assign_ke(slots, chosen) {
                return true;
            }
            chosen.pop();
        }
        Some(cands) => {
            for &m in cands {
                if m != KeMethod::NONE && chosen.contains(&Some(m)) {
                    continue;
                }
                chosen.push(Some(m));
                if assign_ke(slots, chosen) {
                    return true;
                }
                chosen.pop();
            }
        }
    }
    false
}

/// Match one offered proposal against one of our configs.
fn match_one(
    p: &Proposal,
    cfg: &ProposalConfig,
    supported: &dyn Fn(TransformType, u16) -> bool,
) -> Option<Selected> {
    if !spi_size_ok(p.protocol, &p.spi) {
        return None;
    }
    let offer = Offer::parse(p)?;
    let mut none_types = Vec::new();

    // ENCR is mandatory for IKE and ESP (AH is not supported).
    let encr = cfg
        .encr
        .iter()
        .copied()
        .find(|e| offer.encr.contains(e) && supported(TransformType::ENCR, e.0))?;

    // PRF: required if either side lists one (IKE); our order first.
    let prf = pick(&offer, TransformType::PRF, &cfg.prf, supported)?;

    // INTEG: combined-mode ciphers take none (RFC 5282 §8). A peer may list INTEG NONE with them,
    // which we echo; integrity algorithms it listed for the non-AEAD ciphers of a mixed proposal
    // simply do not apply.
    let integ = if is_aead(encr.0) {
        if offer.ids(TransformType::INTEG).contains(&0) {
            none_types.push(TransformType::INTEG);
        }
        None
    } else {
        let ours: Vec<u16> = cfg.integ.iter().copied().filter(|&i| i != 0).collect();
        if ours.is_empty() || !offer.has(TransformType::INTEG) {
            return None;
        }
        Some(ours.into_iter().find(|&i| {
            offer.ids(TransformType::INTEG).contains(&i) && supported(TransformType::INTEG, i)
        })?)
    };

    // KE and ADDKE1..7: candidate lists per slot, then a joint choice without repeats.
    let mut slots: Vec<Option<Vec<KeMethod>>> = Vec::with_capacity(8);
    for slot in 0..8 {
        let t = ke_slot_type(slot);
        let ours: &[KeMethod] = if slot == 0 {
            &cfg.ke
        } else {
            &cfg.addke[slot - 1]
        };
        let ours_optional = ours.is_empty() || ours.contains(&KeMethod::NONE);
        if !offer.has(t) {
            if !ours_optional {
                return None; // we require this round, the peer does not offer it
            }
            slots.push(None);
            continue;
        }
        let theirs = offer.ids(t);
        let mut cands: Vec<KeMethod> = ours
            .iter()
            .copied()
            .filter(|m| theirs.contains(&m.0) && (*m == KeMethod::NONE || supported(t, m.0)))
            .collect();
        // Nothing configured for this type: we can still accept the peer's explicit NONE.
        if ours.is_empty() && theirs.contains(&0) {
            cands.push(KeMethod::NONE);
        }
        if cands.is_empty() {
            return None;
        }
        slots.push(Some(cands));
    }
    let mut chosen = Vec::with_capacity(8);
    if !assign_ke(&slots, &mut chosen) {
        tracing::debug!(
            "proposal {}: no key exchange choice without a repeated method",
            p.number
        );
        return None;
    }
    let mut kes = [None; 8];
    for (slot, c) in chosen.into_iter().enumerate() {
        match c {
            Some(KeMethod::NONE) => none_types.push(ke_slot_type(slot)),
            Some(m) => kes[slot] = Some(m),
            None => {}
        }
    }

    // ESN (ESP/AH): an empty config means NO_ESN only.
    let esn = if p.protocol == ProtocolId::IKE {
        if offer.has(TransformType::ESN) {
            return None;
        }
        None
    } else if offer.has(TransformType::ESN) {
        let ours: &[u16] = if cfg.esn.is_empty() { &[0] } else { &cfg.esn };
        Some(
            ours.iter()
                .copied()
                .find(|e| offer.ids(TransformType::ESN).contains(e))?
                == 1,
        )
    } else {
        None
    };

    let mut addke = [None; 7];
    addke.copy_from_slice(&kes[1..]);
    Some(Selected {
        number: p.number,
        protocol: p.protocol,
        spi: p.spi.clone(),
        encr,
        prf,
        integ,
        ke: kes[0],
        addke,
        esn,
        none_types,
    })
}

/// Choose from `ours` (our order) among the peer's IDs of type `t`. `Some(None)` when neither
/// side has the type; `None` (no match) when only one side has it or nothing is common.
#[allow(clippy::option_option)]
fn pick(
    offer: &Offer,
    t: TransformType,
    ours: &[u16],
    supported: &dyn Fn(TransformType, u16) -> bool,
) -> Option<Option<u16>> {
    match (offer.has(t), ours.is_empty()) {
        (false, true) => Some(None),
        (false, false) | (true, true) => None,
        (true, false) => ours
            .iter()
            .copied()
            .find(|&i| offer.ids(t).contains(&i) && supported(t, i))
            .map(Some),
    }
}

/// Responder: choose from the peer's offer. Preference: our configured order first, then the
/// peer's order (strongSwan's default). `supported` filters algorithms the crypto provider can do
/// (it is not asked about NONE or ESN). Unknown transform types make that proposal unacceptable
/// (RFC 7296 §3.3.6); unknown transform IDs are ignored. Each type present in the peer's proposal
/// must be matched; for KE/ADDKE types the choice may be NONE only if offered; the chosen key
/// exchanges must not repeat a method, except NONE (RFC 9370 §2.2.1).
///
/// For the Child SA in IKE_AUTH (which has no KE payload), the caller strips KE/ADDKE transforms
/// from the offer first and passes configs without them.
pub fn select(
    offered: &[Proposal],
    ours: &[ProposalConfig],
    protocol: ProtocolId,
    supported: &dyn Fn(TransformType, u16) -> bool,
) -> Option<Selected> {
    ours.iter().find_map(|cfg| {
        offered
            .iter()
            .filter(|p| p.protocol == protocol)
            .find_map(|p| match_one(p, cfg, supported))
    })
}

/// Initiator: validate the responder's reply (one proposal, one transform per type, every
/// transform one we offered in that proposal number) and return it. A type we offered may be
/// missing from the reply only where that means "nothing": INTEG with an AEAD cipher, a KE/ADDKE
/// type for which we offered NONE, and ESN (then `esn` is `None`).
pub fn accept_reply(reply: &[Proposal], offered: &[Proposal]) -> Option<Selected> {
    let [r] = reply else {
        tracing::debug!("reply has {} proposals, expected one", reply.len());
        return None;
    };
    let ours = offered
        .iter()
        .find(|o| o.number == r.number && o.protocol == r.protocol)?;
    if !spi_size_ok(r.protocol, &r.spi) {
        return None;
    }
    let mut by_type: [Option<&Transform>; MAX_KNOWN_TYPE as usize + 1] = [None; 13];
    for t in &r.transforms {
        let ty = usize::from(t.transform_type.0);
        if ty == 0 || ty > usize::from(MAX_KNOWN_TYPE) || by_type[ty].is_some() {
            tracing::debug!(
                transform_type = ty,
                "reply has an unknown or repeated transform type"
            );
            return None;
        }
        if !ours.transforms.contains(t) {
            tracing::debug!(?t, "reply chose a transform we did not offer");
            return None;
        }
        by_type[ty] = Some(t);
    }
    let offered_none = |t: TransformType| {
        ours.transforms
            .iter()
            .any(|o| o.transform_type == t && o.id == 0)
    };
    let offered_type = |t: TransformType| ours.transforms.iter().any(|o| o.transform_type == t);
    let get = |t: TransformType| by_type[usize::from(t.0)];

    let encr = get(TransformType::ENCR).map(|t| (t.id, t.key_length()))?;
    let mut none_types = Vec::new();
    let prf = match get(TransformType::PRF) {
        Some(t) => Some(t.id),
        None if offered_type(TransformType::PRF) => return None,
        None => None,
    };
    let integ = match get(TransformType::INTEG) {
        Some(t) if t.id == 0 => {
            if !is_aead(encr.0) {
                return None;
            }
            none_types.push(TransformType::INTEG);
            None
        }
        Some(_) if is_aead(encr.0) => return None,
        Some(t) => Some(t.id),
        None if is_aead(encr.0) || !offered_type(TransformType::INTEG) => None,
        None => return None,
    };
    let mut kes: [Option<KeMethod>; 8] = [None; 8];
    for (slot, ke) in kes.iter_mut().enumerate() {
        let t = ke_slot_type(slot);
        match get(t) {
            Some(tr) if tr.id == 0 => none_types.push(t),
            Some(tr) => *ke = Some(KeMethod(tr.id)),
            None if offered_type(t) && !offered_none(t) => return None,
            None => {}
        }
    }
    // RFC 9370 §2.2.1: the responder's choice must not repeat a key exchange method.
    let chosen: Vec<KeMethod> = kes.iter().flatten().copied().collect();
    if chosen
        .iter()
        .enumerate()
        .any(|(i, m)| chosen[..i].contains(m))
    {
        tracing::debug!("reply repeats a key exchange method");
        return None;
    }
    let esn = get(TransformType::ESN).map(|t| t.id == 1);
    let mut addke = [None; 7];
    addke.copy_from_slice(&kes[1..]);
    Some(Selected {
        number: r.number,
        protocol: r.protocol,
        spi: r.spi.clone(),
        encr,
        prf,
        integ,
        ke: kes[0],
        addke,
        esn,
        none_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const X25519: KeMethod = KeMethod::CURVE25519;
    const MLKEM768: KeMethod = KeMethod::ML_KEM_768;
    const MLKEM1024: KeMethod = KeMethod::ML_KEM_1024;

    fn all(_: TransformType, _: u16) -> bool {
        true
    }

    /// aes256gcm16-prfsha384-<ke>[-ke1_<addke1>...]
    fn ike_cfg(ke: &[KeMethod], addke1: &[KeMethod], addke2: &[KeMethod]) -> ProposalConfig {
        let mut c = ProposalConfig {
            encr: vec![(20, Some(256))],
            prf: vec![6],
            ke: ke.to_vec(),
            ..Default::default()
        };
        c.addke[0] = addke1.to_vec();
        c.addke[1] = addke2.to_vec();
        c
    }

    fn offer(cfgs: &[ProposalConfig]) -> Vec<Proposal> {
        build_proposals(cfgs, ProtocolId::IKE, &[])
    }

    #[test]
    fn build_numbers_and_orders_transforms() {
        let mut c = ike_cfg(&[X25519], &[MLKEM768, KeMethod::NONE], &[]);
        c.integ = vec![12];
        let ps = build_proposals(&[c.clone(), c], ProtocolId::IKE, &[]);
        assert_eq!(ps.iter().map(|p| p.number).collect::<Vec<_>>(), vec![1, 2]);
        let types: Vec<u8> = ps[0]
            .transforms
            .iter()
            .map(|t| t.transform_type.0)
            .collect();
        assert_eq!(types, vec![1, 2, 3, 4, 6, 6]);
        assert_eq!(
            ps[0].transforms[0].attributes,
            vec![Attribute::KeyLength(256)]
        );
        let esp = build_proposals(
            &[ProposalConfig {
                encr: vec![(20, Some(128))],
                ..Default::default()
            }],
            ProtocolId::ESP,
            &[1, 2, 3, 4],
        );
        let last = esp[0].transforms.last().unwrap();
        assert_eq!((last.transform_type, last.id), (TransformType::ESN, 0));
        assert_eq!(esp[0].spi, vec![1, 2, 3, 4]);
    }

    #[test]
    fn selects_hybrid_and_round_trips_through_reply() {
        let cfg = ike_cfg(&[X25519], &[MLKEM768], &[]);
        let offered = offer(std::slice::from_ref(&cfg));
        let s = select(&offered, &[cfg], ProtocolId::IKE, &all).unwrap();
        assert_eq!(s.encr, (20, Some(256)));
        assert_eq!(s.prf, Some(6));
        assert_eq!(s.integ, None);
        assert_eq!(s.ke, Some(X25519));
        assert_eq!(s.addke_rounds(), vec![(TransformType::ADDKE1, MLKEM768)]);
        let reply = s.to_proposal();
        assert_eq!(accept_reply(&[reply], &offered), Some(s));
    }

    #[test]
    fn addke_none_is_chosen_only_if_offered_and_echoed() {
        // Peer makes ML-KEM optional; we do not configure it but accept NONE.
        let peer = ike_cfg(&[X25519], &[MLKEM768, KeMethod::NONE], &[]);
        let ours = ike_cfg(&[X25519], &[], &[]);
        let offered = offer(&[peer]);
        let s = select(&offered, &[ours], ProtocolId::IKE, &all).unwrap();
        assert_eq!(s.addke, [None; 7]);
        assert!(s.addke_rounds().is_empty());
        assert_eq!(s.none_types, vec![TransformType::ADDKE1]);
        let reply = s.to_proposal();
        assert!(reply
            .transforms
            .iter()
            .any(|t| t.transform_type == TransformType::ADDKE1 && t.id == 0));
        assert_eq!(accept_reply(&[reply], &offered), Some(s));

        // The peer requires ML-KEM, we have nothing for ADDKE1: no NONE without an offer.
        let peer = ike_cfg(&[X25519], &[MLKEM768], &[]);
        assert_eq!(
            select(
                &offer(&[peer]),
                &[ike_cfg(&[X25519], &[], &[])],
                ProtocolId::IKE,
                &all
            ),
            None
        );

        // We require ML-KEM, the peer offers no ADDKE1 at all.
        let peer = ike_cfg(&[X25519], &[], &[]);
        assert_eq!(
            select(
                &offer(&[peer]),
                &[ike_cfg(&[X25519], &[MLKEM768], &[])],
                ProtocolId::IKE,
                &all
            ),
            None
        );
        // ... but if ours lists NONE, the round is simply absent.
        let s = select(
            &offer(&[ike_cfg(&[X25519], &[], &[])]),
            &[ike_cfg(&[X25519], &[MLKEM768, KeMethod::NONE], &[])],
            ProtocolId::IKE,
            &all,
        )
        .unwrap();
        assert!(s.none_types.is_empty() && s.addke_rounds().is_empty());
    }

    #[test]
    fn duplicate_methods_are_avoided_or_rejected() {
        // Both rounds offer {768, 1024}: the greedy pick 768/768 is illegal, 768/1024 is chosen.
        let cfg = ike_cfg(&[X25519], &[MLKEM768, MLKEM1024], &[MLKEM768, MLKEM1024]);
        let s = select(
            &offer(std::slice::from_ref(&cfg)),
            &[cfg],
            ProtocolId::IKE,
            &all,
        )
        .unwrap();
        assert_eq!(
            s.addke_rounds(),
            vec![
                (TransformType::ADDKE1, MLKEM768),
                (TransformType::ADDKE2, MLKEM1024)
            ]
        );
        // Only 768 in both rounds: no valid choice.
        let cfg = ike_cfg(&[X25519], &[MLKEM768], &[MLKEM768]);
        assert_eq!(
            select(
                &offer(std::slice::from_ref(&cfg)),
                &[cfg],
                ProtocolId::IKE,
                &all
            ),
            None
        );
        // NONE may repeat.
        let cfg = ike_cfg(
            &[X25519],
            &[MLKEM768, KeMethod::NONE],
            &[MLKEM768, KeMethod::NONE],
        );
        let s = select(
            &offer(std::slice::from_ref(&cfg)),
            &[cfg],
            ProtocolId::IKE,
            &all,
        )
        .unwrap();
        assert_eq!(s.addke_rounds(), vec![(TransformType::ADDKE1, MLKEM768)]);
        assert_eq!(s.none_types, vec![TransformType::ADDKE2]);
    }

    #[test]
    fn ke_mismatch_and_unsupported_algorithms() {
        let peer = ike_cfg(&[KeMethod::ECP_256], &[], &[]);
        assert_eq!(
            select(
                &offer(&[peer]),
                &[ike_cfg(&[X25519], &[], &[])],
                ProtocolId::IKE,
                &all
            ),
            None
        );
        let cfg = ike_cfg(&[X25519, KeMethod::ECP_256], &[], &[]);
        let no_x25519 = |t: TransformType, id: u16| !(t == TransformType::KE && id == X25519.0);
        let s = select(
            &offer(std::slice::from_ref(&cfg)),
            &[cfg],
            ProtocolId::IKE,
            &no_x25519,
        )
        .unwrap();
        assert_eq!(s.ke, Some(KeMethod::ECP_256));
    }

    #[test]
    fn unknown_transform_type_rejects_proposal_but_unknown_id_is_skipped() {
        let cfg = ike_cfg(&[X25519], &[], &[]);
        let mut bad = offer(std::slice::from_ref(&cfg));
        bad[0].transforms.push(Transform {
            transform_type: TransformType(13),
            id: 1,
            attributes: vec![],
        });
        let mut good = offer(std::slice::from_ref(&cfg));
        good[0].number = 2;
        good[0].transforms.insert(
            0,
            Transform {
                transform_type: TransformType::ENCR,
                id: 4000,
                attributes: vec![],
            },
        );
        assert_eq!(
            select(&bad, std::slice::from_ref(&cfg), ProtocolId::IKE, &all),
            None
        );
        bad.extend(good);
        let s = select(&bad, &[cfg], ProtocolId::IKE, &all).unwrap();
        assert_eq!(s.number, 2);
    }

    #[test]
    fn our_order_wins_over_the_peers() {
        let mut peer = ike_cfg(&[KeMethod::ECP_256, X25519], &[], &[]);
        peer.encr = vec![(20, Some(128)), (20, Some(256))];
        let mut ours = ike_cfg(&[X25519, KeMethod::ECP_256], &[], &[]);
        ours.encr = vec![(20, Some(256)), (20, Some(128))];
        let s = select(&offer(&[peer.clone()]), &[ours], ProtocolId::IKE, &all).unwrap();
        assert_eq!((s.encr, s.ke), ((20, Some(256)), Some(X25519)));
        // With two of our configs, the first one that matches any offer is used, even if the peer
        // lists a proposal matching our second config first.
        let second = ike_cfg(&[KeMethod::ECP_256], &[], &[]);
        let first = ike_cfg(&[X25519], &[MLKEM768], &[]);
        let offered = offer(&[second.clone(), first.clone()]);
        let s = select(&offered, &[first, second], ProtocolId::IKE, &all).unwrap();
        assert_eq!(s.number, 2);
    }

    #[test]
    fn esp_integ_and_esn() {
        let cbc = ProposalConfig {
            encr: vec![(12, Some(128))],
            integ: vec![12],
            esn: vec![1, 0],
            ..Default::default()
        };
        let peer = ProposalConfig {
            encr: vec![(12, Some(128))],
            integ: vec![13, 12],
            esn: vec![0],
            ..Default::default()
        };
        let offered = build_proposals(&[peer], ProtocolId::ESP, &[9, 9, 9, 9]);
        let s = select(&offered, &[cbc], ProtocolId::ESP, &all).unwrap();
        assert_eq!(
            (s.integ, s.esn, s.spi.clone()),
            (Some(12), Some(false), vec![9, 9, 9, 9])
        );
        // IKE proposals are not considered for ESP.
        assert_eq!(
            select(
                &offered,
                &[ProposalConfig::default()],
                ProtocolId::IKE,
                &all
            ),
            None
        );
        // Wrong ESP SPI size.
        let mut bad = offered.clone();
        bad[0].spi = vec![1];
        let cbc = ProposalConfig {
            encr: vec![(12, Some(128))],
            integ: vec![12],
            ..Default::default()
        };
        assert_eq!(
            select(&bad, std::slice::from_ref(&cbc), ProtocolId::ESP, &all),
            None
        );
        assert!(select(&offered, &[cbc], ProtocolId::ESP, &all).is_some());
    }

    #[test]
    fn reply_validation() {
        let cfg = ike_cfg(&[X25519, KeMethod::ECP_256], &[MLKEM768], &[]);
        let offered = offer(std::slice::from_ref(&cfg));
        let good = select(&offered, &[cfg], ProtocolId::IKE, &all)
            .unwrap()
            .to_proposal();
        assert!(accept_reply(std::slice::from_ref(&good), &offered).is_some());

        // A transform we did not offer.
        let mut r = good.clone();
        r.transforms[0].attributes = vec![Attribute::KeyLength(128)];
        assert_eq!(accept_reply(&[r], &offered), None);
        let mut r = good.clone();
        r.transforms
            .iter_mut()
            .find(|t| t.transform_type == TransformType::ADDKE1)
            .unwrap()
            .id = 37;
        assert_eq!(accept_reply(&[r], &offered), None);
        // Two transforms of one type.
        let mut r = good.clone();
        r.transforms.push(Transform {
            transform_type: TransformType::KE,
            id: 19,
            attributes: vec![],
        });
        assert_eq!(accept_reply(&[r], &offered), None);
        // A required type missing (ADDKE1 without NONE offered).
        let mut r = good.clone();
        r.transforms
            .retain(|t| t.transform_type != TransformType::ADDKE1);
        assert_eq!(accept_reply(&[r], &offered), None);
        // Wrong proposal number, two proposals.
        let mut r = good.clone();
        r.number = 2;
        assert_eq!(accept_reply(&[r], &offered), None);
        assert_eq!(accept_reply(&[good.clone(), good], &offered), None);
    }

    #[test]
    fn reply_repeating_a_method_is_rejected() {
        let cfg = ike_cfg(&[X25519], &[MLKEM768, MLKEM1024], &[MLKEM768, MLKEM1024]);
        let offered = offer(&[cfg]);
        let mut r = offered[0].clone();
        r.transforms
            .retain(|t| !(t.transform_type.0 >= 6 && t.id == MLKEM1024.0));
        assert_eq!(accept_reply(&[r], &offered), None);
    }
}
