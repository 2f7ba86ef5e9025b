//! P-DATA command reassembly stays within its bound. See `wardgate_dicom::fuzzing::reassembly`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_dicom::fuzzing::reassembly(data));
