//! The rule sets shipped in `rules/` compile and pass their own declared tests.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use wardgate_hl7::ParseLimits;
use wardgate_rules::{compile, load_rule_files};

fn rule_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("rules/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_shipped_rule_set_passes_its_tests() {
    let dirs = rule_dirs();
    assert!(!dirs.is_empty(), "no rule sets found");
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("readable")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let sources = load_rule_files(&files).expect("readable rule files");
        let set = compile(&sources).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(!set.tests.is_empty(), "{} declares no tests", dir.display());
        let outcomes = set.run_tests(&ParseLimits::default());
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .map(ToString::to_string)
            .collect();
        assert!(
            failed.is_empty(),
            "{}:\n{}",
            dir.display(),
            failed.join("\n")
        );
    }
}
