//! Property tests of the parsers: commit messages, issue texts and image references never make them
//! panic, and what they find is what the text says.

use ferry_model::resources::ReleaseNotesConfig;
use ferry_notes::extract::{Extractor, pull_requests};
use ferry_notes::image::ImageRef;
use proptest::prelude::*;

fn allow(projects: &[&str]) -> Extractor {
    let config = ReleaseNotesConfig {
        issue_patterns: Vec::new(),
        issue_url: Default::default(),
        jira_projects: projects.iter().map(|p| (*p).to_owned()).collect(),
    };
    Extractor::new(&config).unwrap()
}

/// Text that looks like commit messages: words, keys, references, punctuation, unicode, newlines.
fn messy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,8}",
        "[A-Z]{1,4}-[0-9]{1,4}",
        "#[0-9]{1,4}",
        "[a-z]{1,5}/[a-z]{1,5}#[0-9]{1,3}",
        "![0-9]{1,3}",
        "\\(#[0-9]{1,3}\\)",
        Just("Merge pull request #7 from a/b".to_owned()),
        Just("See merge request g/p!3".to_owned()),
        Just("Fixes:".to_owned()),
        Just("closes".to_owned()),
        "[ \\n.,:;()\\[\\]_/@&-]{1,3}",
        "[é中😀ß]{1,2}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn messages_never_panic_and_every_key_is_in_the_text(text in messy()) {
        for ex in [Extractor::defaults(), allow(&["ABC", "FOO_BAR"])] {
            let refs = ex.commit(&text);
            for issue in &refs.issues {
                prop_assert!(text.contains(&issue.key), "{:?} not in {:?}", issue.key, text);
            }
            for pr in &refs.pull_requests {
                prop_assert!(text.contains(&pr.number.to_string()), "{:?} not in {:?}", pr.reference, text);
            }
            let issues = ex.issues(&text);
            let mut keys: Vec<(&str, &str)> = issues.iter().map(|i| (i.kind.as_str(), i.key.as_str())).collect();
            let n = keys.len();
            keys.sort_unstable();
            keys.dedup();
            prop_assert_eq!(keys.len(), n, "issues are de-duplicated");
        }
        let (_, spans) = pull_requests(&text);
        for (start, end) in spans {
            prop_assert!(start <= end && end <= text.len());
            prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
        }
    }

    /// An allowed key between separators is always found; glued to a letter, digit, `_` or `-` before,
    /// or to a letter, digit or `_` after, it never is.
    #[test]
    fn the_boundary_rule_holds_anywhere(
        before in "[a-z ]{0,10}",
        after in "[a-z ]{0,10}",
        n in 1u32..100_000,
        left in prop::sample::select(vec![" ", "(", "[", "\n", ": ", "x", "9", "_", "-"]),
        right in prop::sample::select(vec![" ", ")", "]", ".", ",", "\n", "x", "9", "_"]),
    ) {
        let ex = allow(&["ABC"]);
        let key = format!("ABC-{n}");
        let text = format!("{before} {left}{key}{right} {after}");
        let found = ex.issues(&text).iter().any(|i| i.kind == "JIRA" && i.key == key);
        let glued = matches!(left, "x" | "9" | "_" | "-") || matches!(right, "x" | "9" | "_");
        prop_assert_eq!(found, !glued, "{:?}", text);
        // A key of a project not on the allow-list is never found.
        let other = format!("{before} {left}XABC-{n}{right} OPS-{n} {after}");
        prop_assert!(ex.issues(&other).iter().all(|i| i.kind != "JIRA"), "{:?}", other);
    }

    #[test]
    fn image_references_never_panic(text in any::<String>()) {
        if let Ok(r) = ImageRef::parse(&text) {
            prop_assert!(!r.repository.is_empty());
            prop_assert!(text.contains(&r.repository));
        }
    }

    /// `registry/name:tag@digest` parses back into its parts.
    #[test]
    fn image_references_parse_into_their_parts(
        registry in prop::option::of("[a-z]{1,8}\\.example(:[0-9]{2,5})?"),
        path in "[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,2}",
        tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in prop::option::of("[0-9a-f]{64}"),
    ) {
        let repository = match &registry { Some(r) => format!("{r}/{path}"), None => path.clone() };
        let mut text = repository.clone();
        if let Some(t) = &tag { text.push(':'); text.push_str(t); }
        if let Some(d) = &digest { text.push_str("@sha256:"); text.push_str(d); }
        let parsed = ImageRef::parse(&text).unwrap();
        prop_assert_eq!(parsed.repository, repository);
        prop_assert_eq!(parsed.tag, tag);
        prop_assert_eq!(parsed.digest, digest.map(|d| format!("sha256:{d}")));
    }
}
