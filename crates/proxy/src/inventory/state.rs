//! The learned inventory's state file: written atomically (temporary file, sync, rename) on an
//! interval and at shutdown, read at start; a corrupt file is reported, never fatal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{LearnedInventory, STATE_VERSION, Snapshot};

/// Largest state file read at start.
pub const MAX_STATE_BYTES: u64 = 64 << 20;

/// Why the state file could not be used. The file is at fault (or the disk).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// It could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not a learned inventory (corrupt, truncated, another format or version).
    #[error("{path}: not a wardgate inventory state file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl LearnedInventory {
    /// Write the state file if something changed since the last write: to a temporary file in
    /// the same folder, synced, then renamed over the old one (a crash leaves one or the other).
    pub fn save(&self) -> Result<bool, StateError> {
        let Some(path) = &self.config.state_file else {
            return Ok(false);
        };
        let _saving = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = {
            let mut state = self.lock();
            if !std::mem::take(&mut state.dirty) {
                return Ok(false);
            }
            drop(state);
            self.snapshot()
        };
        let result = write_atomically(path, &snapshot);
        if result.is_err() {
            self.lock().dirty = true;
        }
        result.map(|()| true)
    }

    /// Load the state file named in the configuration, if there is one. A missing file is an
    /// empty start; a corrupt one is reported to the caller (who logs it and starts empty).
    pub fn load(&self) -> Result<usize, StateError> {
        let Some(path) = &self.config.state_file else {
            return Ok(0);
        };
        let Some(snapshot) = read_state(path)? else {
            return Ok(0);
        };
        let n = snapshot.devices.len();
        self.restore(snapshot);
        Ok(n)
    }
}

fn write_atomically(path: &Path, snapshot: &Snapshot) -> Result<(), StateError> {
    use std::io::Write;
    let io = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec_pretty(snapshot).map_err(|e| io(std::io::Error::other(e)))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&json).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Read a state file: `Ok(None)` when it does not exist.
pub fn read_state(path: &Path) -> Result<Option<Snapshot>, StateError> {
    let io = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let corrupt = |message: String| StateError::Corrupt {
        path: path.to_owned(),
        message,
    };
    if meta.len() > MAX_STATE_BYTES {
        return Err(corrupt(format!(
            "{} bytes is more than the limit of {MAX_STATE_BYTES}",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if snapshot.version != STATE_VERSION {
        return Err(corrupt(format!(
            "version {} (expected {STATE_VERSION})",
            snapshot.version
        )));
    }
    Ok(Some(snapshot))
}

/// Save the inventory every `save_interval` (when it changed) until the task is dropped.
pub async fn save_periodically(inventory: Arc<LearnedInventory>) {
    let mut tick = tokio::time::interval(inventory.config.save_interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let inv = inventory.clone();
        match tokio::task::spawn_blocking(move || inv.save()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "inventory state not saved"),
            Err(e) => tracing::error!(error = %e, "inventory save task failed"),
            Ok(Ok(_)) => {}
        }
    }
}
