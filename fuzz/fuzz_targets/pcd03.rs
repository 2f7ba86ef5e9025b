//! The IHE PCD-03 order view never panics on any message the parser accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_hl7::{Message, ParseLimits, read_infusion_orders};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::parse(data, &ParseLimits::default()) {
        let _ = std::hint::black_box(read_infusion_orders(&msg));
    }
});
