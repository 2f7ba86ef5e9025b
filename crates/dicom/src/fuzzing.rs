//! Fuzz entry points: each function takes arbitrary bytes, never panics on its own, and panics
//! only when an invariant of this crate is broken. The cargo-fuzz targets in `fuzz/` call them
//! in one line, and `tests/fuzz_corpus.rs` replays the committed seeds and regressions through
//! them on stable Rust (ARCHITECTURE.md convention 9).

use crate::{
    Assembled, AssemblyError, Association, CommandAssembler, CommandSet, Direction,
    MAX_PDU_LEN_CEILING, PDU_HEADER_LEN, Pdu, PduError, PduFramer, PduType, Pdv, Status,
    build_dimse_failure, build_p_data_tf, decode_pdu, encode_command_set, encode_release_rp,
    encode_release_rq, parse_pdvs,
};

/// PDU framing and decoding, on a whole PDU at the start of the input:
///
/// - `PduFramer::next_pdu` and `decode_pdu` never panic;
/// - every strict prefix of a PDU the framer accepts is "more bytes needed", never an error;
/// - `decode_pdu` on more bytes than the PDU is a length mismatch, never a PDU;
/// - read-write-read: a decoded P-DATA-TF, A-ASSOCIATE-RJ, A-RELEASE or A-ABORT re-encodes with
///   the crate's builders, and the encoding decodes to the same view; a P-DATA-TF re-encodes to
///   the same bytes (the reserved header byte aside: reserved fields are not tested on receipt,
///   PS3.8 §9.3, so the fixed PDUs' reserved bytes may differ).
pub fn pdu(data: &[u8]) {
    let framer = PduFramer::default();
    let Ok(Some(info)) = framer.next_pdu(data) else {
        return;
    };
    let bytes = &data[..info.consumed];
    for end in 0..bytes.len() {
        let prefix = framer.next_pdu(&bytes[..end]);
        assert_eq!(prefix, Ok(None), "a {end}-byte prefix of a PDU");
    }
    if data.len() > bytes.len() {
        assert!(
            matches!(decode_pdu(data), Err(PduError::LengthMismatch { .. })),
            "decode_pdu accepted a PDU followed by {} more bytes",
            data.len() - bytes.len()
        );
    }
    let Ok(pdu) = decode_pdu(bytes) else {
        return;
    };
    let again = match &pdu {
        Pdu::PDataTf(pdvs) => {
            let again = match build_p_data_tf(pdvs) {
                Ok(again) => again,
                Err(e) => panic!("a decoded P-DATA-TF does not re-encode: {e}"),
            };
            assert_eq!(
                (again.first(), again.get(2..)),
                (bytes.first(), bytes.get(2..)),
                "re-encoding changed the P-DATA-TF"
            );
            again
        }
        Pdu::AssociateRj(rj) => rj.encode().to_vec(),
        Pdu::Abort(abort) => abort.encode().to_vec(),
        Pdu::ReleaseRq => encode_release_rq().to_vec(),
        Pdu::ReleaseRp => encode_release_rp().to_vec(),
        // No builder: wardgate never originates an association.
        Pdu::AssociateRq(_) | Pdu::AssociateAc(_) => return,
    };
    assert_eq!(
        decode_pdu(&again),
        Ok(pdu),
        "read-write-read changed the PDU"
    );
}

/// DIMSE command-set parsing:
///
/// - `CommandSet::parse` never panics;
/// - read-write-read: a parsed command set encodes, and the encoding parses to the same view
///   (elements the view does not name are dropped by design);
/// - for a parsed request with a message id, the DIMSE failure wardgate would send back
///   (`build_dimse_failure`) builds, decodes as one last-fragment command PDV, and parses as
///   the response to that message id with the failure status.
pub fn command_set(data: &[u8]) {
    let Ok(cmd) = CommandSet::parse(data) else {
        return;
    };
    let encoded = match encode_command_set(&cmd) {
        Ok(encoded) => encoded,
        Err(e) => panic!("a parsed command set does not encode: {e}\n{cmd:?}"),
    };
    let expected = CommandSet {
        other_elements: 0,
        ..cmd
    };
    assert_eq!(
        CommandSet::parse(&encoded),
        Ok(expected),
        "read-write-read changed the command set"
    );
    if cmd.command_field.is_response() || cmd.message_id.is_none() {
        return;
    }
    let status = Status(0xC000);
    let refusal = match build_dimse_failure(&cmd, 1, status) {
        Ok(refusal) => refusal,
        Err(e) => panic!("no DIMSE failure for a parsed request: {e}\n{cmd:?}"),
    };
    let pdvs = match decode_pdu(&refusal) {
        Ok(Pdu::PDataTf(pdvs)) => pdvs,
        other => panic!("the DIMSE failure is not a P-DATA-TF: {other:?}"),
    };
    let [pdv] = pdvs.as_slice() else {
        panic!("the DIMSE failure has {} PDVs", pdvs.len());
    };
    assert!(pdv.is_command() && pdv.is_last(), "{pdv:?}");
    let response = match CommandSet::parse(pdv.fragment) {
        Ok(response) => response,
        Err(e) => panic!("the DIMSE failure's command set does not parse: {e}"),
    };
    assert_eq!(response.command_field, cmd.command_field.response());
    assert_eq!(response.message_id_being_responded_to, cmd.message_id);
    assert_eq!(response.status, Some(status));
    assert!(!response.has_data_set());
}

/// A-ASSOCIATE-RQ/AC parsing. Byte 0 picks the PDU type (even: RQ, odd: AC); the rest is the
/// PDU body, given a correct header so the fuzzer works on the items:
///
/// - framing and decoding never panic;
/// - the framer and `decode_pdu` agree: the framer refuses exactly what `decode_pdu` reports as
///   a framing error (the same error), and accepts the whole PDU otherwise;
/// - an association that starts with a decoded A-ASSOCIATE-RQ enters the requested phase.
pub fn associate(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(len) = u32::try_from(body.len()) else {
        return;
    };
    let pdu_type = if selector & 1 == 0 {
        PduType::ASSOCIATE_RQ
    } else {
        PduType::ASSOCIATE_AC
    };
    let mut bytes = Vec::with_capacity(PDU_HEADER_LEN + body.len());
    bytes.extend_from_slice(&[pdu_type.0, 0]);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(body);
    let framed = PduFramer::new(MAX_PDU_LEN_CEILING).next_pdu(&bytes);
    let decoded = decode_pdu(&bytes);
    match (&framed, &decoded) {
        (Err(f), Err(PduError::Framing(d))) => assert_eq!(f, d, "framer and decoder disagree"),
        (Ok(Some(info)), Ok(_) | Err(PduError::Associate { .. })) => {
            assert_eq!(info.consumed, bytes.len(), "the framer cut the PDU short");
        }
        _ => panic!("framer says {framed:?}, decoder says {decoded:?}"),
    }
    if let Ok(pdu @ Pdu::AssociateRq(_)) = &decoded {
        let mut association = Association::new();
        let result = association.on_pdu(Direction::FromRequestor, pdu);
        assert_eq!(
            result,
            Ok(()),
            "a fresh association refused an A-ASSOCIATE-RQ"
        );
    } else if let Ok(Pdu::AssociateAc(ac)) = &decoded {
        std::hint::black_box(ac);
    }
}

/// Mirror of what a [`CommandAssembler`] should do, checked after every PDV.
struct Model {
    assembler: CommandAssembler,
    bound: usize,
    command: Vec<u8>,
    data_set: u64,
}

impl Model {
    fn new(bound: usize) -> Self {
        Self {
            assembler: CommandAssembler::new(bound),
            bound,
            command: Vec::new(),
            data_set: 0,
        }
    }

    /// Push one PDV; `false` once the assembler refused the stream.
    fn push(&mut self, pdv: &Pdv<'_>) -> bool {
        let result = self.assembler.push(pdv);
        assert!(
            self.assembler.pending_command_len() <= self.bound,
            "{} command bytes pending, bound is {}",
            self.assembler.pending_command_len(),
            self.bound
        );
        match result {
            Ok(Assembled::CommandPending) => {
                self.command.extend_from_slice(pdv.fragment);
                assert_eq!(self.assembler.pending_command_len(), self.command.len());
            }
            Ok(Assembled::Command { context_id, bytes }) => {
                self.command.extend_from_slice(pdv.fragment);
                assert!(
                    bytes.len() <= self.bound,
                    "a {}-byte command with bound {}",
                    bytes.len(),
                    self.bound
                );
                assert_eq!(bytes, self.command, "the command is not its fragments");
                assert_eq!(context_id, pdv.context_id);
                assert_eq!(self.assembler.pending_command_len(), 0);
                self.command.clear();
                self.data_set = 0;
                let _ = std::hint::black_box(CommandSet::parse(&bytes));
            }
            Ok(Assembled::DataSet { total, .. }) => {
                self.data_set += pdv.fragment.len() as u64;
                assert_eq!(total, self.data_set, "data-set byte count");
            }
            Err(AssemblyError::CommandTooLarge { len, limit }) => {
                assert_eq!(limit, self.bound);
                assert!(len > self.bound as u64, "refused {len} bytes under {limit}");
                return false;
            }
            Err(_) => return false,
        }
        true
    }
}

/// P-DATA reassembly. Bytes 0..2 are the command bound (u16 big-endian, small so
/// `CommandTooLarge` is reachable); the rest is read twice: as a stream of PDUs (framed with
/// `PduFramer`, decoded with `decode_pdu`, every P-DATA-TF's PDVs fed to one
/// `CommandAssembler`), and as a single P-DATA-TF body (`parse_pdvs`, fed to a fresh one):
///
/// - nothing panics;
/// - no command set pending or reassembled is ever larger than the bound, and a refusal for
///   size names a size over the bound;
/// - a reassembled command is exactly its fragments, on the context they arrived on;
/// - the data-set byte count is the sum of the data-set fragments since the command.
pub fn reassembly(data: &[u8]) {
    let (Some(bound), Some(mut rest)) = (data.get(..2), data.get(2..)) else {
        return;
    };
    let bound = usize::from(u16::from_be_bytes([bound[0], bound[1]]));
    let framer = PduFramer::default();
    let mut stream = Model::new(bound);
    'pdus: while let Ok(Some(info)) = framer.next_pdu(rest) {
        let (pdu, tail) = rest.split_at(info.consumed);
        rest = tail;
        if let Ok(Pdu::PDataTf(pdvs)) = decode_pdu(pdu) {
            for pdv in &pdvs {
                if !stream.push(pdv) {
                    break 'pdus;
                }
            }
        }
    }
    if let Ok(pdvs) = parse_pdvs(data.get(2..).unwrap_or_default()) {
        let mut single = Model::new(bound);
        for pdv in &pdvs {
            if !single.push(pdv) {
                break;
            }
        }
    }
}
