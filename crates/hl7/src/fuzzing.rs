//! Fuzz entry points: each function takes arbitrary bytes, never panics on its own, and panics
//! only when an invariant of this crate is broken. The cargo-fuzz targets in `fuzz/` call them
//! in one line, and `tests/fuzz_corpus.rs` replays the committed seeds and regressions through
//! them on stable Rust (ARCHITECTURE.md convention 9).

use crate::{
    AckCode, ErrorCode, FrameKind, Header, Message, MllpError, MllpFramer, ParseLimits, Path,
    Refusal, ReplyContext, Severity, Value, build_nack, read_infusion_orders,
};

type Event = Result<(FrameKind, Vec<u8>), MllpError>;

/// Feed `stream` in chunks of the given sizes, removing each frame from the buffer as the proxy
/// does; stop at the first error.
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

/// MLLP framing does not depend on how the stream is cut into reads: feeding it in
/// fuzzer-chosen chunks gives the same frames (and the same error, if any) as feeding it whole.
///
/// Input layout: byte 0 = payload limit (0..=255, small so `TooLarge` is reachable), bytes 1..5 =
/// chunk sizes (cycled; 0 counts as 1), the rest = the byte stream.
pub fn mllp_framer(data: &[u8]) {
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
    assert_eq!(whole, chunked, "chunked framing differs from whole framing");
}

fn touch(v: Value<'_>) {
    std::hint::black_box((v.decoded(), v.to_text(), v.as_number()));
}

/// `Header::parse`, `Message::parse` (with LF terminators allowed when byte 0 is odd) and
/// walking every segment, field, repetition, component and subcomponent (decoded, as text and
/// as a number) never panic; every field found from the separators recorded while parsing
/// (`Message::field_at`) is the field a rescan of its segment finds (`Segment::field`).
pub fn message(data: &[u8]) {
    let _ = std::hint::black_box(Header::parse(data));
    let lf = data.first().is_some_and(|b| b & 1 == 1);
    let limits = ParseLimits {
        allow_lf_terminators: lf,
        ..ParseLimits::default()
    };
    let Ok(msg) = Message::parse(data, &limits) else {
        return;
    };
    let h = msg.header();
    (1..=25).filter_map(|n| h.field(n)).for_each(touch);
    std::hint::black_box((
        h.control_id(),
        h.message_code(),
        h.trigger_event(),
        h.ack_mode(),
    ));
    for seg in msg.segments() {
        for n in 0..=seg.field_count() + 1 {
            assert_eq!(
                msg.field_at(seg.index(), n),
                seg.field(n),
                "field {n} of segment {}",
                seg.index()
            );
        }
        for f in (1..=seg.field_count() + 1).filter_map(|n| seg.field(n)) {
            touch(f.value());
            for r in (1..=f.repetition_count() + 1).filter_map(|n| f.repetition(n)) {
                touch(r.value());
                for c in (1..=r.component_count() + 1).filter_map(|n| r.component(n)) {
                    touch(c.value());
                    (1..=c.subcomponent_count() + 1)
                        .filter_map(|n| c.subcomponent(n))
                        .for_each(touch);
                }
            }
        }
    }
}

/// `Path::parse` never panics on UTF-8 text, and a parsed path survives `Display`:
/// `Path::parse(p.to_string()) == p`.
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = Path::parse(text) {
        let shown = path.to_string();
        assert_eq!(
            Path::parse(&shown),
            Ok(path),
            "{text:?} displayed as {shown:?}"
        );
    }
}

/// The IHE PCD-03 order view (`read_infusion_orders`) never panics on any message the parser
/// accepts.
pub fn pcd03(data: &[u8]) {
    if let Ok(msg) = Message::parse(data, &ParseLimits::default()) {
        let _ = std::hint::black_box(read_infusion_orders(&msg));
    }
}

/// For any message whose MSH can be read, the NACK wardgate would send parses with wardgate's
/// own parser and default limits, and its MSA-2 is the refused message's MSH-10 up to the first
/// repetition, component or subcomponent separator, byte for byte. The bytes after the MSH
/// segment become the refusal's user message (lossily as text), so escaping is exercised too.
pub fn nack_roundtrip(data: &[u8]) {
    let Ok(refused) = Header::parse(data) else {
        return;
    };
    let rest = data.get(refused.raw().len()..).unwrap_or_default();
    let text = String::from_utf8_lossy(rest);
    let refusal = Refusal {
        code: AckCode::AR,
        error: ErrorCode::APPLICATION_INTERNAL_ERROR,
        severity: Severity::Error,
        application_code: Some(9024),
        user_message: &text,
    };
    let ctx = ReplyContext {
        timestamp: "20261129120000",
        control_id: "WG-1",
    };
    let nack = build_nack(&refused, &refusal, &ctx);
    let msg = match Message::parse(&nack, &ParseLimits::default()) {
        Ok(msg) => msg,
        Err(e) => panic!(
            "NACK does not parse: {e}\n{:?}",
            String::from_utf8_lossy(&nack)
        ),
    };
    let msa2 = msg
        .segment(b"MSA", 1)
        .and_then(|s| s.field(2))
        .map(|f| f.raw())
        .unwrap_or_default();
    // MSA-2 echoes MSH-10 as the ST it is: up to the first repetition, component or
    // subcomponent separator.
    let d = refused.delimiters();
    let msh10 = refused
        .segment()
        .field(10)
        .map(|f| f.raw())
        .unwrap_or_default();
    let expected = msh10
        .split(|&b| {
            (b == d.repetition && d.repetition != d.field)
                || b == d.component
                || Some(b) == d.subcomponent
        })
        .next()
        .unwrap_or_default();
    assert_eq!(msa2, expected, "MSA-2 is not the refused MSH-10");
}
