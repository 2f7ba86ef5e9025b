//! The whole decision path, as the proxy's connection drivers run it, without sockets: bytes
//! arrive in fuzzer-chosen chunks from either peer, go through the protocol's framer, parser and
//! a shipped rule set, and come out as forwarded frames or wardgate's own refusals. What the
//! model leaves out (sockets, TLS, timers, failed writes) is listed in docs/FUZZING.md.
//!
//! # Input format
//!
//! | bytes | meaning |
//! | --- | --- |
//! | 0 | protocol: `% 3` → 0 HL7 PCD-03 over MLLP (`rules/pcd03`), 1 pump WPP (`rules/pump`), 2 DICOM (`rules/dicom`) |
//! | 1 | options: bits 0-1 the sender (one of four identities the shipped rules know), bit 2 `failure_policy = "open"` (not on DICOM), bit 3 `unmatched_ack = "flag"`, bits 4-5 the frame limit (configured default, 4096, 512 or 64 bytes), bit 6 HL7 LF terminators allowed |
//! | 2 | `max_outstanding` = 1 + byte % 64 |
//! | 3.. | chunks: a control byte (bit 0: 0 = client to upstream, 1 = upstream to client; bits 1-7: seconds that pass before it), a big-endian u16 length, then that many bytes (fewer if the input ends) |

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use crate::{CertIdentity, RuleSet, RuleSource, Sender, compile};

/// Which protocol a decision-path input drives (byte 0 of the input, modulo 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProtocol {
    /// HL7 v2 (IHE PCD-03 orders) over MLLP, judged by `rules/pcd03`.
    Hl7 = 0,
    /// The WPP infusion-pump protocol, judged by `rules/pump`.
    Pump = 1,
    /// DICOM Upper Layer and DIMSE, judged by `rules/dicom`.
    Dicom = 2,
}

/// Which peer sent a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The client (HL7 sender, pump controller, DICOM requestor): its bytes are judged.
    Client,
    /// The upstream (HL7 receiver, pump, DICOM acceptor): its replies flow back.
    Upstream,
}

/// A decision-path input, for building seeds and tests (see the module's input format).
#[derive(Debug, Clone)]
pub struct PathInput {
    /// The protocol.
    pub protocol: PathProtocol,
    /// The options byte.
    pub options: u8,
    /// The `max_outstanding` byte.
    pub max_outstanding: u8,
    /// Chunks in arrival order: who sent it, seconds that pass first (0-127), the bytes.
    pub chunks: Vec<(Peer, u8, Vec<u8>)>,
}

impl PathInput {
    /// The input's bytes; a chunk longer than 65535 bytes is split.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.protocol as u8, self.options, self.max_outstanding];
        for (peer, secs, bytes) in &self.chunks {
            let mut advance = *secs;
            for piece in bytes.chunks(usize::from(u16::MAX)) {
                out.push(((advance & 0x7f) << 1) | u8::from(*peer == Peer::Upstream));
                advance = 0;
                let len = u16::try_from(piece.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(piece);
            }
        }
        out
    }
}

/// What one run did, for tests that check seeds reach the verdicts they are meant to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathOutcome {
    /// Client messages (or PDUs) forwarded to the upstream.
    pub forwarded: usize,
    /// Refusals wardgate built for the client (NACK, NAK, A-ASSOCIATE-RJ, DIMSE failure).
    pub refused: usize,
    /// Upstream messages (or PDUs) relayed to the client.
    pub relayed: usize,
    /// The connection ended (framing error, unreadable header, abort, release, reject).
    pub closed: bool,
}

/// Options decoded from bytes 1 and 2.
#[derive(Debug, Clone, Copy)]
pub(super) struct Options {
    pub sender: usize,
    pub fail_open: bool,
    pub flag_unmatched: bool,
    /// 0: the configured default; 1-3: 4096, 512, 64 bytes.
    pub limit: u8,
    pub allow_lf: bool,
    pub max_outstanding: usize,
}

impl Options {
    /// The frame limit: `default` or one of the small ones (never below `floor`, as the
    /// proxy's config check would refuse it).
    pub fn frame_limit(&self, default: usize, floor: usize) -> usize {
        match self.limit {
            1 => 4096,
            2 => 512,
            3 => 64,
            _ => default,
        }
        .max(floor)
    }
}

/// One chunk of the input.
pub(super) struct Chunk<'a> {
    pub from: Peer,
    pub advance_s: u64,
    pub bytes: &'a [u8],
}

/// Read the chunk records after the 3-byte header.
pub(super) fn chunks(mut rest: &[u8]) -> impl Iterator<Item = Chunk<'_>> {
    std::iter::from_fn(move || {
        let (&ctl, tail) = rest.split_first()?;
        let len = match tail {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => return None,
        };
        let body = tail.get(2..).unwrap_or_default();
        let (bytes, after) = body.split_at(len.min(body.len()));
        rest = after;
        Some(Chunk {
            from: if ctl & 1 == 0 {
                Peer::Client
            } else {
                Peer::Upstream
            },
            advance_s: u64::from(ctl >> 1),
            bytes,
        })
    })
}

/// One direction's receive buffer (the proxy's `Inbox`): bytes appended per read, complete
/// frames taken from the front. Keeps the whole stream too, for the reference framing.
#[derive(Default)]
pub(super) struct Inbox {
    buf: Vec<u8>,
    /// Every byte received on this connection, in order.
    pub stream: Vec<u8>,
    /// Every frame taken, in order.
    pub taken: Vec<Vec<u8>>,
}

impl Inbox {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.stream.extend_from_slice(bytes);
    }

    pub fn front(&self) -> &[u8] {
        &self.buf
    }

    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Take the frame of `len` bytes at the front; returns its index among the taken frames.
    pub fn take(&mut self, len: usize) -> usize {
        let frame: Vec<u8> = self.buf.drain(..len.min(self.buf.len())).collect();
        self.taken.push(frame);
        self.taken.len() - 1
    }

    pub fn frame(&self, i: usize) -> &[u8] {
        self.taken.get(i).map(Vec::as_slice).unwrap_or_default()
    }

    /// Framing does not depend on read boundaries: the frames taken chunk by chunk are the
    /// first frames of the whole stream framed in one piece (`reference`).
    pub fn check_framing(&self, reference: &[Vec<u8>], what: &str) {
        assert!(
            self.taken.len() <= reference.len(),
            "{what}: {} frames taken in chunks, {} from the whole stream",
            self.taken.len(),
            reference.len()
        );
        for (i, (a, b)) in self.taken.iter().zip(reference).enumerate() {
            assert_eq!(
                a, b,
                "{what}: frame {i} differs between chunked and whole framing"
            );
        }
    }
}

/// The bytes written to one peer: whole frames relayed from the other peer (by index among
/// that peer's taken frames) and wardgate's own replies.
#[derive(Default)]
pub(super) struct Output {
    pub bytes: Vec<u8>,
    pub relayed: Vec<usize>,
}

impl Output {
    pub fn relay(&mut self, inbox: &Inbox, i: usize) {
        self.bytes.extend_from_slice(inbox.frame(i));
        self.relayed.push(i);
    }

    /// The relayed frames are complete input frames, byte-identical, in input order, each at
    /// most once; and none of them is one wardgate refused.
    pub fn check_relayed(&self, inbox: &Inbox, refused: &[usize], what: &str) {
        assert!(
            self.relayed.windows(2).all(|w| w[0] < w[1]),
            "{what}: frames relayed out of order or twice: {:?}",
            self.relayed
        );
        for i in &self.relayed {
            assert!(
                !refused.contains(i),
                "{what}: frame {i} was refused and relayed"
            );
        }
        let expected: Vec<u8> = self
            .relayed
            .iter()
            .flat_map(|&i| inbox.frame(i).iter().copied())
            .collect();
        assert!(
            self.bytes == expected,
            "{what}: the relayed bytes are not the concatenation of the relayed input frames"
        );
    }
}

/// Four identities per protocol, taken from the shipped rule files' `[[test]]` senders: the
/// trusted client, a known host without its certificate, another system's certificate, and a
/// second trusted identity.
pub(super) fn sender(protocol: PathProtocol, i: usize) -> Sender {
    let (addr, cn): (Ipv4Addr, Option<&str>) = match (protocol, i % 4) {
        (PathProtocol::Hl7, 0 | 3) => ([10, 20, 30, 40].into(), Some("ehr-bcma.egh.example")),
        (PathProtocol::Hl7, 1) => ([10, 20, 30, 40].into(), None),
        (PathProtocol::Hl7, _) => ([10, 20, 30, 41].into(), Some("lab-system.egh.example")),
        (PathProtocol::Pump, 0) => ([10, 50, 0, 2].into(), Some("pump-gw.egh.example")),
        (PathProtocol::Pump, 1) => ([10, 50, 0, 2].into(), None),
        (PathProtocol::Pump, 2) => ([10, 50, 0, 9].into(), Some("intruder.example")),
        (PathProtocol::Pump, _) => ([10, 50, 0, 3].into(), Some("biomed-console.egh.example")),
        (PathProtocol::Dicom, 0) => ([10, 30, 1, 20].into(), None),
        (PathProtocol::Dicom, 1) => ([10, 40, 2, 15].into(), Some("radws1.egh.example")),
        (PathProtocol::Dicom, 2) => ([10, 99, 0, 5].into(), None),
        (PathProtocol::Dicom, _) => ([192, 0, 2, 50].into(), Some("ct01.egh.example")),
    };
    Sender {
        address: IpAddr::V4(addr),
        certificate: cn.map(|cn| CertIdentity {
            common_name: Some(cn.to_owned()),
            alt_names: Vec::new(),
        }),
    }
}

/// The shipped rule sets, compiled once per process.
pub(super) fn rules(protocol: PathProtocol) -> &'static RuleSet {
    static SETS: OnceLock<[RuleSet; 3]> = OnceLock::new();
    let sets = SETS.get_or_init(|| {
        let drugs = ("pcd03/drug-library.toml", DRUG_LIBRARY);
        [
            shipped(&[drugs, ("pcd03/policy.toml", PCD03)]),
            shipped(&[("pump/policy.toml", PUMP), drugs]),
            shipped(&[("dicom/policy.toml", DICOM)]),
        ]
    });
    &sets[protocol as usize]
}

const DRUG_LIBRARY: &str = include_str!("../../../../rules/pcd03/drug-library.toml");
const PCD03: &str = include_str!("../../../../rules/pcd03/policy.toml");
const PUMP: &str = include_str!("../../../../rules/pump/policy.toml");
const DICOM: &str = include_str!("../../../../rules/dicom/policy.toml");

fn shipped(files: &[(&str, &str)]) -> RuleSet {
    let sources: Vec<RuleSource> = files
        .iter()
        .map(|(name, text)| RuleSource {
            name: (*name).into(),
            text: (*text).to_owned(),
            dir: None,
        })
        .collect();
    match compile(&sources) {
        Ok(set) => set,
        // A harness without its rules would test nothing: stop loudly.
        Err(d) => panic!("the shipped rules do not compile: {d}"),
    }
}

/// Run one input through the decision path of its protocol and check every invariant.
pub fn decision_path_outcome(data: &[u8]) -> PathOutcome {
    let [p, o, m, rest @ ..] = data else {
        return PathOutcome::default();
    };
    let protocol = match p % 3 {
        0 => PathProtocol::Hl7,
        1 => PathProtocol::Pump,
        _ => PathProtocol::Dicom,
    };
    let options = Options {
        sender: usize::from(o & 3),
        fail_open: o & 4 != 0 && protocol != PathProtocol::Dicom,
        flag_unmatched: o & 8 != 0,
        limit: (o >> 4) & 3,
        allow_lf: o & 0x40 != 0,
        max_outstanding: 1 + usize::from(m % 64),
    };
    let rules = rules(protocol);
    let sender = sender(protocol, options.sender);
    match protocol {
        PathProtocol::Hl7 => super::decision_hl7::run(rules, &sender, options, rest),
        PathProtocol::Pump => super::decision_pump::run(rules, &sender, options, rest),
        PathProtocol::Dicom => super::decision_dicom::run(rules, &sender, options, rest),
    }
}
