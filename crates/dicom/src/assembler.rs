//! Command-set reassembly across PDVs and PDUs, with a byte bound; data-set fragments are
//! counted, never buffered (PS3.8 Annex E, PS3.7 §6.3.1).

use crate::limits::DEFAULT_MAX_COMMAND_LEN;
use crate::pdata::Pdv;

/// A PDV sequence that breaks PS3.8 Annex E or the command bound. Every variant is the
/// sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyError {
    /// The command set grows past the configured bound.
    #[error("command set of at least {len} bytes, limit is {limit}")]
    CommandTooLarge {
        /// Bytes the command would have with this fragment.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// A fragment on a different presentation context than the message it continues.
    #[error("fragment on presentation context {found} inside a message on context {expected}")]
    ContextSwitch {
        /// The message's context.
        expected: u8,
        /// The fragment's context.
        found: u8,
    },
    /// A data-set fragment with no command before it, or inside an unfinished command.
    #[error("data-set fragment where a command fragment is due")]
    UnexpectedDataSet,
    /// A command fragment inside an unfinished data set.
    #[error("command fragment inside an unfinished data set")]
    UnexpectedCommand,
}

/// What one PDV contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// A command fragment was buffered; more are due.
    CommandPending,
    /// The command set is complete: its bytes, ready for [`crate::CommandSet::parse`].
    Command {
        /// Presentation context the command arrived on.
        context_id: u8,
        /// The whole command set.
        bytes: Vec<u8>,
    },
    /// A data-set fragment was counted.
    DataSet {
        /// Presentation context.
        context_id: u8,
        /// Data-set bytes of the current message so far, this fragment included.
        total: u64,
        /// Whether this was the last fragment of the data set.
        last: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between messages.
    Idle,
    /// Command fragments are arriving.
    Command { context_id: u8 },
    /// A command is complete; a data set or the next command may follow.
    AfterCommand { context_id: u8 },
    /// Data-set fragments are arriving.
    DataSet { context_id: u8 },
}

/// Reassembles command sets from the PDVs of one direction of one association.
///
/// Feed every PDV of every P-DATA-TF in order with [`CommandAssembler::push`]. The proxy keeps
/// one assembler per direction. After an error the stream cannot be trusted: abort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandAssembler {
    max_command_len: usize,
    buf: Vec<u8>,
    phase: Phase,
    data_set_bytes: u64,
}

impl Default for CommandAssembler {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_COMMAND_LEN)
    }
}

impl CommandAssembler {
    /// An assembler refusing command sets over `max_command_len` bytes.
    pub const fn new(max_command_len: usize) -> Self {
        Self {
            max_command_len,
            buf: Vec::new(),
            phase: Phase::Idle,
            data_set_bytes: 0,
        }
    }

    /// Bytes of the command set being assembled.
    pub fn pending_command_len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the assembler is between messages (nothing pending).
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle | Phase::AfterCommand { .. })
    }

    /// Account for one PDV.
    pub fn push(&mut self, pdv: &Pdv<'_>) -> Result<Assembled, AssemblyError> {
        let found = pdv.context_id;
        let same = |expected: u8| {
            if expected == found {
                Ok(())
            } else {
                Err(AssemblyError::ContextSwitch { expected, found })
            }
        };
        if pdv.is_command() {
            match self.phase {
                Phase::DataSet { .. } => return Err(AssemblyError::UnexpectedCommand),
                Phase::Command { context_id } => same(context_id)?,
                Phase::Idle | Phase::AfterCommand { .. } => {}
            }
            let len = self.buf.len() as u64 + pdv.fragment.len() as u64;
            if len > self.max_command_len as u64 {
                return Err(AssemblyError::CommandTooLarge {
                    len,
                    limit: self.max_command_len,
                });
            }
            self.buf.extend_from_slice(pdv.fragment);
            if pdv.is_last() {
                self.phase = Phase::AfterCommand { context_id: found };
                self.data_set_bytes = 0;
                Ok(Assembled::Command {
                    context_id: found,
                    bytes: core::mem::take(&mut self.buf),
                })
            } else {
                self.phase = Phase::Command { context_id: found };
                Ok(Assembled::CommandPending)
            }
        } else {
            match self.phase {
                Phase::Idle | Phase::Command { .. } => {
                    return Err(AssemblyError::UnexpectedDataSet);
                }
                Phase::AfterCommand { context_id } | Phase::DataSet { context_id } => {
                    same(context_id)?;
                }
            }
            self.data_set_bytes = self
                .data_set_bytes
                .saturating_add(pdv.fragment.len() as u64);
            let total = self.data_set_bytes;
            self.phase = if pdv.is_last() {
                Phase::Idle
            } else {
                Phase::DataSet { context_id: found }
            };
            Ok(Assembled::DataSet {
                context_id: found,
                total,
                last: pdv.is_last(),
            })
        }
    }
}
