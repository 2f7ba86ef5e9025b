//! Who may send which requests on an association (PS3.7 §D.3.3.4 SCP/SCU role selection).
//! Without a role selection item for a SOP class, the requestor is its SCU and the acceptor its
//! SCP, so the acceptor may send only what an SCP sends (N-EVENT-REPORT); C-GET needs the
//! requestor to take the SCP role for the storage classes its sub-operations use.

use crate::associate::{AssociateAc, AssociateRq, RoleSelection};
use crate::command::CommandField;
use crate::state::{AcceptedContext, Direction};

/// The roles the requestor holds for one SOP class (the acceptor holds the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The requestor may act as SCU.
    pub requestor_scu: bool,
    /// The requestor may act as SCP (so the acceptor may act as SCU).
    pub requestor_scp: bool,
}

impl Default for Roles {
    /// No role selection: the requestor is the SCU, the acceptor the SCP.
    fn default() -> Self {
        Roles {
            requestor_scu: true,
            requestor_scp: false,
        }
    }
}

impl Roles {
    /// The roles for `sop_class` after `rq` proposed and `ac` answered. The acceptor can only
    /// accept a role that was proposed; an answer for a class nobody proposed roles for is
    /// ignored (default roles apply).
    pub fn negotiated(rq: &AssociateRq, ac: &AssociateAc, sop_class: &str) -> Roles {
        let find = |items: &[RoleSelection]| {
            items
                .iter()
                .find(|r| r.sop_class_uid == sop_class)
                .map(|r| (r.scu, r.scp))
        };
        match (
            find(&rq.header.user_info.role_selections),
            find(&ac.header.user_info.role_selections),
        ) {
            (Some((p_scu, p_scp)), Some((a_scu, a_scp))) => Roles {
                requestor_scu: p_scu && a_scu,
                requestor_scp: p_scp && a_scp,
            },
            _ => Roles::default(),
        }
    }

    /// Whether `from` may send the request `command` under these roles: N-EVENT-REPORT is sent
    /// by the SCP of a SOP class, every other request by its SCU.
    pub fn may_send(&self, from: Direction, command: CommandField) -> bool {
        let (scu, scp) = match from {
            Direction::FromRequestor => (self.requestor_scu, self.requestor_scp),
            Direction::FromAcceptor => (self.requestor_scp, self.requestor_scu),
        };
        if command == CommandField::N_EVENT_REPORT_RQ {
            scp
        } else {
            scu
        }
    }
}

/// Whether the acceptor may send the request `command` on `context`, given the request that
/// proposed the association and the answer that accepted it; default roles when any of them
/// is unknown. The one decision the proxy and the fuzz harness both make.
pub fn acceptor_may_send(
    rq: Option<&AssociateRq>,
    ac: Option<&AssociateAc>,
    context: Option<&AcceptedContext>,
    command: CommandField,
) -> bool {
    let roles = match (rq, ac, context) {
        (Some(rq), Some(ac), Some(c)) => Roles::negotiated(rq, ac, &c.abstract_syntax),
        _ => Roles::default(),
    };
    roles.may_send(Direction::FromAcceptor, command)
}
