//! Named limits checked before anything is counted, stored or allocated (ARCHITECTURE.md
//! convention 3).

/// Default largest PDU body (the length field, excluding the 6-byte header) the framer accepts:
/// 256 KiB, twice DCMTK's 128 KiB cap; peers usually negotiate 16–128 KiB (PS3.8 §D.1).
pub const DEFAULT_MAX_PDU_LEN: u32 = 256 * 1024;
/// Hard ceiling for a configured PDU limit: 1 MiB.
pub const MAX_PDU_LEN_CEILING: u32 = 1024 * 1024;
/// Most presentation context items in one A-ASSOCIATE-RQ/AC: the odd ids 1..=255 (PS3.8 §9.3.2.2).
pub const MAX_PRESENTATION_CONTEXTS: usize = 128;
/// Most transfer syntax sub-items in one proposed presentation context.
pub const MAX_TRANSFER_SYNTAXES: usize = 64;
/// Most sub-items in the user information item (PS3.8 §9.3.2.3, Annex D).
pub const MAX_USER_ITEMS: usize = 256;
/// Most PDV items in one P-DATA-TF PDU (PS3.8 §9.3.5).
pub const MAX_PDVS_PER_PDU: usize = 128;
/// Largest complete command set the reassembler buffers: 64 KiB.
pub const DEFAULT_MAX_COMMAND_LEN: usize = 64 * 1024;
/// Most data elements in one command set (PS3.7 §E.1 defines about forty).
pub const MAX_COMMAND_ELEMENTS: usize = 64;
/// Largest value of one command element: 4 KiB (UIDs are at most 64 bytes, PS3.5 §9.1).
pub const MAX_COMMAND_ELEMENT_LEN: u32 = 4 * 1024;
/// Longest UID in bytes (PS3.5 §9.1).
pub const MAX_UID_LEN: usize = 64;
/// Longest AE title in characters (PS3.5 §6.2, VR AE).
pub const MAX_AE_TITLE_LEN: usize = 16;
