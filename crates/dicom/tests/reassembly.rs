//! Command reassembly across PDVs and PDUs (PS3.8 Annex E).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardgate_dicom::{
    Assembled, AssemblyError, CommandAssembler, CommandField, CommandSet, MessageControl, Pdu, Pdv,
    decode_pdu,
};

fn pdv(context_id: u8, command: bool, last: bool, fragment: &[u8]) -> Pdv<'_> {
    Pdv {
        context_id,
        control: MessageControl::new(command, last),
        fragment,
    }
}

#[test]
fn command_split_across_two_pdvs_of_one_pdu() {
    let (a, b) = C_ECHO_RQ.split_at(20);
    let mut body = Vec::new();
    for (frag, ctrl) in [(a, 0x01u8), (b, 0x03)] {
        body.extend(((frag.len() + 2) as u32).to_be_bytes());
        body.extend([1, ctrl]);
        body.extend(frag);
    }
    let bytes = pdu(0x04, &body);
    let Ok(Pdu::PDataTf(pdvs)) = decode_pdu(&bytes) else {
        panic!("P-DATA expected")
    };
    let mut asm = CommandAssembler::default();
    assert_eq!(asm.push(&pdvs[0]), Ok(Assembled::CommandPending));
    assert_eq!(asm.pending_command_len(), 20);
    let Ok(Assembled::Command {
        context_id: 1,
        bytes,
    }) = asm.push(&pdvs[1])
    else {
        panic!("complete command expected")
    };
    assert_eq!(bytes, C_ECHO_RQ);
    assert_eq!(
        CommandSet::parse(&bytes).unwrap().command_field,
        CommandField::C_ECHO_RQ
    );
}

#[test]
fn command_split_across_two_pdus_then_data_counted() {
    let (a, b) = C_ECHO_RQ.split_at(33);
    let first = p_data(3, 0x01, a);
    let second = p_data(3, 0x03, b);
    let data1 = p_data(3, 0x00, &[0xAB; 100]);
    let data2 = p_data(3, 0x02, &[0xCD; 50]);
    let mut asm = CommandAssembler::default();
    let mut events = Vec::new();
    for bytes in [&first, &second, &data1, &data2] {
        let Ok(Pdu::PDataTf(pdvs)) = decode_pdu(bytes) else {
            panic!()
        };
        for p in &pdvs {
            events.push(asm.push(p).unwrap());
        }
    }
    assert_eq!(events[0], Assembled::CommandPending);
    assert_eq!(
        events[1],
        Assembled::Command {
            context_id: 3,
            bytes: C_ECHO_RQ.to_vec()
        }
    );
    assert_eq!(
        events[2],
        Assembled::DataSet {
            context_id: 3,
            total: 100,
            last: false
        }
    );
    assert_eq!(
        events[3],
        Assembled::DataSet {
            context_id: 3,
            total: 150,
            last: true
        }
    );
    assert!(asm.is_idle());
}

#[test]
fn command_bigger_than_the_bound_is_refused() {
    let mut asm = CommandAssembler::new(64);
    assert_eq!(
        asm.push(&pdv(1, true, false, &[0; 40])),
        Ok(Assembled::CommandPending)
    );
    assert_eq!(
        asm.push(&pdv(1, true, false, &[0; 40])),
        Err(AssemblyError::CommandTooLarge { len: 80, limit: 64 })
    );
    // Nothing was buffered past the bound.
    assert_eq!(asm.pending_command_len(), 40);
}

#[test]
fn fragments_out_of_place_are_refused() {
    let mut asm = CommandAssembler::default();
    assert_eq!(
        asm.push(&pdv(1, false, true, b"data")),
        Err(AssemblyError::UnexpectedDataSet)
    );
    asm.push(&pdv(1, true, false, b"cmd")).unwrap();
    assert_eq!(
        asm.push(&pdv(3, true, true, b"cmd")),
        Err(AssemblyError::ContextSwitch {
            expected: 1,
            found: 3
        })
    );
    assert_eq!(
        asm.push(&pdv(1, false, true, b"data")),
        Err(AssemblyError::UnexpectedDataSet)
    );
    asm.push(&pdv(1, true, true, b"cmd")).unwrap();
    asm.push(&pdv(1, false, false, b"data")).unwrap();
    assert_eq!(
        asm.push(&pdv(1, true, true, b"cmd")),
        Err(AssemblyError::UnexpectedCommand)
    );
}
