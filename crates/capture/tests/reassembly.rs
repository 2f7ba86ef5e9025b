//! Reassembly as a reader of a capture sees it: whatever the network did to the segments, each
//! direction comes out as the bytes that were sent, once, with holes reported as gaps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use proptest::prelude::*;
use wardgate_capture::{
    CloseCause, Event, GapCause, Limits, Reassembler, Side, TcpFlags, TcpSegment,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What came out, in order: data chunks joined per side, gaps and closes as markers.
#[derive(Debug, Default)]
struct Out {
    client: Vec<u8>,
    server: Vec<u8>,
    /// (side, missing, cause, client bytes delivered before it).
    gaps: Vec<(Side, Option<u64>, GapCause, usize)>,
    closed: Vec<CloseCause>,
    opened: usize,
}

impl Out {
    fn take(&mut self, e: Event<'_>) {
        match e {
            Event::Opened { .. } => self.opened += 1,
            Event::Data {
                side: Side::Client,
                bytes,
                ..
            } => self.client.extend_from_slice(bytes),
            Event::Data {
                side: Side::Server,
                bytes,
                ..
            } => self.server.extend_from_slice(bytes),
            Event::Gap {
                side,
                missing,
                cause,
                ..
            } => {
                let at = match side {
                    Side::Client => self.client.len(),
                    Side::Server => self.server.len(),
                };
                self.gaps.push((side, missing, cause, at));
            }
            Event::Closed { cause, .. } => self.closed.push(cause),
        }
    }
}

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:2575";

fn seg(from_client: bool, seq: u32, flags: TcpFlags, payload: &[u8]) -> TcpSegment<'_> {
    let (src, dst) = if from_client {
        (addr(C), addr(S))
    } else {
        (addr(S), addr(C))
    };
    TcpSegment {
        src,
        dst,
        seq,
        ack: 0,
        flags,
        payload,
        wire_len: payload.len() as u32,
    }
}

const SYN: TcpFlags = TcpFlags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
};
const SYNACK: TcpFlags = TcpFlags {
    syn: true,
    ack: true,
    fin: false,
    rst: false,
};
const ACK: TcpFlags = TcpFlags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};
const FIN: TcpFlags = TcpFlags {
    syn: false,
    ack: true,
    fin: true,
    rst: false,
};

fn run(r: &mut Reassembler, segs: &[TcpSegment<'_>]) -> Out {
    let mut out = Out::default();
    for s in segs {
        r.push(s, &mut |e| out.take(e));
    }
    r.finish(&mut |e| out.take(e));
    out
}

#[test]
fn a_plain_exchange_comes_out_per_direction_and_closes_on_fin() {
    let mut r = Reassembler::default();
    let out = run(
        &mut r,
        &[
            seg(true, 100, SYN, b""),
            seg(false, 900, SYNACK, b""),
            seg(true, 101, ACK, b"hello "),
            seg(true, 107, ACK, b"world"),
            seg(false, 901, ACK, b"ok"),
            seg(true, 112, FIN, b""),
            seg(false, 903, FIN, b""),
        ],
    );
    assert_eq!(out.client, b"hello world");
    assert_eq!(out.server, b"ok");
    assert!(out.gaps.is_empty());
    assert_eq!(out.closed, vec![CloseCause::Fin]);
    assert_eq!(r.streams(), 0);
}

#[test]
fn a_lost_segment_is_a_gap_between_the_bytes_around_it_never_glued() {
    let mut r = Reassembler::default();
    let out = run(
        &mut r,
        &[
            seg(true, 100, SYN, b""),
            seg(true, 101, ACK, b"AAAA"),
            // 105..109 never captured
            seg(true, 109, ACK, b"CCCC"),
        ],
    );
    assert_eq!(out.client, b"AAAACCCC");
    assert_eq!(out.gaps, vec![(Side::Client, Some(4), GapCause::Lost, 4)]);
    assert_eq!(out.closed, vec![CloseCause::EndOfCapture]);
}

#[test]
fn a_hole_the_receiver_acknowledged_is_reported_at_once_not_at_the_end() {
    let mut r = Reassembler::default();
    let mut out = Out::default();
    let mut ack = seg(false, 901, ACK, b"");
    ack.ack = 113; // the server has everything up to byte 113: the hole 105..109 is lost
    for s in [
        seg(true, 100, SYN, b""),
        seg(false, 900, SYNACK, b""),
        seg(true, 101, ACK, b"AAAA"),
        seg(true, 109, ACK, b"CCCC"),
        ack,
    ] {
        r.push(&s, &mut |e| out.take(e));
    }
    assert_eq!(out.client, b"AAAACCCC");
    assert_eq!(out.gaps, vec![(Side::Client, Some(4), GapCause::Lost, 4)]);
    assert!(out.closed.is_empty(), "reported before the connection ends");
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn a_capture_that_starts_inside_a_connection_says_so_before_its_first_bytes() {
    let mut r = Reassembler::default();
    let out = run(&mut r, &[seg(true, 5000, ACK, b"tail of something")]);
    assert_eq!(out.client, b"tail of something");
    assert_eq!(out.gaps, vec![(Side::Client, None, GapCause::MidStream, 0)]);
}

#[test]
fn a_retransmission_with_different_bytes_never_rewrites_what_was_delivered() {
    let mut r = Reassembler::default();
    let out = run(
        &mut r,
        &[
            seg(true, 100, SYN, b""),
            seg(true, 101, ACK, b"AAAA"),
            seg(true, 101, ACK, b"BBBBBB"),
            seg(true, 109, ACK, b"DD"),
            seg(true, 109, ACK, b"EEEE"),
            seg(true, 107, ACK, b"CC"),
        ],
    );
    // 101..105 from the first copy, 105..107 from the retransmission's extra bytes, and the
    // buffered 109.. keeps its first copy, extended by the second.
    assert_eq!(out.client, b"AAAABBCCDDEE");
    assert!(out.gaps.is_empty());
}

#[test]
fn a_snapped_packet_is_a_gap_of_the_bytes_it_lost() {
    let mut r = Reassembler::default();
    let mut s = seg(true, 101, ACK, b"AAAA");
    s.wire_len = 10;
    let out = run(
        &mut r,
        &[seg(true, 100, SYN, b""), s, seg(true, 111, ACK, b"BB")],
    );
    assert_eq!(out.client, b"AAAABB");
    assert_eq!(
        out.gaps,
        vec![(Side::Client, Some(6), GapCause::Snapped, 4)]
    );
}

#[test]
fn out_of_order_bytes_beyond_the_limit_turn_the_hole_into_a_gap() {
    let limits = Limits {
        max_buffered_per_direction: 8,
        ..Limits::default()
    };
    let mut r = Reassembler::new(limits);
    let out = run(
        &mut r,
        &[
            seg(true, 100, SYN, b""),
            seg(true, 111, ACK, b"BBBBB"),
            seg(true, 116, ACK, b"CCCCC"),
            seg(true, 101, ACK, b"late"),
        ],
    );
    // The third segment did not fit: the hole 101..111 was given up, B and C delivered.
    assert_eq!(
        out.gaps,
        vec![(Side::Client, Some(10), GapCause::BufferFull, 0)]
    );
    assert_eq!(out.client, b"BBBBBCCCCC");
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn the_oldest_connection_is_evicted_for_a_new_one_at_the_stream_limit() {
    let mut r = Reassembler::new(Limits {
        max_streams: 1,
        ..Limits::default()
    });
    let other = TcpSegment {
        src: addr("10.0.0.3:40001"),
        dst: addr(S),
        seq: 1,
        ack: 0,
        flags: SYN,
        payload: b"",
        wire_len: 0,
    };
    let out = run(&mut r, &[seg(true, 100, SYN, b""), other]);
    assert_eq!(out.opened, 2);
    assert_eq!(
        out.closed,
        vec![CloseCause::Evicted, CloseCause::EndOfCapture]
    );
}

#[test]
fn a_reset_closes_and_late_retransmissions_open_no_phantom_stream() {
    let mut r = Reassembler::default();
    let rst = TcpFlags { rst: true, ..ACK };
    let out = run(
        &mut r,
        &[
            seg(true, 100, SYN, b""),
            seg(true, 101, ACK, b"abc"),
            seg(false, 7, rst, b""),
            seg(true, 101, ACK, b"abc"),
        ],
    );
    assert_eq!(out.client, b"abc");
    assert_eq!(out.opened, 1);
    assert_eq!(out.closed, vec![CloseCause::Reset]);
}

#[test]
fn sequence_numbers_wrap_around_without_a_gap() {
    let mut r = Reassembler::default();
    let isn = u32::MAX - 3;
    let out = run(
        &mut r,
        &[
            seg(true, isn, SYN, b""),
            seg(true, isn.wrapping_add(1), ACK, b"before"),
            seg(true, isn.wrapping_add(7), ACK, b"-after"),
        ],
    );
    assert_eq!(out.client, b"before-after");
    assert!(out.gaps.is_empty());
}

/// A stream cut into segments, then reordered within a window, with some segments sent again
/// (as themselves or re-cut to overlap their neighbours).
/// The bytes sent, the ISN, and the segments as (sequence number, payload) in capture order.
type Mangled = (Vec<u8>, u32, Vec<(u32, Vec<u8>)>);

fn mangled() -> impl Strategy<Value = Mangled> {
    (
        proptest::collection::vec(any::<u8>(), 1..3000),
        prop_oneof![any::<u32>(), Just(u32::MAX - 100)],
        proptest::collection::vec(1usize..200, 1..64),
        proptest::collection::vec((0usize..64, 0usize..8), 0..40),
        proptest::collection::vec((0usize..3000, 1usize..300), 0..10),
    )
        .prop_map(|(data, isn, cuts, swaps, resends)| {
            let mut segs = Vec::new();
            let mut at = 0usize;
            let mut i = 0;
            while at < data.len() {
                let n = cuts[i % cuts.len()].min(data.len() - at);
                segs.push((at, data[at..at + n].to_vec()));
                at += n;
                i += 1;
            }
            for (start, len) in resends {
                let start = start % data.len();
                let end = (start + len).min(data.len());
                let pos = (start / 7) % (segs.len() + 1);
                segs.insert(pos, (start, data[start..end].to_vec()));
            }
            for (a, d) in swaps {
                let a = a % segs.len();
                let b = (a + d).min(segs.len() - 1);
                segs.swap(a, b);
            }
            let segs = segs
                .into_iter()
                .map(|(off, bytes)| (isn.wrapping_add(1).wrapping_add(off as u32), bytes))
                .collect();
            (data, isn, segs)
        })
}

proptest! {
    #[test]
    fn any_segmentation_reordering_and_duplication_reassembles_to_the_same_bytes(
        (data, isn, segs) in mangled(),
        (reply, risn, rsegs) in mangled(),
    ) {
        let mut r = Reassembler::default();
        let mut out = Out::default();
        r.push(&seg(true, isn, SYN, b""), &mut |e| out.take(e));
        r.push(&seg(false, risn, SYNACK, b""), &mut |e| out.take(e));
        let n = segs.len().max(rsegs.len());
        for i in 0..n {
            // Each side acknowledges only the other's SYN: nothing acknowledged past a hole.
            if let Some((seq, bytes)) = segs.get(i) {
                let mut s = seg(true, *seq, ACK, bytes);
                s.ack = risn.wrapping_add(1);
                r.push(&s, &mut |e| out.take(e));
            }
            if let Some((seq, bytes)) = rsegs.get(i) {
                let mut s = seg(false, *seq, ACK, bytes);
                s.ack = isn.wrapping_add(1);
                r.push(&s, &mut |e| out.take(e));
            }
        }
        r.finish(&mut |e| out.take(e));
        prop_assert_eq!(&out.client, &data);
        prop_assert_eq!(&out.server, &reply);
        prop_assert!(out.gaps.is_empty(), "{:?}", out.gaps);
        prop_assert_eq!(r.buffered_bytes(), 0);
    }
}
