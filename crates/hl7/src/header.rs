//! The MSH segment read on its own (HL7 v2.5 §2.14.9), so a NACK can be built even when the
//! rest of a message is malformed.

use crate::{AckCode, Delimiters, ParseError, Segment, Value};

/// Which acknowledgement rules apply (HL7 v2.5 §2.9.2 original mode, §2.9.3 enhanced mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// MSH-15 and MSH-16 are empty: one application acknowledgement (`AA`/`AE`/`AR`).
    Original,
    /// MSH-15 or MSH-16 is valued: accept acknowledgement (`CA`/`CE`/`CR`) first.
    Enhanced,
}

impl AckMode {
    /// The acknowledgement code of an error on the receiver's side (`AE`, or `CE` in enhanced
    /// mode): the message was not processed and may be sent again, unlike a rejection.
    pub fn error(self) -> AckCode {
        match self {
            AckMode::Original => AckCode::AE,
            AckMode::Enhanced => AckCode::CE,
        }
    }

    /// The acknowledgement code of a rejection (`AR`, or `CR` in enhanced mode): the message
    /// is refused as sent.
    pub fn reject(self) -> AckCode {
        match self {
            AckMode::Original => AckCode::AR,
            AckMode::Enhanced => AckCode::CR,
        }
    }
}

/// The MSH segment of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    segment: Segment<'a>,
    delims: Delimiters,
    /// Offset just past MSH-2 inside the segment.
    msh2_end: usize,
}

impl<'a> Header<'a> {
    /// Read only the first segment (up to the first CR or LF); requires `MSH`, a field
    /// separator and 1 to 5 encoding characters (the 5th is the v2.7 truncation character,
    /// which does not shift fields).
    pub fn parse(raw: &'a [u8]) -> Result<Self, ParseError> {
        if raw.is_empty() {
            return Err(ParseError::Empty);
        }
        let end = memchr::memchr2(b'\r', b'\n', raw).unwrap_or(raw.len());
        let seg = raw.get(..end).unwrap_or(raw);
        if !seg.starts_with(b"MSH") {
            return Err(ParseError::NotMsh);
        }
        let (delims, msh2_end) = Delimiters::from_msh(seg)?;
        Ok(Self {
            segment: Segment::new(seg, delims, 0),
            delims,
            msh2_end,
        })
    }

    /// The delimiters declared by MSH-1 and MSH-2.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The MSH segment as a [`Segment`] view.
    pub fn segment(&self) -> Segment<'a> {
        self.segment
    }

    /// The raw bytes of the MSH segment, without its terminator.
    pub fn raw(&self) -> &'a [u8] {
        self.segment.raw()
    }

    pub(crate) fn msh2_end(&self) -> usize {
        self.msh2_end
    }

    /// The whole raw field MSH-n (all repetitions), empty when absent.
    pub(crate) fn raw_field(&self, n: usize) -> &'a [u8] {
        self.segment.field(n).map(|f| f.raw()).unwrap_or(&[])
    }

    /// MSH-n as a value: first repetition, whole field (components not split); `None` if
    /// absent or empty. `field(1)` and `field(2)` give MSH-1 and MSH-2 literally.
    pub fn field(&self, n: usize) -> Option<Value<'a>> {
        let value = self.segment.field(n)?.repetition(1)?.value();
        (!value.is_empty()).then_some(value)
    }

    /// MSH-n.c (first repetition); `None` if absent or empty.
    pub fn component(&self, n: usize, c: usize) -> Option<Value<'a>> {
        let value = self.segment.field(n)?.component(c)?.value();
        (!value.is_empty()).then_some(value)
    }

    /// MSH-3.1 sending application.
    pub fn sending_application(&self) -> Option<Value<'a>> {
        self.component(3, 1)
    }

    /// MSH-4.1 sending facility.
    pub fn sending_facility(&self) -> Option<Value<'a>> {
        self.component(4, 1)
    }

    /// MSH-5.1 receiving application.
    pub fn receiving_application(&self) -> Option<Value<'a>> {
        self.component(5, 1)
    }

    /// MSH-6.1 receiving facility.
    pub fn receiving_facility(&self) -> Option<Value<'a>> {
        self.component(6, 1)
    }

    /// MSH-9.1 message code, e.g. `RGV`.
    pub fn message_code(&self) -> Option<Value<'a>> {
        self.component(9, 1)
    }

    /// MSH-9.2 trigger event, e.g. `O15`.
    pub fn trigger_event(&self) -> Option<Value<'a>> {
        self.component(9, 2)
    }

    /// MSH-10 message control id.
    pub fn control_id(&self) -> Option<Value<'a>> {
        self.field(10)
    }

    /// MSH-12.1 version id, e.g. `2.6`.
    pub fn version(&self) -> Option<Value<'a>> {
        self.component(12, 1)
    }

    /// MSH-21.1 first message profile identifier (PCD-03: `1.3.6.1.4.1.19376.1.6.1.3.1`).
    pub fn profile(&self) -> Option<Value<'a>> {
        self.component(21, 1)
    }

    /// Enhanced when MSH-15 or MSH-16 is non-empty, Original otherwise (HL7 v2.5 §2.9).
    pub fn ack_mode(&self) -> AckMode {
        if self.field(15).is_some() || self.field(16).is_some() {
            AckMode::Enhanced
        } else {
            AckMode::Original
        }
    }
}
