//! The pump (WPP) decision path (the proxy's `pump_conn/`): `FrameDecoder` → `Frame::parse` →
//! `RuleSet::evaluate_pump` with the route's `PumpState` → forward the original frame, or
//! `build_nak` for the controller; the pump's responses are matched to forwarded sequences and
//! observed into the state.

use std::collections::VecDeque;

use wardgate_pump::{
    CRC_LEN, Command, CommandCode, DeviceId, Frame, FrameDecoder, FrameError, HEADER_LEN, Header,
    MAX_CHANNELS, MAX_PAYLOAD, NakReason, ReplyTo, build_nak,
};

use super::decision::{Inbox, Options, Output, PathOutcome, Peer, chunks};
use crate::{PumpState, RuleSet, Sender, Verdict};

/// The proxy's default `max_message_bytes` (whole frame, header and CRC included).
const DEFAULT_MAX_MESSAGE: usize = 1 << 20;
/// PIV codes whose refusals carry NAK reason LIMIT_EXCEEDED (the proxy's `pump_conn/wire.rs`).
const LIMIT_CODES: [u16; 3] = [9005, 9014, 9024];

struct Sent {
    sequence: u32,
}

struct Conn<'r> {
    rules: &'r RuleSet,
    sender: &'r Sender,
    opts: Options,
    decoder: FrameDecoder,
    state: PumpState,
    capacity: usize,
    now_ms: u64,
    client: Inbox,
    /// One upstream connection for the run (the model's pump never drops it).
    upstream: Option<Inbox>,
    awaiting: VecDeque<Sent>,
    unanswered: VecDeque<Sent>,
    pump_requests: VecDeque<u32>,
    /// Every sequence forwarded to the pump.
    sent_sequences: Vec<u32>,
    to_upstream: Output,
    to_client: Output,
    refused: Vec<usize>,
    outcome: PathOutcome,
}

/// The payload limit for a route whose `max_message_bytes` caps the whole frame.
fn payload_limit(max_frame_bytes: usize) -> u32 {
    let payload = max_frame_bytes.saturating_sub(HEADER_LEN + CRC_LEN);
    u32::try_from(payload)
        .unwrap_or(MAX_PAYLOAD)
        .min(MAX_PAYLOAD)
}

pub(super) fn run(rules: &RuleSet, sender: &Sender, opts: Options, data: &[u8]) -> PathOutcome {
    let decoder = FrameDecoder::new(payload_limit(opts.frame_limit(DEFAULT_MAX_MESSAGE, 64)));
    // A small channel table, so the fuzzer reaches the least-recently-used eviction.
    let capacity = opts.max_outstanding;
    let mut c = Conn {
        rules,
        sender,
        opts,
        decoder,
        state: PumpState::new(capacity),
        capacity,
        now_ms: 0,
        client: Inbox::default(),
        upstream: None,
        awaiting: VecDeque::new(),
        unanswered: VecDeque::new(),
        pump_requests: VecDeque::new(),
        sent_sequences: Vec::new(),
        to_upstream: Output::default(),
        to_client: Output::default(),
        refused: Vec::new(),
        outcome: PathOutcome::default(),
    };
    for chunk in chunks(data) {
        c.now_ms = c.now_ms.saturating_add(chunk.advance_s * 1000);
        let open = match chunk.from {
            Peer::Client => c.client_bytes(chunk.bytes),
            Peer::Upstream => c.upstream_bytes(chunk.bytes),
        };
        assert!(
            c.state.tracked() <= c.capacity,
            "the pump state tracks {} channels, over its bound of {}",
            c.state.tracked(),
            c.capacity
        );
        if !open {
            c.outcome.closed = true;
            break;
        }
    }
    c.check();
    c.outcome
}

/// Every complete frame of `stream`, framed in one piece, up to the first error.
fn reference_frames(decoder: FrameDecoder, stream: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = stream;
    let mut out = Vec::new();
    while let Ok(Some(info)) = decoder.next_frame(rest) {
        let (frame, after) = rest.split_at(info.consumed);
        out.push(frame.to_vec());
        rest = after;
    }
    out
}

impl Conn<'_> {
    /// The most bytes an inbox may hold after taking every complete frame.
    fn max_pending(&self) -> usize {
        HEADER_LEN + self.decoder.max_payload() as usize + CRC_LEN
    }

    fn client_bytes(&mut self, bytes: &[u8]) -> bool {
        self.client.push(bytes);
        loop {
            let info = match self.decoder.next_frame(self.client.front()) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(e) => {
                    // A bad CRC under a readable request header is answered NAK 2; then the
                    // connection closes either way.
                    if let FrameError::BadCrc { .. } = e {
                        let h = self
                            .client
                            .front()
                            .get(..HEADER_LEN)
                            .and_then(|b| Header::parse(b).ok());
                        if let Some(h) = h.filter(|h| !h.flags.response) {
                            self.nak(None, &h, NakReason::CRC, &e.to_string());
                        }
                    }
                    return false;
                }
            };
            let i = self.client.take(info.consumed);
            if !self.inbound_frame(i) {
                return false;
            }
        }
        assert!(
            self.client.pending() < self.max_pending(),
            "{} bytes buffered from the controller, a whole frame is at most {}",
            self.client.pending(),
            self.max_pending()
        );
        true
    }

    fn inbound_frame(&mut self, i: usize) -> bool {
        let bytes = self.client.frame(i).to_vec();
        let frame = match Frame::parse(&bytes) {
            Ok(f) => f,
            Err(e) => {
                let header = Header::parse(&bytes).ok();
                if self.opts.fail_open {
                    match header {
                        Some(h) if !h.flags.response => self.forward(i, &h),
                        _ => self.forward_raw(i),
                    }
                    return true;
                }
                return match header {
                    Some(h) if !h.flags.response => {
                        let text = format!("wardgate could not parse the frame: {e}");
                        self.nak(Some(i), &h, e.nak_reason(), &text);
                        true
                    }
                    // A response cannot be answered: dropped.
                    Some(_) => true,
                    // No header, no NAK: the connection closes.
                    None => false,
                };
            }
        };
        let h = frame.header;
        if h.flags.response {
            // The controller's response to one of the pump's own requests (an ALARM's ACK).
            let matched = self.pump_requests.iter().position(|&s| s == h.sequence);
            if let Some(k) = matched {
                self.pump_requests.remove(k);
            }
            if matched.is_some() || self.opts.flag_unmatched {
                self.forward_raw(i);
            }
            return true;
        }
        match self
            .rules
            .evaluate_pump(&frame, self.sender, self.now_ms, &mut self.state)
        {
            Verdict::Permit(_) => self.forward(i, &h),
            Verdict::Deny(d) => {
                let reason = match d.application_code {
                    Some(c) if LIMIT_CODES.contains(&c) => NakReason::LIMIT_EXCEEDED,
                    _ => NakReason::REFUSED_BY_POLICY,
                };
                let text = format!("{}: {}", d.rule, d.reason);
                self.nak(Some(i), &h, reason, &text);
            }
        }
        true
    }

    /// Forward a request, or NAK it (busy) when too many await the pump's response.
    fn forward(&mut self, i: usize, h: &Header) {
        let owed =
            h.flags.ack_requested || matches!(h.code, CommandCode::HELLO | CommandCode::STATUS);
        if owed && self.awaiting.len() >= self.opts.max_outstanding {
            self.rules.pump_undelivered(h, &mut self.state);
            let text = "wardgate: too many commands await the pump's response; resend later";
            return self.nak(Some(i), h, NakReason::BUSY, text);
        }
        self.forward_raw(i);
        let sent = Sent {
            sequence: h.sequence,
        };
        if owed {
            self.awaiting.push_back(sent);
        } else {
            if self.unanswered.len() >= self.opts.max_outstanding {
                self.unanswered.pop_front();
            }
            self.unanswered.push_back(sent);
        }
    }

    fn forward_raw(&mut self, i: usize) {
        if let Ok(h) = Header::parse(self.client.frame(i)) {
            self.sent_sequences.push(h.sequence);
        }
        self.upstream.get_or_insert_with(Inbox::default);
        self.to_upstream.relay(&self.client, i);
        self.outcome.forwarded += 1;
    }

    /// NAK a request: the NAK must parse, be a response, and name the refused request's
    /// sequence, device and channel with the reason given.
    fn nak(&mut self, i: Option<usize>, h: &Header, reason: NakReason, text: &str) {
        let nak = build_nak(&ReplyTo::from(h), reason, Some(text));
        let parsed = match Frame::parse(&nak) {
            Ok(f) => f,
            Err(e) => panic!("the NAK does not parse: {e}"),
        };
        assert!(parsed.header.flags.response, "the NAK is not a response");
        assert_eq!(parsed.header.sequence, h.sequence, "NAK sequence");
        // docs/pump-protocol.md §4.4: an unaddressed request is answered as device `?`, a
        // channel over the maximum as channel 0; otherwise both are echoed.
        let device = if h.device.is_unaddressed() {
            DeviceId::new("?").unwrap_or(DeviceId::UNADDRESSED)
        } else {
            h.device
        };
        let channel = if h.channel > MAX_CHANNELS {
            0
        } else {
            h.channel
        };
        assert_eq!(parsed.header.device, device, "NAK device");
        assert_eq!(parsed.header.channel, channel, "NAK channel");
        match parsed.command {
            Command::Nak(n) => assert_eq!(n.reason, reason, "NAK reason"),
            other => panic!("the NAK parses as {other:?}"),
        }
        // The route's limit is for what wardgate receives; its own NAK (at most 256 bytes of
        // text) is checked against the protocol's limit.
        assert_eq!(
            FrameDecoder::default()
                .next_frame(&nak)
                .ok()
                .flatten()
                .map(|f| f.consumed),
            Some(nak.len()),
            "the NAK is not exactly one frame"
        );
        if let Some(i) = i {
            self.refused.push(i);
        }
        self.outcome.refused += 1;
    }

    fn upstream_bytes(&mut self, bytes: &[u8]) -> bool {
        let Some(up) = self.upstream.as_mut() else {
            return true;
        };
        up.push(bytes);
        loop {
            let Some(up) = self.upstream.as_mut() else {
                return true;
            };
            let info = match self.decoder.next_frame(up.front()) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                // The pump's framing broke: with commands owed a response the controller's
                // connection closes; the model ends the run either way (see FUZZING.md).
                Err(_) => return false,
            };
            let i = up.take(info.consumed);
            self.outbound_frame(i);
        }
        let pending = self.upstream.as_ref().map_or(0, Inbox::pending);
        assert!(
            pending < self.max_pending(),
            "{pending} bytes buffered from the pump, a whole frame is at most {}",
            self.max_pending()
        );
        true
    }

    fn outbound_frame(&mut self, i: usize) {
        let Some(up) = self.upstream.as_ref() else {
            return;
        };
        let bytes = up.frame(i).to_vec();
        let Ok(frame) = Frame::parse(&bytes) else {
            if self.opts.fail_open {
                self.relay(i);
            }
            return;
        };
        let h = frame.header;
        let forward = if h.flags.response {
            let seq = h.sequence;
            if let Some(k) = self.awaiting.iter().position(|o| o.sequence == seq) {
                self.awaiting.remove(k);
                true
            } else if let Some(k) = self.unanswered.iter().position(|o| o.sequence == seq) {
                self.unanswered.remove(k);
                true
            } else {
                self.opts.flag_unmatched
            }
        } else {
            if h.flags.ack_requested {
                if self.pump_requests.len() >= self.opts.max_outstanding {
                    self.pump_requests.pop_front();
                }
                self.pump_requests.push_back(h.sequence);
            }
            true
        };
        if forward {
            if h.flags.response && !self.opts.flag_unmatched {
                assert!(
                    self.sent_sequences.contains(&h.sequence),
                    "relayed a response to sequence {}, never forwarded",
                    h.sequence
                );
            }
            self.rules
                .observe_pump(&frame, self.now_ms, &mut self.state);
            self.relay(i);
        }
    }

    fn relay(&mut self, i: usize) {
        if let Some(up) = &self.upstream {
            self.to_client.relay(up, i);
            self.outcome.relayed += 1;
        }
    }

    fn check(&self) {
        let reference = reference_frames(self.decoder, &self.client.stream);
        self.client.check_framing(&reference, "controller");
        self.to_upstream
            .check_relayed(&self.client, &self.refused, "to the pump");
        if let Some(up) = &self.upstream {
            up.check_framing(&reference_frames(self.decoder, &up.stream), "pump");
            self.to_client.check_relayed(up, &[], "to the controller");
        }
    }
}
