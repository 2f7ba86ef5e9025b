//! One HL7/MLLP connection: frame, parse, judge, then forward the original bytes or refuse with a
//! NACK; upstream acknowledgements flow back through the same inspection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;
use wardgate_hl7::{FrameKind, Header, MllpError, MllpFramer};
use wardgate_rules::Sender;

use crate::audit::AuditRecord;
use crate::io::BoxedIo;
use crate::route::Route;
use crate::telemetry;
use crate::waiter::{Event, Waiter};

mod inbound;
mod outbound;

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
