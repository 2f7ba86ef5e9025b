//! Streaming pcap and pcapng reading (through `pcap-parser`): one packet at a time from a
//! bounded buffer, so a capture of any size is read in constant memory.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

use crate::packet::LinkType;

/// Bytes of the read buffer; also the largest block (packet) a capture may hold.
pub const READ_BUFFER_BYTES: usize = 1024 * 1024;
/// Most pcapng interfaces remembered per section.
pub const MAX_INTERFACES: usize = 256;
/// Most consecutive reads that yield no complete block before the file is declared broken.
const MAX_STALLED_READS: usize = 64;

/// Why a capture cannot be read further. The file is at fault (or the disk).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// Neither a pcap nor a pcapng file.
    #[error("not a pcap or pcapng file")]
    NotACapture,
    /// The file ends inside a block.
    #[error("the capture ends inside a block (truncated file)")]
    Truncated,
    /// A block is larger than the read buffer.
    #[error("a capture block is larger than {READ_BUFFER_BYTES} bytes")]
    BlockTooLarge,
    /// A block does not parse.
    #[error("capture block at file offset {offset} does not parse")]
    BadBlock {
        /// Bytes of the file consumed before it.
        offset: usize,
    },
    /// A pcapng packet names an interface no description block declared.
    #[error("packet on undeclared interface {0}")]
    UnknownInterface(u32),
    /// More interfaces than [`MAX_INTERFACES`].
    #[error("more than {MAX_INTERFACES} interfaces in one section")]
    TooManyInterfaces,
    /// Reading failed.
    #[error("reading the capture failed")]
    Read,
}

/// One captured packet, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Capture time in microseconds since the Unix epoch.
    pub ts_micros: u64,
    /// How to read `data`.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    offset_secs: i64,
}

/// Reads packets from a pcap or pcapng stream.
pub struct CaptureReader {
    inner: Box<dyn PcapReaderIterator + Send>,
    legacy: Option<(LinkType, bool)>,
    interfaces: Vec<Interface>,
}

impl CaptureReader {
    /// Start reading `reader` (pcap or pcapng, either byte order).
    pub fn new<R: Read + Send + 'static>(reader: R) -> Result<Self, CaptureError> {
        let inner = create_reader(READ_BUFFER_BYTES, reader).map_err(|e| match e {
            PcapError::ReadError => CaptureError::Read,
            PcapError::Eof | PcapError::UnexpectedEof | PcapError::Incomplete(_) => {
                CaptureError::Truncated
            }
            _ => CaptureError::NotACapture,
        })?;
        Ok(Self {
            inner,
            legacy: None,
            interfaces: Vec::new(),
        })
    }

    /// Bytes of the file consumed so far.
    pub fn consumed(&self) -> usize {
        self.inner.consumed()
    }

    /// Call `f` with every packet, in file order, until the file ends or `f` says stop
    /// (`false`). The packet is only valid inside the call.
    pub fn for_each_packet<F: FnMut(Packet<'_>) -> bool>(
        &mut self,
        mut f: F,
    ) -> Result<(), CaptureError> {
        let mut stalled = 0usize;
        loop {
            let offset_before = self.inner.consumed();
            let (len, keep_going) = match self.inner.next() {
                Ok((len, block)) => {
                    stalled = 0;
                    let packet = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            // Magic a1b23c4d: nanosecond timestamps.
                            let nanos =
                                h.magic_number == 0xa1b2_3c4d || h.magic_number == 0x4d3c_b2a1;
                            self.legacy = Some((LinkType(h.network.0), nanos));
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let (link, nanos) = self.legacy.unwrap_or((LinkType::ETHERNET, false));
                            let frac = if nanos {
                                u64::from(b.ts_usec) / 1000
                            } else {
                                u64::from(b.ts_usec)
                            };
                            Some(Packet {
                                ts_micros: u64::from(b.ts_sec) * 1_000_000 + frac,
                                link,
                                data: b.data,
                            })
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            self.interfaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            if self.interfaces.len() >= MAX_INTERFACES {
                                return Err(CaptureError::TooManyInterfaces);
                            }
                            self.interfaces.push(Interface {
                                link: LinkType(idb.linktype.0),
                                resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                                offset_secs: idb.ts_offset(),
                            });
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let iface = *self
                                .interfaces
                                .get(epb.if_id as usize)
                                .ok_or(CaptureError::UnknownInterface(epb.if_id))?;
                            let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let micros =
                                u128::from(units) * 1_000_000 / u128::from(iface.resolution);
                            let offset = iface.offset_secs.saturating_mul(1_000_000);
                            let ts = (micros as i128 + i128::from(offset)).max(0) as u64;
                            Some(Packet {
                                ts_micros: ts,
                                link: iface.link,
                                data: epb.data,
                            })
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let iface = *self
                                .interfaces
                                .first()
                                .ok_or(CaptureError::UnknownInterface(0))?;
                            Some(Packet {
                                ts_micros: 0,
                                link: iface.link,
                                data: spb.data,
                            })
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    (len, packet.is_none_or(&mut f))
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => {
                    stalled += 1;
                    if stalled > MAX_STALLED_READS {
                        return Err(CaptureError::Truncated);
                    }
                    self.inner.refill().map_err(|_| CaptureError::Read)?;
                    continue;
                }
                Err(PcapError::UnexpectedEof) => return Err(CaptureError::Truncated),
                Err(PcapError::BufferTooSmall) => return Err(CaptureError::BlockTooLarge),
                Err(PcapError::ReadError) => return Err(CaptureError::Read),
                Err(_) => {
                    return Err(CaptureError::BadBlock {
                        offset: offset_before,
                    });
                }
            };
            self.inner.consume(len);
            if !keep_going {
                return Ok(());
            }
        }
    }
}
