//! Zero-copy view of one HL7 v2 message (HL7 v2.5 §2.5 message construction rules).

use core::ops::Range;

use crate::{Delimiters, Header, ParseLimits, Path, PathError, Segment, Value};

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
/// It stores one bounded `Vec` of segment ranges; fields are found lazily when asked for.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    header: Header<'a>,
    segments: Vec<Range<usize>>,
}

fn valid_segment_id(seg: &[u8], field_sep: u8) -> bool {
    let id_ok = seg.get(..3).is_some_and(|id| {
        id.iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    id_ok && seg.get(3).is_none_or(|&b| b == field_sep)
}

/// Check the counts of one segment against the limits, in one pass and without allocating.
fn check_segment(
    seg: &[u8],
    index: usize,
    delims: &Delimiters,
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    if !valid_segment_id(seg, delims.field) {
        return Err(ParseError::BadSegmentId { segment: index });
    }
    let (mut field, body) = if seg.starts_with(b"MSH") {
        // Every MSH must declare the message's own delimiters (no smuggled second set).
        let (own, msh2_end) = Delimiters::from_msh(seg)?;
        if own != *delims {
            return Err(ParseError::BadDelimiters);
        }
        (2, seg.get(msh2_end..).unwrap_or(&[]))
    } else {
        (0, seg.get(3..).unwrap_or(&[]))
    };
    let too_many_fields = ParseError::TooManyFields {
        segment: index,
        limit: limits.max_fields_per_segment,
    };
    if field > limits.max_fields_per_segment {
        return Err(too_many_fields);
    }
    let (mut reps, mut comps, mut subs) = (1usize, 1usize, 1usize);
    for &b in body {
        if b == delims.field {
            field += 1;
            if field > limits.max_fields_per_segment {
                return Err(too_many_fields);
            }
            (reps, comps, subs) = (1, 1, 1);
        } else if b == delims.repetition {
            reps += 1;
            if reps > limits.max_repetitions {
                return Err(ParseError::TooManyRepetitions {
                    segment: index,
                    field,
                    limit: limits.max_repetitions,
                });
            }
            (comps, subs) = (1, 1);
        } else if b == delims.component {
            comps += 1;
            if comps > limits.max_components {
                return Err(ParseError::TooManyComponents {
                    segment: index,
                    field,
                    limit: limits.max_components,
                });
            }
            subs = 1;
        } else if Some(b) == delims.subcomponent {
            subs += 1;
            if subs > limits.max_subcomponents {
                return Err(ParseError::TooManySubcomponents {
                    segment: index,
                    field,
                    limit: limits.max_subcomponents,
                });
            }
        }
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Parse a message, validating every count against `limits`.
    ///
    /// Segments end with CR (HL7 v2.5 §2.5.2); with `allow_lf_terminators`, LF and CR LF end
    /// segments too. Empty segments (consecutive terminators, e.g. a trailing CR LF) are
    /// skipped. MSH-9 and MSH-10 are required.
    pub fn parse(raw: &'a [u8], limits: &ParseLimits) -> Result<Self, ParseError> {
        let header = Header::parse(raw)?;
        let delims = header.delimiters();
        let mut segments: Vec<Range<usize>> = Vec::new();
        let mut pos = 0usize;
        while pos < raw.len() {
            let rest = raw.get(pos..).unwrap_or(&[]);
            let (len, terminator) = match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
                Some(i) => (i, rest.get(i).copied()),
                None => (rest.len(), None),
            };
            let end = pos + len;
            if terminator == Some(b'\n') && !limits.allow_lf_terminators {
                return Err(ParseError::UnexpectedLineFeed { offset: end });
            }
            if len > 0 {
                let index = segments.len();
                if index >= limits.max_segments {
                    return Err(ParseError::TooManySegments {
                        limit: limits.max_segments,
                    });
                }
                let seg = raw.get(pos..end).unwrap_or(&[]);
                check_segment(seg, index, &delims, limits)?;
                segments.push(pos..end);
            }
            pos = end + 1;
        }
        if header.field(9).is_none() {
            return Err(ParseError::MissingField { field: "MSH-9" });
        }
        if header.field(10).is_none() {
            return Err(ParseError::MissingField { field: "MSH-10" });
        }
        Ok(Self {
            raw,
            header,
            segments,
        })
    }

    /// The bytes the message was parsed from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
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
            .filter_map(move |(i, r)| raw.get(r.clone()).map(|s| Segment::new(s, delims, i)))
    }

    /// The number of (non-empty) segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The `occurrence`th (1-based) segment whose id is `id`.
    pub fn segment(&self, id: &[u8], occurrence: usize) -> Option<Segment<'a>> {
        let skip = occurrence.checked_sub(1)?;
        self.segments().filter(|s| s.id() == id).nth(skip)
    }

    /// The value at `path`; `None` when absent **or empty** (an empty field, component or
    /// subcomponent is treated as absent; HL7's explicit null `""` is returned as is).
    ///
    /// Without a component the whole repetition is returned (e.g. `MSH-9` gives
    /// `RGV^O15^RGV_O15`); without a subcomponent the whole component.
    pub fn get(&self, path: &Path) -> Option<Value<'a>> {
        let seg = self.segment(&path.segment, path.occurrence)?;
        let rep = seg.field(path.field)?.repetition(path.repetition)?;
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
