//! Sans-IO TCP reassembly: segments in, per-connection per-direction byte streams out, in the
//! order the capture saw them. Retransmitted and overlapping bytes are delivered once (bytes
//! already delivered are never rewritten; among buffered copies, the one earliest in sequence
//! order is used), out-of-order segments wait in a bounded buffer, and whatever cannot be
//! delivered is reported as a gap, never glued over.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use crate::packet::TcpSegment;

/// Bounds on what the reassembler keeps. Exceeding one is reported, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections tracked at once; the least recently active one is evicted for a new one.
    pub max_streams: usize,
    /// Out-of-order bytes buffered per direction before the hole in front of them is declared
    /// a gap.
    pub max_buffered_per_direction: usize,
    /// Out-of-order segments buffered per direction (tiny segments cost more than their bytes).
    pub max_segments_per_direction: usize,
    /// Out-of-order bytes buffered across all connections.
    pub max_buffered_total: usize,
    /// Closed connections remembered, so that their late retransmissions and final ACKs do not
    /// open phantom streams.
    pub max_recently_closed: usize,
}

/// Default: 10,000 connections.
pub const DEFAULT_MAX_STREAMS: usize = 10_000;
/// Default: 1 MiB of out-of-order bytes per direction (more than a 1 Gb/s link's bandwidth-delay
/// product on a LAN).
pub const DEFAULT_MAX_BUFFERED_PER_DIRECTION: usize = 1024 * 1024;
/// Default: 2,048 out-of-order segments per direction.
pub const DEFAULT_MAX_SEGMENTS_PER_DIRECTION: usize = 2048;
/// Default: 64 MiB of out-of-order bytes in all.
pub const DEFAULT_MAX_BUFFERED_TOTAL: usize = 64 * 1024 * 1024;
/// Default: 4,096 closed connections remembered.
pub const DEFAULT_MAX_RECENTLY_CLOSED: usize = 4096;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_streams: DEFAULT_MAX_STREAMS,
            max_buffered_per_direction: DEFAULT_MAX_BUFFERED_PER_DIRECTION,
            max_segments_per_direction: DEFAULT_MAX_SEGMENTS_PER_DIRECTION,
            max_buffered_total: DEFAULT_MAX_BUFFERED_TOTAL,
            max_recently_closed: DEFAULT_MAX_RECENTLY_CLOSED,
        }
    }
}

/// A connection's number, 1-based in the order the capture first shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// Which endpoint sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The endpoint that opened the connection (sent the SYN).
    Client,
    /// The endpoint that accepted it.
    Server,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

/// Why bytes of a direction are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapCause {
    /// The capture begins inside the connection: what came before is unknown.
    MidStream,
    /// Segments were never captured (later bytes arrived, the hole was never filled).
    Lost,
    /// The capture's snap length cut a packet short.
    Snapped,
    /// The hole stayed open while out-of-order bytes reached [`Limits`].
    BufferFull,
}

/// Why a connection's reassembly ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// Both directions sent FIN and all their bytes were delivered.
    Fin,
    /// A RST.
    Reset,
    /// Evicted for a newer connection at [`Limits::max_streams`].
    Evicted,
    /// A new SYN reused the 4-tuple.
    Reused,
    /// The capture ended first.
    EndOfCapture,
}

/// What reassembly produced, in capture order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A connection is tracked from now on.
    Opened {
        /// Its number.
        stream: StreamId,
        /// The connecting endpoint (a guess from the ports when the handshake was not seen).
        client: SocketAddr,
        /// The accepting endpoint.
        server: SocketAddr,
        /// Whether the handshake was captured (else client and server are guessed).
        handshake: bool,
    },
    /// The next bytes of one direction.
    Data {
        /// The connection.
        stream: StreamId,
        /// Who sent them.
        side: Side,
        /// The bytes, each delivered exactly once.
        bytes: &'a [u8],
    },
    /// Bytes of one direction that will never be delivered; what follows is not contiguous
    /// with what came before.
    Gap {
        /// The connection.
        stream: StreamId,
        /// Whose bytes are missing.
        side: Side,
        /// How many, when known.
        missing: Option<u64>,
        /// Why.
        cause: GapCause,
    },
    /// The connection is no longer tracked; nothing more comes for it.
    Closed {
        /// The connection.
        stream: StreamId,
        /// Why.
        cause: CloseCause,
    },
}

/// One direction of a connection.
#[derive(Debug, Default)]
struct Direction {
    /// `next` is known (a SYN was seen, or the first segment was taken as the start).
    started: bool,
    /// Sequence number of the next byte to deliver.
    next: u32,
    /// Stream offset of `next` (delivered plus skipped bytes): sequence numbers wrap, this does not.
    offset: u64,
    /// Out-of-order segments by stream offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Stream offset just past the FIN.
    fin_at: Option<u64>,
}

impl Direction {
    fn finished(&self) -> bool {
        self.fin_at.is_some_and(|f| self.offset >= f)
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        self.next = self.next.wrapping_add(n as u32);
    }
}

type ConnKey = (SocketAddr, SocketAddr);

fn key(a: SocketAddr, b: SocketAddr) -> ConnKey {
    if a <= b { (a, b) } else { (b, a) }
}

#[derive(Debug)]
struct Conn {
    id: StreamId,
    client: SocketAddr,
    client_isn: Option<u32>,
    dirs: [Direction; 2],
    last_seen: u64,
}

/// Reassembles every TCP connection of a capture. Feed segments in capture order with
/// [`Reassembler::push`], then call [`Reassembler::finish`].
#[derive(Debug)]
pub struct Reassembler {
    limits: Limits,
    conns: HashMap<ConnKey, Conn>,
    recently_closed: VecDeque<ConnKey>,
    next_id: u64,
    packets: u64,
    buffered_total: usize,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Reassembler {
    /// A reassembler bounded by `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            conns: HashMap::new(),
            recently_closed: VecDeque::new(),
            next_id: 1,
            packets: 0,
            buffered_total: 0,
        }
    }

    /// Connections tracked now.
    pub fn streams(&self) -> usize {
        self.conns.len()
    }

    /// Out-of-order bytes buffered now, across all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_total
    }

    /// Take one segment; `emit` receives what it makes deliverable.
    pub fn push<F: FnMut(Event<'_>)>(&mut self, seg: &TcpSegment<'_>, emit: &mut F) {
        self.packets += 1;
        let k = key(seg.src, seg.dst);
        if seg.flags.syn {
            self.on_syn(k, seg, emit);
            return;
        }
        if !self.conns.contains_key(&k) {
            let has_data = !seg.payload.is_empty() || seg.wire_len > 0;
            if !has_data || seg.flags.rst || self.recently_closed.contains(&k) {
                return;
            }
            // No handshake seen: the endpoint with the higher port is most likely the client.
            let (client, server) = if seg.src.port() >= seg.dst.port() {
                (seg.src, seg.dst)
            } else {
                (seg.dst, seg.src)
            };
            self.open(k, client, server, false, emit);
        }
        let limits = self.limits;
        let packets = self.packets;
        let Some(conn) = self.conns.get_mut(&k) else {
            return;
        };
        conn.last_seen = packets;
        let id = conn.id;
        let side = if seg.src == conn.client {
            Side::Client
        } else {
            Side::Server
        };
        if seg.flags.rst {
            self.close(k, CloseCause::Reset, emit);
            return;
        }
        let dir = &mut conn.dirs[side.index()];
        if !dir.started {
            dir.started = true;
            dir.next = seg.seq;
            emit(Event::Gap {
                stream: id,
                side,
                missing: None,
                cause: GapCause::MidStream,
            });
        }
        let total = &mut self.buffered_total;
        take_data(dir, id, side, seg, limits, total, emit);
        if seg.flags.ack {
            let other = match side {
                Side::Client => Side::Server,
                Side::Server => Side::Client,
            };
            acked_past_hole(
                &mut conn.dirs[other.index()],
                id,
                other,
                seg.ack,
                total,
                emit,
            );
        }
        if conn.dirs.iter().all(Direction::finished) {
            self.close(k, CloseCause::Fin, emit);
        }
    }

    /// The capture ended: report what is still buffered (after a gap) and close every stream,
    /// oldest first.
    pub fn finish<F: FnMut(Event<'_>)>(&mut self, emit: &mut F) {
        let mut keys: Vec<(StreamId, ConnKey)> =
            self.conns.iter().map(|(k, c)| (c.id, *k)).collect();
        keys.sort();
        for (_, k) in keys {
            self.close(k, CloseCause::EndOfCapture, emit);
        }
    }

    fn on_syn<F: FnMut(Event<'_>)>(&mut self, k: ConnKey, seg: &TcpSegment<'_>, emit: &mut F) {
        if !seg.flags.ack {
            if let Some(c) = self.conns.get(&k) {
                if c.client == seg.src && c.client_isn == Some(seg.seq) {
                    return; // a retransmitted SYN
                }
                self.close(k, CloseCause::Reused, emit);
            }
            self.recently_closed.retain(|r| *r != k);
            self.open(k, seg.src, seg.dst, true, emit);
            if let Some(c) = self.conns.get_mut(&k) {
                c.client_isn = Some(seg.seq);
                let d = &mut c.dirs[Side::Client.index()];
                d.started = true;
                d.next = seg.seq.wrapping_add(1);
            }
            return;
        }
        if !self.conns.contains_key(&k) {
            if self.recently_closed.contains(&k) {
                return;
            }
            // The SYN was not captured, the SYN-ACK was: its sender is the server.
            self.open(k, seg.dst, seg.src, true, emit);
        }
        if let Some(c) = self.conns.get_mut(&k) {
            if c.client != seg.src {
                let d = &mut c.dirs[Side::Server.index()];
                if !d.started {
                    d.started = true;
                    d.next = seg.seq.wrapping_add(1);
                }
            }
        }
    }

    fn open<F: FnMut(Event<'_>)>(
        &mut self,
        k: ConnKey,
        client: SocketAddr,
        server: SocketAddr,
        handshake: bool,
        emit: &mut F,
    ) {
        if self.conns.len() >= self.limits.max_streams.max(1) {
            let oldest = self
                .conns
                .iter()
                .min_by_key(|(_, c)| c.last_seen)
                .map(|(k, _)| *k);
            if let Some(old) = oldest {
                self.close(old, CloseCause::Evicted, emit);
            }
        }
        let id = StreamId(self.next_id);
        self.next_id += 1;
        self.conns.insert(
            k,
            Conn {
                id,
                client,
                client_isn: None,
                dirs: [Direction::default(), Direction::default()],
                last_seen: self.packets,
            },
        );
        emit(Event::Opened {
            stream: id,
            client,
            server,
            handshake,
        });
    }

    fn close<F: FnMut(Event<'_>)>(&mut self, k: ConnKey, cause: CloseCause, emit: &mut F) {
        let Some(mut conn) = self.conns.remove(&k) else {
            return;
        };
        for side in [Side::Client, Side::Server] {
            let dir = &mut conn.dirs[side.index()];
            self.buffered_total -= dir.pending_bytes;
            skip_to_pending(dir, conn.id, side, GapCause::Lost, usize::MAX, emit);
        }
        emit(Event::Closed {
            stream: conn.id,
            cause,
        });
        if self.recently_closed.len() >= self.limits.max_recently_closed {
            self.recently_closed.pop_front();
        }
        if self.limits.max_recently_closed > 0 {
            self.recently_closed.push_back(k);
        }
    }
}

/// Deliver what `seg` adds to `dir`, buffering it if it is ahead of the next expected byte.
fn take_data<F: FnMut(Event<'_>)>(
    dir: &mut Direction,
    id: StreamId,
    side: Side,
    seg: &TcpSegment<'_>,
    limits: Limits,
    total: &mut usize,
    emit: &mut F,
) {
    // Relative position of the segment: sequence numbers compare modulo 2^32 (RFC 9293 §3.4).
    let rel = i64::from(seg.seq.wrapping_sub(dir.next) as i32);
    let wire = i64::from(seg.wire_len);
    let captured = seg.payload.len() as i64;
    if seg.flags.fin {
        let end = dir.offset as i64 + rel + wire;
        if end >= 0 && dir.fin_at.is_none() {
            dir.fin_at = Some(end as u64);
        }
    }
    // Drop what was delivered already (retransmissions, overlaps).
    let skip = (-rel).max(0);
    if skip >= wire || captured == 0 && wire == 0 {
        return;
    }
    let start = (dir.offset as i64 + rel.max(0)) as u64;
    let data = seg
        .payload
        .get(skip.min(captured) as usize..)
        .unwrap_or_default();
    let wire_end = (dir.offset as i64 + rel + wire) as u64;
    if start == dir.offset {
        if !data.is_empty() {
            emit(Event::Data {
                stream: id,
                side,
                bytes: data,
            });
            dir.advance(data.len() as u64);
        }
        if dir.offset < wire_end && seg.payload.len() < seg.wire_len as usize {
            emit(Event::Gap {
                stream: id,
                side,
                missing: Some(wire_end - dir.offset),
                cause: GapCause::Snapped,
            });
            dir.advance(wire_end - dir.offset);
        }
        *total -= drain(dir, id, side, emit);
        return;
    }
    if data.is_empty() {
        return;
    }
    // Ahead of the hole: buffer, making room by giving up on the hole if a limit says so.
    while !dir.pending.is_empty()
        && (dir.pending_bytes + data.len() > limits.max_buffered_per_direction
            || dir.pending.len() >= limits.max_segments_per_direction
            || *total + data.len() > limits.max_buffered_total)
    {
        let before = dir.pending_bytes;
        skip_to_pending(dir, id, side, GapCause::BufferFull, 1, emit);
        *total -= before - dir.pending_bytes;
    }
    let fits = data.len() <= limits.max_buffered_per_direction
        && *total + data.len() <= limits.max_buffered_total
        && limits.max_segments_per_direction > 0;
    if !fits || start <= dir.offset {
        // Nothing left to wait for in front of it (or it cannot be buffered at all).
        if start > dir.offset {
            emit(Event::Gap {
                stream: id,
                side,
                missing: Some(start - dir.offset),
                cause: GapCause::BufferFull,
            });
            dir.advance(start - dir.offset);
        }
        let from = (dir.offset - start.min(dir.offset)) as usize;
        if let Some(rest) = data.get(from..).filter(|r| !r.is_empty()) {
            emit(Event::Data {
                stream: id,
                side,
                bytes: rest,
            });
            dir.advance(rest.len() as u64);
        }
        *total -= drain(dir, id, side, emit);
        return;
    }
    let slot = dir.pending.entry(start).or_default();
    // A second copy starting at the same place only adds what the first did not have.
    if let Some(more) = data.get(slot.len()..).filter(|m| !m.is_empty()) {
        dir.pending_bytes += more.len();
        *total += more.len();
        slot.extend_from_slice(more);
    }
}

/// The receiver acknowledged bytes beyond a hole in front of buffered segments: it has them,
/// the capture does not, and they will not be sent again. Report the hole now rather than at
/// the end of the connection.
fn acked_past_hole<F: FnMut(Event<'_>)>(
    dir: &mut Direction,
    id: StreamId,
    side: Side,
    ack: u32,
    total: &mut usize,
    emit: &mut F,
) {
    let Some(&first) = dir.pending.keys().next() else {
        return;
    };
    let rel = i64::from(ack.wrapping_sub(dir.next) as i32);
    if !dir.started || rel <= 0 || dir.offset + (rel as u64) < first {
        return;
    }
    let before = dir.pending_bytes;
    skip_to_pending(dir, id, side, GapCause::Lost, 1, emit);
    *total -= before - dir.pending_bytes;
}

/// Deliver buffered segments that now start at or before the next expected byte. Returns the
/// bytes freed from the buffer.
fn drain<F: FnMut(Event<'_>)>(
    dir: &mut Direction,
    id: StreamId,
    side: Side,
    emit: &mut F,
) -> usize {
    let mut freed = 0;
    while let Some(entry) = dir.pending.first_entry() {
        if *entry.key() > dir.offset {
            break;
        }
        let at = *entry.key();
        let bytes = entry.remove();
        freed += bytes.len();
        dir.pending_bytes -= bytes.len();
        let skip = (dir.offset - at) as usize;
        if let Some(rest) = bytes.get(skip..).filter(|r| !r.is_empty()) {
            emit(Event::Data {
                stream: id,
                side,
                bytes: rest,
            });
            dir.advance(rest.len() as u64);
        }
    }
    freed
}

/// Give up on the hole in front of the buffered segments (at most `holes` times): report it as
/// a gap and deliver what follows it.
fn skip_to_pending<F: FnMut(Event<'_>)>(
    dir: &mut Direction,
    id: StreamId,
    side: Side,
    cause: GapCause,
    holes: usize,
    emit: &mut F,
) {
    for _ in 0..holes {
        let Some(first) = dir.pending.keys().next().copied() else {
            return;
        };
        if first > dir.offset {
            emit(Event::Gap {
                stream: id,
                side,
                missing: Some(first - dir.offset),
                cause,
            });
            dir.advance(first - dir.offset);
        }
        drain(dir, id, side, emit);
    }
}
