//! Parsing and walking every segment, field, repetition, component and subcomponent (decoded,
//! as text and as a number) never panics; nor does `Header::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_hl7::{Header, Message, ParseLimits, Value};

fn touch(v: Value<'_>) {
    std::hint::black_box((v.decoded(), v.to_text(), v.as_number()));
}

fuzz_target!(|data: &[u8]| {
    let _ = std::hint::black_box(Header::parse(data));
    let lf = data.first().is_some_and(|b| b & 1 == 1);
    let limits = ParseLimits {
        allow_lf_terminators: lf,
        ..ParseLimits::default()
    };
    let Ok(msg) = Message::parse(data, &limits) else {
        return;
    };
    let h = msg.header();
    (1..=25).filter_map(|n| h.field(n)).for_each(touch);
    std::hint::black_box((
        h.control_id(),
        h.message_code(),
        h.trigger_event(),
        h.ack_mode(),
    ));
    for seg in msg.segments() {
        for f in (1..=seg.field_count() + 1).filter_map(|n| seg.field(n)) {
            touch(f.value());
            for r in (1..=f.repetition_count() + 1).filter_map(|n| f.repetition(n)) {
                touch(r.value());
                for c in (1..=r.component_count() + 1).filter_map(|n| r.component(n)) {
                    touch(c.value());
                    (1..=c.subcomponent_count() + 1)
                        .filter_map(|n| c.subcomponent(n))
                        .for_each(touch);
                }
            }
        }
    }
});
