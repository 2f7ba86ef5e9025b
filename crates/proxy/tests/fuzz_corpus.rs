#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every committed fuzz seed (`fuzz/corpus/proxy_config/`) and crash regression
//! (`fuzz/regressions/proxy_config/`) through the same `wardgate_proxy::fuzzing` function the
//! cargo-fuzz target calls, on stable Rust, so a crash once found can never come back
//! (ARCHITECTURE.md convention 9, docs/FUZZING.md).

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay;
use wardgate_proxy::fuzzing;

#[test]
fn proxy_config() {
    replay("proxy_config", fuzzing::proxy_config);
}
