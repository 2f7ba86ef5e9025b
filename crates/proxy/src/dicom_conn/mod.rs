//! One DICOM connection (PS3.8 Upper Layer, PS3.7 DIMSE): the association request is judged
//! before anything reaches the acceptor, the acceptor's answer is judged too, every DIMSE request
//! is judged once its command set is complete, and data sets stream through one PDU at a time.
//! Allowed PDUs are forwarded as the original bytes; refusals are the protocol's own
//! (A-ASSOCIATE-RJ, a DIMSE failure response, A-ABORT).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;
use wardgate_dicom::{
    AbortReason, AbortSource, AssociateAc, AssociateRq, Association, DEFAULT_MAX_COMMAND_LEN,
    Phase, build_abort,
};

use crate::audit::AuditRecord;
use crate::config::Limits;
use crate::hl7_conn::Peer;
use crate::io::BoxedIo;
use crate::route::Route;
use crate::telemetry;
use crate::waiter::{Event, Waiter};

mod acceptor;
use wardgate_dicom::held;
mod inbox;
pub(crate) mod names;
pub(crate) mod policy;
mod requestor;

use held::HeldPdus;
use inbox::{Inbox, new_inbox};

/// Most PDUs held back while one command set is incomplete.
const MAX_HELD_PDUS: usize = 256;

/// The upstream (association acceptor) side.
struct Upstream {
    io: BoxedIo,
    inbox: Inbox,
}

/// Which peer a PDU came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The SCU, the client of this connection.
    Requestor,
    /// The SCP behind wardgate.
    Acceptor,
}

impl Side {
    fn direction(self) -> &'static str {
        match self {
            Side::Requestor => "inbound",
            Side::Acceptor => "outbound",
        }
    }
}

/// Why a connection ends. Both variants have been audited or logged already.
#[derive(Debug)]
enum Close {
    /// Orderly: released, rejected, EOF, idle, shutdown.
    Done,
    /// Aborted or failed.
    Abort,
}

/// The message stream of one direction.
type Stream = wardgate_dicom::held::MessageStream;

struct Driver {
    route: Arc<Route>,
    peer: Peer,
    client: BoxedIo,
    client_inbox: Inbox,
    upstream: Option<Upstream>,
    assoc: Association,
    /// The request of the association, kept for judging commands.
    rq: Option<AssociateRq>,
    /// The acceptor's answer, kept for the roles it granted (which requests it may send).
    ac: Option<AssociateAc>,
    /// Requestor to acceptor.
    inbound: Stream,
    /// Acceptor to requestor.
    outbound: Stream,
    /// Requestor PDUs held while the command they carry part of is incomplete.
    held: HeldPdus,
    /// Refusals (DIMSE failure responses) waiting for the acceptor's stream to reach a message
    /// boundary, so they never split one of its messages.
    replies: VecDeque<Vec<u8>>,
    /// The refusal to send once the refused command's data set has been dropped.
    reply_after_data: Option<Vec<u8>>,
    /// Message ids of requests forwarded to the acceptor and not finally answered.
    outstanding: VecDeque<u16>,
    /// Message ids of requests the acceptor sent (C-GET sub-operations) not yet answered.
    sub_outstanding: VecDeque<u16>,
    /// An A-ASSOCIATE-RQ or A-RELEASE-RQ forwarded and not yet answered.
    awaiting: Option<(Instant, &'static str)>,
    last_activity: Instant,
}

/// Serve one DICOM connection until the association ends, the peer leaves, it idles out, or
/// shutdown drains it.
pub async fn serve(
    route: Arc<Route>,
    peer: Peer,
    client: BoxedIo,
    shutdown: watch::Receiver<bool>,
) {
    let max_pdu = route.config.limits.max_pdu_bytes;
    let held_bytes = max_pdu as usize + 2 * DEFAULT_MAX_COMMAND_LEN;
    let mut driver = Driver {
        route,
        peer,
        client,
        client_inbox: new_inbox(max_pdu),
        upstream: None,
        assoc: Association::new(),
        rq: None,
        ac: None,
        inbound: Stream::default(),
        outbound: Stream::default(),
        held: HeldPdus::new(MAX_HELD_PDUS, held_bytes),
        replies: VecDeque::new(),
        reply_after_data: None,
        outstanding: VecDeque::new(),
        sub_outstanding: VecDeque::new(),
        awaiting: None,
        last_activity: Instant::now(),
    };
    let outcome = driver.run(shutdown).await;
    tracing::debug!(route = %driver.route.name(), conn = driver.peer.id, ?outcome, "DICOM connection ends");
    let limit = driver.route.config.limits.frame_timeout;
    if let Some(mut up) = driver.upstream.take() {
        let _ = tokio::time::timeout(limit, up.io.shutdown()).await;
    }
    let _ = tokio::time::timeout(limit, driver.client.shutdown()).await;
}

/// Read from the upstream into its inbox; pending forever when there is no upstream yet.
async fn read_upstream(up: Option<&mut Upstream>) -> std::io::Result<usize> {
    match up {
        Some(up) => up.inbox.read_from(&mut up.io).await,
        None => std::future::pending().await,
    }
}

/// Write a whole PDU and flush it (TLS may otherwise hold the last record back), within `limit`:
/// a peer that stops reading cannot hold the connection's task forever.
async fn send(io: &mut BoxedIo, bytes: &[u8], limit: Duration) -> std::io::Result<()> {
    let write = async {
        io.write_all(bytes).await?;
        io.flush().await
    };
    tokio::time::timeout(limit, write)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))?
}

/// Push onto a bounded queue, forgetting the oldest entry when full.
fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

/// Remove the first occurrence of `id`.
fn remove_id(q: &mut VecDeque<u16>, id: u16) {
    if let Some(i) = q.iter().position(|&x| x == id) {
        q.remove(i);
    }
}

impl Driver {
    fn base_record(&self, side: Side) -> AuditRecord {
        let header = self.rq.as_ref().map(|rq| &rq.header);
        AuditRecord {
            connection: self.peer.id,
            peer: self.peer.addr.to_string(),
            original_dst: self.peer.target.original_dst.map(|a| a.to_string()),
            cert_subject: self
                .peer
                .sender
                .certificate
                .as_ref()
                .and_then(|c| c.common_name.clone()),
            direction: side.direction(),
            calling_ae: header.map(|h| h.calling_ae_title.clone()),
            called_ae: header.map(|h| h.called_ae_title.clone()),
            ..AuditRecord::default()
        }
    }

    fn limits(&self) -> Limits {
        self.route.config.limits
    }

    async fn run(&mut self, shutdown: watch::Receiver<bool>) -> Result<(), Close> {
        let mut wait = Waiter::new(shutdown, self.deadline());
        loop {
            if self.assoc.is_closed() {
                return Ok(());
            }
            if wait.draining() && self.quiescent() {
                return self.drain_now().await;
            }
            let deadline = self.deadline();
            let client = Some(self.client_inbox.read_from(&mut self.client));
            match wait
                .next(deadline, client, read_upstream(self.upstream.as_mut()))
                .await
            {
                Event::Client(Ok(n)) if n > 0 => {
                    self.last_activity = Instant::now();
                    self.drain_client().await?;
                }
                Event::Client(_) => return self.peer_gone(Side::Requestor).await,
                Event::Upstream(Ok(n)) if n > 0 => {
                    self.last_activity = Instant::now();
                    self.drain_upstream().await?;
                }
                Event::Upstream(_) => return self.peer_gone(Side::Acceptor).await,
                Event::Deadline => self.on_deadline().await?,
                Event::Shutdown => {}
            }
        }
    }

    /// Nothing is in flight: no partial PDU, no message half through, no request unanswered,
    /// and no association being negotiated or released.
    fn quiescent(&self) -> bool {
        let inboxes_empty = !self.client_inbox.pending()
            && !self.upstream.as_ref().is_some_and(|u| u.inbox.pending());
        match self.assoc.phase() {
            Phase::Idle => inboxes_empty,
            Phase::Established(_) => {
                inboxes_empty
                    && self.outstanding.is_empty()
                    && self.sub_outstanding.is_empty()
                    && self.inbound.at_boundary()
                    && self.outbound.at_boundary()
                    && self.held.is_empty()
                    && self.replies.is_empty()
                    && self.reply_after_data.is_none()
            }
            _ => false,
        }
    }

    /// Shutdown with nothing in flight: an idle connection just closes; an established
    /// association is aborted on both sides (PS3.8 §7.3: A-P-ABORT is the provider's way out).
    async fn drain_now(&mut self) -> Result<(), Close> {
        if matches!(self.assoc.phase(), Phase::Idle) {
            return Ok(());
        }
        self.connection_event(
            Side::Requestor,
            "closed",
            "wardgate is shutting down: the idle association was aborted on both sides".into(),
        );
        self.abort_both(AbortReason::NOT_SPECIFIED, AbortReason::NOT_SPECIFIED)
            .await;
        Err(Close::Done)
    }

    fn deadline(&self) -> Instant {
        let limits = self.limits();
        let mut deadline = self.last_activity + limits.idle_timeout;
        if let Some(started) = self.client_inbox.frame_started() {
            deadline = deadline.min(started + limits.frame_timeout);
        }
        if let Some(started) = self.upstream.as_ref().and_then(|u| u.inbox.frame_started()) {
            deadline = deadline.min(started + limits.frame_timeout);
        }
        if let Some((since, _)) = self.awaiting {
            deadline = deadline.min(since + limits.ack_timeout);
        }
        deadline
    }

    async fn on_deadline(&mut self) -> Result<(), Close> {
        let limits = self.limits();
        let now = Instant::now();
        if let Some((since, what)) = self.awaiting {
            if now >= since + limits.ack_timeout {
                telemetry::upstream_failure(self.route.name(), "timeout");
                self.connection_event(
                    Side::Acceptor,
                    "upstream-lost",
                    format!(
                        "the acceptor sent no {what} within {:?}; association aborted",
                        limits.ack_timeout
                    ),
                );
                self.abort_both(AbortReason::NOT_SPECIFIED, AbortReason::NOT_SPECIFIED)
                    .await;
                return Err(Close::Abort);
            }
        }
        for side in [Side::Requestor, Side::Acceptor] {
            let started = match side {
                Side::Requestor => self.client_inbox.frame_started(),
                Side::Acceptor => self.upstream.as_ref().and_then(|u| u.inbox.frame_started()),
            };
            if started.is_some_and(|s| now >= s + limits.frame_timeout) {
                telemetry::parse_error(self.route.name(), "frame-timeout");
                self.connection_event(
                    side,
                    "closed",
                    format!(
                        "PDU not completed within {:?}; nothing of it was forwarded, association aborted",
                        limits.frame_timeout
                    ),
                );
                self.abort_both(AbortReason::NOT_SPECIFIED, AbortReason::NOT_SPECIFIED)
                    .await;
                return Err(Close::Abort);
            }
        }
        if now >= self.last_activity + limits.idle_timeout {
            if !matches!(self.assoc.phase(), Phase::Idle) {
                self.connection_event(
                    Side::Requestor,
                    "closed",
                    format!(
                        "no traffic for {:?}; association aborted",
                        limits.idle_timeout
                    ),
                );
                self.abort_both(AbortReason::NOT_SPECIFIED, AbortReason::NOT_SPECIFIED)
                    .await;
            }
            return Err(Close::Done);
        }
        Ok(())
    }

    /// A peer closed its connection (or it failed). Mid-association that is an abort for the
    /// other side (PS3.8 §7.4, A-P-ABORT).
    async fn peer_gone(&mut self, side: Side) -> Result<(), Close> {
        let pending = match side {
            Side::Requestor => self.client_inbox.pending(),
            Side::Acceptor => self.upstream.as_ref().is_some_and(|u| u.inbox.pending()),
        };
        if pending {
            telemetry::parse_error(self.route.name(), "truncated");
        }
        let idle = matches!(self.assoc.phase(), Phase::Idle);
        if idle && !pending {
            return Ok(());
        }
        let who = match side {
            Side::Requestor => "the requestor",
            Side::Acceptor => "the acceptor",
        };
        let mut why = format!("{who} closed the connection");
        if pending {
            why.push_str(" in the middle of a PDU; nothing of it was forwarded");
        }
        if !idle {
            why.push_str("; association aborted");
        }
        let verdict = match side {
            Side::Requestor => "closed",
            Side::Acceptor => {
                telemetry::upstream_failure(self.route.name(), "lost");
                "upstream-lost"
            }
        };
        self.connection_event(side, verdict, why);
        if !idle {
            let other = AbortReason::NOT_SPECIFIED;
            match side {
                Side::Requestor => self.abort_upstream(other).await,
                Side::Acceptor => self.abort_client(other).await,
            }
        }
        Err(Close::Abort)
    }

    fn connection_event(&self, side: Side, verdict: &'static str, reason: String) {
        let mut rec = self.base_record(side);
        rec.verdict = verdict;
        rec.reason = Some(reason);
        self.route.audit(rec);
    }

    /// Send A-ABORT (source: service provider) to the requestor.
    async fn abort_client(&mut self, reason: AbortReason) {
        let pdu = build_abort(AbortSource::SERVICE_PROVIDER, reason);
        let limit = self.limits().frame_timeout;
        let _ = send(&mut self.client, &pdu, limit).await;
    }

    /// Send A-ABORT (source: service provider) to the acceptor, if connected.
    async fn abort_upstream(&mut self, reason: AbortReason) {
        let pdu = build_abort(AbortSource::SERVICE_PROVIDER, reason);
        let limit = self.limits().frame_timeout;
        if let Some(up) = self.upstream.as_mut() {
            let _ = send(&mut up.io, &pdu, limit).await;
        }
    }

    /// Abort the association on both sides.
    async fn abort_both(&mut self, write_client: AbortReason, write_upstream: AbortReason) {
        self.abort_upstream(write_upstream).await;
        self.abort_client(write_client).await;
    }

    /// Decode a PDU from `side` and move the association state with it. A PDU that does not
    /// decode, or that the association state does not allow here, ends the association
    /// ([`Driver::protocol_error`]): `None`, and the caller stops.
    async fn decode_in_state<'p>(
        &mut self,
        side: Side,
        pdu: &'p inbox::RawPdu,
    ) -> Result<Option<wardgate_dicom::Pdu<'p>>, Close> {
        let name = Some(names::pdu_name(pdu.pdu_type));
        let decoded = match wardgate_dicom::decode_pdu(&pdu.bytes) {
            Ok(d) => d,
            Err(e) => {
                let what = e.to_string();
                self.protocol_error(side, e.abort_reason(), &what, "pdu", name)
                    .await?;
                return Ok(None);
            }
        };
        let direction = match side {
            Side::Requestor => wardgate_dicom::Direction::FromRequestor,
            Side::Acceptor => wardgate_dicom::Direction::FromAcceptor,
        };
        if let Err(e) = self.assoc.on_pdu(direction, &decoded) {
            let what = e.to_string();
            let reason = requestor::state_abort_reason(&e);
            self.protocol_error(side, reason, &what, "state", name)
                .await?;
            return Ok(None);
        }
        Ok(Some(decoded))
    }

    /// A protocol error by `side`: it gets A-ABORT with `reason`, the other side (if an
    /// association exists there) an A-ABORT without reason; nothing of the PDU is forwarded.
    async fn protocol_error(
        &mut self,
        side: Side,
        reason: AbortReason,
        what: &str,
        kind: &'static str,
        message_type: Option<String>,
    ) -> Result<(), Close> {
        telemetry::parse_error(self.route.name(), kind);
        let mut rec = self.base_record(side);
        rec.verdict = "malformed";
        rec.message_type = message_type;
        rec.code = Some(u16::from(reason.0));
        rec.reason = Some(format!(
            "{what}; A-ABORT sent, nothing of the PDU was forwarded"
        ));
        self.route.audit(rec);
        match side {
            Side::Requestor => {
                self.abort_client(reason).await;
                self.abort_upstream(AbortReason::NOT_SPECIFIED).await;
            }
            Side::Acceptor => {
                self.abort_upstream(reason).await;
                self.abort_client(AbortReason::NOT_SPECIFIED).await;
            }
        }
        Err(Close::Abort)
    }

    /// Write to the requestor; a failure ends the connection (the acceptor is aborted).
    async fn write_client(&mut self, bytes: &[u8]) -> Result<(), Close> {
        let limit = self.limits().idle_timeout;
        if let Err(e) = send(&mut self.client, bytes, limit).await {
            self.connection_event(
                Side::Requestor,
                "closed",
                format!("writing to the requestor failed: {e}; association aborted"),
            );
            self.abort_upstream(AbortReason::NOT_SPECIFIED).await;
            return Err(Close::Abort);
        }
        Ok(())
    }

    /// Write to the acceptor; a failure ends the connection (the requestor is aborted).
    async fn write_upstream(&mut self, bytes: &[u8]) -> Result<(), Close> {
        let limit = self.limits().idle_timeout;
        let result = match self.upstream.as_mut() {
            Some(up) => send(&mut up.io, bytes, limit).await,
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "no upstream connection",
            )),
        };
        if let Err(e) = result {
            telemetry::upstream_failure(self.route.name(), "lost");
            self.connection_event(
                Side::Acceptor,
                "upstream-lost",
                format!("writing to the acceptor failed: {e}; association aborted"),
            );
            self.abort_client(AbortReason::NOT_SPECIFIED).await;
            return Err(Close::Abort);
        }
        Ok(())
    }

    /// Send queued refusals once the acceptor's stream is between messages.
    async fn flush_replies(&mut self) -> Result<(), Close> {
        while self.outbound.at_boundary() {
            let Some(reply) = self.replies.pop_front() else {
                break;
            };
            self.write_client(&reply).await?;
        }
        Ok(())
    }
}
