//! Evaluating pump commands against the rules, and feeding the pump's answers into the state.

use wardgate_pump::{ChannelState, Command, Frame};

use super::state::Program;
use super::{Channel, MAX_CHANGE_HISTORY, PumpState, concentration, key, weight};
use crate::breakglass::{Outcome, Overrides};
use crate::ruleset::{Protocol, RuleSet};
use crate::sender::Sender;
use crate::verdict::{Action, Denial, Mode, Permit, Verdict};

impl RuleSet {
    /// Judge a command from a controller to a pump. Rules with `protocol = "pump"` are tried in
    /// order as for HL7; an allow rule's command must also pass the built-in clinical checks.
    /// `now_ms` is any monotonic clock in milliseconds; the state changes only when permitted.
    pub fn evaluate_pump(
        &self,
        frame: &Frame<'_>,
        sender: &Sender,
        now_ms: u64,
        state: &mut PumpState,
    ) -> Verdict {
        self.evaluate_pump_with(frame, sender, now_ms, state, &Overrides::default())
    }

    /// [`RuleSet::evaluate_pump`] under break-glass: refusals the overrides cover are recorded in
    /// the permit instead of enforced (the command then counts as sent for the stateful checks);
    /// `never_override` rules still refuse.
    pub fn evaluate_pump_with(
        &self,
        frame: &Frame<'_>,
        sender: &Sender,
        now_ms: u64,
        state: &mut PumpState,
        overrides: &Overrides,
    ) -> Verdict {
        let mut audit = Vec::new();
        for rule in self.rules.iter().filter(|r| r.protocol == Protocol::Pump) {
            if !rule.matches_pump(frame, sender) {
                continue;
            }
            let verdict = match rule.action {
                Action::Deny => Verdict::Deny(Denial::outside_hl7(
                    rule.id.clone(),
                    rule.description.clone(),
                    rule.application_code,
                )),
                Action::Allow => match self.pump_checks(rule, frame, now_ms, state) {
                    Ok(alerts) => Verdict::Permit(Permit {
                        rule: Some(rule.id.clone()),
                        alerts,
                        audit: Vec::new(),
                    }),
                    Err(v) => Verdict::Deny(Denial::outside_hl7(
                        rule.id.clone(),
                        v.reason,
                        v.application_code,
                    )),
                },
            };
            let verdict = match overrides.set_aside(rule, rule.mode == Mode::Audit, verdict) {
                Outcome::Decides(v) => v,
                Outcome::Recorded(d) => {
                    audit.push(d);
                    continue;
                }
                Outcome::Skipped => continue,
            };
            return match verdict {
                Verdict::Permit(mut p) => {
                    if !overrides.is_empty() {
                        if let Err(d) = self.pin_pump(frame, state) {
                            return Verdict::Deny(d);
                        }
                    }
                    self.record(frame, now_ms, state);
                    p.audit = audit;
                    Verdict::Permit(p)
                }
                deny => deny,
            };
        }
        let default = match self.policy.default {
            Action::Allow => Verdict::Permit(Permit {
                rule: None,
                alerts: Vec::new(),
                audit: Vec::new(),
            }),
            Action::Deny => Verdict::Deny(Denial::outside_hl7(
                "default",
                format!(
                    "no rule allows {} from this sender",
                    frame.header.code.name().unwrap_or("this command")
                ),
                None,
            )),
        };
        let verdict = overrides.settle_default(default, audit);
        if !verdict.forwards() {
            return verdict;
        }
        if !overrides.is_empty() {
            if let Err(d) = self.pin_pump(frame, state) {
                return Verdict::Deny(d);
            }
        }
        self.record(frame, now_ms, state);
        verdict
    }

    /// Feed what a pump says (STATUS-REPORT, ACK/NAK, ALARM) into the state.
    pub fn observe_pump(&self, frame: &Frame<'_>, _now_ms: u64, state: &mut PumpState) {
        match &frame.command {
            Command::Ack if frame.header.flags.response => {
                state.settle(&frame.header.device, frame.header.sequence, true);
            }
            Command::Nak(_) if frame.header.flags.response => {
                state.settle(&frame.header.device, frame.header.sequence, false);
            }
            _ => {}
        }
        if let Command::StatusReport(report) = &frame.command {
            for ch in &report.channels {
                let c = state.entry(key(&frame.header.device, ch.channel));
                c.infusing = ch.state == ChannelState::Infusing;
                if ch.state == ChannelState::Idle {
                    c.program = None;
                }
            }
        }
    }

    /// The proxy could not deliver a permitted command: undo what it changed in the state.
    pub fn pump_undelivered(&self, header: &wardgate_pump::Header, state: &mut PumpState) {
        state.settle(&header.device, header.sequence, false);
    }

    /// Remember what a permitted command changes.
    fn record(&self, frame: &Frame<'_>, now_ms: u64, state: &mut PumpState) {
        let h = &frame.header;
        if matches!(
            frame.command,
            Command::ProgramInfusion(_)
                | Command::ChangeRate(_)
                | Command::Bolus(_)
                | Command::Start
                | Command::Pause
                | Command::Stop
        ) {
            state.save(key(&h.device, h.channel), h.sequence);
        } else if matches!(
            frame.command,
            Command::DrugLibraryUpdate(_) | Command::FirmwareUpdate(_)
        ) {
            state.save(key(&h.device, 0), h.sequence);
        }
        let history = self
            .pump
            .max_changes
            .unwrap_or(0)
            .clamp(1, MAX_CHANGE_HISTORY);
        let push_change = |c: &mut Channel| {
            c.changes.push_back(now_ms);
            while c.changes.len() > history {
                c.changes.pop_front();
            }
        };
        match &frame.command {
            Command::ProgramInfusion(p) => {
                let c = state.entry(key(&h.device, h.channel));
                c.program = Some(Program {
                    order_id: p.order_id.to_owned(),
                    drug_code: p.drug_code.to_owned(),
                    care_area: p.care_area.to_owned(),
                    rate_ml_h: p.rate.value(),
                    weight_kg: weight(&p.patient_weight),
                    concentration: p.concentration.as_ref().and_then(concentration),
                });
                push_change(c);
            }
            Command::ChangeRate(r) => {
                let c = state.entry(key(&h.device, h.channel));
                if let Some(p) = c.program.as_mut() {
                    p.rate_ml_h = r.rate.value();
                }
                push_change(c);
            }
            Command::Bolus(_) => push_change(state.entry(key(&h.device, h.channel))),
            Command::DrugLibraryUpdate(_) | Command::FirmwareUpdate(_) => {
                let c = state.entry(key(&h.device, 0));
                let updates = c.updates.get_or_insert_with(Box::default);
                if let Some(Err(_)) = updates.accept_command(&frame.command) {
                    // Checked before the permit; a failure here means the chunk was judged
                    // without a check (default allow): start over rather than keep a bad transfer.
                    updates.abandon();
                }
            }
            Command::Start => state.entry(key(&h.device, h.channel)).infusing = true,
            Command::Pause => state.entry(key(&h.device, h.channel)).infusing = false,
            Command::Stop => {
                let c = state.entry(key(&h.device, h.channel));
                c.infusing = false;
                c.program = None;
            }
            _ => {}
        }
    }
}
