//! MLLP framer tests: truncation, incremental feeding, limits and linear cost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wardgate_hl7::{FrameInfo, FrameKind, MllpError, MllpFramer, wrap};

const PAYLOAD: &[u8] = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rPID|||123\r";

#[test]
fn every_strict_prefix_needs_more_bytes() {
    let frame = wrap(PAYLOAD);
    for len in 0..frame.len() {
        let mut f = MllpFramer::new(1024);
        assert_eq!(f.next_frame(&frame[..len]), Ok(None), "prefix {len}");
    }
    let mut f = MllpFramer::new(1024);
    assert_eq!(
        f.next_frame(&frame),
        Ok(Some(FrameInfo {
            kind: FrameKind::Message,
            payload: 1..1 + PAYLOAD.len(),
            consumed: frame.len(),
        }))
    );
}

#[test]
fn split_at_every_byte_boundary_fed_incrementally() {
    let frame = wrap(PAYLOAD);
    let mut whole = MllpFramer::new(1024);
    let expected = whole.next_frame(&frame).unwrap().unwrap();
    for split in 0..=frame.len() {
        let mut f = MllpFramer::new(1024);
        let mut buf = Vec::new();
        buf.extend_from_slice(&frame[..split]);
        let first = f.next_frame(&buf).unwrap();
        if split < frame.len() {
            assert_eq!(first, None);
            buf.extend_from_slice(&frame[split..]);
            assert_eq!(f.next_frame(&buf).unwrap().as_ref(), Some(&expected));
        } else {
            assert_eq!(first.as_ref(), Some(&expected));
        }
    }
    // One byte at a time, same framer.
    let mut f = MllpFramer::new(1024);
    let mut buf = Vec::new();
    let mut got = None;
    for &b in &frame {
        buf.push(b);
        if let Some(info) = f.next_frame(&buf).unwrap() {
            got = Some(info);
        }
    }
    assert_eq!(got, Some(expected));
}

#[test]
fn two_frames_back_to_back() {
    let mut buf = wrap(b"first");
    buf.extend_from_slice(&wrap(b"second"));
    let mut f = MllpFramer::default();
    let a = f.next_frame(&buf).unwrap().unwrap();
    assert_eq!(&buf[a.payload.clone()], b"first");
    buf.drain(..a.consumed);
    let b = f.next_frame(&buf).unwrap().unwrap();
    assert_eq!(&buf[b.payload.clone()], b"second");
    buf.drain(..b.consumed);
    assert!(buf.is_empty());
    assert_eq!(f.next_frame(&buf), Ok(None));
}

#[test]
fn commit_acknowledgements() {
    let mut f = MllpFramer::default();
    let ack = f.next_frame(&[0x0B, 0x06, 0x1C, 0x0D]).unwrap().unwrap();
    assert_eq!(ack.kind, FrameKind::CommitAck);
    assert_eq!(ack.consumed, 4);
    let nak = f.next_frame(&[0x0B, 0x15, 0x1C, 0x0D]).unwrap().unwrap();
    assert_eq!(nak.kind, FrameKind::CommitNak);
    // A longer payload that starts with 0x06 is a message.
    let msg = f
        .next_frame(&[0x0B, 0x06, 0x06, 0x1C, 0x0D])
        .unwrap()
        .unwrap();
    assert_eq!(msg.kind, FrameKind::Message);
}

#[test]
fn bytes_outside_the_envelope() {
    let mut f = MllpFramer::default();
    assert_eq!(
        f.next_frame(b"MSH|"),
        Err(MllpError::OutsideEnvelope {
            offset: 0,
            byte: b'M'
        })
    );
    let mut buf = wrap(b"x");
    buf.push(b'\n');
    let info = f.next_frame(&buf).unwrap().unwrap();
    assert_eq!(
        f.next_frame(&buf[info.consumed..]),
        Err(MllpError::OutsideEnvelope {
            offset: 0,
            byte: b'\n'
        })
    );
}

#[test]
fn too_large_as_soon_as_limit_plus_one_payload_bytes() {
    let limit = 100;
    let mut f = MllpFramer::new(limit);
    let mut buf = vec![0x0B];
    for i in 0..limit {
        buf.push(b'a');
        assert_eq!(f.next_frame(&buf), Ok(None), "at {i}");
    }
    buf.push(b'a');
    assert_eq!(f.next_frame(&buf), Err(MllpError::TooLarge { limit }));
    // A single large read is refused without scanning past the window.
    let mut f = MllpFramer::new(limit);
    let big = [&[0x0Bu8][..], &[b'z'; 10_000][..]].concat();
    assert_eq!(f.next_frame(&big), Err(MllpError::TooLarge { limit }));
    assert!(f.scanned() <= limit + 2);
    // Exactly at the limit is fine.
    let mut f = MllpFramer::new(limit);
    let ok = wrap(&[b'a'; 100]);
    assert!(f.next_frame(&ok).unwrap().is_some());
}

#[test]
fn bad_end_block() {
    let mut f = MllpFramer::default();
    assert_eq!(
        f.next_frame(b"\x0Babc\x1Cx"),
        Err(MllpError::BadEndBlock {
            offset: 5,
            byte: b'x'
        })
    );
    // The CR arriving later is accepted.
    let mut f = MllpFramer::default();
    assert_eq!(f.next_frame(b"\x0Babc\x1C"), Ok(None));
    assert!(f.next_frame(b"\x0Babc\x1C\r").unwrap().is_some());
}

#[test]
fn dripped_frame_costs_linear_cpu() {
    let n = 200 * 1024;
    let payload = vec![b'x'; n];
    let frame = wrap(&payload);
    let mut f = MllpFramer::new(DEFAULT);
    let mut buf = Vec::with_capacity(frame.len());
    let mut got = None;
    for &b in &frame {
        buf.push(b);
        if let Some(info) = f.next_frame(&buf).unwrap() {
            got = Some(info);
        }
    }
    let info = got.unwrap();
    assert_eq!(info.payload, 1..1 + n);
    assert!(f.scanned() < 3 * frame.len(), "scanned {}", f.scanned());
}

const DEFAULT: usize = wardgate_hl7::DEFAULT_MAX_FRAME;
