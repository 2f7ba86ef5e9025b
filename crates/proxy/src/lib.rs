//! wardgate's proxy: listeners, TLS, per-connection inspection, upstreams, audit log and metrics.
//!
//! Parsers and rules are pure functions of bytes; this crate owns every socket, timer and file.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod admin_breakglass;
pub mod audit;
mod audit_gate;
pub mod breakglass;
pub mod clock;
pub mod config;
pub mod dicom_conn;
pub mod fuzzing;
pub mod hl7_conn;
pub mod identity;
pub mod inbox;
pub mod inventory;
pub mod io;
mod link;
pub mod pki;
pub mod pump_conn;
mod pump_sim;
pub mod replay;
pub mod route;
pub mod segmentation;
pub mod server;
pub mod sim;
pub mod site;
pub mod telemetry;
pub mod tls;
pub mod transparent;
pub mod upstream;
mod waiter;

pub use audit::{AuditLog, AuditRecord};
pub use config::Config;
pub use route::{Route, RouteSpec};
pub use server::{Proxy, StartError};
