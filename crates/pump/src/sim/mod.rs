//! Sans-IO simulators: a pump ([`PumpSim`]) and a controller helper ([`Controller`]).

mod controller;
mod pump;

pub use controller::Controller;
pub use pump::{ChannelSim, Program, PumpSim};
