//! Sans-IO tracker of chunked drug-library and firmware transfers (docs/pump-protocol.md §6).

use sha2::{Digest, Sha256};

use crate::command::{Command, UpdateChunk};
use crate::error::ChunkError;
use crate::parse::check_chunk;

/// Which image a transfer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateKind {
    /// DRUG-LIBRARY-UPDATE.
    DrugLibrary,
    /// FIRMWARE-UPDATE.
    Firmware,
}

/// A chunk field that must be identical in every chunk of one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkField {
    /// DRUG-LIBRARY-UPDATE vs FIRMWARE-UPDATE.
    Kind,
    /// CHUNK-COUNT.
    Count,
    /// TOTAL-SIZE.
    TotalSize,
    /// IMAGE-DIGEST.
    Digest,
    /// TARGET-VERSION.
    Version,
}

/// A chunk that breaks the transfer rules of §6.2. A refused chunk leaves the tracker as it
/// was, except [`UpdateError::DigestMismatch`], which ends the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// No transfer in progress and the chunk is not chunk 0.
    #[error("chunk {index} arrived with no transfer in progress")]
    NotStarted {
        /// The chunk's index.
        index: u32,
    },
    /// Chunk 0 of a new transfer while another is incomplete.
    #[error("transfer {previous} is incomplete (next chunk {next_index}) when a new one starts")]
    Interrupted {
        /// The incomplete transfer's id.
        previous: u32,
        /// The chunk it was waiting for.
        next_index: u32,
    },
    /// A chunk of another transfer in the middle of this one.
    #[error("chunk of transfer {found} during transfer {expected}")]
    TransferMismatch {
        /// The transfer in progress.
        expected: u32,
        /// The chunk's transfer id.
        found: u32,
    },
    /// A chunk already received.
    #[error("chunk {index} is a duplicate")]
    Duplicate {
        /// The chunk's index.
        index: u32,
    },
    /// A chunk past the next one: chunks are missing.
    #[error("chunk {found} arrived, chunk {expected} is missing")]
    Missing {
        /// The chunk expected next.
        expected: u32,
        /// The chunk's index.
        found: u32,
    },
    /// A field differs from chunk 0's.
    #[error("chunk changes {0:?} mid-transfer")]
    FieldChanged(ChunkField),
    /// The chunk sizes cannot add up to TOTAL-SIZE.
    #[error("chunks carry {received} bytes, total size is {declared}")]
    SizeMismatch {
        /// TOTAL-SIZE.
        declared: u32,
        /// Bytes so far including this chunk (plus one per chunk still to come).
        received: u64,
    },
    /// The chunk's own fields contradict each other (as the parser checks).
    #[error("{0}")]
    BadChunk(ChunkError),
    /// The reassembled image's SHA-256 differs from IMAGE-DIGEST.
    #[error("image digest mismatch")]
    DigestMismatch,
}

/// Where a transfer stands after an accepted chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// More chunks are expected.
    InProgress {
        /// Index of the next chunk.
        next_index: u32,
        /// Bytes received so far.
        received: u64,
    },
    /// The last chunk arrived; sizes and digest match.
    Complete {
        /// Which image.
        kind: UpdateKind,
        /// Its transfer id.
        transfer_id: u32,
        /// TARGET-VERSION.
        version: String,
        /// TOTAL-SIZE.
        total_size: u32,
    },
}

#[derive(Debug, Clone)]
struct Transfer {
    kind: UpdateKind,
    transfer_id: u32,
    count: u32,
    total_size: u32,
    digest: [u8; 32],
    version: String,
    next_index: u32,
    received: u64,
    hasher: Sha256,
}

/// Follows one transfer at a time (keep one per connection), in order, hashing as it goes.
#[derive(Debug, Clone, Default)]
pub struct UpdateTracker {
    current: Option<Transfer>,
}

impl UpdateTracker {
    /// An idle tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// The transfer in progress: (kind, transfer id, next index).
    pub fn in_progress(&self) -> Option<(UpdateKind, u32, u32)> {
        self.current
            .as_ref()
            .map(|t| (t.kind, t.transfer_id, t.next_index))
    }

    /// Forget the transfer in progress (e.g. on disconnect, or when policy allows a restart).
    pub fn abandon(&mut self) {
        self.current = None;
    }

    /// Feed a command; `None` when it is not an update chunk.
    pub fn accept_command(
        &mut self,
        command: &Command<'_>,
    ) -> Option<Result<Progress, UpdateError>> {
        match command {
            Command::DrugLibraryUpdate(c) => Some(self.accept(UpdateKind::DrugLibrary, c)),
            Command::FirmwareUpdate(c) => Some(self.accept(UpdateKind::Firmware, c)),
            _ => None,
        }
    }

    /// Feed one chunk (already checked by the parser for single-frame consistency).
    pub fn accept(
        &mut self,
        kind: UpdateKind,
        chunk: &UpdateChunk<'_>,
    ) -> Result<Progress, UpdateError> {
        check_chunk(chunk).map_err(UpdateError::BadChunk)?;
        let (mut t, fresh) = match self.current.take() {
            Some(t) => (t, false),
            None if chunk.index != 0 => {
                return Err(UpdateError::NotStarted { index: chunk.index });
            }
            None => (
                Transfer {
                    kind,
                    transfer_id: chunk.transfer_id,
                    count: chunk.count,
                    total_size: chunk.total_size,
                    digest: chunk.digest,
                    version: chunk.version.to_owned(),
                    next_index: 0,
                    received: 0,
                    hasher: Sha256::new(),
                },
                true,
            ),
        };
        if let Err(e) = check(&t, kind, chunk) {
            if !fresh {
                self.current = Some(t);
            }
            return Err(e);
        }
        t.hasher.update(chunk.data);
        t.received += chunk.data.len() as u64;
        t.next_index += 1;
        if t.next_index < t.count {
            let progress = Progress::InProgress {
                next_index: t.next_index,
                received: t.received,
            };
            self.current = Some(t);
            return Ok(progress);
        }
        let digest: [u8; 32] = t.hasher.finalize().into();
        if digest != t.digest {
            return Err(UpdateError::DigestMismatch);
        }
        Ok(Progress::Complete {
            kind: t.kind,
            transfer_id: t.transfer_id,
            version: t.version,
            total_size: t.total_size,
        })
    }
}

/// The ordering and consistency rules of §6.2 for `chunk` against the transfer `t`.
fn check(t: &Transfer, kind: UpdateKind, chunk: &UpdateChunk<'_>) -> Result<(), UpdateError> {
    if chunk.transfer_id != t.transfer_id {
        return Err(if chunk.index == 0 {
            UpdateError::Interrupted {
                previous: t.transfer_id,
                next_index: t.next_index,
            }
        } else {
            UpdateError::TransferMismatch {
                expected: t.transfer_id,
                found: chunk.transfer_id,
            }
        });
    }
    let changed = if kind != t.kind {
        Some(ChunkField::Kind)
    } else if chunk.count != t.count {
        Some(ChunkField::Count)
    } else if chunk.total_size != t.total_size {
        Some(ChunkField::TotalSize)
    } else if chunk.digest != t.digest {
        Some(ChunkField::Digest)
    } else if chunk.version != t.version {
        Some(ChunkField::Version)
    } else {
        None
    };
    if let Some(field) = changed {
        return Err(UpdateError::FieldChanged(field));
    }
    if chunk.index < t.next_index {
        return Err(UpdateError::Duplicate { index: chunk.index });
    }
    if chunk.index > t.next_index {
        return Err(UpdateError::Missing {
            expected: t.next_index,
            found: chunk.index,
        });
    }
    // Every chunk still to come carries at least one byte. The parser guarantees
    // index < count, so the subtraction cannot underflow; saturate anyway.
    let remaining_chunks = u64::from(t.count.saturating_sub(chunk.index).saturating_sub(1));
    let at_least = t.received + chunk.data.len() as u64 + remaining_chunks;
    let last = remaining_chunks == 0;
    if at_least > u64::from(t.total_size) || (last && at_least != u64::from(t.total_size)) {
        return Err(UpdateError::SizeMismatch {
            declared: t.total_size,
            received: at_least,
        });
    }
    Ok(())
}

/// SHA-256 of an image, for building IMAGE-DIGEST.
pub fn image_digest(image: &[u8]) -> [u8; 32] {
    Sha256::digest(image).into()
}
