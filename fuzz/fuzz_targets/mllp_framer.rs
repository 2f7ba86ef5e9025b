//! Framing does not depend on how the stream is cut into reads: feeding it in fuzzer-chosen chunks
//! gives the same frames (and the same error, if any) as feeding it whole.
//!
//! Input layout: byte 0 = payload limit (0..=255, small so `TooLarge` is reachable), bytes 1..5 =
//! chunk sizes (cycled; 0 counts as 1), the rest = the byte stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_hl7::{FrameKind, MllpError, MllpFramer};

type Event = Result<(FrameKind, Vec<u8>), MllpError>;

/// Feed `stream` in chunks of the given sizes, removing each frame from the buffer as a proxy does.
fn frames(max: usize, mut rest: &[u8], mut sizes: impl Iterator<Item = usize>) -> Vec<Event> {
    let mut framer = MllpFramer::new(max);
    let (mut buf, mut out) = (Vec::new(), Vec::new());
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(sizes.next().unwrap_or(1).clamp(1, rest.len()));
        buf.extend_from_slice(chunk);
        rest = tail;
        loop {
            match framer.next_frame(&buf) {
                Ok(Some(f)) => {
                    out.push(Ok((f.kind, buf[f.payload].to_vec())));
                    buf.drain(..f.consumed);
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (Some(&max), Some(sizes), Some(stream)) = (data.first(), data.get(1..5), data.get(5..))
    else {
        return;
    };
    let whole = frames(max.into(), stream, std::iter::once(stream.len()));
    let chunked = frames(
        max.into(),
        stream,
        sizes.iter().map(|&s| usize::from(s)).cycle(),
    );
    assert_eq!(whole, chunked);
});
