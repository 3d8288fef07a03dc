//! Builders and event helpers shared by the tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_model::resources::{StepKind, Workflow, WorkflowBackend, WorkflowParam, WorkflowStep};
use ferry_model::status::StepStatus;
use ferry_model::{ParamName, StepName, WorkflowName};
use ferry_runner::{LogLine, RunEvent, RunHandle, RunOutcome, RunSpec, Runner, RunnerConfig};
use tempfile::TempDir;
use tokio::sync::mpsc::UnboundedReceiver;

/// Longest time any test waits for anything: only a bound against hangs.
pub const LIMIT: Duration = Duration::from_secs(60);

pub fn name(text: &str) -> StepName {
    StepName::new(text).expect("step name")
}

/// A `run` step that runs after the previous one.
pub fn step(step: &str, script: &str) -> WorkflowStep {
    WorkflowStep {
        name: name(step),
        kind: StepKind::Run(script.to_owned()),
        depends_on: None,
        timeout: None,
        retries: 0,
    }
}

/// A `run` step with an explicit `dependsOn`.
pub fn step_after(step_name: &str, deps: &[&str], script: &str) -> WorkflowStep {
    WorkflowStep { depends_on: Some(deps.iter().map(|d| name(d)).collect()), ..step(step_name, script) }
}

pub fn approval(step_name: &str, message: &str) -> WorkflowStep {
    WorkflowStep { kind: StepKind::Approval { message: message.to_owned() }, ..step(step_name, "") }
}

pub fn workflow(steps: Vec<WorkflowStep>) -> Workflow {
    Workflow {
        name: WorkflowName::new("test").expect("workflow name"),
        timeout: None,
        params: vec![],
        steps,
        backend: WorkflowBackend::Local,
    }
}

pub fn param(param: &str, default: Option<&str>) -> WorkflowParam {
    WorkflowParam {
        name: ParamName::new(param).expect("param name"),
        default: default.map(str::to_owned),
        secret: false,
    }
}

/// A `secret: true` parameter.
pub fn secret_param(param_name: &str, default: Option<&str>) -> WorkflowParam {
    WorkflowParam { secret: true, ..param(param_name, default) }
}

/// A temporary directory used as the steps' working directory and the runner's work directory.
pub struct Fixture {
    pub dir: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn cwd(&self) -> PathBuf {
        self.dir.path().join("cwd")
    }

    /// Test defaults: fast retries, a short kill grace.
    pub fn config(&self) -> RunnerConfig {
        RunnerConfig {
            work_dir: self.dir.path().join("work"),
            retry_backoff: Duration::from_millis(10),
            retry_backoff_max: Duration::from_millis(40),
            kill_grace: Duration::from_secs(5),
            ..RunnerConfig::default()
        }
    }

    pub fn runner(&self) -> Runner {
        Runner::new(self.config())
    }

    pub fn spec(&self, workflow: Workflow) -> RunSpec {
        std::fs::create_dir_all(self.cwd()).expect("cwd");
        RunSpec {
            run_id: "run-1".to_owned(),
            workflow,
            env: BTreeMap::new(),
            cwd: self.cwd(),
            completed: BTreeMap::new(),
            labels: BTreeMap::new(),
            attempt: 1,
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.cwd().join(file)
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    pub fn exists(&self, file: &str) -> bool {
        self.path(file).exists()
    }
}

/// A started run and the events seen so far.
pub struct Run {
    pub handle: RunHandle,
    events: UnboundedReceiver<RunEvent>,
    pub seen: Vec<RunEvent>,
}

impl Run {
    pub fn start(runner: &Runner, spec: RunSpec) -> Self {
        let mut handle = runner.start(spec);
        let events = handle.take_events().expect("events");
        Self { handle, events, seen: Vec::new() }
    }

    /// Waits for the next event matching `pred` (and records everything on the way).
    pub async fn until(&mut self, what: &str, pred: impl Fn(&RunEvent) -> bool) -> RunEvent {
        let found = tokio::time::timeout(LIMIT, async {
            while let Some(event) = self.events.recv().await {
                self.seen.push(event.clone());
                if pred(&event) {
                    return Some(event);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => event,
            Ok(None) => panic!("run ended without {what}; events: {:#?}", self.seen),
            Err(_) => panic!("no {what} within {LIMIT:?}; events: {:#?}", self.seen),
        }
    }

    /// Reads every event up to `Finished`, then the outcome.
    pub async fn finish(mut self) -> Finished {
        self.until("Finished", |e| matches!(e, RunEvent::Finished { .. })).await;
        let outcome = tokio::time::timeout(LIMIT, self.handle.wait()).await.expect("outcome in time");
        Finished { outcome, events: self.seen }
    }
}

pub struct Finished {
    pub outcome: RunOutcome,
    pub events: Vec<RunEvent>,
}

impl Finished {
    pub fn status(&self, step: &str) -> StepStatus {
        self.outcome.steps.get(step).unwrap_or_else(|| panic!("no step {step}")).status
    }

    pub fn step(&self, step: &str) -> &ferry_runner::StepOutcome {
        self.outcome.steps.get(step).unwrap_or_else(|| panic!("no step {step}"))
    }

    /// Position of the first event matching `pred`.
    pub fn position(&self, what: &str, pred: impl Fn(&RunEvent) -> bool) -> usize {
        self.events.iter().position(pred).unwrap_or_else(|| panic!("no {what} in {:#?}", self.events))
    }

    pub fn started(&self, step: &str, attempt: u32) -> usize {
        self.position(
            &format!("{step} started"),
            |e| matches!(e, RunEvent::StepStarted { step: s, attempt: a, .. } if s.as_str() == step && *a == attempt),
        )
    }

    pub fn finished(&self, step: &str) -> usize {
        self.position(
            &format!("{step} finished"),
            |e| matches!(e, RunEvent::StepFinished { step: s, .. } if s.as_str() == step),
        )
    }

    /// Every captured line of a step, in order.
    pub fn log(&self, step: &str) -> Vec<LogLine> {
        self.events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Log { step: s, lines } if s.as_str() == step => Some(lines.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn log_text(&self, step: &str) -> Vec<String> {
        self.log(step).into_iter().map(|l| l.text).collect()
    }
}

/// Runs a workflow to its end.
pub async fn run_to_end(runner: &Runner, spec: RunSpec) -> Finished {
    Run::start(runner, spec).finish().await
}

/// Whether a process is gone: no /proc entry, or a zombie (dead, waiting for a parent that may never
/// reap it, as with a minimal init).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
            matches!(state, Some("Z" | "X" | "x"))
        }
    }
}

/// Waits until the process is gone: it has been killed (SIGKILL is delivered before `wait` returns),
/// and the kernel may still be finishing an exit in progress. Polled, up to [`LIMIT`].
pub async fn assert_gone(pid: u32) {
    let gone = tokio::time::timeout(LIMIT, async {
        while !process_gone(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "process {pid} survived the end of its step");
}

/// Waits until `path` exists and has a complete line; returns the line. Polled, up to [`LIMIT`].
pub async fn read_line_when_written(path: &Path) -> String {
    let read = tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Some((line, _)) = text.split_once('\n')
            {
                return line.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    read.unwrap_or_else(|_| panic!("{} was never written", path.display()))
}
