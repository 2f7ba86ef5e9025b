//! A-ASSOCIATE-RQ/AC views (PS3.8 §9.3.2, §9.3.3): structure checked by our own walk, strings
//! decoded by dicom-ul, everything handed out in wardgate's own types.

use core::fmt;

use dicom_ul::pdu::{self as ul, UserVariableItem};

use crate::framer::PDU_HEADER_LEN;
use crate::items::{self, Kind, Walk};
use crate::text::{AeTitleError, ae_title, uid};

/// Offset of the variable items in an A-ASSOCIATE-RQ/AC body (PS3.8 §9.3.2, Table 9-11).
const ITEMS_OFFSET: usize = 68;

/// A kind of association item or sub-item, to name what is wrong (PS3.8 §9.3.2, Annex D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// Application context item (0x10).
    ApplicationContext,
    /// Presentation context item (0x20 in RQ, 0x21 in AC).
    PresentationContext,
    /// Abstract syntax sub-item (0x30).
    AbstractSyntax,
    /// Transfer syntax sub-item (0x40).
    TransferSyntax,
    /// User information item (0x50).
    UserInformation,
    /// Maximum length sub-item (0x51).
    MaximumLength,
    /// Implementation class UID sub-item (0x52).
    ImplementationClassUid,
    /// Asynchronous operations window sub-item (0x53).
    AsyncOperationsWindow,
    /// SCP/SCU role selection sub-item (0x54).
    RoleSelection,
    /// Implementation version name sub-item (0x55).
    ImplementationVersionName,
    /// SOP class extended negotiation sub-item (0x56).
    ExtendedNegotiation,
    /// SOP class common extended negotiation sub-item (0x57).
    CommonExtendedNegotiation,
    /// User identity sub-item (0x58 in RQ, 0x59 in AC).
    UserIdentity,
    /// An item type PS3.8 does not define.
    Other,
}

impl ItemKind {
    /// The kind of an item-type byte.
    pub const fn of(item_type: u8) -> Self {
        match item_type {
            0x10 => Self::ApplicationContext,
            0x20 | 0x21 => Self::PresentationContext,
            0x30 => Self::AbstractSyntax,
            0x40 => Self::TransferSyntax,
            0x50 => Self::UserInformation,
            0x51 => Self::MaximumLength,
            0x52 => Self::ImplementationClassUid,
            0x53 => Self::AsyncOperationsWindow,
            0x54 => Self::RoleSelection,
            0x55 => Self::ImplementationVersionName,
            0x56 => Self::ExtendedNegotiation,
            0x57 => Self::CommonExtendedNegotiation,
            0x58 | 0x59 => Self::UserIdentity,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Which AE title field is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeField {
    /// Called-AE-title (bytes 11–26).
    Called,
    /// Calling-AE-title (bytes 27–42).
    Calling,
}

/// An A-ASSOCIATE-RQ/AC that breaks PS3.8 §9.3.2/§9.3.3 or a wardgate limit. Every variant is
/// the sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssociateError {
    /// An AE title that is blank, has control characters or a backslash.
    #[error("{field:?} AE title {problem}")]
    BadAeTitle {
        /// Which field.
        field: AeField,
        /// What is wrong.
        problem: AeTitleError,
    },
    /// An item header or value runs past the end of its enclosing item.
    #[error("{item} item at offset {offset} is truncated")]
    Truncated {
        /// The item.
        item: ItemKind,
        /// Offset inside the enclosing item list.
        offset: usize,
    },
    /// An item type that does not belong here (a 0x21 in an RQ, an unknown item).
    #[error("item type {item_type:#04x} at offset {offset} does not belong here")]
    UnexpectedItem {
        /// The item type.
        item_type: u8,
        /// Offset inside the enclosing item list.
        offset: usize,
    },
    /// A mandatory item is absent.
    #[error("{0} item is missing")]
    Missing(ItemKind),
    /// A single-valued item appears twice.
    #[error("{0} item appears twice")]
    Duplicate(ItemKind),
    /// An item whose length contradicts its structure.
    #[error("{0} item has an invalid length")]
    BadLength(ItemKind),
    /// A UID that is empty, longer than 64 bytes or not digits and dots (PS3.5 §9.1).
    #[error("{0} item holds an invalid UID")]
    BadUid(ItemKind),
    /// Text with control characters.
    #[error("{0} item holds invalid text")]
    BadText(ItemKind),
    /// An even presentation context id (PS3.8 §9.3.2.2).
    #[error("presentation context id {0} is not odd")]
    BadContextId(u8),
    /// The same presentation context id twice.
    #[error("presentation context id {0} appears twice")]
    DuplicateContextId(u8),
    /// More than [`crate::MAX_PRESENTATION_CONTEXTS`] presentation contexts.
    #[error("more than {limit} presentation contexts")]
    TooManyPresentationContexts {
        /// The limit.
        limit: usize,
    },
    /// More than [`crate::MAX_TRANSFER_SYNTAXES`] transfer syntaxes in one context.
    #[error("presentation context {context_id} proposes more than {limit} transfer syntaxes")]
    TooManyTransferSyntaxes {
        /// The context.
        context_id: u8,
        /// The limit.
        limit: usize,
    },
    /// More than [`crate::MAX_USER_ITEMS`] user information sub-items.
    #[error("more than {limit} user information sub-items")]
    TooManyUserItems {
        /// The limit.
        limit: usize,
    },
    /// dicom-ul refused bytes our walk accepted; `what` names its error.
    #[error("dicom-ul refused the PDU: {what}")]
    DicomUl {
        /// dicom-ul's error variant.
        what: &'static str,
    },
}

/// Asynchronous operations window (PS3.7 §D.3.3.3); 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsyncOps {
    /// Maximum number of operations invoked.
    pub max_invoked: u16,
    /// Maximum number of operations performed.
    pub max_performed: u16,
}

/// User identity type (PS3.7 §D.3.3.7.1). Unknown values stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserIdentityType(pub u8);

impl UserIdentityType {
    /// 1: username.
    pub const USERNAME: Self = Self(1);
    /// 2: username and passcode.
    pub const USERNAME_AND_PASSCODE: Self = Self(2);
    /// 3: Kerberos service ticket.
    pub const KERBEROS: Self = Self(3);
    /// 4: SAML assertion.
    pub const SAML: Self = Self(4);
    /// 5: JSON web token.
    pub const JWT: Self = Self(5);
}

/// What wardgate keeps of a user identity sub-item: never the identity or the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserIdentity {
    /// The identity type.
    pub identity_type: UserIdentityType,
    /// Whether the requestor asks for a positive response.
    pub positive_response_requested: bool,
    /// Whether the secondary field (the passcode) is non-empty.
    pub has_secondary_field: bool,
}

/// SCP/SCU role selection for one SOP class (PS3.7 §D.3.3.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleSelection {
    /// The SOP class UID.
    pub sop_class_uid: String,
    /// SCU role proposed or accepted.
    pub scu: bool,
    /// SCP role proposed or accepted.
    pub scp: bool,
}

/// SOP class extended negotiation (PS3.7 §D.3.3.5): the service-class application information
/// is kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedNegotiation {
    /// The SOP class UID.
    pub sop_class_uid: String,
    /// Service-class application information.
    pub info: Vec<u8>,
}

/// The user information item (PS3.8 §9.3.2.3, PS3.7 Annex D.3.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UserInfo {
    /// Maximum PDU length the sender can receive; 0 means unlimited (PS3.8 §D.1).
    pub max_length: Option<u32>,
    /// Implementation class UID.
    pub implementation_class_uid: Option<String>,
    /// Implementation version name.
    pub implementation_version_name: Option<String>,
    /// Asynchronous operations window.
    pub async_ops: Option<AsyncOps>,
    /// Role selections.
    pub role_selections: Vec<RoleSelection>,
    /// SOP class extended negotiations.
    pub extended_negotiations: Vec<ExtendedNegotiation>,
    /// User identity negotiation (A-ASSOCIATE-RQ only).
    pub user_identity: Option<UserIdentity>,
    /// Whether an A-ASSOCIATE-AC carries a user identity server response (its content is not kept).
    pub user_identity_response: bool,
    /// Sub-items of other types (common extended negotiation, unknown), counted only.
    pub other_items: usize,
}

/// A proposed presentation context (PS3.8 §9.3.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProposedContext {
    /// Odd presentation context id.
    pub id: u8,
    /// Abstract syntax (SOP class) UID.
    pub abstract_syntax: String,
    /// Proposed transfer syntax UIDs, in the sender's order of preference.
    pub transfer_syntaxes: Vec<String>,
}

/// Presentation context result/reason (PS3.8 §9.3.3.2, Table 9-18). Unknown values stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContextResult(pub u8);

impl ContextResult {
    /// 0: acceptance.
    pub const ACCEPTANCE: Self = Self(0);
    /// 1: user-rejection.
    pub const USER_REJECTION: Self = Self(1);
    /// 2: no-reason (provider rejection).
    pub const NO_REASON: Self = Self(2);
    /// 3: abstract-syntax-not-supported (provider rejection).
    pub const ABSTRACT_SYNTAX_NOT_SUPPORTED: Self = Self(3);
    /// 4: transfer-syntaxes-not-supported (provider rejection).
    pub const TRANSFER_SYNTAXES_NOT_SUPPORTED: Self = Self(4);

    /// Whether the context was accepted.
    pub const fn is_accepted(self) -> bool {
        self.0 == 0
    }
}

/// The acceptor's answer for one presentation context (PS3.8 §9.3.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContextAnswer {
    /// Presentation context id, echoing the proposal.
    pub id: u8,
    /// Result/reason.
    pub result: ContextResult,
    /// Accepted transfer syntax UID (not significant, possibly empty, when not accepted).
    pub transfer_syntax: String,
}

/// The fields an A-ASSOCIATE-RQ and -AC share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssociateHeader {
    /// Protocol version bit field; bit 0 is version 1 (PS3.8 §9.3.2).
    pub protocol_version: u16,
    /// Called AE title, spaces trimmed.
    pub called_ae_title: String,
    /// Calling AE title, spaces trimmed.
    pub calling_ae_title: String,
    /// Application context name (`1.2.840.10008.3.1.1.1` for DICOM, PS3.7 Annex A).
    pub application_context: String,
    /// User information.
    pub user_info: UserInfo,
}

/// An A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssociateRq {
    /// Version, AE titles, application context, user information.
    pub header: AssociateHeader,
    /// Proposed presentation contexts, in wire order.
    pub presentation_contexts: Vec<ProposedContext>,
}

impl AssociateRq {
    /// The proposed context with this id.
    pub fn context(&self, id: u8) -> Option<&ProposedContext> {
        self.presentation_contexts.iter().find(|c| c.id == id)
    }
}

/// An A-ASSOCIATE-AC PDU (PS3.8 §9.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssociateAc {
    /// Version, AE titles (echoed, not tested), application context, user information.
    pub header: AssociateHeader,
    /// Answers, in wire order.
    pub presentation_contexts: Vec<ContextAnswer>,
}

/// Decode a complete A-ASSOCIATE-RQ (header included; length already checked by the framer).
pub(crate) fn decode_rq(pdu: &[u8]) -> Result<AssociateRq, AssociateError> {
    let (header, walk, ul) = decode_common(pdu, Kind::Rq)?;
    let ul::Pdu::AssociationRQ(rq) = ul else {
        return Err(AssociateError::DicomUl { what: "wrong PDU" });
    };
    if rq.presentation_contexts.len() != walk.contexts.len() {
        return Err(AssociateError::DicomUl {
            what: "context count",
        });
    }
    let mut contexts = Vec::with_capacity(walk.contexts.len());
    for (ctx, seen) in rq.presentation_contexts.into_iter().zip(&walk.contexts) {
        if ctx.id != seen.id {
            return Err(AssociateError::DicomUl { what: "context id" });
        }
        let abstract_syntax = uid(&ctx.abstract_syntax).ok_or(bad_uid_abstract())?;
        let mut transfer_syntaxes = Vec::with_capacity(ctx.transfer_syntaxes.len());
        for ts in &ctx.transfer_syntaxes {
            transfer_syntaxes
                .push(uid(ts).ok_or(AssociateError::BadUid(ItemKind::TransferSyntax))?);
        }
        contexts.push(ProposedContext {
            id: ctx.id,
            abstract_syntax,
            transfer_syntaxes,
        });
    }
    let header = finish_header(header, rq.application_context_name, rq.user_variables)?;
    Ok(AssociateRq {
        header,
        presentation_contexts: contexts,
    })
}

fn bad_uid_abstract() -> AssociateError {
    AssociateError::BadUid(ItemKind::AbstractSyntax)
}

/// Decode a complete A-ASSOCIATE-AC (header included; length already checked by the framer).
pub(crate) fn decode_ac(pdu: &[u8]) -> Result<AssociateAc, AssociateError> {
    let (header, walk, ul) = decode_common(pdu, Kind::Ac)?;
    let ul::Pdu::AssociationAC(ac) = ul else {
        return Err(AssociateError::DicomUl { what: "wrong PDU" });
    };
    if ac.presentation_contexts.len() != walk.contexts.len() {
        return Err(AssociateError::DicomUl {
            what: "context count",
        });
    }
    let mut contexts = Vec::with_capacity(walk.contexts.len());
    for (ctx, seen) in ac.presentation_contexts.into_iter().zip(&walk.contexts) {
        if ctx.id != seen.id {
            return Err(AssociateError::DicomUl { what: "context id" });
        }
        let result = ContextResult(seen.result);
        let transfer_syntax = if result.is_accepted() {
            uid(&ctx.transfer_syntax).ok_or(AssociateError::BadUid(ItemKind::TransferSyntax))?
        } else {
            // Not significant and not tested (§9.3.3.2): kept only if it is a plausible UID.
            uid(&ctx.transfer_syntax).unwrap_or_default()
        };
        contexts.push(ContextAnswer {
            id: ctx.id,
            result,
            transfer_syntax,
        });
    }
    let header = finish_header(header, ac.application_context_name, ac.user_variables)?;
    Ok(AssociateAc {
        header,
        presentation_contexts: contexts,
    })
}

/// Fixed fields, our structural walk, then dicom-ul's decode of the same bytes.
fn decode_common(
    pdu: &[u8],
    kind: Kind,
) -> Result<(AssociateHeader, Walk, ul::Pdu), AssociateError> {
    let body = pdu.get(PDU_HEADER_LEN..).unwrap_or(&[]);
    let too_short = AssociateError::BadLength(ItemKind::Other);
    let (Some(version), Some(called), Some(calling), Some(items)) = (
        body.get(0..2),
        body.get(4..20),
        body.get(20..36),
        body.get(ITEMS_OFFSET..),
    ) else {
        return Err(too_short);
    };
    let protocol_version = u16::from_be_bytes([
        version.first().copied().unwrap_or(0),
        version.get(1).copied().unwrap_or(0),
    ]);
    let called_ae_title = ae_title(called).map_err(|problem| AssociateError::BadAeTitle {
        field: AeField::Called,
        problem,
    })?;
    let calling_ae_title = ae_title(calling).map_err(|problem| AssociateError::BadAeTitle {
        field: AeField::Calling,
        problem,
    })?;
    let walk = items::walk(items, kind)?;
    let ul = read_with_dicom_ul(pdu, &walk)?;
    let user_info = UserInfo {
        async_ops: walk.async_ops,
        user_identity: walk.user_identity,
        user_identity_response: walk.identity_response,
        other_items: walk.unknown_user_items,
        ..UserInfo::default()
    };
    let header = AssociateHeader {
        protocol_version,
        called_ae_title: called_ae_title.to_owned(),
        calling_ae_title: calling_ae_title.to_owned(),
        application_context: String::new(),
        user_info,
    };
    Ok((header, walk, ul))
}

/// Run dicom-ul's `read_pdu` on a PDU the walk has accepted. dicom-ul refuses AC result codes
/// above 4, which wardgate keeps raw: those bytes are rewritten to 2 (no-reason) in a copy, the
/// walk having recorded the real value.
fn read_with_dicom_ul(pdu: &[u8], walk: &Walk) -> Result<ul::Pdu, AssociateError> {
    let body_len = u32::try_from(pdu.len().saturating_sub(PDU_HEADER_LEN)).unwrap_or(u32::MAX);
    let max = body_len.clamp(ul::MINIMUM_PDU_SIZE, ul::MAXIMUM_PDU_SIZE);
    let odd = walk.contexts.iter().filter(|c| c.result > 4);
    let read = if odd.clone().next().is_none() {
        ul::read_pdu(pdu, max, true)
    } else {
        let mut copy = pdu.to_vec();
        for ctx in odd {
            let at = PDU_HEADER_LEN + ITEMS_OFFSET + ctx.result_offset;
            if let Some(b) = copy.get_mut(at) {
                *b = 2;
            }
        }
        ul::read_pdu(copy.as_slice(), max, true)
    };
    match read {
        Ok(Some(pdu)) => Ok(pdu),
        Ok(None) => Err(AssociateError::DicomUl { what: "incomplete" }),
        Err(e) => Err(AssociateError::DicomUl {
            what: dicom_ul_error_name(&e),
        }),
    }
}

fn dicom_ul_error_name(e: &ul::ReadError) -> &'static str {
    use ul::ReadError as E;
    match e {
        E::InvalidMaxPdu { .. } => "InvalidMaxPdu",
        E::PduTooLarge { .. } => "PduTooLarge",
        E::InvalidPduVariable { .. } => "InvalidPduVariable",
        E::MultipleTransferSyntaxesAccepted { .. } => "MultipleTransferSyntaxesAccepted",
        E::InvalidPresentationContextResultReason { .. } => {
            "InvalidPresentationContextResultReason"
        }
        E::DecodeText { .. } => "DecodeText",
        E::MissingApplicationContextName { .. } => "MissingApplicationContextName",
        E::MissingAbstractSyntax { .. } => "MissingAbstractSyntax",
        E::MissingTransferSyntax { .. } => "MissingTransferSyntax",
        E::InvalidPduFieldLength { .. } => "InvalidPduFieldLength",
        E::ReadUserVariable { .. } => "ReadUserVariable",
        _ => "other",
    }
}

/// Application context name and the string-valued user information dicom-ul decoded.
fn finish_header(
    mut header: AssociateHeader,
    application_context: String,
    user_variables: Vec<UserVariableItem>,
) -> Result<AssociateHeader, AssociateError> {
    header.application_context =
        uid(&application_context).ok_or(AssociateError::BadUid(ItemKind::ApplicationContext))?;
    let info = &mut header.user_info;
    for var in user_variables {
        match var {
            UserVariableItem::MaxLength(len) => info.max_length = Some(len),
            UserVariableItem::ImplementationClassUID(s) => {
                info.implementation_class_uid =
                    Some(uid(&s).ok_or(AssociateError::BadUid(ItemKind::ImplementationClassUid))?);
            }
            UserVariableItem::ImplementationVersionName(s) => {
                let kind = ItemKind::ImplementationVersionName;
                if s.chars().any(char::is_control) {
                    return Err(AssociateError::BadText(kind));
                }
                info.implementation_version_name = Some(s);
            }
            UserVariableItem::ScuScpRoleSelectionSubItem(s, roles) => {
                info.role_selections.push(RoleSelection {
                    sop_class_uid: uid(&s)
                        .ok_or(AssociateError::BadUid(ItemKind::RoleSelection))?,
                    scu: roles.scu,
                    scp: roles.scp,
                });
            }
            UserVariableItem::SopClassExtendedNegotiationSubItem(s, data) => {
                info.extended_negotiations.push(ExtendedNegotiation {
                    sop_class_uid: uid(&s)
                        .ok_or(AssociateError::BadUid(ItemKind::ExtendedNegotiation))?,
                    info: data,
                });
            }
            // Counted, typed or deliberately dropped (the identity fields) by the walk.
            UserVariableItem::UserIdentityItem(_) | UserVariableItem::Unknown(..) => {}
        }
    }
    Ok(header)
}
