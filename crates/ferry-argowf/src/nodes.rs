//! An Argo workflow's nodes as Ferry's steps (SPEC §4, §6.4): the nodes that do work (pods,
//! containers, suspends, HTTP and plugin nodes, skipped nodes; a retried node once, with its
//! attempts) become steps; the structure around them (steps, step groups, DAGs, task groups) does
//! not; the workflow itself is the run's first step.

use std::collections::{BTreeMap, BTreeSet};

use ferry_model::status::StepStatus;

use crate::names::{POD_NAME_FORMAT, pod_name};
use crate::types::{NodeStatus, Workflow};

/// A node phase as a step status: Pending, Running, Succeeded → Success, Failed, Error, and
/// Skipped or Omitted → Success (shown as skipped). An unknown phase counts as Pending.
pub fn phase_status(phase: Option<&str>) -> StepStatus {
    match phase {
        Some("Running") => StepStatus::Running,
        Some("Succeeded" | "Skipped" | "Omitted") => StepStatus::Success,
        Some("Failed") => StepStatus::Failed,
        Some("Error") => StepStatus::Error,
        _ => StepStatus::Pending,
    }
}

/// Whether a phase is a skip (`Skipped`, `Omitted`).
pub fn is_skip(phase: Option<&str>) -> bool {
    matches!(phase, Some("Skipped" | "Omitted"))
}

/// One node that is a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStep {
    /// The node's id.
    pub id: String,
    /// What people call it (`displayName`).
    pub display: String,
    /// Its status.
    pub status: StepStatus,
    /// Its raw phase.
    pub phase: Option<String>,
    /// Argo's message.
    pub message: Option<String>,
    /// The pod whose log is the step's log (the last attempt's for a retried node).
    pub pod: Option<String>,
    /// The container's exit code, when known.
    pub exit_code: Option<i32>,
    /// Attempts made (the children of a retry node; 1 otherwise).
    pub attempts: u32,
    /// RFC 3339 start, for ordering.
    pub started_at: Option<String>,
    /// A suspend node waiting to be resumed (`type: Suspend`, phase Running): the step waits for an
    /// approval (`PUT …/resume`).
    pub suspended: bool,
}

const WORK: &[&str] = &["Pod", "Container", "Suspend", "Skipped", "HTTP", "Plugin", "Retry"];

/// The workflow's steps (without the workflow itself), in the order of the workflow's tree, then by
/// start and id.
pub fn node_steps(wf: &Workflow) -> Vec<NodeStep> {
    let wf_name = wf.metadata.name.clone().unwrap_or_default();
    let v1 = wf.metadata.annotations.get(POD_NAME_FORMAT).is_some_and(|v| v == "v1");
    let nodes = &wf.status.nodes;
    let under_retry: BTreeSet<&str> = nodes
        .values()
        .filter(|n| n.kind.as_deref() == Some("Retry"))
        .flat_map(|n| n.children.iter().map(String::as_str))
        .collect();
    let pod_of = |n: &NodeStatus| pod_name(&wf_name, &n.name, n.template_name.as_deref(), &n.id, v1);
    let mut steps: Vec<NodeStep> = nodes
        .values()
        .filter(|n| n.name != wf_name && n.id != wf_name && !under_retry.contains(n.id.as_str()))
        .filter(|n| n.kind.as_deref().is_some_and(|k| WORK.contains(&k)))
        .map(|n| {
            let (pod, attempts, exit_from) = if n.kind.as_deref() == Some("Retry") {
                let last = n.children.iter().filter_map(|c| nodes.get(c)).next_back();
                let attempts = u32::try_from(n.children.len()).unwrap_or(u32::MAX).max(1);
                (last.map(pod_of), attempts, last.unwrap_or(n))
            } else if matches!(n.kind.as_deref(), Some("Pod" | "Container")) {
                (Some(pod_of(n)), 1, n)
            } else {
                (None, 1, n)
            };
            let exit_code = exit_from
                .outputs
                .as_ref()
                .or(n.outputs.as_ref())
                .and_then(|o| o.exit_code.as_deref())
                .and_then(|c| c.trim().parse().ok());
            NodeStep {
                id: n.id.clone(),
                display: n.display_name.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| n.name.clone()),
                status: phase_status(n.phase.as_deref()),
                phase: n.phase.clone(),
                message: n.message.clone().filter(|m| !m.is_empty()),
                pod,
                exit_code,
                attempts,
                started_at: n.started_at.clone(),
                suspended: n.kind.as_deref() == Some("Suspend") && n.phase.as_deref() == Some("Running"),
            }
        })
        .collect();
    let order = tree_order(wf, &wf_name);
    let rank = |s: &NodeStep| order.get(s.id.as_str()).copied().unwrap_or(usize::MAX);
    steps.sort_by(|a, b| {
        (rank(a), a.started_at.is_none(), &a.started_at, &a.id).cmp(&(
            rank(b),
            b.started_at.is_none(),
            &b.started_at,
            &b.id,
        ))
    });
    steps
}

/// The nodes in the order a walk of the tree from the workflow's root meets them (the order of the
/// template's steps and of a DAG's dependencies).
fn tree_order<'a>(wf: &'a Workflow, root: &'a str) -> BTreeMap<&'a str, usize> {
    let mut order = BTreeMap::new();
    let mut stack: Vec<&str> = vec![root];
    while let Some(id) = stack.pop() {
        if order.contains_key(id) {
            continue;
        }
        let next = order.len();
        order.insert(id, next);
        if let Some(node) = wf.status.nodes.get(id) {
            stack.extend(node.children.iter().rev().map(String::as_str));
        }
    }
    order
}

/// The workflow's output parameters (`status.outputs.parameters`) that can be environment variables
/// of later workflows: names of letters, digits and `_`, not starting with a digit or `FERRY_`.
pub fn workflow_outputs(wf: &Workflow) -> BTreeMap<String, String> {
    let valid = |name: &str| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with("FERRY_")
    };
    wf.status
        .outputs
        .iter()
        .flat_map(|o| o.parameters.iter())
        .filter(|p| valid(&p.name))
        .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
        .collect()
}

/// The value of the workflow parameter `name` (`spec.arguments.parameters`).
pub fn parameter<'a>(wf: &'a Workflow, name: &str) -> Option<&'a str> {
    wf.spec.arguments.parameters.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
}

/// Gives each node a step name that Ferry accepts (lowercase letters, digits, `-`, `.`, `_`,
/// alphanumeric at both ends) and that no other node of the run has. A node keeps its name for the
/// life of the namer.
#[derive(Debug, Default)]
pub struct StepNamer {
    by_node: BTreeMap<String, String>,
    taken: BTreeSet<String>,
}

impl StepNamer {
    /// A namer where `reserved` names (the workflow's own step) are taken.
    pub fn new(reserved: &[&str]) -> StepNamer {
        StepNamer { by_node: BTreeMap::new(), taken: reserved.iter().map(|s| (*s).to_owned()).collect() }
    }

    /// The step name of `step`.
    pub fn name(&mut self, step: &NodeStep) -> String {
        if let Some(name) = self.by_node.get(&step.id) {
            return name.clone();
        }
        let base = step_name(&step.display);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        self.by_node.insert(step.id.clone(), name.clone());
        name
    }
}

/// `display` as a step name: lowercased, other characters turned into `-`, runs folded, trimmed to
/// alphanumeric ends, at most 200 characters; `node` when nothing is left.
pub fn step_name(display: &str) -> String {
    let mut out = String::new();
    for c in display.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(200);
    let trimmed = out.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() { "node".to_owned() } else { trimmed.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_map_as_spec_section_4_says() {
        let cases = [
            (Some("Pending"), StepStatus::Pending),
            (Some("Running"), StepStatus::Running),
            (Some("Succeeded"), StepStatus::Success),
            (Some("Failed"), StepStatus::Failed),
            (Some("Error"), StepStatus::Error),
            (Some("Skipped"), StepStatus::Success),
            (Some("Omitted"), StepStatus::Success),
            (Some("Weird"), StepStatus::Pending),
            (None, StepStatus::Pending),
        ];
        for (phase, status) in cases {
            assert_eq!(phase_status(phase), status, "{phase:?}");
        }
        assert!(is_skip(Some("Omitted")) && !is_skip(Some("Succeeded")));
    }

    #[test]
    fn step_names_are_valid_and_unique() {
        assert_eq!(step_name("test(0:a)"), "test-0-a");
        assert_eq!(step_name("Build_Image"), "build_image");
        assert_eq!(step_name("(())"), "node");
        let step = |id: &str, display: &str| NodeStep {
            id: id.into(),
            display: display.into(),
            status: StepStatus::Pending,
            phase: None,
            message: None,
            pod: None,
            exit_code: None,
            attempts: 1,
            started_at: None,
            suspended: false,
        };
        let mut namer = StepNamer::new(&["check"]);
        assert_eq!(namer.name(&step("a", "check")), "check-2");
        assert_eq!(namer.name(&step("b", "build")), "build");
        assert_eq!(namer.name(&step("c", "build")), "build-2");
        assert_eq!(namer.name(&step("b", "renamed")), "build");
        for name in ["check-2", "build", "test-0-a", "node"] {
            assert!(ferry_model::names::StepName::new(name).is_ok(), "{name}");
        }
    }
}
