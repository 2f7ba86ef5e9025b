//! Encoder: typed frames to bytes, refusing anything the parser would not read back identically.

use crate::command::{ChannelReport, Command, UpdateChunk};
use crate::error::EncodeError;
use crate::frame::Frame;
use crate::header::{CRC_LEN, DeviceId, Flags, HEADER_LEN, Header, MAGIC, VERSION};
use crate::limits::MAX_PAYLOAD;
use crate::tlv::{Tlv, TlvType, put};
use crate::units::Quantity;

/// Write a frame around an already encoded payload. Callers keep the payload within
/// [`MAX_PAYLOAD`].
pub(crate) fn write_frame(header: &Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CRC_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(header.flags.to_byte());
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.device.field());
    out.push(header.channel);
    out.extend_from_slice(&header.code.0.to_be_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// TLV writer that remembers the first error.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn raw(&mut self, t: TlvType, value: &[u8]) -> Result<(), EncodeError> {
        put(&mut self.out, t, value).map_err(|e| EncodeError::ValueTooLong {
            tlv: e.tlv_type,
            len: e.len,
        })
    }
    fn str(&mut self, t: TlvType, value: &str) -> Result<(), EncodeError> {
        self.raw(t, value.as_bytes())
    }
    fn opt_str(&mut self, t: TlvType, value: Option<&str>) -> Result<(), EncodeError> {
        value.map_or(Ok(()), |v| self.str(t, v))
    }
    fn qty(&mut self, t: TlvType, q: Quantity) -> Result<(), EncodeError> {
        self.raw(t, &q.to_bytes())
    }
    fn opt_qty(&mut self, t: TlvType, q: Option<Quantity>) -> Result<(), EncodeError> {
        q.map_or(Ok(()), |q| self.qty(t, q))
    }
    fn u32(&mut self, t: TlvType, v: u32) -> Result<(), EncodeError> {
        self.raw(t, &v.to_be_bytes())
    }
    fn tlvs(&mut self, tlvs: &[Tlv<'_>]) -> Result<(), EncodeError> {
        tlvs.iter().try_for_each(|t| self.raw(t.tlv_type, t.value))
    }
}

fn channel_report(r: &ChannelReport<'_>) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer { out: Vec::new() };
    w.raw(TlvType::CHANNEL, &[r.channel])?;
    w.raw(TlvType::CHANNEL_STATE, &[r.state.code()])?;
    w.qty(TlvType::RATE, r.rate)?;
    w.qty(TlvType::VOLUME_INFUSED, r.volume_infused)?;
    w.qty(TlvType::VTBI_REMAINING, r.vtbi_remaining)?;
    w.opt_str(TlvType::DRUG_CODE, r.drug_code)?;
    w.opt_str(TlvType::ORDER_ID, r.order_id)?;
    w.tlvs(&r.unknown)?;
    Ok(w.out)
}

fn chunk(w: &mut Writer, c: &UpdateChunk<'_>) -> Result<(), EncodeError> {
    w.u32(TlvType::TRANSFER_ID, c.transfer_id)?;
    w.u32(TlvType::CHUNK_INDEX, c.index)?;
    w.u32(TlvType::CHUNK_COUNT, c.count)?;
    w.u32(TlvType::TOTAL_SIZE, c.total_size)?;
    w.raw(TlvType::IMAGE_DIGEST, &c.digest)?;
    w.str(TlvType::TARGET_VERSION, c.version)?;
    w.raw(TlvType::CHUNK_DATA, c.data)
}

/// Encode a command's TLVs (canonical order, §4.3), then the unknown TLVs.
pub fn encode_payload(command: &Command<'_>, unknown: &[Tlv<'_>]) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer { out: Vec::new() };
    match command {
        Command::Hello(h) => w.opt_str(TlvType::CONTROLLER_ID, h.controller_id)?,
        Command::Identify(i) => {
            w.str(TlvType::MODEL, i.model)?;
            w.str(TlvType::FIRMWARE_VERSION, i.firmware_version)?;
            w.str(TlvType::DRUG_LIBRARY_VERSION, i.drug_library_version)?;
        }
        Command::Status | Command::Start | Command::Pause | Command::Stop | Command::Ack => {}
        Command::StatusReport(s) => {
            for r in &s.channels {
                w.raw(TlvType::CHANNEL_REPORT, &channel_report(r)?)?;
            }
        }
        Command::ProgramInfusion(p) => {
            w.str(TlvType::DRUG_CODE, p.drug_code)?;
            w.opt_qty(TlvType::CONCENTRATION, p.concentration)?;
            w.qty(TlvType::RATE, p.rate)?;
            w.qty(TlvType::VTBI, p.vtbi)?;
            w.opt_qty(TlvType::DOSE_RATE, p.dose_rate)?;
            w.str(TlvType::CARE_AREA, p.care_area)?;
            w.str(TlvType::ORDER_ID, p.order_id)?;
            w.opt_qty(TlvType::PATIENT_WEIGHT, p.patient_weight)?;
        }
        Command::ChangeRate(c) => {
            w.qty(TlvType::RATE, c.rate)?;
            w.opt_qty(TlvType::DOSE_RATE, c.dose_rate)?;
            w.str(TlvType::ORDER_ID, c.order_id)?;
        }
        Command::Bolus(b) => {
            w.qty(TlvType::BOLUS_DOSE, b.dose)?;
            w.u32(TlvType::BOLUS_DURATION, b.duration_s)?;
            w.str(TlvType::PARENT_ORDER_ID, b.parent_order_id)?;
        }
        Command::Alarm(a) => {
            w.raw(TlvType::ALARM_CODE, &a.code.0.to_be_bytes())?;
            w.raw(TlvType::ALARM_SEVERITY, &[a.severity.code()])?;
            w.opt_str(TlvType::ALARM_TEXT, a.text)?;
        }
        Command::ClearAlarm(c) => w.raw(TlvType::ALARM_CODE, &c.code.0.to_be_bytes())?,
        Command::SetConfig(s) => {
            w.str(TlvType::CONFIG_KEY, s.key)?;
            w.str(TlvType::CONFIG_VALUE, s.value)?;
        }
        Command::DrugLibraryUpdate(c) | Command::FirmwareUpdate(c) => chunk(&mut w, c)?,
        Command::Nak(n) => {
            w.raw(TlvType::NAK_REASON, &n.reason.0.to_be_bytes())?;
            w.opt_str(TlvType::NAK_TEXT, n.text)?;
        }
        Command::Unknown { tlvs, .. } => w.tlvs(tlvs)?,
    }
    w.tlvs(unknown)?;
    if w.out.len() > MAX_PAYLOAD as usize {
        return Err(EncodeError::PayloadTooLarge { len: w.out.len() });
    }
    Ok(w.out)
}

impl<'a> Frame<'a> {
    /// A frame carrying `command`, with the header's code taken from the command.
    pub fn new(
        flags: Flags,
        sequence: u32,
        device: DeviceId,
        channel: u8,
        command: Command<'a>,
    ) -> Frame<'a> {
        Frame {
            header: Header {
                flags,
                sequence,
                device,
                channel,
                code: command.code(),
            },
            command,
            unknown: Vec::new(),
        }
    }

    /// Encode to wire bytes. The result is parsed back and must equal `self`, so every frame
    /// this returns is one [`Frame::parse`] reads back identically.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        if self.header.code != self.command.code() {
            return Err(EncodeError::NotCanonical);
        }
        let payload = encode_payload(&self.command, &self.unknown)?;
        let bytes = write_frame(&self.header, &payload);
        match Frame::parse(&bytes) {
            Ok(back) if back == *self => Ok(bytes),
            Ok(_) => Err(EncodeError::NotCanonical),
            Err(e) => Err(EncodeError::Invalid(e)),
        }
    }
}
