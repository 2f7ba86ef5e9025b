//! Compiling the DICOM parts of a rule file: the `[dicom]` AE registry, `protocol = "dicom"`
//! rules (`refuse`, `status`, `reason`, `[rule.dicom]`) and DICOM rule tests, every problem
//! reported with its position and a hint.

mod cases;
mod policy;
mod rule;
mod values;

pub(crate) use cases::{compile_dicom_test, dicom_expect};
pub(crate) use policy::compile_dicom_policy;
pub(crate) use rule::compile_rule_dicom;
