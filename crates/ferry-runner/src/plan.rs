//! Validation of a workflow about to run and its step DAG.

use std::collections::{BTreeMap, HashMap};

use ferry_model::StepName;
use ferry_model::resources::{Workflow, WorkflowBackend, WorkflowStep};

use crate::RunnerError;

/// A validated workflow: steps in list order with their dependencies as indices.
#[derive(Debug)]
pub(crate) struct Plan {
    pub steps: Vec<PlannedStep>,
}

#[derive(Debug)]
pub(crate) struct PlannedStep {
    pub def: WorkflowStep,
    /// Direct dependencies.
    pub deps: Vec<usize>,
    /// Transitive dependencies, ascending (= workflow list order).
    pub ancestors: Vec<usize>,
}

/// A validation failure and the step it is reported on (`None` when the workflow has no steps).
pub(crate) type Invalid = (Option<StepName>, RunnerError);

/// Checks the workflow and the variables it will get; builds the DAG.
pub(crate) fn plan(workflow: &Workflow, env: &BTreeMap<String, String>) -> Result<Plan, Invalid> {
    let first = workflow.steps.first().map(|s| s.name.clone());
    if workflow.backend != WorkflowBackend::Local {
        return Err((first, RunnerError::NotLocal { workflow: workflow.name.to_string() }));
    }
    let mut index: HashMap<&StepName, usize> = HashMap::new();
    for (i, step) in workflow.steps.iter().enumerate() {
        if index.insert(&step.name, i).is_some() {
            return Err((Some(step.name.clone()), RunnerError::DuplicateStep { step: step.name.clone() }));
        }
    }
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(workflow.steps.len());
    for (i, step) in workflow.steps.iter().enumerate() {
        let list = match &step.depends_on {
            None => i.checked_sub(1).into_iter().collect(),
            Some(names) => {
                let mut list = Vec::with_capacity(names.len());
                for name in names {
                    let Some(&dep) = index.get(name) else {
                        let error =
                            RunnerError::UnknownDependency { step: step.name.clone(), dependency: name.clone() };
                        return Err((Some(step.name.clone()), error));
                    };
                    if !list.contains(&dep) {
                        list.push(dep);
                    }
                }
                list
            }
        };
        deps.push(list);
    }
    if let Some(mut cycle) = ferry_model::graph::cycles(&deps).into_iter().next() {
        // Shown closed: the first step again at the end.
        if let Some(&first) = cycle.first() {
            cycle.push(first);
        }
        let names: Vec<StepName> = cycle.iter().map(|&i| workflow.steps[i].name.clone()).collect();
        let reported = cycle.iter().copied().min().map(|i| workflow.steps[i].name.clone());
        return Err((reported, RunnerError::Cycle { cycle: names }));
    }
    for param in &workflow.params {
        if param.default.is_none() && !env.contains_key(param.name.as_str()) {
            return Err((first, RunnerError::MissingParam { param: param.name.to_string() }));
        }
    }
    for (name, value) in env {
        let reason = if name.is_empty() {
            Some("the name is empty")
        } else if name.contains('=') || name.contains('\0') {
            Some("the name contains '=' or a NUL byte")
        } else if value.contains('\0') {
            Some("the value contains a NUL byte")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err((first, RunnerError::InvalidEnv { name: name.clone(), reason }));
        }
    }
    let ancestors = ancestors(&deps);
    let steps = workflow
        .steps
        .iter()
        .cloned()
        .zip(deps)
        .zip(ancestors)
        .map(|((def, deps), ancestors)| PlannedStep { def, deps, ancestors })
        .collect();
    Ok(Plan { steps })
}

/// Transitive dependencies of every node of an acyclic graph, ascending.
fn ancestors(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = deps.len();
    let mut memo: Vec<Option<Vec<bool>>> = vec![None; n];
    fn visit(node: usize, deps: &[Vec<usize>], memo: &mut Vec<Option<Vec<bool>>>) -> Vec<bool> {
        if let Some(set) = &memo[node] {
            return set.clone();
        }
        let mut set = vec![false; deps.len()];
        for &dep in &deps[node] {
            set[dep] = true;
            for (i, reached) in visit(dep, deps, memo).into_iter().enumerate() {
                set[i] |= reached;
            }
        }
        memo[node] = Some(set.clone());
        set
    }
    (0..n)
        .map(|i| visit(i, deps, &mut memo).iter().enumerate().filter(|(_, r)| **r).map(|(i, _)| i).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use ferry_model::WorkflowName;
    use ferry_model::resources::{StepKind, WorkflowParam};

    use super::*;

    fn step(name: &str, deps: Option<&[&str]>) -> WorkflowStep {
        WorkflowStep {
            name: StepName::new(name).expect("name"),
            kind: StepKind::Run("true".into()),
            depends_on: deps.map(|d| d.iter().map(|n| StepName::new(*n).expect("name")).collect()),
            timeout: None,
            retries: 0,
        }
    }

    fn workflow(steps: Vec<WorkflowStep>) -> Workflow {
        Workflow {
            name: WorkflowName::new("wf").expect("name"),
            timeout: None,
            params: vec![],
            steps,
            backend: WorkflowBackend::Local,
        }
    }

    fn check_err(steps: Vec<WorkflowStep>, step: &str, message: &str) {
        let (at, err) = plan(&workflow(steps), &BTreeMap::new()).expect_err("invalid");
        assert_eq!(at.as_ref().map(StepName::as_str), Some(step));
        assert!(err.to_string().contains(message), "{err}");
    }

    #[test]
    fn default_dependency_is_the_previous_step() {
        let plan = plan(&workflow(vec![step("a", None), step("b", None), step("c", Some(&[]))]), &BTreeMap::new())
            .expect("valid");
        let deps: Vec<&[usize]> = plan.steps.iter().map(|s| s.deps.as_slice()).collect();
        assert_eq!(deps, [&[][..], &[0], &[]]);
    }

    #[test]
    fn ancestors_are_transitive() {
        let steps = vec![step("a", None), step("b", None), step("c", Some(&["b"])), step("d", Some(&["a", "c"]))];
        let plan = plan(&workflow(steps), &BTreeMap::new()).expect("valid");
        assert_eq!(plan.steps[3].ancestors, [0, 1, 2]);
        assert_eq!(plan.steps[2].ancestors, [0, 1]);
    }

    #[test]
    fn invalid_workflows() {
        check_err(vec![step("a", None), step("a", None)], "a", "defined more than once");
        check_err(vec![step("a", None), step("b", Some(&["zz"]))], "b", "depends on \"zz\"");
        check_err(
            vec![step("a", Some(&["c"])), step("b", Some(&["a"])), step("c", Some(&["b"]))],
            "a",
            "cycle (a → b → c → a)",
        );
        check_err(vec![step("a", Some(&["a"]))], "a", "cycle (a → a)");
    }

    #[test]
    fn missing_param_and_bad_env() {
        let mut wf = workflow(vec![step("a", None)]);
        wf.params.push(WorkflowParam {
            name: ferry_model::ParamName::new("P").expect("name"),
            default: None,
            secret: false,
        });
        let (at, err) = plan(&wf, &BTreeMap::new()).expect_err("missing");
        assert_eq!(at.map(String::from).as_deref(), Some("a"));
        assert!(err.to_string().contains("parameter P is required"), "{err}");
        let env = BTreeMap::from([("P".to_owned(), "x\0y".to_owned())]);
        let (_, err) = plan(&wf, &env).expect_err("nul");
        assert!(err.to_string().contains("NUL"), "{err}");
        assert!(!err.to_string().contains("x\0y"));
    }
}
