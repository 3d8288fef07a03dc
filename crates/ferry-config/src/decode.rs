//! Building blocks of the hand-written decoders: a context that collects diagnostics, field paths,
//! map readers that report unknown and duplicate keys, and typed readers for scalars, lists, names,
//! durations, JSONPaths and enums. Every reader reports its problem and returns `None`; decoding goes on.

use std::time::Duration;

use ferry_model::jsonpath::JsonPath;
use ferry_model::names::NameError;
use ferry_model::resources::Labels;

use crate::diagnostic::{Diagnostic, Severity};
use crate::node::{Node, NodeKind, Pos};
use crate::suggest;

/// Collects the diagnostics of one document.
pub(crate) struct Cx<'a> {
    /// File name as shown.
    pub file: &'a str,
    /// 1-based document index.
    pub doc: usize,
    /// Diagnostics so far.
    pub diags: Vec<Diagnostic>,
}

impl<'a> Cx<'a> {
    /// A context for document `doc` of `file`.
    pub fn new(file: &'a str, doc: usize) -> Self {
        Cx { file, doc, diags: Vec::new() }
    }

    /// Records a diagnostic.
    pub fn report(&mut self, severity: Severity, pos: Pos, field: &str, message: String, hint: Option<String>) {
        self.diags.push(Diagnostic {
            severity,
            file: self.file.to_owned(),
            document: self.doc,
            line: pos.line,
            column: pos.column,
            field: field.to_owned(),
            message,
            hint,
        });
    }

    /// Records an error.
    pub fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.report(Severity::Error, pos, field, message.into(), None);
    }

    /// Records an error with a hint.
    pub fn error_hint(&mut self, pos: Pos, field: &str, message: impl Into<String>, hint: Option<String>) {
        self.report(Severity::Error, pos, field, message.into(), hint);
    }

    /// Records a warning.
    pub fn warn(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.report(Severity::Warning, pos, field, message.into(), None);
    }

    /// Number of errors so far (compare before and after decoding a part).
    pub fn errors(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }
}

/// Whether a key can be written after a dot in a field path.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `parent.key`, or `parent["key"]` when the key has dots, slashes, spaces, ...
pub(crate) fn join(parent: &str, key: &str) -> String {
    if !is_plain_key(key) {
        format!("{parent}[{key:?}]")
    } else if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent` followed by a relative path written by [`join`] and [`index`] (`steps[1].dependsOn`).
pub(crate) fn concat(parent: &str, rel: &str) -> String {
    if parent.is_empty() || rel.is_empty() || rel.starts_with('[') {
        format!("{parent}{rel}")
    } else {
        format!("{parent}.{rel}")
    }
}

/// Whether the node at `path` exists under `root`.
pub(crate) fn path_exists(root: &Node, path: &str) -> bool {
    let mut node = root;
    for seg in split_path(path) {
        let next = match (&node.kind, seg) {
            (NodeKind::Map(entries), PathSeg::Key(k)) => {
                entries.iter().find(|(key, _)| key.scalar() == Some(k.as_str())).map(|(_, v)| v)
            }
            (NodeKind::Seq(items), PathSeg::Index(i)) => items.get(i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathSeg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Splits a field path written by [`join`] and [`index`] into its segments.
pub(crate) fn split_path(path: &str) -> Vec<PathSeg> {
    let mut segs = Vec::new();
    let mut chars = path.chars().peekable();
    let mut key = String::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !key.is_empty() {
                    segs.push(PathSeg::Key(std::mem::take(&mut key)));
                }
            }
            '[' => {
                if !key.is_empty() {
                    segs.push(PathSeg::Key(std::mem::take(&mut key)));
                }
                if chars.peek() == Some(&'"') {
                    chars.next();
                    let mut quoted = String::new();
                    while let Some(q) = chars.next() {
                        match q {
                            '\\' => {
                                if let Some(escaped) = chars.next() {
                                    quoted.push(escaped);
                                }
                            }
                            '"' => break,
                            other => quoted.push(other),
                        }
                    }
                    segs.push(PathSeg::Key(quoted));
                    // the closing ']'
                    chars.next();
                } else {
                    let mut digits = String::new();
                    for d in chars.by_ref() {
                        if d == ']' {
                            break;
                        }
                        digits.push(d);
                    }
                    if let Ok(i) = digits.parse() {
                        segs.push(PathSeg::Index(i));
                    }
                }
            }
            other => key.push(other),
        }
    }
    if !key.is_empty() {
        segs.push(PathSeg::Key(key));
    }
    segs
}

/// The position of the node at `path` under `root`, or of its deepest existing ancestor.
pub(crate) fn position_of(root: &Node, path: &str) -> Pos {
    let mut node = root;
    for seg in split_path(path) {
        let next = match (&node.kind, seg) {
            (NodeKind::Map(entries), PathSeg::Key(k)) => {
                entries.iter().find(|(key, _)| key.scalar() == Some(k.as_str())).map(|(_, v)| v)
            }
            (NodeKind::Seq(items), PathSeg::Index(i)) => items.get(i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node.pos
}

/// A field: its node and its path.
#[derive(Clone, Copy)]
pub(crate) struct Field<'n, 'p> {
    /// The value.
    pub node: &'n Node,
    /// The path.
    pub path: &'p str,
}

/// An owned-path field, as produced by map and list readers.
pub(crate) struct OwnedField<'n> {
    /// The value.
    pub node: &'n Node,
    /// The path.
    pub path: String,
}

impl<'n> OwnedField<'n> {
    /// Borrows as a [`Field`].
    pub fn f(&self) -> Field<'n, '_> {
        Field { node: self.node, path: &self.path }
    }
}

/// The keys of a map, read once; unknown, duplicate and non-string keys are reported on creation.
pub(crate) struct Fields<'n> {
    path: String,
    pos: Pos,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// Reads a map. `known` lists the accepted keys (`None` = accept and ignore any other key).
    /// A null value is read as an empty map.
    pub fn new(cx: &mut Cx<'_>, field: Field<'n, '_>, known: Option<&[&str]>) -> Option<Fields<'n>> {
        let mut fields = Fields { path: field.path.to_owned(), pos: field.node.pos, entries: Vec::new() };
        let entries = match &field.node.kind {
            NodeKind::Map(entries) => entries,
            _ if field.node.is_null() => return Some(fields),
            _ => {
                cx.error(field.node.pos, field.path, format!("expected a map, found {}", field.node.describe()));
                return None;
            }
        };
        for (key, value) in entries {
            let Some(name) = key.scalar() else {
                cx.error(key.pos, field.path, format!("map keys must be strings, found {}", key.describe()));
                continue;
            };
            if let Some((_, first, _)) = fields.entries.iter().find(|(n, _, _)| *n == name) {
                cx.error(
                    key.pos,
                    &join(field.path, name),
                    format!("duplicate key {name:?} (first at line {}:{})", first.pos.line, first.pos.column),
                );
                continue;
            }
            fields.entries.push((name, key, value));
        }
        if let Some(known) = known {
            fields.reject_unknown(cx, known);
        }
        Some(fields)
    }

    /// Reports (and forgets) every key not in `known`, with a "did you mean" hint.
    pub fn reject_unknown(&mut self, cx: &mut Cx<'_>, known: &[&str]) {
        let path = &self.path;
        self.entries.retain(|(name, key, _)| {
            if known.contains(name) {
                return true;
            }
            let hint = suggest::hint_or_list(name, known.iter().copied(), "expected one of");
            cx.error_hint(key.pos, &join(path, name), format!("unknown field {name:?}"), hint);
            false
        });
    }

    /// The field `key` even when its value is null.
    pub fn get(&self, key: &str) -> Option<OwnedField<'n>> {
        self.entries
            .iter()
            .find(|(n, _, _)| *n == key)
            .map(|(_, _, v)| OwnedField { node: v, path: join(&self.path, key) })
    }

    /// The key node of `key`, if present.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries.iter().find(|(n, _, _)| *n == key).map(|(_, k, _)| k.pos)
    }

    /// The map's own path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The map's position.
    pub fn pos(&self) -> Pos {
        self.pos
    }

    /// Every entry (key text, key node, value node), in document order.
    pub fn entries(&self) -> &[(&'n str, &'n Node, &'n Node)] {
        &self.entries
    }

    /// The field `key`, unless it is absent or null.
    pub fn opt(&self, key: &str) -> Option<OwnedField<'n>> {
        self.entries
            .iter()
            .find(|(n, _, v)| *n == key && !v.is_null())
            .map(|(_, _, v)| OwnedField { node: v, path: join(&self.path, key) })
    }

    /// Whether `key` is present (even with a null value).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(n, _, _)| *n == key)
    }

    /// The field `key`; reports it missing when absent or null.
    pub fn req(&self, cx: &mut Cx<'_>, key: &str) -> Option<OwnedField<'n>> {
        let found = self.opt(key);
        if found.is_none() {
            cx.error(self.pos, &join(&self.path, key), format!("missing required field {key:?}"));
        }
        found
    }
}

/// A scalar as text (numbers and booleans read as written); null, lists and maps are errors.
pub(crate) fn string(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<String> {
    match &f.node.kind {
        NodeKind::Scalar { text, .. } if !f.node.is_null() => Some(text.clone()),
        _ => {
            cx.error(f.node.pos, f.path, format!("expected a string, found {}", f.node.describe()));
            None
        }
    }
}

/// A string that is not empty or blank.
pub(crate) fn non_empty(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<String> {
    let s = string(cx, f)?;
    if s.trim().is_empty() {
        cx.error(f.node.pos, f.path, "must not be empty");
        return None;
    }
    Some(s)
}

/// An integer (plain scalar).
pub(crate) fn int(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<i64> {
    match f.node.scalar_value() {
        ferry_model::Value::Int(n) => Some(n),
        _ => {
            cx.error(f.node.pos, f.path, format!("expected an integer, found {}", f.node.describe()));
            None
        }
    }
}

/// A boolean: plain `true` or `false` (YAML 1.2 core schema, also `True`/`TRUE`). A quoted `"true"`
/// or a YAML 1.1 spelling (`yes`, `off`...) is refused with a hint to write `true` or `false`.
pub(crate) fn boolean(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<bool> {
    match f.node.scalar_value() {
        ferry_model::Value::Bool(b) => Some(b),
        value => {
            let text = value.as_str().unwrap_or_default();
            let hint = match text.to_ascii_lowercase().as_str() {
                "true" | "false" => Some("write true or false, without quotes".to_owned()),
                "yes" | "no" | "on" | "off" | "y" | "n" => Some(format!("write true or false; {text:?} is a string")),
                _ => None,
            };
            cx.error_hint(f.node.pos, f.path, format!("expected true or false, found {}", f.node.describe()), hint);
            None
        }
    }
}

/// A validated name (any of the `ferry_model::names` constructors).
pub(crate) fn valid_name<T>(cx: &mut Cx<'_>, f: Field<'_, '_>, parse: fn(String) -> Result<T, NameError>) -> Option<T> {
    let text = string(cx, f)?;
    match parse(text) {
        Ok(name) => Some(name),
        Err(e) => {
            cx.error(f.node.pos, f.path, e.to_string());
            None
        }
    }
}

/// A duration string (`90s`, `5m`, `1h30m`). A bare number is refused with a hint to add a unit.
pub(crate) fn duration(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<Duration> {
    if matches!(f.node.scalar_value(), ferry_model::Value::Int(_) | ferry_model::Value::Float(_)) {
        let n = f.node.scalar().unwrap_or_default();
        cx.error_hint(
            f.node.pos,
            f.path,
            format!("expected a duration with a unit, found the number {n}"),
            Some(format!("write e.g. \"{n}s\" or \"{n}m\"")),
        );
        return None;
    }
    let text = string(cx, f)?;
    match ferry_model::parse_duration(&text) {
        Ok(d) if d.is_zero() => {
            cx.error(f.node.pos, f.path, format!("{text:?} is zero; a timeout must be longer than that"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            cx.error(f.node.pos, f.path, e.to_string());
            None
        }
    }
}

/// A duration that is a number of minutes (integer) or a duration string: `promotionTimeoutLimit`.
pub(crate) fn minutes_or_duration(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<Duration> {
    let value = f.node.scalar_value();
    let minutes = match &value {
        ferry_model::Value::Int(n) => Some(*n),
        ferry_model::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    let Some(minutes) = minutes else {
        if let ferry_model::Value::Float(_) = value {
            cx.error_hint(
                f.node.pos,
                f.path,
                format!("expected whole minutes or a duration, found {}", f.node.scalar().unwrap_or_default()),
                Some("write e.g. 90 or \"1h30m\"".into()),
            );
            return None;
        }
        return duration(cx, f);
    };
    match u64::try_from(minutes).ok().and_then(|m| m.checked_mul(60)) {
        Some(secs) if minutes > 0 => Some(Duration::from_secs(secs)),
        _ => {
            cx.error(f.node.pos, f.path, format!("must be a positive number of minutes, found {minutes}"));
            None
        }
    }
}

/// A JSONPath expression.
pub(crate) fn json_path(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<JsonPath> {
    let text = string(cx, f)?;
    match JsonPath::parse(&text) {
        Ok(p) => Some(p),
        Err(e) => {
            cx.error(f.node.pos, f.path, e.to_string());
            None
        }
    }
}

/// The items of a list, each with its path. A null value reads as an empty list.
pub(crate) fn list<'n>(cx: &mut Cx<'_>, f: Field<'n, '_>) -> Option<Vec<OwnedField<'n>>> {
    match &f.node.kind {
        NodeKind::Seq(items) => {
            Some(items.iter().enumerate().map(|(i, node)| OwnedField { node, path: index(f.path, i) }).collect())
        }
        _ if f.node.is_null() => Some(Vec::new()),
        _ => {
            cx.error(f.node.pos, f.path, format!("expected a list, found {}", f.node.describe()));
            None
        }
    }
}

/// A list whose items are each read by `item`; `None` when the list or any item is invalid.
pub(crate) fn list_of<'n, T>(
    cx: &mut Cx<'_>,
    f: Field<'n, '_>,
    mut item: impl FnMut(&mut Cx<'_>, Field<'n, '_>) -> Option<T>,
) -> Option<Vec<T>> {
    let items = list(cx, f)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for it in &items {
        match item(cx, it.f()) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A map of strings to strings (labels, annotations, `issueUrl`).
pub(crate) fn string_map(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<Labels> {
    let fields = Fields::new(cx, f, None)?;
    let mut out = Labels::new();
    let mut ok = true;
    for (key, _, value) in fields.entries() {
        let path = join(fields.path(), key);
        match string(cx, Field { node: value, path: &path }) {
            Some(v) => {
                out.insert((*key).to_owned(), v);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One of a fixed set of spellings. `accepted` maps every accepted spelling (aliases included) to its
/// value; `shown` is the list offered in the error message.
pub(crate) fn one_of<T: Copy>(
    cx: &mut Cx<'_>,
    f: Field<'_, '_>,
    what: &str,
    accepted: &[(&str, T)],
    shown: &[&str],
) -> Option<T> {
    let text = string(cx, f)?;
    if let Some((_, v)) = accepted.iter().find(|(s, _)| *s == text) {
        return Some(*v);
    }
    let expected = shown.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    let hint = suggest::hint(&text, accepted.iter().map(|(s, _)| *s));
    cx.error_hint(f.node.pos, f.path, format!("invalid {what} {text:?}; expected one of {expected}"), hint);
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse;

    #[test]
    fn paths_round_trip() {
        let p = join(&index(&join(&join("", "spec"), "steps"), 1), "dependsOn");
        assert_eq!(p, "spec.steps[1].dependsOn");
        let labels = join(&join("metadata", "labels"), "ferry/product");
        assert_eq!(labels, "metadata.labels[\"ferry/product\"]");
        assert_eq!(concat("spec", "steps[1].dependsOn[0]"), "spec.steps[1].dependsOn[0]");
        assert_eq!(concat("spec.promotion", "[\"a.yaml\"]"), "spec.promotion[\"a.yaml\"]");
        assert_eq!(
            split_path("spec.promotion[\"values.yaml\"].jsonPaths[0]"),
            vec![
                PathSeg::Key("spec".into()),
                PathSeg::Key("promotion".into()),
                PathSeg::Key("values.yaml".into()),
                PathSeg::Key("jsonPaths".into()),
                PathSeg::Index(0),
            ]
        );
    }

    #[test]
    fn positions_follow_paths() {
        let parsed = parse("spec:\n  steps:\n    - environment: qa\n      dependsOn: [dev, qa2]\n", 1);
        let root = &parsed.documents[0].root;
        assert_eq!(position_of(root, "spec.steps[0].dependsOn[1]"), Pos { line: 4, column: 24 });
        // a missing part falls back to the deepest existing node
        assert_eq!(position_of(root, "spec.steps[0].policy.action"), Pos { line: 3, column: 7 });
    }

    #[test]
    fn unknown_and_duplicate_keys_are_reported() {
        let parsed = parse("environment: qa\ndependOn: [dev]\nenvironment: x\n", 1);
        let mut cx = Cx::new("f.yaml", 1);
        let root = &parsed.documents[0].root;
        let fields = Fields::new(&mut cx, Field { node: root, path: "spec" }, Some(&["environment", "dependsOn"]));
        assert!(fields.is_some());
        let lines: Vec<String> = cx.diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "f.yaml#1:3:1 spec.environment: duplicate key \"environment\" (first at line 1:1)",
                "f.yaml#1:2:1 spec.dependOn: unknown field \"dependOn\" (did you mean \"dependsOn\"?)",
            ]
        );
    }
}
