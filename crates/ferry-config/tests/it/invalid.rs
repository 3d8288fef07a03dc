//! The invalid corpus: every file of `tests/invalid/` must be rejected, and its diagnostics (all of them,
//! in order) match the snapshot named after the file.

use std::fs;

use ferry_config::{Severity, Source, load_sources};

use crate::tests_dir;

#[test]
fn every_invalid_file_is_rejected_with_the_expected_diagnostics() {
    let dir = tests_dir("invalid");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("tests/invalid")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 28, "the corpus has {} files", names.len());
    for name in names {
        let text = fs::read_to_string(dir.join(&name)).expect("read");
        let theme = text.lines().next().unwrap_or_default().trim_start_matches('#').trim().to_owned();
        let shown = format!("invalid/{name}");
        let diagnostics = match load_sources(&[Source { name: shown.clone(), text }]) {
            Ok(_) => panic!("{shown} loaded without errors"),
            Err(d) => d,
        };
        assert!(diagnostics.iter().any(|d| d.severity == Severity::Error), "{shown}: no error among {diagnostics:?}");
        let rendered: String = diagnostics.iter().map(|d| format!("{}: {d}\n", d.severity)).collect();
        let stem = name.trim_end_matches(".yaml").to_owned();
        insta::with_settings!({ snapshot_suffix => stem, description => theme, omit_expression => true }, {
            insta::assert_snapshot!("invalid", rendered);
        });
    }
}
