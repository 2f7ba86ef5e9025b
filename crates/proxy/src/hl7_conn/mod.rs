//! One HL7/MLLP connection: frame, parse, judge, then forward the original bytes or refuse with a
//! NACK; upstream acknowledgements flow back through the same inspection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use wardgate_hl7::{FrameKind, Header, MllpError, MllpFramer};
use wardgate_rules::Sender;

use crate::io::BoxedIo;
use crate::link::{self, Close, Exchange, Link, Words, send};
use crate::route::Route;
use crate::telemetry;

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

impl Frame {
    /// The message inside the envelope.
    pub fn payload(&self) -> &[u8] {
        self.bytes.get(self.payload.clone()).unwrap_or_default()
    }
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

/// A message forwarded upstream and not yet acknowledged.
struct Outstanding {
    control_id: Vec<u8>,
    sent: Instant,
}

struct Driver {
    link: Link<MllpFramer>,
    outstanding: VecDeque<Outstanding>,
}

/// Serve one client connection until it closes, idles out, or shutdown drains it.
pub async fn serve(
    route: Arc<Route>,
    peer: Peer,
    client: BoxedIo,
    shutdown: watch::Receiver<bool>,
) {
    let framer = MllpFramer::new(route.config.limits.max_message_bytes);
    let mut driver = Driver {
        link: Link::new(route, peer, client, framer),
        outstanding: VecDeque::new(),
    };
    link::serve(&mut driver, shutdown).await;
}

impl Exchange for Driver {
    type Framer = MllpFramer;
    const WORDS: Words = Words {
        client: "sender",
        upstream: "upstream",
        no_reply: "the upstream did not acknowledge in time",
    };

    fn link(&self) -> &Link<MllpFramer> {
        &self.link
    }

    fn link_mut(&mut self) -> &mut Link<MllpFramer> {
        &mut self.link
    }

    fn oldest_owed(&self) -> Option<Instant> {
        self.outstanding.front().map(|o| o.sent)
    }

    fn upstream_framer(&self) -> MllpFramer {
        MllpFramer::new(self.link.route.config.limits.max_message_bytes)
    }

    async fn drain_inbound(&mut self) -> Result<(), Close> {
        Driver::drain_inbound(self).await
    }

    async fn drain_outbound(&mut self) -> Result<(), Close> {
        Driver::drain_outbound(self).await
    }

    /// Every forwarded message without an acknowledgement is audited as lost; the client
    /// connection then closes, so the sender resends instead of believing it was delivered.
    fn lose_outstanding(&mut self, why: &str) {
        telemetry::upstream_failure(self.link.route.name(), "lost");
        for o in std::mem::take(&mut self.outstanding) {
            let mut rec = self.link.base_record("inbound");
            rec.verdict = "upstream-lost";
            rec.control_id = Some(String::from_utf8_lossy(&o.control_id).into_owned());
            rec.reason = Some(format!("{why}; no acknowledgement reached the sender"));
            rec.forwarded = true;
            self.link.route.audit(rec);
        }
    }
}

/// `MSH-9.1^MSH-9.2` as audited. Built in one allocation: it runs twice per message.
fn message_type(h: &Header<'_>) -> String {
    let code = h.message_code().map(|v| v.text()).unwrap_or_default();
    match h.trigger_event().map(|t| t.text()) {
        Some(trigger) => {
            let mut s = String::with_capacity(code.len() + 1 + trigger.len());
            s.push_str(&code);
            s.push('^');
            s.push_str(&trigger);
            s
        }
        None => code.into_owned(),
    }
}

fn mllp_kind(e: &MllpError) -> &'static str {
    match e {
        MllpError::OutsideEnvelope { .. } => "outside-envelope",
        MllpError::TooLarge { .. } => "too-large",
        MllpError::BadEndBlock { .. } => "bad-end-block",
    }
}
