//! Cycle detection for small dependency graphs: promotion flows, and the steps of workflows (checked by
//! the configuration loader and again by the runner).

use std::collections::{BTreeSet, VecDeque};

/// One shortest cycle per group of nodes that depend on each other, each listed in execution order
/// (a dependency before its dependent) from the group's lowest node. `deps[n]` are the nodes `n` waits for.
pub fn cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = deps.len();
    let mut dependents = vec![Vec::new(); n];
    for (node, ds) in deps.iter().enumerate() {
        for &d in ds {
            if d < n {
                dependents[d].push(node);
            }
        }
    }
    // Kahn's algorithm: whatever cannot be ordered lies on or behind a cycle.
    let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut ordered = vec![false; n];
    while let Some(i) = ready.pop_front() {
        ordered[i] = true;
        for &d in &dependents[i] {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push_back(d);
            }
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for start in (0..n).filter(|&i| !ordered[i]) {
        if assigned.contains(&start) {
            continue;
        }
        let Some(cycle) = shortest_cycle(&dependents, start) else { continue };
        let from_start = reachable(&dependents, start);
        for m in (0..n).filter(|&m| !ordered[m]) {
            if m == start || (from_start.contains(&m) && reachable(&dependents, m).contains(&start)) {
                assigned.insert(m);
            }
        }
        out.push(cycle);
    }
    out
}

fn reachable(edges: &[Vec<usize>], from: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = edges[from].clone();
    while let Some(n) = stack.pop() {
        if seen.insert(n) {
            stack.extend(edges[n].iter().copied());
        }
    }
    seen
}

/// The shortest cycle through `start` (breadth-first), as its nodes from `start`.
fn shortest_cycle(edges: &[Vec<usize>], start: usize) -> Option<Vec<usize>> {
    let mut parent = vec![usize::MAX; edges.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for &next in &edges[n] {
            if next == start {
                let mut path = vec![n];
                while let Some(&last) = path.last() {
                    if last == start {
                        break;
                    }
                    path.push(parent[last]);
                }
                path.reverse();
                return Some(path);
            }
            if parent[next] == usize::MAX {
                parent[next] = n;
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_cycle_once() {
        // 0 <- 1 <- 2 <- 1 (1 and 2 form a cycle), 3 <- 3 (self loop), 4 after 2
        let deps = vec![vec![], vec![0, 2], vec![1], vec![3], vec![2]];
        assert_eq!(cycles(&deps), vec![vec![1, 2], vec![3]]);
    }

    #[test]
    fn three_node_cycle_in_execution_order() {
        // a waits for c, b waits for a, c waits for b: a -> b -> c -> a
        let deps = vec![vec![2], vec![0], vec![1]];
        assert_eq!(cycles(&deps), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn acyclic_graphs_have_none() {
        assert!(cycles(&[vec![], vec![0], vec![0, 1]]).is_empty());
        assert!(cycles(&[]).is_empty());
    }
}
