//! DICOM PDU framing, decoding and the read-write-read round trip. See `wardgate_dicom::fuzzing::pdu`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_dicom::fuzzing::pdu(data));
