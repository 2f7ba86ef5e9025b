//! A controller-side helper: numbers requests and encodes them.

use crate::command::Command;
use crate::error::EncodeError;
use crate::frame::Frame;
use crate::header::{DeviceId, Flags};

/// Assigns sequence numbers (wrapping) and builds request frames for one pump.
#[derive(Debug, Clone)]
pub struct Controller {
    device: DeviceId,
    next_sequence: u32,
    ack_requested: bool,
}

impl Controller {
    /// A controller for `device`, starting at sequence 1 and asking for ACKs.
    pub fn new(device: DeviceId) -> Self {
        Self {
            device,
            next_sequence: 1,
            ack_requested: true,
        }
    }

    /// Whether requests set the ack-requested flag (default true).
    pub fn set_ack_requested(&mut self, on: bool) {
        self.ack_requested = on;
    }

    /// The sequence number the next request will carry.
    pub fn next_sequence(&self) -> u32 {
        self.next_sequence
    }

    /// Encode `command` for `channel`; returns its sequence number and the bytes.
    ///
    /// A sequence number is used up only when encoding succeeds.
    pub fn command(
        &mut self,
        channel: u8,
        command: Command<'_>,
    ) -> Result<(u32, Vec<u8>), EncodeError> {
        let sequence = self.next_sequence;
        let device = if matches!(command, Command::Hello(_)) {
            DeviceId::UNADDRESSED
        } else {
            self.device
        };
        let bytes = Frame::new(
            Flags::request(self.ack_requested),
            sequence,
            device,
            channel,
            command,
        )
        .encode()?;
        self.next_sequence = sequence.wrapping_add(1);
        Ok((sequence, bytes))
    }
}
