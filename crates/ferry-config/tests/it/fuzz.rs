//! Property tests: whatever the input, loading never panics, and exactly the texts the YAML parser
//! rejects are rejected with a syntax error of severity error, where the parser stopped.

use ferry_config::{Diagnostic, Severity, Source, load_sources};
use proptest::prelude::*;

/// A YAML-ish tree rendered to text in block or flow style.
#[derive(Debug, Clone)]
enum Tree {
    Scalar(String),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

const WORDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "labels",
    "annotations",
    "spec",
    "status",
    "steps",
    "dependsOn",
    "environment",
    "triggerEnvironment",
    "triggerWorkflow",
    "hooks",
    "onStart",
    "policy",
    "action",
    "preAction",
    "type",
    "clusters",
    "namespaces",
    "product",
    "source",
    "repoURL",
    "path",
    "targetRevision",
    "exec",
    "argocd",
    "push",
    "healthTimeout",
    "promotionFlows",
    "gitTriggerSelectors",
    "key",
    "operator",
    "values",
    "promotion",
    "jsonPaths",
    "versionSource",
    "jsonPath",
    "file",
    "selector",
    "targetEnvironment",
    "types",
    "run",
    "approval",
    "timeout",
    "retries",
    "params",
    "argo",
    "destination",
    "server",
    "promotionTimeoutLimit",
    "ferry/product",
    "ferry/v1",
    "codefresh.io/v1beta1",
    "argoproj.io/v1alpha1",
    "Environment",
    "Application",
    "Product",
    "PromotionFlow",
    "PromotionPolicy",
    "PromotionTemplate",
    "Workflow",
    "production",
    "non-production",
    "PROD",
    "commit",
    "pr",
    "none",
    "In",
    "NotIn",
    "dev",
    "qa",
    "prod",
    "shop",
    "in-cluster",
    "$.a",
    "$..b",
    "$[0]",
    "5m",
    "1h30m",
    "90",
    "-1",
    "1.5",
    "true",
    "null",
    "~",
    "",
    "Shop",
    "a b",
    "x:y",
    "JIRA:[A-Z]+",
    "(",
    "é",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-z0-9._/-]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    word().prop_map(Tree::Scalar).prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Tree::Seq),
            proptest::collection::vec((word(), inner), 0..6).prop_map(Tree::Map),
        ]
    })
}

/// A YAML double-quoted scalar.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || !c.is_alphanumeric() && !c.is_ascii() => {
                out.push_str(&format!("\\U{:08x}", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(s: &str, style: u8) -> String {
    let plain_ok = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '$' | '-' | '_'))
        && !s.starts_with('-')
        && !s.is_empty();
    match style % 3 {
        0 if plain_ok || style.is_multiple_of(13) => s.to_owned(),
        0 => quote(s),
        1 => quote(s),
        _ => format!("'{}'", s.replace('\'', "''")),
    }
}

fn render_flow(t: &Tree, style: u8, out: &mut String) {
    match t {
        Tree::Scalar(s) => out.push_str(&scalar(s, style)),
        Tree::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_flow(item, style.wrapping_add(1), out);
            }
            out.push(']');
        }
        Tree::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&scalar(k, style));
                out.push_str(": ");
                render_flow(v, style.wrapping_add(1), out);
            }
            out.push('}');
        }
    }
}

fn render_block(t: &Tree, indent: usize, style: u8, out: &mut String) {
    let pad = " ".repeat(indent);
    match t {
        Tree::Scalar(_) => {
            render_flow(t, style, out);
            out.push('\n');
        }
        Tree::Seq(items) if !items.is_empty() && !style.is_multiple_of(4) => {
            out.push('\n');
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                render_block(item, indent + 2, style.wrapping_add(1), out);
            }
        }
        Tree::Map(entries) if !entries.is_empty() && !style.is_multiple_of(4) => {
            out.push('\n');
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(&scalar(k, style));
                out.push_str(": ");
                render_block(v, indent + 2, style.wrapping_add(1), out);
            }
        }
        _ => {
            render_flow(t, style, out);
            out.push('\n');
        }
    }
}

const APIS: &[&str] = &["ferry/v1", "codefresh.io/v1beta1", "argoproj.io/v1alpha1"];
const KINDS: &[&str] =
    &["Environment", "Application", "Product", "PromotionFlow", "PromotionPolicy", "PromotionTemplate", "Workflow"];

/// A resource-shaped document: supported apiVersion/kind pairs with random metadata and spec.
fn resource() -> impl Strategy<Value = Tree> {
    (proptest::sample::select(APIS), proptest::sample::select(KINDS), word(), tree()).prop_map(
        |(api, kind, name, spec)| {
            Tree::Map(vec![
                ("apiVersion".into(), Tree::Scalar(api.to_owned())),
                ("kind".into(), Tree::Scalar(kind.to_owned())),
                ("metadata".into(), Tree::Map(vec![("name".into(), Tree::Scalar(name))])),
                ("spec".into(), spec),
            ])
        },
    )
}

fn document() -> impl Strategy<Value = (Tree, u8)> {
    (prop_oneof![3 => resource(), 1 => tree()], any::<u8>())
}

/// Text made of documents, then damaged by inserting fragments at random places (up to `max_damage`).
fn text(max_damage: usize) -> impl Strategy<Value = String> {
    let fragments = proptest::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop_oneof![
                proptest::sample::select(
                    &[
                        "\n",
                        ": ",
                        "- ",
                        "[",
                        "]",
                        "{",
                        "}",
                        "&a ",
                        "*a",
                        "&a [1]",
                        "*b",
                        "!!str ",
                        "|\n",
                        ">-\n",
                        "#",
                        "'",
                        "\"",
                        "---\n",
                        "...\n",
                        "\t",
                        "? ",
                        "%YAML 1.2\n",
                        "<<: *a\n",
                        "\u{feff}",
                        "\r\n",
                        "@",
                    ][..]
                )
                .prop_map(str::to_owned),
                any::<String>().prop_map(|s| s.chars().take(4).collect()),
            ],
        ),
        0..=max_damage,
    );
    (proptest::collection::vec(document(), 1..4), fragments).prop_map(|(docs, fragments)| {
        let mut out = String::new();
        for (i, (doc, style)) in docs.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            let mut body = String::new();
            render_block(doc, 0, style | 1, &mut body);
            out.push_str(body.trim_start_matches('\n'));
        }
        for (at, fragment) in fragments {
            let boundaries: Vec<usize> = out.char_indices().map(|(i, _)| i).chain([out.len()]).collect();
            let pos = boundaries[at.index(boundaries.len())];
            out.insert_str(pos, &fragment);
        }
        out
    })
}

/// The first syntax error of an independent pass of the YAML parser over `text`, if any: what the
/// loader must report as an error (and never as a warning, nor leave out).
fn syntax_error(text: &str) -> Option<(usize, usize)> {
    saphyr_parser::Parser::new_from_str(text).find_map(Result::err).map(|e| (e.marker().line(), e.marker().col() + 1))
}

fn check(text: String) {
    let expected_syntax_error = syntax_error(&text);
    let is_syntax = |d: &Diagnostic| d.message.starts_with("YAML syntax error");
    match load_sources(&[Source { name: "fuzz.yaml".into(), text }]) {
        Ok(loaded) => {
            assert_eq!(expected_syntax_error, None, "a syntax error was accepted: {:?}", loaded.warnings);
            for w in &loaded.warnings {
                assert_eq!(w.severity, Severity::Warning, "{w:?}");
                assert!(!is_syntax(w), "a syntax error reported as a warning: {w:?}");
            }
            let positions: Vec<_> = loaded.warnings.iter().map(|d| (d.document, d.line, d.column)).collect();
            assert!(positions.is_sorted(), "warnings are not sorted by position: {positions:?}");
        }
        Err(diagnostics) => {
            let syntax: Vec<&Diagnostic> = diagnostics.iter().filter(|d| is_syntax(d)).collect();
            match expected_syntax_error {
                Some((line, column)) => match syntax.as_slice() {
                    [d] => {
                        assert_eq!(d.severity, Severity::Error, "{d:?}");
                        assert_eq!((d.line, d.column), (line, column), "{d:?}");
                    }
                    // The loader stopped earlier on a problem of its own (an alias, a limit): an error
                    // no later than where the parser stops.
                    [] => assert!(
                        diagnostics
                            .iter()
                            .any(|d| d.severity == Severity::Error && (d.line, d.column) <= (line, column)),
                        "a syntax error at {line}:{column} left out: {diagnostics:?}"
                    ),
                    more => panic!("one syntax error expected: {more:?}"),
                },
                None => assert!(syntax.is_empty(), "a syntax error in valid YAML: {syntax:?}"),
            }
            for d in &diagnostics {
                assert!(d.file == "fuzz.yaml" && d.document >= 1 && d.line >= 1 && d.column >= 1, "{d:?}");
                assert!(!d.message.is_empty() && !d.to_string().contains('\n'), "{d:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn yaml_documents_never_panic(text in text(0)) {
        check(text);
    }

    #[test]
    fn damaged_yaml_documents_never_panic(text in text(3)) {
        check(text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(text);
    }

    #[test]
    fn arbitrary_lines_of_yaml_tokens_never_panic(parts in proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(WORDS).prop_map(str::to_owned),
            proptest::sample::select(&[": ", "\n", "  ", "- ", "[", "]", "{", "}", ", ", "&x ", "*x", "---\n", "|\n  "][..])
                .prop_map(str::to_owned),
        ],
        0..60,
    )) {
        check(parts.concat());
    }
}
