//! wardgate-dicom: DICOM Upper Layer and DIMSE inspection (being written).
#![forbid(unsafe_code)]
