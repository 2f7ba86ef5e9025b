//! Byte searches over HL7 pieces, a word at a time: HL7 pieces are mostly a few bytes long,
//! where setting up a vector search costs more than the search itself.

/// The first `needle` in `hay`. HL7 pieces are mostly a few bytes long, where setting up a
/// vector search costs more than the search: the first [`SHORT_SCAN`] bytes are scanned a word
/// at a time, and memchr takes over for long text (notes, base64 payloads).
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = u64::from_ne_bytes([needle; 8]);
    let head = hay.get(..SHORT_SCAN).unwrap_or(hay);
    let mut words = head.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // The lowest flagged byte is the first zero byte of `x`, i.e. the first match (SWAR
        // "has zero byte"; false flags only ever sit above a true one).
        let found = x.wrapping_sub(LOW) & !x & HIGH;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    if let Some(i) = words.remainder().iter().position(|&b| b == needle) {
        return Some(offset + i);
    }
    let tail = hay.get(SHORT_SCAN..)?;
    memchr::memchr(needle, tail).map(|i| i + SHORT_SCAN)
}

/// Bytes [`find_byte`] scans itself before handing over to memchr.
const SHORT_SCAN: usize = 64;

/// The first `a` or `b` in `hay`, as [`find_byte`] finds one byte (a word at a time over
/// the first [`SHORT_SCAN`] bytes, memchr2 after): for readers that stop at whichever of
/// two separators comes first (the first component of the first repetition).
pub(crate) fn find_either(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    const LOW7: u64 = u64::from_ne_bytes([0x7F; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let (pa, pb) = (u64::from_ne_bytes([a; 8]), u64::from_ne_bytes([b; 8]));
    // The high bit of every byte of `x` that is not zero (exact, no false flags).
    let not_zero = |x: u64| ((x & LOW7).wrapping_add(LOW7)) | x;
    let head = hay.get(..SHORT_SCAN).unwrap_or(hay);
    let mut words = head.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let found = !(not_zero(w ^ pa) & not_zero(w ^ pb)) & HIGH;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    if let Some(i) = words.remainder().iter().position(|&x| x == a || x == b) {
        return Some(offset + i);
    }
    let tail = hay.get(SHORT_SCAN..)?;
    memchr::memchr2(a, b, tail).map(|i| i + SHORT_SCAN)
}

/// Split `raw` on `sep` in one pass a word at a time, calling `emit(start, end)` for each of
/// the first `max` pieces (`raw[start..end]`); returns how many were emitted. Readers that
/// need many fields or components of one piece (every order of every message) use this
/// instead of a [`find_byte`] call per piece.
#[inline]
pub(crate) fn for_each_piece(
    raw: &[u8],
    sep: u8,
    max: usize,
    mut emit: impl FnMut(usize, usize),
) -> usize {
    const LOW7: u64 = u64::from_ne_bytes([0x7F; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    if max == 0 {
        return 0;
    }
    let pattern = u64::from_ne_bytes([sep; 8]);
    let mut emitted = 0;
    let mut start = 0;
    let mut base = 0;
    let mut words = raw.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // Exact zero-byte test (no false flags): the high bit of every byte of `x` that is 0.
        let mut found = !(((x & LOW7).wrapping_add(LOW7)) | x) & HIGH;
        while found != 0 {
            let at = base + (found.trailing_zeros() / 8) as usize;
            emit(start, at);
            emitted += 1;
            if emitted == max {
                return emitted;
            }
            start = at + 1;
            found &= found - 1;
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == sep {
            emit(start, base + i);
            emitted += 1;
            if emitted == max {
                return emitted;
            }
            start = base + i + 1;
        }
    }
    emit(start, raw.len());
    emitted + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_finds_the_first_match_at_every_offset() {
        // Across the word-at-a-time head, its remainder and the memchr tail.
        for len in 0..150 {
            let mut hay = vec![b'a'; len];
            assert_eq!(find_byte(b'|', &hay), None, "len {len}");
            for at in 0..len {
                hay.fill(b'a');
                hay[at] = b'|';
                if at + 3 < len {
                    hay[at + 3] = b'|';
                }
                assert_eq!(find_byte(b'|', &hay), Some(at), "len {len} at {at}");
                // A byte one above the needle must not be taken for it.
                hay[at] = b'}';
                let expected = hay.iter().position(|&b| b == b'|');
                assert_eq!(find_byte(b'|', &hay), expected, "len {len} at {at}");
            }
        }
        let high = [0x80u8, 0xFF, 0x7F, 0x01, 0x00, 0xFE, 0x81, 0x00, 0xFF];
        for needle in [0x00, 0x01, 0x7F, 0x80, 0x81, 0xFE, 0xFF] {
            assert_eq!(
                find_byte(needle, &high),
                high.iter().position(|&b| b == needle)
            );
        }
    }

    #[test]
    fn find_either_finds_the_first_of_two_at_every_offset() {
        // Across the word-at-a-time head, its remainder and the memchr2 tail.
        for len in 0..150 {
            for at_a in (0..len).step_by(7).chain([len]) {
                for at_b in (0..len).step_by(5).chain([len]) {
                    let mut hay = vec![b'x'; len];
                    if let Some(slot) = hay.get_mut(at_a) {
                        *slot = b'~';
                    }
                    if let Some(slot) = hay.get_mut(at_b) {
                        *slot = b'^';
                    }
                    let want = hay.iter().position(|&b| b == b'~' || b == b'^');
                    assert_eq!(find_either(b'~', b'^', &hay), want, "{len} {at_a} {at_b}");
                }
            }
        }
        let high = [0x80u8, 0xFF, 0x7F, 0x01, 0x00, 0xFE, 0x81, 0x00, 0xFF];
        for (a, b) in [(0x00, 0x7F), (0x80, 0x81), (0xFE, 0x01), (0x7E, 0x7D)] {
            let want = high.iter().position(|&x| x == a || x == b);
            assert_eq!(find_either(a, b, &high), want);
        }
    }

    #[test]
    fn for_each_piece_is_split() {
        for len in 0..40 {
            for pattern in 0..4u64 {
                // Separators at pseudo-random places, including adjacent and at both ends.
                let hay: Vec<u8> = (0..len)
                    .map(|i| {
                        let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9 + pattern * 7919) >> 7;
                        if h % (pattern + 2) == 0 {
                            b'^'
                        } else {
                            b'a' + (i % 26) as u8
                        }
                    })
                    .collect();
                let expected: Vec<&[u8]> = hay.split(|&b| b == b'^').collect();
                for max in 0..expected.len() + 2 {
                    let mut got = Vec::new();
                    let n = for_each_piece(&hay, b'^', max, |s, e| got.push(&hay[s..e]));
                    assert_eq!(n, got.len());
                    let want: Vec<&[u8]> = expected.iter().take(max).copied().collect();
                    assert_eq!(got, want, "len {len} pattern {pattern} max {max}");
                }
            }
        }
        let high = [0x80u8, 0xFF, 0x7F, 0x01, 0x00, 0xFE, 0x81, 0x00, 0xFF, 0x00];
        for sep in [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF] {
            let mut got = Vec::new();
            for_each_piece(&high, sep, usize::MAX, |s, e| got.push(&high[s..e]));
            let want: Vec<&[u8]> = high.split(|&b| b == sep).collect();
            assert_eq!(got, want, "sep {sep:#x}");
        }
    }
}
