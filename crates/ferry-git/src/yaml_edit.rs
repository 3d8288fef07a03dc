//! Byte-preserving YAML value edits (SPEC §2.4: "the rest of the target file keeps its bytes").
//!
//! [`promote_yaml`] copies the values found at JSONPaths in a source file into a target file by splicing
//! the target's text: only the bytes of the edited values change. Comments, blank lines, key order,
//! quoting, anchors, document markers and CRLF line endings elsewhere are kept.
//!
//! Decisions:
//! * **Multi-document files** are paired by position: each path is evaluated on every source document,
//!   and a value found in source document *n* is written into target document *n*. A path must match in
//!   at least one source document. Documents that no path matches keep their bytes.
//! * **Scalars** are replaced in place. A string keeps the target's quoting style when the new text is
//!   representable in it (plain only when it would read back as the same string, also under YAML 1.1
//!   rules, so `"1.10"`, `"true"` or `"yes"` never lose their quotes); otherwise it is double-quoted.
//!   Numbers, booleans and nulls are written plain, with the source's own spelling (`1.50` stays `1.50`).
//!   Multi-line strings become literal blocks (`|`) in block context when the source or the target used
//!   a block scalar, and double-quoted with escapes otherwise.
//! * **Maps and lists** replace the target's value whole and are rendered as block YAML at the node's
//!   indentation (two spaces per level), or in flow style (`{a: 1}`) where the target used flow style.
//!   Comments inside a replaced map or list are not kept (they belong to the old value).
//! * **Missing keys** are appended at the end of their parent map (intermediate maps are created); a
//!   missing list element can only be appended (index = length).
//! * Anchors and tags of an edited node are kept; core-schema tags (`!!str`, `!!int`, ...) are dropped
//!   because they would change how the new value reads. Editing *through* an alias is refused.
//! * A value already equal to the source's is left alone; [`Edit::changed`] lists what was written.

use std::collections::HashMap;
use std::fmt;

use ferry_model::Value;
use ferry_model::jsonpath::{JsonPath, PathStep, SetError, get_at, location_text};
use saphyr_parser::{Event, Parser, ScalarStyle};

/// Indentation added per nesting level when rendering new block collections.
const STEP: usize = 2;

/// The result of [`promote_yaml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new target text (equal to the input when nothing changed).
    pub text: String,
    /// The located paths whose value was written (e.g. `$.image.tag`), in the order they were applied.
    /// Paths in documents after the first carry a ` (document N)` suffix. Empty = nothing changed.
    pub changed: Vec<String>,
}

/// Which of the two files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The file values are read from.
    Source,
    /// The file values are written into.
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Why a promotion edit could not be made. The caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlEditError {
    /// One of the files is not valid YAML.
    #[error("the {side} file is not valid YAML (line {line}, column {column}): {message}; fix the file and retry")]
    Parse {
        /// Which file.
        side: Side,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A path matches nothing in the source file.
    #[error(
        "JSONPath {path} matches nothing in the source file; add the value to the source environment's file \
         or fix the promotion template's jsonPaths"
    )]
    PathNotFound {
        /// The path as written in the template.
        path: String,
    },
    /// A located value cannot be written into the target file.
    #[error("cannot write {location} into the target file: {reason}")]
    Unwritable {
        /// The located path.
        location: String,
        /// Why, and what to change.
        reason: String,
    },
}

// ------------------------------------------------------------------------------------------------
// Parsed representation with byte spans
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Node {
    /// First byte of the node, properties (anchor, tag) included.
    start: usize,
    /// End of the properties that a replacement keeps (anchor, non-core tag); `None` when nothing is kept.
    keep_props_end: Option<usize>,
    /// Exclusive end byte of the node's content.
    end: usize,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Scalar {
        value: String,
        style: ScalarStyle,
        /// Core-schema tag suffix (`str`, `int`, ...) or a non-core tag's text.
        tag: Option<ScalarTag>,
        /// Plain scalar with no text (`key:`): its span is unreliable.
        empty: bool,
    },
    Seq {
        items: Vec<Node>,
        /// Byte position of each item's `-` (block sequences).
        dashes: Vec<Option<usize>>,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
    Alias(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ScalarTag {
    Core(String),
    Other,
}

#[derive(Debug)]
struct Doc {
    root: Option<Node>,
    /// Where content can be appended to the document (before `...`/`---` of the next one).
    end: usize,
}

#[derive(Debug)]
struct Parsed {
    docs: Vec<Doc>,
    anchors: HashMap<usize, Node>,
    has_alias: bool,
}

fn parse(text: &str, side: Side) -> Result<Parsed, YamlEditError> {
    let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
    let byte = |index: usize| offsets.get(index).copied().unwrap_or(text.len());
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        match item {
            Ok((event, span)) => events.push((event, byte(span.start.index()), byte(span.end.index()))),
            Err(err) => {
                return Err(YamlEditError::Parse {
                    side,
                    line: err.marker().line(),
                    column: err.marker().col() + 1,
                    message: err.info().to_owned(),
                });
            }
        }
    }
    let mut builder = Builder { text, events, pos: 0, anchors: HashMap::new() };
    let docs = builder.stream().map_err(|message| YamlEditError::Parse { side, line: 1, column: 1, message })?;
    let has_alias = builder.events.iter().any(|(e, _, _)| matches!(e, Event::Alias(_)));
    Ok(Parsed { docs, anchors: builder.anchors, has_alias })
}

struct Builder<'t> {
    text: &'t str,
    events: Vec<(Event<'t>, usize, usize)>,
    pos: usize,
    anchors: HashMap<usize, Node>,
}

impl<'t> Builder<'t> {
    fn next(&mut self) -> Result<(Event<'t>, usize, usize), String> {
        let item = self.events.get(self.pos).cloned().ok_or_else(|| "unexpected end of YAML events".to_owned())?;
        self.pos += 1;
        Ok(item)
    }

    fn peek(&self) -> Option<&Event<'t>> {
        self.events.get(self.pos).map(|(e, _, _)| e)
    }

    fn stream(&mut self) -> Result<Vec<Doc>, String> {
        let mut docs = Vec::new();
        loop {
            let (event, _, _) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(_) => {
                    let root = match self.peek() {
                        Some(Event::DocumentEnd) => None,
                        _ => Some(self.node()?),
                    };
                    let (end_event, end_start, _) = self.next()?;
                    if !matches!(end_event, Event::DocumentEnd) {
                        return Err(format!("expected the end of a document, found {end_event:?}"));
                    }
                    docs.push(Doc { root, end: end_start });
                }
                other => return Err(format!("unexpected YAML event {other:?}")),
            }
        }
    }

    fn node(&mut self) -> Result<Node, String> {
        let text = self.text;
        let (event, s, e) = self.next()?;
        let (node, anchor) = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| {
                    if t.handle == "tag:yaml.org,2002:" { ScalarTag::Core(t.suffix.clone()) } else { ScalarTag::Other }
                });
                let empty = value.is_empty() && style == ScalarStyle::Plain && s == e;
                let (start, keep_props_end, end) = if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    // The span starts at the content: the header (`|`, `>`) and properties stay in place.
                    let header = find_block_header(text, s).ok_or("cannot find a block scalar's header")?;
                    (header, None, block_scalar_end(text, s, e))
                } else {
                    let props = properties(text, s, matches!(tag, Some(ScalarTag::Core(_))));
                    // A quoted scalar's span may run over a trailing comment: find its closing quote.
                    let end = match style {
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => quoted_end(text, s, e).unwrap_or(e),
                        _ => e,
                    };
                    (s, props.keep_end, end)
                };
                let kind = Kind::Scalar { value: value.into_owned(), style, tag, empty };
                let node = Node { start, keep_props_end, end, kind };
                (node, anchor)
            }
            Event::Alias(id) => (Node { start: s, keep_props_end: None, end: e, kind: Kind::Alias(id) }, 0),
            Event::SequenceStart(anchor, _) => {
                let props = properties(text, s, false);
                let mut items = Vec::new();
                let (flow, end) = loop {
                    if matches!(self.peek(), Some(Event::SequenceEnd)) {
                        let (_, end_start, end) = self.next()?;
                        // A flow sequence ends with a `]` token (whose span may run over a trailing
                        // comment); a block one with an empty span.
                        let flow = end > end_start;
                        break (flow, if flow { end_start + 1 } else { end });
                    }
                    items.push(self.node()?);
                };
                let dashes: Vec<Option<usize>> =
                    items.iter().map(|item| if flow { None } else { find_dash(text, item.start) }).collect();
                let (start, end) = if flow {
                    (s, end)
                } else {
                    let first_dash = dashes.first().copied().flatten().unwrap_or(s);
                    let start = if props.any { s } else { s.min(first_dash) };
                    (start, items.last().map_or(s, |i| i.end))
                };
                (Node { start, keep_props_end: props.keep_end, end, kind: Kind::Seq { items, dashes, flow } }, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let props = properties(text, s, false);
                let mut entries = Vec::new();
                let (flow, end) = loop {
                    if matches!(self.peek(), Some(Event::MappingEnd)) {
                        let (_, end_start, end) = self.next()?;
                        let flow = end > end_start;
                        break (flow, if flow { end_start + 1 } else { end });
                    }
                    let key = self.node()?;
                    let value = self.node()?;
                    entries.push((key, value));
                };
                let end = if flow { end } else { entries.last().map_or(s, |(k, v)| v.end.max(k.end)) };
                (Node { start: s, keep_props_end: props.keep_end, end, kind: Kind::Map { entries, flow } }, anchor)
            }
            other => return Err(format!("unexpected YAML event {other:?}")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

struct Props {
    any: bool,
    keep_end: Option<usize>,
}

/// Reads the properties (`&anchor`, `!tag`) at `pos`. A core-schema tag is not kept by replacements.
fn properties(text: &str, pos: usize, drop_tag: bool) -> Props {
    let bytes = text.as_bytes();
    let mut i = pos;
    let mut any = false;
    let mut keep_end = None;
    while let Some(&first @ (b'&' | b'!')) = bytes.get(i) {
        let is_tag = first == b'!';
        if text[i..].starts_with("!<") {
            i += text[i..].find('>').map_or(text.len() - i, |p| p + 1);
        } else {
            while i < bytes.len()
                && !matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'{' | b'}')
            {
                i += 1;
            }
        }
        any = true;
        if !(is_tag && drop_tag) {
            keep_end = Some(i);
        }
        // Skip blanks, newlines and comments between properties and content.
        loop {
            match bytes.get(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                Some(b'#') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => break,
            }
        }
    }
    Props { any, keep_end }
}

/// End (after the closing quote) of the quoted scalar whose span is `start..end`.
fn quoted_end(text: &str, start: usize, end: usize) -> Option<usize> {
    let open = start + text[start..end].find(['\'', '"'])?;
    let quote = text.as_bytes()[open];
    let bytes = text.as_bytes();
    let mut i = open + 1;
    while i < end {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Position of the `-` introducing a block-sequence item that starts at `item_start`.
fn find_dash(text: &str, item_start: usize) -> Option<usize> {
    let before = text[..item_start].trim_end_matches([' ', '\t', '\r', '\n']);
    before.ends_with('-').then(|| before.len() - 1)
}

/// Position of the `|` / `>` header of a block scalar whose content starts at `content`.
fn find_block_header(text: &str, content: usize) -> Option<usize> {
    let mut line_end = line_start(text, content);
    loop {
        if line_end == 0 {
            return None;
        }
        let start = line_start(text, line_end - 1);
        let line = &text[start..line_end];
        let code = strip_comment(line).trim_end();
        if !code.trim().is_empty() {
            let indicator = code.rfind(['|', '>'])?;
            return Some(start + indicator);
        }
        line_end = start;
    }
}

/// A line without its trailing comment (a `#` at the start or after a blank, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && prev_blank => return &line[..i],
            None if (c == '\'' || c == '"') && prev_blank => quote = Some(c),
            None => {}
        }
        prev_blank = c == ' ' || c == '\t';
    }
    line
}

/// End of the last non-blank line of a block scalar spanning `start..end` (its trailing newline excluded).
fn block_scalar_end(text: &str, start: usize, end: usize) -> usize {
    let region = &text[start..end];
    let mut last = start;
    let mut offset = start;
    for line in region.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        if !content.trim().is_empty() {
            last = offset + content.len();
        }
        offset += line.len();
    }
    last
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

fn column(text: &str, pos: usize) -> usize {
    text[line_start(text, pos)..pos].chars().count()
}

fn on_own_line(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos].chars().all(|c| c == ' ' || c == '\t')
}

/// Start of the line after the one containing `pos` (`None` at the last line).
fn next_line_start(text: &str, pos: usize) -> Option<usize> {
    text[pos..].find('\n').map(|i| pos + i + 1)
}

// ------------------------------------------------------------------------------------------------
// Values
// ------------------------------------------------------------------------------------------------

fn node_value(node: &Node, anchors: &HashMap<usize, Node>, depth: usize) -> Value {
    if depth > 64 {
        return Value::Null;
    }
    match &node.kind {
        Kind::Scalar { value, style, tag, .. } => match tag {
            Some(ScalarTag::Core(t)) if t == "str" => Value::String(value.clone()),
            Some(ScalarTag::Core(_)) => Value::from_plain_scalar(value),
            _ if *style == ScalarStyle::Plain => Value::from_plain_scalar(value),
            _ => Value::String(value.clone()),
        },
        Kind::Seq { items, .. } => Value::Seq(items.iter().map(|i| node_value(i, anchors, depth + 1)).collect()),
        Kind::Map { entries, .. } => {
            Value::Map(entries.iter().map(|(k, v)| (key_text(k, anchors), node_value(v, anchors, depth + 1))).collect())
        }
        Kind::Alias(id) => anchors.get(id).map_or(Value::Null, |n| node_value(n, anchors, depth + 1)),
    }
}

fn key_text(key: &Node, anchors: &HashMap<usize, Node>) -> String {
    match &key.kind {
        Kind::Scalar { value, .. } => value.clone(),
        Kind::Alias(id) => anchors.get(id).map_or_else(String::new, |n| key_text(n, anchors)),
        _ => node_value(key, anchors, 0).to_string(),
    }
}

/// Value equality where NaN equals NaN (so `.nan` is not rewritten on every promotion).
fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Seq(x), Value::Seq(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| value_eq(a, b)),
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && value_eq(va, vb))
        }
        _ => a == b,
    }
}

fn resolve<'n>(node: &'n Node, anchors: &'n HashMap<usize, Node>) -> &'n Node {
    let mut node = node;
    for _ in 0..64 {
        match &node.kind {
            Kind::Alias(id) => match anchors.get(id) {
                Some(n) => node = n,
                None => return node,
            },
            _ => return node,
        }
    }
    node
}

/// The source node at `steps` (aliases followed).
fn source_node<'n>(root: &'n Node, steps: &[PathStep], anchors: &'n HashMap<usize, Node>) -> Option<&'n Node> {
    let mut node = resolve(root, anchors);
    for step in steps {
        node = match (step, &node.kind) {
            (PathStep::Key(k), Kind::Map { entries, .. }) => {
                &entries.iter().find(|(key, _)| key_text(key, anchors) == *k)?.1
            }
            (PathStep::Index(i), Kind::Seq { items, .. }) => items.get(*i)?,
            _ => return None,
        };
        node = resolve(node, anchors);
    }
    Some(node)
}

// ------------------------------------------------------------------------------------------------
// Scalar rendering
// ------------------------------------------------------------------------------------------------

/// Whether `s` written plain reads back as the same string under YAML 1.2 rules, and also under YAML 1.1
/// rules when `yaml11` is set (for text that was quoted where it comes from).
fn plain_safe(s: &str, flow: bool, yaml11: bool) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    if s.chars().any(|c| c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let second = s[first.len_utf8()..].chars().next();
        let ok = matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ' && !",[]{}".contains(c));
        if !ok || s.starts_with("---") {
            return false;
        }
    }
    if s.starts_with("...") || s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if flow && (s.contains([',', '[', ']', '{', '}', ':']) || s.ends_with(['-', '?'])) {
        return false;
    }
    if Value::from_plain_scalar(s) != Value::String(s.to_owned()) {
        return false;
    }
    !(yaml11 && yaml11_special(s))
}

/// Plain scalars that YAML 1.1 readers (Helm, go-yaml v2, PyYAML) resolve to something other than a string.
fn yaml11_special(s: &str) -> bool {
    const WORDS: &[&str] =
        &["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "=", "<<"];
    if WORDS.contains(&s) {
        return true;
    }
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.chars().all(|c| c.is_ascii_hexdigit() || "_:.+-xXoO".contains(c))
        && t.matches('.').count() <= 1
}

fn single_quotable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}'))
}

fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn double_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be written as a literal block scalar with clip (`|`) or strip (`|-`) chomping.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n', '\t'])
        && !s.ends_with("\n\n")
        && !s.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}')
        && s.trim_end_matches('\n').split('\n').all(|line| line.is_empty() || !line.trim().is_empty())
        && !s.trim_end_matches('\n').split('\n').any(|line| line.starts_with('\t'))
}

/// `|` / `|-` header plus content lines at `indent`; no trailing newline.
fn literal_block(s: &str, indent: usize, nl: &str) -> String {
    let (header, body) = match s.strip_suffix('\n') {
        Some(body) => ("|", body),
        None => ("|-", s),
    };
    let mut out = String::from(header);
    for line in body.split('\n') {
        out.push_str(nl);
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
    }
    out
}

/// How a string should be quoted, given the style it should keep; `source_plain` = it was plain in the source,
/// so the YAML 1.1 readings need no protection (the source file already has them).
fn render_string(
    s: &str,
    style: ScalarStyle,
    source_plain: bool,
    flow: bool,
    literal_indent: Option<usize>,
    nl: &str,
) -> String {
    if let Some(indent) = literal_indent
        && !flow
        && literal_ok(s)
    {
        return literal_block(s, indent, nl);
    }
    match style {
        ScalarStyle::SingleQuoted if single_quotable(s) => single_quote(s),
        ScalarStyle::DoubleQuoted => double_quote(s),
        _ if plain_safe(s, flow, !source_plain) => s.to_owned(),
        _ => double_quote(s),
    }
}

/// Renders a non-string value plain; `raw` is the source's own spelling when it had one.
fn render_plain_value(value: &Value, raw: Option<&str>) -> String {
    if let Some(raw) = raw.filter(|r| !r.is_empty()) {
        return raw.to_owned();
    }
    match value {
        Value::Null => "null".to_owned(),
        Value::Float(f) if f.is_nan() => ".nan".to_owned(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.to_owned(),
        Value::Float(f) => {
            let s = f.to_string();
            if s.contains(['.', 'e', 'E']) { s } else { format!("{s}.0") }
        }
        other => other.scalar_text().unwrap_or_default(),
    }
}

// ------------------------------------------------------------------------------------------------
// Rendering of new nodes
// ------------------------------------------------------------------------------------------------

struct Renderer<'a> {
    anchors: &'a HashMap<usize, Node>,
    nl: &'a str,
}

impl Renderer<'_> {
    /// A scalar from the source, in its own style (adjusted to be safe in the context).
    fn scalar(&self, node: &Node, flow: bool, indent: usize) -> String {
        let value = node_value(node, self.anchors, 0);
        let Kind::Scalar { value: text, style, .. } = &node.kind else { return self.inline(node, flow) };
        match value {
            Value::String(s) => {
                let literal = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded).then_some(indent);
                render_string(&s, *style, is_plain(node), flow, literal, self.nl)
            }
            other => render_plain_value(&other, (*style == ScalarStyle::Plain).then_some(text.as_str())),
        }
    }

    /// Single-line rendering (flow style for collections).
    fn inline(&self, node: &Node, flow: bool) -> String {
        let node = resolve(node, self.anchors);
        match &node.kind {
            Kind::Scalar { .. } => self.scalar(node, flow, 0),
            Kind::Seq { items, .. } => {
                let parts: Vec<String> = items.iter().map(|i| self.inline(i, true)).collect();
                format!("[{}]", parts.join(", "))
            }
            Kind::Map { entries, .. } => {
                let parts: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{}: {}", self.key(k, true), self.inline(v, true))).collect();
                format!("{{{}}}", parts.join(", "))
            }
            Kind::Alias(_) => "null".to_owned(),
        }
    }

    fn key(&self, key: &Node, flow: bool) -> String {
        let text = key_text(key, self.anchors);
        if plain_safe(&text, flow, !is_plain(key)) { text } else { double_quote(&text) }
    }

    /// Block rendering of a non-empty collection whose first line starts at column `indent`
    /// (the first line is not indented: the caller places it).
    fn block(&self, node: &Node, indent: usize) -> String {
        let node = resolve(node, self.anchors);
        let mut out = String::new();
        match &node.kind {
            Kind::Map { entries, .. } => {
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(self.nl);
                        out.push_str(&" ".repeat(indent));
                    }
                    out.push_str(&self.key(k, false));
                    out.push(':');
                    let v = resolve(v, self.anchors);
                    if is_block_collection(v) && !is_flow(v) {
                        out.push_str(self.nl);
                        out.push_str(&" ".repeat(indent + STEP));
                        out.push_str(&self.block(v, indent + STEP));
                    } else {
                        out.push(' ');
                        out.push_str(&self.scalar_or_inline(v, indent + STEP));
                    }
                }
            }
            Kind::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(self.nl);
                        out.push_str(&" ".repeat(indent));
                    }
                    out.push_str("- ");
                    let item = resolve(item, self.anchors);
                    if is_block_collection(item) && !is_flow(item) {
                        out.push_str(&self.block(item, indent + 2));
                    } else {
                        out.push_str(&self.scalar_or_inline(item, indent + 2));
                    }
                }
            }
            _ => out.push_str(&self.scalar_or_inline(node, indent + STEP)),
        }
        out
    }

    fn scalar_or_inline(&self, node: &Node, indent: usize) -> String {
        match &node.kind {
            Kind::Scalar { .. } => self.scalar(node, false, indent),
            _ => self.inline(node, false),
        }
    }
}

/// A collection written in flow style (`{...}`, `[...]`) where it comes from.
fn is_flow(node: &Node) -> bool {
    matches!(node.kind, Kind::Seq { flow: true, .. } | Kind::Map { flow: true, .. })
}

/// A plain scalar without tag.
fn is_plain(node: &Node) -> bool {
    matches!(node.kind, Kind::Scalar { style: ScalarStyle::Plain, tag: None, .. })
}

fn is_block_collection(node: &Node) -> bool {
    match &node.kind {
        Kind::Seq { items, .. } => !items.is_empty(),
        Kind::Map { entries, .. } => !entries.is_empty(),
        _ => false,
    }
}

fn synthetic_scalar(value: &str) -> Node {
    Node {
        start: 0,
        keep_props_end: None,
        end: 0,
        kind: Kind::Scalar { value: value.to_owned(), style: ScalarStyle::Plain, tag: None, empty: false },
    }
}

/// Wraps `leaf` into the maps/lists that `steps` describe (for keys missing in the target).
fn wrap(steps: &[PathStep], leaf: Node, location: &str) -> Result<Node, YamlEditError> {
    let mut node = leaf;
    for step in steps.iter().rev() {
        let kind = match step {
            PathStep::Key(k) => Kind::Map { entries: vec![(synthetic_scalar(k), node)], flow: false },
            PathStep::Index(0) => Kind::Seq { items: vec![node], dashes: vec![None], flow: false },
            PathStep::Index(i) => {
                return Err(YamlEditError::Unwritable {
                    location: location.to_owned(),
                    reason: format!("the target has no list there, and element [{i}] cannot be created alone"),
                });
            }
        };
        node = Node { start: 0, keep_props_end: None, end: 0, kind };
    }
    Ok(node)
}

// ------------------------------------------------------------------------------------------------
// Splicing
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Parent {
    Root,
    /// Value of a map entry: key start column and the position of its `:` (if found).
    MapValue {
        key_col: usize,
        colon: Option<usize>,
    },
    /// Item of a block sequence: the dash position.
    SeqItem {
        dash: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Ctx {
    parent: Parent,
    flow: bool,
}

struct Splice {
    start: usize,
    end: usize,
    text: String,
}

struct Target<'a> {
    text: &'a str,
    nl: &'a str,
    renderer: Renderer<'a>,
    target_anchors: &'a HashMap<usize, Node>,
    location: &'a str,
}

impl Target<'_> {
    fn unwritable(&self, reason: impl Into<String>) -> YamlEditError {
        YamlEditError::Unwritable { location: self.location.to_owned(), reason: reason.into() }
    }

    fn colon_after(&self, key: &Node) -> Option<usize> {
        let rest = &self.text[key.end..];
        let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        rest[skipped..].starts_with(':').then_some(key.end + skipped)
    }

    fn parent_col(&self, parent: Parent) -> Option<usize> {
        match parent {
            Parent::Root => None,
            Parent::MapValue { key_col, .. } => Some(key_col),
            Parent::SeqItem { dash } => dash.map(|d| column(self.text, d)),
        }
    }

    /// Where a value written right after the parent's indicator (`:` or `-`) starts.
    fn after_indicator(&self, parent: Parent) -> Option<usize> {
        match parent {
            Parent::MapValue { colon, .. } => colon.map(|c| c + 1),
            Parent::SeqItem { dash } => dash.map(|d| d + 1),
            Parent::Root => None,
        }
    }

    /// Replaces the target node `old` with `new`.
    fn replace(&self, old: &Node, ctx: Ctx, new: &Node) -> Result<Splice, YamlEditError> {
        let new = resolve(new, self.renderer.anchors);
        let text = self.text;
        let old_flow_collection = matches!(old.kind, Kind::Seq { flow: true, .. } | Kind::Map { flow: true, .. });
        let flow = ctx.flow || (old_flow_collection && !matches!(new.kind, Kind::Scalar { .. }));
        let parent_col = self.parent_col(ctx.parent);
        let child_indent = parent_col.map_or(0, |c| c + STEP);
        let old_empty = matches!(old.kind, Kind::Scalar { empty: true, .. });

        if flow || !is_block_collection(new) {
            let literal_indent = match &old.kind {
                Kind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. } => Some(child_indent),
                _ => None,
            };
            let rendered = match (&new.kind, &old.kind) {
                (Kind::Scalar { .. }, Kind::Scalar { style, .. }) => {
                    self.top_scalar(new, *style, flow, literal_indent, child_indent)
                }
                (Kind::Scalar { .. }, _) => self.renderer.scalar(new, flow, child_indent),
                _ => self.renderer.inline(new, flow),
            };
            if let Some(keep) = old.keep_props_end {
                return Ok(Splice { start: keep, end: old.end, text: format!(" {rendered}") });
            }
            if old_empty {
                let at = self
                    .after_indicator(ctx.parent)
                    .ok_or_else(|| self.unwritable("cannot find where its empty value starts"))?;
                return Ok(Splice { start: at, end: at, text: format!(" {rendered}") });
            }
            if on_own_line(text, old.start) && !matches!(ctx.parent, Parent::Root) {
                if let Some(at) = self.after_indicator(ctx.parent)
                    && at <= old.start
                    && !text[at..old.start].contains('#')
                {
                    return Ok(Splice { start: at, end: old.end, text: format!(" {rendered}") });
                }
                if parent_col.is_some_and(|p| column(text, old.start) <= p) {
                    let indent = " ".repeat(child_indent);
                    return Ok(Splice {
                        start: line_start(text, old.start),
                        end: old.end,
                        text: format!("{indent}{rendered}"),
                    });
                }
            }
            return Ok(Splice { start: old.start, end: old.end, text: rendered });
        }

        // A non-empty map or list, in block style.
        let new_is_seq = matches!(new.kind, Kind::Seq { .. });
        if old.keep_props_end.is_none() && on_own_line(text, old.start) {
            let col = column(text, old.start);
            let fits = match (ctx.parent, parent_col) {
                (_, None) => true,
                (Parent::MapValue { .. }, Some(p)) => col > p || (new_is_seq && col == p),
                (_, Some(p)) => col > p,
            };
            if fits {
                return Ok(Splice { start: old.start, end: old.end, text: self.renderer.block(new, col) });
            }
            let block = self.renderer.block(new, child_indent);
            return Ok(Splice {
                start: line_start(text, old.start),
                end: old.end,
                text: format!("{}{block}", " ".repeat(child_indent)),
            });
        }
        let anchor = match (old.keep_props_end, ctx.parent) {
            (Some(keep), _) => keep,
            (None, Parent::SeqItem { .. }) if !old_empty => {
                let col = column(text, old.start);
                return Ok(Splice { start: old.start, end: old.end, text: self.renderer.block(new, col) });
            }
            (None, Parent::Root) => {
                let col = column(text, old.start);
                let block = self.renderer.block(new, 0);
                let text = if col == 0 { block } else { format!("{}{block}", self.nl) };
                return Ok(Splice { start: old.start, end: old.end, text });
            }
            (None, parent) => self
                .after_indicator(parent)
                .ok_or_else(|| self.unwritable("cannot find the `:` or `-` before the value"))?,
        };
        let end = if old_empty { anchor } else { old.end };
        let block = self.renderer.block(new, child_indent);
        Ok(Splice { start: anchor, end, text: format!("{}{}{block}", self.nl, " ".repeat(child_indent)) })
    }

    /// A scalar replacing a target scalar: the target's quoting style is kept when possible.
    fn top_scalar(
        &self,
        new: &Node,
        target_style: ScalarStyle,
        flow: bool,
        literal_indent: Option<usize>,
        child_indent: usize,
    ) -> String {
        let value = node_value(new, self.renderer.anchors, 0);
        let Kind::Scalar { value: raw, style: source_style, .. } = &new.kind else {
            return self.renderer.inline(new, flow);
        };
        match value {
            Value::String(s) => {
                let block_source = matches!(source_style, ScalarStyle::Literal | ScalarStyle::Folded);
                let literal = literal_indent.or(block_source.then_some(child_indent));
                let style = match target_style {
                    ScalarStyle::Literal | ScalarStyle::Folded => *source_style,
                    other => other,
                };
                render_string(&s, style, is_plain(new), flow, literal, self.nl)
            }
            other => render_plain_value(&other, (*source_style == ScalarStyle::Plain).then_some(raw.as_str())),
        }
    }

    /// Appends `key: value` at the end of the map `map`.
    fn insert_key(&self, map: &Node, key: &str, value: &Node) -> Result<Splice, YamlEditError> {
        let Kind::Map { entries, flow } = &map.kind else { return Err(self.unwritable("the parent is not a map")) };
        let key_node = synthetic_scalar(key);
        if *flow {
            let entry = format!("{}: {}", self.renderer.key(&key_node, true), self.renderer.inline(value, true));
            return Ok(match entries.last() {
                Some((_, last)) => Splice { start: last.end, end: last.end, text: format!(", {entry}") },
                None => {
                    let open = self.text[map.start..].find('{').map_or(map.start, |i| map.start + i + 1);
                    Splice { start: open, end: open, text: entry }
                }
            });
        }
        let first_key =
            entries.first().map(|(k, _)| k.start).ok_or_else(|| self.unwritable("the parent map is empty"))?;
        let indent = column(self.text, first_key);
        let entry = Node {
            start: 0,
            keep_props_end: None,
            end: 0,
            kind: Kind::Map { entries: vec![(key_node, value.clone())], flow: false },
        };
        let block = self.renderer.block(&entry, indent);
        Ok(self.insert_lines_after(map.end, &format!("{}{block}", " ".repeat(indent))))
    }

    /// Inserts `lines` (no trailing newline) as new lines after the line containing `pos`.
    fn insert_lines_after(&self, pos: usize, lines: &str) -> Splice {
        // A position at the very start of a line belongs to the previous line's content.
        let anchor = if pos > 0 && self.text.as_bytes()[pos - 1] == b'\n' { pos - 1 } else { pos };
        match next_line_start(self.text, anchor) {
            Some(at) => Splice { start: at, end: at, text: format!("{lines}{}", self.nl) },
            None => Splice { start: self.text.len(), end: self.text.len(), text: format!("{}{lines}", self.nl) },
        }
    }

    /// Finds the node at `steps` (or where it must be created) and computes the splice.
    fn plan(&self, root: &Node, steps: &[PathStep], new: &Node) -> Result<Option<Splice>, YamlEditError> {
        let mut node = root;
        let mut ctx = Ctx { parent: Parent::Root, flow: false };
        for (i, step) in steps.iter().enumerate() {
            let flow_here =
                ctx.flow || matches!(node.kind, Kind::Seq { flow: true, .. } | Kind::Map { flow: true, .. });
            match (step, &node.kind) {
                (PathStep::Key(k), Kind::Map { entries, .. }) => {
                    match entries.iter().find(|(key, _)| key_text(key, self.target_anchors) == *k) {
                        Some((key, value)) => {
                            ctx = Ctx {
                                parent: Parent::MapValue {
                                    key_col: column(self.text, key.start),
                                    colon: self.colon_after(key),
                                },
                                flow: flow_here,
                            };
                            node = value;
                        }
                        None => {
                            let value = wrap(&steps[i + 1..], new.clone(), self.location)?;
                            return self.insert_key(node, k, &value).map(Some);
                        }
                    }
                }
                (PathStep::Index(n), Kind::Seq { items, dashes, .. }) => match items.get(*n) {
                    Some(item) => {
                        ctx = Ctx {
                            parent: Parent::SeqItem { dash: dashes.get(*n).copied().flatten() },
                            flow: flow_here,
                        };
                        node = item;
                    }
                    None => {
                        return Err(self.unwritable(format!(
                            "the target list has {} elements, so element [{n}] cannot be created",
                            items.len()
                        )));
                    }
                },
                (PathStep::Key(_), Kind::Scalar { .. })
                    if matches!(node_value(node, self.target_anchors, 0), Value::Null) =>
                {
                    let value = wrap(&steps[i..], new.clone(), self.location)?;
                    return self.replace(node, ctx, &value).map(|splice| Some(self.keep_trailing_comment(splice)));
                }
                (_, Kind::Alias(_)) => {
                    return Err(self.unwritable(
                        "the target reaches it through an alias (`*name`); edit the anchored value instead",
                    ));
                }
                (_, kind) => {
                    let found = match kind {
                        Kind::Seq { .. } => "a list",
                        Kind::Map { .. } => "a map",
                        _ => "a scalar",
                    };
                    return Err(self.unwritable(format!(
                        "the target has {found} at {} where the source has {}",
                        location_text(&steps[..i]),
                        if matches!(step, PathStep::Key(_)) { "a map" } else { "a list" }
                    )));
                }
            }
        }
        let current = node_value(node, self.target_anchors, 0);
        let wanted = node_value(new, self.renderer.anchors, 0);
        if value_eq(&current, &wanted) {
            return Ok(None);
        }
        self.replace(node, ctx, new).map(|splice| Some(self.keep_trailing_comment(splice)))
    }

    /// A comment after the old value on its line would end up after the last line of a multi-line value
    /// (and inside it, for a literal block): move it to the end of the new value's first line.
    fn keep_trailing_comment(&self, splice: Splice) -> Splice {
        let line_end = self.text[splice.end..].find(['\r', '\n']).map_or(self.text.len(), |i| splice.end + i);
        let trailing = &self.text[splice.end..line_end];
        if trailing.trim().is_empty() || !splice.text.contains('\n') {
            return splice;
        }
        let first_end = splice.text.find(['\r', '\n']).unwrap_or(splice.text.len());
        let text = format!("{}{trailing}{}", &splice.text[..first_end], &splice.text[first_end..]);
        Splice { start: splice.start, end: line_end, text }
    }
}

fn located_name(steps: &[PathStep], doc: usize) -> String {
    if doc == 0 { location_text(steps) } else { format!("{} (document {})", location_text(steps), doc + 1) }
}

/// Copies the values at `paths` in `source_text` into `target_text`, changing only their bytes.
///
/// Errors when a file is not valid YAML, when a path matches nothing in the source, or when a value
/// cannot be written into the target (type mismatch, alias on the way, list too short).
pub fn promote_yaml(source_text: &str, target_text: &str, paths: &[JsonPath]) -> Result<Edit, YamlEditError> {
    let source = parse(source_text, Side::Source)?;
    let initial = parse(target_text, Side::Target)?;
    let value_of = |doc: Option<&Doc>, anchors: &HashMap<usize, Node>| {
        doc.and_then(|d| d.root.as_ref()).map_or(Value::Null, |r| node_value(r, anchors, 0))
    };

    // The value-level promotion (ferry-model) decides what is written where; the text edit follows it.
    let mut work: Vec<(usize, Vec<PathStep>)> = Vec::new();
    let mut expected: Vec<(usize, Value)> = Vec::new();
    let mut found = vec![false; paths.len()];
    for (doc, source_doc) in source.docs.iter().enumerate() {
        let source_value = value_of(Some(source_doc), &source.anchors);
        let mut doc_paths: Vec<JsonPath> = Vec::new();
        for (path, found) in paths.iter().zip(found.iter_mut()) {
            let applies = path.definite_location().is_none_or(|loc| get_at(&source_value, &loc).is_some());
            *found |= applies;
            if applies {
                doc_paths.push(path.clone());
            }
        }
        if doc_paths.is_empty() {
            continue;
        }
        let mut target_value = value_of(initial.docs.get(doc), &initial.anchors);
        let locations =
            ferry_model::jsonpath::promote(&source_value, &mut target_value, &doc_paths).map_err(|e| match e {
                SetError::NotInSource { path } => YamlEditError::PathNotFound { path },
                SetError::CannotWrite { path, reason } => YamlEditError::Unwritable { location: path, reason },
            })?;
        if locations.is_empty() {
            continue;
        }
        if doc > 0 && initial.docs.len() <= doc {
            return Err(YamlEditError::Unwritable {
                location: located_name(&locations[0], doc),
                reason: format!(
                    "the source file has a document {} but the target file has only {}",
                    doc + 1,
                    initial.docs.len()
                ),
            });
        }
        work.extend(locations.into_iter().map(|loc| (doc, loc)));
        expected.push((doc, target_value));
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(YamlEditError::PathNotFound { path: paths[i].to_string() });
    }

    let nl = if target_text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut text = target_text.to_owned();
    let mut changed = Vec::new();
    let target_has_alias = initial.has_alias;
    let mut target = initial;
    for (doc, steps) in work {
        let location = located_name(&steps, doc);
        let source_root = source.docs[doc].root.as_ref();
        let new = source_root.and_then(|root| source_node(root, &steps, &source.anchors)).ok_or_else(|| {
            YamlEditError::Unwritable { location: location.clone(), reason: "not found in the source".into() }
        })?;
        let renderer = Renderer { anchors: &source.anchors, nl };
        let splice = match target.docs.get(doc) {
            Some(Doc { root: Some(root), .. }) => {
                let t = Target { text: &text, nl, renderer, target_anchors: &target.anchors, location: &location };
                t.plan(root, &steps, new)?
            }
            Some(Doc { root: None, end }) => Some(append_to_empty(&text, *end, &steps, new, renderer, nl, &location)?),
            None if doc == 0 && target.docs.is_empty() => {
                Some(append_to_empty(&text, text.len(), &steps, new, renderer, nl, &location)?)
            }
            None => {
                return Err(YamlEditError::Unwritable {
                    location,
                    reason: format!("the target file has only {} document(s)", target.docs.len()),
                });
            }
        };
        let Some(splice) = splice else { continue };
        let mut next = String::with_capacity(text.len() + splice.text.len());
        next.push_str(&text[..splice.start]);
        next.push_str(&splice.text);
        next.push_str(&text[splice.end..]);
        // Safety net: the edited file must parse and hold the new value at the location.
        let reparsed = parse(&next, Side::Target).map_err(|e| YamlEditError::Unwritable {
            location: location.clone(),
            reason: format!("the edit would produce invalid YAML ({e}); please report this as a Ferry bug"),
        })?;
        let wanted = node_value(new, &source.anchors, 0);
        let written = reparsed
            .docs
            .get(doc)
            .and_then(|d| d.root.as_ref())
            .and_then(|root| source_node(root, &steps, &reparsed.anchors))
            .map(|n| node_value(n, &reparsed.anchors, 0));
        if !written.is_some_and(|w| value_eq(&w, &wanted)) {
            return Err(YamlEditError::Unwritable {
                location,
                reason: "the edit would not read back as the source's value; please report this as a Ferry bug".into(),
            });
        }
        text = next;
        target = reparsed;
        changed.push(location);
    }
    // Where the target has aliases, an edited anchor legitimately changes them too: skip the whole-tree check.
    let expected = if target_has_alias { Vec::new() } else { expected };
    for (doc, value) in expected {
        let written = value_of(target.docs.get(doc), &target.anchors);
        if !value_eq(&written, &value) {
            return Err(YamlEditError::Unwritable {
                location: located_name(&[], doc),
                reason: "the edited file would not read back as the promoted values; please report this as a Ferry bug"
                    .into(),
            });
        }
    }
    Ok(Edit { text, changed })
}

fn append_to_empty(
    text: &str,
    at: usize,
    steps: &[PathStep],
    new: &Node,
    renderer: Renderer<'_>,
    nl: &str,
    location: &str,
) -> Result<Splice, YamlEditError> {
    let value = wrap(steps, new.clone(), location)?;
    let body = if is_block_collection(&value) { renderer.block(&value, 0) } else { renderer.inline(&value, false) };
    let needs_nl = at > 0 && !text[..at].ends_with('\n');
    let text = format!("{}{body}{nl}", if needs_nl { nl } else { "" });
    Ok(Splice { start: at, end: at, text })
}

/// The scalar at `path` in `text` (the first match, first document that has one), as text: what a
/// version reads as (SPEC §3.7). `None` when the file is not YAML, the path matches nothing, or the
/// value is null, a map or a list.
pub fn read_version(text: &str, path: &JsonPath) -> Option<String> {
    let parsed = parse(text, Side::Source).ok()?;
    for doc in &parsed.docs {
        let Some(root) = &doc.root else { continue };
        let value = node_value(root, &parsed.anchors, 0);
        if let Some(steps) = path.locate(&value).into_iter().next() {
            let node = source_node(root, &steps, &parsed.anchors)?;
            return match node_value(node, &parsed.anchors, 0) {
                Value::Null | Value::Seq(_) | Value::Map(_) => None,
                Value::String(s) => Some(s),
                other => match &node.kind {
                    Kind::Scalar { value, .. } => Some(value.clone()),
                    _ => other.scalar_text(),
                },
            };
        }
    }
    None
}

/// Parses `text` as YAML and returns the value of each document (for tests and diagnostics).
pub fn parse_values(text: &str) -> Result<Vec<Value>, YamlEditError> {
    let parsed = parse(text, Side::Source)?;
    Ok(parsed.docs.iter().map(|d| d.root.as_ref().map_or(Value::Null, |r| node_value(r, &parsed.anchors, 0))).collect())
}

#[cfg(test)]
mod tests;
