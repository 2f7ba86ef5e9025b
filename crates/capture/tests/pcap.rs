//! Reading capture files as tcpdump and Wireshark write them: classic pcap (micro- and
//! nanosecond), pcapng with its per-interface link types and time resolutions, and files that
//! end badly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use wardgate_capture::build::{Endpoint, PcapWriter, ethernet_ipv4_tcp};
use wardgate_capture::{CaptureError, CaptureReader, LinkType, TcpFlags, tcp_segment};

fn frame(payload: &[u8]) -> Vec<u8> {
    ethernet_ipv4_tcp(
        Endpoint::v4([10, 0, 0, 1], 40000),
        Endpoint::v4([10, 0, 0, 2], 2575),
        1,
        TcpFlags::default(),
        payload,
    )
}

/// A packet as read: time in microseconds, link type, bytes.
type Read = (u64, LinkType, Vec<u8>);

fn read_all(bytes: Vec<u8>) -> (Vec<Read>, Result<(), CaptureError>) {
    let mut out = Vec::new();
    let result = CaptureReader::new(Cursor::new(bytes)).and_then(|mut r| {
        r.for_each_packet(|p| {
            out.push((p.ts_micros, p.link, p.data.to_vec()));
            true
        })
    });
    (out, result)
}

fn pcap(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (ts, f) in frames {
        w.packet(*ts, f).unwrap();
    }
    w.into_inner()
}

#[test]
fn classic_pcap_packets_come_back_with_their_times_in_order() {
    let bytes = pcap(&[
        (1_000_000_123_456, frame(b"one")),
        (1_000_000_123_999, frame(b"two")),
    ]);
    let (packets, result) = read_all(bytes);
    result.unwrap();
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].0, 1_000_000_123_456);
    assert_eq!(packets[1].1, LinkType::ETHERNET);
    let seg = tcp_segment(packets[1].1, &packets[1].2).unwrap();
    assert_eq!(seg.payload, b"two");
}

#[test]
fn nanosecond_pcap_times_are_read_as_nanoseconds() {
    let mut bytes = pcap(&[(5_000_000, frame(b"x"))]);
    bytes[..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    // ts_usec field now holds nanoseconds: 0 s + 0 ns stays; set 1,500 ns.
    bytes[28..32].copy_from_slice(&1500u32.to_le_bytes());
    let (packets, result) = read_all(bytes);
    result.unwrap();
    assert_eq!(packets[0].0, 5_000_001);
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let n = (body.len() + 12) as u32;
    [
        &kind.to_le_bytes()[..],
        &n.to_le_bytes(),
        &body,
        &n.to_le_bytes(),
    ]
    .concat()
}

#[test]
fn pcapng_uses_each_interfaces_link_type_and_time_resolution() {
    let mut file = block(
        0x0a0d_0d0a,
        &[
            &0x1a2b_3c4du32.to_le_bytes()[..],
            &[1, 0, 0, 0],
            &(-1i64).to_le_bytes(),
        ]
        .concat(),
    );
    // Interface 0: Ethernet, default microseconds. Interface 1: raw IP, if_tsresol = 9 (ns).
    file.extend(block(
        1,
        &[&1u16.to_le_bytes()[..], &[0, 0], &65535u32.to_le_bytes()].concat(),
    ));
    let tsresol = [
        &9u16.to_le_bytes()[..],
        &1u16.to_le_bytes(),
        &[9, 0, 0, 0],
        &[0; 4],
    ]
    .concat();
    file.extend(block(
        1,
        &[
            &101u16.to_le_bytes()[..],
            &[0, 0],
            &65535u32.to_le_bytes(),
            &tsresol,
        ]
        .concat(),
    ));
    let epb = |iface: u32, ts: u64, data: &[u8]| {
        block(
            6,
            &[
                &iface.to_le_bytes()[..],
                &((ts >> 32) as u32).to_le_bytes(),
                &(ts as u32).to_le_bytes(),
                &(data.len() as u32).to_le_bytes(),
                &(data.len() as u32).to_le_bytes(),
                data,
            ]
            .concat(),
        )
    };
    let eth = frame(b"eth");
    file.extend(epb(0, 7_000_000, &eth));
    file.extend(epb(1, 9_000_000_000, &eth[14..]));
    let (packets, result) = read_all(file);
    result.unwrap();
    assert_eq!(packets.len(), 2);
    assert_eq!(
        (packets[0].0, packets[0].1),
        (7_000_000, LinkType::ETHERNET)
    );
    assert_eq!((packets[1].0, packets[1].1), (9_000_000, LinkType::RAW));
    assert_eq!(
        tcp_segment(packets[1].1, &packets[1].2).unwrap().payload,
        b"eth"
    );
}

#[test]
fn a_file_cut_inside_a_packet_delivers_the_whole_packets_then_says_truncated() {
    let mut bytes = pcap(&[(1, frame(b"whole")), (2, frame(b"cut short"))]);
    bytes.truncate(bytes.len() - 4);
    let (packets, result) = read_all(bytes);
    assert_eq!(packets.len(), 1);
    assert_eq!(result, Err(CaptureError::Truncated));
}

#[test]
fn a_file_that_is_no_capture_is_refused_as_such() {
    let (packets, result) = read_all(b"MSH|^~\\&|this is an HL7 message, not a capture".to_vec());
    assert!(packets.is_empty());
    assert_eq!(result, Err(CaptureError::NotACapture));
}
