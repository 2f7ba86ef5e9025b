//! Builds the seed corpus of the `decision_path` fuzz target (`fuzz/corpus/decision_path/`) from
//! `fixtures/` and the committed DICOM seeds, so the fuzzer starts from orders, commands and
//! associations the shipped rules allow and refuse, split as TCP might split them, with the
//! upstream's answers. Prints what each seed does.
//!
//!     cargo run -p wardgate-rules --example decision_path_seeds
//!
//! With arguments it turns your own traffic into one input instead: the protocol, the options
//! byte (docs/FUZZING.md), the output file, then the byte files of each direction in the order
//! they were sent, each cut into 1460-byte segments as TCP would:
//!
//!     cargo run -p wardgate-rules --example decision_path_seeds -- \
//!         hl7 0 my-seeds/order-and-ack.bin client=order.mllp upstream=ack.mllp
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use wardgate_dicom::{
    CommandSet, MessageControl, Pdv, build_p_data_tf, encode_release_rp, encode_release_rq,
};
use wardgate_pump::sim::PumpSim;
use wardgate_pump::{DeviceId, Header};
use wardgate_rules::fuzzing::{PathInput, PathProtocol, Peer, decision_path_outcome};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn mllp(payload: &[u8]) -> Vec<u8> {
    wardgate_hl7::wrap(payload)
}

/// MSH-10 of an HL7 message (fields split on `|`).
fn msh10(msg: &[u8]) -> Vec<u8> {
    let first = msg.split(|&b| b == b'\r' || b == b'\n').next().unwrap();
    first
        .split(|&b| b == b'|')
        .nth(9)
        .unwrap_or_default()
        .to_vec()
}

/// The fixture ACK, acknowledging `control_id`.
fn ack_for(control_id: &[u8]) -> Vec<u8> {
    let ack = read("fixtures/hl7/ack-aa.hl7");
    let text = String::from_utf8(ack).unwrap();
    let id = String::from_utf8_lossy(control_id);
    text.replace("MSA|AA|PCD03-0001", &format!("MSA|AA|{id}"))
        .into_bytes()
}

fn split(bytes: &[u8], at: usize) -> (Vec<u8>, Vec<u8>) {
    let at = at.min(bytes.len());
    (bytes[..at].to_vec(), bytes[at..].to_vec())
}

fn hl7_seeds(out: &mut Vec<(String, PathInput)>) {
    let mut names: Vec<_> = std::fs::read_dir(root().join("fixtures/hl7"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".hl7") && n != "ack-aa.hl7")
        .collect();
    names.sort();
    for name in &names {
        let msg = read(&format!("fixtures/hl7/{name}"));
        let framed = mllp(&msg);
        // Split mid-message, as TCP may; the upstream acknowledges what reached it.
        let (a, b) = split(&framed, framed.len() / 3);
        let input = PathInput {
            protocol: PathProtocol::Hl7,
            options: 0,
            max_outstanding: 7,
            chunks: vec![
                (Peer::Client, 0, a),
                (Peer::Client, 1, b),
                (Peer::Upstream, 0, mllp(&ack_for(&msh10(&msg)))),
            ],
        };
        out.push((format!("hl7-{}", name.trim_end_matches(".hl7")), input));
    }
    let safe = read("fixtures/hl7/pcd03-heparin-icu-safe.hl7");
    let overdose = read("fixtures/hl7/pcd03-heparin-icu-10x.hl7");
    let mut both = mllp(&safe);
    both.extend(mllp(&overdose));
    out.push((
        "hl7-safe-then-10x-pipelined".into(),
        PathInput {
            protocol: PathProtocol::Hl7,
            options: 0,
            max_outstanding: 7,
            chunks: vec![
                (Peer::Client, 0, both),
                (Peer::Upstream, 1, mllp(&ack_for(&msh10(&safe)))),
            ],
        },
    ));
    out.push((
        "hl7-safe-order-without-certificate".into(),
        PathInput {
            protocol: PathProtocol::Hl7,
            options: 1,
            max_outstanding: 7,
            chunks: vec![(Peer::Client, 0, mllp(&safe))],
        },
    ));
    out.push((
        "hl7-order-over-512-byte-limit".into(),
        PathInput {
            protocol: PathProtocol::Hl7,
            options: 0x20,
            max_outstanding: 7,
            chunks: vec![(Peer::Client, 0, mllp(&safe))],
        },
    ));
    out.push((
        "hl7-unmatched-ack-and-commit-ack".into(),
        PathInput {
            protocol: PathProtocol::Hl7,
            options: 0,
            max_outstanding: 0,
            chunks: vec![
                (Peer::Client, 0, mllp(&safe)),
                (Peer::Upstream, 0, mllp(&ack_for(b"NOT-SENT"))),
                (Peer::Upstream, 0, mllp(&[0x06])),
                (Peer::Client, 0, mllp(&safe)),
            ],
        },
    ));
}

fn pump_seeds(out: &mut Vec<(String, PathInput)>) {
    let mut names: Vec<_> = std::fs::read_dir(root().join("fixtures/pump"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wpp"))
        .collect();
    names.sort();
    for name in &names {
        let frame = read(&format!("fixtures/pump/{name}"));
        let device = Header::parse(&frame)
            .map(|h| h.device)
            .unwrap_or(DeviceId::new("PUMP-0001").unwrap());
        // A simulated pump answers what reaches it.
        let mut pump = PumpSim::new(device, "WG-SIM", 2);
        let mut chunks = Vec::new();
        // Commands that change a running infusion follow the safe program, as on a ward.
        if !name.starts_with("program") && !name.starts_with("status") {
            let program = read("fixtures/pump/program-heparin-safe.wpp");
            let reply = pump.handle_bytes(&program);
            chunks.push((Peer::Client, 0, program));
            chunks.push((Peer::Upstream, 0, reply));
        }
        let reply = pump.handle_bytes(&frame);
        let (a, b) = split(&frame, 20);
        chunks.push((Peer::Client, 30, a));
        chunks.push((Peer::Client, 0, b));
        if !reply.is_empty() {
            chunks.push((Peer::Upstream, 0, reply));
        }
        let input = PathInput {
            protocol: PathProtocol::Pump,
            options: 0,
            max_outstanding: 7,
            chunks,
        };
        out.push((format!("pump-{}", name.trim_end_matches(".wpp")), input));
    }
    let safe = read("fixtures/pump/program-heparin-safe.wpp");
    let jump = read("fixtures/pump/change-rate-jump.wpp");
    let mut corrupt = safe.clone();
    if let Some(last) = corrupt.last_mut() {
        *last ^= 0xff;
    }
    for (name, options, chunks) in [
        ("pump-program-then-rate-jump", 0, vec![safe.clone(), jump]),
        (
            "pump-program-from-unknown-certificate",
            2,
            vec![safe.clone()],
        ),
        ("pump-program-bad-crc", 0, vec![corrupt]),
    ] {
        out.push((
            name.into(),
            PathInput {
                protocol: PathProtocol::Pump,
                options,
                max_outstanding: 7,
                chunks: chunks.into_iter().map(|c| (Peer::Client, 5, c)).collect(),
            },
        ));
    }
}

/// Put 16-byte AE titles into an A-ASSOCIATE-RQ/AC (called at PDU offset 10, calling at 26).
fn with_titles(pdu: &[u8], called: &str, calling: &str) -> Vec<u8> {
    let mut p = pdu.to_vec();
    p[10..26].copy_from_slice(format!("{called:<16}").as_bytes());
    p[26..42].copy_from_slice(format!("{calling:<16}").as_bytes());
    p
}

fn p_data(items: &[(u8, bool, bool, &[u8])]) -> Vec<u8> {
    let pdvs: Vec<Pdv<'_>> = items
        .iter()
        .map(|&(context_id, command, last, fragment)| Pdv {
            context_id,
            control: MessageControl::new(command, last),
            fragment,
        })
        .collect();
    build_p_data_tf(&pdvs).unwrap()
}

/// A seed's chunks: who sends, seconds that pass first, the bytes.
type Chunks = Vec<(Peer, u8, Vec<u8>)>;

fn dicom_seeds(out: &mut Vec<(String, PathInput)>) {
    let rq = read("fuzz/corpus/dicom_pdu/a-associate-rq-ct-modality.pdu");
    let ac = read("fuzz/corpus/dicom_pdu/a-associate-ac-pacs.pdu");
    let store = read("fuzz/corpus/dicom_pdu/p-data-c-store-rq-command-and-data-set.pdu");
    let echo = read("fuzz/corpus/dicom_pdu/p-data-c-echo-rq.pdu");
    let store_cmd = read("fuzz/corpus/dicom_command_set/c-store-rq-ct.cmd");
    let store_rsp = read("fuzz/corpus/dicom_command_set/c-store-rsp-success.cmd");
    let move_cmd = read("fuzz/corpus/dicom_command_set/c-move-rq-destination.cmd");
    assert!(CommandSet::parse(&store_cmd).is_ok());
    let ct_rq = with_titles(&rq, "PACS", "CT01");
    let ct_ac = with_titles(&ac, "PACS", "CT01");
    let (cmd_a, cmd_b) = split(&store_cmd, store_cmd.len() / 2);
    let c = |b: Vec<u8>| (Peer::Client, 0, b);
    let u = |b: Vec<u8>| (Peer::Upstream, 0, b);
    let seeds: Vec<(&str, u8, Chunks)> = vec![
        (
            "dicom-ct01-store-echo-release",
            0,
            vec![
                c(ct_rq.clone()),
                u(ct_ac.clone()),
                c(store[..40].to_vec()),
                c(store[40..].to_vec()),
                u(p_data(&[(3, true, true, &store_rsp)])),
                c(echo.clone()),
                c(encode_release_rq().to_vec()),
                u(encode_release_rp().to_vec()),
            ],
        ),
        (
            "dicom-ct01-store-command-split-over-pdus",
            0,
            vec![
                c(ct_rq.clone()),
                u(ct_ac.clone()),
                c(p_data(&[(3, true, false, &cmd_a)])),
                c(p_data(&[
                    (3, true, true, &cmd_b),
                    (3, false, true, b"\x08\x00\x16\x00\x00\x00\x00\x00"),
                ])),
            ],
        ),
        (
            "dicom-ct01-store-on-verification-context-refused",
            0,
            vec![
                c(ct_rq.clone()),
                u(ct_ac.clone()),
                c(p_data(&[
                    (1, true, true, &store_cmd),
                    (1, false, true, b"\x08\x00\x16\x00\x00\x00\x00\x00"),
                ])),
                c(echo.clone()),
            ],
        ),
        (
            // One PDU: a refused C-STORE with its data set, then a C-ECHO: the PDU is rebuilt
            // with the C-ECHO's PDV only.
            "dicom-ct01-refused-store-and-echo-share-a-pdu",
            0,
            vec![
                c(ct_rq.clone()),
                u(ct_ac.clone()),
                c(p_data(&[
                    (1, true, true, &store_cmd),
                    (1, false, true, b"\x08\x00\x16\x00\x00\x00\x00\x00"),
                    (1, true, true, &echo[12..]),
                ])),
            ],
        ),
        (
            "dicom-ct01-move-aborts",
            0,
            vec![
                c(ct_rq.clone()),
                u(ct_ac.clone()),
                c(p_data(&[(3, true, true, &move_cmd)])),
            ],
        ),
        ("dicom-unknown-host-rejected", 2, vec![c(ct_rq.clone())]),
        ("dicom-unknown-called-ae-rejected", 0, vec![c(rq.clone())]),
        (
            "dicom-radws1-ct-storage-proposed",
            1,
            vec![c(with_titles(&rq, "PACS", "RADWS1"))],
        ),
    ];
    for (name, options, chunks) in seeds {
        out.push((
            name.into(),
            PathInput {
                protocol: PathProtocol::Dicom,
                options,
                max_outstanding: 7,
                chunks,
            },
        ));
    }
}

/// One input from files given on the command line (see the module documentation).
fn from_args(args: &[String]) {
    let [protocol, options, out, files @ ..] = args else {
        panic!(
            "usage: decision_path_seeds hl7|pump|dicom OPTIONS OUT client=FILE|upstream=FILE..."
        );
    };
    let protocol = match protocol.as_str() {
        "hl7" => PathProtocol::Hl7,
        "pump" => PathProtocol::Pump,
        "dicom" => PathProtocol::Dicom,
        other => panic!("unknown protocol {other:?}: hl7, pump or dicom"),
    };
    let mut chunks = Vec::new();
    for f in files {
        let (peer, path) = match f.split_once('=') {
            Some(("client", p)) => (Peer::Client, p),
            Some(("upstream", p)) => (Peer::Upstream, p),
            _ => panic!("{f:?}: say client=FILE or upstream=FILE"),
        };
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for segment in bytes.chunks(1460) {
            chunks.push((peer, 0, segment.to_vec()));
        }
    }
    let input = PathInput {
        protocol,
        options: options.parse().expect("OPTIONS is a number 0-255"),
        max_outstanding: 63,
        chunks,
    };
    let bytes = input.encode();
    println!("{out}: {:?}", decision_path_outcome(&bytes));
    std::fs::write(out, bytes).unwrap_or_else(|e| panic!("{out}: {e}"));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        return from_args(&args);
    }
    let mut seeds = Vec::new();
    hl7_seeds(&mut seeds);
    pump_seeds(&mut seeds);
    dicom_seeds(&mut seeds);
    let dir = root().join("fuzz/corpus/decision_path");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, input) in &seeds {
        let bytes = input.encode();
        let outcome = decision_path_outcome(&bytes);
        println!("{name:55} {outcome:?}");
        std::fs::write(dir.join(format!("{name}.bin")), &bytes).unwrap();
    }
}
