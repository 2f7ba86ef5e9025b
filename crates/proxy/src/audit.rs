//! The audit log: one JSON line per verdict or connection event, without patient data.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

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
    /// Subject CN of the sender's verified client certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_subject: Option<String>,
    /// `inbound` (sender to upstream) or `outbound` (upstream reply to sender).
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
    /// upstream-lost, closed.
    pub verdict: &'static str,
    /// The deciding rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Application error code sent in ERR-5; on DICOM routes the DIMSE status of a refusal or a
    /// response, or the A-ASSOCIATE-RJ / A-ABORT reason.
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
}

/// Where audit lines go. Each line is written and flushed before the verdict takes effect.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Append to a file (created if missing).
    pub fn to_file(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::to_writer(Box::new(BufWriter::new(file))))
    }

    /// Write to standard output.
    pub fn to_stdout() -> Self {
        Self::to_writer(Box::new(io::stdout()))
    }

    /// Write to any writer (tests, in-memory capture).
    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        AuditLog {
            out: Mutex::new(out),
        }
    }

    /// Record one line. Returns the I/O error so the caller can apply its failure policy.
    pub fn record(&self, mut rec: AuditRecord) -> io::Result<()> {
        if rec.time.is_empty() {
            rec.time = crate::clock::rfc3339(SystemTime::now());
        }
        let mut line = serde_json::to_vec(&rec).map_err(io::Error::other)?;
        line.push(b'\n');
        // A poisoned lock only means another thread panicked mid-write; the writer is still usable.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(&line)?;
        out.flush()
    }
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
