//! Integration tests of ferry-config: the invalid corpus (snapshots), valid fixtures, file reading and fuzzing.

mod fuzz;
mod invalid;
mod paths;
mod valid;

use std::path::PathBuf;

/// `crates/ferry-config/tests/<rel>`.
pub fn tests_dir(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(rel)
}

/// A source from inline text.
pub fn source(name: &str, text: &str) -> ferry_config::Source {
    ferry_config::Source { name: name.into(), text: text.into() }
}

/// Display lines of diagnostics.
pub fn lines(diagnostics: &[ferry_config::Diagnostic]) -> String {
    diagnostics.iter().map(|d| format!("{}: {d}\n", d.severity)).collect()
}
