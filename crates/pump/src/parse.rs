//! Command parsers: one per code, from a TLV list to a typed view (docs/pump-protocol.md §4).

use crate::command::{
    Alarm, AlarmCode, Bolus, ChangeRate, ChannelReport, ChannelState, ClearAlarm, Command, Hello,
    Identify, Nak, ProgramInfusion, SetConfig, Severity, StatusReport, UpdateChunk,
};
use crate::error::{ChunkError, ParseError};
use crate::header::CommandCode;
use crate::limits::{
    MAX_BOLUS_DURATION_S, MAX_CHANNELS, MAX_CHUNK, MAX_CHUNK_COUNT, MAX_IMAGE_SIZE,
};
use crate::nak::NakReason;
use crate::tlv::{Tlv, TlvType, parse_list};
use crate::units::{Quantity, UnitKind};
use crate::value::{
    Fields, digest_value, id_value, key_value, quantity_value, text_value, u8_value, u16_value,
    u32_value,
};

const VOLUME: &[UnitKind] = &[UnitKind::Volume];
const FLOW: &[UnitKind] = &[UnitKind::FlowRate];
const DOSE_RATE: &[UnitKind] = &[UnitKind::DoseRate];

fn id<'a>(f: &mut Fields<'a>, t: TlvType) -> Result<&'a str, ParseError> {
    id_value(t, f.require(t)?)
}

fn opt_id<'a>(f: &mut Fields<'a>, t: TlvType) -> Result<Option<&'a str>, ParseError> {
    f.take(t).map(|v| id_value(t, v)).transpose()
}

fn opt_text<'a>(f: &mut Fields<'a>, t: TlvType) -> Result<Option<&'a str>, ParseError> {
    f.take(t).map(|v| text_value(t, v)).transpose()
}

fn qty(f: &mut Fields<'_>, t: TlvType, kinds: &[UnitKind]) -> Result<Quantity, ParseError> {
    quantity_value(t, f.require(t)?, kinds)
}

fn opt_qty(
    f: &mut Fields<'_>,
    t: TlvType,
    kinds: &[UnitKind],
) -> Result<Option<Quantity>, ParseError> {
    f.take(t).map(|v| quantity_value(t, v, kinds)).transpose()
}

fn u32_field(f: &mut Fields<'_>, t: TlvType) -> Result<u32, ParseError> {
    u32_value(t, f.require(t)?)
}

/// Parse the TLVs of a command; returns the typed command and the unknown TLVs kept raw.
pub(crate) fn parse_command<'a>(
    code: CommandCode,
    tlvs: Vec<Tlv<'a>>,
) -> Result<(Command<'a>, Vec<Tlv<'a>>), ParseError> {
    if !code.is_known() {
        return Ok((Command::Unknown { code, tlvs }, Vec::new()));
    }
    let mut f = Fields::new(code, tlvs);
    let command = match code {
        CommandCode::HELLO => Command::Hello(Hello {
            controller_id: opt_id(&mut f, TlvType::CONTROLLER_ID)?,
        }),
        CommandCode::IDENTIFY => Command::Identify(Identify {
            model: id(&mut f, TlvType::MODEL)?,
            firmware_version: id(&mut f, TlvType::FIRMWARE_VERSION)?,
            drug_library_version: id(&mut f, TlvType::DRUG_LIBRARY_VERSION)?,
        }),
        CommandCode::STATUS => Command::Status,
        CommandCode::STATUS_REPORT => Command::StatusReport(status_report(&mut f)?),
        CommandCode::PROGRAM_INFUSION => Command::ProgramInfusion(program(&mut f)?),
        CommandCode::CHANGE_RATE => Command::ChangeRate(ChangeRate {
            rate: qty(&mut f, TlvType::RATE, FLOW)?,
            dose_rate: opt_qty(&mut f, TlvType::DOSE_RATE, DOSE_RATE)?,
            order_id: id(&mut f, TlvType::ORDER_ID)?,
        }),
        CommandCode::BOLUS => {
            let dose = qty(
                &mut f,
                TlvType::BOLUS_DOSE,
                &[UnitKind::Dose, UnitKind::DosePerWeight, UnitKind::Volume],
            )?;
            let duration_s = u32_field(&mut f, TlvType::BOLUS_DURATION)?;
            if duration_s > MAX_BOLUS_DURATION_S {
                return Err(ParseError::BadValue {
                    tlv: TlvType::BOLUS_DURATION,
                    value: duration_s,
                });
            }
            Command::Bolus(Bolus {
                dose,
                duration_s,
                parent_order_id: id(&mut f, TlvType::PARENT_ORDER_ID)?,
            })
        }
        CommandCode::START => Command::Start,
        CommandCode::PAUSE => Command::Pause,
        CommandCode::STOP => Command::Stop,
        CommandCode::ALARM => {
            let t = TlvType::ALARM_SEVERITY;
            let raw = u8_value(t, f.require(t)?)?;
            Command::Alarm(Alarm {
                code: AlarmCode(u16_value(
                    TlvType::ALARM_CODE,
                    f.require(TlvType::ALARM_CODE)?,
                )?),
                severity: Severity::from_code(raw).ok_or(ParseError::BadValue {
                    tlv: t,
                    value: raw.into(),
                })?,
                text: opt_text(&mut f, TlvType::ALARM_TEXT)?,
            })
        }
        CommandCode::CLEAR_ALARM => Command::ClearAlarm(ClearAlarm {
            code: AlarmCode(u16_value(
                TlvType::ALARM_CODE,
                f.require(TlvType::ALARM_CODE)?,
            )?),
        }),
        CommandCode::SET_CONFIG => Command::SetConfig(SetConfig {
            key: key_value(TlvType::CONFIG_KEY, f.require(TlvType::CONFIG_KEY)?)?,
            value: text_value(TlvType::CONFIG_VALUE, f.require(TlvType::CONFIG_VALUE)?)?,
        }),
        CommandCode::DRUG_LIBRARY_UPDATE => Command::DrugLibraryUpdate(chunk(&mut f)?),
        CommandCode::FIRMWARE_UPDATE => Command::FirmwareUpdate(chunk(&mut f)?),
        CommandCode::ACK => Command::Ack,
        CommandCode::NAK => {
            let t = TlvType::NAK_REASON;
            let raw = u16_value(t, f.require(t)?)?;
            if raw == 0 {
                return Err(ParseError::BadValue { tlv: t, value: 0 });
            }
            Command::Nak(Nak {
                reason: NakReason(raw),
                text: opt_text(&mut f, TlvType::NAK_TEXT)?,
            })
        }
        _ => {
            return Ok((
                Command::Unknown {
                    code,
                    tlvs: f.finish()?,
                },
                Vec::new(),
            ));
        }
    };
    Ok((command, f.finish()?))
}

fn program<'a>(f: &mut Fields<'a>) -> Result<ProgramInfusion<'a>, ParseError> {
    let p = ProgramInfusion {
        drug_code: id(f, TlvType::DRUG_CODE)?,
        concentration: opt_qty(f, TlvType::CONCENTRATION, &[UnitKind::Concentration])?,
        rate: qty(f, TlvType::RATE, FLOW)?,
        vtbi: qty(f, TlvType::VTBI, VOLUME)?,
        dose_rate: opt_qty(f, TlvType::DOSE_RATE, DOSE_RATE)?,
        care_area: id(f, TlvType::CARE_AREA)?,
        order_id: id(f, TlvType::ORDER_ID)?,
        patient_weight: opt_qty(f, TlvType::PATIENT_WEIGHT, &[UnitKind::Weight])?,
    };
    let missing = |tlv| ParseError::MissingTlv {
        code: CommandCode::PROGRAM_INFUSION,
        tlv,
    };
    if let Some(dose_rate) = p.dose_rate {
        if p.concentration.is_none() {
            return Err(missing(TlvType::CONCENTRATION));
        }
        if dose_rate.unit().per_kg() && p.patient_weight.is_none() {
            return Err(missing(TlvType::PATIENT_WEIGHT));
        }
    }
    Ok(p)
}

fn status_report<'a>(f: &mut Fields<'a>) -> Result<StatusReport<'a>, ParseError> {
    let mut channels: Vec<ChannelReport<'a>> = Vec::new();
    for nested in f.take_all(TlvType::CHANNEL_REPORT) {
        let report = channel_report(nested)?;
        let last = channels.last().map_or(0, |r| r.channel);
        if report.channel <= last || channels.len() >= usize::from(MAX_CHANNELS) {
            return Err(ParseError::ReportOrder {
                channel: report.channel,
            });
        }
        channels.push(report);
    }
    if channels.is_empty() {
        return Err(ParseError::MissingTlv {
            code: CommandCode::STATUS_REPORT,
            tlv: TlvType::CHANNEL_REPORT,
        });
    }
    Ok(StatusReport { channels })
}

fn channel_report(bytes: &[u8]) -> Result<ChannelReport<'_>, ParseError> {
    let mut f = Fields::new(CommandCode::STATUS_REPORT, parse_list(bytes)?);
    let t = TlvType::CHANNEL;
    let channel = u8_value(t, f.require(t)?)?;
    if channel == 0 || channel > MAX_CHANNELS {
        return Err(ParseError::BadValue {
            tlv: t,
            value: channel.into(),
        });
    }
    let t = TlvType::CHANNEL_STATE;
    let raw = u8_value(t, f.require(t)?)?;
    let state = ChannelState::from_code(raw).ok_or(ParseError::BadValue {
        tlv: t,
        value: raw.into(),
    })?;
    if f.take(TlvType::CHANNEL_REPORT).is_some() {
        return Err(ParseError::UnexpectedTlv {
            code: CommandCode::STATUS_REPORT,
            tlv: TlvType::CHANNEL_REPORT,
        });
    }
    let report = ChannelReport {
        channel,
        state,
        rate: qty(&mut f, TlvType::RATE, FLOW)?,
        volume_infused: qty(&mut f, TlvType::VOLUME_INFUSED, VOLUME)?,
        vtbi_remaining: qty(&mut f, TlvType::VTBI_REMAINING, VOLUME)?,
        drug_code: opt_id(&mut f, TlvType::DRUG_CODE)?,
        order_id: opt_id(&mut f, TlvType::ORDER_ID)?,
        unknown: Vec::new(),
    };
    Ok(ChannelReport {
        unknown: f.finish()?,
        ..report
    })
}

fn chunk<'a>(f: &mut Fields<'a>) -> Result<UpdateChunk<'a>, ParseError> {
    let c = UpdateChunk {
        transfer_id: u32_field(f, TlvType::TRANSFER_ID)?,
        index: u32_field(f, TlvType::CHUNK_INDEX)?,
        count: u32_field(f, TlvType::CHUNK_COUNT)?,
        total_size: u32_field(f, TlvType::TOTAL_SIZE)?,
        digest: digest_value(TlvType::IMAGE_DIGEST, f.require(TlvType::IMAGE_DIGEST)?)?,
        version: id(f, TlvType::TARGET_VERSION)?,
        data: f.require(TlvType::CHUNK_DATA)?,
    };
    check_chunk(&c)?;
    Ok(c)
}

/// The single-frame consistency rules of §6.1.
pub(crate) fn check_chunk(c: &UpdateChunk<'_>) -> Result<(), ChunkError> {
    if c.count == 0 || c.count > MAX_CHUNK_COUNT {
        return Err(ChunkError::BadCount(c.count));
    }
    if c.index >= c.count {
        return Err(ChunkError::IndexOutOfRange {
            index: c.index,
            count: c.count,
        });
    }
    if c.data.is_empty() || c.data.len() > MAX_CHUNK {
        return Err(ChunkError::BadChunkLen(c.data.len()));
    }
    let capacity = u64::from(c.count).saturating_mul(MAX_CHUNK as u64);
    if c.total_size > MAX_IMAGE_SIZE
        || c.total_size < c.count
        || u64::from(c.total_size) > capacity
        || c.data.len() as u64 > u64::from(c.total_size)
    {
        return Err(ChunkError::BadTotalSize {
            total: c.total_size,
            count: c.count,
        });
    }
    Ok(())
}
