//! Named limits checked before anything is counted or allocated (ARCHITECTURE.md convention 3).

/// Bounds applied by [`crate::Message::parse`]; every count read from the wire is checked
/// against one of these before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Maximum number of segments in one message (default 1000).
    pub max_segments: usize,
    /// Maximum number of fields in one segment (default 256).
    pub max_fields_per_segment: usize,
    /// Maximum number of repetitions in one field (default 64).
    pub max_repetitions: usize,
    /// Maximum number of components in one repetition (default 64).
    pub max_components: usize,
    /// Maximum number of subcomponents in one component (default 64).
    pub max_subcomponents: usize,
    /// Accept `\n` and `\r\n` as segment terminators as well as `\r` (DOMAIN.md: only where a
    /// route allows it). When false, any line feed in a message is refused.
    pub allow_lf_terminators: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_segments: 1000,
            max_fields_per_segment: 256,
            max_repetitions: 64,
            max_components: 64,
            max_subcomponents: 64,
            allow_lf_terminators: false,
        }
    }
}
