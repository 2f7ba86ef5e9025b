//! Offline replay: message files and packet captures run through the same framers, parsers and
//! rules as live traffic, one verdict line per message, compared against golden verdicts if
//! asked. No sockets, no clock: message files are judged at HL7 orders' own MSH-7 and pump
//! commands one second apart; captures at their packets' timestamps.

mod capture;
mod dicom;
mod emit;
mod hl7;
mod pump;

pub use capture::{CaptureOptions, CaptureRoute, CaptureSummary, is_capture, replay_capture};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wardgate_hl7::{Header, Message, MllpFramer, ParseLimits, START_BLOCK};
use wardgate_pump::{Frame, FrameDecoder};
use wardgate_rules::{PumpState, RuleSet, Sender, Verdict, to_segment_terminators};

/// Which protocol the files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayProtocol {
    /// HL7 v2: a raw message per file (any line ends), or an MLLP stream (starts with 0x0B).
    Hl7,
    /// Pump protocol frames, back to back.
    Pump,
    /// DICOM Upper Layer PDUs as the requestor sent them; a sibling file named like it plus
    /// `.acceptor` holds the acceptor's PDUs (without one, every proposed context is taken as
    /// accepted).
    Dicom,
}

/// One judged message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayLine {
    /// The file, relative to the replayed folder (or the capture's file name).
    pub file: String,
    /// In a capture: the TCP connection, numbered from 1 in the order the capture shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<u64>,
    /// `inbound` (client to server) or `outbound`, where a file or stream has both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// 0-based position of the message in the file (in a capture: in its stream's direction).
    pub index: usize,
    /// In a capture: when the packet completing the message was captured (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// MSH-9 or the pump command, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// MSH-10, the pump's `device/channel#sequence`, or DICOM `context#message-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_id: Option<String>,
    /// `allow`, `audit-deny`, `deny`, `malformed`, `unmatched-ack` (a reply to a message the
    /// rules refuse) or `unjudgeable` (bytes after a gap in a capture).
    pub verdict: String,
    /// The deciding rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The application error code (PIV 90xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// Why a replay could not run (the files are at fault, or the disk).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A capture file cannot be read further.
    #[error("{path}: {source}")]
    Capture {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        source: wardgate_capture::CaptureError,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, ReplayError> {
    std::fs::read(path).map_err(|source| ReplayError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Files under `dir` (recursively, sorted, at most 100,000) or `dir` itself if it is a file.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, ReplayError> {
    if dir.is_file() {
        return Ok(vec![dir.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| ReplayError::Read {
            path: d.clone(),
            source,
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if p.is_file() && out.len() < 100_000 {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn verdict_line(file: &str, index: usize, message_type: Option<String>, v: &Verdict) -> ReplayLine {
    let (rule, reason, code) = match v {
        Verdict::Permit(p) => (p.rule.as_deref().map(str::to_owned), None, None),
        Verdict::Deny(d) => (
            Some(d.rule.to_string()),
            Some(d.reason.clone()),
            d.application_code,
        ),
    };
    ReplayLine {
        file: file.to_owned(),
        index,
        message_type,
        verdict: v.label().to_owned(),
        rule,
        reason,
        code,
        ..ReplayLine::default()
    }
}

fn malformed(file: &str, index: usize, message_type: Option<String>, why: String) -> ReplayLine {
    ReplayLine {
        file: file.to_owned(),
        index,
        message_type,
        verdict: "malformed".into(),
        reason: Some(why),
        ..ReplayLine::default()
    }
}

pub(crate) fn hl7_type(h: &Header<'_>) -> String {
    let code = h.message_code().map(|v| v.to_text()).unwrap_or_default();
    match h.trigger_event() {
        Some(t) => format!("{code}^{}", t.to_text()),
        None => code,
    }
}

fn judge_hl7(
    rules: &RuleSet,
    sender: &Sender,
    file: &str,
    index: usize,
    payload: &[u8],
) -> ReplayLine {
    match Message::parse(payload, &ParseLimits::default()) {
        Ok(msg) => {
            let v = rules.evaluate_hl7(&msg, sender);
            verdict_line(file, index, Some(hl7_type(msg.header())), &v)
        }
        Err(e) => {
            let t = Header::parse(payload).ok().map(|h| hl7_type(&h));
            malformed(file, index, t, format!("message does not parse: {e}"))
        }
    }
}

/// Replay every file under `root` (names in the output are relative to it) as `sender`.
pub fn replay(
    root: &Path,
    protocol: ReplayProtocol,
    rules: &RuleSet,
    sender: &Sender,
) -> Result<Vec<ReplayLine>, ReplayError> {
    let mut out = Vec::new();
    let mut pump_state = PumpState::new(100_000);
    let mut pump_clock = 0u64;
    for path in list_files(root)? {
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let name = if name.is_empty() {
            path.display().to_string()
        } else {
            name
        };
        if protocol == ReplayProtocol::Dicom {
            if path
                .extension()
                .is_some_and(|e| e == dicom::ACCEPTOR_SUFFIX)
            {
                continue; // replayed with the requestor's file it answers
            }
            let acceptor = dicom::acceptor_file(&path);
            let acceptor = if acceptor.is_file() {
                Some(read(&acceptor)?)
            } else {
                None
            };
            let bytes = read(&path)?;
            dicom::replay_files(
                rules,
                sender,
                &name,
                &bytes,
                acceptor.as_deref(),
                &mut |l| out.push(l),
            );
            continue;
        }
        let bytes = read(&path)?;
        match protocol {
            ReplayProtocol::Dicom => {}
            ReplayProtocol::Hl7 if bytes.first() != Some(&START_BLOCK) => {
                let payload = to_segment_terminators(&bytes);
                out.push(judge_hl7(rules, sender, &name, 0, &payload));
            }
            ReplayProtocol::Hl7 => {
                let mut framer = MllpFramer::default();
                let mut rest = bytes.as_slice();
                let mut index = 0;
                while !rest.is_empty() {
                    match framer.next_frame(rest) {
                        Ok(Some(info)) => {
                            let payload = rest.get(info.payload.clone()).unwrap_or_default();
                            out.push(judge_hl7(rules, sender, &name, index, payload));
                            rest = rest.get(info.consumed..).unwrap_or_default();
                            index += 1;
                        }
                        Ok(None) => {
                            out.push(malformed(
                                &name,
                                index,
                                None,
                                "truncated MLLP block at the end of the file".into(),
                            ));
                            break;
                        }
                        Err(e) => {
                            out.push(malformed(
                                &name,
                                index,
                                None,
                                format!("{e}; the rest of the stream is not framed"),
                            ));
                            break;
                        }
                    }
                }
            }
            ReplayProtocol::Pump => {
                let decoder = FrameDecoder::default();
                let mut rest = bytes.as_slice();
                let mut index = 0;
                while !rest.is_empty() {
                    let frame_bytes = match decoder.next_frame(rest) {
                        Ok(Some(info)) => rest.get(..info.consumed).unwrap_or_default(),
                        Ok(None) => {
                            out.push(malformed(
                                &name,
                                index,
                                None,
                                "truncated frame at the end of the file".into(),
                            ));
                            break;
                        }
                        Err(e) => {
                            out.push(malformed(
                                &name,
                                index,
                                None,
                                format!("{e}; the rest of the stream is not framed"),
                            ));
                            break;
                        }
                    };
                    rest = rest.get(frame_bytes.len()..).unwrap_or_default();
                    pump_clock += 1000;
                    match Frame::parse(frame_bytes) {
                        Ok(frame) if frame.header.flags.response => {
                            rules.observe_pump(&frame, pump_clock, &mut pump_state);
                        }
                        Ok(frame) => {
                            let v =
                                rules.evaluate_pump(&frame, sender, pump_clock, &mut pump_state);
                            let t = frame.header.code.name().map(str::to_owned);
                            out.push(verdict_line(&name, index, t, &v));
                        }
                        Err(e) => out.push(malformed(
                            &name,
                            index,
                            None,
                            format!("frame does not parse: {e}"),
                        )),
                    }
                    index += 1;
                }
            }
        }
    }
    Ok(out)
}

/// How a diff names a message: `file #3`, or `capture.pcap stream 2 outbound #0`.
fn message_name(l: &ReplayLine) -> String {
    let mut name = l.file.clone();
    if let Some(s) = l.stream {
        name.push_str(&format!(" stream {s}"));
    }
    if let Some(d) = &l.direction {
        name.push_str(&format!(" {d}"));
    }
    format!("{name} #{}", l.index)
}

type LineKey = (String, Option<u64>, Option<String>, usize);

fn line_key(l: &ReplayLine) -> LineKey {
    (l.file.clone(), l.stream, l.direction.clone(), l.index)
}

/// Differences between replayed lines and golden ones (a message is named by file, stream,
/// direction and index; compared on verdict, rule and code: reasons are prose and may be
/// reworded). Empty when they agree.
pub fn compare(got: &[ReplayLine], expected: &[ReplayLine]) -> Vec<String> {
    let got_by_key: std::collections::HashMap<LineKey, &ReplayLine> =
        got.iter().map(|g| (line_key(g), g)).collect();
    let expected_keys: std::collections::HashSet<LineKey> = expected.iter().map(line_key).collect();
    let mut diffs = Vec::new();
    for e in expected {
        match got_by_key.get(&line_key(e)) {
            None => diffs.push(format!(
                "{}: expected {}, but no such message was replayed",
                message_name(e),
                e.verdict
            )),
            Some(g) if (&g.verdict, &g.rule, g.code) != (&e.verdict, &e.rule, e.code) => diffs
                .push(format!(
                    "{}: expected {} by {} (code {:?}), got {} by {} (code {:?}){}",
                    message_name(e),
                    e.verdict,
                    e.rule.as_deref().unwrap_or("-"),
                    e.code,
                    g.verdict,
                    g.rule.as_deref().unwrap_or("-"),
                    g.code,
                    g.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )),
            Some(_) => {}
        }
    }
    for g in got {
        if !expected_keys.contains(&line_key(g)) {
            diffs.push(format!(
                "{}: {} was replayed but is not in the expected verdicts",
                message_name(g),
                g.verdict
            ));
        }
    }
    diffs
}

/// Messages the golden file lets through (`allow` or `audit-deny`) that this replay refuses:
/// what a new policy would have refused.
pub fn newly_refused<'a>(got: &'a [ReplayLine], expected: &[ReplayLine]) -> Vec<&'a ReplayLine> {
    let passed: std::collections::HashSet<LineKey> = expected
        .iter()
        .filter(|e| matches!(e.verdict.as_str(), "allow" | "audit-deny"))
        .map(line_key)
        .collect();
    got.iter()
        .filter(|g| g.verdict == "deny" && passed.contains(&line_key(g)))
        .collect()
}
