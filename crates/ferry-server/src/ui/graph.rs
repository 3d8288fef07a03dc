//! The environment graph: a layered drawing of a flow's DAG, left to right.
//!
//! Each environment sits in the column of its depth (the longest `dependsOn` chain before it), so
//! parallel branches share a column and a join sits right of all its dependencies. Within a column,
//! environments are ordered by the mean row of their dependencies (the barycentre heuristic), which
//! keeps edges short and mostly uncrossed; ties keep the flow's order. Columns are centred
//! vertically. Edges are cubic curves from the right edge of a dependency to the left edge of the
//! environment that waits for it.
//!
//! A large flow is drawn collapsed ([`layout_grouped`]): above [`GRAPH_LIMIT`] environments, every
//! level (column) of more than [`LEVEL_LIMIT`] environments becomes one group node with the counts
//! of its environments by status, beside at most [`ATTENTION_SHOWN`] of its environments that need
//! attention (failed, running, ...), drawn on their own. Edges join what is drawn. A level can be
//! expanded on request, or the whole graph drawn.

use std::collections::{BTreeMap, HashMap};

use super::status::{Badge, Size};

/// Node width in SVG units (CSS pixels).
pub(crate) const NODE_W: u32 = 200;
/// Node height.
pub(crate) const NODE_H: u32 = 56;
const COL_GAP: u32 = 64;
const ROW_GAP: u32 = 18;
const PAD: u32 = 10;

/// One environment to place: its name and what it depends on.
#[derive(Debug, Clone)]
pub(crate) struct Input<'a> {
    pub(crate) name: &'a str,
    pub(crate) depends_on: &'a [String],
    /// Status word (empty for a flow drawing without statuses).
    pub(crate) status: &'a str,
    /// Secondary line (e.g. `production`).
    pub(crate) note: String,
    /// Link target.
    pub(crate) href: String,
}

/// A placed node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) badge: Option<Badge>,
    pub(crate) note: String,
    pub(crate) href: String,
    /// `x` of the icon, `y` of the first and second text line (precomputed for the template).
    pub(crate) icon_x: u32,
    pub(crate) icon_y: u32,
    pub(crate) text_x: u32,
    pub(crate) line1_y: u32,
    pub(crate) line2_y: u32,
    /// Set for the node that stands for a collapsed level.
    pub(crate) group: Option<Group>,
}

/// What a group node summarises: a level's environments that are not drawn on their own.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Level number (1 = the first column).
    pub(crate) level: usize,
    /// Environments in the group.
    pub(crate) count: usize,
    /// Count of each status present, in a fixed order (worst first), with its tone.
    pub(crate) counts: Vec<GroupCount>,
    /// The counts as words, for the tooltip and screen readers.
    pub(crate) text: String,
}

/// One status of a group with its count and where the template draws it.
#[derive(Debug, Clone)]
pub(crate) struct GroupCount {
    pub(crate) status: &'static str,
    pub(crate) count: usize,
    pub(crate) class: &'static str,
    pub(crate) icon: &'static str,
    pub(crate) icon_x: u32,
    pub(crate) text_x: u32,
}

impl Node {
    /// CSS class of the node's status.
    pub(crate) fn class(&self) -> &'static str {
        self.badge.as_ref().map_or("st-none", Badge::class)
    }

    /// Status word, or empty.
    pub(crate) fn status(&self) -> &str {
        self.badge.as_ref().map_or("", |b| b.text.as_str())
    }

    /// Icon id of the status.
    pub(crate) fn icon(&self) -> &'static str {
        self.badge.as_ref().map_or("i-env", |b| b.tone.icon())
    }
}

/// A placed edge.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    /// SVG path data.
    pub(crate) path: String,
    /// Whether the dependency is done (drawn solid).
    pub(crate) done: bool,
}

/// The drawing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    pub(crate) node_w: u32,
    pub(crate) node_h: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
}

/// Column of each input: 0 without (known) dependencies, else one more than its deepest dependency.
/// A cycle (which validation rejects) cannot loop: an environment on the current path counts as 0.
fn depths(inputs: &[Input<'_>], index: &HashMap<&str, usize>) -> Vec<usize> {
    fn visit(
        i: usize,
        inputs: &[Input<'_>],
        index: &HashMap<&str, usize>,
        memo: &mut [Option<usize>],
        path: &mut Vec<bool>,
    ) -> usize {
        if let Some(d) = memo[i] {
            return d;
        }
        if path[i] {
            return 0;
        }
        path[i] = true;
        let mut depth = 0;
        for dep in inputs[i].depends_on {
            if let Some(&j) = index.get(dep.as_str()) {
                depth = depth.max(visit(j, inputs, index, memo, path) + 1);
            }
        }
        path[i] = false;
        memo[i] = Some(depth);
        depth
    }
    let mut memo = vec![None; inputs.len()];
    let mut path = vec![false; inputs.len()];
    (0..inputs.len()).map(|i| visit(i, inputs, index, &mut memo, &mut path)).collect()
}

/// The column of each input, as [`layout`] places them (0 = the first).
pub(crate) fn columns(inputs: &[Input<'_>]) -> Vec<usize> {
    let index: HashMap<&str, usize> = inputs.iter().enumerate().map(|(i, n)| (n.name, i)).collect();
    depths(inputs, &index)
}

/// Lays out the inputs (in flow order).
pub(crate) fn layout(inputs: &[Input<'_>]) -> Graph {
    if inputs.is_empty() {
        return Graph::default();
    }
    let index: HashMap<&str, usize> = inputs.iter().enumerate().map(|(i, n)| (n.name, i)).collect();
    let depth = depths(inputs, &index);
    let columns = depth.iter().copied().max().unwrap_or(0) + 1;
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for (i, d) in depth.iter().enumerate() {
        layers[*d].push(i);
    }
    // Row of each node within its column, refined column by column from the left.
    let mut row = vec![0.0_f64; inputs.len()];
    for layer in &mut layers {
        let keys: Vec<(f64, usize)> = layer
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let rows: Vec<f64> =
                    inputs[i].depends_on.iter().filter_map(|d| index.get(d.as_str())).map(|&j| row[j]).collect();
                let key = if rows.is_empty() { pos as f64 } else { rows.iter().sum::<f64>() / rows.len() as f64 };
                (key, i)
            })
            .collect();
        let mut sorted = keys;
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        *layer = sorted.into_iter().map(|(_, i)| i).collect();
        // Rows are centred: a column of n nodes spans rows -(n-1)/2 ..= (n-1)/2.
        let n = layer.len() as f64;
        for (pos, &i) in layer.iter().enumerate() {
            row[i] = pos as f64 - (n - 1.0) / 2.0;
        }
    }
    let tallest = layers.iter().map(Vec::len).max().unwrap_or(1) as u32;
    let height = PAD * 2 + tallest * NODE_H + tallest.saturating_sub(1) * ROW_GAP;
    let width = PAD * 2 + columns as u32 * NODE_W + (columns as u32 - 1) * COL_GAP;
    let mut pos = vec![(0_u32, 0_u32); inputs.len()];
    for (c, layer) in layers.iter().enumerate() {
        let n = layer.len() as u32;
        let span = n * NODE_H + n.saturating_sub(1) * ROW_GAP;
        let top = PAD + (height - PAD * 2 - span) / 2;
        for (r, &i) in layer.iter().enumerate() {
            pos[i] = (PAD + c as u32 * (NODE_W + COL_GAP), top + r as u32 * (NODE_H + ROW_GAP));
        }
    }
    let nodes = inputs
        .iter()
        .zip(&pos)
        .map(|(input, &(x, y))| Node {
            name: input.name.to_owned(),
            x,
            y,
            badge: (!input.status.is_empty()).then(|| Badge::sized(input.status, Size::Inline)),
            note: input.note.clone(),
            href: input.href.clone(),
            icon_x: x + 14,
            icon_y: y + (NODE_H - 20) / 2,
            text_x: x + 44,
            line1_y: y + 24,
            line2_y: y + 42,
            group: None,
        })
        .collect();
    let mut edges = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        for dep in input.depends_on {
            let Some(&j) = index.get(dep.as_str()) else { continue };
            let (x1, y1) = (pos[j].0 + NODE_W, pos[j].1 + NODE_H / 2);
            let (x2, y2) = (pos[i].0 - 4, pos[i].1 + NODE_H / 2);
            let bend = (x2.saturating_sub(x1)) / 2;
            edges.push(Edge {
                from: inputs[j].name.to_owned(),
                to: input.name.to_owned(),
                path: format!("M{x1} {y1} C{} {y1} {} {y2} {x2} {y2}", x1 + bend, x2 - bend),
                done: matches!(inputs[j].status, "Successful" | "Succeeded"),
            });
        }
    }
    Graph { node_w: NODE_W, node_h: NODE_H, width, height, nodes, edges }
}

/// Above this many environments a graph is drawn collapsed (see [`layout_grouped`]).
pub(crate) const GRAPH_LIMIT: usize = 60;
/// In a collapsed graph, levels of more than this many environments become a group node.
pub(crate) const LEVEL_LIMIT: usize = 8;
/// Environments of a collapsed level that need attention and are still drawn on their own.
pub(crate) const ATTENTION_SHOWN: usize = 3;

/// Statuses in the order group counts show them (worst first); others count as `Pending`.
const GROUP_ORDER: [&str; 6] = ["Failed", "Terminated", "Suspended", "Running", "Pending", "Successful"];

/// Which part of a large graph is drawn in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Expand {
    /// Large levels collapsed.
    #[default]
    None,
    /// This level (1 = the first column) drawn in full, the other large levels collapsed.
    Level(usize),
    /// Every environment drawn.
    All,
}

impl Expand {
    /// Reads the `expand` query parameter: a level number or `all`.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Expand, String> {
        match raw {
            None => Ok(Expand::None),
            Some("all") => Ok(Expand::All),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Expand::Level(n)),
                _ => Err(format!("expand={v:?} is neither a level number (1, 2, ...) nor \"all\"")),
            },
        }
    }

    /// The query value, `None` for the default.
    pub(crate) fn value(self) -> Option<String> {
        match self {
            Expand::None => None,
            Expand::Level(n) => Some(n.to_string()),
            Expand::All => Some("all".to_owned()),
        }
    }
}

/// A level of a drawn graph, for the summary beside it.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// Level number (1 = the first column).
    pub(crate) level: usize,
    /// Environments in it.
    pub(crate) count: usize,
    /// Whether it is drawn as a group node.
    pub(crate) collapsed: bool,
}

/// A drawing that may have collapsed levels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grouped {
    pub(crate) graph: Graph,
    /// Every level, in order; empty when the flow is small enough to be drawn in full anyway.
    pub(crate) levels: Vec<Level>,
    /// Environments drawn inside group nodes.
    pub(crate) hidden: usize,
}

fn quiet(status: &str) -> bool {
    matches!(status, "Successful" | "Pending" | "")
}

/// Lays out the inputs, collapsing large levels of a large flow (see the module documentation).
/// `group_href` is the link of a group node, given its level. A flow of at most [`GRAPH_LIMIT`]
/// environments is drawn exactly as [`layout`] draws it.
pub(crate) fn layout_grouped(inputs: &[Input<'_>], expand: Expand, group_href: impl Fn(usize) -> String) -> Grouped {
    if inputs.len() <= GRAPH_LIMIT {
        return Grouped { graph: layout(inputs), levels: Vec::new(), hidden: 0 };
    }
    let index: HashMap<&str, usize> = inputs.iter().enumerate().map(|(i, n)| (n.name, i)).collect();
    let depth = depths(inputs, &index);
    let mut by_level: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, d) in depth.iter().enumerate() {
        by_level.entry(*d).or_default().push(i);
    }
    // What stands for each input: itself, or its level's group.
    let mut stands_for: Vec<String> = inputs.iter().map(|n| n.name.to_owned()).collect();
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut levels = Vec::new();
    for (&d, members) in &by_level {
        let level = d + 1;
        let collapsed = members.len() > LEVEL_LIMIT && expand != Expand::All && expand != Expand::Level(level);
        levels.push(Level { level, count: members.len(), collapsed });
        if !collapsed {
            continue;
        }
        let mut loud: Vec<usize> = members.iter().copied().filter(|&i| !quiet(inputs[i].status)).collect();
        loud.sort_by_key(|&i| GROUP_ORDER.iter().position(|s| *s == inputs[i].status).unwrap_or(GROUP_ORDER.len()));
        loud.truncate(ATTENTION_SHOWN);
        let grouped: Vec<usize> = members.iter().copied().filter(|i| !loud.contains(i)).collect();
        for &i in &grouped {
            // A space never occurs in an environment name, so a group's name is its own.
            stands_for[i] = format!("level {level}");
        }
        groups.insert(level, grouped);
    }
    // The dependencies of what is drawn, each once.
    let mut drawn: Vec<(String, Vec<String>, &str, String, String)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let me = &stands_for[i];
        let slot = match seen.get(me) {
            Some(&slot) => slot,
            None => {
                let (status, note, href) = match groups.iter().find(|(_, m)| m.first() == Some(&i)) {
                    Some((&level, members)) => {
                        (group_status(members.iter().map(|&j| inputs[j].status)), String::new(), group_href(level))
                    }
                    None => (input.status, input.note.clone(), input.href.clone()),
                };
                seen.insert(me.clone(), drawn.len());
                drawn.push((me.clone(), Vec::new(), status, note, href));
                drawn.len() - 1
            }
        };
        for dep in input.depends_on {
            let Some(&j) = index.get(dep.as_str()) else { continue };
            let target = &stands_for[j];
            if target != me && !drawn[slot].1.contains(target) {
                drawn[slot].1.push(target.clone());
            }
        }
    }
    let reduced: Vec<Input<'_>> = drawn
        .iter()
        .map(|(name, deps, status, note, href)| Input {
            name,
            depends_on: deps,
            status,
            note: note.clone(),
            href: href.clone(),
        })
        .collect();
    let mut graph = layout(&reduced);
    let mut hidden = 0;
    for node in &mut graph.nodes {
        let Some(level) = node.name.strip_prefix("level ").and_then(|l| l.parse::<usize>().ok()) else { continue };
        let Some(members) = groups.get(&level) else { continue };
        hidden += members.len();
        node.group = Some(group(level, members.iter().map(|&j| inputs[j].status), node));
    }
    Grouped { graph, levels, hidden }
}

/// The status a group node is drawn with: the worst of its members'.
fn group_status<'a>(statuses: impl Iterator<Item = &'a str>) -> &'static str {
    let mut worst = GROUP_ORDER.len() - 1;
    let mut any = false;
    for s in statuses {
        any = true;
        worst = worst.min(GROUP_ORDER.iter().position(|g| *g == s).unwrap_or(4));
    }
    if any { GROUP_ORDER[worst] } else { "Pending" }
}

fn group<'a>(level: usize, statuses: impl Iterator<Item = &'a str>, node: &Node) -> Group {
    let mut counts = [0usize; GROUP_ORDER.len()];
    let mut count = 0;
    for s in statuses {
        count += 1;
        counts[GROUP_ORDER.iter().position(|g| *g == s).unwrap_or(4)] += 1;
    }
    // Drawn left to right on the second line while they fit in the node; the tooltip names them all.
    let mut x = node.x + 14;
    let right = node.x + NODE_W - 6;
    let mut out = Vec::new();
    let mut words = Vec::new();
    for (status, n) in GROUP_ORDER.iter().zip(counts) {
        if n == 0 {
            continue;
        }
        words.push(format!("{n} {status}"));
        let width = 16 + 8 * n.to_string().len() as u32;
        if x + width > right {
            continue;
        }
        let badge = Badge::sized(status, Size::Inline);
        out.push(GroupCount {
            status,
            count: n,
            class: badge.class(),
            icon: badge.tone.icon(),
            icon_x: x,
            text_x: x + 16,
        });
        x += width + 8;
    }
    Group { level, count, counts: out, text: words.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(name: &'a str, deps: &'a [String]) -> Input<'a> {
        Input { name, depends_on: deps, status: "Pending", note: String::new(), href: String::new() }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parallel_branches_share_a_column_and_joins_follow_them() {
        let (none, dev, both) = (names(&[]), names(&["dev"]), names(&["qa", "staging"]));
        let g = layout(&[input("dev", &none), input("qa", &dev), input("staging", &dev), input("prod", &both)]);
        let at = |n: &str| g.nodes.iter().find(|x| x.name == n).map(|x| (x.x, x.y)).unwrap_or_default();
        assert_eq!(at("qa").0, at("staging").0);
        assert_ne!(at("qa").1, at("staging").1);
        assert!(at("prod").0 > at("qa").0 && at("qa").0 > at("dev").0);
        // dev and prod sit between the two branches.
        assert_eq!(at("dev").1, at("prod").1);
        assert!(at("qa").1 < at("dev").1 && at("dev").1 < at("staging").1);
        assert_eq!(g.edges.len(), 4);
        assert_eq!(g.width, 2 * PAD + 3 * NODE_W + 2 * COL_GAP);
    }

    #[test]
    fn depth_is_the_longest_chain_and_cycles_do_not_loop() {
        let (none, a, ab) = (names(&[]), names(&["a"]), names(&["a", "b"]));
        let g = layout(&[input("a", &none), input("b", &a), input("c", &ab)]);
        let x = |n: &str| g.nodes.iter().find(|x| x.name == n).map(|x| x.x).unwrap_or_default();
        assert!(x("c") > x("b"), "c waits for b, so it is right of b");
        let (x_dep, y_dep) = (names(&["y"]), names(&["x"]));
        let cyclic = layout(&[input("x", &x_dep), input("y", &y_dep)]);
        assert_eq!(cyclic.nodes.len(), 2);
    }

    #[test]
    fn thirty_environments_stay_within_a_readable_size() {
        let none = names(&[]);
        let dev = names(&["dev"]);
        let mut inputs = vec![input("dev", &none)];
        let leaves: Vec<String> = (0..28).map(|i| format!("env-{i:02}")).collect();
        inputs.extend(leaves.iter().map(|n| input(n, &dev)));
        let prod_deps = leaves.clone();
        inputs.push(input("prod", &prod_deps));
        let g = layout(&inputs);
        assert_eq!(g.nodes.len(), 30);
        assert_eq!(g.edges.len(), 28 * 2);
        // Three columns; the tallest holds 28 nodes.
        assert_eq!(g.height, 2 * PAD + 28 * NODE_H + 27 * ROW_GAP);
    }
}
