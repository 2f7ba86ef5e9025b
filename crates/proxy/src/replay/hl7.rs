//! HL7 v2 over MLLP in a capture: messages from the client judged as the proxy judges them (at
//! the packet's time), replies from the server matched to the messages they acknowledge.

use wardgate_hl7::{FrameKind, Header, Message, MllpFramer, ParseLimits, read_ack};

use super::emit::{Ctx, Dir, Judge, Out, Outstanding, RxBuf, plain, unframed, verdict};
use super::hl7_type;

/// One MLLP connection.
pub(crate) struct Hl7Judge {
    rx: [RxBuf; 2],
    framer: [MllpFramer; 2],
    /// A framing error ended judging of this direction.
    dead: [bool; 2],
    /// MSH-10 of client messages and whether they were allowed.
    sent: Outstanding<String>,
    limits: ParseLimits,
}

impl Hl7Judge {
    pub(crate) fn new(max_message_bytes: usize) -> Self {
        Self {
            rx: [RxBuf::default(), RxBuf::default()],
            framer: [
                MllpFramer::new(max_message_bytes),
                MllpFramer::new(max_message_bytes),
            ],
            dead: [false; 2],
            sent: Outstanding::new(),
            limits: ParseLimits::default(),
        }
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, payload: &[u8]) {
        let msg = match Message::parse(payload, &self.limits) {
            Ok(m) => m,
            Err(e) => {
                let t = Header::parse(payload).ok().map(|h| hl7_type(&h));
                let who = match dir {
                    Dir::Inbound => "message",
                    Dir::Outbound => "upstream reply",
                };
                out.line(
                    dir,
                    plain(
                        "malformed",
                        t,
                        None,
                        Some(format!("{who} does not parse: {e}")),
                    ),
                );
                return;
            }
        };
        let header = msg.header();
        let t = Some(hl7_type(header));
        let id = header.control_id().map(|v| v.to_text());
        match dir {
            Dir::Inbound => {
                let v = ctx
                    .rules
                    .evaluate_hl7_at(&msg, ctx.sender, Some(ctx.now_ms));
                if let Some(id) = &id {
                    self.sent
                        .push(id.clone(), matches!(v, wardgate_rules::Verdict::Permit(_)));
                }
                out.line(dir, verdict(t, id, &v));
            }
            Dir::Outbound => {
                let line = match read_ack(&msg).map(|(_, acked)| acked.to_text()) {
                    Some(acked) => match self.sent.answer(&acked, true) {
                        Some(true) => plain("allow", t, id, None),
                        Some(false) => plain(
                            "unmatched-ack",
                            t,
                            id,
                            Some(format!(
                                "acknowledges {acked:?}, which these rules refuse: behind wardgate it would not have reached the server"
                            )),
                        ),
                        None => plain(
                            "unmatched-ack",
                            t,
                            id,
                            Some(format!(
                                "acknowledges {acked:?}, which was not judged on this connection (never sent, or lost in a gap of the capture)"
                            )),
                        ),
                    },
                    None => plain("allow", t, id, Some("upstream message without MSA".into())),
                };
                out.line(dir, line);
            }
        }
    }
}

impl Judge for Hl7Judge {
    fn data(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, bytes: &[u8]) {
        let d = dir.index();
        if self.dead[d] {
            return;
        }
        self.rx[d].push(bytes);
        loop {
            let rx = &self.rx[d];
            match self.framer[d].next_frame(rx.unread()) {
                Ok(Some(info)) => {
                    let payload = rx
                        .unread()
                        .get(info.payload.clone())
                        .unwrap_or_default()
                        .to_vec();
                    self.rx[d].pos += info.consumed;
                    if info.kind == FrameKind::Message {
                        self.message(ctx, out, dir, &payload);
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let n = self.rx[d].clear();
                    self.dead[d] = true;
                    out.line(dir, unframed(e, n));
                    return;
                }
            }
        }
    }

    fn discard(&mut self, dir: Dir) -> usize {
        let d = dir.index();
        self.framer[d] = MllpFramer::new(self.framer[d].max_payload());
        self.rx[d].clear()
    }

    fn end(&mut self, out: &mut Out<'_>) {
        for dir in [Dir::Inbound, Dir::Outbound] {
            let n = self.rx[dir.index()].clear();
            if n > 0 && !self.dead[dir.index()] {
                out.line(
                    dir,
                    plain(
                        "malformed",
                        None,
                        None,
                        Some(format!(
                            "the connection ended inside an MLLP block ({n} bytes); nothing of it would have been forwarded"
                        )),
                    ),
                );
            }
        }
    }
}
