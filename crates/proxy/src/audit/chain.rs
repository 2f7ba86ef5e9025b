//! The audit hash chain: every line's `prev` is the SHA-256 of the line before it (across
//! rotated files too), so an edited, removed or reordered line breaks the chain where it happened.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The `prev` of the very first line: no line came before it.
pub const GENESIS: [u8; 32] = [0; 32];

/// SHA-256 of one line as written (without its newline).
pub fn line_hash(line: &[u8]) -> [u8; 32] {
    Sha256::digest(line).into()
}

/// Where and why a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct ChainBreak {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// What a verified chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// Files read.
    pub files: usize,
    /// Lines verified.
    pub lines: usize,
}

/// Verify files in the order they were written (oldest first). The first line of the first file
/// is taken as the anchor (older files may have been archived away); every other line must link
/// to the one before it, across file boundaries.
pub fn verify_files(paths: &[&Path]) -> Result<ChainSummary, ChainBreak> {
    let mut previous: Option<[u8; 32]> = None;
    let mut lines = 0;
    for path in paths {
        let at = |line: usize, reason: String| ChainBreak {
            file: path.to_path_buf(),
            line,
            reason,
        };
        let text = std::fs::read(path).map_err(|e| at(0, format!("cannot read: {e}")))?;
        let body = text.strip_suffix(b"\n").unwrap_or(&text);
        if body.is_empty() {
            continue;
        }
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            let n = i + 1;
            let value: serde_json::Value = serde_json::from_slice(line)
                .map_err(|e| at(n, format!("not a JSON audit line: {e}")))?;
            let prev = value
                .get("prev")
                .and_then(|p| p.as_str())
                .ok_or_else(|| at(n, "no `prev` field: the line is not chained".into()))?;
            if let Some(expected) = previous {
                if prev != hex::encode(expected) {
                    return Err(at(
                        n,
                        format!(
                            "`prev` is {prev} but line {} hashes to {}: that line was changed, or lines were removed or inserted before this one",
                            n.saturating_sub(1),
                            hex::encode(expected)
                        ),
                    ));
                }
            }
            previous = Some(line_hash(line));
            lines += 1;
        }
    }
    Ok(ChainSummary {
        files: paths.len(),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditLog, AuditRecord, FileOptions};

    fn record(n: usize) -> AuditRecord {
        AuditRecord {
            route: "r".into(),
            verdict: "allow",
            bytes: n,
            ..AuditRecord::default()
        }
    }

    #[test]
    fn a_written_log_verifies_and_an_edit_is_found_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::to_file(&path).unwrap();
        for n in 0..5 {
            log.record(record(n)).unwrap();
        }
        drop(log);
        // Reopening continues the chain.
        let log = AuditLog::to_file(&path).unwrap();
        log.record(record(5)).unwrap();
        drop(log);
        let summary = verify_files(&[&path]).unwrap();
        assert_eq!(summary.lines, 7, "a chain-start line and six records");

        let text = std::fs::read_to_string(&path).unwrap();
        let tampered = text.replacen("\"bytes\":3", "\"bytes\":4", 1);
        std::fs::write(&path, tampered).unwrap();
        let broken = verify_files(&[&path]).unwrap_err();
        assert_eq!(broken.line, 6, "{broken}");

        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(2);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert_eq!(verify_files(&[&path]).unwrap_err().line, 3);
    }

    #[test]
    fn rotation_links_the_new_file_to_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::to_file_with(
            &path,
            FileOptions {
                rotate_bytes: Some(300),
                fsync_interval: Some(std::time::Duration::ZERO),
            },
        )
        .unwrap();
        for n in 0..10 {
            log.record(record(n)).unwrap();
        }
        drop(log);
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(files.len() >= 3, "expected rotations, got {files:?}");
        // Rotated files carry a timestamp suffix; the live file is last.
        files.sort_by_key(|p| (p == &path, p.clone()));
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let summary = verify_files(&refs).unwrap();
        assert_eq!(summary.files, files.len());
        // Out of order, the link between files breaks.
        let mut swapped = refs.clone();
        swapped.swap(0, 1);
        assert!(verify_files(&swapped).is_err());
    }
}
