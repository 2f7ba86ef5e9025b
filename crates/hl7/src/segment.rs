//! Lazy views of a segment and its fields, repetitions and components (HL7 v2.5 §2.5).
//!
//! Nothing here allocates: every accessor scans the raw bytes of its own level.

pub(crate) use crate::bytes::{find_byte, find_either, for_each_piece};
use crate::{Delimiters, Value};

/// The `n`th (1-based) piece of `raw` split on `sep`; no split when `sep` is `None`.
fn nth_piece(raw: &[u8], sep: Option<u8>, n: usize) -> Option<&[u8]> {
    let index = n.checked_sub(1)?;
    match sep {
        None => (index == 0).then_some(raw),
        Some(sep) => {
            let rest = match index {
                0 => raw,
                _ => raw.get(after_nth(raw, sep, index)?..)?,
            };
            let end = find_byte(sep, rest).unwrap_or(rest.len());
            rest.get(..end)
        }
    }
}

/// The offset just after the `k`th (1-based) `sep` in `raw`, counting the separators a word
/// at a time (fields far into a segment are read for every message).
fn after_nth(raw: &[u8], sep: u8, k: usize) -> Option<usize> {
    const LOW7: u64 = u64::from_ne_bytes([0x7F; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = u64::from_ne_bytes([sep; 8]);
    let mut left = k;
    let mut base = 0;
    let mut words = raw.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // Exact zero-byte test: the high bit of every byte of `x` that is 0.
        let mut found = !(((x & LOW7).wrapping_add(LOW7)) | x) & HIGH;
        // Bit by bit (no popcount instruction on the baseline target).
        while found != 0 {
            left -= 1;
            if left == 0 {
                return Some(base + (found.trailing_zeros() / 8) as usize + 1);
            }
            found &= found - 1;
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == sep {
            left -= 1;
            if left == 0 {
                return Some(base + i + 1);
            }
        }
    }
    None
}

/// Number of pieces of `raw` split on `sep` (at least 1).
fn piece_count(raw: &[u8], sep: Option<u8>) -> usize {
    match sep {
        None => 1,
        Some(sep) => 1 + memchr::memchr_iter(sep, raw).count(),
    }
}

/// One segment of a message, e.g. `PID|1||12345`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    index: usize,
}

impl<'a> Segment<'a> {
    pub(crate) fn new(raw: &'a [u8], delims: Delimiters, index: usize) -> Self {
        Self { raw, delims, index }
    }

    /// The segment id, e.g. `PID` (the first three bytes).
    pub fn id(&self) -> &'a [u8] {
        self.raw.get(..3).unwrap_or(self.raw)
    }

    /// The raw bytes of the segment, without its terminator.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The 0-based position of the segment in its message.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The delimiters of the message this segment belongs to.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    fn is_msh(&self) -> bool {
        self.id() == b"MSH"
    }

    /// Field `n` per HL7 numbering (1-based; `None` for 0 or beyond the last field).
    ///
    /// For MSH, `field(1)` is the field separator itself and `field(2)` the encoding
    /// characters; neither is ever split into repetitions or components (HL7 v2.5 §2.14.9).
    pub fn field(&self, n: usize) -> Option<Field<'a>> {
        let fs = self.delims.field;
        if self.is_msh() {
            match n {
                0 => None,
                1 => self
                    .raw
                    .get(3..4)
                    .map(|raw| Field::literal(raw, self.delims)),
                2 => nth_piece(self.raw, Some(fs), 2).map(|raw| Field::literal(raw, self.delims)),
                _ => nth_piece(self.raw, Some(fs), n).map(|raw| Field::new(raw, self.delims)),
            }
        } else if n == 0 {
            None
        } else {
            nth_piece(self.raw, Some(fs), n + 1).map(|raw| Field::new(raw, self.delims))
        }
    }

    /// Fields 1, 2, 3, ... in one pass (for reading many fields of one segment without
    /// rescanning it per field). For MSH, which numbers its separator as MSH-1, use
    /// [`Segment::field`].
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + 'a {
        let delims = self.delims;
        let body = if self.is_msh() {
            &[][..]
        } else {
            self.raw.get(4..).unwrap_or(&[])
        };
        let present = !self.is_msh() && self.raw.len() > 3;
        body.split(move |&b| b == delims.field)
            .take(if present { usize::MAX } else { 0 })
            .map(move |raw| Field::new(raw, delims))
    }

    /// Fields 1..=N in one pass, `None` beyond the last field: for readers that need several
    /// fields of one segment, where [`Segment::field`] would rescan from the start each time.
    /// For MSH, index 0 is MSH-1 (the field separator) and index 1 MSH-2, as in `field`.
    pub fn first_fields<const N: usize>(&self) -> [Option<Field<'a>>; N] {
        let mut out = [None; N];
        let fs = self.delims.field;
        if self.is_msh() {
            // MSH-1 is byte 3 itself; MSH-2 (taken literally) and MSH-3 onwards are the
            // pieces after it, split in one pass.
            let delims = self.delims;
            let mut slots = out.iter_mut();
            if let (Some(slot), Some(msh1)) = (slots.next(), self.raw.get(3..4)) {
                *slot = Some(Field::literal(msh1, delims));
                let body = self.raw.get(4..).unwrap_or_default();
                let mut first = true;
                for_each_piece(body, fs, slots.len(), |start, end| {
                    if let Some(slot) = slots.next() {
                        let raw = body.get(start..end).unwrap_or_default();
                        *slot = Some(if first {
                            Field::literal(raw, delims)
                        } else {
                            Field::new(raw, delims)
                        });
                        first = false;
                    }
                });
            }
        } else if self.raw.len() > 3 {
            self.split_fields(self.raw.get(4..).unwrap_or(&[]), &mut out);
        }
        out
    }

    /// Fill `slots` with the fields of `body` split on the field separator, a vector at a
    /// time (this runs for every segment a reader looks at).
    fn split_fields(&self, body: &'a [u8], slots: &mut [Option<Field<'a>>]) {
        let delims = self.delims;
        let mut slots = slots.iter_mut();
        for_each_piece(body, delims.field, slots.len(), |start, end| {
            if let Some(slot) = slots.next() {
                *slot = Some(Field::new(body.get(start..end).unwrap_or(&[]), delims));
            }
        });
    }

    /// The number of fields, per HL7 numbering (for MSH this counts MSH-1).
    pub fn field_count(&self) -> usize {
        let seps = self.raw.iter().filter(|&&b| b == self.delims.field).count();
        if self.is_msh() { seps + 1 } else { seps }
    }
}

/// One field of a segment, possibly with repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    /// MSH-1 and MSH-2 are taken literally: never split, never unescaped.
    literal: bool,
}

impl<'a> Field<'a> {
    pub(crate) fn new(raw: &'a [u8], delims: Delimiters) -> Self {
        Self {
            raw,
            delims,
            literal: false,
        }
    }

    pub(crate) fn literal(raw: &'a [u8], delims: Delimiters) -> Self {
        Self {
            raw,
            delims,
            literal: true,
        }
    }

    fn sep(&self, sep: Option<u8>) -> Option<u8> {
        if self.literal { None } else { sep }
    }

    fn value_of(&self, raw: &'a [u8]) -> Value<'a> {
        let mut delims = self.delims;
        if self.literal {
            delims.escape = None;
        }
        Value::new(raw, delims)
    }

    /// The raw bytes of the whole field.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True when the field has no bytes.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The `n`th (1-based) repetition.
    pub fn repetition(&self, n: usize) -> Option<Repetition<'a>> {
        nth_piece(self.raw, self.sep(Some(self.delims.repetition)), n)
            .map(|raw| Repetition { raw, field: *self })
    }

    /// The number of repetitions (at least 1).
    pub fn repetition_count(&self) -> usize {
        piece_count(self.raw, self.sep(Some(self.delims.repetition)))
    }

    /// Component `n` of the first repetition.
    pub fn component(&self, n: usize) -> Option<Component<'a>> {
        self.repetition(1)?.component(n)
    }

    /// The whole field as a value.
    pub fn value(&self) -> Value<'a> {
        self.value_of(self.raw)
    }
}

/// One repetition of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repetition<'a> {
    raw: &'a [u8],
    field: Field<'a>,
}

impl<'a> Repetition<'a> {
    /// The raw bytes of the repetition.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The `n`th (1-based) component.
    pub fn component(&self, n: usize) -> Option<Component<'a>> {
        let sep = self.field.sep(Some(self.field.delims.component));
        nth_piece(self.raw, sep, n).map(|raw| Component {
            raw,
            field: self.field,
        })
    }

    /// Components 1, 2, 3, ... in one pass.
    pub fn components(&self) -> impl Iterator<Item = Component<'a>> + 'a {
        let field = self.field;
        let sep = field.sep(Some(field.delims.component));
        let raw = self.raw;
        let mut done = false;
        let mut rest = raw;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            let end = match sep {
                Some(sep) => rest.iter().position(|&b| b == sep),
                None => None,
            };
            let piece = match end {
                Some(i) => {
                    let (piece, tail) = rest.split_at(i);
                    rest = tail.get(1..).unwrap_or(&[]);
                    piece
                }
                None => {
                    done = true;
                    rest
                }
            };
            Some(Component { raw: piece, field })
        })
    }

    /// The repetition as text with its component separator, when reading its components
    /// needs no decoding: no escape character in it and valid UTF-8. Each component is then
    /// the borrowed piece between separators (delimiters are ASCII, so every piece of valid
    /// UTF-8 is valid UTF-8), exactly what [`Value::text`] would return for it.
    pub(crate) fn plain_text(&self) -> Option<(&'a str, Option<u8>)> {
        let sep = self.field.sep(Some(self.field.delims.component));
        if sep.is_some_and(|s| !s.is_ascii()) {
            return None;
        }
        let escape = if self.field.literal {
            None
        } else {
            self.field.delims.escape
        };
        if escape.is_some_and(|e| find_byte(e, self.raw).is_some()) {
            return None;
        }
        let text = core::str::from_utf8(self.raw).ok()?;
        Some((text, sep))
    }

    /// The number of components (at least 1).
    pub fn component_count(&self) -> usize {
        piece_count(self.raw, self.field.sep(Some(self.field.delims.component)))
    }

    /// The whole repetition as a value.
    pub fn value(&self) -> Value<'a> {
        self.field.value_of(self.raw)
    }
}

/// One component of a repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component<'a> {
    raw: &'a [u8],
    field: Field<'a>,
}

impl<'a> Component<'a> {
    /// The raw bytes of the component.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The `n`th (1-based) subcomponent. Without a declared subcomponent separator the whole
    /// component is subcomponent 1.
    pub fn subcomponent(&self, n: usize) -> Option<Value<'a>> {
        let sep = self.field.sep(self.field.delims.subcomponent);
        nth_piece(self.raw, sep, n).map(|raw| self.field.value_of(raw))
    }

    /// The number of subcomponents (at least 1).
    pub fn subcomponent_count(&self) -> usize {
        piece_count(self.raw, self.field.sep(self.field.delims.subcomponent))
    }

    /// The whole component as a value.
    pub fn value(&self) -> Value<'a> {
        self.field.value_of(self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_piece_is_split() {
        for len in 0..40usize {
            let hay: Vec<u8> = (0..len)
                .map(|i| if (i * 7 + len) % 5 < 2 { b'|' } else { b'x' })
                .collect();
            let expected: Vec<&[u8]> = hay.split(|&b| b == b'|').collect();
            for n in 0..expected.len() + 3 {
                let want = n.checked_sub(1).and_then(|i| expected.get(i).copied());
                assert_eq!(nth_piece(&hay, Some(b'|'), n), want, "len {len} n {n}");
            }
        }
    }

    #[test]
    fn first_fields_agree_with_field() {
        let d = Delimiters::default();
        for raw in [
            &b"MSH|^~\\&|A|B||D|||RGV^O15"[..],
            b"MSH|^~\\&",
            b"MSH|^~\\&|",
            b"MSH|",
            b"MSH",
            b"PID|1||12345^^^H~999|",
            b"PID",
            b"PID|",
            b"OBX|1|ST|69986^MDC_DEV_PUMP_INFUS_VMD^MDC|||||||||||||||PUMP-0042^EGH",
        ] {
            let seg = Segment::new(raw, d, 0);
            let fields = seg.first_fields::<20>();
            for (i, f) in fields.iter().enumerate() {
                assert_eq!(
                    f.map(|f| (f.raw(), f.component(2).map(|c| c.raw()))),
                    seg.field(i + 1)
                        .map(|f| (f.raw(), f.component(2).map(|c| c.raw()))),
                    "{} field {}",
                    String::from_utf8_lossy(raw),
                    i + 1
                );
            }
        }
    }
}
