//! The audit log: one JSON line per verdict or connection event, without patient data, each line
//! chained to the one before it by its SHA-256 (tamper evident; `wardgate audit verify`).

mod verdict;

pub use verdict::{audit_lines, permit_rule, permit_verdict};

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

mod chain;

pub use chain::{ChainBreak, ChainSummary, GENESIS, line_hash, verify_files};

use serde::Serialize;

/// One audit line. Field names are the audit format vendors and SIEMs parse; keep them stable.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AuditRecord {
    /// RFC 3339 UTC time of the verdict.
    pub time: String,
    /// Route name.
    pub route: String,
    /// Connection number on this proxy instance.
    pub connection: u64,
    /// Peer address of the sender.
    pub peer: String,
    /// Transparent routes (`mode = "redirect"` or `"tproxy"`): the address the sender was
    /// connecting to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_dst: Option<String>,
    /// Subject CN of the sender's verified client certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_subject: Option<String>,
    /// `inbound` (sender to upstream) or `outbound` (upstream reply to sender); `config` for rule
    /// reloads, `operator` for break-glass grants.
    pub direction: &'static str,
    /// DICOM routes: the calling AE title of the association (the SCU's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calling_ae: Option<String>,
    /// DICOM routes: the called AE title of the association (the SCP's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called_ae: Option<String>,
    /// DICOM routes: the SOP class of a command (its keyword, or the UID when not in the table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sop_class: Option<String>,
    /// DICOM routes: the move destination AE title of a C-MOVE request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub move_destination: Option<String>,
    /// MSH-9.1^MSH-9.2 when readable; on pump routes the command name (`PROGRAM-INFUSION`); on
    /// DICOM routes the PDU (`A-ASSOCIATE-RQ`) or DIMSE command (`C-STORE-RQ`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// MSH-10 when readable; on pump routes `<device serial>/<channel>#<sequence>`; on DICOM
    /// routes `<context id>#<message id>` of a command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_id: Option<String>,
    /// allow, deny, audit-deny, malformed, fail-open, upstream-unavailable, unmatched-ack,
    /// upstream-lost, closed, audit-unavailable; operator events: break-glass-start,
    /// break-glass-end, break-glass-expired.
    pub verdict: &'static str,
    /// The deciding rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Application error code sent in ERR-5; on pump routes the PIV code of a drug-library or
    /// clinical-check refusal (which picks the NAK reason); on DICOM routes the DIMSE status of a
    /// refusal or a response, or the A-ASSOCIATE-RJ / A-ABORT reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Soft-limit alerts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    /// What audit-mode rules would have refused (`rule: reason`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<String>,
    /// Whether the message's bytes went to the other side.
    pub forwarded: bool,
    /// SHA-256 of the message payload (hex; on pump routes of the whole frame), so a message can
    /// be matched without storing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Payload size in bytes (on pump routes, the whole frame).
    pub bytes: usize,
    /// The break-glass grants in force when the message was judged (or the grant an operator
    /// event is about).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub break_glass: Vec<crate::breakglass::Mark>,
}

/// How an audit file is kept: rotation and durability.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileOptions {
    /// Start a new file once the current one holds this many bytes (the old one is renamed with a
    /// timestamp suffix; the new one's first line links to the old one's last).
    pub rotate_bytes: Option<u64>,
    /// fsync the file at most this often (every line is flushed to the OS regardless).
    pub fsync_interval: Option<Duration>,
}

enum Target {
    File {
        path: PathBuf,
        /// Unbuffered: each line goes to the file in one write, so a failed write leaves nothing
        /// buffered to reappear later.
        out: File,
        written: u64,
        options: FileOptions,
        last_sync: Instant,
    },
    Writer(Box<dyn Write + Send>),
}

struct Sink {
    target: Target,
    /// SHA-256 of the last line written: the next line's `prev`.
    last: [u8; 32],
}

/// Where audit lines go. Each line carries `prev`, the SHA-256 of the line before it, and is
/// flushed as it is written.
pub struct AuditLog {
    sink: Mutex<Sink>,
    /// Whether the last write failed (disk full, I/O error): `/readyz` reports it.
    failing: AtomicBool,
    /// Records that could not be written since the last one that was.
    lost: AtomicU64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// The first line of every audit file: which file this is, and what it continues.
#[derive(Serialize)]
struct ChainStart<'a> {
    time: String,
    chain: &'static str,
    /// Identifies the file; every later line's hash depends on it.
    file: &'a str,
    prev: String,
}

fn file_id() -> String {
    use sha2::{Digest, Sha256};
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!(
        "{}:{}:{:?}",
        now.as_nanos(),
        std::process::id(),
        std::thread::current().id()
    );
    hex::encode(&Sha256::digest(seed.as_bytes())[..16])
}

/// The hash of the last line of an existing file (bounded read from its end), if any.
fn last_line_hash(path: &Path) -> io::Result<Option<[u8; 32]>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    // Audit lines are short; 1 MiB from the end always holds the last one.
    let from = len.saturating_sub(1 << 20);
    f.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    f.take(1 << 20).read_to_end(&mut tail)?;
    let trimmed = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let last = trimmed.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    Ok((!last.is_empty()).then(|| line_hash(last)))
}

impl Sink {
    /// Write `line` (a complete JSON line, its newline included) in one call and chain to it.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        match &mut self.target {
            Target::File {
                out,
                written,
                options,
                last_sync,
                ..
            } => {
                if let Err(e) = out.write_all(line) {
                    // Disk full mid-line: cut the partial line off so the file stays whole lines
                    // and the chain continues from the last complete one.
                    let _ = out.set_len(*written);
                    return Err(e);
                }
                *written += line.len() as u64;
                // The line is in the file: the next one links to it even if the sync fails.
                self.last = line_hash(body);
                if let Some(every) = options.fsync_interval {
                    if last_sync.elapsed() >= every {
                        out.sync_data()?;
                        *last_sync = Instant::now();
                    }
                }
                return Ok(());
            }
            Target::Writer(w) => {
                w.write_all(line)?;
                w.flush()?;
            }
        }
        self.last = line_hash(body);
        Ok(())
    }

    /// Write the first line of a (new) file.
    fn start_chain(&mut self) -> io::Result<()> {
        let id = file_id();
        let start = ChainStart {
            time: crate::clock::rfc3339(SystemTime::now()),
            chain: "start",
            file: &id,
            prev: hex::encode(self.last),
        };
        let mut line = serde_json::to_vec(&start).map_err(io::Error::other)?;
        line.push(b'\n');
        self.write_line(&line)
    }

    /// Rotate when the file is over its size: rename it aside, open a fresh one, link them.
    fn rotate_if_due(&mut self) -> io::Result<()> {
        let Target::File {
            path,
            out,
            written,
            options,
            ..
        } = &mut self.target
        else {
            return Ok(());
        };
        if options.rotate_bytes.is_none_or(|max| *written < max) {
            return Ok(());
        }
        out.sync_all()?;
        let stamp = crate::clock::rfc3339(SystemTime::now()).replace(':', "-");
        // Never rename over an earlier rotation (two in one millisecond get -1, -2, ...).
        let aside = (0..1000)
            .map(|n| {
                let mut name = path.clone().into_os_string();
                match n {
                    0 => name.push(format!(".{stamp}")),
                    n => name.push(format!(".{stamp}-{n}")),
                }
                PathBuf::from(name)
            })
            .find(|p| !p.exists())
            .ok_or_else(|| io::Error::other("no free name to rotate the audit log to"))?;
        std::fs::rename(&*path, &aside)?;
        let file = OpenOptions::new().create(true).append(true).open(&*path)?;
        *out = file;
        *written = 0;
        self.start_chain()
    }
}

impl AuditLog {
    /// Append to a file (created if missing), flushed per line, never rotated.
    pub fn to_file(path: &Path) -> io::Result<Self> {
        Self::to_file_with(path, FileOptions::default())
    }

    /// Append to a file with rotation and fsync settings. A new file starts with a chain-start
    /// line; an existing one is continued from its last line.
    pub fn to_file_with(path: &Path, options: FileOptions) -> io::Result<Self> {
        let last = last_line_hash(path)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        let mut sink = Sink {
            target: Target::File {
                path: path.to_owned(),
                out: file,
                written,
                options,
                last_sync: Instant::now(),
            },
            last: last.unwrap_or(GENESIS),
        };
        if last.is_none() {
            sink.start_chain()?;
        }
        Ok(AuditLog {
            sink: Mutex::new(sink),
            failing: AtomicBool::new(false),
            lost: AtomicU64::new(0),
        })
    }

    /// Write to standard output.
    pub fn to_stdout() -> Self {
        Self::to_writer(Box::new(io::stdout()))
    }

    /// Write to any writer (tests, in-memory capture); the chain starts from [`GENESIS`].
    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        AuditLog {
            sink: Mutex::new(Sink {
                target: Target::Writer(out),
                last: GENESIS,
            }),
            failing: AtomicBool::new(false),
            lost: AtomicU64::new(0),
        }
    }

    /// Whether the last write failed; cleared by the next write that succeeds.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Record one line. Returns the I/O error so the caller can apply its failure policy.
    pub fn record(&self, mut rec: AuditRecord) -> io::Result<()> {
        self.record_mut(&mut rec)
    }

    /// [`AuditLog::record`] without giving the record up (it is still needed when the write
    /// fails): the record's `time` is filled in if empty.
    pub fn record_mut(&self, rec: &mut AuditRecord) -> io::Result<()> {
        let result = self.write_record(rec);
        self.failing.store(result.is_err(), Ordering::Relaxed);
        if result.is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// While failing, try to write an `audit-resumed` line saying how many lines were lost; `true`
    /// once the log is writable again. `/readyz` calls it, so a node that gets no traffic while
    /// not ready still notices the disk has room again.
    pub fn recover(&self) -> bool {
        if !self.is_failing() {
            return true;
        }
        let lost = self.lost.load(Ordering::Relaxed);
        let mut resumed = AuditRecord {
            route: "*".into(),
            direction: "audit",
            verdict: "audit-resumed",
            reason: Some(format!(
                "{lost} audit line(s) could not be written before this one"
            )),
            ..AuditRecord::default()
        };
        if self.write_record(&mut resumed).is_err() {
            return false;
        }
        self.lost.fetch_sub(lost, Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
        true
    }

    fn write_record(&self, rec: &mut AuditRecord) -> io::Result<()> {
        if rec.time.is_empty() {
            rec.time = crate::clock::rfc3339(SystemTime::now());
        }
        // Serialized before taking the lock (connections on other threads keep writing); only the
        // link to the previous line, the write and the hash happen under it. The record is
        // serialized on its own and `"prev"` appended as its last member: the same bytes as a
        // struct with the record's fields flattened, followed by `prev`.
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        serde_json::to_writer(&mut line, &*rec).map_err(io::Error::other)?;
        if line.pop() != Some(b'}') {
            return Err(io::Error::other(
                "audit record did not serialize to a JSON object",
            ));
        }
        // A poisoned lock only means another thread panicked mid-write; the sink is still usable.
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        sink.rotate_if_due()?;
        line.extend_from_slice(b",\"prev\":\"");
        push_hex(&mut line, &sink.last);
        line.extend_from_slice(b"\"}\n");
        sink.write_line(&line)
    }
}

/// Room for a typical audit line, so serializing one allocates once.
const LINE_CAPACITY: usize = 768;

/// Append `bytes` as lowercase hex (what `hex::encode` produces, without a per-digit iterator).
pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// `bytes` as a lowercase hex string.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    // Only ASCII hex digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// An in-memory audit sink for tests and the demo: clones share the same buffer.
#[derive(Clone, Default, Debug)]
pub struct SharedBuffer(pub std::sync::Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// The audit lines written so far, parsed as JSON.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
