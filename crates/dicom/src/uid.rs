//! The SOP classes, transfer syntaxes and application context rules name: keyword ↔ UID
//! (PS3.6 Annex A; keywords as in dicom-rs' `dicom-dictionary-std` 0.10.1, against which every
//! entry was checked).

/// What a UID identifies (PS3.6 Table A-1, "UID Type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UidKind {
    /// A SOP class (an abstract syntax in association negotiation).
    SopClass,
    /// A transfer syntax.
    TransferSyntax,
    /// An application context name.
    ApplicationContext,
}

/// One dictionary entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UidEntry {
    /// The UID.
    pub uid: &'static str,
    /// The keyword (PS3.6 Annex A).
    pub keyword: &'static str,
    /// What it identifies.
    pub kind: UidKind,
}

const fn e(uid: &'static str, keyword: &'static str, kind: UidKind) -> UidEntry {
    UidEntry { uid, keyword, kind }
}

use UidKind::{ApplicationContext as A, SopClass as S, TransferSyntax as T};

/// The dictionary.
pub const ENTRIES: &[UidEntry] = &[
    e("1.2.840.10008.3.1.1.1", "DICOMApplicationContext", A),
    e("1.2.840.10008.1.1", "Verification", S),
    e("1.2.840.10008.1.20.1", "StorageCommitmentPushModel", S),
    e(
        "1.2.840.10008.3.1.2.3.3",
        "ModalityPerformedProcedureStep",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.1.1",
        "ComputedRadiographyImageStorage",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.1.1.1",
        "DigitalXRayImageStorageForPresentation",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.1.1.2",
        "DigitalMammographyXRayImageStorageForPresentation",
        S,
    ),
    e("1.2.840.10008.5.1.4.1.1.2", "CTImageStorage", S),
    e("1.2.840.10008.5.1.4.1.1.2.1", "EnhancedCTImageStorage", S),
    e(
        "1.2.840.10008.5.1.4.1.1.3.1",
        "UltrasoundMultiFrameImageStorage",
        S,
    ),
    e("1.2.840.10008.5.1.4.1.1.4", "MRImageStorage", S),
    e("1.2.840.10008.5.1.4.1.1.4.1", "EnhancedMRImageStorage", S),
    e("1.2.840.10008.5.1.4.1.1.6.1", "UltrasoundImageStorage", S),
    e(
        "1.2.840.10008.5.1.4.1.1.7",
        "SecondaryCaptureImageStorage",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.1.12.1",
        "XRayAngiographicImageStorage",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.1.20",
        "NuclearMedicineImageStorage",
        S,
    ),
    e("1.2.840.10008.5.1.4.1.1.88.11", "BasicTextSRStorage", S),
    e("1.2.840.10008.5.1.4.1.1.104.1", "EncapsulatedPDFStorage", S),
    e(
        "1.2.840.10008.5.1.4.1.1.128",
        "PositronEmissionTomographyImageStorage",
        S,
    ),
    e("1.2.840.10008.5.1.4.1.1.481.5", "RTPlanStorage", S),
    e(
        "1.2.840.10008.5.1.4.1.2.1.1",
        "PatientRootQueryRetrieveInformationModelFind",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.2.1.2",
        "PatientRootQueryRetrieveInformationModelMove",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.2.1.3",
        "PatientRootQueryRetrieveInformationModelGet",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.2.2.1",
        "StudyRootQueryRetrieveInformationModelFind",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.2.2.2",
        "StudyRootQueryRetrieveInformationModelMove",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.1.2.2.3",
        "StudyRootQueryRetrieveInformationModelGet",
        S,
    ),
    e(
        "1.2.840.10008.5.1.4.31",
        "ModalityWorklistInformationModelFind",
        S,
    ),
    e("1.2.840.10008.1.2", "ImplicitVRLittleEndian", T),
    e("1.2.840.10008.1.2.1", "ExplicitVRLittleEndian", T),
    e(
        "1.2.840.10008.1.2.1.99",
        "DeflatedExplicitVRLittleEndian",
        T,
    ),
    e("1.2.840.10008.1.2.2", "ExplicitVRBigEndian", T),
    e("1.2.840.10008.1.2.4.50", "JPEGBaseline8Bit", T),
    e("1.2.840.10008.1.2.4.70", "JPEGLosslessSV1", T),
    e("1.2.840.10008.1.2.4.90", "JPEG2000Lossless", T),
    e("1.2.840.10008.1.2.4.91", "JPEG2000", T),
    e("1.2.840.10008.1.2.5", "RLELossless", T),
];

/// The entry with this keyword (exact, case-sensitive).
pub fn by_keyword(keyword: &str) -> Option<&'static UidEntry> {
    ENTRIES.iter().find(|e| e.keyword == keyword)
}

/// The entry for this UID.
pub fn by_uid(uid: &str) -> Option<&'static UidEntry> {
    ENTRIES.iter().find(|e| e.uid == uid)
}

/// The keyword of a UID in the dictionary.
pub fn keyword_of(uid: &str) -> Option<&'static str> {
    by_uid(uid).map(|e| e.keyword)
}

/// The UID of a keyword in the dictionary.
pub fn uid_of(keyword: &str) -> Option<&'static str> {
    by_keyword(keyword).map(|e| e.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_uids_are_unique_and_round_trip() {
        for entry in ENTRIES {
            assert_eq!(by_keyword(entry.keyword), Some(entry));
            assert_eq!(by_uid(entry.uid), Some(entry));
            assert!(crate::text::uid_str(entry.uid.as_bytes()) == Some(entry.uid));
        }
        assert_eq!(uid_of("CTImageStorage"), Some("1.2.840.10008.5.1.4.1.1.2"));
        assert_eq!(
            keyword_of("1.2.840.10008.1.2.1"),
            Some("ExplicitVRLittleEndian")
        );
        assert_eq!(keyword_of("1.2.3"), None);
    }
}
