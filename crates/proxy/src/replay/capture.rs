//! Replaying a pcap/pcapng capture: packets are read one at a time, TCP connections reassembled
//! per direction, each connection handed to its route's protocol judge (chosen by port), and
//! every message's line emitted as soon as it is judged. Memory is bounded by the reassembly
//! limits and one unfinished message per direction, whatever the capture's size.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use wardgate_capture::{
    CaptureReader, Event, GapCause, Limits, Reassembler, Side, StreamId, tcp_segment,
};
use wardgate_rules::{CertIdentity, PumpState, RuleSet, Sender};

use super::dicom::DicomJudge;
use super::emit::{Ctx, Dir, Judge, Out, plain};
use super::hl7::Hl7Judge;
use super::pump::PumpJudge;
use super::{ReplayError, ReplayLine, ReplayProtocol};

/// A route of the capture: traffic to one of its ports is judged with its rules.
pub struct CaptureRoute<'a> {
    /// Name, for the summary.
    pub name: String,
    /// Protocol spoken on its connections.
    pub protocol: ReplayProtocol,
    /// Server ports (the route's listen and upstream ports, or `--port` flags).
    pub ports: Vec<u16>,
    /// The rules.
    pub rules: &'a RuleSet,
    /// The route's limits (message and PDU sizes), as `--config` sets them.
    pub limits: crate::config::Limits,
}

/// How a capture is replayed.
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    /// Judge every connection as coming from this address (default: the client's address in
    /// the capture).
    pub address: Option<IpAddr>,
    /// The client certificate CN to judge with (captures hold plaintext traffic only).
    pub cert_cn: Option<String>,
    /// Reassembly bounds.
    pub limits: Limits,
}

/// What a capture replay went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureSummary {
    /// Packets read.
    pub packets: u64,
    /// Bytes of the capture file read.
    pub capture_bytes: u64,
    /// Packets that carried no TCP segment (other protocols, fragments, unknown link types).
    pub packets_skipped: u64,
    /// TCP connections seen.
    pub streams: u64,
    /// Connections on no route's port (not judged).
    pub streams_unrouted: u64,
    /// Connections evicted at the reassembly's stream limit.
    pub streams_evicted: u64,
    /// Gaps in judged connections.
    pub gaps: u64,
    /// Bytes of judged connections that could not be judged (after a gap).
    pub unjudged_bytes: u64,
}

/// Whether `path` starts like a pcap or pcapng file.
pub fn is_capture(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let ok = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    ok.is_ok()
        && matches!(
            u32::from_le_bytes(magic),
            0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a
        )
}

/// A direction that lost bytes: nothing after the gap is judged.
struct Cut {
    why: String,
    bytes: u64,
}

struct Conn {
    route: usize,
    /// The capture's client is the route's server (ports guessed the wrong way round).
    swapped: bool,
    sender: Sender,
    judge: Box<dyn Judge>,
    next: [usize; 2],
    cut: [Option<Cut>; 2],
}

struct State<'r, 's> {
    file: String,
    routes: &'r [CaptureRoute<'r>],
    pumps: Vec<PumpState>,
    opts: &'r CaptureOptions,
    conns: HashMap<StreamId, Conn>,
    summary: CaptureSummary,
    now_us: u64,
    sink: &'s mut dyn FnMut(ReplayLine),
}

fn gap_text(missing: Option<u64>, cause: GapCause) -> String {
    let n = missing.map_or_else(|| "an unknown number of".to_owned(), |n| n.to_string());
    match cause {
        GapCause::MidStream => "the capture begins inside this connection".to_owned(),
        GapCause::Lost => format!("{n} bytes were not captured"),
        GapCause::Snapped => format!("{n} bytes were cut off by the capture's snap length"),
        GapCause::BufferFull => {
            format!("{n} bytes were not captured before the reassembly buffer limit")
        }
    }
}

impl State<'_, '_> {
    fn time(&self) -> String {
        crate::clock::rfc3339(UNIX_EPOCH + Duration::from_micros(self.now_us))
    }

    fn route_of(&self, port: u16) -> Option<usize> {
        self.routes.iter().position(|r| r.ports.contains(&port))
    }

    fn on_event(&mut self, e: Event<'_>) {
        match e {
            Event::Opened {
                stream,
                client,
                server,
                ..
            } => {
                self.summary.streams += 1;
                let (route, swapped) =
                    match (self.route_of(server.port()), self.route_of(client.port())) {
                        (Some(r), _) => (r, false),
                        (None, Some(r)) => (r, true),
                        (None, None) => {
                            self.summary.streams_unrouted += 1;
                            return;
                        }
                    };
                let client_ip = if swapped { server.ip() } else { client.ip() };
                let sender = Sender {
                    address: self.opts.address.unwrap_or(client_ip),
                    certificate: self.opts.cert_cn.clone().map(|cn| CertIdentity {
                        common_name: Some(cn),
                        alt_names: Vec::new(),
                    }),
                };
                let Some(r) = self.routes.get(route) else {
                    return;
                };
                let judge: Box<dyn Judge> = match r.protocol {
                    ReplayProtocol::Pump => Box::new(PumpJudge::new(
                        crate::pump_conn::inbox::payload_limit(r.limits.max_message_bytes),
                    )),
                    ReplayProtocol::Dicom => Box::new(DicomJudge::new(r.limits.max_pdu_bytes)),
                    ReplayProtocol::Hl7 => Box::new(Hl7Judge::new(r.limits.max_message_bytes)),
                };
                self.conns.insert(
                    stream,
                    Conn {
                        route,
                        swapped,
                        sender,
                        judge,
                        next: [0; 2],
                        cut: [None, None],
                    },
                );
            }
            Event::Data {
                stream,
                side,
                bytes,
            } => {
                let time = self.time();
                let Some(conn) = self.conns.get_mut(&stream) else {
                    return;
                };
                let dir = direction(side, conn.swapped);
                if let Some(cut) = &mut conn.cut[dir.index()] {
                    cut.bytes += bytes.len() as u64;
                    return;
                }
                let Some(route) = self.routes.get(conn.route) else {
                    return;
                };
                let Some(pump) = self.pumps.get_mut(conn.route) else {
                    return;
                };
                let mut ctx = Ctx {
                    rules: route.rules,
                    sender: &conn.sender,
                    now_ms: i64::try_from(self.now_us / 1000).unwrap_or(i64::MAX),
                    pump,
                };
                let mut out = Out {
                    file: &self.file,
                    stream: Some(stream.0),
                    with_direction: true,
                    time: Some(time),
                    next: &mut conn.next,
                    sink: &mut *self.sink,
                };
                conn.judge.data(&mut ctx, &mut out, dir, bytes);
            }
            Event::Gap {
                stream,
                side,
                missing,
                cause,
            } => {
                let Some(conn) = self.conns.get_mut(&stream) else {
                    return;
                };
                let dir = direction(side, conn.swapped);
                if conn.cut[dir.index()].is_some() {
                    return;
                }
                self.summary.gaps += 1;
                let buffered = conn.judge.discard(dir) as u64;
                conn.cut[dir.index()] = Some(Cut {
                    why: gap_text(missing, cause),
                    bytes: buffered,
                });
            }
            Event::Closed { stream, cause } => {
                if cause == wardgate_capture::CloseCause::Evicted {
                    self.summary.streams_evicted += 1;
                }
                let time = self.time();
                let Some(mut conn) = self.conns.remove(&stream) else {
                    return;
                };
                let mut out = Out {
                    file: &self.file,
                    stream: Some(stream.0),
                    with_direction: true,
                    time: Some(time),
                    next: &mut conn.next,
                    sink: &mut *self.sink,
                };
                conn.judge.end(&mut out);
                for dir in [Dir::Inbound, Dir::Outbound] {
                    if let Some(cut) = conn.cut[dir.index()].take() {
                        self.summary.unjudged_bytes += cut.bytes;
                        out.line(
                            dir,
                            plain(
                                "unjudgeable",
                                None,
                                None,
                                Some(format!(
                                    "{}; the {} bytes of this direction after that point were not judged",
                                    cut.why, cut.bytes
                                )),
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn direction(side: Side, swapped: bool) -> Dir {
    match (side, swapped) {
        (Side::Client, false) | (Side::Server, true) => Dir::Inbound,
        _ => Dir::Outbound,
    }
}

/// Replay the capture at `path`: each judged message goes to `sink` as soon as it is judged.
pub fn replay_capture(
    path: &Path,
    routes: &[CaptureRoute<'_>],
    opts: &CaptureOptions,
    sink: &mut dyn FnMut(ReplayLine),
) -> Result<CaptureSummary, ReplayError> {
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Read {
        path: path.to_owned(),
        source,
    })?;
    let capture_err = |source| ReplayError::Capture {
        path: path.to_owned(),
        source,
    };
    let mut reader = CaptureReader::new(file).map_err(capture_err)?;
    let mut reasm = Reassembler::new(opts.limits);
    let mut state = State {
        file: path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        routes,
        pumps: routes.iter().map(|_| PumpState::new(100_000)).collect(),
        opts,
        conns: HashMap::new(),
        summary: CaptureSummary::default(),
        now_us: 0,
        sink,
    };
    let result = reader.for_each_packet(|p| {
        state.summary.packets += 1;
        match tcp_segment(p.link, p.data) {
            Ok(seg) => {
                state.now_us = p.ts_micros;
                reasm.push(&seg, &mut |e| state.on_event(e));
            }
            Err(_) => state.summary.packets_skipped += 1,
        }
        true
    });
    // Report what was judged even when the file ends badly, then the error.
    reasm.finish(&mut |e| state.on_event(e));
    state.summary.capture_bytes = reader.consumed() as u64;
    result.map_err(capture_err)?;
    Ok(state.summary)
}
