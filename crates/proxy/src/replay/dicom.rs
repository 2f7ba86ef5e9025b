//! DICOM in a capture or in PDU files: the association request and the acceptor's answer
//! judged, every DIMSE command judged in its presentation context with the same rule entry
//! points as the proxy's driver, data sets skipped as they stream by (never buffered).

use std::path::{Path, PathBuf};

use wardgate_dicom::{
    Assembled, AssociateAc, AssociateRq, Association, CommandAssembler, CommandField, CommandSet,
    ContextAnswer, ContextResult, DEFAULT_MAX_COMMAND_LEN, DEFAULT_MAX_PDU_LEN, Direction,
    MessageControl, PDU_HEADER_LEN, PDV_HEADER_LEN, Pdu, PduFramer, PduType, Pdv, decode_pdu,
};
use wardgate_rules::{Overrides, RuleSet, Sender};

use super::ReplayLine;
use super::emit::{Ctx, Dir, Judge, Out, Outstanding, RxBuf, plain};
use crate::audit::{audit_lines, permit_rule, permit_verdict};
use crate::dicom_conn::names::{command_name, control_id};
use crate::dicom_conn::policy::{self, AssociationDecision, CommandDecision};

/// Extension of the file holding the acceptor's PDUs next to the requestor's file.
pub(crate) const ACCEPTOR_SUFFIX: &str = "acceptor";

/// `name.acceptor` next to `name`.
pub(crate) fn acceptor_file(requestor: &Path) -> PathBuf {
    let mut s = requestor.as_os_str().to_owned();
    s.push(".");
    s.push(ACCEPTOR_SUFFIX);
    PathBuf::from(s)
}

/// Where the reader of one direction is inside the PDU stream.
#[derive(Debug, Clone, Copy)]
enum Rx {
    /// At a PDU boundary (or inside a non-P-DATA PDU, which is buffered whole: it is small).
    Pdu,
    /// Inside a P-DATA-TF body, at a PDV boundary, with this many body bytes left.
    PData { left: u64 },
    /// Buffering a command fragment of `len` bytes.
    Command {
        context_id: u8,
        control: u8,
        len: usize,
        after: u64,
    },
    /// Skipping `skip` bytes of a data-set fragment.
    DataSet { skip: u64, after: u64 },
}

/// One DICOM connection.
pub(crate) struct DicomJudge {
    rx: [RxBuf; 2],
    at: [Rx; 2],
    framer: PduFramer,
    assembler: [CommandAssembler; 2],
    assoc: Association,
    rq: Option<AssociateRq>,
    /// The acceptor's answer, for the roles it granted.
    ac: Option<AssociateAc>,
    /// Requests of the requestor by message id, and whether the rules let them through.
    sent: Outstanding<u16>,
    /// The proxy would have ended the connection here (a refusal, a protocol error, the end of
    /// the association): nothing after it is judged.
    over: bool,
}

fn malformed(what: String) -> ReplayLine {
    plain("malformed", None, None, Some(what))
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

impl DicomJudge {
    pub(crate) fn new(max_pdu_len: u32) -> Self {
        Self {
            rx: [RxBuf::default(), RxBuf::default()],
            at: [Rx::Pdu, Rx::Pdu],
            framer: PduFramer::new(max_pdu_len),
            assembler: [
                CommandAssembler::new(DEFAULT_MAX_COMMAND_LEN),
                CommandAssembler::new(DEFAULT_MAX_COMMAND_LEN),
            ],
            assoc: Association::new(),
            rq: None,
            ac: None,
            sent: Outstanding::new(),
            over: false,
        }
    }

    fn from(dir: Dir) -> Direction {
        match dir {
            Dir::Inbound => Direction::FromRequestor,
            Dir::Outbound => Direction::FromAcceptor,
        }
    }

    /// A protocol error: the proxy would abort the association.
    fn fail(&mut self, out: &mut Out<'_>, dir: Dir, t: Option<String>, what: String) {
        let mut line = malformed(format!("{what}; the association would have been aborted"));
        line.message_type = t;
        out.line(dir, line);
        self.over = true;
    }

    /// Read as far as the buffered bytes of `dir` allow.
    fn run(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir) {
        let d = dir.index();
        while !self.over {
            let unread = self.rx[d].unread();
            match self.at[d] {
                Rx::Pdu => match self.framer.next_pdu(unread) {
                    Err(e) => return self.fail(out, dir, None, format!("framing: {e}")),
                    // P-DATA-TF is read PDV by PDV (its header was checked against the limits
                    // above), so data sets stream through without being buffered.
                    Ok(_)
                        if unread.first() == Some(&PduType::P_DATA_TF.0)
                            && unread.len() >= PDU_HEADER_LEN =>
                    {
                        let left = be32(unread.get(2..).unwrap_or_default()).unwrap_or(0);
                        let fits = self
                            .assoc
                            .check_pdata_length(Self::from(dir), u64::from(left));
                        if let Err(e) = fits {
                            return self.fail(out, dir, Some("P-DATA-TF".into()), e.to_string());
                        }
                        self.rx[d].pos += PDU_HEADER_LEN;
                        self.at[d] = Rx::PData {
                            left: u64::from(left),
                        };
                    }
                    Ok(Some(info)) => {
                        let bytes = unread.get(..info.consumed).unwrap_or_default().to_vec();
                        self.rx[d].pos += info.consumed;
                        self.pdu(ctx, out, dir, &bytes);
                    }
                    Ok(None) => return,
                },
                Rx::PData { left: 0 } => self.at[d] = Rx::Pdu,
                Rx::PData { left } => {
                    if left < PDV_HEADER_LEN as u64 {
                        return self.fail(
                            out,
                            dir,
                            Some("P-DATA-TF".into()),
                            "a PDV item runs past the end of its PDU".into(),
                        );
                    }
                    let Some(h) = unread.get(..PDV_HEADER_LEN) else {
                        return;
                    };
                    let item = u64::from(be32(h).unwrap_or(0));
                    let (context_id, control) = (h[4], h[5]);
                    if item < 2 || item + 4 > left {
                        return self.fail(
                            out,
                            dir,
                            Some("P-DATA-TF".into()),
                            format!("PDV item of {item} bytes in a PDU with {left} bytes left"),
                        );
                    }
                    self.rx[d].pos += PDV_HEADER_LEN;
                    let len = item - 2;
                    let after = left - PDV_HEADER_LEN as u64 - len;
                    if MessageControl(control).is_command() {
                        let len = usize::try_from(len).unwrap_or(usize::MAX);
                        self.at[d] = Rx::Command {
                            context_id,
                            control,
                            len,
                            after,
                        };
                    } else {
                        let pdv = Pdv {
                            context_id,
                            control: MessageControl(control),
                            fragment: &[],
                        };
                        self.pdv(ctx, out, dir, &pdv);
                        self.at[d] = Rx::DataSet { skip: len, after };
                    }
                }
                Rx::Command {
                    context_id,
                    control,
                    len,
                    after,
                } => {
                    let Some(fragment) = unread.get(..len) else {
                        return;
                    };
                    let fragment = fragment.to_vec();
                    self.rx[d].pos += len;
                    let pdv = Pdv {
                        context_id,
                        control: MessageControl(control),
                        fragment: &fragment,
                    };
                    self.pdv(ctx, out, dir, &pdv);
                    self.at[d] = Rx::PData { left: after };
                }
                Rx::DataSet { skip, after } => {
                    let n = (unread.len() as u64).min(skip);
                    self.rx[d].pos += n as usize;
                    if n == skip {
                        self.at[d] = Rx::PData { left: after };
                    } else {
                        self.at[d] = Rx::DataSet {
                            skip: skip - n,
                            after,
                        };
                        return;
                    }
                }
            }
        }
    }

    /// A whole PDU other than P-DATA-TF.
    fn pdu(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, bytes: &[u8]) {
        let t = bytes.first().map(|&b| PduType(b).to_string());
        let decoded = match decode_pdu(bytes) {
            Ok(p) => p,
            Err(e) => return self.fail(out, dir, t, e.to_string()),
        };
        self.decoded(ctx, out, dir, decoded);
    }

    fn decoded(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, pdu: Pdu<'_>) {
        let t = Some(pdu.pdu_type().to_string());
        if let Err(e) = self.assoc.on_pdu(Self::from(dir), &pdu) {
            return self.fail(out, dir, t, e.to_string());
        }
        match pdu {
            Pdu::AssociateRq(rq) => {
                let mut line =
                    match policy::associate(ctx.rules, &rq, ctx.sender, &Overrides::default()) {
                        AssociationDecision::Reject { denial, reason } => {
                            self.over = true;
                            let mut l = plain("deny", t, None, Some(denial.reason.clone()));
                            l.rule = Some(denial.rule.to_string());
                            l.code = Some(u16::from(reason));
                            l
                        }
                        AssociationDecision::Accept { rule, audit } => {
                            let mut l = plain(
                                permit_verdict(&audit),
                                t,
                                None,
                                audit_lines(&audit).first().cloned(),
                            );
                            l.rule = rule.as_deref().map(str::to_owned);
                            l
                        }
                    };
                line.control_id = Some(format!(
                    "{}>{}",
                    rq.header.calling_ae_title, rq.header.called_ae_title
                ));
                self.rq = Some(rq);
                out.line(dir, line);
            }
            Pdu::AssociateAc(ac) => {
                let Some(rq) = self.rq.as_ref() else {
                    return self.fail(out, dir, t, "A-ASSOCIATE-AC without a request".into());
                };
                let accepted = ac
                    .presentation_contexts
                    .iter()
                    .filter(|c| c.result.is_accepted())
                    .count();
                let line =
                    match policy::accept(ctx.rules, rq, &ac, ctx.sender, &Overrides::default()) {
                        Ok(()) => plain(
                            "allow",
                            t,
                            None,
                            Some(format!(
                                "{accepted} of {} presentation contexts accepted",
                                ac.presentation_contexts.len()
                            )),
                        ),
                        Err(denial) => {
                            self.over = true;
                            let mut l = plain(
                                "deny",
                                t,
                                None,
                                Some(format!(
                                    "{}; association aborted on both sides",
                                    denial.reason
                                )),
                            );
                            l.rule = Some(denial.rule.to_string());
                            l
                        }
                    };
                out.line(dir, line);
                self.ac = Some(ac);
            }
            Pdu::AssociateRj(rj) => {
                let mut l = plain(
                    "allow",
                    t,
                    None,
                    Some("the acceptor rejected the association".into()),
                );
                l.code = Some(u16::from(rj.reason.0));
                out.line(dir, l);
                self.over = true;
            }
            Pdu::Abort(a) => {
                let who = match dir {
                    Dir::Inbound => "requestor",
                    Dir::Outbound => "acceptor",
                };
                let mut l = plain(
                    "allow",
                    t,
                    None,
                    Some(format!("the {who} aborted the association")),
                );
                l.code = Some(u16::from(a.reason.0));
                out.line(dir, l);
                self.over = true;
            }
            Pdu::ReleaseRp if self.assoc.is_closed() => {
                out.line(
                    dir,
                    plain("allow", t, None, Some("association released".into())),
                );
                self.over = true;
            }
            Pdu::ReleaseRq | Pdu::ReleaseRp | Pdu::PDataTf(_) => {}
        }
    }

    /// One PDV of a P-DATA-TF (data-set fragments arrive empty: only their header counts).
    fn pdv(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, pdv: &Pdv<'_>) {
        let t = Some("P-DATA-TF".to_owned());
        if let Err(e) = self
            .assoc
            .on_pdu(Self::from(dir), &Pdu::PDataTf(vec![*pdv]))
        {
            return self.fail(out, dir, t, e.to_string());
        }
        match self.assembler[dir.index()].push(pdv) {
            Err(e) => self.fail(out, dir, t, e.to_string()),
            Ok(Assembled::Command { context_id, bytes }) => match CommandSet::parse(&bytes) {
                Ok(cmd) => self.command(ctx, out, dir, context_id, &cmd),
                Err(e) => self.fail(out, dir, t, format!("command set: {e}")),
            },
            Ok(Assembled::CommandPending | Assembled::DataSet { .. }) => {}
        }
    }

    fn command(
        &mut self,
        ctx: &mut Ctx<'_>,
        out: &mut Out<'_>,
        dir: Dir,
        context_id: u8,
        cmd: &CommandSet<'_>,
    ) {
        let context = self.assoc.context(context_id).cloned();
        let mut line = plain(
            "allow",
            Some(command_name(cmd)),
            Some(control_id(context_id, cmd)),
            None,
        );
        line.code = cmd.status.map(|s| s.0);
        let response = cmd.command_field.is_response();
        match dir {
            Dir::Outbound if response && cmd.status.is_some_and(|s| s.is_pending()) => return,
            Dir::Outbound if response => {
                let id = cmd.message_id_being_responded_to.unwrap_or(0);
                if self.sent.answer(&id, true) == Some(false) {
                    line.verdict = "unmatched-ack".into();
                    line.reason = Some(format!(
                        "answers message {id}, which these rules refuse: wardgate would have answered it with a failure status"
                    ));
                }
            }
            Dir::Outbound => {
                match policy::acceptor_request(
                    self.rq.as_ref(),
                    self.ac.as_ref(),
                    context.as_ref(),
                    cmd,
                ) {
                    Ok(()) => {
                        line.reason = Some(
                            "a request from the acceptor, within the roles negotiated; not judged by the rules"
                                .into(),
                        );
                    }
                    Err(why) => {
                        line.verdict = "deny".into();
                        line.reason = Some(why);
                        self.over = true;
                    }
                }
            }
            Dir::Inbound if response => {}
            Dir::Inbound if cmd.command_field == CommandField::C_CANCEL_RQ => {
                line.reason = Some("C-CANCEL is passed without judgement".into());
            }
            Dir::Inbound => {
                let (Some(context), Some(rq)) = (context, self.rq.as_ref()) else {
                    return self.fail(
                        out,
                        dir,
                        line.message_type,
                        "command on a context that was not accepted".into(),
                    );
                };
                match policy::command(
                    ctx.rules,
                    rq,
                    &context,
                    cmd,
                    ctx.sender,
                    &Overrides::default(),
                ) {
                    CommandDecision::Allow(p) => {
                        line.verdict = permit_verdict(&p.audit).into();
                        line.rule = permit_rule(&p);
                        line.reason = audit_lines(&p.audit).first().cloned();
                        if let Some(id) = cmd.message_id {
                            self.sent.push(id, true);
                        }
                    }
                    CommandDecision::Refuse { denial, status } => {
                        line.verdict = "deny".into();
                        line.rule = Some(denial.rule.to_string());
                        line.reason = Some(denial.reason.clone());
                        line.code = Some(status);
                        if let Some(id) = cmd.message_id {
                            self.sent.push(id, false);
                        }
                    }
                    CommandDecision::Abort { denial } => {
                        line.verdict = "deny".into();
                        line.rule = Some(denial.rule.to_string());
                        line.reason = Some(format!("{}; association aborted", denial.reason));
                        self.over = true;
                    }
                }
            }
        }
        out.line(dir, line);
    }

    /// No acceptor side was recorded: take every proposed context as accepted with its first
    /// transfer syntax, so the requestor's commands can be judged.
    fn assume_accepted(&mut self) {
        let Some(rq) = self.rq.as_ref() else {
            return;
        };
        let ac = AssociateAc {
            header: rq.header.clone(),
            presentation_contexts: rq
                .presentation_contexts
                .iter()
                .map(|c| ContextAnswer {
                    id: c.id,
                    result: ContextResult::ACCEPTANCE,
                    transfer_syntax: c.transfer_syntaxes.first().cloned().unwrap_or_default(),
                })
                .collect(),
        };
        let _ = self
            .assoc
            .on_pdu(Direction::FromAcceptor, &Pdu::AssociateAc(ac));
    }
}

impl Judge for DicomJudge {
    fn data(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, bytes: &[u8]) {
        if self.over {
            return;
        }
        self.rx[dir.index()].push(bytes);
        self.run(ctx, out, dir);
    }

    fn discard(&mut self, dir: Dir) -> usize {
        // Without the missing bytes the association state cannot be followed any further.
        self.over = true;
        self.rx[dir.index()].clear()
    }

    fn end(&mut self, out: &mut Out<'_>) {
        for dir in [Dir::Inbound, Dir::Outbound] {
            let n = self.rx[dir.index()].clear();
            let inside = !matches!(self.at[dir.index()], Rx::Pdu);
            if !self.over && (n > 0 || inside) {
                out.line(
                    dir,
                    malformed(format!(
                        "the connection ended inside a PDU ({n} bytes buffered); nothing of it would have been forwarded"
                    )),
                );
            }
        }
    }
}

/// Length of the first PDU in `bytes` (all of them if it is cut short).
fn first_pdu_len(bytes: &[u8]) -> usize {
    let body = bytes.get(2..).and_then(be32).unwrap_or(u32::MAX);
    (PDU_HEADER_LEN as u64 + u64::from(body)).min(bytes.len() as u64) as usize
}

/// Replay one requestor PDU file (and the acceptor's, if recorded): the request, then the
/// answer, then the rest of each side.
pub(crate) fn replay_files(
    rules: &RuleSet,
    sender: &Sender,
    name: &str,
    requestor: &[u8],
    acceptor: Option<&[u8]>,
    sink: &mut dyn FnMut(ReplayLine),
) {
    let mut pump = wardgate_rules::PumpState::new(1);
    let mut ctx = Ctx {
        rules,
        sender,
        now_ms: 0,
        pump: &mut pump,
    };
    let mut next = [0usize; 2];
    let mut out = Out {
        file: name,
        stream: None,
        with_direction: true,
        time: None,
        next: &mut next,
        sink,
    };
    let mut judge = DicomJudge::new(DEFAULT_MAX_PDU_LEN);
    let (rq, rest) = requestor.split_at(first_pdu_len(requestor));
    judge.data(&mut ctx, &mut out, Dir::Inbound, rq);
    let rest_ac = match acceptor {
        Some(ac) => {
            let (first, rest) = ac.split_at(first_pdu_len(ac));
            judge.data(&mut ctx, &mut out, Dir::Outbound, first);
            rest
        }
        None => {
            judge.assume_accepted();
            &[]
        }
    };
    judge.data(&mut ctx, &mut out, Dir::Inbound, rest);
    judge.data(&mut ctx, &mut out, Dir::Outbound, rest_ac);
    judge.end(&mut out);
}

#[cfg(test)]
#[path = "dicom_tests.rs"]
mod tests;
