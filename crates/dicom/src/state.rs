//! Association state per connection, as seen by a proxy in the middle (PS3.8 §9.2, Table 9-10),
//! kept as an explicit value separate from parsing.

use core::fmt;

use crate::associate::{AssociateAc, AssociateRq};
use crate::framer::PduType;
use crate::pdu::Pdu;
use crate::uid;

/// Which peer sent a PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The association requestor (the side that opened the connection).
    FromRequestor,
    /// The association acceptor.
    FromAcceptor,
}

impl fmt::Display for Direction {
    /// "the requestor" / "the acceptor": who sent a PDU, in an error message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FromRequestor => "the requestor",
            Self::FromAcceptor => "the acceptor",
        })
    }
}

impl Direction {
    const fn other(self) -> Self {
        match self {
            Self::FromRequestor => Self::FromAcceptor,
            Self::FromAcceptor => Self::FromRequestor,
        }
    }
}

/// An accepted presentation context (PS3.8 §7.1.1.13).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AcceptedContext {
    /// Presentation context id.
    pub id: u8,
    /// Abstract syntax (SOP class) UID, from the request.
    pub abstract_syntax: String,
    /// Transfer syntax UID, from the answer.
    pub transfer_syntax: String,
}

impl fmt::Display for AcceptedContext {
    /// "context 3 is CTImageStorage with ExplicitVRLittleEndian" (UIDs when not in the table).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |u: &str| {
            uid::keyword_of(u)
                .map(str::to_owned)
                .unwrap_or_else(|| u.to_owned())
        };
        write!(
            f,
            "context {} is {} with {}",
            self.id,
            name(&self.abstract_syntax),
            name(&self.transfer_syntax)
        )
    }
}

/// Where an association stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Connected, no A-ASSOCIATE-RQ yet.
    Idle,
    /// A-ASSOCIATE-RQ seen, awaiting AC or RJ; keeps the proposal.
    Requested(Box<AssociateRq>),
    /// A-ASSOCIATE-AC seen: data may flow on the accepted contexts.
    Established(Vec<AcceptedContext>),
    /// One side sent A-RELEASE-RQ and awaits the other's RP (the other side may still send data).
    Releasing {
        /// Who asked to release.
        requested_by: Direction,
        /// Accepted contexts.
        contexts: Vec<AcceptedContext>,
    },
    /// Both sides sent A-RELEASE-RQ (release collision, PS3.8 §7.2.2); two RPs are due.
    ReleaseCollision {
        /// Who has already answered.
        replied: Option<Direction>,
    },
    /// Released, rejected or aborted: nothing more may be sent.
    Closed,
}

/// A PDU the association state does not allow. The fault lies with `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssociationError {
    /// A PDU not allowed in this state or from this direction (a second RQ, P-DATA before AC,
    /// an AC sent by the requestor, anything after close).
    #[error("{pdu_type} from {from:?} is not allowed while {state}")]
    UnexpectedPdu {
        /// The PDU type.
        pdu_type: PduType,
        /// Who sent it.
        from: Direction,
        /// The state's name.
        state: &'static str,
    },
    /// An AC answers a context id the RQ did not propose.
    #[error("A-ASSOCIATE-AC answers presentation context {0}, which was not proposed")]
    UnproposedContext(u8),
    /// An AC accepts a transfer syntax the RQ did not propose for that context (PS3.8 §9.3.3.2).
    #[error("A-ASSOCIATE-AC accepts a transfer syntax not proposed for context {0}")]
    UnproposedTransferSyntax(u8),
    /// A P-DATA-TF longer than the receiving side said it can take (PS3.8 §D.1, the maximum
    /// length sub-item). Legacy devices are known to fail on these, so it is not forwarded.
    #[error(
        "P-DATA-TF of {length} bytes from {from}, over the {max}-byte maximum {} announced",
        from.other()
    )]
    PDataTooLong {
        /// Who sent it.
        from: Direction,
        /// Its variable field's length.
        length: u64,
        /// The receiving side's maximum length.
        max: u32,
    },
    /// A PDV on a presentation context that was not accepted.
    #[error("PDV on presentation context {context_id} from {from:?}, which was not accepted")]
    UnacceptedContext {
        /// The context id.
        context_id: u8,
        /// Who sent it.
        from: Direction,
    },
}

/// The association state of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    phase: Phase,
    /// The longest P-DATA-TF variable field the requestor and the acceptor can receive, from
    /// their maximum length sub-items (none, or 0: no limit).
    receive_max: [Option<u32>; 2],
}

impl Default for Association {
    fn default() -> Self {
        Self::new()
    }
}

impl Association {
    /// A fresh connection.
    pub const fn new() -> Self {
        Self {
            phase: Phase::Idle,
            receive_max: [None; 2],
        }
    }

    /// Where the association stands.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The accepted context with this id, while data may flow.
    pub fn context(&self, id: u8) -> Option<&AcceptedContext> {
        self.contexts()?.iter().find(|c| c.id == id)
    }

    /// All accepted contexts, while data may flow.
    pub fn contexts(&self) -> Option<&[AcceptedContext]> {
        match &self.phase {
            Phase::Established(c) | Phase::Releasing { contexts: c, .. } => Some(c),
            _ => None,
        }
    }

    /// Whether the association is over.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Advance on a PDU that `from` sent. On error the state is unchanged; the caller aborts.
    pub fn on_pdu(&mut self, from: Direction, pdu: &Pdu<'_>) -> Result<(), AssociationError> {
        use Direction::{FromAcceptor, FromRequestor};
        let unexpected = |state| AssociationError::UnexpectedPdu {
            pdu_type: pdu.pdu_type(),
            from,
            state,
        };
        let next = match (&self.phase, pdu, from) {
            (Phase::Closed, _, _) => return Err(unexpected("closed")),
            (_, Pdu::Abort(_), _) => Phase::Closed,
            (Phase::Idle, Pdu::AssociateRq(rq), FromRequestor) => {
                Phase::Requested(Box::new(rq.clone()))
            }
            (Phase::Idle, _, _) => return Err(unexpected("idle")),
            (Phase::Requested(rq), Pdu::AssociateAc(ac), FromAcceptor) => {
                let contexts = accepted(rq, ac)?;
                self.receive_max = [
                    rq.header.user_info.max_length,
                    ac.header.user_info.max_length,
                ];
                Phase::Established(contexts)
            }
            (Phase::Requested(_), Pdu::AssociateRj(_), FromAcceptor) => Phase::Closed,
            (Phase::Requested(_), _, _) => return Err(unexpected("awaiting A-ASSOCIATE-AC")),
            (Phase::Established(contexts), Pdu::PDataTf(pdvs), _) => {
                check_pdvs(contexts, pdvs, from)?;
                self.check_length(pdvs, from)?;
                return Ok(());
            }
            (Phase::Established(contexts), Pdu::ReleaseRq, _) => Phase::Releasing {
                requested_by: from,
                contexts: contexts.clone(),
            },
            (Phase::Established(_), _, _) => return Err(unexpected("established")),
            (
                Phase::Releasing {
                    requested_by,
                    contexts,
                },
                Pdu::PDataTf(pdvs),
                f,
            ) if f != *requested_by => {
                check_pdvs(contexts, pdvs, from)?;
                self.check_length(pdvs, from)?;
                return Ok(());
            }
            (Phase::Releasing { requested_by, .. }, Pdu::ReleaseRp, f) if f != *requested_by => {
                Phase::Closed
            }
            (Phase::Releasing { requested_by, .. }, Pdu::ReleaseRq, f) if f != *requested_by => {
                Phase::ReleaseCollision { replied: None }
            }
            (Phase::Releasing { .. }, _, _) => return Err(unexpected("releasing")),
            (Phase::ReleaseCollision { replied: None }, Pdu::ReleaseRp, f) => {
                Phase::ReleaseCollision { replied: Some(f) }
            }
            (Phase::ReleaseCollision { replied: Some(r) }, Pdu::ReleaseRp, f) if f == r.other() => {
                Phase::Closed
            }
            (Phase::ReleaseCollision { .. }, _, _) => return Err(unexpected("release collision")),
        };
        self.phase = next;
        Ok(())
    }
}

impl Association {
    /// A P-DATA-TF from `from` must fit what the other side announced it can receive.
    fn check_length(
        &self,
        pdvs: &[crate::pdata::Pdv<'_>],
        from: Direction,
    ) -> Result<(), AssociationError> {
        // Each PDV item: a 4-byte length, the context id, the message control header, the
        // fragment (PS3.8 §9.3.5.1).
        let length: u64 = pdvs.iter().map(|p| 6 + p.fragment.len() as u64).sum();
        self.check_pdata_length(from, length)
    }

    /// Whether a P-DATA-TF from `from` whose variable field is `length` bytes fits what the
    /// receiving side announced in its maximum length sub-item (for a reader that streams the
    /// PDU and only knows its header). Before the association is established nothing was
    /// announced, and anything fits.
    pub fn check_pdata_length(&self, from: Direction, length: u64) -> Result<(), AssociationError> {
        let to = match from {
            Direction::FromRequestor => 1,
            Direction::FromAcceptor => 0,
        };
        match self.receive_max[to].filter(|&m| m > 0) {
            Some(max) if length > u64::from(max) => {
                Err(AssociationError::PDataTooLong { from, length, max })
            }
            _ => Ok(()),
        }
    }
}

/// The contexts an AC accepts, checked against the RQ it answers.
fn accepted(rq: &AssociateRq, ac: &AssociateAc) -> Result<Vec<AcceptedContext>, AssociationError> {
    let mut out = Vec::new();
    for answer in &ac.presentation_contexts {
        let proposed = rq
            .context(answer.id)
            .ok_or(AssociationError::UnproposedContext(answer.id))?;
        if !answer.result.is_accepted() {
            continue;
        }
        if !proposed.transfer_syntaxes.contains(&answer.transfer_syntax) {
            return Err(AssociationError::UnproposedTransferSyntax(answer.id));
        }
        out.push(AcceptedContext {
            id: answer.id,
            abstract_syntax: proposed.abstract_syntax.clone(),
            transfer_syntax: answer.transfer_syntax.clone(),
        });
    }
    Ok(out)
}

fn check_pdvs(
    contexts: &[AcceptedContext],
    pdvs: &[crate::pdata::Pdv<'_>],
    from: Direction,
) -> Result<(), AssociationError> {
    for pdv in pdvs {
        if !contexts.iter().any(|c| c.id == pdv.context_id) {
            return Err(AssociationError::UnacceptedContext {
                context_id: pdv.context_id,
                from,
            });
        }
    }
    Ok(())
}
