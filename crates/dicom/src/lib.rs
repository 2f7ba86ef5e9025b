//! Sans-IO inspection of DICOM networking: Upper Layer PDU framing and views (PS3.8), P-DATA
//! command reassembly, DIMSE command-set views (PS3.7), association state, and the refusals
//! wardgate sends (A-ASSOCIATE-RJ, A-ABORT, DIMSE failure responses).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assembler;
mod associate;
mod command;
mod encode;
mod fixed;
mod framer;
pub mod fuzzing;
pub mod held;
mod items;
mod limits;
mod pdata;
mod pdu;
mod roles;
mod state;
mod text;
pub mod uid;

pub use assembler::{Assembled, AssemblyError, CommandAssembler};
pub use associate::{
    AeField, AssociateAc, AssociateError, AssociateHeader, AssociateRq, AsyncOps, ContextAnswer,
    ContextResult, ExtendedNegotiation, ItemKind, ProposedContext, RoleSelection, UserIdentity,
    UserIdentityType, UserInfo,
};
pub use command::{
    CommandError, CommandField, CommandSet, DATA_SET_TYPE_NONE, Priority, Status, tag,
};
pub use encode::{
    EncodeError, build_abort, build_associate_rj, build_dimse_failure, build_p_data_tf,
    dimse_failure_response, encode_command_set,
};
pub use fixed::{
    Abort, AbortReason, AbortSource, AssociateRj, FIXED_PDU_LEN, RejectReason, RejectResult,
    RejectSource, encode_release_rp, encode_release_rq,
};
pub use framer::{
    FIXED_BODY_LEN, FramerError, MIN_ASSOCIATE_BODY_LEN, MIN_P_DATA_BODY_LEN, PDU_HEADER_LEN,
    PduFramer, PduInfo, PduType,
};
pub use limits::*;
pub use pdata::{MessageControl, PDV_HEADER_LEN, Pdv, PdvError, parse_pdvs};
pub use pdu::{Pdu, PduError, decode_pdu};
pub use roles::{Roles, acceptor_may_send};
pub use state::{AcceptedContext, Association, AssociationError, Direction, Phase};
pub use text::{AeTitleError, ae_title};
