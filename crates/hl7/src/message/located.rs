//! Fields of a parsed segment found from the separator offsets the parse pass recorded,
//! instead of rescanning the segment for every field read.

use core::ops::Range;

use crate::{Delimiters, Field};

/// One segment of a parsed message with the offsets of its field separators.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located<'m, 'a> {
    /// The segment's bytes, without its terminator.
    raw: &'a [u8],
    /// Where they start in the message.
    start: usize,
    /// Offsets within `raw` of its field separators, in order (for MSH the first is MSH-1).
    seps: &'m [usize],
    delims: Delimiters,
}

impl<'m, 'a> Located<'m, 'a> {
    pub(super) fn new(raw: &'a [u8], start: usize, seps: &'m [usize], delims: Delimiters) -> Self {
        Self {
            raw,
            start,
            seps,
            delims,
        }
    }

    /// Where the segment starts in the message.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// The segment's bytes.
    pub(crate) fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The segment id (the first three bytes).
    pub(crate) fn id(&self) -> &'a [u8] {
        self.raw.get(..3).unwrap_or(self.raw)
    }

    /// Where the bytes between field separator `k` (0-based) and the next one or the
    /// segment's end are; `None` when the segment has no separator `k`.
    #[inline]
    fn range_after(&self, k: usize) -> Option<Range<usize>> {
        let start = self.seps.get(k)? + 1;
        let end = self.seps.get(k + 1).copied().unwrap_or(self.raw.len());
        Some(start..end)
    }

    /// The bytes between field separator `k` (0-based) and the next one or the segment's end.
    #[inline]
    fn piece_after(&self, k: usize) -> Option<&'a [u8]> {
        self.raw.get(self.range_after(k)?)
    }

    /// Where field `n` of a segment other than MSH (HL7 numbering) lies in [`Located::raw`];
    /// `None` when absent. (In MSH, separator `n - 1` opens MSH-`n`, one field further.)
    #[inline]
    pub(crate) fn field_range(&self, n: usize) -> Option<Range<usize>> {
        self.range_after(n.checked_sub(1)?)
    }

    /// Field `n` of a segment other than MSH (HL7 numbering), as raw bytes; empty when
    /// absent.
    #[inline]
    pub(crate) fn field_raw(&self, n: usize) -> &'a [u8] {
        self.field_range(n)
            .and_then(|r| self.raw.get(r))
            .unwrap_or_default()
    }

    /// What [`crate::Segment::field`] gives for field `n`: for MSH, `field(1)` is the field
    /// separator and `field(2)` the encoding characters, both taken literally.
    #[inline]
    pub(crate) fn field(&self, n: usize) -> Option<Field<'a>> {
        let k = n.checked_sub(1)?;
        if self.id() != b"MSH" {
            return self.piece_after(k).map(|raw| Field::new(raw, self.delims));
        }
        match k {
            0 => self
                .raw
                .get(3..4)
                .map(|raw| Field::literal(raw, self.delims)),
            1 => self
                .piece_after(0)
                .map(|raw| Field::literal(raw, self.delims)),
            _ => self
                .piece_after(k - 1)
                .map(|raw| Field::new(raw, self.delims)),
        }
    }
}
