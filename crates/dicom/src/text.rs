//! The two string shapes DICOM networking uses: AE titles (PS3.5 §6.2, VR AE) and UIDs
//! (PS3.5 §9.1).

use crate::limits::{MAX_AE_TITLE_LEN, MAX_UID_LEN};

/// Why an AE title is invalid (PS3.5 §6.2, VR AE; PS3.8 §9.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AeTitleError {
    /// Only spaces ("no application name" shall not be used).
    #[error("is blank")]
    Blank,
    /// More than 16 characters.
    #[error("is {len} bytes, over 16")]
    TooLong {
        /// Length after trimming.
        len: usize,
    },
    /// A control character, a byte outside ASCII, or a backslash.
    #[error("has byte {byte:#04x} at offset {offset}")]
    BadByte {
        /// Offset in the field.
        offset: usize,
        /// The byte.
        byte: u8,
    },
}

/// Validate an AE title field and return it with leading and trailing spaces removed.
pub fn ae_title(field: &[u8]) -> Result<&str, AeTitleError> {
    if let Some((offset, &byte)) = field
        .iter()
        .enumerate()
        .find(|&(_, &b)| !(0x20..0x7F).contains(&b) || b == b'\\')
    {
        return Err(AeTitleError::BadByte { offset, byte });
    }
    let text = core::str::from_utf8(field)
        .map_err(|_| AeTitleError::BadByte { offset: 0, byte: 0 })?
        .trim_matches(' ');
    if text.is_empty() {
        return Err(AeTitleError::Blank);
    }
    if text.len() > MAX_AE_TITLE_LEN {
        return Err(AeTitleError::TooLong { len: text.len() });
    }
    Ok(text)
}

/// A UID with its trailing NUL or space padding removed, if it is 1–64 digits and dots.
pub(crate) fn uid_str(bytes: &[u8]) -> Option<&str> {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes.get(end - 1), Some(0 | b' ')) {
        end -= 1;
    }
    let trimmed = bytes.get(..end)?;
    let ok = !trimmed.is_empty()
        && trimmed.len() <= MAX_UID_LEN
        && trimmed.iter().all(|b| b.is_ascii_digit() || *b == b'.');
    if !ok {
        return None;
    }
    core::str::from_utf8(trimmed).ok()
}

/// [`uid_str`] for text dicom-ul decoded.
pub(crate) fn uid(text: &str) -> Option<String> {
    uid_str(text.as_bytes()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ae_titles() {
        assert_eq!(ae_title(b"  CT_SCANNER_01  "), Ok("CT_SCANNER_01"));
        assert_eq!(ae_title(b"                "), Err(AeTitleError::Blank));
        assert_eq!(
            ae_title(b"CT\0             "),
            Err(AeTitleError::BadByte { offset: 2, byte: 0 })
        );
        assert_eq!(
            ae_title(b"A\\B"),
            Err(AeTitleError::BadByte {
                offset: 1,
                byte: b'\\'
            })
        );
        assert_eq!(
            ae_title(b"ABCDEFGHIJKLMNOPQ"),
            Err(AeTitleError::TooLong { len: 17 })
        );
    }

    #[test]
    fn uids_lose_their_padding() {
        assert_eq!(uid_str(b"1.2.840.10008.1.1\0"), Some("1.2.840.10008.1.1"));
        assert_eq!(uid_str(b"1.2 "), Some("1.2"));
        assert_eq!(uid_str(b"\0"), None);
        assert_eq!(uid_str(b"1.2.x"), None);
        assert_eq!(uid_str(&[b'1'; 65]), None);
    }
}
