//! What the HL7 and pump connection drivers share: both ends of a request/response connection,
//! their deadlines, and the run loop that waits on them. Each protocol supplies only what
//! differs (how frames are judged, what it owes the client, its wording) through [`Exchange`].

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::audit::AuditRecord;
use crate::config::Limits;
use crate::hl7_conn::Peer;
use crate::inbox::{Framer, Inbox};
use crate::io::BoxedIo;
use crate::route::Route;
use crate::waiter::{Event, Waiter};
use crate::{telemetry, upstream};

/// The connection to the upstream and what it has sent that is not yet taken.
pub(crate) struct Upstream<F> {
    pub(crate) io: BoxedIo,
    pub(crate) inbox: Inbox<F>,
}

/// Why a connection ends.
#[derive(Debug)]
pub(crate) enum Close {
    /// Orderly: EOF, idle, shutdown.
    Done,
    /// Something went wrong; already audited or logged.
    Abort,
}

/// Both ends of one connection, with the route it belongs to.
pub(crate) struct Link<F> {
    pub(crate) route: Arc<Route>,
    pub(crate) peer: Peer,
    /// The peer's address as audited, formatted once per connection rather than per message.
    peer_text: String,
    pub(crate) client: BoxedIo,
    pub(crate) inbox: Inbox<F>,
    /// Connected on the first message that is forwarded.
    pub(crate) upstream: Option<Upstream<F>>,
    last_activity: Instant,
}

impl<F: Framer> Link<F> {
    /// A connection whose client frames with `framer`; no upstream yet.
    pub(crate) fn new(route: Arc<Route>, peer: Peer, client: BoxedIo, framer: F) -> Self {
        Link {
            route,
            peer_text: peer.addr.to_string(),
            peer,
            client,
            inbox: Inbox::new(framer),
            upstream: None,
            last_activity: Instant::now(),
        }
    }

    /// An audit record with this connection's identity filled in.
    pub(crate) fn base_record(&self, direction: &'static str) -> AuditRecord {
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

    /// Audit something that happened to the connection rather than to a message.
    pub(crate) fn connection_event(
        &self,
        direction: &'static str,
        verdict: &'static str,
        reason: String,
    ) {
        let mut rec = self.base_record(direction);
        rec.verdict = verdict;
        rec.reason = Some(reason);
        self.route.audit(rec);
    }

    /// The earliest of the connection's deadlines: idle, a frame still arriving from either
    /// side, and the reply owed for the oldest forwarded message.
    fn deadline(&self, reading_client: bool, owed: Option<Instant>, limits: Limits) -> Instant {
        let mut deadline = self.last_activity + limits.idle_timeout;
        if let Some(started) = self.inbox.frame_started().filter(|_| reading_client) {
            deadline = deadline.min(started + limits.frame_timeout);
        }
        if let Some(sent) = owed {
            deadline = deadline.min(sent + limits.ack_timeout);
        }
        if let Some(started) = self.upstream.as_ref().and_then(|u| u.inbox.frame_started()) {
            deadline = deadline.min(started + limits.frame_timeout);
        }
        deadline
    }

    /// Close both ends (the upstream first, so nothing more arrives for the client).
    pub(crate) async fn shut_down(&mut self) {
        if let Some(mut up) = self.upstream.take() {
            let _ = up.io.shutdown().await;
        }
        let _ = self.client.shutdown().await;
    }
}

/// Read from the upstream into its inbox; pending forever when there is no upstream yet.
async fn read_upstream<F: Framer>(up: Option<&mut Upstream<F>>) -> std::io::Result<usize> {
    match up {
        Some(up) => up.inbox.read_from(&mut up.io).await,
        None => std::future::pending().await,
    }
}

/// How a protocol names the two sides in audit lines.
pub(crate) struct Words {
    /// The client side: `sender`, `controller`.
    pub(crate) client: &'static str,
    /// The upstream side: `upstream`, `pump`.
    pub(crate) upstream: &'static str,
    /// Why the connection closes when a reply is overdue.
    pub(crate) no_reply: &'static str,
}

/// A protocol's request/response connection driver, as the shared run loop needs it.
pub(crate) trait Exchange {
    /// The protocol's framer (both directions).
    type Framer: Framer;
    /// The protocol's wording.
    const WORDS: Words;
    /// The connection's two ends.
    fn link(&self) -> &Link<Self::Framer>;
    /// The connection's two ends, to read or write.
    fn link_mut(&mut self) -> &mut Link<Self::Framer>;
    /// When the oldest forwarded message that is still owed a reply was sent.
    fn oldest_owed(&self) -> Option<Instant>;
    /// Judge every complete frame the client has sent.
    async fn drain_inbound(&mut self) -> Result<(), Close>;
    /// Inspect every complete frame the upstream has sent.
    async fn drain_outbound(&mut self) -> Result<(), Close>;
    /// Audit every message still owed a reply as lost (the connection closes after this).
    fn lose_outstanding(&mut self, why: &str);
    /// Forget what only makes sense with this upstream connection (it is gone).
    fn forget_upstream(&mut self) {}
    /// A framer for what the upstream sends.
    fn upstream_framer(&self) -> Self::Framer;

    /// The upstream connection, connected first if there is none.
    async fn ensure_upstream(
        &mut self,
    ) -> Result<&mut Upstream<Self::Framer>, upstream::UpstreamError> {
        if self.link().upstream.is_none() {
            let framer = self.upstream_framer();
            let link = self.link_mut();
            let io = upstream::connect_from(
                link.peer.target.upstream,
                link.peer.target.upstream_source,
                link.route.upstream_tls.as_ref(),
                link.route.config.limits.upstream_connect_timeout,
            )
            .await?;
            link.upstream = Some(Upstream {
                io,
                inbox: Inbox::new(framer),
            });
        }
        let link = self.link_mut();
        let target = link.peer.target.upstream;
        link.upstream
            .as_mut()
            .ok_or(upstream::UpstreamError::Timeout(target))
    }

    /// Send `bytes` upstream (connecting first if needed). A connection the upstream closed
    /// while idle is found stale on the write: then it reconnects once.
    async fn write_upstream(&mut self, bytes: &[u8]) -> Result<(), String> {
        let up = self.ensure_upstream().await.map_err(|e| e.to_string())?;
        if send(&mut up.io, bytes).await.is_err() {
            self.link_mut().upstream = None;
            self.forget_upstream();
            let up = self.ensure_upstream().await.map_err(|e| e.to_string())?;
            send(&mut up.io, bytes)
                .await
                .map_err(|e| format!("writing to the {}: {e}", Self::WORDS.upstream))?;
        }
        Ok(())
    }
}

/// Write a whole frame and flush it: TLS may otherwise hold the last record back.
pub(crate) async fn send(io: &mut BoxedIo, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// Serve the connection until the client closes, it idles out, or shutdown drains it; then
/// close both ends.
pub(crate) async fn serve<E: Exchange>(e: &mut E, shutdown: watch::Receiver<bool>) {
    let _ = run(e, shutdown).await;
    e.link_mut().shut_down().await;
}

async fn run<E: Exchange>(e: &mut E, shutdown: watch::Receiver<bool>) -> Result<(), Close> {
    let limits = e.link().route.config.limits;
    let mut client_open = true;
    let mut wait = Waiter::new(shutdown, e.link().deadline(true, e.oldest_owed(), limits));
    loop {
        // Stop when nothing more can happen: the client is gone or drained, and every forwarded
        // message has had its reply.
        let reading_client = client_open && (!wait.draining() || e.link().inbox.pending());
        let owed = e.oldest_owed();
        if !reading_client && owed.is_none() {
            return Ok(());
        }
        let deadline = e.link().deadline(reading_client, owed, limits);
        let link = e.link_mut();
        let client = reading_client.then(|| link.inbox.read_from(&mut link.client));
        match wait
            .next(deadline, client, read_upstream(link.upstream.as_mut()))
            .await
        {
            Event::Client(r) => {
                let n = r.map_err(|_| Close::Abort)?;
                let link = e.link_mut();
                if n == 0 {
                    client_open = false;
                    if link.inbox.pending() {
                        telemetry::parse_error(link.route.name(), "truncated");
                        link.connection_event(
                            "inbound",
                            "closed",
                            format!(
                                "{} closed the connection in the middle of a frame; nothing of it was forwarded",
                                E::WORDS.client
                            ),
                        );
                    }
                    continue;
                }
                link.last_activity = Instant::now();
                e.drain_inbound().await?;
            }
            Event::Upstream(Ok(n)) if n > 0 => {
                e.link_mut().last_activity = Instant::now();
                e.drain_outbound().await?;
            }
            Event::Upstream(_) => upstream_gone(
                e,
                &format!("the {} closed the connection", E::WORDS.upstream),
            )?,
            Event::Deadline => on_deadline(e, reading_client, limits)?,
            Event::Shutdown => {}
        }
    }
}

fn on_deadline<E: Exchange>(e: &mut E, reading_client: bool, limits: Limits) -> Result<(), Close> {
    let now = Instant::now();
    if e.oldest_owed()
        .is_some_and(|sent| now >= sent + limits.ack_timeout)
    {
        e.lose_outstanding(E::WORDS.no_reply);
        return Err(Close::Abort);
    }
    let link = e.link();
    if let Some(started) = link.inbox.frame_started().filter(|_| reading_client) {
        if now >= started + limits.frame_timeout {
            telemetry::parse_error(link.route.name(), "frame-timeout");
            link.connection_event(
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
    if link
        .upstream
        .as_ref()
        .and_then(|u| u.inbox.frame_started())
        .is_some_and(|s| now >= s + limits.frame_timeout)
    {
        return upstream_gone(
            e,
            &format!("the {} did not complete a frame in time", E::WORDS.upstream),
        );
    }
    if now >= link.last_activity + limits.idle_timeout {
        tracing::debug!(route = %link.route.name(), conn = link.peer.id, "idle timeout");
        return Err(Close::Done);
    }
    Ok(())
}

/// The upstream connection is gone. Without replies owed the connection goes on (the next
/// forwarded message reconnects); with replies owed they are audited as lost and the client's
/// connection closes, so the client resends instead of assuming an outcome.
pub(crate) fn upstream_gone<E: Exchange>(e: &mut E, why: &str) -> Result<(), Close> {
    e.link_mut().upstream = None;
    e.forget_upstream();
    if e.oldest_owed().is_none() {
        return Ok(());
    }
    e.lose_outstanding(why);
    Err(Close::Abort)
}
