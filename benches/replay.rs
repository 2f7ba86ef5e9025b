//! Capture replay throughput and memory: a synthetic pcap of interleaved HL7 and DICOM
//! connections (64 open at a time, client segments of at most 1,448 bytes, every reply
//! captured, DICOM C-STOREs carrying 1 MiB data sets) is written to a temporary file, then
//! replayed through reassembly, framers, parsers and the shipped rules. Prints messages/s, MB/s
//! of capture and peak RSS (VmHWM). `cargo bench --bench replay`; size with
//! `WARDGATE_REPLAY_BENCH_MB` (default 64; 1024 for the 1 GB run in docs/REPLAY.md).
// A benchmark: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use wardgate_capture::TcpFlags;
use wardgate_capture::build::{Endpoint, PcapWriter, ethernet_ipv4_tcp};
use wardgate_proxy::replay::{CaptureOptions, CaptureRoute, ReplayProtocol, replay_capture};
use wardgate_rules::{compile, load_rule_files};

const MSS: usize = 1448;
const OPEN: usize = 64;
const MESSAGES_PER_CONNECTION: usize = 50;
const STORES_PER_ASSOCIATION: usize = 4;
const DATA_SET: usize = 1 << 20;
/// Data-set bytes per P-DATA-TF: the PDV item (6 bytes of header and the fragment) fills the
/// 16382-byte maximum the recorded acceptor announced; a larger PDU is refused as a protocol error.
const PDV_DATA: usize = 16_382 - 6;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// PDUs of a PDU stream file.
fn pdus(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 6 {
        let len = 6 + u32::from_be_bytes(rest[2..6].try_into().unwrap()) as usize;
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

/// One connection's script: what the client and the server send, turn by turn.
struct Script {
    turns: Vec<(Vec<u8>, Vec<u8>)>,
}

fn hl7_script(order: &[u8], ack: &[u8]) -> Script {
    Script {
        turns: (0..MESSAGES_PER_CONNECTION)
            .map(|_| (order.to_vec(), ack.to_vec()))
            .collect(),
    }
}

fn dicom_script(root: &Path) -> Script {
    let dir = root.join("tests/cases/dicom-pdu-files/messages");
    let rq = pdus(&std::fs::read(dir.join("01-echo-and-store-ct.pdus")).unwrap());
    let ac = pdus(&std::fs::read(dir.join("01-echo-and-store-ct.pdus.acceptor")).unwrap());
    // Requestor: RQ, C-ECHO-RQ, C-STORE-RQ command, its data set, A-RELEASE-RQ.
    // Acceptor: AC, C-ECHO-RSP, C-STORE-RSP, A-RELEASE-RP.
    let store_cmd = rq
        .iter()
        .find(|p| p[0] == 4 && p[10] == 3 && p[11] & 1 == 1)
        .unwrap();
    let mut turns = vec![
        (rq[0].clone(), ac[0].clone()),
        (rq[1].clone(), ac[1].clone()),
    ];
    for _ in 0..STORES_PER_ASSOCIATION {
        let mut stream = store_cmd.clone();
        let mut left = DATA_SET;
        while left > 0 {
            let n = left.min(PDV_DATA);
            left -= n;
            let control = if left == 0 { 2u8 } else { 0 };
            let item = (n + 2) as u32;
            stream.push(4);
            stream.push(0);
            stream.extend_from_slice(&(item + 4).to_be_bytes());
            stream.extend_from_slice(&item.to_be_bytes());
            stream.extend_from_slice(&[3, control]);
            stream.extend(std::iter::repeat_n(0x5a, n));
        }
        turns.push((stream, ac[2].clone()));
    }
    turns.push((rq.last().unwrap().clone(), ac.last().unwrap().clone()));
    Script { turns }
}

struct Live {
    client: Endpoint,
    server: Endpoint,
    seq: [u32; 2],
    turn: usize,
    script: usize,
}

/// Write the synthetic capture; returns how many messages the replay should report.
fn write_capture(path: &Path, target: u64, root: &Path) -> u64 {
    let order = std::fs::read(root.join("fixtures/hl7/pcd03-heparin-icu-safe.hl7")).unwrap();
    let ack = b"MSH|^~\\&|PUMP_GW|EGH_NORTH|EHR_BCMA|EGH_NORTH|20261129081501||ACK^O15^ACK|GW-1|P|2.6\rMSA|AA|PCD03-0001\r";
    let wrap = |m: &[u8]| [&[0x0b][..], m, &[0x1c, 0x0d]].concat();
    let scripts = [hl7_script(&wrap(&order), &wrap(ack)), dicom_script(root)];
    let mut out = Sink {
        pcap: PcapWriter::new(BufWriter::new(std::fs::File::create(path).unwrap())).unwrap(),
        ts: 1_764_403_200_000_000,
        written: 24,
    };
    let (mut opened, mut messages) = (0u32, 0u64);
    let ack_flags = TcpFlags {
        ack: true,
        ..TcpFlags::default()
    };
    let mut live: Vec<Live> = Vec::new();
    let mut next = 0usize;
    while out.written < target || !live.is_empty() {
        while live.len() < OPEN && out.written < target {
            opened += 1;
            let script = usize::from(opened % 16 == 0);
            let client = Endpoint::v4(
                [10, 30, 1, (opened % 250) as u8 + 1],
                10_000 + (opened % 50_000) as u16,
            );
            let server = Endpoint::v4([10, 40, 0, 1], if script == 0 { 2575 } else { 104 });
            let syn = TcpFlags {
                syn: true,
                ..TcpFlags::default()
            };
            out.emit(ethernet_ipv4_tcp(client, server, 1000, syn, b""));
            out.emit(ethernet_ipv4_tcp(
                server,
                client,
                5000,
                TcpFlags { ack: true, ..syn },
                b"",
            ));
            live.push(Live {
                client,
                server,
                seq: [1001, 5001],
                turn: 0,
                script,
            });
        }
        if live.is_empty() {
            break;
        }
        next %= live.len();
        let c = &mut live[next];
        let script = &scripts[c.script];
        let (ask, answer) = &script.turns[c.turn];
        for chunk in ask.chunks(MSS) {
            out.emit(ethernet_ipv4_tcp(
                c.client, c.server, c.seq[0], ack_flags, chunk,
            ));
            c.seq[0] = c.seq[0].wrapping_add(chunk.len() as u32);
        }
        out.emit(ethernet_ipv4_tcp(
            c.server, c.client, c.seq[1], ack_flags, answer,
        ));
        c.seq[1] = c.seq[1].wrapping_add(answer.len() as u32);
        messages += 2;
        c.turn += 1;
        if c.turn == script.turns.len() {
            let fin = TcpFlags {
                fin: true,
                ack: true,
                ..TcpFlags::default()
            };
            out.emit(ethernet_ipv4_tcp(c.client, c.server, c.seq[0], fin, b""));
            out.emit(ethernet_ipv4_tcp(c.server, c.client, c.seq[1], fin, b""));
            live.swap_remove(next);
        } else {
            next += 1;
        }
    }
    out.pcap.into_inner().flush().unwrap();
    messages
}

/// The capture file being written, its clock and its size.
struct Sink {
    pcap: PcapWriter<BufWriter<std::fs::File>>,
    ts: u64,
    written: u64,
}

impl Sink {
    fn emit(&mut self, frame: Vec<u8>) {
        self.ts += 10;
        self.written += 16 + frame.len() as u64;
        self.pcap.packet(self.ts, &frame).unwrap();
    }
}

fn main() {
    let mb: u64 = std::env::var("WARDGATE_REPLAY_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.pcap");
    let started = Instant::now();
    let sent = write_capture(&path, mb << 20, root);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "replay bench: wrote a {:.1} MB capture ({sent} messages) in {:.1?}; VmHWM after writing {} MiB",
        size as f64 / 1e6,
        started.elapsed(),
        vm_hwm_kib() / 1024
    );
    let hl7 = compile(
        &load_rule_files(&[
            root.join("rules/pcd03/policy.toml"),
            root.join("rules/pcd03/drug-library.toml"),
        ])
        .unwrap(),
    )
    .unwrap();
    let dicom =
        compile(&load_rule_files(&[root.join("rules/dicom/policy.toml")]).unwrap()).unwrap();
    let routes = [
        CaptureRoute {
            name: "pcd03".into(),
            protocol: ReplayProtocol::Hl7,
            ports: vec![2575],
            rules: &hl7,
            limits: Default::default(),
        },
        CaptureRoute {
            name: "pacs".into(),
            protocol: ReplayProtocol::Dicom,
            ports: vec![104],
            rules: &dicom,
            limits: Default::default(),
        },
    ];
    let opts = CaptureOptions {
        cert_cn: Some("ehr-bcma.egh.example".into()),
        ..CaptureOptions::default()
    };
    let (mut lines, mut refused) = (0u64, 0u64);
    let started = Instant::now();
    let summary = replay_capture(&path, &routes, &opts, &mut |l| {
        lines += 1;
        refused += u64::from(l.verdict != "allow");
    })
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.gaps, 0, "{summary:?}");
    assert_eq!(
        refused, 0,
        "every synthetic message is one the shipped rules allow"
    );
    println!(
        "replay bench: {:.1} MB, {} packets, {} connections, {lines} messages judged in {secs:.2} s: {:.0} messages/s, {:.1} MB/s of capture; peak RSS (VmHWM) {} MiB",
        size as f64 / 1e6,
        summary.packets,
        summary.streams,
        lines as f64 / secs,
        size as f64 / 1e6 / secs,
        vm_hwm_kib() / 1024
    );
}
