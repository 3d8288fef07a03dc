//! The promotion-flow DAG: validation (cycles, unknown or duplicate environments), topological order,
//! joins, forks and layers for drawing.

use std::collections::{BTreeSet, VecDeque};

use crate::names::EnvName;
use crate::resources::PromotionFlow;

/// A problem with a flow's graph. `field` is relative to the flow's `spec`, e.g. `steps[1].dependsOn[0]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FlowError {
    /// Field path relative to `spec`.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
    /// For unknown environments: the flow's environments, so callers can suggest one.
    pub candidates: Vec<String>,
}

impl FlowError {
    fn new(field: String, message: String) -> Self {
        FlowError { field, message, candidates: Vec::new() }
    }
}

/// A validated flow graph. Node 0 is the trigger environment; then the steps in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowGraph {
    nodes: Vec<EnvName>,
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    topo: Vec<usize>,
}

impl FlowGraph {
    /// Builds and validates the graph, reporting every problem found.
    ///
    /// A step whose `dependsOn` is empty depends on the trigger environment.
    pub fn build(flow: &PromotionFlow) -> Result<FlowGraph, Vec<FlowError>> {
        let mut errors = Vec::new();
        let mut nodes = vec![flow.trigger_environment.clone()];
        let mut step_of_node = vec![None];
        if flow.steps.is_empty() {
            errors.push(FlowError::new("steps".into(), "a flow needs at least one step".into()));
        }
        for (i, step) in flow.steps.iter().enumerate() {
            if step.environment == flow.trigger_environment {
                errors.push(FlowError::new(
                    format!("steps[{i}].environment"),
                    format!(
                        "the trigger environment {:?} cannot also be a step; it is where the change enters",
                        step.environment.as_str()
                    ),
                ));
                continue;
            }
            if let Some(first) = flow.steps[..i].iter().position(|s| s.environment == step.environment) {
                errors.push(FlowError::new(
                    format!("steps[{i}].environment"),
                    format!("environment {:?} is already a step (steps[{first}])", step.environment.as_str()),
                ));
                continue;
            }
            nodes.push(step.environment.clone());
            step_of_node.push(Some(i));
        }
        let index_of = |env: &EnvName| nodes.iter().position(|n| n == env);
        let mut deps = vec![Vec::new(); nodes.len()];
        for (node, step) in step_of_node.iter().enumerate() {
            let Some(i) = *step else { continue };
            let step = &flow.steps[i];
            if step.depends_on.is_empty() {
                deps[node].push(0);
                continue;
            }
            for (k, dep) in step.depends_on.iter().enumerate() {
                let field = format!("steps[{i}].dependsOn[{k}]");
                match index_of(dep) {
                    None => errors.push(FlowError {
                        field,
                        message: format!("{:?} is not an environment of this flow", dep.as_str()),
                        candidates: nodes.iter().map(|n| n.to_string()).collect(),
                    }),
                    Some(d) if d == node => {
                        errors.push(FlowError::new(field, "a step cannot depend on its own environment".into()))
                    }
                    Some(d) if deps[node].contains(&d) => {
                        errors.push(FlowError::new(field, format!("{:?} is listed twice", dep.as_str())))
                    }
                    Some(d) => deps[node].push(d),
                }
            }
        }
        let mut dependents = vec![Vec::new(); nodes.len()];
        for (node, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(node);
            }
        }
        let topo = kahn(&deps, &dependents);
        if topo.len() < nodes.len() {
            for cycle in crate::graph::cycles(&deps) {
                let first = cycle[0];
                let names: Vec<&str> =
                    cycle.iter().chain(std::iter::once(&first)).map(|&n| nodes[n].as_str()).collect();
                let field = match step_of_node[first] {
                    Some(i) => format!("steps[{i}].dependsOn"),
                    None => "triggerEnvironment".into(),
                };
                errors.push(FlowError::new(field, format!("dependency cycle: {}", names.join(" -> "))));
            }
        }
        if errors.is_empty() { Ok(FlowGraph { nodes, deps, dependents, topo }) } else { Err(errors) }
    }

    /// The trigger environment.
    pub fn trigger(&self) -> &EnvName {
        &self.nodes[0]
    }

    /// Every environment: the trigger first, then the steps in list order.
    pub fn environments(&self) -> &[EnvName] {
        &self.nodes
    }

    /// Whether `env` is part of the flow.
    pub fn contains(&self, env: &EnvName) -> bool {
        self.index(env).is_some()
    }

    fn index(&self, env: &EnvName) -> Option<usize> {
        self.nodes.iter().position(|n| n == env)
    }

    fn names(&self, idx: &[usize]) -> Vec<&EnvName> {
        idx.iter().map(|&i| &self.nodes[i]).collect()
    }

    /// A topological order (dependencies first); ties keep list order, so it is deterministic.
    pub fn topo_order(&self) -> Vec<&EnvName> {
        self.names(&self.topo)
    }

    /// Direct dependencies of `env` (empty for the trigger or an unknown environment).
    pub fn dependencies(&self, env: &EnvName) -> Vec<&EnvName> {
        self.index(env).map(|i| self.names(&self.deps[i])).unwrap_or_default()
    }

    /// Environments that depend directly on `env`.
    pub fn dependents(&self, env: &EnvName) -> Vec<&EnvName> {
        self.index(env).map(|i| self.names(&self.dependents[i])).unwrap_or_default()
    }

    /// Every environment downstream of `env` (transitively), not including `env`.
    pub fn downstream(&self, env: &EnvName) -> BTreeSet<&EnvName> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<usize> = self.index(env).into_iter().collect();
        while let Some(n) = queue.pop_front() {
            for &d in &self.dependents[n] {
                if seen.insert(&self.nodes[d]) {
                    queue.push_back(d);
                }
            }
        }
        seen
    }

    /// A join waits for more than one environment.
    pub fn is_join(&self, env: &EnvName) -> bool {
        self.index(env).is_some_and(|i| self.deps[i].len() > 1)
    }

    /// A fork starts more than one environment.
    pub fn is_fork(&self, env: &EnvName) -> bool {
        self.index(env).is_some_and(|i| self.dependents[i].len() > 1)
    }

    /// Environments with no dependents: the flow's final environments.
    pub fn finals(&self) -> Vec<&EnvName> {
        self.topo.iter().filter(|&&i| self.dependents[i].is_empty()).map(|&i| &self.nodes[i]).collect()
    }

    /// Layers for a left-to-right drawing: each environment sits one layer after its deepest dependency.
    pub fn layers(&self) -> Vec<Vec<&EnvName>> {
        let mut depth = vec![0usize; self.nodes.len()];
        for &n in &self.topo {
            depth[n] = self.deps[n].iter().map(|&d| depth[d] + 1).max().unwrap_or(0);
        }
        let max = depth.iter().copied().max().unwrap_or(0);
        let mut layers = vec![Vec::new(); max + 1];
        for &n in &self.topo {
            layers[depth[n]].push(&self.nodes[n]);
        }
        layers
    }

    /// Environments whose dependencies all satisfy `done` and that are not `done` themselves
    /// nor excluded by `skip` — the ones that may start now.
    pub fn ready(&self, done: impl Fn(&EnvName) -> bool, skip: impl Fn(&EnvName) -> bool) -> Vec<&EnvName> {
        self.topo
            .iter()
            .filter(|&&n| {
                let env = &self.nodes[n];
                !done(env) && !skip(env) && self.deps[n].iter().all(|&d| done(&self.nodes[d]))
            })
            .map(|&n| &self.nodes[n])
            .collect()
    }
}

fn kahn(deps: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<usize> = (0..deps.len()).filter(|&n| remaining[n] == 0).collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for &d in &dependents[n] {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.insert(d);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{FlowStep, Hooks, PolicyFields};

    fn env(name: &str) -> EnvName {
        EnvName::new(name).unwrap()
    }

    fn flow(trigger: &str, steps: &[(&str, &[&str])]) -> PromotionFlow {
        PromotionFlow {
            name: crate::names::FlowName::new("f").unwrap(),
            description: None,
            version: None,
            trigger_environment: env(trigger),
            trigger_workflow: None,
            steps: steps
                .iter()
                .map(|(e, deps)| FlowStep {
                    environment: env(e),
                    depends_on: deps.iter().map(|d| env(d)).collect(),
                    policy: PolicyFields::default(),
                    hooks: Hooks::default(),
                })
                .collect(),
            hooks: Hooks::default(),
            timeout: crate::resources::DEFAULT_FLOW_TIMEOUT,
        }
    }

    fn strs(envs: Vec<&EnvName>) -> Vec<&str> {
        envs.into_iter().map(|e| e.as_str()).collect()
    }

    fn errors(f: &PromotionFlow) -> Vec<String> {
        FlowGraph::build(f).unwrap_err().into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn diamond_with_join() {
        let f = flow("dev", &[("prod", &["qa", "staging"]), ("qa", &["dev"]), ("staging", &["dev"])]);
        let g = FlowGraph::build(&f).unwrap();
        assert_eq!(strs(g.topo_order()), ["dev", "qa", "staging", "prod"]);
        assert!(g.is_join(&env("prod")));
        assert!(g.is_fork(&env("dev")));
        assert!(!g.is_join(&env("qa")));
        assert_eq!(strs(g.dependencies(&env("prod"))), ["qa", "staging"]);
        assert_eq!(strs(g.dependents(&env("dev"))), ["qa", "staging"]);
        assert_eq!(strs(g.finals()), ["prod"]);
        let layers: Vec<Vec<&str>> = g.layers().into_iter().map(strs).collect();
        assert_eq!(layers, vec![vec!["dev"], vec!["qa", "staging"], vec!["prod"]]);
        assert_eq!(g.downstream(&env("qa")).into_iter().map(|e| e.as_str()).collect::<Vec<_>>(), ["prod"]);
        assert_eq!(g.downstream(&env("dev")).len(), 3);
    }

    #[test]
    fn ready_waits_for_all_dependencies() {
        let f = flow("dev", &[("qa", &["dev"]), ("staging", &["dev"]), ("prod", &["qa", "staging"])]);
        let g = FlowGraph::build(&f).unwrap();
        let done = |set: &'static [&'static str]| move |e: &EnvName| set.contains(&e.as_str());
        assert_eq!(strs(g.ready(done(&["dev"]), |_| false)), ["qa", "staging"]);
        assert_eq!(strs(g.ready(done(&["dev", "qa"]), |_| false)), ["staging"]);
        assert_eq!(strs(g.ready(done(&["dev", "qa", "staging"]), |_| false)), ["prod"]);
        assert_eq!(strs(g.ready(done(&["dev"]), |e| e.as_str() == "qa")), ["staging"]);
    }

    #[test]
    fn empty_depends_on_means_trigger() {
        let g = FlowGraph::build(&flow("dev", &[("qa", &[])])).unwrap();
        assert_eq!(strs(g.dependencies(&env("qa"))), ["dev"]);
    }

    #[test]
    fn two_node_cycle() {
        let f = flow("dev", &[("qa", &["staging"]), ("staging", &["qa"])]);
        assert_eq!(errors(&f), ["steps[0].dependsOn: dependency cycle: qa -> staging -> qa"]);
    }

    #[test]
    fn three_node_cycle_and_dependents_of_it() {
        let f = flow("dev", &[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &["c"])]);
        assert_eq!(errors(&f), ["steps[0].dependsOn: dependency cycle: a -> b -> c -> a"]);
    }

    #[test]
    fn structural_errors_all_reported() {
        let f = flow("dev", &[("dev", &[]), ("qa", &["dev", "dev"]), ("qa", &["dev"]), ("prod", &["qa2", "prod"])]);
        assert_eq!(
            errors(&f),
            [
                "steps[0].environment: the trigger environment \"dev\" cannot also be a step; it is where the change enters",
                "steps[2].environment: environment \"qa\" is already a step (steps[1])",
                "steps[1].dependsOn[1]: \"dev\" is listed twice",
                "steps[3].dependsOn[0]: \"qa2\" is not an environment of this flow",
                "steps[3].dependsOn[1]: a step cannot depend on its own environment",
            ]
        );
        let unknown = FlowGraph::build(&flow("dev", &[("qa", &["qa2"])])).unwrap_err();
        assert_eq!(unknown[0].candidates, ["dev", "qa"]);
    }

    #[test]
    fn no_steps() {
        assert_eq!(errors(&flow("dev", &[])), ["steps: a flow needs at least one step"]);
    }

    #[test]
    fn two_separate_cycles() {
        let f = flow("dev", &[("a", &["b"]), ("b", &["a"]), ("c", &["d"]), ("d", &["c"])]);
        assert_eq!(
            errors(&f),
            ["steps[0].dependsOn: dependency cycle: a -> b -> a", "steps[2].dependsOn: dependency cycle: c -> d -> c"]
        );
    }
}
