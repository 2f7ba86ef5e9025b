//! The DICOM judge streams data sets: however large a C-STORE, a direction buffers no more than
//! one PDV header and what one read brought.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const REQUESTOR: &[u8] =
    include_bytes!("../../../../tests/cases/dicom-pdu-files/messages/01-echo-and-store-ct.pdus");
const ACCEPTOR: &[u8] = include_bytes!(
    "../../../../tests/cases/dicom-pdu-files/messages/01-echo-and-store-ct.pdus.acceptor"
);
const POLICY: &str = include_str!("../../../../rules/dicom/policy.toml");

fn pdus(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while rest.len() >= PDU_HEADER_LEN {
        let len = PDU_HEADER_LEN + be32(&rest[2..]).unwrap() as usize;
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// P-DATA-TF PDUs carrying `total` bytes of data set on context 3, as large as the acceptor takes.
fn data_set(total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = total;
    while left > 0 {
        // Each PDU's variable field (PDV item header + fragment) fills the maximum the
        // acceptor announced in `ACCEPTOR` (pynetdicom's 16382 bytes) exactly.
        let n = left.min(16_382 - 6);
        left -= n;
        let item = (n + 2) as u32;
        out.extend_from_slice(&[4, 0]);
        out.extend_from_slice(&(item + 4).to_be_bytes());
        out.extend_from_slice(&item.to_be_bytes());
        out.extend_from_slice(&[3, if left == 0 { 2 } else { 0 }]);
        out.extend(std::iter::repeat_n(0u8, n));
    }
    out
}

#[test]
fn a_large_data_set_streams_through_without_being_buffered() {
    let rules = wardgate_rules::compile(&[wardgate_rules::RuleSource {
        name: "policy.toml".into(),
        text: POLICY.into(),
        dir: None,
    }])
    .unwrap();
    let sender = Sender::from_address([10, 30, 1, 20].into());
    let rq = pdus(REQUESTOR);
    let ac = pdus(ACCEPTOR);
    let store = rq
        .iter()
        .find(|p| p[0] == 4 && p[10] == 3 && p[11] & 1 == 1)
        .unwrap();
    let mut lines = Vec::new();
    let mut sink = |l: ReplayLine| lines.push(l);
    let mut pump = wardgate_rules::PumpState::new(1);
    let mut ctx = Ctx {
        rules: &rules,
        sender: &sender,
        now_ms: 0,
        pump: &mut pump,
    };
    let mut next = [0usize; 2];
    let mut out = Out {
        file: "big",
        stream: Some(1),
        with_direction: true,
        time: None,
        next: &mut next,
        sink: &mut sink,
    };
    let mut judge = DicomJudge::new(DEFAULT_MAX_PDU_LEN);
    judge.data(&mut ctx, &mut out, Dir::Inbound, rq[0]);
    judge.data(&mut ctx, &mut out, Dir::Outbound, ac[0]);
    let mut stream = store.to_vec();
    stream.extend(data_set(8 << 20));
    stream.extend_from_slice(rq.last().unwrap());
    let mut most = 0;
    for chunk in stream.chunks(1448) {
        judge.data(&mut ctx, &mut out, Dir::Inbound, chunk);
        most = most.max(judge.rx[0].bytes.len());
    }
    assert!(most <= 2 * 1448 + PDV_HEADER_LEN, "buffered {most} bytes");
    judge.data(&mut ctx, &mut out, Dir::Outbound, ac[2]);
    judge.end(&mut out);
    let got: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.message_type.as_deref().unwrap_or("-"), l.verdict.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("A-ASSOCIATE-RQ", "allow"),
            ("A-ASSOCIATE-AC", "allow"),
            ("C-STORE-RQ", "allow"),
            ("C-STORE-RSP", "allow"),
        ]
    );
}

#[test]
fn a_pdv_longer_than_its_pdu_is_malformed_and_ends_judging() {
    let rules = wardgate_rules::compile(&[wardgate_rules::RuleSource {
        name: "policy.toml".into(),
        text: POLICY.into(),
        dir: None,
    }])
    .unwrap();
    let sender = Sender::from_address([10, 30, 1, 20].into());
    let rq = pdus(REQUESTOR);
    let ac = pdus(ACCEPTOR);
    let mut lines = Vec::new();
    let mut sink = |l: ReplayLine| lines.push(l);
    let mut pump = wardgate_rules::PumpState::new(1);
    let mut ctx = Ctx {
        rules: &rules,
        sender: &sender,
        now_ms: 0,
        pump: &mut pump,
    };
    let mut next = [0usize; 2];
    let mut out = Out {
        file: "bad",
        stream: None,
        with_direction: true,
        time: None,
        next: &mut next,
        sink: &mut sink,
    };
    let mut judge = DicomJudge::new(DEFAULT_MAX_PDU_LEN);
    judge.data(&mut ctx, &mut out, Dir::Inbound, rq[0]);
    judge.data(&mut ctx, &mut out, Dir::Outbound, ac[0]);
    // P-DATA-TF of 10 body bytes whose PDV claims 100.
    let bad = [4, 0, 0, 0, 0, 10, 0, 0, 0, 100, 3, 3, 0, 0, 0, 0];
    judge.data(&mut ctx, &mut out, Dir::Inbound, &bad);
    judge.data(&mut ctx, &mut out, Dir::Inbound, rq[1]);
    let last = lines.last().unwrap();
    assert_eq!(last.verdict, "malformed", "{lines:#?}");
    assert!(
        last.reason
            .as_deref()
            .unwrap()
            .contains("PDV item of 100 bytes"),
        "{last:?}"
    );
    assert_eq!(
        lines.len(),
        3,
        "nothing judged after the malformed PDU: {lines:#?}"
    );
}
