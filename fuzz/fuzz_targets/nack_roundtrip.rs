//! For any message whose MSH can be read, the NACK wardgate would send parses with wardgate's own
//! parser, and its MSA-2 is the refused message's MSH-10, byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_hl7::{
    AckCode, ErrorCode, Header, Message, ParseLimits, Refusal, ReplyContext, Severity, build_nack,
};

fuzz_target!(|data: &[u8]| {
    let Ok(refused) = Header::parse(data) else {
        return;
    };
    // The user message is whatever follows the MSH segment (any bytes, lossily as text).
    let rest = data.get(refused.raw().len()..).unwrap_or_default();
    let text = String::from_utf8_lossy(rest);
    let refusal = Refusal {
        code: AckCode::AR,
        error: ErrorCode::APPLICATION_INTERNAL_ERROR,
        severity: Severity::Error,
        application_code: Some(9024),
        user_message: &text,
    };
    let ctx = ReplyContext {
        timestamp: "20261129120000",
        control_id: "WG-1",
    };
    let nack = build_nack(&refused, &refusal, &ctx);
    let msg = match Message::parse(&nack, &ParseLimits::default()) {
        Ok(msg) => msg,
        Err(e) => panic!(
            "NACK does not parse: {e}\n{:?}",
            String::from_utf8_lossy(&nack)
        ),
    };
    let msa2 = msg
        .segment(b"MSA", 1)
        .and_then(|s| s.field(2))
        .map(|f| f.raw())
        .unwrap_or_default();
    // MSA-2 echoes MSH-10 as the ST it is: up to the first repetition, component or
    // subcomponent separator.
    let d = refused.delimiters();
    let msh10 = refused
        .segment()
        .field(10)
        .map(|f| f.raw())
        .unwrap_or_default();
    let expected = msh10
        .split(|&b| {
            (b == d.repetition && d.repetition != d.field)
                || b == d.component
                || Some(b) == d.subcomponent
        })
        .next()
        .unwrap_or_default();
    assert_eq!(msa2, expected, "MSA-2 is not the refused MSH-10");
});
