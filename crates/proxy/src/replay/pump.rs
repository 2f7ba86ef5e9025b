//! The pump protocol in a capture: the controller's commands judged as the proxy judges them
//! (at the packet's time, against the route's pump state), the pump's responses and alarms
//! observed into that state, as the proxy feeds it.

use wardgate_pump::{Command, Frame, FrameDecoder, Header};
use wardgate_rules::Verdict;

use super::emit::{Ctx, Dir, Judge, Out, Outstanding, RxBuf, plain, unframed, verdict};

/// One pump connection.
pub(crate) struct PumpJudge {
    rx: [RxBuf; 2],
    decoder: FrameDecoder,
    dead: [bool; 2],
    /// Commands sent by the controller, by device and sequence, and whether they were allowed.
    sent: Outstanding<(String, u32)>,
}

fn name(h: &Header) -> String {
    h.code
        .name()
        .map_or_else(|| h.code.to_string(), str::to_owned)
}

fn control_id(h: &Header) -> String {
    format!("{}/{}#{}", h.device, h.channel, h.sequence)
}

impl PumpJudge {
    pub(crate) fn new(max_payload: u32) -> Self {
        Self {
            rx: [RxBuf::default(), RxBuf::default()],
            decoder: FrameDecoder::new(max_payload),
            dead: [false; 2],
            sent: Outstanding::new(),
        }
    }

    fn frame(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, bytes: &[u8]) {
        let frame = match Frame::parse(bytes) {
            Ok(f) => f,
            Err(e) => {
                let h = Header::parse(bytes).ok();
                out.line(
                    dir,
                    plain(
                        "malformed",
                        h.as_ref().map(name),
                        h.as_ref().map(control_id),
                        Some(format!("frame does not parse: {e}")),
                    ),
                );
                return;
            }
        };
        let h = frame.header;
        let (t, id) = (Some(name(&h)), Some(control_id(&h)));
        let now = u64::try_from(ctx.now_ms).unwrap_or(0);
        match dir {
            Dir::Inbound if h.flags.response => {
                // The controller answering the pump's own request (an ALARM's ACK).
                out.line(dir, plain("allow", t, id, None));
            }
            Dir::Inbound => {
                let v = ctx.rules.evaluate_pump(&frame, ctx.sender, now, ctx.pump);
                let allowed = matches!(v, Verdict::Permit(_));
                self.sent.push((h.device.to_string(), h.sequence), allowed);
                out.line(dir, verdict(t, id, &v));
            }
            Dir::Outbound => {
                let refused = h.flags.response
                    && self.sent.answer(&(h.device.to_string(), h.sequence), true) == Some(false);
                if refused {
                    out.line(
                        dir,
                        plain(
                            "unmatched-ack",
                            t,
                            id,
                            Some(format!(
                                "response to sequence {}, which these rules refuse: behind wardgate the pump would not have seen it",
                                h.sequence
                            )),
                        ),
                    );
                    return;
                }
                ctx.rules.observe_pump(&frame, now, ctx.pump);
                let reason = match &frame.command {
                    Command::Nak(n) => Some(format!("pump refused: {}", n.reason)),
                    _ => None,
                };
                out.line(dir, plain("allow", t, id, reason));
            }
        }
    }
}

impl Judge for PumpJudge {
    fn data(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, bytes: &[u8]) {
        let d = dir.index();
        if self.dead[d] {
            return;
        }
        self.rx[d].push(bytes);
        loop {
            let rx = &self.rx[d];
            match self.decoder.next_frame(rx.unread()) {
                Ok(Some(info)) => {
                    let frame = rx
                        .unread()
                        .get(..info.consumed)
                        .unwrap_or_default()
                        .to_vec();
                    self.rx[d].pos += info.consumed;
                    self.frame(ctx, out, dir, &frame);
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
        self.rx[dir.index()].clear()
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
                            "the connection ended inside a frame ({n} bytes); nothing of it would have been forwarded"
                        )),
                    ),
                );
            }
        }
    }
}
