//! A workflow runner that plays scripted step results instead of running processes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry_model::names::StepName;
use ferry_model::resources::{StepKind, WorkflowStep};
use ferry_model::status::{StepStatus, rollup_steps};
use ferry_runner::{APPROVED_BY, LogLine, LogStream, Outputs, RunEvent, RunSpec};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot, watch};

use crate::ports::{BoxFuture, Clock, RunController, StartedRun, WorkflowRunner};

/// What a scripted `run` step does.
#[derive(Debug, Clone)]
pub enum FakeStep {
    /// Prints `log` to stdout and succeeds with `outputs`.
    Succeed {
        /// Stdout lines.
        log: Vec<String>,
        /// `$FERRY_OUTPUT` values.
        outputs: Outputs,
    },
    /// Prints `log` to stderr and exits with `exit_code`.
    Fail {
        /// Stderr lines.
        log: Vec<String>,
        /// Its exit code (not 0).
        exit_code: i32,
    },
    /// Runs until the run is terminated.
    Hang,
}

impl FakeStep {
    /// Succeeds without output.
    pub fn ok() -> FakeStep {
        FakeStep::Succeed { log: Vec::new(), outputs: Outputs::new() }
    }

    /// Fails with `exit_code` after printing `line` to stderr.
    pub fn fail(exit_code: i32, line: &str) -> FakeStep {
        FakeStep::Fail { log: vec![line.to_owned()], exit_code }
    }
}

/// Runs workflows in memory: steps in dependency order, one at a time, each doing what its script
/// says (by step name; unscripted `run` steps succeed). Like the local runner, a step whose
/// dependencies did not succeed never starts, completed steps are skipped with their outputs, approval
/// steps wait for [`RunController::approve`] (output `APPROVED_BY`) or, with a clock, fail when it
/// passes their `timeout` ("timed out after … waiting for approval"), terminate ends the running step
/// Terminated and the run Terminated with the reason, and the run's status is the SPEC §4 roll-up of
/// its steps. Every started run's spec is kept for assertions.
#[derive(Default)]
pub struct FakeRunner {
    scripts: Mutex<HashMap<String, FakeStep>>,
    runs: Mutex<Vec<RunSpec>>,
    clock: Option<Arc<dyn Clock>>,
}

impl FakeRunner {
    /// A runner whose steps all succeed; approvals wait without a timeout.
    pub fn new() -> Arc<FakeRunner> {
        Arc::new(FakeRunner::default())
    }

    /// A runner whose approval steps time out by `clock` (a [`FakeClock`](super::FakeClock) the test
    /// advances).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Arc<FakeRunner> {
        Arc::new(FakeRunner { clock: Some(clock), ..FakeRunner::default() })
    }

    /// Scripts every later run of steps named `step`.
    pub fn script(&self, step: &str, behaviour: FakeStep) {
        lock(&self.scripts).insert(step.to_owned(), behaviour);
    }

    /// The specs of the runs started so far, in order.
    pub fn runs(&self) -> Vec<RunSpec> {
        lock(&self.runs).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WorkflowRunner for FakeRunner {
    fn start(&self, spec: RunSpec) -> StartedRun {
        lock(&self.runs).push(spec.clone());
        let scripts = lock(&self.scripts).clone();
        let (events_tx, events) = mpsc::unbounded_channel();
        let control = Arc::new(FakeControl { stop: watch::channel(None).0, approvals: Mutex::new(HashMap::new()) });
        tokio::spawn(play(spec, scripts, self.clock.clone(), control.clone(), events_tx));
        StartedRun { control, events }
    }
}

struct FakeControl {
    stop: watch::Sender<Option<String>>,
    approvals: Mutex<HashMap<StepName, oneshot::Sender<String>>>,
}

impl RunController for FakeControl {
    fn terminate(&self, reason: String) {
        self.stop.send_if_modified(|current| current.is_none() && current.replace(reason).is_none());
    }

    fn approve(&self, step: &StepName, actor: String) -> Result<(), String> {
        let not_waiting = || format!("step {step} is not waiting for approval");
        lock(&self.approvals).remove(step).ok_or_else(not_waiting)?.send(actor).map_err(|_| not_waiting())
    }
}

/// The steps in the order they run: each after its dependencies (`None` = the previous step).
fn ordered(spec: &RunSpec) -> Vec<(Vec<StepName>, WorkflowStep)> {
    let mut previous: Option<StepName> = None;
    let mut out = Vec::new();
    for step in &spec.workflow.steps {
        let deps = step.depends_on.clone().unwrap_or_else(|| previous.iter().cloned().collect());
        out.push((deps, step.clone()));
        previous = Some(step.name.clone());
    }
    let mut done: Vec<StepName> = Vec::new();
    let mut sorted = Vec::new();
    while sorted.len() < out.len() {
        let Some(next) = out.iter().find(|(deps, s)| !done.contains(&s.name) && deps.iter().all(|d| done.contains(d)))
        else {
            break;
        };
        done.push(next.1.name.clone());
        sorted.push(next.clone());
    }
    sorted
}

/// Completes when `clock` passes `timeout` from now; never without a clock or a timeout.
fn approval_timeout(clock: Option<&Arc<dyn Clock>>, timeout: Option<std::time::Duration>) -> BoxFuture<'static, ()> {
    match (clock, timeout.and_then(|t| jiff::SignedDuration::try_from(t).ok())) {
        (Some(clock), Some(t)) => match clock.now().checked_add(t) {
            Ok(at) => clock.sleep_until(at),
            Err(_) => Box::pin(std::future::pending()),
        },
        _ => Box::pin(std::future::pending()),
    }
}

async fn play(
    spec: RunSpec,
    scripts: HashMap<String, FakeStep>,
    clock: Option<Arc<dyn Clock>>,
    control: Arc<FakeControl>,
    tx: mpsc::UnboundedSender<RunEvent>,
) {
    let mut statuses: BTreeMap<StepName, StepStatus> =
        spec.workflow.steps.iter().map(|s| (s.name.clone(), StepStatus::Pending)).collect();
    let mut stop = control.stop.subscribe();
    for (deps, WorkflowStep { name: step, kind, timeout, .. }) in ordered(&spec) {
        if spec.completed.contains_key(&step) {
            statuses.insert(step, StepStatus::Success);
            continue;
        }
        if stop.borrow().is_some() || !deps.iter().all(|d| statuses.get(d) == Some(&StepStatus::Success)) {
            continue;
        }
        let _ = tx.send(RunEvent::StepStarted { step: step.clone(), attempt: 1, at: Timestamp::now() });
        let (status, exit_code, error, outputs) = match kind {
            StepKind::Approval { message } => {
                let (approve_tx, approve_rx) = oneshot::channel();
                lock(&control.approvals).insert(step.clone(), approve_tx);
                let _ = tx.send(RunEvent::StepWaiting { step: step.clone(), message, at: Timestamp::now() });
                let outcome = tokio::select! {
                    Ok(actor) = approve_rx => {
                        (StepStatus::Success, None, None, Outputs::from([(APPROVED_BY.to_owned(), actor)]))
                    }
                    () = approval_timeout(clock.as_ref(), timeout) => {
                        let after = timeout.map(ferry_model::format_duration).unwrap_or_default();
                        let error = format!("timed out after {after} waiting for approval");
                        (StepStatus::Failed, None, Some(error), Outputs::new())
                    }
                    _ = stop.wait_for(Option::is_some) => (StepStatus::Terminated, None, None, Outputs::new()),
                };
                lock(&control.approvals).remove(&step);
                outcome
            }
            StepKind::Run(_) => match scripts.get(step.as_str()).cloned().unwrap_or_else(FakeStep::ok) {
                FakeStep::Succeed { log, outputs } => {
                    send_log(&tx, &step, log, LogStream::Stdout);
                    (StepStatus::Success, Some(0), None, outputs)
                }
                FakeStep::Fail { log, exit_code } => {
                    send_log(&tx, &step, log, LogStream::Stderr);
                    let error = format!("exited with code {exit_code}");
                    (StepStatus::Failed, Some(exit_code), Some(error), Outputs::new())
                }
                FakeStep::Hang => {
                    let _ = stop.wait_for(Option::is_some).await;
                    (StepStatus::Terminated, None, None, Outputs::new())
                }
            },
        };
        statuses.insert(step.clone(), status);
        let _ = tx.send(RunEvent::StepFinished {
            step,
            status,
            exit_code,
            error,
            outputs,
            attempts: 1,
            at: Timestamp::now(),
        });
    }
    let reason = stop.borrow().clone();
    let mut status = rollup_steps(statuses.values().copied());
    if reason.is_some() {
        status = rollup_steps([status, StepStatus::Terminated]);
    }
    let _ = tx.send(RunEvent::Finished { status, error: reason, at: Timestamp::now() });
}

fn send_log(tx: &mpsc::UnboundedSender<RunEvent>, step: &StepName, lines: Vec<String>, stream: LogStream) {
    if lines.is_empty() {
        return;
    }
    let lines = lines.into_iter().map(|text| LogLine { at: Timestamp::now(), stream, text }).collect();
    let _ = tx.send(RunEvent::Log { step: step.clone(), lines });
}
