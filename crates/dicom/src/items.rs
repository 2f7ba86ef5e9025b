//! Structural walk of the A-ASSOCIATE-RQ/AC variable items (PS3.8 §9.3.2, §9.3.3, Annex D):
//! every length, count and duplicate is checked here, before dicom-ul decodes any string.

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, u8 as byte};

use crate::associate::{AssociateError, AsyncOps, ItemKind, UserIdentity, UserIdentityType};
use crate::limits::{
    MAX_AE_TITLE_LEN, MAX_PRESENTATION_CONTEXTS, MAX_TRANSFER_SYNTAXES, MAX_UID_LEN, MAX_USER_ITEMS,
};

/// Item types of the association PDUs (PS3.8 §9.3.2, Annex D).
pub(crate) mod item_type {
    pub const APPLICATION_CONTEXT: u8 = 0x10;
    pub const PRESENTATION_CONTEXT_RQ: u8 = 0x20;
    pub const PRESENTATION_CONTEXT_AC: u8 = 0x21;
    pub const ABSTRACT_SYNTAX: u8 = 0x30;
    pub const TRANSFER_SYNTAX: u8 = 0x40;
    pub const USER_INFORMATION: u8 = 0x50;
    pub const MAXIMUM_LENGTH: u8 = 0x51;
    pub const IMPLEMENTATION_CLASS_UID: u8 = 0x52;
    pub const ASYNC_OPERATIONS_WINDOW: u8 = 0x53;
    pub const ROLE_SELECTION: u8 = 0x54;
    pub const IMPLEMENTATION_VERSION_NAME: u8 = 0x55;
    pub const EXTENDED_NEGOTIATION: u8 = 0x56;
    pub const COMMON_EXTENDED_NEGOTIATION: u8 = 0x57;
    pub const USER_IDENTITY_RQ: u8 = 0x58;
    pub const USER_IDENTITY_AC: u8 = 0x59;
}
use item_type as it;

/// Which association PDU is being walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rq,
    Ac,
}

/// One presentation context item as the walk saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalkedContext {
    pub id: u8,
    /// AC result/reason byte (0 for RQ).
    pub result: u8,
    /// Offset of the result byte from the start of the items area.
    pub result_offset: usize,
}

/// What the walk keeps that dicom-ul does not report faithfully.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Walk {
    pub contexts: Vec<WalkedContext>,
    pub async_ops: Option<AsyncOps>,
    pub user_identity: Option<UserIdentity>,
    pub identity_response: bool,
    pub unknown_user_items: usize,
}

type Res<'a, T> = IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

/// Item header and value: type, reserved, 2-byte big-endian length (PS3.8 §9.3.2).
fn item(input: &[u8]) -> Res<'_, (u8, &[u8])> {
    let (input, kind) = byte(input)?;
    let (input, _reserved) = byte(input)?;
    let (input, len) = be_u16(input)?;
    let (input, value) = take(len)(input)?;
    Ok((input, (kind, value)))
}

/// A 2-byte length followed by that many bytes.
fn counted(input: &[u8]) -> Res<'_, &[u8]> {
    let (input, len) = be_u16(input)?;
    take(len)(input)
}

/// Walk the items area (the body after its 68 fixed bytes).
pub(crate) fn walk(items: &[u8], kind: Kind) -> Result<Walk, AssociateError> {
    let mut out = Walk::default();
    let mut seen_ids = [false; 256];
    let (mut app_contexts, mut user_infos) = (0usize, 0usize);
    let mut rest = items;
    while !rest.is_empty() {
        let offset = items.len() - rest.len();
        let (after, (ty, value)) = item(rest).map_err(|_| AssociateError::Truncated {
            item: ItemKind::of(rest.first().copied().unwrap_or(0)),
            offset,
        })?;
        match (ty, kind) {
            (it::APPLICATION_CONTEXT, _) => {
                app_contexts += 1;
                if app_contexts > 1 {
                    return Err(AssociateError::Duplicate(ItemKind::ApplicationContext));
                }
                uid_len_ok(value, ItemKind::ApplicationContext)?;
            }
            (it::PRESENTATION_CONTEXT_RQ, Kind::Rq) | (it::PRESENTATION_CONTEXT_AC, Kind::Ac) => {
                if out.contexts.len() == MAX_PRESENTATION_CONTEXTS {
                    return Err(AssociateError::TooManyPresentationContexts {
                        limit: MAX_PRESENTATION_CONTEXTS,
                    });
                }
                let ctx = presentation_context(value, kind, offset + 4)?;
                let seen = seen_ids.get_mut(usize::from(ctx.id));
                if let Some(seen) = seen {
                    if *seen {
                        return Err(AssociateError::DuplicateContextId(ctx.id));
                    }
                    *seen = true;
                }
                out.contexts.push(ctx);
            }
            (it::USER_INFORMATION, _) => {
                user_infos += 1;
                if user_infos > 1 {
                    return Err(AssociateError::Duplicate(ItemKind::UserInformation));
                }
                user_information(value, kind, &mut out)?;
            }
            _ => {
                return Err(AssociateError::UnexpectedItem {
                    item_type: ty,
                    offset,
                });
            }
        }
        rest = after;
    }
    if app_contexts == 0 {
        return Err(AssociateError::Missing(ItemKind::ApplicationContext));
    }
    if out.contexts.is_empty() {
        return Err(AssociateError::Missing(ItemKind::PresentationContext));
    }
    if user_infos == 0 {
        return Err(AssociateError::Missing(ItemKind::UserInformation));
    }
    Ok(out)
}

/// A presentation context item value (PS3.8 §9.3.2.2, §9.3.3.2); `value_offset` locates it in
/// the items area.
fn presentation_context(
    value: &[u8],
    kind: Kind,
    value_offset: usize,
) -> Result<WalkedContext, AssociateError> {
    let short = AssociateError::BadLength(ItemKind::PresentationContext);
    let [id, _, result, _, sub_items @ ..] = value else {
        return Err(short);
    };
    let (id, result) = (*id, *result);
    if id % 2 == 0 {
        return Err(AssociateError::BadContextId(id));
    }
    let (mut abstract_syntaxes, mut transfer_syntaxes) = (0usize, 0usize);
    let mut rest = sub_items;
    while !rest.is_empty() {
        let offset = value_offset + 4 + (sub_items.len() - rest.len());
        let (after, (ty, sub)) = item(rest).map_err(|_| AssociateError::Truncated {
            item: ItemKind::of(rest.first().copied().unwrap_or(0)),
            offset,
        })?;
        match (ty, kind) {
            (it::ABSTRACT_SYNTAX, Kind::Rq) => {
                abstract_syntaxes += 1;
                if abstract_syntaxes > 1 {
                    return Err(AssociateError::Duplicate(ItemKind::AbstractSyntax));
                }
                uid_len_ok(sub, ItemKind::AbstractSyntax)?;
            }
            (it::TRANSFER_SYNTAX, _) => {
                transfer_syntaxes += 1;
                match kind {
                    Kind::Rq if transfer_syntaxes > MAX_TRANSFER_SYNTAXES => {
                        return Err(AssociateError::TooManyTransferSyntaxes {
                            context_id: id,
                            limit: MAX_TRANSFER_SYNTAXES,
                        });
                    }
                    Kind::Ac if transfer_syntaxes > 1 => {
                        return Err(AssociateError::Duplicate(ItemKind::TransferSyntax));
                    }
                    // A rejected context's transfer syntax "shall not be tested" (§9.3.3.2).
                    Kind::Ac if result != 0 => {}
                    _ => uid_len_ok(sub, ItemKind::TransferSyntax)?,
                }
            }
            _ => {
                return Err(AssociateError::UnexpectedItem {
                    item_type: ty,
                    offset,
                });
            }
        }
        rest = after;
    }
    if kind == Kind::Rq && abstract_syntaxes == 0 {
        return Err(AssociateError::Missing(ItemKind::AbstractSyntax));
    }
    if transfer_syntaxes == 0 {
        return Err(AssociateError::Missing(ItemKind::TransferSyntax));
    }
    let result = if kind == Kind::Ac { result } else { 0 };
    Ok(WalkedContext {
        id,
        result,
        result_offset: value_offset + 2,
    })
}

/// The user information item's sub-items (PS3.8 §9.3.2.3, PS3.7 Annex D.3.3).
fn user_information(value: &[u8], kind: Kind, out: &mut Walk) -> Result<(), AssociateError> {
    let mut seen = [false; 256];
    let mut count = 0usize;
    let mut rest = value;
    while !rest.is_empty() {
        let offset = value.len() - rest.len();
        count += 1;
        if count > MAX_USER_ITEMS {
            return Err(AssociateError::TooManyUserItems {
                limit: MAX_USER_ITEMS,
            });
        }
        let (after, (ty, sub)) = item(rest).map_err(|_| AssociateError::Truncated {
            item: ItemKind::of(rest.first().copied().unwrap_or(0)),
            offset,
        })?;
        let what = ItemKind::of(ty);
        let single = !matches!(
            ty,
            it::ROLE_SELECTION | it::EXTENDED_NEGOTIATION | it::COMMON_EXTENDED_NEGOTIATION
        ) && what != ItemKind::Other;
        if let Some(flag) = seen.get_mut(usize::from(ty)) {
            if *flag && single {
                return Err(AssociateError::Duplicate(what));
            }
            *flag = true;
        }
        let bad = AssociateError::BadLength(what);
        match ty {
            it::MAXIMUM_LENGTH if sub.len() != 4 => return Err(bad),
            it::IMPLEMENTATION_CLASS_UID => uid_len_ok(sub, what)?,
            it::ASYNC_OPERATIONS_WINDOW => {
                let [a, b, c, d] = sub else { return Err(bad) };
                out.async_ops = Some(AsyncOps {
                    max_invoked: u16::from_be_bytes([*a, *b]),
                    max_performed: u16::from_be_bytes([*c, *d]),
                });
            }
            it::ROLE_SELECTION => {
                let (tail, uid) = counted(sub).map_err(|_| bad)?;
                uid_len_ok(uid, what)?;
                if tail.len() != 2 {
                    return Err(bad);
                }
            }
            it::IMPLEMENTATION_VERSION_NAME if sub.is_empty() || sub.len() > MAX_AE_TITLE_LEN => {
                return Err(bad);
            }
            it::EXTENDED_NEGOTIATION | it::COMMON_EXTENDED_NEGOTIATION => {
                let (_info, uid) = counted(sub).map_err(|_| bad)?;
                uid_len_ok(uid, what)?;
            }
            it::USER_IDENTITY_RQ if kind == Kind::Rq => {
                out.user_identity = Some(user_identity(sub).ok_or(bad)?);
            }
            it::USER_IDENTITY_AC if kind == Kind::Ac => {
                let (tail, _response) = counted(sub).map_err(|_| bad)?;
                if !tail.is_empty() {
                    return Err(bad);
                }
                out.identity_response = true;
            }
            it::USER_IDENTITY_RQ | it::USER_IDENTITY_AC => {
                return Err(AssociateError::UnexpectedItem {
                    item_type: ty,
                    offset,
                });
            }
            it::MAXIMUM_LENGTH | it::IMPLEMENTATION_VERSION_NAME => {}
            _ => out.unknown_user_items += 1,
        }
        rest = after;
    }
    Ok(())
}

/// User identity negotiation, requestor side (PS3.7 §D.3.3.7.1). The fields are skipped, never
/// kept: only the type and whether a secondary field (a passcode) is present survive.
fn user_identity(sub: &[u8]) -> Option<UserIdentity> {
    let parse = |input| -> Res<'_, (u8, u8, &[u8], &[u8])> {
        let (input, ty) = byte(input)?;
        let (input, positive) = byte(input)?;
        let (input, primary) = counted(input)?;
        let (input, secondary) = counted(input)?;
        Ok((input, (ty, positive, primary, secondary)))
    };
    let (tail, (ty, positive, _primary, secondary)) = parse(sub).ok()?;
    if !tail.is_empty() {
        return None;
    }
    Some(UserIdentity {
        identity_type: UserIdentityType(ty),
        positive_response_requested: positive == 1,
        has_secondary_field: !secondary.is_empty(),
    })
}

fn uid_len_ok(value: &[u8], item: ItemKind) -> Result<(), AssociateError> {
    if value.is_empty() || value.len() > MAX_UID_LEN {
        return Err(AssociateError::BadUid(item));
    }
    Ok(())
}
