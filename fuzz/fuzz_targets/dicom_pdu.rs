//! DICOM: the PDU framer, the PDU decoder, PDV parsing and the command-set parser never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_dicom::{CommandSet, PduFramer, decode_pdu};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(info)) = PduFramer::default().next_pdu(data) {
        let _ = decode_pdu(&data[..info.consumed]);
    }
    let _ = CommandSet::parse(data);
});
