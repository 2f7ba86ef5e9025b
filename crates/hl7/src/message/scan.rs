//! The parse loop: one pass over each segment that validates its id, checks every count
//! against the limits, finds its end and records where its field separators are.

use super::ParseError;
use crate::{Delimiters, ParseLimits};

/// What a byte means inside a segment, looked up once per byte instead of comparing it with
/// every delimiter (the parse loop is the hot path of every message).
const ORDINARY: u8 = 0;
const FIELD: u8 = 1;
const REPETITION: u8 = 2;
const COMPONENT: u8 = 3;
const SUBCOMPONENT: u8 = 4;
pub(super) const END: u8 = 5;

pub(super) fn byte_classes(d: &Delimiters) -> [u8; 256] {
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

/// Counts of the current field, repetition and component, checked against the limits
/// (held by value: they are compared at every delimiter).
struct Counter {
    index: usize,
    field: usize,
    reps: usize,
    comps: usize,
    subs: usize,
    limits: ParseLimits,
}

impl Counter {
    /// A field separator: one more field, checked against the limit.
    #[inline]
    fn field_separator(&mut self) -> Result<(), ParseError> {
        self.field += 1;
        if self.field > self.limits.max_fields_per_segment {
            return Err(ParseError::TooManyFields {
                segment: self.index,
                limit: self.limits.max_fields_per_segment,
            });
        }
        (self.reps, self.comps, self.subs) = (1, 1, 1);
        Ok(())
    }

    #[inline]
    fn step(&mut self, class: u8) -> Result<(), ParseError> {
        let l = &self.limits;
        match class {
            FIELD => self.field_separator()?,
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

/// What the parse loop needs to know about the message as a whole.
pub(super) struct Scan<'l> {
    pub(super) delims: Delimiters,
    pub(super) classes: [u8; 256],
    /// [`special_patterns`] of the delimiters.
    pub(super) patterns: [u64; 6],
    pub(super) limits: &'l ParseLimits,
    /// Where MSH-2 of the first segment ends ([`crate::Header::parse`] already read it).
    pub(super) first_msh2_end: usize,
}

impl Scan<'_> {
    /// Scan one segment from the start of `rest`: validate its id, check every count against
    /// the limits, and find its end, all in one pass. Appends the offsets (within the segment)
    /// of its field separators to `seps`, each counted against `max_fields_per_segment` first,
    /// so a segment adds at most that many. Returns the segment length and its terminator.
    pub(super) fn segment(
        &self,
        rest: &[u8],
        index: usize,
        seps: &mut Vec<usize>,
    ) -> Result<(usize, Option<u8>), ParseError> {
        let (delims, classes, limits) = (&self.delims, &self.classes, self.limits);
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
            limits: *limits,
        };
        let body_start = if rest.starts_with(b"MSH") {
            // MSH-1/MSH-2 are not split; every MSH must declare the message's own delimiters
            // (no smuggled second set). The first one is the header, already read.
            let msh2_end = if index == 0 {
                self.first_msh2_end
            } else {
                let seg_len = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                let (own, msh2_end) = Delimiters::from_msh(rest.get(..seg_len).unwrap_or(&[]))?;
                if own != *delims {
                    return Err(ParseError::BadDelimiters);
                }
                msh2_end
            };
            counter.field = 2;
            if counter.field > limits.max_fields_per_segment {
                return Err(ParseError::TooManyFields {
                    segment: index,
                    limit: limits.max_fields_per_segment,
                });
            }
            // MSH-1 is the separator at byte 3 (counted above).
            seps.push(3);
            msh2_end
        } else {
            3
        };
        let body = rest.get(body_start..).unwrap_or(&[]);
        // A word at a time: most bytes are ordinary, and the delimiters among them are found
        // together and then taken in order.
        let mut words = body.chunks_exact(8);
        let mut base = 0;
        for word in &mut words {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            let word = u64::from_le_bytes(bytes);
            let mut found = self.special_bytes(word);
            while found != 0 {
                // The flag is the high bit of its byte: bit 8k + 7 for byte k.
                let shift = found.trailing_zeros() & !7;
                found &= found - 1;
                let i = base + (shift / 8) as usize;
                let b = (word >> shift) as u8;
                if b == delims.field {
                    // The most common delimiter, handled without the class dispatch.
                    counter.field_separator()?;
                    seps.push(body_start + i);
                    continue;
                }
                let class = classes[usize::from(b)];
                if class == END {
                    return Ok((body_start + i, Some(b)));
                }
                counter.step(class)?;
                if class == FIELD {
                    seps.push(body_start + i);
                }
            }
            base += 8;
        }
        for (i, &b) in words.remainder().iter().enumerate() {
            let class = classes[usize::from(b)];
            if class == ORDINARY {
                continue;
            }
            if class == END {
                return Ok((body_start + base + i, Some(b)));
            }
            counter.step(class)?;
            if class == FIELD {
                seps.push(body_start + base + i);
            }
        }
        Ok((rest.len(), None))
    }

    /// The high bit of every byte of `word` (little-endian) that is a separator or a segment
    /// terminator, i.e. whose class is not [`ORDINARY`]; exact (SWAR zero-byte test on
    /// `word` XOR each pattern, without the false flags of the cheaper variant).
    #[inline]
    fn special_bytes(&self, word: u64) -> u64 {
        const LOW7: u64 = u64::from_ne_bytes([0x7F; 8]);
        const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
        // A byte of `not_zero` has its high bit set when that byte of `x` is not zero.
        let not_zero = |x: u64| ((x & LOW7).wrapping_add(LOW7)) | x;
        let all = self
            .patterns
            .iter()
            .fold(u64::MAX, |acc, &p| acc & not_zero(word ^ p));
        !all & HIGH
    }
}

/// Every byte whose class is not [`ORDINARY`], each repeated over a word (a missing
/// subcomponent separator stands in as the component separator again).
pub(super) fn special_patterns(d: &Delimiters) -> [u64; 6] {
    [
        d.field,
        d.component,
        d.repetition,
        d.subcomponent.unwrap_or(d.component),
        b'\r',
        b'\n',
    ]
    .map(|b| u64::from_ne_bytes([b; 8]))
}
