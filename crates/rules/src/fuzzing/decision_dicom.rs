//! The DICOM decision path (the proxy's `dicom_conn/`): `PduFramer` → `decode_pdu` →
//! `Association` → the association request judged by `evaluate_dicom_associate` (refused with
//! `build_associate_rj`), the acceptor's answer by `evaluate_dicom_accept`, each DIMSE request,
//! reassembled by `CommandAssembler`, by `evaluate_dicom_command` (refused with
//! `build_dimse_failure`, or `build_abort`); P-DATA-TF PDUs wait in `HeldPdus` until the
//! command they carry part of is judged.

use std::collections::VecDeque;

use wardgate_dicom::held::{Fate, HeldPdus, Ready};
use wardgate_dicom::{
    AbortReason, AbortSource, Assembled, AssociateAc, AssociateRq, Association, CommandField,
    CommandSet, DEFAULT_MAX_COMMAND_LEN, DEFAULT_MAX_PDU_LEN, Direction, MIN_ASSOCIATE_BODY_LEN,
    PDU_HEADER_LEN, Pdu, PduFramer, Pdv, RejectReason, RejectResult, RejectSource, Status,
    acceptor_may_send, build_abort, build_associate_rj, build_dimse_failure, decode_pdu,
    parse_pdvs,
};

use super::decision::{Inbox, Options, Output, PathOutcome, Peer, chunks};
use crate::{AssociationDecision, CommandDecision, RuleSet, Sender};

/// Most PDUs held back while one command set is incomplete (the proxy's `MAX_HELD_PDUS`).
const MAX_HELD_PDUS: usize = 256;

/// The message stream of one direction.
type Stream = wardgate_dicom::held::MessageStream;

/// What the requestor's PDU `pdu` became, for the end-of-run check.
enum Expect {
    /// Forwarded as received (association PDUs).
    Whole(usize),
    /// A P-DATA-TF and the fate of each of its PDVs, kept in step with `HeldPdus`.
    PData(usize, Vec<Fate>),
}

/// Stop: the association is over (aborted, rejected or released).
struct Closed;

struct Conn<'r> {
    rules: &'r RuleSet,
    sender: &'r Sender,
    opts: Options,
    framer: PduFramer,
    max_pdu: usize,
    client: Inbox,
    upstream: Option<Inbox>,
    assoc: Association,
    rq: Option<AssociateRq>,
    /// The acceptor's answer, for the roles it granted.
    ac: Option<AssociateAc>,
    inbound: Stream,
    outbound: Stream,
    held: HeldPdus,
    replies: VecDeque<Vec<u8>>,
    reply_after_data: Option<Vec<u8>>,
    outstanding: VecDeque<u16>,
    sub_outstanding: VecDeque<u16>,
    /// PDUs written to the acceptor, in order.
    written: Vec<Vec<u8>>,
    expect: Vec<Expect>,
    to_client: Output,
    outcome: PathOutcome,
}

pub(super) fn run(rules: &RuleSet, sender: &Sender, opts: Options, data: &[u8]) -> PathOutcome {
    let max_pdu = opts.frame_limit(
        DEFAULT_MAX_PDU_LEN as usize,
        MIN_ASSOCIATE_BODY_LEN as usize,
    );
    let max_pdu_u32 = u32::try_from(max_pdu).unwrap_or(DEFAULT_MAX_PDU_LEN);
    let mut c = Conn {
        rules,
        sender,
        opts,
        framer: PduFramer::new(max_pdu_u32),
        max_pdu,
        client: Inbox::default(),
        upstream: None,
        assoc: Association::new(),
        rq: None,
        ac: None,
        inbound: Stream::default(),
        outbound: Stream::default(),
        held: HeldPdus::new(MAX_HELD_PDUS, max_pdu + 2 * DEFAULT_MAX_COMMAND_LEN),
        replies: VecDeque::new(),
        reply_after_data: None,
        outstanding: VecDeque::new(),
        sub_outstanding: VecDeque::new(),
        written: Vec::new(),
        expect: Vec::new(),
        to_client: Output::default(),
        outcome: PathOutcome::default(),
    };
    for chunk in chunks(data) {
        let result = match chunk.from {
            Peer::Client => c.client_bytes(chunk.bytes),
            Peer::Upstream => c.upstream_bytes(chunk.bytes),
        };
        for stream in [&c.inbound, &c.outbound] {
            assert!(
                stream.assembler.pending_command_len() <= DEFAULT_MAX_COMMAND_LEN,
                "a pending command set over the command bound"
            );
        }
        assert!(c.replies.len() <= c.opts.max_outstanding, "refusal backlog");
        if result.is_err() || c.assoc.is_closed() {
            c.outcome.closed = true;
            break;
        }
    }
    c.check();
    c.outcome
}

/// Every complete PDU of `stream`, framed in one piece, up to the first error.
fn reference_pdus(framer: &PduFramer, stream: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = stream;
    let mut out = Vec::new();
    while let Ok(Some(info)) = framer.next_pdu(rest) {
        let (pdu, after) = rest.split_at(info.consumed);
        out.push(pdu.to_vec());
        rest = after;
    }
    out
}

/// An A-ABORT wardgate sends must decode as one.
fn check_abort(reason: AbortReason) {
    let pdu = build_abort(AbortSource::SERVICE_PROVIDER, reason);
    assert!(
        matches!(decode_pdu(&pdu), Ok(Pdu::Abort(a)) if a.reason == reason),
        "the A-ABORT does not decode"
    );
}

impl Conn<'_> {
    /// Abort both sides (the PDUs are only checked: the run ends).
    fn abort(&mut self, reason: AbortReason) -> Result<(), Closed> {
        check_abort(reason);
        check_abort(AbortReason::NOT_SPECIFIED);
        Err(Closed)
    }

    fn client_bytes(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        self.client.push(bytes);
        loop {
            let info = match self.framer.next_pdu(self.client.front()) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(e) => return self.abort(wardgate_dicom::PduError::from(e).abort_reason()),
            };
            let i = self.client.take(info.consumed);
            self.requestor_pdu(i)?;
            if self.assoc.is_closed() {
                return Err(Closed);
            }
        }
        assert!(
            self.client.pending() < PDU_HEADER_LEN + self.max_pdu,
            "{} bytes buffered from the requestor with a {}-byte PDU limit",
            self.client.pending(),
            self.max_pdu
        );
        Ok(())
    }

    fn requestor_pdu(&mut self, i: usize) -> Result<(), Closed> {
        let bytes = self.client.frame(i).to_vec();
        let decoded = match decode_pdu(&bytes) {
            Ok(d) => d,
            Err(e) => return self.abort(e.abort_reason()),
        };
        if self
            .assoc
            .on_pdu(Direction::FromRequestor, &decoded)
            .is_err()
        {
            return self.abort(AbortReason::UNEXPECTED_PDU);
        }
        match decoded {
            Pdu::AssociateRq(rq) => {
                let decision = self.rules.evaluate_dicom_associate(&rq, self.sender);
                self.rq = Some(rq);
                match decision {
                    AssociationDecision::Reject { reason, .. } => {
                        let rj = build_associate_rj(
                            RejectResult::PERMANENT,
                            RejectSource::SERVICE_USER,
                            RejectReason(reason),
                        );
                        assert!(
                            matches!(decode_pdu(&rj), Ok(Pdu::AssociateRj(r)) if r.reason.0 == reason),
                            "the A-ASSOCIATE-RJ does not decode with its reason"
                        );
                        self.outcome.refused += 1;
                        Err(Closed)
                    }
                    AssociationDecision::Accept { .. } => {
                        self.upstream = Some(Inbox::default());
                        self.write_whole(i);
                        Ok(())
                    }
                }
            }
            Pdu::PDataTf(pdvs) => {
                let fates = self.judge_pdvs(&pdvs)?;
                self.pass_pdata(i, bytes.clone(), fates)
            }
            Pdu::ReleaseRq | Pdu::ReleaseRp | Pdu::Abort(_) if !self.held.is_empty() => {
                self.abort(AbortReason::UNEXPECTED_PDU)
            }
            Pdu::ReleaseRq => {
                self.write_whole(i);
                Ok(())
            }
            Pdu::ReleaseRp | Pdu::Abort(_) => {
                if self.upstream.is_some() {
                    self.write_whole(i);
                }
                Err(Closed)
            }
            Pdu::AssociateAc(_) | Pdu::AssociateRj(_) => Err(Closed),
        }
    }

    fn write_whole(&mut self, i: usize) {
        self.written.push(self.client.frame(i).to_vec());
        self.expect.push(Expect::Whole(i));
        self.outcome.forwarded += 1;
    }

    fn judge_pdvs(&mut self, pdvs: &[Pdv<'_>]) -> Result<Vec<Fate>, Closed> {
        let mut fates = Vec::with_capacity(pdvs.len());
        for pdv in pdvs {
            match self.inbound.assembler.push(pdv) {
                Err(_) => {
                    return self
                        .abort(AbortReason::INVALID_PDU_PARAMETER_VALUE)
                        .map(|()| fates);
                }
                Ok(Assembled::CommandPending) => {
                    self.inbound.command_pending = true;
                    fates.push(Fate::Pending);
                }
                Ok(Assembled::Command { context_id, bytes }) => {
                    let fate = self.judge_command(context_id, &bytes)?;
                    self.held.resolve(fate);
                    for e in &mut self.expect {
                        if let Expect::PData(_, f) = e {
                            f.iter_mut()
                                .filter(|f| **f == Fate::Pending)
                                .for_each(|f| *f = fate);
                        }
                    }
                    for f in fates.iter_mut().filter(|f| **f == Fate::Pending) {
                        *f = fate;
                    }
                    fates.push(fate);
                }
                Ok(Assembled::DataSet { last, .. }) => {
                    fates.push(self.inbound.data_fate);
                    self.inbound.data_due = !last;
                    if last {
                        if let Some(reply) = self.reply_after_data.take() {
                            self.replies.push_back(reply);
                        }
                    }
                }
            }
        }
        Ok(fates)
    }

    fn judge_command(&mut self, context_id: u8, bytes: &[u8]) -> Result<Fate, Closed> {
        let invalid = AbortReason::INVALID_PDU_PARAMETER_VALUE;
        let Ok(cmd) = CommandSet::parse(bytes) else {
            return self.abort(invalid).map(|()| Fate::Drop);
        };
        let context = self.assoc.context(context_id).cloned();
        let (Some(context), Some(rq)) = (context, self.rq.as_ref()) else {
            return self.abort(invalid).map(|()| Fate::Drop);
        };
        let limit = self.opts.max_outstanding;
        if cmd.command_field.is_response() {
            if let Some(id) = cmd.message_id_being_responded_to {
                if !cmd.status.is_some_and(|s| s.is_pending()) {
                    remove_id(&mut self.sub_outstanding, id);
                }
            }
            self.inbound.on_command(&cmd, Fate::Forward);
            return Ok(Fate::Forward);
        }
        if cmd.command_field == CommandField::C_CANCEL_RQ {
            self.inbound.on_command(&cmd, Fate::Forward);
            return Ok(Fate::Forward);
        }
        let fate = match self
            .rules
            .evaluate_dicom_command(rq, &context, &cmd, self.sender)
        {
            CommandDecision::Allow(_) => {
                if let Some(id) = cmd.message_id {
                    push_bounded(&mut self.outstanding, id, limit);
                }
                Fate::Forward
            }
            CommandDecision::Refuse { status, .. } => {
                let Ok(reply) = build_dimse_failure(&cmd, context_id, Status(status)) else {
                    return self.abort(invalid).map(|()| Fate::Drop);
                };
                check_dimse_failure(&reply, &cmd, context_id, status);
                self.outcome.refused += 1;
                if self.replies.len() + 1 > limit {
                    return self.abort(invalid).map(|()| Fate::Drop);
                }
                if cmd.has_data_set() {
                    self.reply_after_data = Some(reply);
                } else {
                    self.replies.push_back(reply);
                }
                Fate::Drop
            }
            CommandDecision::Abort { .. } => {
                return self.abort(AbortReason::NOT_SPECIFIED).map(|()| Fate::Drop);
            }
        };
        self.inbound.on_command(&cmd, fate);
        Ok(fate)
    }

    fn pass_pdata(&mut self, i: usize, bytes: Vec<u8>, fates: Vec<Fate>) -> Result<(), Closed> {
        self.expect.push(Expect::PData(i, fates.clone()));
        if self.held.push(bytes, fates).is_err() {
            return self.abort(AbortReason::INVALID_PDU_PARAMETER_VALUE);
        }
        for ready in self.held.ready() {
            let (Ready::Original(b) | Ready::Rebuilt(b)) = ready;
            self.written.push(b);
            self.outcome.forwarded += 1;
        }
        self.flush_replies();
        Ok(())
    }

    fn flush_replies(&mut self) {
        while self.outbound.at_boundary() && self.replies.pop_front().is_some() {}
    }

    fn upstream_bytes(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        let Some(up) = self.upstream.as_mut() else {
            return Ok(());
        };
        up.push(bytes);
        loop {
            let Some(up) = self.upstream.as_mut() else {
                return Ok(());
            };
            let info = match self.framer.next_pdu(up.front()) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(e) => return self.abort(wardgate_dicom::PduError::from(e).abort_reason()),
            };
            let i = up.take(info.consumed);
            self.acceptor_pdu(i)?;
            if self.assoc.is_closed() {
                return Err(Closed);
            }
        }
        let pending = self.upstream.as_ref().map_or(0, Inbox::pending);
        assert!(
            pending < PDU_HEADER_LEN + self.max_pdu,
            "{pending} bytes buffered from the acceptor with a {}-byte PDU limit",
            self.max_pdu
        );
        Ok(())
    }

    fn acceptor_pdu(&mut self, i: usize) -> Result<(), Closed> {
        let bytes = match &self.upstream {
            Some(up) => up.frame(i).to_vec(),
            None => return Ok(()),
        };
        let decoded = match decode_pdu(&bytes) {
            Ok(d) => d,
            Err(e) => return self.abort(e.abort_reason()),
        };
        if self
            .assoc
            .on_pdu(Direction::FromAcceptor, &decoded)
            .is_err()
        {
            return self.abort(AbortReason::UNEXPECTED_PDU);
        }
        match decoded {
            Pdu::AssociateAc(ac) => {
                let Some(rq) = self.rq.as_ref() else {
                    return Err(Closed);
                };
                match self.rules.evaluate_dicom_accept(rq, &ac, self.sender) {
                    Ok(()) => self.relay(i),
                    Err(_) => return self.abort(AbortReason::NOT_SPECIFIED),
                }
                self.ac = Some(ac);
                Ok(())
            }
            Pdu::AssociateRj(_) | Pdu::Abort(_) => {
                self.relay(i);
                Err(Closed)
            }
            Pdu::PDataTf(pdvs) => {
                self.inspect_outbound(&pdvs)?;
                self.relay(i);
                self.flush_replies();
                Ok(())
            }
            Pdu::ReleaseRq | Pdu::ReleaseRp => {
                self.relay(i);
                Ok(())
            }
            Pdu::AssociateRq(_) => Err(Closed),
        }
    }

    fn inspect_outbound(&mut self, pdvs: &[Pdv<'_>]) -> Result<(), Closed> {
        let invalid = AbortReason::INVALID_PDU_PARAMETER_VALUE;
        for pdv in pdvs {
            match self.outbound.assembler.push(pdv) {
                Err(_) => return self.abort(invalid),
                Ok(Assembled::CommandPending) => self.outbound.command_pending = true,
                Ok(Assembled::Command { context_id, bytes }) => {
                    let Ok(cmd) = CommandSet::parse(&bytes) else {
                        return self.abort(invalid);
                    };
                    // A request from the acceptor only within the negotiated roles (the
                    // proxy's `dicom_conn::policy::acceptor_request`).
                    let context = self.assoc.context(context_id);
                    if !cmd.command_field.is_response()
                        && !acceptor_may_send(
                            self.rq.as_ref(),
                            self.ac.as_ref(),
                            context,
                            cmd.command_field,
                        )
                    {
                        return self.abort(AbortReason::UNEXPECTED_PDU_PARAMETER);
                    }
                    self.outbound.on_command(&cmd, Fate::Forward);
                    let limit = self.opts.max_outstanding;
                    let pending = cmd.status.is_some_and(|s| s.is_pending());
                    if cmd.command_field.is_response() {
                        if let (false, Some(id)) = (pending, cmd.message_id_being_responded_to) {
                            remove_id(&mut self.outstanding, id);
                        }
                    } else if let Some(id) = cmd.message_id {
                        push_bounded(&mut self.sub_outstanding, id, limit);
                    }
                }
                Ok(Assembled::DataSet { last, .. }) => self.outbound.data_due = !last,
            }
        }
        Ok(())
    }

    fn relay(&mut self, i: usize) {
        if let Some(up) = &self.upstream {
            self.to_client.relay(up, i);
            self.outcome.relayed += 1;
        }
    }

    /// What reached the acceptor is, in order, each forwarded association PDU as received and
    /// each P-DATA-TF whose PDVs have all been judged: as received when every PDV goes, nothing
    /// when none does, else exactly its forwarded PDVs (fragments unchanged). A PDV of a
    /// refused command or of its data set never reaches the acceptor.
    fn check(&self) {
        self.client.check_framing(
            &reference_pdus(&self.framer, &self.client.stream),
            "requestor",
        );
        if let Some(up) = &self.upstream {
            up.check_framing(&reference_pdus(&self.framer, &up.stream), "acceptor");
            self.to_client.check_relayed(up, &[], "to the requestor");
        }
        let mut written = self.written.iter();
        for e in &self.expect {
            let (i, fates) = match e {
                Expect::Whole(i) => {
                    let Some(w) = written.next() else { return };
                    assert_eq!(
                        w,
                        self.client.frame(*i),
                        "PDU {i} not forwarded as received"
                    );
                    continue;
                }
                Expect::PData(i, fates) => (*i, fates),
            };
            if fates.contains(&Fate::Pending) {
                break;
            }
            if fates.iter().all(|f| *f == Fate::Drop) {
                continue;
            }
            let Some(w) = written.next() else { return };
            let input = self.client.frame(i);
            if fates.iter().all(|f| *f == Fate::Forward) {
                assert_eq!(w, input, "P-DATA-TF {i} not forwarded as received");
                continue;
            }
            let body = |b: &[u8]| b.get(PDU_HEADER_LEN..).unwrap_or_default().to_vec();
            let (wb, ib) = (body(w), body(input));
            let (Ok(out), Ok(all)) = (parse_pdvs(&wb), parse_pdvs(&ib)) else {
                panic!("P-DATA-TF {i}: the forwarded or the received PDU does not parse");
            };
            let kept: Vec<_> = all
                .into_iter()
                .zip(fates)
                .filter(|(_, f)| **f == Fate::Forward)
                .map(|(p, _)| p)
                .collect();
            assert_eq!(w.first(), Some(&0x04), "rebuilt PDU is not a P-DATA-TF");
            assert_eq!(out, kept, "P-DATA-TF {i}: not exactly its forwarded PDVs");
        }
        assert!(
            written.next().is_none(),
            "more PDUs reached the acceptor than the requestor's PDUs account for"
        );
    }
}

/// A DIMSE failure is one P-DATA-TF with one last command PDV on the request's context, whose
/// command set answers the refused message id with the failure status and no data set.
fn check_dimse_failure(reply: &[u8], request: &CommandSet<'_>, context_id: u8, status: u16) {
    let Ok(Pdu::PDataTf(pdvs)) = decode_pdu(reply) else {
        panic!("the DIMSE failure is not a P-DATA-TF");
    };
    let [pdv] = pdvs.as_slice() else {
        panic!("the DIMSE failure has {} PDVs", pdvs.len());
    };
    assert!(pdv.control.is_command() && pdv.control.is_last());
    assert_eq!(pdv.context_id, context_id, "DIMSE failure context");
    let cmd = match CommandSet::parse(pdv.fragment) {
        Ok(c) => c,
        Err(e) => panic!("the DIMSE failure's command set does not parse: {e}"),
    };
    assert!(
        cmd.command_field.is_response(),
        "the DIMSE failure is not a response"
    );
    assert_eq!(
        cmd.message_id_being_responded_to, request.message_id,
        "the DIMSE failure does not name the refused message id"
    );
    assert_eq!(cmd.status, Some(Status(status)), "DIMSE failure status");
    assert!(!cmd.has_data_set(), "the DIMSE failure carries a data set");
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

fn remove_id(q: &mut VecDeque<u16>, id: u16) {
    if let Some(i) = q.iter().position(|&x| x == id) {
        q.remove(i);
    }
}
