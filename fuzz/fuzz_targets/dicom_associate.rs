//! A-ASSOCIATE-RQ/AC parsing; framer and decoder agree. See `wardgate_dicom::fuzzing::associate`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_dicom::fuzzing::associate(data));
