use super::*;

fn paths(list: &[&str]) -> Vec<JsonPath> {
    list.iter().map(|p| JsonPath::parse(p).expect("valid path")).collect()
}

/// Promotes and checks the result text exactly.
#[track_caller]
fn check(source: &str, target: &str, list: &[&str], expect: &str) {
    let edit = promote_yaml(source, target, &paths(list)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(edit.text, expect, "\n--- got:\n{}\n--- expected:\n{expect}", edit.text);
    // Whatever the text, it must read back as the value-level promotion.
    let mut want = parse_values(target).expect("target parses");
    if want.is_empty() {
        want.push(Value::Null);
    }
    let src = parse_values(source).expect("source parses");
    for (doc, s) in src.iter().enumerate() {
        if let Some(t) = want.get_mut(doc) {
            let applicable: Vec<JsonPath> = paths(list)
                .into_iter()
                .filter(|p| p.definite_location().is_none_or(|l| get_at(s, &l).is_some()))
                .collect();
            ferry_model::jsonpath::promote(s, t, &applicable).expect("value-level promote");
        }
    }
    let got = parse_values(&edit.text).expect("result parses");
    assert!(got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| value_eq(a, b)), "{got:?} != {want:?}");
}

#[test]
fn scalar_with_comment_keeps_everything_else() {
    let target =
        "# values for staging\nimage:\n  repository: shop/api   # where\n  tag: 1.2.3  # pinned\n\nreplicas: 2\n";
    let source = "image:\n  repository: shop/api\n  tag: 1.4.2\nreplicas: 5\n";
    check(
        source,
        target,
        &["$.image.tag"],
        "# values for staging\nimage:\n  repository: shop/api   # where\n  tag: 1.4.2  # pinned\n\nreplicas: 2\n",
    );
}

#[test]
fn flow_map_scalar_in_place() {
    check(
        "image: {tag: 2.0.0}\n",
        "image: {tag: 1.2.3}  # pinned\n",
        &["$.image.tag"],
        "image: {tag: 2.0.0}  # pinned\n",
    );
}

#[test]
fn quoting_styles_are_kept() {
    let source = "a: x-2\nb: y-2\nc: z-2\n";
    let target = "a: 'x-1'\nb: \"y-1\"\nc: z-1\n";
    check(source, target, &["$.a", "$.b", "$.c"], "a: 'x-2'\nb: \"y-2\"\nc: z-2\n");
}

#[test]
fn strings_that_look_like_numbers_or_booleans_stay_strings() {
    // The source quoted them, so they are strings; a plain target must not turn them into numbers.
    let source = "v: \"1.10\"\nb: 'true'\ny: \"yes\"\ne: ''\nn: \"012\"\n";
    let target = "v: 1.9.0\nb: nope\ny: maybe\ne: x\nn: abc\n";
    check(
        source,
        target,
        &["$.v", "$.b", "$.y", "$.e", "$.n"],
        "v: \"1.10\"\nb: \"true\"\ny: \"yes\"\ne: \"\"\nn: \"012\"\n",
    );
}

#[test]
fn numbers_stay_numbers_with_source_spelling() {
    check(
        "cpu: 1.50\nport: 0x1F\non: true\n",
        "cpu: '1'\nport: 80\non: false\n",
        &["$.cpu", "$.port", "$.on"],
        "cpu: 1.50\nport: 0x1F\non: true\n",
    );
}

#[test]
fn single_quote_escapes_and_fallback_to_double() {
    check("a: it's\nb: \"line1\\nline2\"\n", "a: 'x'\nb: 'y'\n", &["$.a", "$.b"], "a: 'it''s'\nb: \"line1\\nline2\"\n");
}

#[test]
fn unsafe_plain_text_is_double_quoted() {
    check(
        "a: 'k: v'\nb: ' lead'\nc: '#x'\nd: '- x'\n",
        "a: p\nb: p\nc: p\nd: p\n",
        &["$.a", "$.b", "$.c", "$.d"],
        "a: \"k: v\"\nb: \" lead\"\nc: \"#x\"\nd: \"- x\"\n",
    );
}

#[test]
fn equal_values_change_nothing() {
    let target = "image:\n  tag: \"1.2.3\"   # same value, other quoting\n";
    let edit = promote_yaml("image: {tag: 1.2.3}", target, &paths(&["$.image.tag"])).expect("edit");
    assert_eq!(edit.text, target);
    assert!(edit.changed.is_empty());
}

#[test]
fn changed_lists_located_paths() {
    let edit =
        promote_yaml("a: {b: 2}\nc: [1, {d: 5}]\n", "a: {b: 1}\nc: [1, {d: 4}]\n", &paths(&["$.a.b", "$.c[1].d"]))
            .expect("edit");
    assert_eq!(edit.changed, vec!["$.a.b".to_owned(), "$.c[1].d".to_owned()]);
}

#[test]
fn nested_maps_and_lists_of_maps() {
    let target = "\
spec:
  containers:
    - name: api   # main
      image: shop/api:1.0
    - name: sidecar
      image: envoy:1.0
";
    let source = "spec: {containers: [{name: api, image: 'shop/api:2.0'}, {name: sidecar, image: envoy:1.1}]}";
    check(
        source,
        target,
        &["$.spec.containers[0].image", "$.spec.containers[1].image"],
        "\
spec:
  containers:
    - name: api   # main
      image: shop/api:2.0
    - name: sidecar
      image: envoy:1.1
",
    );
}

#[test]
fn recursive_path_replaces_whole_maps() {
    let target = "\
api:
  resources:   # tuned by hand
    limits: {cpu: 1}
    requests:
      cpu: 100m
worker:
  resources: {}
  replicas: 1
";
    let source = "\
api:
  resources:
    limits:
      cpu: 2
      memory: 1Gi
worker:
  resources:
    requests: {cpu: 50m}
";
    check(
        source,
        target,
        &["$..resources"],
        "\
api:
  resources:   # tuned by hand
    limits:
      cpu: 2
      memory: 1Gi
worker:
  resources: {requests: {cpu: 50m}}
  replicas: 1
",
    );
}

#[test]
fn scalar_replaced_by_block_map_and_back() {
    check("a:\n  b: 1\n  c: [x, w]\nz: 1\n", "a: old  # c\nz: 1\n", &["$.a"], "a:  # c\n  b: 1\n  c: [x, w]\nz: 1\n");
    check("a:\n  b: 1\n  c:\n    - x\n", "a: old  # c\nz: 1\n", &["$.a"], "a:  # c\n  b: 1\n  c:\n    - x\nz: 1\n");
    check("a: plain\n", "a:\n  b: 1\n  c: 2\nz: 1\n", &["$.a"], "a: plain\nz: 1\n");
    check("a: []\n", "a:\n- 1\n- 2\nz: 1\n", &["$.a"], "a: []\nz: 1\n");
}

#[test]
fn lists_replace_lists_keeping_indentless_style() {
    check("l: [a, b, c]\n", "l:\n- x\n- y\nz: 1\n", &["$.l"], "l:\n- a\n- b\n- c\nz: 1\n");
    let source = "l:\n  - n: 1\n    m: 2\n  - - p\n    - q\n";
    check(source, "l:\n  - x\n", &["$.l"], "l:\n  - n: 1\n    m: 2\n  - - p\n    - q\n");
    // Nested collections keep the source's flow style.
    check("l: [{n: 1}, [p, q]]\n", "l:\n  - x\n", &["$.l"], "l:\n  - {n: 1}\n  - [p, q]\n");
}

#[test]
fn map_in_list_item_replaced_compactly() {
    check("l: [{a: 2, b: 3}]\n", "l:\n  - a: 1\n  - keep\n", &["$.l[0]"], "l:\n  - a: 2\n    b: 3\n  - keep\n");
    check("l: [{a: 2, b: 3}]\n", "l:\n  - x   # c\n", &["$.l[0]"], "l:\n  - a: 2   # c\n    b: 3\n");
}

#[test]
fn missing_keys_are_created_at_the_end_of_their_map() {
    let target = "\
image:
  repository: shop/api   # comment
other: 1
";
    check(
        "image: {tag: 1.4.2, pull: {policy: Always}}",
        target,
        &["$.image.tag", "$.image.pull.policy"],
        "\
image:
  repository: shop/api   # comment
  tag: 1.4.2
  pull:
    policy: Always
other: 1
",
    );
    check("a: {b: {c: 1}}", "x: 1", &["$.a.b.c"], "x: 1\na:\n  b:\n    c: 1");
    check("a: {b: 1}", "a: {x: 0}\n", &["$.a.b"], "a: {x: 0, b: 1}\n");
    check("a: {b: 1}", "a: {}\n", &["$.a.b"], "a: {b: 1}\n");
    check("a: {b: 1}", "a:\n", &["$.a.b"], "a:\n  b: 1\n");
    check("a: {b: 1}", "a: ~ # none\n", &["$.a.b"], "a: # none\n  b: 1\n");
    check("a: {b: 1}", "# only a comment\n", &["$.a.b"], "# only a comment\na:\n  b: 1\n");
    check("a: {b: 1}", "", &["$.a.b"], "a:\n  b: 1\n");
}

#[test]
fn block_scalars() {
    let target = "script: |\n  echo old\n  exit 0\n\nnext: 1\n";
    check("script: |\n  echo new\n", target, &["$.script"], "script: |\n  echo new\n\nnext: 1\n");
    check("script: one line\n", target, &["$.script"], "script: one line\n\nnext: 1\n");
    check("script: \"a\\nb\"\n", "script: x\n", &["$.script"], "script: \"a\\nb\"\n");
    check("script: |-\n  a\n  b\n", "script: x\n", &["$.script"], "script: |-\n  a\n  b\n");
    check("k: |\n  a\n", "l:\n  - |\n    x\n  - y\n", &["$.k"], "l:\n  - |\n    x\n  - y\nk: |\n  a\n");
    check("l: [\"n\\n\"]\n", "l:\n  - |\n    x\n  - y\n", &["$.l[0]"], "l:\n  - |\n    n\n  - y\n");
}

#[test]
fn anchors_elsewhere_are_untouched_and_kept_on_the_edited_node() {
    let target = "base: &base\n  tag: 1.0\nuse: *base\nimage:\n  tag: &t 1.0  # anchored\nother: *t\n";
    // The alias follows its anchor: that is what the target file says.
    let edit = promote_yaml("image: {tag: 2.0}", target, &paths(&["$.image.tag"])).expect("edit");
    assert_eq!(edit.text, "base: &base\n  tag: 1.0\nuse: *base\nimage:\n  tag: &t 2.0  # anchored\nother: *t\n");
    let err = promote_yaml("use: {tag: 3}", target, &paths(&["$.use.tag"])).expect_err("alias");
    assert!(err.to_string().contains("alias"), "{err}");
}

#[test]
fn source_aliases_are_expanded() {
    check("d: &d {cpu: 1}\nr: *d\n", "r: {}\n", &["$.r"], "r: {cpu: 1}\n");
    check("d: &d {cpu: 1}\nr: *d\n", "r: x\n", &["$.r"], "r:\n  cpu: 1\n");
}

#[test]
fn core_tags_are_dropped_with_the_old_value() {
    check("v: 5\n", "v: !!str 4\n", &["$.v"], "v: 5\n");
}

#[test]
fn crlf_line_endings() {
    let target = "image:\r\n  tag: 1.0   # c\r\n  repo: x\r\n";
    check(
        "image:\n  tag: '2.0'\n  extra:\n    a: 1\n",
        target,
        &["$.image.tag", "$.image.extra"],
        "image:\r\n  tag: \"2.0\"   # c\r\n  repo: x\r\n  extra:\r\n    a: 1\r\n",
    );
}

#[test]
fn multi_document_files_pair_documents_by_position() {
    let target = "kind: Deployment\nimage: a:1\n---\n# svc\nkind: Service\nport: 80\n...\n";
    let source = "kind: Deployment\nimage: a:2\n---\nkind: Service\nport: 8080\n";
    check(
        source,
        target,
        &["$.image", "$.port"],
        "kind: Deployment\nimage: a:2\n---\n# svc\nkind: Service\nport: 8080\n...\n",
    );
    let edit = promote_yaml(source, target, &paths(&["$.port"])).expect("edit");
    assert_eq!(edit.changed, vec!["$.port (document 2)".to_owned()]);
    let err = promote_yaml(source, "kind: Deployment\n", &paths(&["$.port"])).expect_err("missing doc");
    assert!(err.to_string().contains("only 1"), "{err}");
}

#[test]
fn unicode_offsets_are_bytes() {
    check("ä: {tag: ü2}\n", "# ünïcödé\nä: {tag: ü1}  # é\n", &["$.ä.tag"], "# ünïcödé\nä: {tag: ü2}  # é\n");
}

#[test]
fn errors_name_the_path_and_tell_what_to_do() {
    let err = promote_yaml("a: 1", "a: 2", &paths(&["$.image.tag"])).expect_err("missing");
    assert_eq!(err, YamlEditError::PathNotFound { path: "$.image.tag".into() });
    assert!(err.to_string().contains("add the value"), "{err}");
    let err = promote_yaml("a: [1", "a: 2", &paths(&["$.a"])).expect_err("bad yaml");
    assert!(matches!(err, YamlEditError::Parse { side: Side::Source, .. }), "{err:?}");
    let err = promote_yaml("a: {b: 1}", "a: text", &paths(&["$.a.b"])).expect_err("scalar parent");
    assert!(matches!(err, YamlEditError::Unwritable { .. }), "{err:?}");
    // A wildcard that matches nothing is fine (ferry-model semantics).
    let edit = promote_yaml("a: 1", "a: 2", &paths(&["$..resources"])).expect("no match");
    assert!(edit.changed.is_empty());
}

#[test]
fn read_version_reads_scalar_text() {
    let chart = "apiVersion: v2\nappVersion: \"1.4.2\"\nversion: 1.10\nlist: [1]\n";
    assert_eq!(read_version(chart, &paths(&["$.appVersion"])[0]).as_deref(), Some("1.4.2"));
    assert_eq!(read_version(chart, &paths(&["$.version"])[0]).as_deref(), Some("1.10"));
    assert_eq!(read_version(chart, &paths(&["$.list"])[0]), None);
    assert_eq!(read_version(chart, &paths(&["$.nope"])[0]), None);
    assert_eq!(read_version("a: [", &paths(&["$.a"])[0]), None);
}

#[test]
fn plain_safety_rules() {
    for ok in ["1.2.3", "v1", "shop/api", "a-b", "http://x.y/z", "é", "1.4.2-rc.1", "-x", "sha256:abc"] {
        assert!(plain_safe(ok, false, true), "{ok}");
    }
    for bad in [
        "", "1.10", "true", "yes", "No", "~", "null", "1_000", "1:20", " a", "a ", "a: b", "a #b", "#a", "&a", "*a",
        "!a", "- a", "'a", "\"a", "a\nb", "---", "%x", "@x", "1e3", "0x1F", "0b101",
    ] {
        assert!(!plain_safe(bad, false, true), "{bad:?}");
    }
    assert!(!plain_safe("a,b", true, true));
    assert!(plain_safe("a,b", false, true));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Scalars that stress the quoting rules.
    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::String("1.10".into())),
            Just(Value::String("true".into())),
            Just(Value::String("yes".into())),
            Just(Value::String(String::new())),
            Just(Value::String("a: b".into())),
            Just(Value::String("it's".into())),
            Just(Value::String("say \"hi\"".into())),
            Just(Value::String("# not a comment".into())),
            Just(Value::String("x\ny\n".into())),
            Just(Value::Null),
            Just(Value::Bool(false)),
            (-1000i64..1000).prop_map(Value::Int),
            (0u32..100).prop_map(|n| Value::Float(f64::from(n) / 4.0)),
            "[a-z0-9 .:/#'\"-]{0,12}".prop_map(Value::String),
            "\\PC{0,6}".prop_map(Value::String),
        ]
    }

    /// How a target scalar is written (`flow` = inside a flow map; `indent` = literal block indentation).
    fn styled(value: &Value, style: u8, flow: bool, indent: usize) -> String {
        match value {
            Value::String(s) => match style % 4 {
                0 => double_quote(s),
                1 if single_quotable(s) => single_quote(s),
                3 if !flow && literal_ok(s) => literal_block(s, indent, "\n"),
                _ if plain_safe(s, flow, true) => s.clone(),
                _ => double_quote(s),
            },
            other => render_plain_value(other, None),
        }
    }

    /// JSON-ish source text (JSON is YAML) holding `value` at `key.sub`, in the given source style.
    fn source_text(key: &str, value: &Value, style: u8) -> String {
        match style % 2 {
            0 => format!("{{\"{key}\": {{\"sub\": {}}}}}\n", styled(value, 0, true, 0)),
            _ => format!("{key}:\n  sub: {}\n", styled(value, style / 2, false, 4)),
        }
    }

    /// Nested maps and lists of stress scalars.
    fn tree() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
                proptest::collection::vec(("[a-z]{1,3}|\"[^\"\\\\]{0,4}\"", inner), 0..4).prop_map(|entries| {
                    let mut seen = std::collections::BTreeSet::new();
                    Value::Map(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.trim_matches('"').to_owned(), v))
                            .filter(|(k, _)| seen.insert(k.clone()))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// JSON text of a value (JSON is YAML).
    fn json(value: &Value) -> String {
        match value {
            Value::String(s) => double_quote(s),
            Value::Seq(items) => format!("[{}]", items.iter().map(json).collect::<Vec<_>>().join(", ")),
            Value::Map(entries) => format!(
                "{{{}}}",
                entries.iter().map(|(k, v)| format!("{}: {}", double_quote(k), json(v))).collect::<Vec<_>>().join(", ")
            ),
            other => render_plain_value(other, None),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn random_value_updates(old in tree(), new in tree(), flow in any::<bool>(), comment in any::<bool>()) {
            let old_text = if flow { json(&old) } else { json(&Value::Map(vec![("x".into(), old.clone())])) };
            let mut target = format!("# header\nbefore: 1\nk:\n  other: keep\n  sub: {old_text}");
            if comment { target.push_str("  # note"); }
            target.push_str("\n\nafter: [1, 2]  # tail\n");
            let source = format!("{{\"k\": {{\"sub\": {}}}}}", json(&new));
            let path = JsonPath::parse("$.k.sub").expect("path");
            let edit = promote_yaml(&source, &target, std::slice::from_ref(&path)).expect("edit");
            let mut want = parse_values(&target).expect("target parses").remove(0);
            let src = parse_values(&source).expect("source parses").remove(0);
            ferry_model::jsonpath::promote(&src, &mut want, std::slice::from_ref(&path)).expect("promote");
            let got = parse_values(&edit.text).expect("result parses").remove(0);
            prop_assert!(value_eq(&got, &want), "{:?} != {:?}\n{}", got, want, edit.text);
            prop_assert!(edit.text.starts_with("# header\nbefore: 1\nk:\n  other: keep\n  sub:"), "{}", edit.text);
            prop_assert!(edit.text.ends_with("\n\nafter: [1, 2]  # tail\n"), "{}", edit.text);
            if comment && !edit.changed.is_empty() {
                prop_assert!(edit.text.contains("  # note"), "{}", edit.text);
            }
        }

        #[test]
        fn random_scalar_updates(
            old in proptest::collection::vec((scalar(), any::<u8>(), any::<bool>(), any::<bool>()), 3..6),
            pick in 0usize..6,
            new in scalar(),
            source_style in any::<u8>(),
        ) {
            // A target with comments, blank lines and mixed quoting; entries in block or flow style.
            let mut target = String::from("# header\n");
            for (i, (v, style, comment, flow)) in old.iter().enumerate() {
                if *flow {
                    target.push_str(&format!("k{i}: {{other: keep{i}, sub: {}}}", styled(v, *style, true, 0)));
                } else {
                    target.push_str(&format!("k{i}:\n  other: keep{i}\n  sub: {}", styled(v, *style, false, 4)));
                }
                if *comment { target.push_str("   # note"); }
                target.push_str("\n\n");
            }
            let pick = pick % old.len();
            let key = format!("k{pick}");
            let path = JsonPath::parse(&format!("$.{key}.sub")).expect("path");
            let source = source_text(&key, &new, source_style);
            let edit = promote_yaml(&source, &target, std::slice::from_ref(&path)).expect("edit");

            // The result reads back as exactly the expected tree.
            let mut want = parse_values(&target).expect("target parses").remove(0);
            let src = parse_values(&source).expect("source parses").remove(0);
            ferry_model::jsonpath::promote(&src, &mut want, std::slice::from_ref(&path)).expect("promote");
            let got = parse_values(&edit.text).expect("result parses").remove(0);
            prop_assert!(value_eq(&got, &want), "{:?} != {:?}\n{}", got, want, edit.text);

            // Every line outside the edited value's lines is unchanged.
            let before: Vec<&str> = target.lines().collect();
            let after: Vec<&str> = edit.text.lines().collect();
            let key_line = before.iter().position(|l| l.starts_with(&format!("{key}:"))).expect("key line");
            let first_edited = if old[pick].3 { key_line } else { key_line + 2 };
            prop_assert_eq!(&before[..first_edited], &after[..first_edited]);
            let entry_end = (key_line..before.len()).find(|&i| before[i].is_empty()).expect("blank line");
            let tail = &before[entry_end..];
            prop_assert!(after.len() >= tail.len());
            prop_assert_eq!(tail, &after[after.len() - tail.len()..]);
            if edit.changed.is_empty() {
                prop_assert_eq!(&edit.text, &target);
            }
        }
    }
}

#[test]
fn odd_layouts() {
    // Indentless list items, quoted keys, a value on the line after its key.
    check("l: [a, z]\n", "l:\n- a\n- b   # two\n", &["$.l[1]"], "l:\n- a\n- z   # two\n");
    check("\"a-b\": 2\n", "'a-b': 1 # c\n", &["$[\"a-b\"]"], "'a-b': 2 # c\n");
    check("k: new\n", "k:\n  old\nz: 1\n", &["$.k"], "k: new\nz: 1\n");
    check("k: new\n", "k: # why\n  old\nz: 1\n", &["$.k"], "k: # why\n  new\nz: 1\n");
    // The whole document.
    check("b: 2\n", "# c\na: 1\n", &["$"], "# c\nb: 2\n");
    check("b: 2\n", "--- # doc\na: 1\n...\n", &["$"], "--- # doc\nb: 2\n...\n");
    // Folded and indented block scalars.
    check("s: |\n  new\n  text\n", "s: >-\n  old\n  text\nz: 1\n", &["$.s"], "s: |\n  new\n  text\nz: 1\n");
    check("s: \"x\\ny\"\n", "s: |2\n   lead\nz: 1\n", &["$.s"], "s: |-\n  x\n  y\nz: 1\n");
    check("s: \"x\\ny\\n\"\n", "s: old  # c\n", &["$.s"], "s: \"x\\ny\\n\"  # c\n");
    check("s: |\n  x\n  y\n", "s: old  # c\n", &["$.s"], "s: |  # c\n  x\n  y\n");
    check("s: |\n  x\n", "s: |\r\n  old\r\n", &["$.s"], "s: |\r\n  x\r\n");
    // A list replacing a list of maps, nested in a list item.
    check(
        "env:\n  - name: A\n    value: '2'\n",
        "env:\n  - name: A\n    value: \"1\"\n  - name: B\n    value: x\n",
        &["$.env[0].value"],
        "env:\n  - name: A\n    value: \"2\"\n  - name: B\n    value: x\n",
    );
    check("m: {}\n", "m:\n  a: 1\nz: 1\n", &["$.m"], "m: {}\nz: 1\n");
    check("m: {a: 1}\n", "m: ~\n", &["$.m"], "m:\n  a: 1\n");
    check("m: [1]\n", "m: [2, 3]  # flow\n", &["$.m"], "m: [1]  # flow\n");
    check("m: {x: [1, {y: 'a b'}]}\n", "m: {x: 0}\n", &["$.m"], "m: {x: [1, {y: 'a b'}]}\n");
}

#[test]
fn keys_and_values_that_need_quotes_in_new_maps() {
    check(
        "m:\n  \"a: b\": \"yes\"\n  plain: no\n  '1': x\n",
        "m: old\n",
        &["$.m"],
        "m:\n  \"a: b\": \"yes\"\n  plain: no\n  \"1\": x\n",
    );
}

#[test]
fn comments_after_quoted_and_flow_values_stay() {
    check(
        "a: x2\nb: y2\nc: [2]\n",
        "a: 'x1'  # c1\nb: \"y1\" # c2\nc: [1]  # c3\n",
        &["$.a", "$.b", "$.c"],
        "a: 'x2'  # c1\nb: \"y2\" # c2\nc: [2]  # c3\n",
    );
    check("a: \"it's\"\n", "a: 'x''s'  # c\n", &["$.a"], "a: 'it''s'  # c\n");
}
