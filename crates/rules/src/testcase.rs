//! Rule tests declared beside the rules (`[[test]]`), and a runner that reports like a test runner.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use wardgate_hl7::{Message, ParseLimits};

use crate::ruleset::RuleSet;
use crate::sender::Sender;
use crate::verdict::{Action, Verdict};

/// Where a test's message comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestMessage {
    /// A fixture file (resolved against the rule file's folder).
    File(PathBuf),
    /// Inline text; line ends become `\r` segment terminators.
    Inline(Vec<u8>),
    /// Pump protocol frames (binary files), replayed in order one second apart: requests are
    /// judged, the pump's responses feed the state; the expectation is about the last request.
    PumpFrames(Vec<PathBuf>),
    /// A DICOM association (and optionally one command on it), described in the rule file.
    Dicom(Box<DicomTest>),
    /// A connection judged by the segmentation policy (`connection = { from, to, protocol }`).
    Connection(crate::segmentation::Connection),
}

/// What a DICOM test expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DicomExpect {
    /// The association is accepted (and the command, if any, forwarded).
    Allow,
    /// The association request is answered A-ASSOCIATE-RJ.
    Reject,
    /// The command is answered with a DIMSE failure response.
    Refuse,
    /// The association is aborted (at the acceptor's answer or at the command).
    Abort,
}

impl DicomExpect {
    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            DicomExpect::Allow => "allow",
            DicomExpect::Reject => "reject",
            DicomExpect::Refuse => "refuse",
            DicomExpect::Abort => "abort",
        }
    }
}

/// One DIMSE request a DICOM test sends on its association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomTestCommand {
    /// The request's command field.
    pub field: wardgate_dicom::CommandField,
    /// Its SOP class UID; default: the first proposed context's.
    pub sop_class: Option<String>,
    /// Move destination (C-MOVE).
    pub move_destination: Option<String>,
    /// Priority; default medium for the commands that carry one.
    pub priority: Option<wardgate_dicom::Priority>,
}

/// A DICOM rule test: an A-ASSOCIATE-RQ built from AE titles and contexts, the acceptor's
/// A-ASSOCIATE-AC accepting every context with its first proposed transfer syntax, and
/// optionally one command sent in the first accepted context of its SOP class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomTest {
    /// Calling AE title.
    pub calling_ae: String,
    /// Called AE title.
    pub called_ae: String,
    /// Proposed contexts, in order (ids 1, 3, 5, ...): SOP class UID and transfer syntax UIDs.
    pub contexts: Vec<(String, Vec<String>)>,
    /// Whether the request carries a user identity.
    pub user_identity: bool,
    /// The command, if the test sends one.
    pub command: Option<DicomTestCommand>,
    /// The expected outcome.
    pub expect: DicomExpect,
    /// The expected A-ASSOCIATE-RJ reason.
    pub reason: Option<u8>,
    /// The expected DIMSE failure status.
    pub status: Option<u16>,
}

/// One declared test case.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTest {
    /// What the test shows.
    pub name: String,
    /// Rule file and line of the `[[test]]`.
    pub origin: (Arc<str>, usize),
    /// The message.
    pub message: TestMessage,
    /// Who sends it.
    pub sender: Sender,
    /// Expected verdict.
    pub expect: Action,
    /// Expected deciding rule, if the test names one.
    pub rule: Option<String>,
    /// Expected application error code (ERR-5), if the test names one.
    pub code: Option<u16>,
    /// Expect a soft-limit alert (true) or none (false).
    pub alert: Option<bool>,
    /// The time the message is judged at (HL7 DTM); default: its own MSH-7.
    pub now: Option<String>,
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    /// The test's name.
    pub name: String,
    /// Rule file and line.
    pub origin: (Arc<str>, usize),
    /// `None` when it passed; otherwise what differed.
    pub failure: Option<String>,
}

impl fmt::Display for TestOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "test {} ... ok", self.name),
            Some(why) => write!(
                f,
                "test {} ... FAILED\n  at {}:{}\n  {why}",
                self.name, self.origin.0, self.origin.1
            ),
        }
    }
}

impl RuleTest {
    /// The message bytes, with editor line ends (`\n`, `\r\n`) turned into HL7's `\r`.
    pub fn load(&self) -> Result<Vec<u8>, String> {
        let bytes = match &self.message {
            TestMessage::Inline(bytes) => bytes.clone(),
            TestMessage::File(path) => std::fs::read(path)
                .map_err(|e| format!("cannot read message file {}: {e}", path.display()))?,
            TestMessage::PumpFrames(_) => {
                return Err("a pump test has frames, not a message".into());
            }
            TestMessage::Dicom(_) => {
                return Err("a DICOM test describes an association, not a message".into());
            }
            TestMessage::Connection(_) => {
                return Err("a segmentation test describes a connection, not a message".into());
            }
        };
        Ok(to_segment_terminators(&bytes))
    }

    /// Run this test against a rule set.
    pub fn run(&self, rules: &RuleSet, limits: &ParseLimits) -> TestOutcome {
        let failure = self.check(rules, limits).err();
        TestOutcome {
            name: self.name.clone(),
            origin: self.origin.clone(),
            failure,
        }
    }

    fn pump_verdict(&self, rules: &RuleSet, files: &[PathBuf]) -> Result<Verdict, String> {
        let mut state = crate::pump::PumpState::new(1024);
        let mut last = None;
        for (i, path) in files.iter().enumerate() {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read frame file {}: {e}", path.display()))?;
            let frame = wardgate_pump::Frame::parse(&bytes)
                .map_err(|e| format!("{} does not parse: {e}", path.display()))?;
            let now_ms = (i as u64) * 1000;
            if frame.header.flags.response {
                rules.observe_pump(&frame, now_ms, &mut state);
            } else {
                last = Some(rules.evaluate_pump(&frame, &self.sender, now_ms, &mut state));
            }
        }
        last.ok_or_else(|| "the test has no request frame".to_owned())
    }

    fn check(&self, rules: &RuleSet, limits: &ParseLimits) -> Result<(), String> {
        let verdict = match &self.message {
            TestMessage::Dicom(test) => {
                return test.check(rules, &self.sender, self.rule.as_deref());
            }
            TestMessage::Connection(c) => return self.check_connection(rules, c),
            TestMessage::PumpFrames(files) => self.pump_verdict(rules, files)?,
            _ => {
                let bytes = self.load()?;
                let msg = Message::parse(&bytes, limits)
                    .map_err(|e| format!("the test message does not parse: {e}"))?;
                let now = match &self.now {
                    Some(t) => Some(
                        crate::time::parse_hl7_ts(t, rules.policy.local_offset_minutes)
                            .ok_or_else(|| format!("`now = {t:?}` is not an HL7 timestamp"))?,
                    ),
                    None => None,
                };
                rules.evaluate_hl7_at(&msg, &self.sender, now)
            }
        };
        let got = if verdict.forwards() {
            Action::Allow
        } else {
            Action::Deny
        };
        if got != self.expect {
            return Err(format!("expected {}, got {verdict}", self.expect.as_str()));
        }
        if let Some(rule) = &self.rule {
            if verdict.rule() != Some(rule.as_str()) {
                return Err(format!(
                    "expected rule {rule}, got {}",
                    verdict.rule().unwrap_or("default")
                ));
            }
        }
        if let Some(code) = self.code {
            let got = match &verdict {
                Verdict::Deny(d) => d.application_code,
                Verdict::Permit(_) => None,
            };
            if got != Some(code) {
                return Err(format!("expected code {code}, got {got:?} ({verdict})"));
            }
        }
        if let Some(want) = self.alert {
            let has = matches!(&verdict, Verdict::Permit(p) if !p.alerts.is_empty());
            if has != want {
                return Err(format!(
                    "expected {} soft-limit alert, got {verdict}",
                    if want { "a" } else { "no" }
                ));
            }
        }
        Ok(())
    }
}

impl RuleTest {
    /// A segmentation test: the verdict, and the allowing flow when the test names one.
    fn check_connection(
        &self,
        rules: &RuleSet,
        c: &crate::segmentation::Connection,
    ) -> Result<(), String> {
        let got = rules.judge_connection(c);
        let flow = got.as_ref().ok().map(|f| f.to_string());
        match (&got, self.expect) {
            (Ok(f), Action::Deny) => return Err(format!("expected deny, allowed by flow {f}")),
            (Err(d), Action::Allow) => {
                return Err(format!("expected allow, refused: {}", d.reason));
            }
            _ => {}
        }
        if let Some(want) = &self.rule {
            let got = flow.as_deref().unwrap_or("default");
            if got != want {
                return Err(format!("expected flow {want}, got {got}"));
            }
        }
        Ok(())
    }
}

impl RuleSet {
    /// Run every declared test.
    pub fn run_tests(&self, limits: &ParseLimits) -> Vec<TestOutcome> {
        self.tests.iter().map(|t| t.run(self, limits)).collect()
    }
}

/// Turn `\r\n` and `\n` line ends into `\r`, the HL7 segment terminator.
pub fn to_segment_terminators(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.push(b'\r');
                i += 1;
            }
            b'\n' => out.push(b'\r'),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}
