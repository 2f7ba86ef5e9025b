//! Captured TCP traffic back into byte streams: streaming pcap/pcapng reading, link-layer to TCP
//! header decoding, and sans-IO per-connection, per-direction reassembly with named bounds and
//! reported gaps. Knows bytes only: no protocols, no rules, no runtime.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod build;
mod packet;
mod pcap;
mod reassembly;

pub use packet::{LinkType, Skip, TcpFlags, TcpSegment, tcp_segment};
pub use pcap::{CaptureError, CaptureReader, MAX_INTERFACES, Packet, READ_BUFFER_BYTES};
pub use reassembly::{
    CloseCause, DEFAULT_MAX_BUFFERED_PER_DIRECTION, DEFAULT_MAX_BUFFERED_TOTAL,
    DEFAULT_MAX_RECENTLY_CLOSED, DEFAULT_MAX_SEGMENTS_PER_DIRECTION, DEFAULT_MAX_STREAMS, Event,
    GapCause, Limits, Reassembler, Side, StreamId,
};
