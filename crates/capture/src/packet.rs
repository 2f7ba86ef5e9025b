//! Link-layer, IPv4/IPv6 and TCP headers, read just far enough to find a TCP segment: its
//! endpoints, sequence number, flags and payload. Everything else is skipped, never an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A pcap link type (<https://www.tcpdump.org/linktypes.html>). Unknown values stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkType(pub i32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in host byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II (Linux loopback captures use it too).
    pub const ETHERNET: Self = Self(1);
    /// Raw IP (the value some systems use for DLT_RAW).
    pub const RAW_OLD: Self = Self(12);
    /// Raw IP (OpenBSD's DLT_RAW).
    pub const RAW_OPENBSD: Self = Self(14);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// Raw IPv4 or IPv6.
    pub const RAW: Self = Self(101);
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6.
    pub const IPV6: Self = Self(229);
    /// Linux cooked capture v2 (`tcpdump -i any` since libpcap 1.10).
    pub const LINUX_SLL2: Self = Self(276);
}

/// TCP flags this crate acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// Synchronize: opens a direction (its sequence number is the ISN).
    pub syn: bool,
    /// Acknowledgement field is valid (a SYN with ACK is the acceptor's answer).
    pub ack: bool,
    /// No more data from this sender.
    pub fin: bool,
    /// Connection reset.
    pub rst: bool,
}

/// One TCP segment, borrowing its payload from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload bytes the segment carried on the wire (more than `payload` when the capture's
    /// snap length cut the packet short).
    pub wire_len: u32,
}

/// Why a packet yields no TCP segment. Not errors: captures hold all sorts of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not IPv4/IPv6, or not TCP.
    NotTcp,
    /// An IP fragment (not reassembled: TCP stacks avoid fragmentation).
    Fragment,
    /// A link type this reader does not know.
    UnknownLinkType(i32),
    /// The headers are cut short or inconsistent.
    Truncated,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Most stacked VLAN tags skipped before giving up.
const MAX_VLAN_TAGS: usize = 4;
/// Most IPv6 extension headers walked before giving up.
const MAX_IPV6_EXTENSIONS: usize = 8;
const IPPROTO_TCP: u8 = 6;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Find the TCP segment in one captured packet of link type `link`.
pub fn tcp_segment(link: LinkType, data: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let (ethertype, ip) = match link {
        LinkType::ETHERNET => ethernet(data)?,
        LinkType::LINUX_SLL => (be16(data, 14).ok_or(Skip::Truncated)?, tail(data, 16)?),
        LinkType::LINUX_SLL2 => (be16(data, 0).ok_or(Skip::Truncated)?, tail(data, 20)?),
        LinkType::NULL | LinkType::LOOP => {
            let raw: [u8; 4] = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(Skip::Truncated)?;
            // NULL is host byte order of the capturing machine: accept either.
            let family = u32::from_le_bytes(raw).min(u32::from_be_bytes(raw));
            let ethertype = match family {
                2 => ETHERTYPE_IPV4,
                24 | 28 | 30 => ETHERTYPE_IPV6,
                _ => return Err(Skip::NotTcp),
            };
            (ethertype, tail(data, 4)?)
        }
        LinkType::RAW | LinkType::RAW_OLD | LinkType::RAW_OPENBSD => {
            match data.first().map(|b| b >> 4) {
                Some(4) => (ETHERTYPE_IPV4, data),
                Some(6) => (ETHERTYPE_IPV6, data),
                _ => return Err(Skip::NotTcp),
            }
        }
        LinkType::IPV4 => (ETHERTYPE_IPV4, data),
        LinkType::IPV6 => (ETHERTYPE_IPV6, data),
        LinkType(other) => return Err(Skip::UnknownLinkType(other)),
    };
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(ip),
        ETHERTYPE_IPV6 => ipv6(ip),
        _ => Err(Skip::NotTcp),
    }
}

fn tail(data: &[u8], from: usize) -> Result<&[u8], Skip> {
    data.get(from..).ok_or(Skip::Truncated)
}

fn ethernet(data: &[u8]) -> Result<(u16, &[u8]), Skip> {
    let mut at = 12;
    let mut ethertype = be16(data, at).ok_or(Skip::Truncated)?;
    for _ in 0..MAX_VLAN_TAGS {
        if !ETHERTYPE_VLAN.contains(&ethertype) {
            break;
        }
        at += 4;
        ethertype = be16(data, at).ok_or(Skip::Truncated)?;
    }
    Ok((ethertype, tail(data, at + 2)?))
}

fn ipv4(ip: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let ihl = usize::from(ip.first().ok_or(Skip::Truncated)? & 0x0f) * 4;
    let total = usize::from(be16(ip, 2).ok_or(Skip::Truncated)?);
    let frag = be16(ip, 6).ok_or(Skip::Truncated)?;
    if frag & 0x3fff != 0 {
        return Err(Skip::Fragment);
    }
    if *ip.get(9).ok_or(Skip::Truncated)? != IPPROTO_TCP {
        return Err(Skip::NotTcp);
    }
    if ihl < 20 || total < ihl {
        return Err(Skip::Truncated);
    }
    let src = Ipv4Addr::from(be32(ip, 12).ok_or(Skip::Truncated)?);
    let dst = Ipv4Addr::from(be32(ip, 16).ok_or(Skip::Truncated)?);
    // Ethernet pads short frames: the IP total length says where the packet ends.
    let tcp = ip.get(ihl..total.min(ip.len())).ok_or(Skip::Truncated)?;
    tcp_header(src.into(), dst.into(), tcp, total - ihl)
}

fn ipv6(ip: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let payload_len = usize::from(be16(ip, 4).ok_or(Skip::Truncated)?);
    let mut next = *ip.get(6).ok_or(Skip::Truncated)?;
    let src: [u8; 16] = ip
        .get(8..24)
        .and_then(|b| b.try_into().ok())
        .ok_or(Skip::Truncated)?;
    let dst: [u8; 16] = ip
        .get(24..40)
        .and_then(|b| b.try_into().ok())
        .ok_or(Skip::Truncated)?;
    let mut at = 40usize;
    let end = 40 + payload_len;
    for _ in 0..MAX_IPV6_EXTENSIONS {
        match next {
            IPPROTO_TCP => {
                let tcp = ip.get(at..end.min(ip.len())).ok_or(Skip::Truncated)?;
                let wire = end.checked_sub(at).ok_or(Skip::Truncated)?;
                return tcp_header(
                    Ipv6Addr::from(src).into(),
                    Ipv6Addr::from(dst).into(),
                    tcp,
                    wire,
                );
            }
            44 => return Err(Skip::Fragment),
            // Hop-by-hop, routing, destination options: length in 8-octet units after the first 8.
            0 | 43 | 60 => {
                next = *ip.get(at).ok_or(Skip::Truncated)?;
                let len = usize::from(*ip.get(at + 1).ok_or(Skip::Truncated)?);
                at += (len + 1) * 8;
            }
            _ => return Err(Skip::NotTcp),
        }
    }
    Err(Skip::NotTcp)
}

/// `tcp` is what was captured of the TCP header and payload; `wire_len` what the IP header
/// says the segment had.
fn tcp_header(
    src: IpAddr,
    dst: IpAddr,
    tcp: &[u8],
    wire_len: usize,
) -> Result<TcpSegment<'_>, Skip> {
    let sport = be16(tcp, 0).ok_or(Skip::Truncated)?;
    let dport = be16(tcp, 2).ok_or(Skip::Truncated)?;
    let seq = be32(tcp, 4).ok_or(Skip::Truncated)?;
    let ack = be32(tcp, 8).ok_or(Skip::Truncated)?;
    let offset = usize::from(tcp.get(12).ok_or(Skip::Truncated)? >> 4) * 4;
    let bits = *tcp.get(13).ok_or(Skip::Truncated)?;
    if offset < 20 || wire_len < offset {
        return Err(Skip::Truncated);
    }
    let payload = tcp.get(offset..).ok_or(Skip::Truncated)?;
    let wire_len = u32::try_from(wire_len - offset).map_err(|_| Skip::Truncated)?;
    Ok(TcpSegment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        ack,
        flags: TcpFlags {
            fin: bits & 0x01 != 0,
            syn: bits & 0x02 != 0,
            rst: bits & 0x04 != 0,
            ack: bits & 0x10 != 0,
        },
        payload,
        wire_len,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::build::{Endpoint, ethernet_ipv4_tcp};

    #[test]
    fn an_ethernet_frame_yields_its_tcp_segment_without_the_padding() {
        let a = Endpoint::v4([10, 0, 0, 1], 40000);
        let b = Endpoint::v4([10, 0, 0, 2], 2575);
        let mut frame = ethernet_ipv4_tcp(
            a,
            b,
            7,
            TcpFlags {
                ack: true,
                ..TcpFlags::default()
            },
            b"hi",
        );
        frame.extend_from_slice(&[0; 6]);
        let seg = tcp_segment(LinkType::ETHERNET, &frame).unwrap();
        assert_eq!(seg.payload, b"hi");
        assert_eq!(seg.wire_len, 2);
        assert_eq!(seg.seq, 7);
        assert_eq!(seg.dst.port(), 2575);
    }

    #[test]
    fn a_snapped_frame_reports_the_payload_length_it_had_on_the_wire() {
        let a = Endpoint::v4([10, 0, 0, 1], 40000);
        let b = Endpoint::v4([10, 0, 0, 2], 2575);
        let frame = ethernet_ipv4_tcp(a, b, 7, TcpFlags::default(), b"hello world");
        let seg = tcp_segment(LinkType::ETHERNET, &frame[..frame.len() - 6]).unwrap();
        assert_eq!(seg.payload, b"hello");
        assert_eq!(seg.wire_len, 11);
    }

    #[test]
    fn ipv6_behind_a_linux_cooked_v2_header_with_an_extension_header() {
        let mut p = vec![0x86, 0xdd];
        p.extend_from_slice(&[0; 18]);
        let payload = b"MSH";
        // IPv6: next header 0 (hop-by-hop, 8 bytes) then TCP.
        p.extend_from_slice(&[0x60, 0, 0, 0]);
        p.extend_from_slice(&((8 + 20 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 64]);
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&2575u16.to_be_bytes());
        p.extend_from_slice(&9u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        let seg = tcp_segment(LinkType::LINUX_SLL2, &p).unwrap();
        assert_eq!(seg.payload, b"MSH");
        assert_eq!(seg.src, "[::1]:40000".parse().unwrap());
        assert_eq!(seg.seq, 9);
        assert!(seg.flags.ack && !seg.flags.syn);
    }

    #[test]
    fn every_prefix_of_a_frame_is_skipped_or_read_never_a_panic() {
        let a = Endpoint::v4([10, 0, 0, 1], 40000);
        let b = Endpoint::v4([10, 0, 0, 2], 2575);
        let frame = ethernet_ipv4_tcp(a, b, 7, TcpFlags::default(), b"hello");
        for n in 0..frame.len() {
            for link in [
                LinkType::ETHERNET,
                LinkType::LINUX_SLL,
                LinkType::LINUX_SLL2,
                LinkType::RAW,
                LinkType::NULL,
            ] {
                let _ = tcp_segment(link, &frame[..n]);
            }
        }
        assert_eq!(
            tcp_segment(LinkType::ETHERNET, &frame[..30]),
            Err(Skip::Truncated)
        );
    }
}
