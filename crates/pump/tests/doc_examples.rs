//! The hex examples in docs/pump-protocol.md §10 decode, and equal what the encoder produces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wardgate_pump::{Frame, FrameDecoder};

const DOC: &str = include_str!("../../../docs/pump-protocol.md");

/// `(name, bytes)` for every `<!-- wpp-example: NAME -->` followed by a ```` ```hex ```` block.
fn doc_hex_blocks() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- wpp-example:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let open = lines.next().unwrap_or_default();
        assert_eq!(
            open.trim(),
            "```hex",
            "example {name} must be followed by a hex block"
        );
        let mut bytes = Vec::new();
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            for tok in l.split_whitespace() {
                bytes.push(u8::from_str_radix(tok, 16).unwrap());
            }
        }
        out.push((name.trim().to_owned(), bytes));
    }
    out
}

#[test]
fn doc_hex_examples_decode_to_the_documented_frames() {
    let blocks = doc_hex_blocks();
    let examples = common::doc_examples();
    assert_eq!(
        blocks.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        examples.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    for ((name, bytes), (_, frame)) in blocks.iter().zip(&examples) {
        let info = FrameDecoder::default().next_frame(bytes).unwrap().unwrap();
        assert_eq!(info.consumed, bytes.len(), "{name}");
        assert_eq!(&Frame::parse(bytes).unwrap(), frame, "{name}");
        // On a mismatch the message carries the block to paste into the spec.
        let encoded = frame.encode().unwrap();
        assert_eq!(
            bytes,
            &encoded,
            "{name}: the spec should read\n<!-- wpp-example: {name} -->\n```hex\n{}\n```",
            common::hex_dump(&encoded)
        );
    }
}
