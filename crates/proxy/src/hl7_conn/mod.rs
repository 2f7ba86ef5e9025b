//! One HL7/MLLP connection: frame, parse, judge, then forward the original bytes or refuse with a
//! NACK; upstream acknowledgements flow back through the same inspection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use wardgate_hl7::{FrameKind, Header, Message, MllpError, MllpFramer, Value};
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

/// `MSH-9.1^MSH-9.2` as audited, from a header that is all that could be read.
fn message_type(h: &Header<'_>) -> String {
    type_text(h.message_code(), h.trigger_event())
}

/// `MSH-9.1^MSH-9.2` and MSH-10 of a parsed message, read through the field positions the parse
/// recorded (the header's accessors rescan MSH for each; this runs twice per message).
fn message_ids<'a>(msg: &Message<'a>) -> (String, Option<Value<'a>>) {
    let non_empty = |v: Value<'a>| (!v.is_empty()).then_some(v);
    let msh9 = msg.field_at(0, 9);
    let part = |c| {
        msh9.and_then(|f| f.component(c))
            .and_then(|c| non_empty(c.value()))
    };
    let control = msg
        .field_at(0, 10)
        .and_then(|f| f.repetition(1))
        .and_then(|r| non_empty(r.value()));
    (type_text(part(1), part(2)), control)
}

/// `code^trigger`, built in one allocation.
fn type_text(code: Option<Value<'_>>, trigger: Option<Value<'_>>) -> String {
    let code = code.map(|v| v.text()).unwrap_or_default();
    match trigger.map(|t| t.text()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use wardgate_hl7::ParseLimits;

    /// The audited MSH-9/MSH-10 read through the recorded field positions are what the header's
    /// own accessors give, on every shipped fixture and on odd headers.
    #[test]
    fn message_ids_agree_with_the_header() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/hl7");
        let mut raws: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .expect("fixtures folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
            .map(|p| std::fs::read(p).expect("fixture"))
            .map(|raw| wardgate_rules::to_segment_terminators(&raw))
            .collect();
        assert!(raws.len() > 10, "fixtures found: {}", raws.len());
        raws.push(b"MSH|^~\\&|A|B|C|D|1||ACK|\\F\\9".to_vec());
        raws.push(b"MSH|^~\\&|A|B|C|D|1||^O15~X^Y|~10".to_vec());
        raws.push(b"MSH|^~\\&#|A|B|C|D|1||AD\\T\\T^A01^ADT_A01|C1|P|2.7".to_vec());
        let mut compared = 0;
        for raw in &raws {
            let Ok(msg) = Message::parse(raw, &ParseLimits::default()) else {
                continue;
            };
            compared += 1;
            let h = msg.header();
            let (ty, control) = message_ids(&msg);
            let text = String::from_utf8_lossy(raw);
            assert_eq!(ty, message_type(h), "{text}");
            assert_eq!(control, h.control_id(), "{text}");
        }
        // Every fixture and the escaped and truncation-character headers parse; only the
        // header whose MSH-10 is empty in its first repetition may be refused.
        assert!(compared >= raws.len() - 1, "{compared} of {}", raws.len());
    }
}
