//! Sans-IO, nom-based MLLP framing, zero-copy HL7 v2 message views, escape handling, ACK/NACK building and the IHE PCD-03 infusion order view.
//!
//! ```
//! use wardgate_hl7::{Message, MllpFramer, ParseLimits, wrap};
//!
//! let wire = wrap(b"MSH|^~\\&|BCMA|WARD|GW|HOSP|20261129||RGV^O15^RGV_O15|42|P|2.6\rPV1||I|ICU^^^NORTH\r");
//! let mut framer = MllpFramer::new(wardgate_hl7::DEFAULT_MAX_FRAME);
//! let Ok(Some(frame)) = framer.next_frame(&wire) else { panic!("one whole frame") };
//! let msg = Message::parse(&wire[frame.payload], &ParseLimits::default());
//! let msg = msg.map_err(|e| e.to_string());
//! assert_eq!(
//!     msg.and_then(|m| Ok(m.get_str_path("PV1-3.1").map_err(|e| e.to_string())?.map(|v| v.to_text()))),
//!     Ok(Some("ICU".to_string()))
//! );
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ack;
mod bytes;
mod delimiters;
mod escape;
pub mod fuzzing;
mod header;
mod limits;
mod message;
mod mllp;
mod number;
mod path;
mod pcd03;
mod segment;
mod value;

pub use ack::{
    AckCode, ErrorCode, PivCode, Refusal, ReplyContext, Severity, build_nack, escape_text, read_ack,
};
pub use delimiters::Delimiters;
pub use header::{AckMode, Header};
pub use limits::ParseLimits;
pub use message::{Message, ParseError};
pub use mllp::{
    CARRIAGE_RETURN, DEFAULT_MAX_FRAME, END_BLOCK, FrameInfo, FrameKind, MllpError, MllpFramer,
    START_BLOCK, wrap,
};
pub use number::short_decimal;
pub use path::{MAX_PATH_NUMBER, Path, PathError};
pub use pcd03::{
    Coded, InfusionOrder, InfusionOrderMessage, MAX_ORDERS, MDC_ATTR_PT_WEIGHT,
    MDC_DEV_PUMP_INFUS_VMD, OrderControl, PCD03_PROFILE_OID, Pcd03Error, Quantity,
    read_infusion_orders,
};
pub use segment::{Component, Field, Repetition, Segment};
pub use value::{MAX_NUMBER_LEN, Value};
