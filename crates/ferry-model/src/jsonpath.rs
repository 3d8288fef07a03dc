//! The JSONPath subset of SPEC §2.4: `$`, `.key`, `["key-with-dash"]`, `[N]`, `.*`, `..key`.
//!
//! Grammar (whitespace is only allowed around the whole path, which is trimmed):
//!
//! ```text
//! path     = "$" segment*
//! segment  = "." name            key of a map
//!          | "[" quoted "]"      key of a map, any characters
//!          | "[" digits "]"      item of a list (0-based)
//!          | ".*" | "[*]"        every child of a map or a list, in order
//!          | ".." name           recursive descent: the key at any depth below the current node
//!          | ".." "[" quoted "]"
//! name     = one or more letters, digits, "_" or "-" (Unicode letters and digits count)
//! quoted   = '"' ... '"' | "'" ... "'"   non-empty; escapes \" \' \\
//! ```
//!
//! Everything else is rejected: filters, slices, unions, negative indices, `..*`, empty keys.
//!
//! Evaluation returns matches in document order (a node before its descendants, map entries and
//! list items in their order), without duplicates. A map with a repeated key is read through its
//! first entry only, like [`Value::get`].

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// A parsed JSONPath expression. Displays as its normalised text (the input without surrounding
/// whitespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// `.key` or `["key"]`.
    Key(String),
    /// `[N]`.
    Index(usize),
    /// `.*` or `[*]`: every child.
    Wildcard,
    /// `..key`: the key at any depth.
    Descendant(String),
}

/// One step of a concrete location inside a document (the result of [`JsonPath::locate`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// The value of this key of a map.
    Key(String),
    /// The item at this 0-based position of a list.
    Index(usize),
}

/// Why a path was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath {path:?} at character {position}: {reason}")]
pub struct JsonPathError {
    /// The rejected text (trimmed).
    pub path: String,
    /// 0-based character offset of the problem in `path`.
    pub position: usize,
    /// What was expected.
    pub reason: String,
}

/// Why a value could not be written into a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// A definite path to promote has no value in the source document.
    #[error("{path}: not found in the source file; a definite path must exist in the source to be promoted")]
    NotInSource {
        /// The path, as written.
        path: String,
    },
    /// The target document's shape does not allow the write (a key inside a scalar, an index out
    /// of range, ...). Nothing was written.
    #[error("{path}: {reason}")]
    CannotWrite {
        /// The path, as written.
        path: String,
        /// What was found, naming the location.
        reason: String,
    },
}

impl JsonPath {
    /// Parses a path. Surrounding whitespace is ignored; error positions count characters of the
    /// trimmed text.
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let text = text.trim();
        let segments = Parser { text, chars: text.chars().collect(), pos: 0 }.path()?;
        Ok(JsonPath { text: text.to_owned(), segments })
    }

    /// The segments after `$`.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The normalised text of the path.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the path names exactly one location: no wildcard and no recursive descent.
    pub fn is_definite(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Key(_) | Segment::Index(_)))
    }

    /// The single location of a definite path; `None` for wildcards and recursive descent.
    pub fn definite_location(&self) -> Option<Vec<PathStep>> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Key(k) => Some(PathStep::Key(k.clone())),
                Segment::Index(i) => Some(PathStep::Index(*i)),
                Segment::Wildcard | Segment::Descendant(_) => None,
            })
            .collect()
    }

    /// Every value matched in `root`, in document order.
    pub fn eval<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        self.hits(root).into_iter().map(|h| h.value).collect()
    }

    /// The concrete location of every match in `root`, in document order (same order as
    /// [`JsonPath::eval`]).
    pub fn locate(&self, root: &Value) -> Vec<Vec<PathStep>> {
        self.hits(root).into_iter().map(|h| h.steps).collect()
    }

    /// Replaces every matched value of `root` whole with `new` and returns how many values were
    /// replaced.
    ///
    /// A definite path always writes exactly one value: missing map keys are created (appended at
    /// the end of their map, intermediate maps created, a `null` on the way becomes a map); list
    /// items are never created. A non-definite path replaces only existing matches (possibly none);
    /// a match nested inside another match is not counted, since the outer replacement covers it.
    /// On error `root` is unchanged.
    pub fn set(&self, root: &mut Value, new: &Value) -> Result<usize, SetError> {
        if let Some(loc) = self.definite_location() {
            write(root, &loc, &loc, new.clone()).map_err(|reason| self.cannot_write(reason))?;
            return Ok(1);
        }
        let locs = outermost(self.locate(root));
        for loc in &locs {
            write(root, loc, loc, new.clone()).map_err(|reason| self.cannot_write(reason))?;
        }
        Ok(locs.len())
    }

    fn cannot_write(&self, reason: String) -> SetError {
        SetError::CannotWrite { path: self.text.clone(), reason }
    }

    fn hits<'a>(&self, root: &'a Value) -> Vec<Hit<'a>> {
        let mut current = vec![Hit { order: Vec::new(), steps: Vec::new(), value: root }];
        for segment in &self.segments {
            let mut next = Vec::new();
            for hit in &current {
                match segment {
                    Segment::Key(key) => {
                        if let Value::Map(entries) = hit.value
                            && let Some(i) = entries.iter().position(|(k, _)| k == key)
                        {
                            next.push(hit.child(i, PathStep::Key(key.clone()), &entries[i].1));
                        }
                    }
                    Segment::Index(i) => {
                        if let Value::Seq(items) = hit.value
                            && let Some(item) = items.get(*i)
                        {
                            next.push(hit.child(*i, PathStep::Index(*i), item));
                        }
                    }
                    Segment::Wildcard => children(hit, |i, step, value| next.push(hit.child(i, step, value))),
                    Segment::Descendant(key) => descend(hit, key, &mut next),
                }
            }
            next.sort_by(|a, b| a.order.cmp(&b.order));
            next.dedup_by(|a, b| a.order == b.order);
            current = next;
        }
        current
    }
}

/// A match during evaluation: `order` holds the position of each step among its siblings, so that
/// sorting by it gives document order.
struct Hit<'a> {
    order: Vec<usize>,
    steps: Vec<PathStep>,
    value: &'a Value,
}

impl<'a> Hit<'a> {
    fn child(&self, position: usize, step: PathStep, value: &'a Value) -> Hit<'a> {
        let mut order = self.order.clone();
        order.push(position);
        let mut steps = self.steps.clone();
        steps.push(step);
        Hit { order, steps, value }
    }
}

/// Calls `f` for every child of a map (first entry of each key only) or a list.
fn children<'a>(hit: &Hit<'a>, mut f: impl FnMut(usize, PathStep, &'a Value)) {
    match hit.value {
        Value::Map(entries) => {
            let mut seen = HashSet::new();
            for (i, (k, v)) in entries.iter().enumerate() {
                if seen.insert(k.as_str()) {
                    f(i, PathStep::Key(k.clone()), v);
                }
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                f(i, PathStep::Index(i), v);
            }
        }
        _ => {}
    }
}

/// Pushes every value of `key` at any depth below `hit`.
fn descend<'a>(hit: &Hit<'a>, key: &str, out: &mut Vec<Hit<'a>>) {
    children(hit, |i, step, value| {
        let child = hit.child(i, step, value);
        if matches!(child.steps.last(), Some(PathStep::Key(k)) if k == key) {
            out.push(hit.child(i, PathStep::Key(key.to_owned()), value));
        }
        descend(&child, key, out);
    });
}

/// Keeps, in first-appearance order, the locations that are neither inside another location of
/// the list nor a repeat of an earlier one.
fn outermost(locs: Vec<Vec<PathStep>>) -> Vec<Vec<PathStep>> {
    let mut kept: Vec<Vec<PathStep>> = Vec::new();
    for (i, loc) in locs.iter().enumerate() {
        let covered = locs
            .iter()
            .enumerate()
            .any(|(j, other)| (other.len() < loc.len() && loc.starts_with(other)) || (j < i && other == loc));
        if !covered {
            kept.push(loc.clone());
        }
    }
    kept
}

/// Writes `new` at `loc` below `node`; `full` is the whole location, for messages. Every check
/// happens before the first mutation, so an error leaves `node` unchanged.
fn write(node: &mut Value, loc: &[PathStep], full: &[PathStep], new: Value) -> Result<(), String> {
    let Some((step, rest)) = loc.split_first() else {
        *node = new;
        return Ok(());
    };
    let here = location_text(&full[..full.len() - loc.len()]);
    let rest_has_index = rest.iter().any(|s| matches!(s, PathStep::Index(_)));
    match step {
        PathStep::Key(key) => {
            let missing_then_index = || {
                format!(
                    "key {key:?} is missing at {here} and cannot be created because the path continues with a list \
                     index (list items are never created)"
                )
            };
            if matches!(node, Value::Null) {
                if rest_has_index {
                    return Err(missing_then_index());
                }
                *node = Value::Map(Vec::new());
            }
            match node {
                Value::Map(entries) => {
                    let i = match entries.iter().position(|(k, _)| k == key) {
                        Some(i) => i,
                        None => {
                            if rest_has_index {
                                return Err(missing_then_index());
                            }
                            entries.push((key.clone(), Value::Null));
                            entries.len() - 1
                        }
                    };
                    write(&mut entries[i].1, rest, full, new)
                }
                other => Err(format!("cannot create key {key:?} inside {} (at {here})", other.kind())),
            }
        }
        PathStep::Index(i) => match node {
            Value::Seq(items) => {
                let len = items.len();
                match items.get_mut(*i) {
                    Some(item) => write(item, rest, full, new),
                    None => Err(format!(
                        "index {i} is out of range at {here}: the list has {len} item{} (list items are never created)",
                        if len == 1 { "" } else { "s" }
                    )),
                }
            }
            other => Err(format!("cannot take index [{i}] of {} (at {here}): expected a list", other.kind())),
        },
    }
}

/// The value at a concrete location, if the document has it.
pub fn get_at<'a>(root: &'a Value, loc: &[PathStep]) -> Option<&'a Value> {
    loc.iter().try_fold(root, |node, step| match (step, node) {
        (PathStep::Key(k), Value::Map(_)) => node.get(k),
        (PathStep::Index(i), Value::Seq(items)) => items.get(*i),
        _ => None,
    })
}

/// Writes `new` at a concrete location of `root`, creating missing map keys like
/// [`JsonPath::set`] does for a definite path. On error `root` is unchanged.
pub fn set_at(root: &mut Value, loc: &[PathStep], new: Value) -> Result<(), SetError> {
    write(root, loc, loc, new).map_err(|reason| SetError::CannotWrite { path: location_text(loc), reason })
}

/// Renders a concrete location as JSONPath text, e.g. `$.image.tag`, `$.env[0]["app.kubernetes.io/name"]`.
pub fn location_text(loc: &[PathStep]) -> String {
    let mut out = String::from("$");
    for step in loc {
        out.push_str(&step.to_string());
    }
    out
}

/// Copies, for each path, every value matched in `source` into the same concrete location of
/// `target`, creating missing map keys (SPEC §2.4: a promoted value replaces the target's value
/// whole). Paths apply in order.
///
/// A definite path must exist in `source` ([`SetError::NotInSource`] otherwise). A wildcard or
/// recursive path takes its locations from the source's matches (none is fine); each must be
/// writable in `target` (list items are never created).
///
/// Returns the locations written, in order, reduced to the outermost ones: a location inside
/// another written location (or repeated) is left out, so the returned locations are disjoint
/// subtrees and writing `get_at(source, loc)` at each, in order, reproduces the result. On error
/// `target` is unchanged.
pub fn promote(source: &Value, target: &mut Value, paths: &[JsonPath]) -> Result<Vec<Vec<PathStep>>, SetError> {
    let mut work = target.clone();
    let mut written = Vec::new();
    for path in paths {
        let locs = match path.definite_location() {
            Some(loc) => {
                if get_at(source, &loc).is_none() {
                    return Err(SetError::NotInSource { path: path.text.clone() });
                }
                vec![loc]
            }
            None => outermost(path.locate(source)),
        };
        for loc in locs {
            if let Some(value) = get_at(source, &loc) {
                write(&mut work, &loc, &loc, value.clone()).map_err(|reason| path.cannot_write(reason))?;
                written.push(loc);
            }
        }
    }
    *target = work;
    Ok(outermost(written))
}

/// A character allowed in a `.name` key.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Writes a key as `.name` when it is a plain name, else as `["quoted"]`.
fn fmt_key(f: &mut fmt::Formatter<'_>, dot: &str, key: &str) -> fmt::Result {
    if !key.is_empty() && key.chars().all(is_name_char) {
        write!(f, "{dot}{key}")
    } else {
        let quoted = key.replace('\\', "\\\\").replace('"', "\\\"");
        let dot = if dot == "." { "" } else { dot };
        write!(f, "{dot}[\"{quoted}\"]")
    }
}

impl fmt::Display for PathStep {
    /// `.name`, `["other key"]` or `[N]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathStep::Key(k) => fmt_key(f, ".", k),
            PathStep::Index(i) => write!(f, "[{i}]"),
        }
    }
}

impl fmt::Display for Segment {
    /// The canonical text of the segment: `.name`, `["other key"]`, `[N]`, `.*`, `..name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(k) => fmt_key(f, ".", k),
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::Wildcard => f.write_str(".*"),
            Segment::Descendant(k) => fmt_key(f, "..", k),
        }
    }
}

struct Parser<'t> {
    text: &'t str,
    chars: Vec<char>,
    pos: usize,
}

const EXPECT_IN_BRACKETS: &str = r#"expected a quoted key (["name"]), an index ([0]) or "*" after "[""#;

impl Parser<'_> {
    fn err<T>(&self, position: usize, reason: impl Into<String>) -> Result<T, JsonPathError> {
        Err(JsonPathError { path: self.text.to_owned(), position, reason: reason.into() })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn path(mut self) -> Result<Vec<Segment>, JsonPathError> {
        match self.peek() {
            None => return self.err(0, r#"empty path; a JSONPath starts with "$", e.g. "$.image.tag""#),
            Some('$') => self.pos = 1,
            Some(_) => return self.err(0, r#"expected "$" at the start, e.g. "$.image.tag""#),
        }
        let mut segments = Vec::new();
        let mut after_name = false;
        while let Some(c) = self.peek() {
            let segment = match c {
                '.' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('.') => {
                            self.pos += 1;
                            self.descendant()?
                        }
                        Some('*') => {
                            self.pos += 1;
                            Segment::Wildcard
                        }
                        Some(c) if is_name_char(c) => Segment::Key(self.name()),
                        _ => return self.err(self.pos, r#"expected a key name, "*" or "." after ".""#),
                    }
                }
                '[' => self.bracket()?,
                _ => {
                    let hint = if after_name {
                        r#" (a key with characters other than letters, digits, "_" and "-" is written ["key"])"#
                    } else {
                        ""
                    };
                    return self.err(self.pos, format!(r#"unexpected character {c:?}; expected "." or "["{hint}"#));
                }
            };
            after_name = matches!(segment, Segment::Key(_) | Segment::Descendant(_))
                && self.chars.get(self.pos - 1).is_some_and(|c| is_name_char(*c));
            segments.push(segment);
        }
        Ok(segments)
    }

    /// A run of name characters (at least one, checked by the caller).
    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// After `..`.
    fn descendant(&mut self) -> Result<Segment, JsonPathError> {
        match self.peek() {
            Some(c) if is_name_char(c) => Ok(Segment::Descendant(self.name())),
            Some('*') => self.err(self.pos, r#"recursive wildcard "..*" is not supported; use "..key""#),
            Some('[') => match self.chars.get(self.pos + 1) {
                Some('"' | '\'') => {
                    self.pos += 1;
                    Ok(Segment::Descendant(self.quoted_key()?))
                }
                _ => self.err(
                    self.pos,
                    r#"recursive descent takes a key: "..key" or ..["key"] (no index, wildcard or filter)"#,
                ),
            },
            _ => self.err(self.pos, r#"expected a key name after ".." (recursive descent)"#),
        }
    }

    /// At `[`.
    fn bracket(&mut self) -> Result<Segment, JsonPathError> {
        self.pos += 1;
        match self.peek() {
            Some('"' | '\'') => Ok(Segment::Key(self.quoted_key()?)),
            Some('*') => {
                self.pos += 1;
                self.close()?;
                Ok(Segment::Wildcard)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                let mut n: usize = 0;
                while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
                    n = match n.checked_mul(10).and_then(|n| n.checked_add(d as usize)) {
                        Some(n) => n,
                        None => return self.err(start, "index is too large"),
                    };
                    self.pos += 1;
                }
                self.close()?;
                Ok(Segment::Index(n))
            }
            Some('-') => self.err(self.pos, "negative indices are not supported"),
            Some('?') => self.err(self.pos - 1, r#"filters ("[?(...)]") are not supported"#),
            Some('(') => self.err(self.pos - 1, r#"script expressions ("[(...)]") are not supported"#),
            Some(':') => self.err(self.pos, r#"slices ("[start:end]") are not supported"#),
            Some(']') => self.err(self.pos, format!("empty brackets; {EXPECT_IN_BRACKETS}")),
            None => self.err(self.pos, format!("unclosed \"[\"; {EXPECT_IN_BRACKETS}")),
            Some(c) if is_name_char(c) => {
                self.err(self.pos, format!(r#"{EXPECT_IN_BRACKETS}; keys in brackets must be quoted"#))
            }
            Some(_) => self.err(self.pos, EXPECT_IN_BRACKETS),
        }
    }

    /// At an opening quote inside brackets; consumes up to and including `]`.
    fn quoted_key(&mut self) -> Result<String, JsonPathError> {
        let open = self.pos;
        let quote = self.chars[open];
        self.pos += 1;
        let mut key = String::new();
        loop {
            match self.peek() {
                None => return self.err(open, format!("unterminated quoted key; expected a closing {quote}")),
                Some('\\') => match self.chars.get(self.pos + 1) {
                    Some(&c @ ('"' | '\'' | '\\')) => {
                        key.push(c);
                        self.pos += 2;
                    }
                    None => return self.err(open, format!("unterminated quoted key; expected a closing {quote}")),
                    Some(c) => {
                        return self.err(
                            self.pos,
                            format!(r#"unknown escape "\{c}"; only \", \' and \\ are supported in quoted keys"#),
                        );
                    }
                },
                Some(c) if c == quote => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    key.push(c);
                    self.pos += 1;
                }
            }
        }
        if key.is_empty() {
            return self.err(open, "empty key");
        }
        self.close()?;
        Ok(key)
    }

    /// Expects `]`.
    fn close(&mut self) -> Result<(), JsonPathError> {
        match self.peek() {
            Some(']') => {
                self.pos += 1;
                Ok(())
            }
            Some(',') => self.err(self.pos, r#"unions ("[a,b]") are not supported; use one path per key"#),
            Some(':') => self.err(self.pos, r#"slices ("[start:end]") are not supported"#),
            Some(c) => self.err(self.pos, format!(r#"expected "]", found {c:?}"#)),
            None => self.err(self.pos, r#"expected "]""#),
        }
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for JsonPath {
    type Error = JsonPathError;
    fn try_from(value: String) -> Result<Self, JsonPathError> {
        JsonPath::parse(&value)
    }
}

impl From<JsonPath> for String {
    fn from(value: JsonPath) -> String {
        value.text
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Builds a value from a tiny flow syntax: `{a: 1, "b c": [x, 'y']}`. Quoted scalars are
    /// strings (with `\"`, `\'`, `\\` escapes); plain scalars resolve by the YAML core schema.
    fn v(text: &str) -> Value {
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let value = flow(&chars, &mut pos);
        skip_ws(&chars, &mut pos);
        assert_eq!(pos, chars.len(), "trailing text in {text:?}");
        value
    }

    fn skip_ws(c: &[char], pos: &mut usize) {
        while c.get(*pos).is_some_and(|c| c.is_whitespace()) {
            *pos += 1;
        }
    }

    fn flow(c: &[char], pos: &mut usize) -> Value {
        skip_ws(c, pos);
        match c.get(*pos) {
            Some('{') => {
                *pos += 1;
                let mut entries = Vec::new();
                loop {
                    skip_ws(c, pos);
                    if c[*pos] == '}' {
                        *pos += 1;
                        break Value::Map(entries);
                    }
                    let key = scalar(c, pos, &[':']);
                    let key = key.scalar_text().expect("scalar key");
                    assert_eq!(c[*pos], ':', "expected ':' at {pos}");
                    *pos += 1;
                    entries.push((key, flow(c, pos)));
                    skip_ws(c, pos);
                    if c[*pos] == ',' {
                        *pos += 1;
                    }
                }
            }
            Some('[') => {
                *pos += 1;
                let mut items = Vec::new();
                loop {
                    skip_ws(c, pos);
                    if c[*pos] == ']' {
                        *pos += 1;
                        break Value::Seq(items);
                    }
                    items.push(flow(c, pos));
                    skip_ws(c, pos);
                    if c[*pos] == ',' {
                        *pos += 1;
                    }
                }
            }
            _ => scalar(c, pos, &[',', '}', ']']),
        }
    }

    fn scalar(c: &[char], pos: &mut usize, stops: &[char]) -> Value {
        skip_ws(c, pos);
        if let Some(&q @ ('"' | '\'')) = c.get(*pos) {
            *pos += 1;
            let mut s = String::new();
            while c[*pos] != q {
                if c[*pos] == '\\' {
                    *pos += 1;
                }
                s.push(c[*pos]);
                *pos += 1;
            }
            *pos += 1;
            skip_ws(c, pos);
            return Value::String(s);
        }
        let start = *pos;
        while c.get(*pos).is_some_and(|ch| !stops.contains(ch)) {
            *pos += 1;
        }
        let text: String = c[start..*pos].iter().collect();
        Value::from_plain_scalar(text.trim())
    }

    fn p(text: &str) -> JsonPath {
        JsonPath::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Evaluates `path` on `doc` and compares the matches, as `(location, value)` pairs, in order.
    /// Also checks that `locate` agrees with `eval` and that `get_at` resolves each location.
    #[track_caller]
    fn check(path: &str, doc: &str, expect: &[(&str, &str)]) {
        let path = p(path);
        let doc = v(doc);
        let values = path.eval(&doc);
        let locs = path.locate(&doc);
        assert_eq!(values.len(), locs.len(), "{path}");
        let got: Vec<(String, Value)> = locs
            .iter()
            .zip(&values)
            .map(|(loc, value)| {
                assert_eq!(get_at(&doc, loc), Some(*value), "{path}: get_at {}", location_text(loc));
                (location_text(loc), (*value).clone())
            })
            .collect();
        let expect: Vec<(String, Value)> = expect.iter().map(|(l, x)| (l.to_string(), v(x))).collect();
        assert_eq!(got, expect, "{path}");
        assert_eq!(path.is_definite(), path.definite_location().is_some());
    }

    const HELM: &str = r#"{
        image: {repository: nginx, tag: "1.25"},
        sidecar: {image: {repository: envoy, tag: v1}, resources: {limits: {cpu: 100m}}},
        jobs: [{name: migrate, image: {tag: m1}}, {name: seed, image: {tag: s1, image: inner}}],
        resources: {requests: {memory: 64Mi}},
        "app.kubernetes.io/name": shop,
        with-dash: 1,
        'it\'s': apostrophe,
        'say "hi"': quotes,
        'back\\slash': backslash,
        0: zero-key,
    }"#;

    #[test]
    fn root_keys_and_brackets() {
        check("$", "{a: 1}", &[("$", "{a: 1}")]);
        check("  $  ", "[1]", &[("$", "[1]")]);
        check("$.image.tag", HELM, &[("$.image.tag", "'1.25'")]);
        check("$.image", HELM, &[("$.image", "{repository: nginx, tag: '1.25'}")]);
        check(r#"$["image"]['tag']"#, HELM, &[("$.image.tag", "'1.25'")]);
        check("$.with-dash", HELM, &[("$.with-dash", "1")]);
        check(r#"$["with-dash"]"#, HELM, &[("$.with-dash", "1")]);
        check(r#"$["app.kubernetes.io/name"]"#, HELM, &[(r#"$["app.kubernetes.io/name"]"#, "shop")]);
        check(r"$['it\'s']", HELM, &[(r#"$["it's"]"#, "apostrophe")]);
        check(r#"$["it's"]"#, HELM, &[(r#"$["it's"]"#, "apostrophe")]);
        check(r#"$["say \"hi\""]"#, HELM, &[(r#"$["say \"hi\""]"#, "quotes")]);
        check(r#"$['say "hi"']"#, HELM, &[(r#"$["say \"hi\""]"#, "quotes")]);
        check(r"$['back\\slash']", HELM, &[(r#"$["back\\slash"]"#, "backslash")]);
        check("$.0", HELM, &[("$.0", "zero-key")]);
        check("$.missing", HELM, &[]);
        check("$.image.tag.deeper", HELM, &[]);
        check("$.jobs.name", HELM, &[]);
        check("$.café", "{café: 1}", &[("$.café", "1")]);
    }

    #[test]
    fn indices() {
        check("$.jobs[1].name", HELM, &[("$.jobs[1].name", "seed")]);
        check("$.jobs[0]", HELM, &[("$.jobs[0]", "{name: migrate, image: {tag: m1}}")]);
        check("$.jobs[2]", HELM, &[]);
        check("$.image[0]", HELM, &[]);
        check("$[1][0]", "[a, [b, c]]", &[("$[1][0]", "b")]);
        check("$[007]", "[0, 1, 2, 3, 4, 5, 6, 7]", &[("$[7]", "7")]);
    }

    #[test]
    fn wildcards() {
        check("$.image.*", HELM, &[("$.image.repository", "nginx"), ("$.image.tag", "'1.25'")]);
        check("$.image[*]", HELM, &[("$.image.repository", "nginx"), ("$.image.tag", "'1.25'")]);
        check("$.jobs[*].name", HELM, &[("$.jobs[0].name", "migrate"), ("$.jobs[1].name", "seed")]);
        check("$.jobs.*.image.tag", HELM, &[("$.jobs[0].image.tag", "m1"), ("$.jobs[1].image.tag", "s1")]);
        check("$.*", "{b: 1, a: [2], c: {}}", &[("$.b", "1"), ("$.a", "[2]"), ("$.c", "{}")]);
        check("$.*.*", "{b: 1, a: [2, 3], c: {d: 4}}", &[("$.a[0]", "2"), ("$.a[1]", "3"), ("$.c.d", "4")]);
        check("$.image.tag.*", HELM, &[]);
        check("$.*", "[]", &[]);
    }

    #[test]
    fn recursive_descent() {
        check(
            "$..image",
            HELM,
            &[
                ("$.image", "{repository: nginx, tag: '1.25'}"),
                ("$.sidecar.image", "{repository: envoy, tag: v1}"),
                ("$.jobs[0].image", "{tag: m1}"),
                ("$.jobs[1].image", "{tag: s1, image: inner}"),
                ("$.jobs[1].image.image", "inner"),
            ],
        );
        check(
            "$..tag",
            HELM,
            &[
                ("$.image.tag", "'1.25'"),
                ("$.sidecar.image.tag", "v1"),
                ("$.jobs[0].image.tag", "m1"),
                ("$.jobs[1].image.tag", "s1"),
            ],
        );
        check(
            "$..resources",
            HELM,
            &[("$.sidecar.resources", "{limits: {cpu: 100m}}"), ("$.resources", "{requests: {memory: 64Mi}}")],
        );
        check("$.sidecar..cpu", HELM, &[("$.sidecar.resources.limits.cpu", "100m")]);
        check(
            "$..image.tag",
            HELM,
            &[
                ("$.image.tag", "'1.25'"),
                ("$.sidecar.image.tag", "v1"),
                ("$.jobs[0].image.tag", "m1"),
                ("$.jobs[1].image.tag", "s1"),
            ],
        );
        check(r#"$..["app.kubernetes.io/name"]"#, HELM, &[(r#"$["app.kubernetes.io/name"]"#, "shop")]);
        check("$..x", "[{x: 1}, [{x: 2}], {y: {x: 3}}]", &[("$[0].x", "1"), ("$[1][0].x", "2"), ("$[2].y.x", "3")]);
        check("$..x", "5", &[]);
        // A match inside a match: document order, no duplicates.
        check("$..a..b", "{a: {a: {b: 1}, b: 2}}", &[("$.a.a.b", "1"), ("$.a.b", "2")]);
        check("$..a.*", "{a: {a: {b: 1}, b: 2}}", &[("$.a.a", "{b: 1}"), ("$.a.a.b", "1"), ("$.a.b", "2")]);
        check("$..a", "{x: {a: 1}, a: 2}", &[("$.x.a", "1"), ("$.a", "2")]);
    }

    #[test]
    fn repeated_map_keys_read_the_first_entry() {
        check("$.a", "{a: 1, a: 2}", &[("$.a", "1")]);
        check("$.*", "{a: 1, b: 3, a: 2}", &[("$.a", "1"), ("$.b", "3")]);
        check("$..a", "{a: 1, a: 2}", &[("$.a", "1")]);
    }

    #[test]
    fn parsed_segments() {
        use Segment::*;
        let key = |k: &str| Key(k.to_owned());
        let cases: &[(&str, Vec<Segment>)] = &[
            ("$", vec![]),
            ("$.a.b-c._d", vec![key("a"), key("b-c"), key("_d")]),
            (r#"$["a.b"][0][*].*"#, vec![key("a.b"), Index(0), Wildcard, Wildcard]),
            ("$..a..['b c']", vec![Descendant("a".into()), Descendant("b c".into())]),
            (r#"$['\'\"\\']"#, vec![key("'\"\\")]),
            ("$.0a", vec![key("0a")]),
        ];
        for (text, segments) in cases {
            assert_eq!(p(text).segments(), segments.as_slice(), "{text}");
        }
        assert_eq!(p("  $.a ").to_string(), "$.a");
        assert_eq!(p("$.a").as_str(), "$.a");
        assert!(p("$.a[0]").is_definite());
        assert!(p("$").is_definite());
        assert!(!p("$.a.*").is_definite());
        assert!(!p("$..a").is_definite());
        assert_eq!(p("$.a[2]").definite_location(), Some(vec![PathStep::Key("a".into()), PathStep::Index(2)]));
    }

    #[test]
    fn invalid_paths() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "empty path"),
            ("   ", 0, "empty path"),
            ("image.tag", 0, r#"expected "$" at the start"#),
            ("$.", 2, r#"expected a key name, "*" or "." after ".""#),
            ("$.image.", 8, r#"expected a key name, "*" or "." after ".""#),
            ("$.a b", 3, "unexpected character ' '"),
            ("$ .a", 1, "unexpected character ' '"),
            ("$.a:b", 3, r#"is written ["key"]"#),
            ("$.é b", 3, "unexpected character ' '"),
            ("$a", 1, r#"unexpected character 'a'; expected "." or "[""#),
            ("$$", 1, "unexpected character '$'"),
            ("$.*a", 3, "unexpected character 'a'"),
            ("$[?(@.a)]", 1, r#"filters ("[?(...)]") are not supported"#),
            ("$.a[?(@.b == 1)]", 3, "filters"),
            ("$[(@.length-1)]", 1, "script expressions"),
            ("$[1:2]", 3, "slices"),
            ("$[:2]", 2, "slices"),
            ("$[-1]", 2, "negative indices are not supported"),
            ("$['a','b']", 5, "unions"),
            ("$[0,1]", 3, "unions"),
            ("$[]", 2, "empty brackets"),
            ("$[", 2, r#"unclosed "[""#),
            ("$[0", 3, r#"expected "]""#),
            ("$[*", 3, r#"expected "]""#),
            ("$['a'", 5, r#"expected "]""#),
            ("$['a'x]", 5, r#"expected "]", found 'x'"#),
            ("$['a", 2, "unterminated quoted key; expected a closing '"),
            ("$[\"a\\", 2, "unterminated quoted key"),
            ("$[\"\"]", 2, "empty key"),
            ("$['\\n']", 3, r#"unknown escape "\n""#),
            ("$[abc]", 2, "keys in brackets must be quoted"),
            ("$[ 0]", 2, "expected a quoted key"),
            ("$[99999999999999999999999]", 2, "index is too large"),
            ("$..*", 3, r#"recursive wildcard "..*" is not supported"#),
            ("$..[*]", 3, "recursive descent takes a key"),
            ("$..[0]", 3, "recursive descent takes a key"),
            ("$..", 3, r#"expected a key name after "..""#),
            ("$...a", 3, r#"expected a key name after "..""#),
        ];
        for (text, position, reason) in cases {
            let err = JsonPath::parse(text).expect_err(text);
            assert_eq!(err.path, text.trim(), "{text}");
            assert!(err.reason.contains(reason), "{text}: {:?} does not contain {reason:?}", err.reason);
            assert_eq!(err.position, *position, "{text}: {}", err.reason);
        }
    }

    #[test]
    fn error_display_and_serde() {
        let err = JsonPath::parse("$.").expect_err("invalid");
        assert_eq!(
            err.to_string(),
            r#"invalid JSONPath "$." at character 2: expected a key name, "*" or "." after ".""#
        );
        let path: JsonPath = serde_json::from_str(r#"" $.image.tag""#).expect("valid");
        assert_eq!(path, p("$.image.tag"));
        assert_eq!(serde_json::to_string(&path).expect("serialize"), r#""$.image.tag""#);
        let err = serde_json::from_str::<JsonPath>(r#""$[-1]""#).expect_err("invalid");
        assert!(err.to_string().contains("negative indices"), "{err}");
    }

    #[track_caller]
    fn check_set(path: &str, doc: &str, new: &str, count: usize, expect: &str) {
        let mut doc = v(doc);
        assert_eq!(p(path).set(&mut doc, &v(new)), Ok(count), "{path}");
        assert_eq!(doc, v(expect), "{path}: got {doc}");
    }

    #[test]
    fn set_replaces_and_creates() {
        check_set("$.image.tag", "{image: {tag: '1.0', repo: x}}", "'2.0'", 1, "{image: {tag: '2.0', repo: x}}");
        check_set("$.image", "{image: {tag: a, repo: x}, z: 1}", "{tag: b}", 1, "{image: {tag: b}, z: 1}");
        check_set("$.image", "{image: {tag: a}}", "[1, 2]", 1, "{image: [1, 2]}");
        check_set("$.image.tag", "{a: 1}", "v1", 1, "{a: 1, image: {tag: v1}}");
        check_set("$.image.tag", "{image: {repo: x}, z: 1}", "v1", 1, "{image: {repo: x, tag: v1}, z: 1}");
        check_set("$.image.tag", "{image: ~}", "v1", 1, "{image: {tag: v1}}");
        check_set("$.a.b", "~", "1", 1, "{a: {b: 1}}");
        check_set("$", "{a: 1}", "{b: 2}", 1, "{b: 2}");
        check_set("$.l[1]", "{l: [1, 2]}", "9", 1, "{l: [1, 9]}");
        check_set("$.l[0].tag", "{l: [{name: a}]}", "t", 1, "{l: [{name: a, tag: t}]}");
        check_set(r#"$["a.b"]"#, "{}", "1", 1, r#"{"a.b": 1}"#);
        check_set("$.*", "{a: 1, b: 2}", "0", 2, "{a: 0, b: 0}");
        check_set("$.l[*]", "{l: [1, 2, 3]}", "0", 3, "{l: [0, 0, 0]}");
        check_set("$..image", "{image: {image: x}, b: {image: y}}", "z", 2, "{image: z, b: {image: z}}");
        check_set("$..image", "{a: 1}", "z", 0, "{a: 1}");
        check_set("$.*", "{}", "z", 0, "{}");
    }

    #[test]
    fn set_errors_leave_the_document_unchanged() {
        let cases: &[(&str, &str, &str)] = &[
            ("$.image.tag", "{image: nginx}", r#"$.image.tag: cannot create key "tag" inside a string (at $.image)"#),
            ("$.a.b.c", "{a: {b: 3}}", r#"$.a.b.c: cannot create key "c" inside an integer (at $.a.b)"#),
            ("$.a", "[1]", r#"$.a: cannot create key "a" inside a list (at $)"#),
            ("$.l[5]", "{l: [1, 2]}", "$.l[5]: index 5 is out of range at $.l: the list has 2 items"),
            ("$.l[1]", "{l: [1]}", "the list has 1 item (list items are never created)"),
            ("$.l[0]", "{}", r#"$.l[0]: key "l" is missing at $ and cannot be created"#),
            ("$.a.b[0]", "{a: ~}", r#"key "b" is missing at $.a"#),
            ("$.a[0].b", "{a: {x: 1}}", "$.a[0].b: cannot take index [0] of a map (at $.a): expected a list"),
            ("$[0]", "{}", "cannot take index [0] of a map (at $)"),
        ];
        for (path, doc, message) in cases {
            let mut value = v(doc);
            let err = p(path).set(&mut value, &v("new")).expect_err(path);
            assert!(matches!(err, SetError::CannotWrite { .. }), "{path}");
            assert!(err.to_string().contains(message), "{path}: {err} does not contain {message:?}");
            assert_eq!(value, v(doc), "{path}");
        }
    }

    #[track_caller]
    fn check_promote(source: &str, target: &str, paths: &[&str], written: &[&str], expect: &str) {
        let source = v(source);
        let mut target = v(target);
        let paths: Vec<JsonPath> = paths.iter().map(|t| p(t)).collect();
        let locs = promote(&source, &mut target, &paths).unwrap_or_else(|e| panic!("{e}"));
        let locs: Vec<String> = locs.iter().map(|l| location_text(l)).collect();
        assert_eq!(locs, written);
        assert_eq!(target, v(expect), "got {target}");
    }

    const SOURCE: &str = "{image: {repository: r, tag: v2}, replicas: 3, resources: {cpu: 2}, \
                          worker: {resources: {cpu: 1}, image: {tag: w2}}}";

    #[test]
    fn promote_copies_values() {
        check_promote(
            SOURCE,
            "{image: {repository: old, tag: v1}, replicas: 1, env: prod}",
            &["$.image.tag"],
            &["$.image.tag"],
            "{image: {repository: old, tag: v2}, replicas: 1, env: prod}",
        );
        check_promote(
            SOURCE,
            "{image: {repository: old, tag: v1, pull: Always}, env: prod}",
            &["$.image"],
            &["$.image"],
            "{image: {repository: r, tag: v2}, env: prod}",
        );
        check_promote(SOURCE, "{env: prod}", &["$.image.tag"], &["$.image.tag"], "{env: prod, image: {tag: v2}}");
        check_promote(
            SOURCE,
            "{resources: {cpu: 9, memory: 1Gi}, worker: {replicas: 2}}",
            &["$..resources"],
            &["$.resources", "$.worker.resources"],
            "{resources: {cpu: 2}, worker: {replicas: 2, resources: {cpu: 1}}}",
        );
        check_promote(
            SOURCE,
            "{image: {tag: v1}, worker: {image: {tag: w1}}}",
            &["$..tag", "$.replicas"],
            &["$.image.tag", "$.worker.image.tag", "$.replicas"],
            "{image: {tag: v2}, worker: {image: {tag: w2}}, replicas: 3}",
        );
        // Overlapping locations reduce to the outermost ones.
        check_promote(
            SOURCE,
            "{image: {tag: v1, extra: x}}",
            &["$.image.tag", "$.image", "$.image.tag"],
            &["$.image"],
            "{image: {repository: r, tag: v2}}",
        );
        check_promote("{image: {image: {tag: a}}}", "{}", &["$..image"], &["$.image"], "{image: {image: {tag: a}}}");
        check_promote(SOURCE, "{a: 1}", &["$..nothing", "$.nothing.*"], &[], "{a: 1}");
        check_promote("{a: 1}", "{b: 2}", &["$"], &["$"], "{a: 1}");
        check_promote("{l: [a, b]}", "{l: [x, y, z]}", &["$.l[*]"], &["$.l[0]", "$.l[1]"], "{l: [a, b, z]}");
        check_promote("{l: [a, b]}", "{l: [x, y, z]}", &["$.l"], &["$.l"], "{l: [a, b]}");
    }

    #[test]
    fn promote_errors_leave_the_target_unchanged() {
        let cases: &[(&str, &str, &[&str], &str)] = &[
            (
                SOURCE,
                "{image: {tag: v1}}",
                &["$.image.tag", "$.image.digest"],
                "$.image.digest: not found in the source file",
            ),
            (
                "{jobs: [{tag: a}, {tag: b}]}",
                "{jobs: [{tag: x}]}",
                &["$.jobs[*].tag"],
                "$.jobs[*].tag: index 1 is out of range at $.jobs",
            ),
            (SOURCE, "{image: nginx}", &["$.replicas", "$.image.tag"], r#"cannot create key "tag" inside a string"#),
        ];
        for (source, target, paths, message) in cases {
            let paths: Vec<JsonPath> = paths.iter().map(|t| p(t)).collect();
            let mut value = v(target);
            let err = promote(&v(source), &mut value, &paths).expect_err(message);
            assert!(err.to_string().contains(message), "{err} does not contain {message:?}");
            assert_eq!(value, v(target));
        }
    }

    #[test]
    fn set_at_and_location_text() {
        let mut doc = v("{a: [1]}");
        set_at(&mut doc, &[PathStep::Key("b".into()), PathStep::Key("c d".into())], v("2")).expect("writable");
        assert_eq!(doc, v(r#"{a: [1], b: {"c d": 2}}"#));
        let err = set_at(&mut doc, &[PathStep::Key("a".into()), PathStep::Index(3)], v("2")).expect_err("out of range");
        assert_eq!(
            err.to_string(),
            "$.a[3]: index 3 is out of range at $.a: the list has 1 item (list items are never created)"
        );
        assert_eq!(location_text(&[]), "$");
        assert_eq!(location_text(&[PathStep::Key(String::new()), PathStep::Key("x\"y".into())]), r#"$[""]["x\"y"]"#);
        assert_eq!(get_at(&doc, &[PathStep::Key("a".into()), PathStep::Key("x".into())]), None);
    }

    fn render(segments: &[Segment]) -> String {
        let mut text = String::from("$");
        for s in segments {
            text.push_str(&s.to_string());
        }
        text
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z_][a-z0-9_-]{0,6}", "[a-zA-Z0-9 ._\\-\"'\\\\\\[\\]*$é]{1,8}"]
    }

    fn segment() -> impl Strategy<Value = Segment> {
        prop_oneof![
            key().prop_map(Segment::Key),
            (0usize..10_000).prop_map(Segment::Index),
            Just(Segment::Wildcard),
            key().prop_map(Segment::Descendant),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![Just(Value::Null), (0i64..5).prop_map(Value::Int), "[ab]".prop_map(Value::String)];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
                prop::collection::vec(("[abc]", inner), 0..4).prop_map(Value::Map),
            ]
        })
    }

    fn small_path() -> impl Strategy<Value = JsonPath> {
        let seg = prop_oneof![
            "[abc]".prop_map(Segment::Key),
            (0usize..3).prop_map(Segment::Index),
            Just(Segment::Wildcard),
            "[abc]".prop_map(Segment::Descendant),
        ];
        prop::collection::vec(seg, 0..4).prop_map(|s| p(&render(&s)))
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in any::<String>()) {
            let _ = JsonPath::parse(&text);
        }

        #[test]
        fn parsing_path_like_text_never_panics(text in "\\$[$.\\[\\]*'\"a-z0-9?:,\\\\ (@)-]{0,24}") {
            match JsonPath::parse(&text) {
                Ok(path) => {
                    let again = p(&render(path.segments()));
                    prop_assert_eq!(again.segments(), path.segments());
                }
                Err(e) => prop_assert!(e.position <= e.path.chars().count()),
            }
        }

        #[test]
        fn generated_paths_round_trip(segments in prop::collection::vec(segment(), 0..6)) {
            let path = p(&render(&segments));
            prop_assert_eq!(path.segments(), segments.as_slice());
            prop_assert_eq!(JsonPath::parse(&path.to_string()), Ok(path.clone()));
        }

        #[test]
        fn locations_resolve_to_the_matches(doc in value(), path in small_path()) {
            let values = path.eval(&doc);
            let locs = path.locate(&doc);
            prop_assert_eq!(values.len(), locs.len());
            for (loc, value) in locs.iter().zip(&values) {
                prop_assert_eq!(get_at(&doc, loc), Some(*value));
            }
            let mut unique = locs.clone();
            unique.dedup();
            prop_assert_eq!(unique.len(), locs.len());
            // Promoting a document onto itself changes nothing.
            let mut copy = doc.clone();
            prop_assert!(promote(&doc, &mut copy, std::slice::from_ref(&path)).is_ok() || path.is_definite());
            prop_assert_eq!(copy, doc);
        }
    }
}
