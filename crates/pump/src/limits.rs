//! Named limits checked before anything is counted, stored or allocated (ARCHITECTURE.md
//! convention 3; docs/pump-protocol.md §7).

/// Largest payload (TLV area) a v1 frame may declare: 64 KiB.
pub const MAX_PAYLOAD: u32 = 64 * 1024;
/// Most TLVs in one list (the payload, or one nested CHANNEL-REPORT).
pub const MAX_TLVS: usize = 64;
/// Infusion channels a pump may have; channel numbers run `1..=MAX_CHANNELS`, 0 is the device.
pub const MAX_CHANNELS: u8 = 8;
/// Longest identifier (drug code, order id, care area, model, versions, config key) in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest free text (NAK text, alarm text, config value) in bytes of UTF-8.
pub const MAX_TEXT_LEN: usize = 256;
/// Largest chunk of a drug-library or firmware image in one frame: 32 KiB.
pub const MAX_CHUNK: usize = 32 * 1024;
/// Most chunks in one image transfer.
pub const MAX_CHUNK_COUNT: u32 = 65_536;
/// Largest whole image (drug library or firmware): 64 MiB.
pub const MAX_IMAGE_SIZE: u32 = 64 * 1024 * 1024;
/// Largest quantity in thousandths of its unit (one million units).
pub const MAX_QUANTITY_MILLI: u32 = 1_000_000_000;
/// Longest bolus duration in seconds (24 hours).
pub const MAX_BOLUS_DURATION_S: u32 = 86_400;
