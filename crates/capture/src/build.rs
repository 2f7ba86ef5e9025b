//! Writing captures: Ethernet/IPv4/TCP frames and classic pcap files. For tests, benchmarks,
//! and vendors who synthesize captures of situations hard to provoke on a wire.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::packet::TcpFlags;

/// An IPv4 endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Address.
    pub ip: Ipv4Addr,
    /// Port.
    pub port: u16,
}

impl Endpoint {
    /// `a.b.c.d:port`.
    pub fn v4(ip: [u8; 4], port: u16) -> Self {
        Self {
            ip: Ipv4Addr::from(ip),
            port,
        }
    }

    /// As a socket address.
    pub fn addr(self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.ip, self.port))
    }
}

/// One Ethernet II frame carrying IPv4 and TCP (no options; checksums are not computed, as in
/// captures taken with checksum offload).
pub fn ethernet_ipv4_tcp(
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = u16::try_from(40 + payload.len()).unwrap_or(u16::MAX);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.ip.octets());
    f.extend_from_slice(&dst.ip.octets());
    f.extend_from_slice(&src.port.to_be_bytes());
    f.extend_from_slice(&dst.port.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    let mut bits = 0u8;
    for (set, bit) in [
        (flags.fin, 0x01),
        (flags.syn, 0x02),
        (flags.rst, 0x04),
        (flags.ack, 0x10),
    ] {
        if set {
            bits |= bit;
        }
    }
    f.extend_from_slice(&[0x50, bits, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Writes a classic pcap file (microsecond timestamps, Ethernet link type).
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(Self { out })
    }

    /// Write one frame captured at `ts_micros`.
    pub fn packet(&mut self, ts_micros: u64, frame: &[u8]) -> std::io::Result<()> {
        let secs = u32::try_from(ts_micros / 1_000_000).unwrap_or(u32::MAX);
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.out.write_all(&secs.to_le_bytes())?;
        self.out
            .write_all(&((ts_micros % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(frame)
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}
