//! Shared proptest strategies and the documented example frames.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use wardgate_pump::{
    Alarm, AlarmCode, Bolus, ChangeRate, ChannelReport, ChannelRule, ChannelState, ClearAlarm,
    Command, CommandCode, DeviceId, Flags, Frame, Hello, Identify, MAX_BOLUS_DURATION_S,
    MAX_QUANTITY_MILLI, Nak, NakReason, ProgramInfusion, Quantity, SetConfig, Severity,
    StatusReport, Tlv, TlvType, Unit, UnitKind, UpdateChunk, command_rules, image_digest,
};

fn leak(s: String) -> &'static str {
    s.leak()
}

fn leak_bytes(v: Vec<u8>) -> &'static [u8] {
    v.leak()
}

pub fn device() -> impl Strategy<Value = DeviceId> {
    "[!-~]{1,16}".prop_map(|s| DeviceId::new(&s).unwrap())
}

pub fn id() -> impl Strategy<Value = &'static str> {
    "[!-~]([ -~]{0,30}[!-~])?".prop_map(leak)
}

pub fn text() -> impl Strategy<Value = &'static str> {
    "[^\\p{Cc}]{0,40}".prop_map(leak)
}

pub fn key() -> impl Strategy<Value = &'static str> {
    "[A-Za-z0-9._-]{1,64}".prop_map(leak)
}

pub fn quantity(kinds: &'static [UnitKind]) -> impl Strategy<Value = Quantity> {
    let units: Vec<Unit> = Unit::ALL
        .iter()
        .copied()
        .filter(|u| kinds.contains(&u.kind()))
        .collect();
    (
        prop_oneof![0..=MAX_QUANTITY_MILLI, 0u32..100_000],
        proptest::sample::select(units),
    )
        .prop_map(|(m, u)| Quantity::new(m, u).unwrap())
}

fn state() -> impl Strategy<Value = ChannelState> {
    (0u8..=4).prop_map(|c| ChannelState::from_code(c).unwrap())
}

fn unknown_tlvs(max: usize) -> impl Strategy<Value = Vec<Tlv<'static>>> {
    btree_set(0x9000u16..0x9100, 0..=max).prop_flat_map(|types| {
        let n = types.len();
        (Just(types), vec(vec(any::<u8>(), 0..8), n)).prop_map(|(types, values)| {
            types
                .into_iter()
                .zip(values)
                .map(|(t, v)| Tlv {
                    tlv_type: TlvType(t),
                    value: leak_bytes(v),
                })
                .collect()
        })
    })
}

fn channel_report(channel: u8) -> impl Strategy<Value = ChannelReport<'static>> {
    (
        state(),
        quantity(&[UnitKind::FlowRate]),
        quantity(&[UnitKind::Volume]),
        quantity(&[UnitKind::Volume]),
        proptest::option::of(id()),
        proptest::option::of(id()),
        unknown_tlvs(2),
    )
        .prop_map(
            move |(state, rate, volume_infused, vtbi_remaining, drug_code, order_id, unknown)| {
                ChannelReport {
                    channel,
                    state,
                    rate,
                    volume_infused,
                    vtbi_remaining,
                    drug_code,
                    order_id,
                    unknown,
                }
            },
        )
}

fn status_report() -> impl Strategy<Value = Command<'static>> {
    btree_set(1u8..=8, 1..=8).prop_flat_map(|channels| {
        let reports: Vec<_> = channels.into_iter().map(channel_report).collect();
        reports.prop_map(|channels| Command::StatusReport(StatusReport { channels }))
    })
}

fn program() -> impl Strategy<Value = Command<'static>> {
    (
        id(),
        proptest::option::of(quantity(&[UnitKind::Concentration])),
        quantity(&[UnitKind::FlowRate]),
        quantity(&[UnitKind::Volume]),
        proptest::option::of(quantity(&[UnitKind::DoseRate])),
        (id(), id()),
        proptest::option::of(quantity(&[UnitKind::Weight])),
        quantity(&[UnitKind::Concentration]),
        quantity(&[UnitKind::Weight]),
    )
        .prop_map(
            |(drug, conc, rate, vtbi, dose_rate, (care, order), weight, c2, w2)| {
                // Dose mode needs a concentration, and per-kg dosing a weight (§4.3).
                let concentration = conc.or(dose_rate.map(|_| c2));
                let patient_weight = match dose_rate {
                    Some(d) if d.unit().per_kg() => weight.or(Some(w2)),
                    _ => weight,
                };
                Command::ProgramInfusion(ProgramInfusion {
                    drug_code: drug,
                    concentration,
                    rate,
                    vtbi,
                    dose_rate,
                    care_area: care,
                    order_id: order,
                    patient_weight,
                })
            },
        )
}

pub fn chunk() -> impl Strategy<Value = UpdateChunk<'static>> {
    (
        1u32..=10,
        vec(any::<u8>(), 1..64),
        0u32..1000,
        any::<u32>(),
        id(),
    )
        .prop_flat_map(|(count, data, extra, transfer_id, version)| {
            (0..count).prop_map(move |index| {
                let total_size = data.len() as u32 + count - 1 + extra;
                UpdateChunk {
                    transfer_id,
                    index,
                    count,
                    total_size,
                    digest: image_digest(&data),
                    version,
                    data: leak_bytes(data.clone()),
                }
            })
        })
}

fn unknown_command() -> impl Strategy<Value = Command<'static>> {
    (
        any::<u16>().prop_filter("unknown code", |c| !CommandCode(*c).is_known()),
        unknown_tlvs(4),
        proptest::option::of(vec(any::<u8>(), 0..16)),
    )
        .prop_map(|(code, mut tlvs, known)| {
            // Known TLV types stay raw under an unknown code.
            if let Some(v) = known {
                tlvs.push(Tlv {
                    tlv_type: TlvType::ORDER_ID,
                    value: leak_bytes(v),
                });
            }
            Command::Unknown {
                code: CommandCode(code),
                tlvs,
            }
        })
}

pub fn command() -> impl Strategy<Value = Command<'static>> {
    prop_oneof![
        proptest::option::of(id()).prop_map(|c| Command::Hello(Hello { controller_id: c })),
        (id(), id(), id()).prop_map(|(m, f, d)| Command::Identify(Identify {
            model: m,
            firmware_version: f,
            drug_library_version: d
        })),
        Just(Command::Status),
        status_report(),
        program(),
        (
            quantity(&[UnitKind::FlowRate]),
            proptest::option::of(quantity(&[UnitKind::DoseRate])),
            id()
        )
            .prop_map(
                |(rate, dose_rate, order_id)| Command::ChangeRate(ChangeRate {
                    rate,
                    dose_rate,
                    order_id
                })
            ),
        (
            quantity(&[UnitKind::Dose, UnitKind::DosePerWeight, UnitKind::Volume]),
            0..=MAX_BOLUS_DURATION_S,
            id()
        )
            .prop_map(|(dose, duration_s, parent_order_id)| Command::Bolus(Bolus {
                dose,
                duration_s,
                parent_order_id
            })),
        Just(Command::Start),
        Just(Command::Pause),
        Just(Command::Stop),
        (any::<u16>(), 1u8..=3, proptest::option::of(text())).prop_map(|(c, s, text)| {
            Command::Alarm(Alarm {
                code: AlarmCode(c),
                severity: Severity::from_code(s).unwrap(),
                text,
            })
        }),
        any::<u16>().prop_map(|c| Command::ClearAlarm(ClearAlarm { code: AlarmCode(c) })),
        (key(), text()).prop_map(|(key, value)| Command::SetConfig(SetConfig { key, value })),
        chunk().prop_map(Command::DrugLibraryUpdate),
        chunk().prop_map(Command::FirmwareUpdate),
        Just(Command::Ack),
        (1u16..=u16::MAX, proptest::option::of(text())).prop_map(|(r, text)| Command::Nak(Nak {
            reason: NakReason(r),
            text
        })),
        unknown_command(),
    ]
}

/// Any valid frame: header fields that obey the command's direction and channel rules.
pub fn frame() -> impl Strategy<Value = Frame<'static>> {
    (
        command(),
        any::<u32>(),
        device(),
        any::<bool>(),
        any::<bool>(),
        0u8..=8,
        unknown_tlvs(3),
        any::<bool>(),
    )
        .prop_map(
            |(command, sequence, device, ack, resp, channel, unknown, unaddressed)| {
                let (response, channel) = match command_rules(command.code()) {
                    Some((response, ChannelRule::Device)) => (response, 0),
                    Some((response, ChannelRule::Infusion)) => (response, channel.max(1)),
                    Some((response, ChannelRule::Any)) => (response, channel),
                    None => (resp, channel),
                };
                let device = if unaddressed && matches!(command, Command::Hello(_)) {
                    DeviceId::UNADDRESSED
                } else {
                    device
                };
                let unknown = if matches!(command, Command::Unknown { .. }) {
                    Vec::new()
                } else {
                    unknown
                };
                let mut f = Frame::new(
                    Flags {
                        response,
                        ack_requested: ack,
                    },
                    sequence,
                    device,
                    channel,
                    command,
                );
                f.unknown = unknown;
                f
            },
        )
}

pub const EXAMPLE_DEVICE: &str = "PUMP-0001";

/// The frames shown in docs/pump-protocol.md §10, by name.
pub fn doc_examples() -> Vec<(&'static str, Frame<'static>)> {
    let dev = DeviceId::new(EXAMPLE_DEVICE).unwrap();
    vec![
        (
            "hello",
            Frame::new(
                Flags::request(false),
                1,
                DeviceId::UNADDRESSED,
                0,
                Command::Hello(Hello {
                    controller_id: Some("GW-ICU-1"),
                }),
            ),
        ),
        (
            "program-infusion",
            Frame::new(
                Flags::request(true),
                2,
                dev,
                1,
                Command::ProgramInfusion(ProgramInfusion {
                    drug_code: "HEPARIN-25K",
                    concentration: Some(Quantity::new(100_000, Unit::UnitsPerMl).unwrap()),
                    rate: Quantity::new(12_600, Unit::MlPerH).unwrap(),
                    vtbi: Quantity::new(250_000, Unit::Ml).unwrap(),
                    dose_rate: Some(Quantity::new(18_000, Unit::UnitsPerKgPerH).unwrap()),
                    care_area: "ICU",
                    order_id: "ORD-1001",
                    patient_weight: Some(Quantity::new(70_000, Unit::Kg).unwrap()),
                }),
            ),
        ),
        ("ack", Frame::new(Flags::RESPONSE, 2, dev, 1, Command::Ack)),
        (
            "nak",
            Frame::new(
                Flags::RESPONSE,
                2,
                dev,
                1,
                Command::Nak(Nak {
                    reason: NakReason::REFUSED_BY_POLICY,
                    text: Some("rule heparin-max-rate"),
                }),
            ),
        ),
    ]
}

/// Lower-case hex, 16 bytes per line, bytes separated by spaces.
pub fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A frame built byte by byte, bypassing the encoder's checks (CRC is correct).
pub fn raw_frame(
    flags: u8,
    device: &str,
    channel: u8,
    code: u16,
    tlvs: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut payload = Vec::new();
    for (t, v) in tlvs {
        payload.extend_from_slice(&t.to_be_bytes());
        payload.extend_from_slice(&(v.len() as u16).to_be_bytes());
        payload.extend_from_slice(v);
    }
    let mut out = b"WP\x01".to_vec();
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&42u32.to_be_bytes());
    let mut dev = [0u8; 16];
    dev[..device.len()].copy_from_slice(device.as_bytes());
    out.extend_from_slice(&dev);
    out.push(channel);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Quantity wire bytes.
pub fn q(milli: u32, unit: u16) -> Vec<u8> {
    let mut v = milli.to_be_bytes().to_vec();
    v.extend_from_slice(&unit.to_be_bytes());
    v
}
