//! DIMSE command sets: read-write-read and the failure response. See `wardgate_dicom::fuzzing::command_set`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_dicom::fuzzing::command_set(data));
