//! The built-in clinical checks an allowed pump command must also pass: drug library, rate of
//! change, frequency, order continuity, configuration keys and update images.

use wardgate_pump::{Command, Frame};

use super::{Channel, PumpPolicy, PumpState, concentration, given, key, refuse, weight};
use crate::druglib::{DoseOrder, Slot, Violation, piv};
use crate::ruleset::{Rule, RuleSet};
use crate::verdict::Action;

impl RuleSet {
    pub(super) fn pump_checks(
        &self,
        rule: &Rule,
        frame: &Frame<'_>,
        now_ms: u64,
        state: &PumpState,
    ) -> Result<Vec<String>, Violation> {
        let h = &frame.header;
        let channel = state.get(&key(&h.device, h.channel));
        let policy = &self.pump;
        let mut alerts = Vec::new();
        match &frame.command {
            Command::ProgramInfusion(p) => {
                self.frequency(channel, now_ms)?;
                if rule.drug_library {
                    let mut given_values =
                        vec![given(&p.rate, Slot::Rate)?, given(&p.vtbi, Slot::Vtbi)?];
                    if let Some(d) = &p.dose_rate {
                        given_values.push(given(d, Slot::Rate)?);
                    }
                    let order = DoseOrder {
                        codes: [p.drug_code, ""],
                        names: ["", ""],
                        care_area: p.care_area,
                        bolus: false,
                        given: given_values,
                        weight_kg: weight(&p.patient_weight),
                        concentration: p.concentration.as_ref().and_then(concentration),
                    };
                    alerts = self.library.check_dose(&order)?;
                }
            }
            Command::ChangeRate(c) => {
                let program = channel.and_then(|c| c.program.as_ref()).ok_or_else(|| {
                    refuse(
                        format!(
                            "CHANGE-RATE for order {} on a channel with no accepted program",
                            c.order_id
                        ),
                        None,
                    )
                })?;
                if program.order_id != c.order_id {
                    return Err(refuse(
                        format!(
                            "CHANGE-RATE names order {} but the channel runs order {}",
                            c.order_id, program.order_id
                        ),
                        None,
                    ));
                }
                self.frequency(channel, now_ms)?;
                let new_rate = c.rate.value();
                if let Some(why) = rate_jump(policy, program.rate_ml_h, new_rate) {
                    match policy.rate_change_action.unwrap_or(Action::Deny) {
                        Action::Deny => {
                            return Err(refuse(why, Some(piv::OUTSIDE_ALLOWABLE_RANGE)));
                        }
                        Action::Allow => alerts.push(why),
                    }
                }
                if rule.drug_library {
                    let mut given_values = vec![given(&c.rate, Slot::Rate)?];
                    if let Some(d) = &c.dose_rate {
                        given_values.push(given(d, Slot::Rate)?);
                    }
                    let order = DoseOrder {
                        codes: [&program.drug_code, ""],
                        names: ["", ""],
                        care_area: &program.care_area,
                        bolus: false,
                        given: given_values,
                        weight_kg: program.weight_kg,
                        concentration: program.concentration,
                    };
                    alerts.extend(self.library.check_dose(&order)?);
                }
            }
            Command::Bolus(b) => {
                let program = channel.and_then(|c| c.program.as_ref());
                match program {
                    Some(p) if p.order_id == b.parent_order_id => {}
                    Some(p) => {
                        return Err(refuse(
                            format!(
                                "BOLUS names parent order {:?} but the channel runs order {}",
                                b.parent_order_id, p.order_id
                            ),
                            None,
                        ));
                    }
                    None => {
                        return Err(refuse(
                            "BOLUS on a channel with no accepted program: a bolus must name its running parent order".into(),
                            None,
                        ));
                    }
                }
                self.frequency(channel, now_ms)?;
                if let (true, Some(p)) = (rule.drug_library, program) {
                    let order = DoseOrder {
                        codes: [&p.drug_code, ""],
                        names: ["", ""],
                        care_area: &p.care_area,
                        bolus: true,
                        given: vec![given(&b.dose, Slot::Bolus)?],
                        weight_kg: p.weight_kg,
                        concentration: p.concentration,
                    };
                    alerts = self.library.check_dose(&order)?;
                }
            }
            Command::SetConfig(c) => {
                if !policy.config_keys.iter().any(|k| k == c.key) {
                    return Err(refuse(
                        format!(
                            "SET-CONFIG of {:?}: not a key the policy lets controllers change",
                            c.key
                        ),
                        None,
                    ));
                }
                let infusing = (0..=wardgate_pump::MAX_CHANNELS)
                    .filter_map(|ch| state.get(&key(&h.device, ch)))
                    .any(|c| c.infusing);
                if infusing {
                    return Err(refuse(
                        format!("SET-CONFIG of {:?} while the pump is infusing", c.key),
                        None,
                    ));
                }
            }
            Command::DrugLibraryUpdate(u) | Command::FirmwareUpdate(u) => {
                let (approved, what) = match frame.command {
                    Command::DrugLibraryUpdate(_) => {
                        (&policy.approved_drug_libraries, "drug library")
                    }
                    _ => (&policy.approved_firmware, "firmware"),
                };
                if !digest_listed(approved, &u.digest) {
                    return Err(refuse(
                        format!(
                            "{what} image {} (version {:?}) is not approved",
                            hex::encode(u.digest),
                            u.version
                        ),
                        None,
                    ));
                }
                // Try the chunk on a copy of the transfer: out of order, mixed images or a
                // digest that the received bytes do not add up to are refused.
                let mut tracker = state
                    .get(&key(&h.device, 0))
                    .and_then(|c| c.updates.as_deref().cloned())
                    .unwrap_or_default();
                if let Some(Err(e)) = tracker.accept_command(&frame.command) {
                    return Err(refuse(format!("{what} update refused: {e}"), None));
                }
            }
            _ => {}
        }
        Ok(alerts)
    }

    fn frequency(&self, channel: Option<&Channel>, now_ms: u64) -> Result<(), Violation> {
        let Some(max) = self.pump.max_changes else {
            return Ok(());
        };
        let window = self.pump.change_window_ms;
        let recent = channel.map_or(0, |c| {
            c.changes
                .iter()
                .filter(|&&t| now_ms.saturating_sub(t) < window)
                .count()
        });
        if recent >= max {
            return Err(refuse(
                format!(
                    "{recent} program changes on this channel in the last {} s; at most {max} allowed",
                    window / 1000
                ),
                Some(piv::OUTSIDE_ALLOWABLE_RANGE),
            ));
        }
        Ok(())
    }
}

fn digest_listed(list: &[[u8; 32]], digest: &[u8; 32]) -> bool {
    list.iter().any(|d| d == digest)
}

/// Why a rate change is too large, if it is.
fn rate_jump(policy: &PumpPolicy, last: f64, new: f64) -> Option<String> {
    if let Some(f) = policy.max_rate_factor {
        if last > 0.0 && new > last * f {
            return Some(format!(
                "new rate {new} mL/h is more than {f} times the last accepted rate of {last} mL/h"
            ));
        }
    }
    if let Some(step) = policy.max_rate_step {
        if (new - last).abs() > step {
            return Some(format!(
                "rate change from {last} to {new} mL/h is larger than the allowed step of {step} mL/h"
            ));
        }
    }
    None
}
