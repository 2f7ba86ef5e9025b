//! The HL7/MLLP decision path (the proxy's `hl7_conn.rs`): MLLP framer → `Message::parse` →
//! `RuleSet::evaluate_hl7_at` → forward the original frame, or `build_nack` for the sender;
//! upstream acknowledgements are matched to forwarded control ids.

use std::collections::VecDeque;

use wardgate_hl7::{
    ErrorCode, FrameKind, Header, Message, MllpFramer, ParseError, ParseLimits, Refusal,
    ReplyContext, Severity, build_nack, read_ack, wrap,
};

use super::decision::{Inbox, Options, Output, PathOutcome, Peer, chunks};
use crate::{RuleSet, Sender, Verdict};

/// The proxy's default `max_message_bytes` (also the MLLP payload limit).
const DEFAULT_MAX_MESSAGE: usize = 1 << 20;
/// 2026-11-29T12:00:00Z: the clock the rules are given, advanced by the chunks.
const NOW_MS: i64 = 1_795_953_600_000;

/// One upstream connection: its inbox, framer and what was sent on it.
struct Upstream {
    inbox: Inbox,
    framer: MllpFramer,
    /// Control ids forwarded on this connection and not yet acknowledged.
    outstanding: VecDeque<Vec<u8>>,
    /// Every control id forwarded on this connection.
    sent_ids: Vec<Vec<u8>>,
}

struct Conn<'r> {
    rules: &'r RuleSet,
    sender: &'r Sender,
    opts: Options,
    max: usize,
    limits: ParseLimits,
    client: Inbox,
    framer: MllpFramer,
    upstream: Option<Upstream>,
    to_upstream: Output,
    /// Upstream frames relayed to the sender, on the current upstream connection.
    to_client: Output,
    /// Indices of client frames refused (NACKed).
    refused: Vec<usize>,
    outcome: PathOutcome,
    now_ms: i64,
    nacks: u64,
}

pub(super) fn run(rules: &RuleSet, sender: &Sender, opts: Options, data: &[u8]) -> PathOutcome {
    let max = opts.frame_limit(DEFAULT_MAX_MESSAGE, 64);
    let mut c = Conn {
        rules,
        sender,
        opts,
        max,
        limits: ParseLimits {
            allow_lf_terminators: opts.allow_lf,
            ..ParseLimits::default()
        },
        client: Inbox::default(),
        framer: MllpFramer::new(max),
        upstream: None,
        to_upstream: Output::default(),
        to_client: Output::default(),
        refused: Vec::new(),
        outcome: PathOutcome::default(),
        now_ms: NOW_MS,
        nacks: 0,
    };
    for chunk in chunks(data) {
        c.now_ms = c
            .now_ms
            .saturating_add(i64::try_from(chunk.advance_s).unwrap_or(0) * 1000);
        let open = match chunk.from {
            Peer::Client => c.client_bytes(chunk.bytes),
            Peer::Upstream => c.upstream_bytes(chunk.bytes),
        };
        if !open {
            c.outcome.closed = true;
            break;
        }
    }
    c.check();
    c.outcome
}

/// Every complete MLLP frame of `stream`, framed in one piece, up to the first error.
fn reference_frames(stream: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut framer = MllpFramer::new(max);
    let mut rest = stream;
    let mut out = Vec::new();
    while let Ok(Some(info)) = framer.next_frame(rest) {
        let (frame, after) = rest.split_at(info.consumed);
        out.push(frame.to_vec());
        rest = after;
    }
    out
}

impl Conn<'_> {
    /// Bytes from the sender; false when the connection closes.
    fn client_bytes(&mut self, bytes: &[u8]) -> bool {
        self.client.push(bytes);
        loop {
            let info = match self.framer.next_frame(self.client.front()) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                // Bad framing: nothing of the frame is forwarded, the connection closes.
                Err(_) => return false,
            };
            let i = self.client.take(info.consumed);
            let open = match info.kind {
                FrameKind::Message => self.inbound_message(i, info.payload),
                FrameKind::CommitAck | FrameKind::CommitNak => {
                    if self.upstream.is_some() {
                        self.to_upstream.relay(&self.client, i);
                    }
                    true
                }
            };
            if !open {
                return false;
            }
        }
        // The inbox holds at most one incomplete frame: start block, payload, end block.
        assert!(
            self.client.pending() <= self.max + 2,
            "{} bytes buffered from the sender with a {}-byte frame limit",
            self.client.pending(),
            self.max
        );
        true
    }

    fn inbound_message(&mut self, i: usize, payload: std::ops::Range<usize>) -> bool {
        let frame = self.client.frame(i).to_vec();
        let payload = frame.get(payload).unwrap_or_default();
        match Message::parse(payload, &self.limits) {
            Ok(msg) => {
                let header = msg.header();
                match self
                    .rules
                    .evaluate_hl7_at(&msg, self.sender, Some(self.now_ms))
                {
                    Verdict::Permit(_) => {
                        let id = control_id(header);
                        self.forward(i, id, header);
                    }
                    Verdict::Deny(d) => {
                        let code = header.ack_mode().reject();
                        let text = format!("refused by wardgate rule {}: {}", d.rule, d.reason);
                        let refusal = Refusal {
                            code,
                            error: d
                                .hl7_error
                                .map_or(ErrorCode::APPLICATION_INTERNAL_ERROR, ErrorCode),
                            severity: Severity::Error,
                            application_code: d.application_code,
                            user_message: &text,
                        };
                        self.refuse(i, header, &refusal);
                    }
                }
                true
            }
            Err(e) => self.inbound_malformed(i, payload, &e),
        }
    }

    fn inbound_malformed(&mut self, i: usize, payload: &[u8], error: &ParseError) -> bool {
        let header = Header::parse(payload).ok();
        if self.opts.fail_open {
            // Fail-open forwards the uninspectable frame as it came.
            let id = header.as_ref().map(control_id).unwrap_or_default();
            match &header {
                Some(h) => self.forward(i, id, h),
                None => self.forward_raw(i, id),
            }
            return true;
        }
        let Some(h) = header else {
            // No MSH to address a NACK to: the connection closes.
            return false;
        };
        let code = h.ack_mode().error();
        let error_code = ErrorCode::for_parse_error(error);
        let text = format!("wardgate could not parse the message: {error}");
        let refusal = Refusal {
            code,
            error: error_code,
            severity: Severity::Error,
            application_code: None,
            user_message: &text,
        };
        self.refuse(i, &h, &refusal);
        true
    }

    /// Forward frame `i`, or refuse it when too many messages await an acknowledgement.
    fn forward(&mut self, i: usize, id: Vec<u8>, header: &Header<'_>) {
        let backlog = self
            .upstream
            .as_ref()
            .is_some_and(|u| u.outstanding.len() >= self.opts.max_outstanding);
        if backlog {
            let refusal = Refusal {
                code: header.ack_mode().error(),
                error: ErrorCode::APPLICATION_INTERNAL_ERROR,
                severity: Severity::Error,
                application_code: None,
                user_message: "wardgate: too many messages await the upstream's acknowledgement; resend later",
            };
            return self.refuse(i, header, &refusal);
        }
        self.forward_raw(i, id);
    }

    fn forward_raw(&mut self, i: usize, id: Vec<u8>) {
        let max = self.max;
        let up = self.upstream.get_or_insert_with(|| Upstream {
            inbox: Inbox::default(),
            framer: MllpFramer::new(max),
            outstanding: VecDeque::new(),
            sent_ids: Vec::new(),
        });
        up.sent_ids.push(id.clone());
        up.outstanding.push_back(id);
        self.to_upstream.relay(&self.client, i);
        self.outcome.forwarded += 1;
    }

    /// NACK frame `i`: the NACK must parse with wardgate's own parser and name the refused
    /// control id in MSA-2, with the refusal's code in MSA-1.
    fn refuse(&mut self, i: usize, header: &Header<'_>, refusal: &Refusal<'_>) {
        self.nacks += 1;
        let control = format!("WG{}", self.nacks);
        let nack = build_nack(
            header,
            refusal,
            &ReplyContext {
                timestamp: "20261129120000",
                control_id: &control,
            },
        );
        let msg = match Message::parse(&nack, &ParseLimits::default()) {
            Ok(m) => m,
            Err(e) => panic!(
                "NACK does not parse: {e}\n{:?}",
                String::from_utf8_lossy(&nack)
            ),
        };
        let (code, acked) = read_ack(&msg).unwrap_or_else(|| panic!("NACK without MSA"));
        assert_eq!(code.raw(), refusal.code.as_str().as_bytes(), "NACK MSA-1");
        assert_eq!(
            acked.raw(),
            expected_msa2(header),
            "NACK MSA-2 does not name the refused MSH-10"
        );
        // What the sender receives: one MLLP frame holding exactly the NACK.
        let framed = wrap(&nack);
        let info = MllpFramer::new(framed.len()).next_frame(&framed);
        assert!(
            matches!(&info, Ok(Some(f)) if f.consumed == framed.len() && f.kind == FrameKind::Message),
            "the wrapped NACK is not one MLLP frame: {info:?}"
        );
        self.refused.push(i);
        self.outcome.refused += 1;
    }

    /// Bytes from the upstream; false when the connection closes.
    fn upstream_bytes(&mut self, bytes: &[u8]) -> bool {
        // No upstream connection yet: nothing can arrive from it.
        let Some(up) = self.upstream.as_mut() else {
            return true;
        };
        up.inbox.push(bytes);
        loop {
            let Some(up) = self.upstream.as_mut() else {
                return true;
            };
            let info = match up.framer.next_frame(up.inbox.front()) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(_) => {
                    // The upstream's framing broke: it is dropped; with messages owed an
                    // acknowledgement the client connection closes too.
                    let owed = !up.outstanding.is_empty();
                    self.end_upstream();
                    return !owed;
                }
            };
            let i = up.inbox.take(info.consumed);
            match info.kind {
                FrameKind::Message => self.outbound_message(i, info.payload),
                FrameKind::CommitAck | FrameKind::CommitNak => self.relay_upstream(i),
            }
        }
        if let Some(up) = &self.upstream {
            assert!(
                up.inbox.pending() <= self.max + 2,
                "{} bytes buffered from the upstream with a {}-byte frame limit",
                up.inbox.pending(),
                self.max
            );
        }
        true
    }

    fn outbound_message(&mut self, i: usize, payload: std::ops::Range<usize>) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let frame = up.inbox.frame(i).to_vec();
        let payload = frame.get(payload).unwrap_or_default();
        let Ok(msg) = Message::parse(payload, &self.limits) else {
            if self.opts.fail_open {
                self.relay_upstream(i);
            }
            return;
        };
        let forward = match read_ack(&msg).map(|(_, id)| id.raw().to_vec()) {
            Some(id) => match up.outstanding.iter().position(|o| *o == id) {
                Some(k) => {
                    up.outstanding.remove(k);
                    true
                }
                None => self.opts.flag_unmatched,
            },
            None => true,
        };
        if forward {
            // Never a positive acknowledgement for a message the upstream did not receive.
            if let (Some((_, id)), false) = (read_ack(&msg), self.opts.flag_unmatched) {
                assert!(
                    up.sent_ids.iter().any(|s| s.as_slice() == id.raw()),
                    "relayed an acknowledgement for {:?}, never forwarded",
                    String::from_utf8_lossy(id.raw())
                );
            }
            self.relay_upstream(i);
        }
    }

    fn relay_upstream(&mut self, i: usize) {
        if let Some(up) = &self.upstream {
            self.to_client.relay(&up.inbox, i);
            self.outcome.relayed += 1;
        }
    }

    /// The upstream connection ends: what was relayed from it is checked, and a later
    /// forward opens a new one.
    fn end_upstream(&mut self) {
        if let Some(up) = self.upstream.take() {
            let reference = reference_frames(&up.inbox.stream, self.max);
            up.inbox.check_framing(&reference, "upstream");
            self.to_client
                .check_relayed(&up.inbox, &[], "to the sender");
        }
        self.to_client = Output::default();
    }

    /// The end-of-run invariants: framing independent of chunking, and only complete input
    /// frames, never a refused one, forwarded in order.
    fn check(&mut self) {
        let reference = reference_frames(&self.client.stream, self.max);
        self.client.check_framing(&reference, "sender");
        self.to_upstream
            .check_relayed(&self.client, &self.refused, "to the upstream");
        self.end_upstream();
    }
}

fn control_id(h: &Header<'_>) -> Vec<u8> {
    h.control_id().map(|v| v.raw().to_vec()).unwrap_or_default()
}

/// MSA-2 echoes MSH-10 as the ST it is: up to the first repetition, component or subcomponent
/// separator.
fn expected_msa2<'a>(h: &Header<'a>) -> &'a [u8] {
    let d = h.delimiters();
    let msh10 = h.segment().field(10).map(|f| f.raw()).unwrap_or_default();
    msh10
        .split(|&b| {
            (b == d.repetition && d.repetition != d.field)
                || b == d.component
                || Some(b) == d.subcomponent
        })
        .next()
        .unwrap_or_default()
}
