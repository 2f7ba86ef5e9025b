//! wardgate's rule language: TOML rule files compiled into an evaluator that judges parsed messages.
//!
//! The engine knows parsed message views, never sockets: the proxy, the offline replay and the
//! `wardgate test` runner all call the same [`RuleSet::evaluate_hl7`] (HL7),
//! [`RuleSet::evaluate_pump`] (pump protocol) and [`RuleSet::evaluate_dicom_associate`] /
//! [`RuleSet::evaluate_dicom_accept`] / [`RuleSet::evaluate_dicom_command`] (DICOM).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod breakglass;
mod compile;
mod compile_inventory;
mod compile_segmentation;
mod condition;
mod diag;
pub mod dicom;
mod dicom_test;
pub mod druglib;
pub mod fuzzing;
pub mod inventory;
pub mod pump;
mod ruleset;
pub mod segmentation;
mod sender;
mod testcase;
pub mod time;
mod toml_read;
pub mod units;
mod units_table;
mod verdict;

pub use breakglass::{OverrideRefused, Overrides};
pub use compile::{
    MAX_ITEMS, MAX_REGEX_SIZE, MAX_RULE_FILES, RuleSource, compile, load_rule_files,
};
pub use compile_segmentation::MAX_FLOWS;
pub use condition::{AddressCondition, TextCondition};
pub use diag::{Diagnostic, Diagnostics};
pub use dicom::{AssociationDecision, CallingAe, CommandDecision, DicomPolicy, Refuse};
pub use druglib::{CareAreaLimits, Drug, DrugLibrary, Limit, Violation};
pub use inventory::{Device, DeviceKind, Inventory, Observed};
pub use pump::{PumpPolicy, PumpState};
pub use ruleset::{MessageType, Policy, Protocol, Rule, RuleSet};
pub use segmentation::{Connection, SegmentDenial, Segmentation};
pub use sender::{CertIdentity, Sender};
pub use testcase::{
    DicomExpect, DicomTest, DicomTestCommand, RuleTest, TestMessage, TestOutcome,
    to_segment_terminators,
};
pub use verdict::{Action, Denial, Mode, Permit, Verdict};
