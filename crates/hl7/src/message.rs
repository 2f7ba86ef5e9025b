//! Zero-copy view of one HL7 v2 message (HL7 v2.5 §2.5 message construction rules).

mod located;
mod scan;

pub(crate) use located::Located;
use scan::{END, Scan, byte_classes, special_patterns};

use crate::{Delimiters, Field, Header, ParseLimits, Path, PathError, Segment, Value};

/// The sender's bytes are not a message this parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The message has no bytes.
    #[error("sender's message is empty")]
    Empty,
    /// The message does not start with an MSH segment.
    #[error("sender's message does not start with MSH")]
    NotMsh,
    /// MSH-1/MSH-2 unusable (e.g. a separator is alphanumeric, duplicated, or CR).
    #[error("sender's MSH-1/MSH-2 delimiters are unusable")]
    BadDelimiters,
    /// More segments than the limit.
    #[error("sender's message has more than {limit} segments")]
    TooManySegments {
        /// The limit.
        limit: usize,
    },
    /// More fields in one segment than the limit.
    #[error("sender's segment {segment} has more than {limit} fields")]
    TooManyFields {
        /// 0-based segment index.
        segment: usize,
        /// The limit.
        limit: usize,
    },
    /// More repetitions in one field than the limit.
    #[error("sender's segment {segment} field {field} has more than {limit} repetitions")]
    TooManyRepetitions {
        /// 0-based segment index.
        segment: usize,
        /// Field number (HL7 numbering).
        field: usize,
        /// The limit.
        limit: usize,
    },
    /// More components in one repetition than the limit.
    #[error("sender's segment {segment} field {field} has more than {limit} components")]
    TooManyComponents {
        /// 0-based segment index.
        segment: usize,
        /// Field number (HL7 numbering).
        field: usize,
        /// The limit.
        limit: usize,
    },
    /// More subcomponents in one component than the limit.
    #[error("sender's segment {segment} field {field} has more than {limit} subcomponents")]
    TooManySubcomponents {
        /// 0-based segment index.
        segment: usize,
        /// Field number (HL7 numbering).
        field: usize,
        /// The limit.
        limit: usize,
    },
    /// Segment id is not 3 uppercase letters or digits followed by the field separator.
    #[error("sender's segment {segment} has an invalid segment id")]
    BadSegmentId {
        /// 0-based segment index.
        segment: usize,
    },
    /// A line feed where only CR may end a segment.
    #[error("sender's message has a line feed at offset {offset} (only CR ends a segment)")]
    UnexpectedLineFeed {
        /// Offset of the line feed.
        offset: usize,
    },
    /// A required MSH-9 or MSH-10 is missing.
    #[error("sender's message lacks required field {field}")]
    MissingField {
        /// The field, e.g. `MSH-9`.
        field: &'static str,
    },
}

/// Zero-copy view of one HL7 v2 message.
///
/// It stores one bounded `Vec` of segment spans and one of field separator offsets (both
/// recorded by the parse pass), so a field is found without rescanning its segment.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    header: Header<'a>,
    segments: Vec<Span>,
    /// Offset within its segment of every field separator, segment after segment (for MSH
    /// the first is MSH-1 itself). At most `max_fields_per_segment` per segment.
    seps: Vec<usize>,
    /// Whether the escape character occurs after MSH-2.
    escapes: bool,
}

/// Where one segment lies in the message.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    /// Index in `Message::seps` of the segment's first field separator.
    first_sep: usize,
}

/// Bytes per field separator assumed when sizing the separator list: the PCD-03 fixtures
/// have one every 6.6 to 7.5 bytes, so a typical order needs no regrowth (the list grows
/// past it when needed).
const BYTES_PER_SEPARATOR: usize = 6;
/// Most separator slots reserved up front, whatever the message size (a long message
/// grows its list as it goes instead of reserving for the worst case).
const MAX_INITIAL_SEPARATORS: usize = 4096;

impl<'a> Message<'a> {
    /// Parse a message, validating every count against `limits`.
    ///
    /// Segments end with CR (HL7 v2.5 §2.5.2); with `allow_lf_terminators`, LF and CR LF end
    /// segments too. Empty segments (consecutive terminators, e.g. a trailing CR LF) are
    /// skipped. MSH-9 and MSH-10 are required.
    pub fn parse(raw: &'a [u8], limits: &ParseLimits) -> Result<Self, ParseError> {
        let header = Header::parse(raw)?;
        let delims = header.delimiters();
        let scan = Scan {
            delims,
            classes: byte_classes(&delims),
            patterns: special_patterns(&delims),
            limits,
            first_msh2_end: header.msh2_end(),
        };
        let mut segments: Vec<Span> = Vec::with_capacity(16);
        let mut seps: Vec<usize> =
            Vec::with_capacity((raw.len() / BYTES_PER_SEPARATOR + 8).min(MAX_INITIAL_SEPARATORS));
        let mut pos = 0usize;
        while pos < raw.len() {
            let rest = raw.get(pos..).unwrap_or(&[]);
            let first_sep = seps.len();
            let (len, terminator) = match rest.first() {
                Some(&b) if scan.classes[usize::from(b)] == END => (0, Some(b)),
                _ => {
                    let index = segments.len();
                    if index >= limits.max_segments {
                        return Err(ParseError::TooManySegments {
                            limit: limits.max_segments,
                        });
                    }
                    scan.segment(rest, index, &mut seps)?
                }
            };
            let end = pos + len;
            if terminator == Some(b'\n') && !limits.allow_lf_terminators {
                return Err(ParseError::UnexpectedLineFeed { offset: end });
            }
            if len > 0 {
                segments.push(Span {
                    start: pos,
                    end,
                    first_sep,
                });
            }
            pos = end + 1;
        }
        // One vectorised search: usually nothing after MSH-2 needs decoding.
        let after_msh2 = raw.get(header.msh2_end()..).unwrap_or_default();
        let escapes = delims
            .escape
            .is_some_and(|e| memchr::memchr(e, after_msh2).is_some());
        let msg = Self {
            raw,
            header,
            segments,
            seps,
            escapes,
        };
        // What `Header::field` reads (a non-empty first repetition), from the recorded
        // separators: the field's first byte is there and is not a repetition separator.
        let valued = |n| {
            msg.field_at(0, n)
                .is_some_and(|f| f.raw().first().is_some_and(|&b| b != delims.repetition))
        };
        if !valued(9) {
            return Err(ParseError::MissingField { field: "MSH-9" });
        }
        if !valued(10) {
            return Err(ParseError::MissingField { field: "MSH-10" });
        }
        Ok(msg)
    }

    /// The bytes the message was parsed from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True when the escape character (MSH-2) occurs anywhere after MSH-2. When false, every
    /// value of the message decodes to its raw bytes, so a reader may skip decoding.
    pub fn has_escapes(&self) -> bool {
        self.escapes
    }

    /// The delimiters declared by MSH-1 and MSH-2.
    pub fn delimiters(&self) -> Delimiters {
        self.header.delimiters()
    }

    /// The MSH segment.
    pub fn header(&self) -> &Header<'a> {
        &self.header
    }

    /// All segments in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        let raw = self.raw;
        let delims = self.delimiters();
        self.segments
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| raw.get(s.start..s.end).map(|s| Segment::new(s, delims, i)))
    }

    /// The number of (non-empty) segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The segment at `index` (0-based, as [`Segment::index`]) with its separator offsets.
    pub(crate) fn located(&self, index: usize) -> Option<Located<'_, 'a>> {
        let span = self.segments.get(index)?;
        let seps_end = self
            .segments
            .get(index + 1)
            .map_or(self.seps.len(), |next| next.first_sep);
        Some(Located::new(
            self.raw.get(span.start..span.end)?,
            span.start,
            self.seps.get(span.first_sep..seps_end)?,
            self.delimiters(),
        ))
    }

    /// Field `n` (HL7 numbering) of the segment at `index` (0-based, as [`Segment::index`]):
    /// what [`Segment::field`] gives, found from the separator offsets recorded while parsing
    /// instead of by rescanning the segment.
    pub fn field_at(&self, index: usize, n: usize) -> Option<Field<'a>> {
        self.located(index)?.field(n)
    }

    /// The index of the `occurrence`th (1-based) segment whose id is `id`.
    fn find(&self, id: &[u8], occurrence: usize) -> Option<usize> {
        let skip = occurrence.checked_sub(1)?;
        // Ids compared as 3-byte arrays on the stored spans (rule paths look segments up
        // for every message); an id of another length can only match a shorter segment.
        let wanted: Option<[u8; 3]> = id.try_into().ok();
        let mut left = skip;
        for (i, span) in self.segments.iter().enumerate() {
            let Some(seg) = self.raw.get(span.start..span.end) else {
                continue;
            };
            let hit = match (wanted, seg.first_chunk::<3>()) {
                (Some(w), Some(head)) => w == *head,
                _ => seg.get(..3).unwrap_or(seg) == id,
            };
            if hit {
                if left == 0 {
                    return Some(i);
                }
                left -= 1;
            }
        }
        None
    }

    /// The `occurrence`th (1-based) segment whose id is `id`.
    pub fn segment(&self, id: &[u8], occurrence: usize) -> Option<Segment<'a>> {
        let i = self.find(id, occurrence)?;
        let span = self.segments.get(i)?;
        let seg = self.raw.get(span.start..span.end)?;
        Some(Segment::new(seg, self.delimiters(), i))
    }

    /// The value at `path`; `None` when absent **or empty** (an empty field, component or
    /// subcomponent is treated as absent; HL7's explicit null `""` is returned as is).
    ///
    /// Without a component the whole repetition is returned (e.g. `MSH-9` gives
    /// `RGV^O15^RGV_O15`); without a subcomponent the whole component.
    pub fn get(&self, path: &Path) -> Option<Value<'a>> {
        let index = self.find(&path.segment, path.occurrence)?;
        let rep = self
            .field_at(index, path.field)?
            .repetition(path.repetition)?;
        let value = match path.component {
            None => rep.value(),
            Some(c) => {
                let comp = rep.component(c)?;
                match path.subcomponent {
                    None => comp.value(),
                    Some(s) => comp.subcomponent(s)?,
                }
            }
        };
        (!value.is_empty()).then_some(value)
    }

    /// Parse `path` then [`Message::get`]; `Err` on bad path syntax.
    pub fn get_str_path(&self, path: &str) -> Result<Option<Value<'a>>, PathError> {
        let path = Path::parse(path)?;
        Ok(self.get(&path))
    }
}
