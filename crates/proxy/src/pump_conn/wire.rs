//! Small pure pieces of the pump driver: how commands are named in the audit log, which ones
//! the pump must answer, and how a rule's refusal becomes a NAK.

use std::collections::VecDeque;

use wardgate_pump::{CommandCode, Header, NakReason};
use wardgate_rules::Denial;

/// PIV application codes that mean "a limit was exceeded" (hard dose/rate limits, tenfold slips):
/// their refusals carry NAK reason LIMIT_EXCEEDED, every other refusal REFUSED_BY_POLICY.
pub(super) const LIMIT_CODES: [u16; 3] = [9005, 9014, 9024];

/// `<device serial>/<channel>#<sequence>`: names a command without patient data.
pub(super) fn control_id(h: &Header) -> String {
    format!("{}/{}#{}", h.device, h.channel, h.sequence)
}

/// The spec name of a command, or its raw code.
pub(super) fn command_name(code: CommandCode) -> String {
    code.to_string()
}

/// Whether the pump owes a response to this request whatever the outcome (§1).
pub(super) fn expects_reply(h: &Header) -> bool {
    h.flags.ack_requested || matches!(h.code, CommandCode::HELLO | CommandCode::STATUS)
}

/// The NAK reason and text for a rule's refusal.
pub(super) fn denial_nak(d: &Denial) -> (NakReason, String) {
    let reason = match d.application_code {
        Some(c) if LIMIT_CODES.contains(&c) => NakReason::LIMIT_EXCEEDED,
        _ => NakReason::REFUSED_BY_POLICY,
    };
    // build_nak sanitizes and truncates the text to the protocol's limit.
    (reason, format!("{}: {}", d.rule, d.reason))
}

/// Push onto a bounded queue, forgetting the oldest entry when full.
pub(super) fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_denials_map_to_limit_exceeded_and_name_the_rule() {
        let d = |code| {
            Denial::outside_hl7(
                "heparin-max-rate",
                "144 mL/h is over the hard maximum".into(),
                code,
            )
        };
        for code in LIMIT_CODES {
            assert_eq!(denial_nak(&d(Some(code))).0, NakReason::LIMIT_EXCEEDED);
        }
        let (reason, text) = denial_nak(&d(Some(9010)));
        assert_eq!(reason, NakReason::REFUSED_BY_POLICY);
        assert_eq!(text, "heparin-max-rate: 144 mL/h is over the hard maximum");
        assert_eq!(denial_nak(&d(None)).0, NakReason::REFUSED_BY_POLICY);
    }

    #[test]
    fn bounded_queues_forget_the_oldest() {
        let mut q = VecDeque::new();
        for i in 0..10 {
            push_bounded(&mut q, i, 3);
        }
        assert_eq!(q, VecDeque::from(vec![7, 8, 9]));
    }
}
