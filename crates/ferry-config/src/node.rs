//! A spanned YAML node tree built from `saphyr-parser` events.
//!
//! Every node keeps the 1-based line and column where it starts, so diagnostics can point at it.
//! Aliases are resolved to a copy of the anchored node (with a budget against "billion laughs"
//! documents), nesting depth is bounded, and empty documents are dropped.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deepest nesting of sequences and mappings accepted in a document.
pub(crate) const MAX_DEPTH: usize = 128;
/// Most nodes that aliases may copy in one file.
pub(crate) const MAX_ALIAS_NODES: usize = 100_000;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos { line: span.start.line(), column: span.start.col() + 1 }
    }
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    /// A scalar; `quoted` is true for every style but plain (quoted, literal, folded) and for `!!str`.
    Scalar {
        /// The scalar's text.
        text: String,
        /// Whether the scalar is a string whatever its text.
        quoted: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (duplicate keys are kept for the decoder to report).
    Map(Vec<(Node, Node)>),
}

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// Content.
    pub kind: NodeKind,
    /// Start position.
    pub pos: Pos,
}

impl Node {
    /// The scalar's text, for scalars.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether the node is a YAML null (`~`, `null`, or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value resolved by the YAML 1.2 core schema (scalars only; lists and maps become empty ones).
    pub fn scalar_value(&self) -> ferry_model::Value {
        match &self.kind {
            NodeKind::Scalar { text, quoted: true } => ferry_model::Value::String(text.clone()),
            NodeKind::Scalar { text, quoted: false } => ferry_model::Value::from_plain_scalar(text),
            NodeKind::Seq(_) => ferry_model::Value::Seq(Vec::new()),
            NodeKind::Map(_) => ferry_model::Value::Map(Vec::new()),
        }
    }

    /// What the node is, in words: "a string", "an integer", "a list", "a map", "null", ...
    pub fn describe(&self) -> &'static str {
        self.scalar_value().kind()
    }

    /// Number of nodes in the tree.
    fn count(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar { .. } => 1,
            NodeKind::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            NodeKind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.count() + v.count()).sum::<usize>(),
        }
    }
}

/// One non-empty YAML document of a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    /// 1-based index of the document in the file (empty documents count too).
    pub index: usize,
    /// The root node.
    pub root: Node,
}

/// A syntax error, or a limit that was exceeded, that stops the reading of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// 1-based document index.
    pub document: usize,
    /// Where.
    pub pos: Pos,
    /// What went wrong.
    pub message: String,
}

/// The documents of a file read before the first error (if any).
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Complete, non-empty documents.
    pub documents: Vec<Document>,
    /// The error that stopped reading.
    pub error: Option<ParseError>,
}

enum Frame {
    Seq { items: Vec<Node>, pos: Pos, anchor: usize },
    Map { entries: Vec<(Node, Node)>, key: Option<Node>, pos: Pos, anchor: usize },
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_budget: usize,
}

impl Builder {
    fn define(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), node.count()));
        }
    }

    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

/// Applies YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`): the merged maps' entries are added unless
/// the map sets the key itself; earlier sources win over later ones. Anything else under `<<` is kept
/// as an ordinary entry (and reported by the decoder as an unknown field).
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge = |k: &Node| matches!(&k.kind, NodeKind::Scalar { text, quoted: false } if text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let mut own = Vec::new();
    let mut sources = Vec::new();
    for (k, v) in entries {
        let mergeable = match &v.kind {
            NodeKind::Map(_) => true,
            NodeKind::Seq(items) => items.iter().all(|i| matches!(i.kind, NodeKind::Map(_))),
            NodeKind::Scalar { .. } => false,
        };
        if is_merge(&k) && mergeable {
            sources.push(v);
        } else {
            own.push((k, v));
        }
    }
    for source in sources {
        let maps = match source.kind {
            NodeKind::Seq(items) => items,
            other => vec![Node { kind: other, pos: source.pos }],
        };
        for map in maps {
            if let NodeKind::Map(inherited) = map.kind {
                for (k, v) in inherited {
                    if !own.iter().any(|(o, _): &(Node, Node)| o.scalar().is_some() && o.scalar() == k.scalar()) {
                        own.push((k, v));
                    }
                }
            }
        }
    }
    own
}

/// Parses every document of `text`, stopping at the first syntax error or exceeded limit.
pub(crate) fn parse(text: &str, max_documents: usize) -> Parsed {
    let mut parsed = Parsed::default();
    let mut document = 0usize;
    let mut in_document = false;
    let mut b = Builder { stack: Vec::new(), root: None, anchors: HashMap::new(), alias_budget: MAX_ALIAS_NODES };
    let fail = |parsed: &mut Parsed, document: usize, pos: Pos, message: String| {
        parsed.error = Some(ParseError { document: document.max(1), pos, message });
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(ok) => ok,
            Err(e) => {
                let doc = if in_document { document } else { document + 1 };
                let pos = Pos { line: e.marker().line(), column: e.marker().col() + 1 };
                fail(&mut parsed, doc, pos, format!("YAML syntax error: {}", e.info()));
                return parsed;
            }
        };
        let pos = Pos::from_span(&span);
        match event {
            Event::DocumentStart(_) => {
                document += 1;
                in_document = true;
                // Empty documents (a trailing `---`, separators in a row) do not count towards the limit,
                // as they are dropped; a flood of them is still bounded.
                if document > max_documents.saturating_mul(4) {
                    fail(
                        &mut parsed,
                        document,
                        pos,
                        format!("too many document separators in one file (the limit is {} documents)", max_documents),
                    );
                    return parsed;
                }
                b.stack.clear();
                b.root = None;
                b.anchors.clear();
            }
            Event::DocumentEnd => {
                in_document = false;
                if let Some(root) = b.root.take()
                    && !root.is_null()
                {
                    if parsed.documents.len() >= max_documents {
                        parsed.documents.clear();
                        fail(
                            &mut parsed,
                            document,
                            pos,
                            format!("too many documents in one file (the limit is {max_documents})"),
                        );
                        return parsed;
                    }
                    parsed.documents.push(Document { index: document, root });
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.handle == "tag:yaml.org,2002:" && t.suffix == "str")
                    || tag.as_ref().is_some_and(|t| t.handle == "!!" && t.suffix == "str");
                let quoted = style != ScalarStyle::Plain || is_str_tag;
                let node = Node { kind: NodeKind::Scalar { text: value.into_owned(), quoted }, pos };
                b.define(anchor, &node);
                b.push(node);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if b.stack.len() >= MAX_DEPTH {
                    fail(&mut parsed, document, pos, format!("nesting is deeper than {MAX_DEPTH} levels"));
                    return parsed;
                }
                let frame = if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq { items: Vec::new(), pos, anchor }
                } else {
                    Frame::Map { entries: Vec::new(), key: None, pos, anchor }
                };
                b.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match b.stack.pop() {
                    Some(Frame::Seq { items, pos, anchor }) => (Node { kind: NodeKind::Seq(items), pos }, anchor),
                    Some(Frame::Map { entries, pos, anchor, .. }) => {
                        (Node { kind: NodeKind::Map(merge_keys(entries)), pos }, anchor)
                    }
                    None => continue,
                };
                b.define(anchor, &node);
                b.push(node);
            }
            Event::Alias(id) => {
                let Some((anchored, count)) = b.anchors.get(&id) else {
                    fail(&mut parsed, document, pos, "alias to an unknown anchor".into());
                    return parsed;
                };
                if *count > b.alias_budget {
                    fail(
                        &mut parsed,
                        document,
                        pos,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes; write the values out instead"),
                    );
                    return parsed;
                }
                b.alias_budget -= *count;
                let mut copy = anchored.clone();
                copy.pos = pos;
                b.push(copy);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    fn map_get<'a>(node: &'a Node, key: &str) -> &'a Node {
        match &node.kind {
            NodeKind::Map(entries) => {
                entries.iter().find(|(k, _)| k.scalar() == Some(key)).map(|(_, v)| v).expect("key present")
            }
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based_and_exact() {
        let text = "kind: PromotionFlow\nspec:\n  steps:\n    - environment: qa\n      dependsOn: [dev, \"x\"]\n";
        let parsed = parse(text, 10);
        assert!(parsed.error.is_none(), "{:?}", parsed.error);
        let root = &parsed.documents[0].root;
        assert_eq!(root.pos, at(1, 1));
        assert_eq!(map_get(root, "kind").pos, at(1, 7));
        let spec = map_get(root, "spec");
        assert_eq!(spec.pos, at(3, 3));
        let steps = map_get(spec, "steps");
        let NodeKind::Seq(items) = &steps.kind else { panic!("seq") };
        assert_eq!(items[0].pos, at(4, 7));
        let deps = map_get(&items[0], "dependsOn");
        assert_eq!(deps.pos, at(5, 18));
        let NodeKind::Seq(deps) = &deps.kind else { panic!("seq") };
        assert_eq!(deps[0].pos, at(5, 19));
        assert_eq!(deps[1].pos, at(5, 24));
        assert_eq!(deps[1].kind, NodeKind::Scalar { text: "x".into(), quoted: true });
        assert_eq!(deps[0].kind, NodeKind::Scalar { text: "dev".into(), quoted: false });
    }

    #[test]
    fn keys_carry_their_own_position() {
        let parsed = parse("a: 1\nbb:\n  c: d\n", 10);
        let NodeKind::Map(entries) = &parsed.documents[0].root.kind else { panic!("map") };
        assert_eq!(entries[1].0.pos, at(2, 1));
        let NodeKind::Map(inner) = &entries[1].1.kind else { panic!("map") };
        assert_eq!(inner[0].0.pos, at(3, 3));
        assert_eq!(inner[0].1.pos, at(3, 6));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let parsed = parse("é: ü\nx: y\n", 10);
        let NodeKind::Map(entries) = &parsed.documents[0].root.kind else { panic!("map") };
        assert_eq!(entries[0].1.pos, at(1, 4));
    }

    #[test]
    fn multi_document_indexes_count_empty_documents() {
        let text = "a: 1\n---\n---\n# only a comment\n---\nb: 2\n";
        let parsed = parse(text, 10);
        assert!(parsed.error.is_none());
        let indexes: Vec<usize> = parsed.documents.iter().map(|d| d.index).collect();
        assert_eq!(indexes, vec![1, 4]);
        assert_eq!(parsed.documents[1].root.pos, at(6, 1));
    }

    #[test]
    fn leading_separator_starts_the_first_document() {
        let parsed = parse("---\na: 1\n---\nb: 2\n", 10);
        let indexes: Vec<usize> = parsed.documents.iter().map(|d| d.index).collect();
        assert_eq!(indexes, vec![1, 2]);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let text = "base: &b {x: 1, y: [a, b]}\nother: *b\n";
        let parsed = parse(text, 10);
        let root = &parsed.documents[0].root;
        let base = map_get(root, "base");
        let other = map_get(root, "other");
        assert_eq!(base.kind, other.kind);
        assert_eq!(other.pos, at(2, 8));
    }

    #[test]
    fn merge_keys_add_missing_entries() {
        let text = "base: &b {type: production, order: 1}\nprod:\n  <<: *b\n  order: 2\n";
        let parsed = parse(text, 10);
        let prod = map_get(&parsed.documents[0].root, "prod");
        assert_eq!(map_get(prod, "order").scalar(), Some("2"));
        assert_eq!(map_get(prod, "type").scalar(), Some("production"));
        let NodeKind::Map(entries) = &prod.kind else { panic!("map") };
        assert_eq!(entries.len(), 2);
        let list = parse("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n", 10);
        let c = map_get(&list.documents[0].root, "c");
        assert_eq!(map_get(c, "x").scalar(), Some("1"));
        assert_eq!(map_get(c, "y").scalar(), Some("2"));
        let quoted = parse("c:\n  '<<': {x: 1}\n", 10);
        let c = map_get(&quoted.documents[0].root, "c");
        assert!(map_get(c, "<<").scalar().is_none(), "a quoted key is an ordinary key");
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let parsed = parse(&text, 10);
        let err = parsed.error.expect("limit");
        assert!(err.message.contains("aliases expand"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_have_a_position_and_document() {
        let parsed = parse("a: 1\n---\nb: [1, 2\nc: 3\n", 10);
        assert_eq!(parsed.documents.len(), 1);
        let err = parsed.error.expect("error");
        assert_eq!(err.document, 2);
        assert!(err.pos.line >= 3, "{err:?}");
        assert!(err.message.starts_with("YAML syntax error"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000);
        let parsed = parse(&text, 10);
        let err = parsed.error.expect("error");
        assert!(err.message.contains("recursion limit"), "{err:?}");
        let mut block = String::new();
        for depth in 0..200 {
            block.push_str(&format!("{}k{depth}:\n", "  ".repeat(depth)));
        }
        block.push_str(&format!("{}leaf: 1\n", "  ".repeat(200)));
        let err = parse(&block, 10).error.expect("error");
        assert!(err.message.contains("nesting is deeper than 128"), "{err:?}");
    }

    #[test]
    fn too_many_documents_is_refused() {
        let text = "a: 1\n---\n".repeat(20);
        let parsed = parse(&text, 5);
        let err = parsed.error.expect("error");
        assert_eq!(err.document, 6);
        assert!(err.message.contains("too many documents"));
    }

    #[test]
    fn empty_documents_do_not_count_towards_the_limit() {
        // Exactly the limit, each document followed by a separator (a trailing `---` included).
        let parsed = parse(&"a: 1\n---\n".repeat(5), 5);
        assert!(parsed.error.is_none(), "{:?}", parsed.error);
        assert_eq!(parsed.documents.len(), 5);
        // Separators in a row add no documents.
        let parsed = parse("---\n---\na: 1\n---\n---\nb: 2\n", 2);
        assert!(parsed.error.is_none(), "{:?}", parsed.error);
        assert_eq!(parsed.documents.len(), 2);
        // A flood of separators is still refused.
        let err = parse(&"---\n".repeat(100), 5).error.expect("error");
        assert!(err.message.contains("too many document separators"), "{err:?}");
    }

    #[test]
    fn str_tag_makes_a_string() {
        let parsed = parse("a: !!str 5\n", 10);
        let v = map_get(&parsed.documents[0].root, "a");
        assert_eq!(v.kind, NodeKind::Scalar { text: "5".into(), quoted: true });
        assert_eq!(v.describe(), "a string");
    }
}
