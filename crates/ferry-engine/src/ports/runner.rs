//! The workflow-runner port over the local runner of `ferry-runner`, and the router between it and
//! the Argo Workflows runner.

use std::sync::Arc;

use ferry_model::names::StepName;
use ferry_model::resources::{Workflow, WorkflowBackend};
use ferry_model::status::StepStatus;
use ferry_runner::{RunControl, RunEvent, RunSpec, Runner, RunnerConfig};
use tokio::sync::mpsc;

use super::{RunController, StartedRun, WorkflowRunner};
use crate::engine::EngineConfig;

/// Steps as `sh -e -c` processes on this machine (`ferry-runner`).
#[derive(Debug, Clone)]
pub struct LocalRunner {
    runner: Runner,
}

impl LocalRunner {
    /// A runner working under `data_dir/runner` with the engine's step limit and kill grace. Steps a
    /// Ferry process that died left running there are stopped first.
    pub fn new(config: &EngineConfig) -> LocalRunner {
        let work_dir = config.data_dir.join("runner");
        let reaped = ferry_runner::reap_orphans(&work_dir);
        if reaped > 0 {
            tracing::warn!(count = reaped, "stopped workflow processes left by an earlier Ferry process");
        }
        LocalRunner {
            runner: Runner::new(RunnerConfig {
                max_concurrent_steps: config.max_concurrent_steps.max(1),
                work_dir,
                kill_grace: config.kill_grace,
                ..RunnerConfig::default()
            }),
        }
    }
}

impl WorkflowRunner for LocalRunner {
    fn start(&self, spec: RunSpec) -> StartedRun {
        let mut handle = self.runner.start(spec);
        let control = Arc::new(LocalControl(handle.control()));
        let events = handle.take_events().unwrap_or_else(|| {
            // A fresh handle always has its events; answer a run that reports nothing as an error.
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = tx.send(RunEvent::Finished {
                status: StepStatus::Error,
                error: Some("runner gave no events".into()),
                at: jiff::Timestamp::now(),
            });
            rx
        });
        StartedRun { control, events }
    }
}

/// Routes each run to the runner of its workflow's backend: `spec.argo` workflows to `argo`, the
/// others to `local`.
#[derive(Clone)]
pub struct BackendRunner {
    /// Runs `spec.steps` (the local runner).
    pub local: Arc<dyn WorkflowRunner>,
    /// Runs `spec.argo` (the Argo Workflows runner).
    pub argo: Arc<dyn WorkflowRunner>,
}

impl BackendRunner {
    fn for_workflow(&self, workflow: &Workflow) -> &Arc<dyn WorkflowRunner> {
        match workflow.backend {
            WorkflowBackend::Local => &self.local,
            WorkflowBackend::Argo { .. } => &self.argo,
        }
    }
}

impl WorkflowRunner for BackendRunner {
    fn start(&self, spec: RunSpec) -> StartedRun {
        self.for_workflow(&spec.workflow).clone().start(spec)
    }

    fn missing_settings(&self, workflow: &Workflow) -> Option<String> {
        self.for_workflow(workflow).missing_settings(workflow)
    }
}

struct LocalControl(RunControl);

impl RunController for LocalControl {
    fn terminate(&self, reason: String) {
        self.0.terminate(reason);
    }

    fn approve(&self, step: &StepName, actor: String) -> Result<(), String> {
        self.0.approve(step, actor).map_err(|e| e.to_string())
    }
}
