//! Acknowledgements: reading MSA and building negative acknowledgements (HL7 v2.5 §2.9,
//! §2.15.8 ERR, §2.15.9 MSA; IHE PCD TF-2 §3.3 for `RRG^O16`).

use nom::{
    IResult, Parser,
    bytes::complete::tag,
    character::complete::digit1,
    combinator::{map_res, opt},
    sequence::preceded,
};

use crate::{Delimiters, Header, Message, ParseError, Value};

pub use crate::escape::escape_text;

/// MSA-1 acknowledgement code (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum AckCode {
    /// Original mode: application accept.
    AA,
    /// Original mode: application error.
    AE,
    /// Original mode: application reject.
    AR,
    /// Enhanced mode: commit accept.
    CA,
    /// Enhanced mode: commit error.
    CE,
    /// Enhanced mode: commit reject.
    CR,
}

impl AckCode {
    /// The code as sent in MSA-1.
    pub fn as_str(&self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
            AckCode::CA => "CA",
            AckCode::CE => "CE",
            AckCode::CR => "CR",
        }
    }

    /// Read an MSA-1 code (exact, uppercase); `None` for anything else.
    pub fn from_bytes(code: &[u8]) -> Option<Self> {
        Some(match code {
            b"AA" => AckCode::AA,
            b"AE" => AckCode::AE,
            b"AR" => AckCode::AR,
            b"CA" => AckCode::CA,
            b"CE" => AckCode::CE,
            b"CR" => AckCode::CR,
            _ => return None,
        })
    }

    /// True for the original mode (application) codes `AA`, `AE`, `AR`.
    pub fn is_original_mode(&self) -> bool {
        matches!(self, AckCode::AA | AckCode::AE | AckCode::AR)
    }
}

/// ERR-4 severity (HL7 table 0516).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `E`: transaction was unsuccessful.
    Error,
    /// `W`: transaction successful, with warnings.
    Warning,
    /// `I`: information only.
    Information,
    /// `F`: fatal error (v2.7).
    Fatal,
}

impl Severity {
    /// The single letter sent in ERR-4.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Error => "E",
            Severity::Warning => "W",
            Severity::Information => "I",
            Severity::Fatal => "F",
        }
    }
}

/// HL7 table 0357 message error condition code, for ERR-3. Unknown codes stay raw numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// 100 Segment sequence error.
    pub const SEGMENT_SEQUENCE: ErrorCode = ErrorCode(100);
    /// 101 Required field missing.
    pub const REQUIRED_FIELD_MISSING: ErrorCode = ErrorCode(101);
    /// 102 Data type error.
    pub const DATA_TYPE: ErrorCode = ErrorCode(102);
    /// 103 Table value not found.
    pub const TABLE_VALUE_NOT_FOUND: ErrorCode = ErrorCode(103);
    /// 200 Unsupported message type.
    pub const UNSUPPORTED_MESSAGE_TYPE: ErrorCode = ErrorCode(200);
    /// 201 Unsupported event code.
    pub const UNSUPPORTED_EVENT: ErrorCode = ErrorCode(201);
    /// 203 Unsupported version id.
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(203);
    /// 207 Application internal error.
    pub const APPLICATION_INTERNAL_ERROR: ErrorCode = ErrorCode(207);

    /// The ERR-3 code for a message refused because it does not parse: 101 for a missing
    /// required field, 207 for a count over a limit (the message may be valid, this receiver
    /// will not take it), 100 for a message whose segments are not well formed.
    pub fn for_parse_error(e: &ParseError) -> ErrorCode {
        match e {
            ParseError::MissingField { .. } => ErrorCode::REQUIRED_FIELD_MISSING,
            ParseError::TooManySegments { .. }
            | ParseError::TooManyFields { .. }
            | ParseError::TooManyRepetitions { .. }
            | ParseError::TooManyComponents { .. }
            | ParseError::TooManySubcomponents { .. } => ErrorCode::APPLICATION_INTERNAL_ERROR,
            _ => ErrorCode::SEGMENT_SEQUENCE,
        }
    }

    /// The table 0357 text for known codes.
    pub fn text(&self) -> &'static str {
        match self.0 {
            0 => "Message accepted",
            100 => "Segment sequence error",
            101 => "Required field missing",
            102 => "Data type error",
            103 => "Table value not found",
            200 => "Unsupported message type",
            201 => "Unsupported event code",
            202 => "Unsupported processing id",
            203 => "Unsupported version id",
            204 => "Unknown key identifier",
            205 => "Duplicate key identifier",
            206 => "Application record locked",
            207 => "Application internal error",
            _ => "",
        }
    }
}

/// IHE PIV application error codes for ERR-5 (DOMAIN.md, PCD-03). Unknown codes stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PivCode(pub u16);

impl PivCode {
    /// 9005 Parameter outside allowable range.
    pub const OUTSIDE_ALLOWABLE_RANGE: PivCode = PivCode(9005);
    /// 9009 Units do not match the drug library.
    pub const UNITS_MISMATCH: PivCode = PivCode(9009);
    /// 9010 Medication not in the drug library.
    pub const NOT_IN_DRUG_LIBRARY: PivCode = PivCode(9010);
    /// 9012 Patient mismatch.
    pub const PATIENT_MISMATCH: PivCode = PivCode(9012);
    /// 9014 Dose rate or VTBI exceeds the maximum.
    pub const EXCEEDS_MAXIMUM: PivCode = PivCode(9014);
    /// 9021 Care area mismatch.
    pub const CARE_AREA_MISMATCH: PivCode = PivCode(9021);
    /// 9022 Stale order.
    pub const STALE_ORDER: PivCode = PivCode(9022);
    /// 9024 Drug library hard limit exceeded.
    pub const HARD_LIMIT_EXCEEDED: PivCode = PivCode(9024);
}

/// What the refusal says.
#[derive(Debug, Clone)]
pub struct Refusal<'r> {
    /// MSA-1.
    pub code: AckCode,
    /// ERR-3 HL7 error code.
    pub error: ErrorCode,
    /// ERR-4 severity.
    pub severity: Severity,
    /// ERR-5 application error code (e.g. a [`PivCode`] value).
    pub application_code: Option<u16>,
    /// ERR-8 user message (escaped when written).
    pub user_message: &'r str,
}

/// What the caller supplies that the parser must not invent (no clock in this crate).
#[derive(Debug, Clone)]
pub struct ReplyContext<'r> {
    /// MSH-7 of the reply, e.g. `20261129120000`.
    pub timestamp: &'r str,
    /// MSH-10 of the reply.
    pub control_id: &'r str,
}

/// One number of a version id.
fn version_part(i: &[u8]) -> IResult<&[u8], u32> {
    map_res(digit1, |d: &[u8]| {
        core::str::from_utf8(d)
            .map_err(|_| ())
            .and_then(|s| s.parse::<u32>().map_err(|_| ()))
    })
    .parse(i)
}

/// `major.minor` of an MSH-12 version id such as `2.5.1`.
fn version_number(i: &[u8]) -> IResult<&[u8], (u32, u32)> {
    let (i, major) = version_part(i)?;
    let (i, minor) = opt(preceded(tag(&b"."[..]), version_part)).parse(i)?;
    Ok((i, (major, minor.unwrap_or(0))))
}

/// True when the version is 2.4 or later, or unknown (then the 2.4 form is used).
fn uses_structure_id(version: Option<Value<'_>>) -> bool {
    let Some(v) = version else { return true };
    match version_number(&v.decoded()) {
        Ok((_, v)) => v >= (2, 4),
        Err(_) => true,
    }
}

/// MSH-9 of the reply (HL7 v2.5 §2.14.9.9; IHE PCD TF-2 for `RRG^O16^RRG_O16`).
fn reply_message_type(refused: &Header<'_>, code: AckCode, out: &mut Vec<u8>, d: &Delimiters) {
    let is = |v: Option<Value<'_>>, s: &[u8]| v.is_some_and(|v| v.eq_ignore_ascii_case(s));
    let rgv_o15 = is(refused.message_code(), b"RGV") && is(refused.trigger_event(), b"O15");
    let comp = d.component;
    if rgv_o15 && code.is_original_mode() {
        out.extend_from_slice(b"RRG");
        out.push(comp);
        out.extend_from_slice(b"O16");
        out.push(comp);
        out.extend_from_slice(b"RRG_O16");
        return;
    }
    out.extend_from_slice(b"ACK");
    let event = refused.trigger_event().map(|v| v.raw()).unwrap_or(&[]);
    if event.is_empty() {
        return;
    }
    out.push(comp);
    // The event is an ID: no subcomponents survive into the reply.
    copy_components(out, event, d, 1);
    if uses_structure_id(refused.version()) {
        out.push(comp);
        out.extend_from_slice(b"ACK");
    }
}

/// Copy the first repetition of a raw field, keeping at most `components` components and no
/// subcomponents (the copied data types, HD, PT, VID and ST, have none).
fn copy_components(out: &mut Vec<u8>, raw: &[u8], d: &Delimiters, components: usize) {
    let mut seen = 1;
    let mut in_sub = false;
    for &b in raw {
        if b == d.repetition && d.repetition != d.field {
            break;
        }
        if b == d.component {
            if seen == components {
                break;
            }
            seen += 1;
            in_sub = false;
        } else if Some(b) == d.subcomponent {
            in_sub = true;
            continue;
        }
        if !in_sub {
            out.push(b);
        }
    }
}

/// Build the HL7 payload (no MLLP envelope; segments end with CR) of a negative
/// acknowledgement for the refused message whose header is `refused` (HL7 v2.5 §2.9):
///
/// - `MSH` with the refused message's MSH-1/MSH-2 verbatim; MSH-3/4 from the refused MSH-5/6
///   and MSH-5/6 from the refused MSH-3/4 (raw); MSH-7 the timestamp; MSH-9 `ACK^<event>^ACK`
///   from v2.4 on (or a missing version), `ACK^<event>` before; for `RGV^O15` with an original
///   mode code, `RRG^O16^RRG_O16` (IHE PCD-03 application acknowledgement); MSH-10 the
///   reply's control id; MSH-11 and MSH-12 copied from the refused message;
/// - `MSA|<code>|<refused MSH-10 raw>`;
/// - `ERR` with ERR-3 `<code>^<text>^HL70357`, ERR-4 the severity letter, ERR-5 the
///   application code when given, ERR-8 the user message.
///
/// Caller-supplied text is escaped with the refused message's delimiters and CR/LF become
/// spaces, so it can never start a segment.
pub fn build_nack(refused: &Header<'_>, refusal: &Refusal<'_>, ctx: &ReplyContext<'_>) -> Vec<u8> {
    let d = refused.delimiters();
    let fs = d.field;
    let text = |s: &str| escape_text(s.as_bytes(), &d);
    let mut out = Vec::with_capacity(256 + refused.raw().len() + refusal.user_message.len() * 3);

    // MSH: MSH-1 is the separator itself, MSH-2 copied verbatim.
    out.extend_from_slice(b"MSH");
    out.push(fs);
    out.extend_from_slice(refused.raw().get(4..refused.msh2_end()).unwrap_or(b"^~\\&"));
    // Copied fields keep only what their data type allows (HD: 3 components), so a reply to a
    // header stuffed with separators still parses under the receiver's limits.
    for n in [5, 6, 3, 4] {
        out.push(fs);
        copy_components(&mut out, refused.raw_field(n), &d, 3);
    }
    out.push(fs);
    out.extend_from_slice(&text(ctx.timestamp));
    out.push(fs); // MSH-8 security
    out.push(fs);
    reply_message_type(refused, refusal.code, &mut out, &d);
    out.push(fs);
    out.extend_from_slice(&text(ctx.control_id));
    // MSH-11 is PT (2 components), MSH-12 VID (3).
    for (n, components) in [(11, 2), (12, 3)] {
        out.push(fs);
        copy_components(&mut out, refused.raw_field(n), &d, components);
    }
    out.push(b'\r');

    // MSA-1 code, MSA-2 the refused control id.
    out.extend_from_slice(b"MSA");
    out.push(fs);
    out.extend_from_slice(refusal.code.as_str().as_bytes());
    out.push(fs);
    // MSA-2 echoes MSH-10 (ST: a single component).
    copy_components(&mut out, refused.raw_field(10), &d, 1);
    out.push(b'\r');

    // ERR-1 (deprecated) and ERR-2 (location) empty.
    out.extend_from_slice(b"ERR");
    out.extend_from_slice(&[fs, fs, fs]);
    out.extend_from_slice(refusal.error.0.to_string().as_bytes());
    out.push(d.component);
    out.extend_from_slice(&text(refusal.error.text()));
    out.push(d.component);
    out.extend_from_slice(b"HL70357");
    out.push(fs);
    out.extend_from_slice(refusal.severity.as_str().as_bytes());
    out.push(fs);
    if let Some(app) = refusal.application_code {
        out.extend_from_slice(app.to_string().as_bytes());
    }
    out.extend_from_slice(&[fs, fs, fs]); // ERR-6, ERR-7 empty
    out.extend_from_slice(&text(refusal.user_message));
    out.push(b'\r');
    out
}

/// Read an acknowledgement: MSA-1 code and MSA-2 acknowledged control id (raw values, empty
/// when the field is absent). `None` if the message has no MSA.
pub fn read_ack<'a>(msg: &Message<'a>) -> Option<(Value<'a>, Value<'a>)> {
    let msa = msg.segment(b"MSA", 1)?;
    let empty = Value::new(&[], msg.delimiters());
    let field = |n| msa.field(n).map(|f| f.value()).unwrap_or(empty);
    Some((field(1), field(2)))
}
