//! One HL7/MLLP connection: frame, parse, judge, then forward the original bytes or refuse with a
//! NACK; upstream acknowledgements flow back through the same inspection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;
use wardgate_hl7::{
    AckCode, AckMode, ErrorCode, FrameKind, Header, Message, MllpError, MllpFramer, ParseError,
    Refusal, ReplyContext, Severity, build_nack, read_ack, wrap,
};
use wardgate_rules::{Sender, Verdict};

use crate::audit::AuditRecord;
use crate::audit_gate::{self, Ahead};
use crate::config::{FailurePolicy, UnmatchedAck};
use crate::io::BoxedIo;
use crate::route::Route;
use crate::waiter::{Event, Waiter};
use crate::{clock, telemetry, upstream};

pub use crate::inbox::READ_CHUNK;

/// Who is on the client side of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Connection number.
    pub id: u64,
    /// Socket address.
    pub addr: SocketAddr,
    /// Identity for rules.
    pub sender: Sender,
    /// Original destination and upstream of this connection (see [`crate::transparent`]).
    pub target: crate::transparent::Intercepted,
}

/// A complete MLLP frame taken from an inbox: the whole envelope and where its payload lies.
pub struct Frame {
    bytes: Vec<u8>,
    kind: FrameKind,
    payload: std::ops::Range<usize>,
}

impl crate::inbox::Framer for MllpFramer {
    type Info = (FrameKind, std::ops::Range<usize>);
    type Frame = Frame;
    type Error = MllpError;

    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<(usize, Self::Info)>, MllpError> {
        Ok(MllpFramer::next_frame(self, buf)?.map(|i| (i.consumed, (i.kind, i.payload))))
    }

    fn finish(bytes: Vec<u8>, (kind, payload): Self::Info) -> Frame {
        Frame {
            bytes,
            kind,
            payload,
        }
    }
}

type Inbox = crate::inbox::Inbox<MllpFramer>;

/// A message forwarded upstream and not yet acknowledged.
struct Outstanding {
    control_id: Vec<u8>,
    sent: Instant,
}

struct Upstream {
    io: BoxedIo,
    inbox: Inbox,
}

/// Why a connection ends.
#[derive(Debug)]
enum Close {
    /// Orderly: EOF, idle, shutdown.
    Done,
    /// Something went wrong; already audited or logged.
    Abort,
}

struct Driver {
    route: Arc<Route>,
    peer: Peer,
    client: BoxedIo,
    inbox: Inbox,
    upstream: Option<Upstream>,
    outstanding: VecDeque<Outstanding>,
    last_activity: Instant,
    /// The peer's address as audited, formatted once per connection rather than per message.
    peer_text: String,
}

/// Read from the upstream into its inbox; pending forever when there is no upstream yet.
async fn read_upstream(up: Option<&mut Upstream>) -> std::io::Result<usize> {
    match up {
        Some(up) => up.inbox.read_from(&mut up.io).await,
        None => std::future::pending().await,
    }
}

/// Serve one client connection until it closes, idles out, or shutdown drains it.
pub async fn serve(
    route: Arc<Route>,
    peer: Peer,
    client: BoxedIo,
    shutdown: watch::Receiver<bool>,
) {
    let max = route.config.limits.max_message_bytes;
    let mut driver = Driver {
        route,
        peer,
        client,
        inbox: Inbox::new(MllpFramer::new(max)),
        upstream: None,
        outstanding: VecDeque::new(),
        last_activity: Instant::now(),
        peer_text: String::new(),
    };
    driver.peer_text = driver.peer.addr.to_string();
    let _ = driver.run(shutdown).await;
    if let Some(mut up) = driver.upstream.take() {
        let _ = up.io.shutdown().await;
    }
    let _ = driver.client.shutdown().await;
}

impl Driver {
    fn base_record(&self, direction: &'static str) -> AuditRecord {
        AuditRecord {
            connection: self.peer.id,
            peer: self.peer_text.clone(),
            original_dst: self.peer.target.original_dst.map(|a| a.to_string()),
            cert_subject: self
                .peer
                .sender
                .certificate
                .as_ref()
                .and_then(|c| c.common_name.clone()),
            direction,
            ..AuditRecord::default()
        }
    }

    fn connection_event(&self, direction: &'static str, verdict: &'static str, reason: String) {
        let mut rec = self.base_record(direction);
        rec.verdict = verdict;
        rec.reason = Some(reason);
        self.route.audit(rec);
    }

    async fn run(&mut self, shutdown: watch::Receiver<bool>) -> Result<(), Close> {
        let limits = self.route.config.limits;
        let mut client_open = true;
        let mut wait = Waiter::new(shutdown, self.deadline(true, limits));
        loop {
            // Stop when nothing more can happen: the client is gone or drained, and every forwarded
            // message has been acknowledged.
            let reading_client = client_open && (!wait.draining() || self.inbox.pending());
            if !reading_client && self.outstanding.is_empty() {
                return Ok(());
            }
            let deadline = self.deadline(reading_client, limits);
            let client = reading_client.then(|| self.inbox.read_from(&mut self.client));
            match wait
                .next(deadline, client, read_upstream(self.upstream.as_mut()))
                .await
            {
                Event::Client(r) => {
                    let n = r.map_err(|_| Close::Abort)?;
                    if n == 0 {
                        client_open = false;
                        if self.inbox.pending() {
                            telemetry::parse_error(self.route.name(), "truncated");
                            self.connection_event("inbound", "closed",
                                "sender closed the connection in the middle of a frame; nothing of it was forwarded".into());
                        }
                        continue;
                    }
                    self.last_activity = Instant::now();
                    self.drain_inbound().await?;
                }
                Event::Upstream(Ok(n)) if n > 0 => {
                    self.last_activity = Instant::now();
                    self.drain_outbound().await?;
                }
                Event::Upstream(_) => self.upstream_gone("the upstream closed the connection")?,
                Event::Deadline => self.on_deadline(reading_client, limits)?,
                Event::Shutdown => {}
            }
        }
    }

    fn deadline(&self, reading_client: bool, limits: crate::config::Limits) -> Instant {
        let mut deadline = self.last_activity + limits.idle_timeout;
        if let Some(started) = self.inbox.frame_started().filter(|_| reading_client) {
            deadline = deadline.min(started + limits.frame_timeout);
        }
        if let Some(first) = self.outstanding.front() {
            deadline = deadline.min(first.sent + limits.ack_timeout);
        }
        if let Some(started) = self.upstream.as_ref().and_then(|u| u.inbox.frame_started()) {
            deadline = deadline.min(started + limits.frame_timeout);
        }
        deadline
    }

    fn on_deadline(
        &mut self,
        reading_client: bool,
        limits: crate::config::Limits,
    ) -> Result<(), Close> {
        let now = Instant::now();
        if let Some(first) = self.outstanding.front() {
            if now >= first.sent + limits.ack_timeout {
                self.lose_outstanding("the upstream did not acknowledge in time");
                return Err(Close::Abort);
            }
        }
        if let Some(started) = self.inbox.frame_started().filter(|_| reading_client) {
            if now >= started + limits.frame_timeout {
                telemetry::parse_error(self.route.name(), "frame-timeout");
                self.connection_event(
                    "inbound",
                    "closed",
                    format!(
                        "frame not completed within {:?}; nothing of it was forwarded",
                        limits.frame_timeout
                    ),
                );
                return Err(Close::Abort);
            }
        }
        if self
            .upstream
            .as_ref()
            .and_then(|u| u.inbox.frame_started())
            .is_some_and(|s| now >= s + limits.frame_timeout)
        {
            return self.upstream_gone("the upstream did not complete a frame in time");
        }
        if now >= self.last_activity + limits.idle_timeout {
            tracing::debug!(route = %self.route.name(), conn = self.peer.id, "idle timeout");
            return Err(Close::Done);
        }
        Ok(())
    }

    /// Every forwarded message without an acknowledgement is audited as lost; the client
    /// connection then closes, so the sender resends instead of believing it was delivered.
    fn lose_outstanding(&mut self, why: &str) {
        telemetry::upstream_failure(self.route.name(), "lost");
        for o in self.outstanding.drain(..).collect::<Vec<_>>() {
            let mut rec = self.base_record("inbound");
            rec.verdict = "upstream-lost";
            rec.control_id = Some(String::from_utf8_lossy(&o.control_id).into_owned());
            rec.reason = Some(format!("{why}; no acknowledgement reached the sender"));
            rec.forwarded = true;
            self.route.audit(rec);
        }
    }

    fn upstream_gone(&mut self, why: &str) -> Result<(), Close> {
        self.upstream = None;
        if self.outstanding.is_empty() {
            return Ok(());
        }
        self.lose_outstanding(why);
        Err(Close::Abort)
    }

    async fn drain_inbound(&mut self) -> Result<(), Close> {
        loop {
            let frame = match self.inbox.take() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    telemetry::parse_error(self.route.name(), mllp_kind(&e));
                    self.connection_event(
                        "inbound",
                        "closed",
                        format!("{e}; connection closed, nothing of the frame was forwarded"),
                    );
                    return Err(Close::Abort);
                }
            };
            match frame.kind {
                // Boxed: the judging future is several KiB and only lives while a message is
                // judged, so an idle connection does not carry it (see `server::handle`).
                FrameKind::Message => Box::pin(self.inbound_message(frame)).await?,
                // Commit-level ACK/NAK blocks carry no content; pass them on if there is a peer.
                FrameKind::CommitAck | FrameKind::CommitNak => {
                    if let Some(up) = self.upstream.as_mut() {
                        send(&mut up.io, &frame.bytes)
                            .await
                            .map_err(|_| Close::Abort)?;
                    }
                }
            }
        }
    }

    async fn inbound_message(&mut self, frame: Frame) -> Result<(), Close> {
        let started = std::time::Instant::now();
        let payload = frame.bytes.get(frame.payload.clone()).unwrap_or_default();
        let mut rec = self.base_record("inbound");
        rec.bytes = payload.len();
        rec.sha256 = Some(crate::audit::to_hex(&Sha256::digest(payload)));
        let route = self.route.clone();
        match Message::parse(payload, &route.parse_limits) {
            Ok(msg) => {
                if let Some(inventory) = route.learned() {
                    inventory.hl7(&route, &self.peer, &msg, true);
                }
                let header = msg.header();
                rec.message_type = Some(message_type(header));
                rec.control_id = header.control_id().map(|v| v.to_text());
                let now_ms = SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let glass = crate::breakglass::in_force(&route);
                rec.break_glass = glass.marks;
                let verdict = route.rules().evaluate_hl7_with(
                    &msg,
                    &self.peer.sender,
                    Some(now_ms),
                    &glass.overrides,
                );
                telemetry::inspection_time(route.name(), started.elapsed());
                if let Some(rule) = verdict.rule() {
                    telemetry::rule_verdict(route.name(), rule, verdict.label());
                }
                match verdict {
                    Verdict::Permit(p) => {
                        rec.verdict = verdict_label(&p);
                        rec.rule = p.rule.as_deref().map(str::to_owned);
                        rec.alerts = p.alerts;
                        rec.audit = p
                            .audit
                            .iter()
                            .map(|d| format!("{}: {}", d.rule, d.reason))
                            .collect();
                        let control = header
                            .control_id()
                            .map(|v| v.raw().to_vec())
                            .unwrap_or_default();
                        self.forward(&frame.bytes, control, header, rec).await
                    }
                    Verdict::Deny(d) => {
                        rec.verdict = "deny";
                        rec.rule = Some(d.rule.to_string());
                        rec.reason = Some(d.reason.clone());
                        rec.code = d.application_code;
                        // Every HL7 denial carries ERR-3; 207 only guards a denial built elsewhere.
                        let error = d
                            .hl7_error
                            .map_or(ErrorCode::APPLICATION_INTERNAL_ERROR, ErrorCode);
                        telemetry::refusal(
                            route.name(),
                            d.application_code
                                .map_or_else(|| error.0.to_string(), |c| c.to_string()),
                        );
                        let code = match header.ack_mode() {
                            AckMode::Original => AckCode::AR,
                            AckMode::Enhanced => AckCode::CR,
                        };
                        let text = format!("refused by wardgate rule {}: {}", d.rule, d.reason);
                        let refusal = Refusal {
                            code,
                            error,
                            severity: Severity::Error,
                            application_code: d.application_code,
                            user_message: &text,
                        };
                        self.refuse(header, &refusal, rec).await
                    }
                }
            }
            Err(e) => self.inbound_malformed(&frame, payload, e, rec).await,
        }
    }

    async fn inbound_malformed(
        &mut self,
        frame: &Frame,
        payload: &[u8],
        error: ParseError,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        telemetry::parse_error(self.route.name(), "hl7");
        let header = Header::parse(payload).ok();
        if let Some(h) = &header {
            rec.message_type = Some(message_type(h));
            rec.control_id = h.control_id().map(|v| v.to_text());
        }
        rec.reason = Some(format!("message does not parse: {error}"));
        if self.route.config.failure_policy == FailurePolicy::Open {
            rec.verdict = "fail-open";
            tracing::warn!(route = %self.route.name(), conn = self.peer.id, %error, "forwarding an uninspectable message (failure_policy = open)");
            let control = header
                .as_ref()
                .and_then(|h| h.control_id())
                .map(|v| v.raw().to_vec())
                .unwrap_or_default();
            return match header {
                Some(h) => self.forward(&frame.bytes, control, &h, rec).await,
                None => self.forward_raw(&frame.bytes, control, rec).await,
            };
        }
        rec.verdict = "malformed";
        let Some(h) = header else {
            rec.reason = Some(format!(
                "{}; no MSH could be read, connection closed",
                rec.reason.unwrap_or_default()
            ));
            self.route.audit(rec);
            return Err(Close::Abort);
        };
        let code = match h.ack_mode() {
            AckMode::Original => AckCode::AE,
            AckMode::Enhanced => AckCode::CE,
        };
        let error_code = match error {
            ParseError::MissingField { .. } => ErrorCode::REQUIRED_FIELD_MISSING,
            ParseError::TooManySegments { .. }
            | ParseError::TooManyFields { .. }
            | ParseError::TooManyRepetitions { .. }
            | ParseError::TooManyComponents { .. }
            | ParseError::TooManySubcomponents { .. } => ErrorCode::APPLICATION_INTERNAL_ERROR,
            _ => ErrorCode::SEGMENT_SEQUENCE,
        };
        let text = format!("wardgate could not parse the message: {error}");
        let refusal = Refusal {
            code,
            error: error_code,
            severity: Severity::Error,
            application_code: None,
            user_message: &text,
        };
        self.refuse(&h, &refusal, rec).await
    }

    /// Send a NACK to the client; the connection stays usable.
    async fn refuse(
        &mut self,
        header: &Header<'_>,
        refusal: &Refusal<'_>,
        rec: AuditRecord,
    ) -> Result<(), Close> {
        let now = clock::hl7_timestamp(SystemTime::now());
        let control_id = self.route.next_control_id();
        let nack = build_nack(
            header,
            refusal,
            &ReplyContext {
                timestamp: &now,
                control_id: &control_id,
            },
        );
        telemetry::message(&self.route, "inbound", rec.verdict, rec.bytes);
        self.route.audit(rec);
        send(&mut self.client, &wrap(&nack))
            .await
            .map_err(|_| Close::Abort)
    }

    async fn ensure_upstream(&mut self) -> Result<&mut Upstream, upstream::UpstreamError> {
        if self.upstream.is_none() {
            let cfg = &self.route.config;
            let io = upstream::connect_from(
                self.peer.target.upstream,
                self.peer.target.upstream_source,
                self.route.upstream_tls.as_ref(),
                cfg.limits.upstream_connect_timeout,
            )
            .await?;
            self.upstream = Some(Upstream {
                io,
                inbox: Inbox::new(MllpFramer::new(cfg.limits.max_message_bytes)),
            });
        }
        match self.upstream.as_mut() {
            Some(up) => Ok(up),
            None => Err(upstream::UpstreamError::Timeout(self.peer.target.upstream)),
        }
    }

    /// Forward the original frame; if the upstream cannot take it, the sender gets an AE/CE NACK
    /// (the message was certainly not delivered), never silence and never a positive ACK.
    async fn forward(
        &mut self,
        bytes: &[u8],
        control_id: Vec<u8>,
        header: &Header<'_>,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        if self.outstanding.len() >= self.route.config.limits.max_outstanding {
            rec.verdict = "refused-backlog";
            rec.reason = Some("too many messages await the upstream's acknowledgement".into());
            let refusal = Refusal {
                code: ack_error_code(header),
                error: ErrorCode::APPLICATION_INTERNAL_ERROR,
                severity: Severity::Error,
                application_code: None,
                user_message: "wardgate: too many messages await the upstream's acknowledgement; resend later",
            };
            return self.refuse(header, &refusal, rec).await;
        }
        let ahead = match self.ensure_upstream().await {
            Ok(_) => audit_gate::before_forwarding(&self.route, &mut rec),
            Err(_) => Ahead::Later,
        };
        if let Ahead::Refuse(why) = ahead {
            rec.verdict = audit_gate::AUDIT_UNAVAILABLE;
            rec.reason = Some(why);
            let refusal = Refusal {
                code: ack_error_code(header),
                error: ErrorCode::APPLICATION_INTERNAL_ERROR,
                severity: Severity::Error,
                application_code: None,
                user_message: "wardgate cannot write its audit log, so the message was not delivered; resend later",
            };
            return self.refuse(header, &refusal, rec).await;
        }
        match self.write_upstream(bytes).await {
            Ok(()) => {
                rec.forwarded = true;
                telemetry::message(&self.route, "inbound", rec.verdict, rec.bytes);
                if !matches!(ahead, Ahead::Written) {
                    self.route.audit(rec);
                }
                self.outstanding.push_back(Outstanding {
                    control_id,
                    sent: Instant::now(),
                });
                Ok(())
            }
            Err(why) => {
                telemetry::upstream_failure(self.route.name(), "unavailable");
                rec.verdict = "upstream-unavailable";
                rec.reason = Some(why.clone());
                let text = format!("wardgate could not deliver the message: {why}");
                let refusal = Refusal {
                    code: ack_error_code(header),
                    error: ErrorCode::APPLICATION_INTERNAL_ERROR,
                    severity: Severity::Error,
                    application_code: None,
                    user_message: &text,
                };
                self.refuse(header, &refusal, rec).await
            }
        }
    }

    /// Fail-open forwarding of a frame with no readable header: nothing to NACK with, so a failure
    /// to deliver closes the connection.
    async fn forward_raw(
        &mut self,
        bytes: &[u8],
        control_id: Vec<u8>,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        match self.write_upstream(bytes).await {
            Ok(()) => {
                rec.forwarded = true;
                self.route.audit(rec);
                self.outstanding.push_back(Outstanding {
                    control_id,
                    sent: Instant::now(),
                });
                Ok(())
            }
            Err(why) => {
                rec.verdict = "upstream-unavailable";
                rec.reason = Some(why);
                self.route.audit(rec);
                Err(Close::Abort)
            }
        }
    }

    async fn write_upstream(&mut self, bytes: &[u8]) -> Result<(), String> {
        let up = self.ensure_upstream().await.map_err(|e| e.to_string())?;
        if send(&mut up.io, bytes).await.is_err() {
            // A stale connection (closed by the upstream while idle): reconnect once.
            self.upstream = None;
            let up = self.ensure_upstream().await.map_err(|e| e.to_string())?;
            send(&mut up.io, bytes)
                .await
                .map_err(|e| format!("writing to the upstream: {e}"))?;
        }
        Ok(())
    }

    async fn drain_outbound(&mut self) -> Result<(), Close> {
        loop {
            let Some(up) = self.upstream.as_mut() else {
                return Ok(());
            };
            let frame = match up.inbox.take() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    telemetry::parse_error(self.route.name(), mllp_kind(&e));
                    self.connection_event(
                        "outbound",
                        "closed",
                        format!("upstream sent bad framing: {e}"),
                    );
                    return self.upstream_gone("the upstream's framing broke");
                }
            };
            match frame.kind {
                FrameKind::Message => self.outbound_message(frame).await?,
                FrameKind::CommitAck | FrameKind::CommitNak => {
                    send(&mut self.client, &frame.bytes)
                        .await
                        .map_err(|_| Close::Abort)?;
                }
            }
        }
    }

    async fn outbound_message(&mut self, frame: Frame) -> Result<(), Close> {
        let payload = frame.bytes.get(frame.payload.clone()).unwrap_or_default();
        let mut rec = self.base_record("outbound");
        rec.bytes = payload.len();
        rec.sha256 = Some(crate::audit::to_hex(&Sha256::digest(payload)));
        let route = self.route.clone();
        let msg = match Message::parse(payload, &route.parse_limits) {
            Ok(m) => {
                if let Some(inventory) = route.learned() {
                    inventory.hl7(&route, &self.peer, &m, false);
                }
                m
            }
            Err(e) => {
                telemetry::parse_error(route.name(), "hl7-upstream");
                rec.reason = Some(format!("upstream reply does not parse: {e}"));
                if route.config.failure_policy == FailurePolicy::Open {
                    rec.verdict = "fail-open";
                    rec.forwarded = true;
                    route.audit(rec);
                    return send(&mut self.client, &frame.bytes)
                        .await
                        .map_err(|_| Close::Abort);
                }
                rec.verdict = "malformed";
                route.audit(rec);
                return Ok(());
            }
        };
        let header = msg.header();
        rec.message_type = Some(message_type(header));
        rec.control_id = header.control_id().map(|v| v.to_text());
        let acked = read_ack(&msg).map(|(_, id)| id.raw().to_vec());
        let matched = acked
            .as_ref()
            .and_then(|id| self.outstanding.iter().position(|o| &o.control_id == id));
        let forward = match (acked, matched) {
            (Some(_), Some(i)) => {
                if let Some(o) = self.outstanding.remove(i) {
                    telemetry::upstream_round_trip(route.name(), o.sent.elapsed());
                }
                rec.verdict = "allow";
                true
            }
            (Some(id), None) => {
                telemetry::unmatched_ack(route.name());
                rec.verdict = "unmatched-ack";
                rec.reason = Some(format!(
                    "acknowledgement for {:?}, which was not sent on this connection",
                    String::from_utf8_lossy(&id)
                ));
                route.config.unmatched_ack == UnmatchedAck::Flag
            }
            (None, _) => {
                rec.verdict = "allow";
                rec.reason = Some("upstream message without MSA".into());
                true
            }
        };
        rec.forwarded = forward;
        telemetry::message(&route, "outbound", rec.verdict, rec.bytes);
        // The reply goes out before its line is written: an upstream reply is not gated on the
        // audit log (a failed write is counted and logged either way), so its write need not sit
        // between the upstream and the sender. It is written before this connection reads
        // anything else, so the connection's lines keep their order.
        let sent = if forward {
            send(&mut self.client, &frame.bytes).await
        } else {
            Ok(())
        };
        route.audit(rec);
        sent.map_err(|_| Close::Abort)
    }
}

fn ack_error_code(header: &Header<'_>) -> AckCode {
    match header.ack_mode() {
        AckMode::Original => AckCode::AE,
        AckMode::Enhanced => AckCode::CE,
    }
}

fn verdict_label(p: &wardgate_rules::Permit) -> &'static str {
    if p.audit.is_empty() {
        "allow"
    } else {
        "audit-deny"
    }
}

fn message_type(h: &Header<'_>) -> String {
    let code = h.message_code().map(|v| v.to_text()).unwrap_or_default();
    match h.trigger_event() {
        Some(t) => format!("{code}^{}", t.to_text()),
        None => code,
    }
}

fn mllp_kind(e: &MllpError) -> &'static str {
    match e {
        MllpError::OutsideEnvelope { .. } => "outside-envelope",
        MllpError::TooLarge { .. } => "too-large",
        MllpError::BadEndBlock { .. } => "bad-end-block",
    }
}

/// Write a whole frame and flush it: TLS may otherwise hold the last record back.
async fn send(io: &mut BoxedIo, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}
