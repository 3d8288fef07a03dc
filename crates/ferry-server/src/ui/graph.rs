//! The environment graph: a layered drawing of a flow's DAG, left to right.
//!
//! Each environment sits in the column of its depth (the longest `dependsOn` chain before it), so
//! parallel branches share a column and a join sits right of all its dependencies. Within a column,
//! environments are ordered by the mean row of their dependencies (the barycentre heuristic), which
//! keeps edges short and mostly uncrossed; ties keep the flow's order. Columns are centred
//! vertically. Edges are cubic curves from the right edge of a dependency to the left edge of the
//! environment that waits for it.

use std::collections::HashMap;

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
