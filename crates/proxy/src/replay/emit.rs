//! Where judged messages go: numbering per direction, the file/stream/time they belong to, and
//! the line builders the protocol judges share.

use wardgate_rules::Verdict;

use super::ReplayLine;

/// Which way a message travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Client (requestor) to server (acceptor): what the proxy judges.
    Inbound,
    /// Server to client: replies, which feed state.
    Outbound,
}

impl Dir {
    pub(crate) fn index(self) -> usize {
        match self {
            Dir::Inbound => 0,
            Dir::Outbound => 1,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Dir::Inbound => "inbound",
            Dir::Outbound => "outbound",
        }
    }
}

/// The sink of one stream (or file), numbering its messages per direction.
pub(crate) struct Out<'a> {
    /// The file the lines belong to.
    pub file: &'a str,
    /// The capture stream, if any.
    pub stream: Option<u64>,
    /// Whether lines name their direction (captures and DICOM files do).
    pub with_direction: bool,
    /// The packet time of what is being judged now.
    pub time: Option<String>,
    /// Next index per direction.
    pub next: &'a mut [usize; 2],
    /// Where lines go.
    pub sink: &'a mut dyn FnMut(ReplayLine),
}

impl Out<'_> {
    /// Emit `line` as the next message of `dir`.
    pub(crate) fn line(&mut self, dir: Dir, mut line: ReplayLine) {
        let slot = &mut self.next[dir.index()];
        line.file = self.file.to_owned();
        line.stream = self.stream;
        line.direction = self.with_direction.then(|| dir.name().to_owned());
        line.index = *slot;
        line.time.clone_from(&self.time);
        *slot += 1;
        (self.sink)(line);
    }
}

/// A line for a rule verdict.
pub(crate) fn verdict(
    message_type: Option<String>,
    control_id: Option<String>,
    v: &Verdict,
) -> ReplayLine {
    let mut line = super::verdict_line("", 0, message_type, v);
    line.control_id = control_id;
    line
}

/// The line for a direction whose framing failed: nothing after it in that direction is judged.
pub(crate) fn unframed(error: impl std::fmt::Display, buffered: usize) -> ReplayLine {
    plain(
        "malformed",
        None,
        None,
        Some(format!(
            "{error}; the rest of this direction is not framed ({buffered} bytes buffered)"
        )),
    )
}

/// A line with a verdict that is not a rule's.
pub(crate) fn plain(
    verdict: &str,
    message_type: Option<String>,
    control_id: Option<String>,
    reason: Option<String>,
) -> ReplayLine {
    ReplayLine {
        message_type,
        control_id,
        verdict: verdict.to_owned(),
        reason,
        ..ReplayLine::default()
    }
}

/// Replies matched to the requests they answer, and which of those the rules refused: a reply
/// to a refused request would never have existed behind the proxy.
pub(crate) struct Outstanding<K> {
    entries: std::collections::VecDeque<(K, bool)>,
}

/// Requests remembered per connection for matching replies; the oldest is forgotten first.
pub(crate) const MAX_OUTSTANDING: usize = 1024;

impl<K: PartialEq> Outstanding<K> {
    pub(crate) fn new() -> Self {
        Self {
            entries: std::collections::VecDeque::new(),
        }
    }

    /// Remember a request and whether the rules let it through.
    pub(crate) fn push(&mut self, key: K, allowed: bool) {
        if self.entries.len() >= MAX_OUTSTANDING {
            self.entries.pop_front();
        }
        self.entries.push_back((key, allowed));
    }

    /// Whether the request `key` was allowed, `None` if it was not seen; forgets it if `done`.
    pub(crate) fn answer(&mut self, key: &K, done: bool) -> Option<bool> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        let allowed = self.entries.get(i).map(|(_, a)| *a);
        if done {
            self.entries.remove(i);
        }
        allowed
    }
}

/// What a judge needs besides bytes: the rules, who sent the traffic, the time, and the route's
/// pump state.
pub(crate) struct Ctx<'a> {
    /// The rules of the route.
    pub rules: &'a wardgate_rules::RuleSet,
    /// The client of the connection.
    pub sender: &'a wardgate_rules::Sender,
    /// "Now": the packet time.
    pub now_ms: i64,
    /// The route's pump state (shared by its connections, as in the proxy).
    pub pump: &'a mut wardgate_rules::PumpState,
}

/// One connection's protocol judge: framing and judging in both directions.
pub(crate) trait Judge {
    /// The next bytes of `dir`.
    fn data(&mut self, ctx: &mut Ctx<'_>, out: &mut Out<'_>, dir: Dir, bytes: &[u8]);
    /// Forget the unfinished message of `dir` (a gap cut it); returns its buffered bytes.
    fn discard(&mut self, dir: Dir) -> usize;
    /// The connection ended: report unfinished messages.
    fn end(&mut self, out: &mut Out<'_>);
}

/// A per-direction receive buffer with a read cursor, compacted between reads.
#[derive(Default)]
pub(crate) struct RxBuf {
    /// Buffered bytes; `pos..` is unread.
    pub bytes: Vec<u8>,
    /// Read cursor.
    pub pos: usize,
}

impl RxBuf {
    /// Append new bytes after dropping what was read.
    pub(crate) fn push(&mut self, data: &[u8]) {
        if self.pos > 0 {
            self.bytes.drain(..self.pos);
            self.pos = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    /// The unread bytes.
    pub(crate) fn unread(&self) -> &[u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// Drop everything; returns how many unread bytes there were.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.unread().len();
        self.bytes.clear();
        self.pos = 0;
        n
    }
}
