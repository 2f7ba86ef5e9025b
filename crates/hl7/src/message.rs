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

/// What a byte means inside a segment, looked up once per byte instead of comparing it with
/// every delimiter (the parse loop is the hot path of every message).
const ORDINARY: u8 = 0;
const FIELD: u8 = 1;
const REPETITION: u8 = 2;
const COMPONENT: u8 = 3;
const SUBCOMPONENT: u8 = 4;
const END: u8 = 5;

fn byte_classes(d: &Delimiters) -> [u8; 256] {
    let mut classes = [ORDINARY; 256];
    if let Some(s) = d.subcomponent {
        classes[usize::from(s)] = SUBCOMPONENT;
    }
    classes[usize::from(d.component)] = COMPONENT;
    // With a one-character MSH-2 the repetition separator is the field separator: no repetitions.
    if d.repetition != d.field {
        classes[usize::from(d.repetition)] = REPETITION;
    }
    classes[usize::from(d.field)] = FIELD;
    classes[usize::from(b'\r')] = END;
    classes[usize::from(b'\n')] = END;
    classes
}

/// Counts of the current field, repetition and component, checked against the limits.
struct Counter<'l> {
    index: usize,
    field: usize,
    reps: usize,
    comps: usize,
    subs: usize,
    limits: &'l ParseLimits,
}

impl Counter<'_> {
    #[inline]
    fn step(&mut self, class: u8) -> Result<(), ParseError> {
        let l = self.limits;
        match class {
            FIELD => {
                self.field += 1;
                if self.field > l.max_fields_per_segment {
                    return Err(ParseError::TooManyFields {
                        segment: self.index,
                        limit: l.max_fields_per_segment,
                    });
                }
                (self.reps, self.comps, self.subs) = (1, 1, 1);
            }
            REPETITION => {
                self.reps += 1;
                if self.reps > l.max_repetitions {
                    return Err(ParseError::TooManyRepetitions {
                        segment: self.index,
                        field: self.field,
                        limit: l.max_repetitions,
                    });
                }
                (self.comps, self.subs) = (1, 1);
            }
            COMPONENT => {
                self.comps += 1;
                if self.comps > l.max_components {
                    return Err(ParseError::TooManyComponents {
                        segment: self.index,
                        field: self.field,
                        limit: l.max_components,
                    });
                }
                self.subs = 1;
            }
            SUBCOMPONENT => {
                self.subs += 1;
                if self.subs > l.max_subcomponents {
                    return Err(ParseError::TooManySubcomponents {
                        segment: self.index,
                        field: self.field,
                        limit: l.max_subcomponents,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Scan one segment from the start of `rest`: validate its id, check every count against the
/// limits, and find its end, all in one pass. Returns the segment length and its terminator.
fn scan_segment(
    rest: &[u8],
    index: usize,
    delims: &Delimiters,
    classes: &[u8; 256],
    limits: &ParseLimits,
) -> Result<(usize, Option<u8>), ParseError> {
    let id_ok = rest.get(..3).is_some_and(|id| {
        id.iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    let after_id = rest.get(3).copied();
    if !id_ok || after_id.is_some_and(|b| b != delims.field && classes[usize::from(b)] != END) {
        return Err(ParseError::BadSegmentId { segment: index });
    }
    let mut counter = Counter {
        index,
        field: 0,
        reps: 1,
        comps: 1,
        subs: 1,
        limits,
    };
    let body_start = if rest.starts_with(b"MSH") {
        // MSH-1/MSH-2 are not split; every MSH must declare the message's own delimiters (no
        // smuggled second set).
        let seg_len = rest
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        let (own, msh2_end) = Delimiters::from_msh(rest.get(..seg_len).unwrap_or(&[]))?;
        if own != *delims {
            return Err(ParseError::BadDelimiters);
        }
        counter.field = 2;
        if counter.field > limits.max_fields_per_segment {
            return Err(ParseError::TooManyFields {
                segment: index,
                limit: limits.max_fields_per_segment,
            });
        }
        msh2_end
    } else {
        3
    };
    let body = rest.get(body_start..).unwrap_or(&[]);
    for (i, &b) in body.iter().enumerate() {
        let class = classes[usize::from(b)];
        if class == ORDINARY {
            continue;
        }
        if class == END {
            return Ok((body_start + i, Some(b)));
        }
        counter.step(class)?;
    }
    Ok((rest.len(), None))
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
        let classes = byte_classes(&delims);
        let mut segments: Vec<Range<usize>> = Vec::with_capacity(16);
        let mut pos = 0usize;
        while pos < raw.len() {
            let rest = raw.get(pos..).unwrap_or(&[]);
            let (len, terminator) = match rest.first() {
                Some(&b) if classes[usize::from(b)] == END => (0, Some(b)),
                _ => {
                    let index = segments.len();
                    if index >= limits.max_segments {
                        return Err(ParseError::TooManySegments {
                            limit: limits.max_segments,
                        });
                    }
                    scan_segment(rest, index, &delims, &classes, limits)?
                }
            };
            let end = pos + len;
            if terminator == Some(b'\n') && !limits.allow_lf_terminators {
                return Err(ParseError::UnexpectedLineFeed { offset: end });
            }
            if len > 0 {
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
        // Ids compared as 3-byte arrays on the stored ranges (rule paths look segments up
        // for every message); an id of another length can only match a shorter segment.
        let wanted: Option<[u8; 3]> = id.try_into().ok();
        let mut left = skip;
        for (i, r) in self.segments.iter().enumerate() {
            let Some(seg) = self.raw.get(r.clone()) else {
                continue;
            };
            let hit = match (wanted, seg.first_chunk::<3>()) {
                (Some(w), Some(head)) => w == *head,
                _ => seg.get(..3).unwrap_or(seg) == id,
            };
            if hit {
                if left == 0 {
                    return Some(Segment::new(seg, self.delimiters(), i));
                }
                left -= 1;
            }
        }
        None
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
