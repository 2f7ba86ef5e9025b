//! DICOM inspection cost per command: PDU framing + P-DATA/PDV parsing + command-set reassembly and
//! parsing + rule evaluation, for a C-STORE-RQ of a CT image under the shipped `rules/dicom`
//! policy. `cargo bench --bench dicom` (`WARDGATE_BENCH_QUICK=1` for a short run).
// A benchmark: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use wardgate_dicom::{
    AcceptedContext, Assembled, AssociateHeader, AssociateRq, CommandAssembler, CommandField,
    CommandSet, MessageControl, Pdu, PduFramer, Pdv, Priority, ProposedContext, UserInfo,
    build_p_data_tf, decode_pdu, encode_command_set,
};
use wardgate_rules::{CommandDecision, Sender, compile, load_rule_files};

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

fn main() {
    let quick = std::env::var_os("WARDGATE_BENCH_QUICK").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules =
        compile(&load_rule_files(&[root.join("rules/dicom/policy.toml")]).unwrap()).unwrap();
    let sender = Sender::from_address([10, 30, 1, 20].into());
    let rq = AssociateRq {
        header: AssociateHeader {
            protocol_version: 1,
            called_ae_title: "PACS".into(),
            calling_ae_title: "CT01".into(),
            application_context: "1.2.840.10008.3.1.1.1".into(),
            user_info: UserInfo {
                max_length: Some(16_384),
                ..UserInfo::default()
            },
        },
        presentation_contexts: vec![ProposedContext {
            id: 1,
            abstract_syntax: CT.into(),
            transfer_syntaxes: vec![EXPLICIT_LE.into()],
        }],
    };
    assert!(
        rules.evaluate_dicom_associate(&rq, &sender).accepts(),
        "CT01 may associate"
    );
    let context = AcceptedContext {
        id: 1,
        abstract_syntax: CT.into(),
        transfer_syntax: EXPLICIT_LE.into(),
    };
    let command = CommandSet {
        command_field: CommandField::C_STORE_RQ,
        message_id: Some(7),
        message_id_being_responded_to: None,
        affected_sop_class_uid: Some(CT),
        requested_sop_class_uid: None,
        affected_sop_instance_uid: Some("1.2.826.0.1.3680043.8.498.12345678901234567890"),
        requested_sop_instance_uid: None,
        move_destination: None,
        priority: Some(Priority::MEDIUM),
        data_set_type: Some(0x0000),
        status: None,
        other_elements: 0,
    };
    let encoded = encode_command_set(&command).unwrap();
    let pdu = build_p_data_tf(&[Pdv {
        context_id: 1,
        control: MessageControl::new(true, true),
        fragment: &encoded,
    }])
    .unwrap();
    let framer = PduFramer::default();
    let budget = if quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let (mut n, mut allowed) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..1000 {
            let info = framer.next_pdu(black_box(&pdu)).unwrap().unwrap();
            let Ok(Pdu::PDataTf(pdvs)) = decode_pdu(&pdu[..info.consumed]) else {
                panic!("not a P-DATA-TF")
            };
            let mut assembler = CommandAssembler::default();
            for pdv in &pdvs {
                if let Ok(Assembled::Command { bytes, .. }) = assembler.push(pdv) {
                    let cmd = CommandSet::parse(&bytes).unwrap();
                    if let CommandDecision::Allow(_) =
                        rules.evaluate_dicom_command(&rq, &context, &cmd, &sender)
                    {
                        allowed += 1;
                    }
                }
            }
            n += 1;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(
        allowed, n,
        "every benchmarked C-STORE must be judged allowed"
    );
    println!("wardgate DICOM command inspection (C-STORE-RQ, CT01 -> PACS, shipped rules/dicom)");
    println!(
        "  frame + P-DATA + reassembly + command parse + rules: {ns:.0} ns/command, {:.0} commands/s ({n} commands)",
        1e9 / ns
    );
    println!(
        "  target < 5000 ns/command: {}",
        if ns < 5000.0 { "met" } else { "MISSED" }
    );
}
