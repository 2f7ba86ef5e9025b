//! deploy/: the systemd unit with the TPROXY drop-in passes `systemd-analyze verify`, and the
//! drop-in is really read (a broken copy of it is reported).
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `systemd-analyze verify` of the unit in `dir`; its diagnostics (empty when clean).
fn verify(dir: &Path) -> String {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("wardgate.service"))
        .current_dir(dir)
        .output()
        .expect("systemd-analyze runs (.ci/run installs systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    text
}

#[test]
fn the_unit_with_the_tproxy_drop_in_verifies() {
    let dir = tempfile::tempdir().unwrap();
    // The unit as shipped, pointing at the binary just built (verify checks that it exists).
    let unit = deploy("wardgate.service")
        .replace("/usr/local/bin/wardgate", env!("CARGO_BIN_EXE_wardgate"));
    std::fs::write(dir.path().join("wardgate.service"), unit).unwrap();
    let dropins = dir.path().join("wardgate.service.d");
    std::fs::create_dir(&dropins).unwrap();
    let dropin = deploy("wardgate-tproxy.conf");
    // The drop-in grants exactly one capability, and only what TPROXY needs.
    let granted: Vec<&str> = dropin
        .lines()
        .filter(|l| {
            l.starts_with("CapabilityBoundingSet=") || l.starts_with("AmbientCapabilities=")
        })
        .collect();
    assert_eq!(
        granted,
        [
            "CapabilityBoundingSet=CAP_NET_ADMIN",
            "AmbientCapabilities=CAP_NET_ADMIN"
        ]
    );
    std::fs::write(dropins.join("tproxy.conf"), &dropin).unwrap();
    let clean = verify(dir.path());
    assert!(clean.trim().is_empty(), "diagnostics:\n{clean}");

    // The same check notices a mistake in the drop-in: it was read, not skipped.
    std::fs::write(
        dropins.join("tproxy.conf"),
        format!("{dropin}AmbientCapabilitiez=CAP_NET_ADMIN\n"),
    )
    .unwrap();
    let broken = verify(dir.path());
    assert!(
        broken.contains("tproxy.conf") && broken.contains("AmbientCapabilitiez"),
        "diagnostics:\n{broken}"
    );
}
