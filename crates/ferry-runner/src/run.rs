//! The runner: scheduling of a workflow's steps, retries, approvals, terminate and timeouts.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferry_model::StepName;
use ferry_model::format_duration;
use ferry_model::resources::{StepKind, WorkflowStep};
use ferry_model::status::{StepStatus, rollup_steps};
use jiff::Timestamp;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::RunnerError;
use crate::config::{RunnerConfig, inherited_env};
use crate::logs::{self, LogBudget};
use crate::mask::{MIN_SECRET_CHARS, Masker, leaves_unmasked};
use crate::outputs::{MAX_OUTPUT_FILE_BYTES, Outputs, parse_outputs};
use crate::plan::{self, Plan};
use crate::process::{self, Ending};
use crate::types::{RunEvent, RunOutcome, RunSpec, StepOutcome};

/// Output set by every approved approval step: who approved it.
pub const APPROVED_BY: &str = "APPROVED_BY";

/// Runs workflows locally. Cheap to clone; all clones share the concurrency limit.
#[derive(Debug, Clone)]
pub struct Runner {
    inner: Arc<RunnerInner>,
}

#[derive(Debug)]
struct RunnerInner {
    config: RunnerConfig,
    slots: Arc<Semaphore>,
    inherited: Vec<(OsString, OsString)>,
}

impl Runner {
    /// A runner with `config`; Ferry's environment variables named in
    /// [`inherit_env`](RunnerConfig::inherit_env) are read once, here.
    pub fn new(config: RunnerConfig) -> Self {
        let permits = config.max_concurrent_steps.clamp(1, Semaphore::MAX_PERMITS);
        let inherited = inherited_env(&config.inherit_env);
        metrics::gauge!("ferry_runner_slots").set(permits as f64);
        Self { inner: Arc::new(RunnerInner { config, slots: Arc::new(Semaphore::new(permits)), inherited }) }
    }

    /// The configuration.
    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    /// Starts a run in the background and returns its handle.
    ///
    /// The workflow is validated first: an unknown `dependsOn`, a cycle, a duplicate step name, a
    /// required parameter without a value or an unusable variable ends the run at once in status
    /// Error, reported on the first affected step; nothing runs.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime (with IO and time enabled), like [`tokio::spawn`].
    pub fn start(&self, spec: RunSpec) -> RunHandle {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (stop, _) = watch::channel(None);
        let shared = Arc::new(Shared { run_id: spec.run_id.clone(), stop, approvals: Mutex::new(HashMap::new()) });
        // The run's lines carry the caller's span (the engine's names the release).
        let task = tokio::spawn(tracing::Instrument::in_current_span(drive(
            self.inner.clone(),
            shared.clone(),
            spec,
            events_tx,
        )));
        RunHandle { control: RunControl { shared }, events: Some(events_rx), task }
    }
}

/// Why a run is being stopped.
#[derive(Debug, Clone)]
enum StopReason {
    Terminate(String),
    WorkflowTimeout(Duration),
}

#[derive(Debug)]
struct Shared {
    run_id: String,
    stop: watch::Sender<Option<StopReason>>,
    approvals: Mutex<HashMap<StepName, oneshot::Sender<String>>>,
}

impl Shared {
    fn request_stop(&self, reason: StopReason) {
        self.stop.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    fn stop_reason(&self) -> Option<StopReason> {
        self.stop.borrow().clone()
    }

    /// Completes when a stop is requested.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let requested = rx.wait_for(Option::is_some).await.is_ok();
            if !requested {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Approves and terminates a run; cheap to clone and usable from any task.
#[derive(Debug, Clone)]
pub struct RunControl {
    shared: Arc<Shared>,
}

impl RunControl {
    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.shared.run_id
    }

    /// Stops the run (SPEC §3.5): the process group of every running step gets SIGTERM, then SIGKILL
    /// after the kill grace; running and waiting steps end Terminated, steps not started stay Pending,
    /// the run ends Terminated. Returns at once; [`RunHandle::wait`] returns when everything stopped.
    /// Only the first call (or workflow timeout) counts.
    pub fn terminate(&self, reason: impl Into<String>) {
        self.shared.request_stop(StopReason::Terminate(reason.into()));
    }

    /// Approves the waiting approval step `step` on behalf of `actor`: it ends Success with the output
    /// `APPROVED_BY=actor`.
    pub fn approve(&self, step: &StepName, actor: impl Into<String>) -> Result<(), RunnerError> {
        let waiting = self.shared.approvals.lock().unwrap_or_else(PoisonError::into_inner).remove(step);
        let not_waiting = || RunnerError::NotWaiting { run_id: self.shared.run_id.clone(), step: step.clone() };
        waiting.ok_or_else(not_waiting)?.send(actor.into()).map_err(|_| not_waiting())
    }
}

/// A started run: its events, its controls and its outcome.
///
/// Dropping the handle does not stop the run (use [`terminate`](RunHandle::terminate)); its processes
/// are killed only if the run's task itself is dropped (runtime shutdown).
#[derive(Debug)]
pub struct RunHandle {
    control: RunControl,
    events: Option<mpsc::UnboundedReceiver<RunEvent>>,
    task: JoinHandle<RunOutcome>,
}

impl RunHandle {
    /// The run's id.
    pub fn run_id(&self) -> &str {
        self.control.run_id()
    }

    /// The stream of [`RunEvent`]s, ending with [`RunEvent::Finished`]; `None` after the first call.
    /// Events are buffered until read (log volume is bounded by the log cap).
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<RunEvent>> {
        self.events.take()
    }

    /// A clonable control for approving and terminating from other tasks.
    pub fn control(&self) -> RunControl {
        self.control.clone()
    }

    /// See [`RunControl::approve`].
    pub fn approve(&self, step: &StepName, actor: impl Into<String>) -> Result<(), RunnerError> {
        self.control.approve(step, actor)
    }

    /// See [`RunControl::terminate`].
    pub fn terminate(&self, reason: impl Into<String>) {
        self.control.terminate(reason);
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the end of the run: every step finished or stopped, every process group gone.
    pub async fn wait(self) -> RunOutcome {
        let run_id = self.control.shared.run_id.clone();
        match self.task.await {
            Ok(outcome) => outcome,
            Err(err) => RunOutcome {
                status: StepStatus::Error,
                error: Some(format!("the runner's task for run {run_id} failed ({err}); retry the run")),
                steps: BTreeMap::new(),
            },
        }
    }
}

/// What every step task of a run shares.
struct RunCtx {
    runner: Arc<RunnerInner>,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<RunEvent>,
    budget: Arc<LogBudget>,
    cwd: PathBuf,
    dir: PathBuf,
    secrets: Secrets,
}

/// The run's secret parameters, and the masker of their values before any step runs.
struct Secrets {
    /// Names of the `secret: true` parameters.
    names: Vec<String>,
    /// Their values from the defaults and the run's variables.
    values: Vec<String>,
    /// Masks `values`: for the run's own messages.
    masker: Masker,
}

impl Secrets {
    fn new(spec: &RunSpec, base: &BTreeMap<String, String>) -> Self {
        let names: Vec<String> = spec.workflow.params.iter().filter(|p| p.secret).map(|p| p.name.to_string()).collect();
        let values: Vec<String> = names.iter().filter_map(|n| base.get(n)).cloned().collect();
        let masker = Masker::new(&values);
        Self { names, values, masker }
    }

    /// The masker of a step that gets `env`: the run's secret values, and the values its secret
    /// parameters have in `env` (an ancestor's output may have replaced one).
    fn step_masker(&self, env: &BTreeMap<String, String>) -> Masker {
        let own = self.names.iter().filter_map(|n| env.get(n));
        Masker::new(self.values.iter().chain(own))
    }

    /// Notes for the log of a step that gets `env`, naming its secret parameters whose value (or a
    /// line of it) is too short to be masked.
    fn too_short_notes(&self, env: &BTreeMap<String, String>) -> Vec<String> {
        let mut notes = Vec::new();
        for name in &self.names {
            let Some(value) = env.get(name).filter(|v| leaves_unmasked(v)) else { continue };
            let what = if value.contains('\n') { "a line of its value" } else { "its value" };
            notes.push(format!(
                "[ferry: secret parameter {name} is not masked in this log: \
                 {what} is shorter than {MIN_SECRET_CHARS} characters]"
            ));
        }
        notes
    }
}

/// A runner slot in use: counted in `ferry_runner_slots_in_use` until dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit) -> Slot {
        metrics::gauge!("ferry_runner_slots_in_use").increment(1.0);
        Slot { _permit: permit }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!("ferry_runner_slots_in_use").decrement(1.0);
    }
}

impl RunCtx {
    fn emit(&self, event: RunEvent) {
        // A dropped receiver means nobody listens; the run goes on.
        let _ = self.events.send(event);
    }

    fn note(&self, step: &StepName, masker: &Masker, text: &str) {
        let text = masker.mask(text).into_owned();
        self.emit(RunEvent::Log { step: step.clone(), lines: vec![logs::note(text)] });
    }

    async fn acquire(&self) -> Option<Slot> {
        let slots = self.runner.slots.clone();
        let permit = tokio::select! {
            biased;
            () = self.shared.stopped() => None,
            permit = slots.acquire_owned() => permit.ok(),
        };
        permit.map(Slot::new)
    }

    /// Emits the end of a step, its error masked by `masker`.
    fn finish(&self, step: &StepName, masker: &Masker, mut outcome: StepOutcome) -> StepOutcome {
        if let Some(error) = &mut outcome.error {
            *error = masker.mask(error).into_owned();
        }
        tracing::info!(
            target: "ferry::runner",
            run = %self.shared.run_id,
            step = %step,
            status = %outcome.status.as_str(),
            exit_code = outcome.exit_code,
            attempts = outcome.attempts,
            "step finished"
        );
        self.emit(RunEvent::StepFinished {
            step: step.clone(),
            status: outcome.status,
            exit_code: outcome.exit_code,
            error: outcome.error.clone(),
            outputs: outcome.outputs.clone(),
            attempts: outcome.attempts,
            at: Timestamp::now(),
        });
        outcome
    }

    /// The outcome of a step that was stopped after `attempts` attempts.
    fn stopped_outcome(&self, attempts: u32, exit_code: Option<i32>) -> StepOutcome {
        let (status, error) = match self.shared.stop_reason() {
            Some(StopReason::WorkflowTimeout(after)) => {
                (StepStatus::Failed, format!("workflow timed out after {}", format_duration(after)))
            }
            Some(StopReason::Terminate(reason)) => (StepStatus::Terminated, format!("terminated: {reason}")),
            None => (StepStatus::Terminated, "terminated".to_owned()),
        };
        StepOutcome { status, exit_code, error: Some(error), outputs: Outputs::new(), attempts }
    }
}

async fn drive(
    runner: Arc<RunnerInner>,
    shared: Arc<Shared>,
    spec: RunSpec,
    events: mpsc::UnboundedSender<RunEvent>,
) -> RunOutcome {
    let secrets = Secrets::new(&spec, &base_env(&spec));
    let plan = match plan::plan(&spec.workflow, &spec.env) {
        Ok(plan) => plan,
        Err((at, error)) => return invalid(&spec, at, error, &secrets.masker, &events),
    };
    let dir = match make_run_dir(&runner.config.work_dir, &spec.run_id).await {
        Ok(dir) => dir,
        Err(error) => {
            let first = spec.workflow.steps.first().map(|s| s.name.clone());
            return invalid(&spec, first, error, &secrets.masker, &events);
        }
    };
    let ctx = Arc::new(RunCtx {
        budget: Arc::new(LogBudget::new(runner.config.log_cap_bytes)),
        runner,
        shared,
        events,
        cwd: spec.cwd.clone(),
        dir: dir.path().to_path_buf(),
        secrets,
    });
    let outcome = schedule(&ctx, &spec, plan).await;
    ctx.emit(RunEvent::Finished { status: outcome.status, error: outcome.error.clone(), at: Timestamp::now() });
    // Removing the directory is blocking IO; a failure only leaves a directory in the work dir.
    let _ = tokio::task::spawn_blocking(move || drop(dir)).await;
    outcome
}

/// Base variables of every step: parameter defaults, overridden by the spec's variables.
fn base_env(spec: &RunSpec) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = spec
        .workflow
        .params
        .iter()
        .filter_map(|p| p.default.as_ref().map(|d| (p.name.to_string(), d.clone())))
        .collect();
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

async fn schedule(ctx: &Arc<RunCtx>, spec: &RunSpec, plan: Plan) -> RunOutcome {
    enum Slot {
        Waiting,
        Running,
        Done(StepOutcome),
    }
    let base = base_env(spec);
    let mut slots: Vec<Slot> = plan
        .steps
        .iter()
        .map(|step| match spec.completed.get(&step.def.name) {
            Some(done) => Slot::Done(StepOutcome {
                status: StepStatus::Success,
                outputs: done.outputs.clone(),
                ..StepOutcome::pending()
            }),
            None => Slot::Waiting,
        })
        .collect();
    let succeeded = |slot: &Slot| matches!(slot, Slot::Done(o) if o.status == StepStatus::Success);
    let mut tasks: JoinSet<StepOutcome> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut failed = false;
    // A timeout too large for the clock is no timeout.
    let deadline = spec.workflow.timeout.and_then(|after| Some((Instant::now().checked_add(after)?, after)));
    let expire = tokio::time::sleep_until(deadline.map_or_else(Instant::now, |(at, _)| at));
    tokio::pin!(expire);
    let mut expired = false;
    loop {
        if !failed && ctx.shared.stop_reason().is_none() {
            for (i, step) in plan.steps.iter().enumerate() {
                if !matches!(slots[i], Slot::Waiting) || !step.deps.iter().all(|&d| succeeded(&slots[d])) {
                    continue;
                }
                let mut env = base.clone();
                for &a in &step.ancestors {
                    if let Slot::Done(done) = &slots[a] {
                        env.extend(done.outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                let handle =
                    tasks.spawn(tracing::Instrument::in_current_span(run_step(ctx.clone(), step.def.clone(), env)));
                running.insert(handle.id(), i);
                slots[i] = Slot::Running;
            }
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next_with_id() => {
                let (i, outcome) = match joined {
                    Some(Ok((id, outcome))) => (running.remove(&id), outcome),
                    Some(Err(err)) => {
                        let i = running.remove(&err.id());
                        let outcome = StepOutcome::error(format!(
                            "internal error: the step's task failed ({err}); retry the run and report this"
                        ));
                        let outcome = match i {
                            Some(i) => ctx.finish(&plan.steps[i].def.name, &ctx.secrets.masker, outcome),
                            None => outcome,
                        };
                        (i, outcome)
                    }
                    None => break,
                };
                if outcome.status.is_failure() {
                    failed = true;
                }
                if let Some(i) = i {
                    slots[i] = Slot::Done(outcome);
                }
            }
            () = &mut expire, if deadline.is_some() && !expired => {
                expired = true;
                if let Some((_, after)) = deadline {
                    ctx.shared.request_stop(StopReason::WorkflowTimeout(after));
                }
            }
        }
    }
    let steps: BTreeMap<StepName, StepOutcome> = plan
        .steps
        .iter()
        .zip(slots)
        .map(|(step, slot)| {
            let outcome = match slot {
                Slot::Done(outcome) => outcome,
                Slot::Waiting | Slot::Running => StepOutcome::pending(),
            };
            (step.def.name.clone(), outcome)
        })
        .collect();
    let mut status = rollup_steps(steps.values().map(|s| s.status));
    let mut error = None;
    let all_done = steps.values().all(|s| s.status == StepStatus::Success);
    match ctx.shared.stop_reason() {
        Some(StopReason::Terminate(reason)) if !all_done => {
            status = rollup_steps([status, StepStatus::Terminated]);
            error = Some(format!("terminated: {reason}"));
        }
        Some(StopReason::WorkflowTimeout(after)) if !all_done => {
            status = rollup_steps([status, StepStatus::Failed]);
            error = Some(format!("workflow timed out after {}", format_duration(after)));
        }
        _ => {}
    }
    if error.is_none() && status.is_failure() {
        error = plan.steps.iter().find_map(|step| {
            let outcome = steps.get(&step.def.name)?;
            let why = outcome.error.as_deref().filter(|_| outcome.status.is_failure())?;
            Some(format!("step {}: {why}", step.def.name))
        });
    }
    let error = error.map(|e| ctx.secrets.masker.mask(&e).into_owned());
    RunOutcome { status, error, steps }
}

/// Ends a run that cannot start: the affected step is Error, the others keep their state.
fn invalid(
    spec: &RunSpec,
    at: Option<StepName>,
    error: RunnerError,
    masker: &Masker,
    events: &mpsc::UnboundedSender<RunEvent>,
) -> RunOutcome {
    let message = masker.mask(&error.to_string()).into_owned();
    let mut steps: BTreeMap<StepName, StepOutcome> = BTreeMap::new();
    for step in &spec.workflow.steps {
        let outcome = match spec.completed.get(&step.name) {
            Some(done) => {
                StepOutcome { status: StepStatus::Success, outputs: done.outputs.clone(), ..StepOutcome::pending() }
            }
            None => StepOutcome::pending(),
        };
        steps.insert(step.name.clone(), outcome);
    }
    let now = Timestamp::now();
    if let Some(step) = at {
        let _ = events.send(RunEvent::StepFinished {
            step: step.clone(),
            status: StepStatus::Error,
            exit_code: None,
            error: Some(message.clone()),
            outputs: Outputs::new(),
            attempts: 0,
            at: now,
        });
        steps.insert(step, StepOutcome::error(message.clone()));
    }
    let _ = events.send(RunEvent::Finished { status: StepStatus::Error, error: Some(message.clone()), at: now });
    RunOutcome { status: StepStatus::Error, error: Some(message), steps }
}

async fn make_run_dir(work_dir: &Path, run_id: &str) -> Result<tempfile::TempDir, RunnerError> {
    let work_dir = work_dir.to_path_buf();
    let safe: String =
        run_id.chars().take(40).map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let made = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&work_dir)
            .and_then(|()| tempfile::Builder::new().prefix(&format!("run-{safe}-")).tempdir_in(&work_dir))
            .map_err(|source| RunnerError::WorkDir { dir: work_dir, source })
    })
    .await;
    made.unwrap_or_else(|err| {
        Err(RunnerError::WorkDir { dir: PathBuf::new(), source: std::io::Error::other(err.to_string()) })
    })
}

async fn run_step(ctx: Arc<RunCtx>, step: WorkflowStep, env: BTreeMap<String, String>) -> StepOutcome {
    let masker = Arc::new(ctx.secrets.step_masker(&env));
    match &step.kind {
        StepKind::Approval { message } => approval(&ctx, &step, &masker, message).await,
        StepKind::Run(script) => run_script(&ctx, &step, script, &env, &masker).await,
    }
}

async fn sleep_or_forever(timeout: Option<Duration>) {
    match timeout {
        Some(timeout) => tokio::time::sleep(timeout).await,
        None => std::future::pending().await,
    }
}

async fn approval(ctx: &RunCtx, step: &WorkflowStep, masker: &Masker, message: &str) -> StepOutcome {
    let name = &step.name;
    if ctx.shared.stop_reason().is_some() {
        return StepOutcome::pending();
    }
    let (tx, rx) = oneshot::channel();
    ctx.shared.approvals.lock().unwrap_or_else(PoisonError::into_inner).insert(name.clone(), tx);
    ctx.emit(RunEvent::StepStarted { step: name.clone(), attempt: 1, at: Timestamp::now() });
    ctx.emit(RunEvent::StepWaiting { step: name.clone(), message: message.to_owned(), at: Timestamp::now() });
    enum Cause {
        Approved(Option<String>),
        Timeout,
        Stop,
    }
    let cause = tokio::select! {
        actor = rx => Cause::Approved(actor.ok()),
        () = sleep_or_forever(step.timeout) => Cause::Timeout,
        () = ctx.shared.stopped() => Cause::Stop,
    };
    ctx.shared.approvals.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
    let outcome = match cause {
        Cause::Approved(Some(actor)) => StepOutcome {
            status: StepStatus::Success,
            outputs: Outputs::from([(APPROVED_BY.to_owned(), actor)]),
            attempts: 1,
            ..StepOutcome::pending()
        },
        Cause::Approved(None) => StepOutcome { attempts: 1, ..StepOutcome::error("the approval was lost".into()) },
        Cause::Timeout => StepOutcome {
            status: StepStatus::Failed,
            error: step.timeout.map(|t| format!("timed out after {} waiting for approval", format_duration(t))),
            attempts: 1,
            ..StepOutcome::pending()
        },
        Cause::Stop => ctx.stopped_outcome(1, None),
    };
    ctx.finish(name, masker, outcome)
}

/// How one attempt of a `run` step ended.
enum Attempt {
    Success(Outputs),
    Failed { exit_code: Option<i32>, error: String },
    Error { exit_code: Option<i32>, error: String },
    Stopped { exit_code: Option<i32> },
}

async fn run_script(
    ctx: &RunCtx,
    step: &WorkflowStep,
    script: &str,
    env: &BTreeMap<String, String>,
    masker: &Arc<Masker>,
) -> StepOutcome {
    let name = &step.name;
    let mut attempts = 0u32;
    loop {
        let Some(permit) = ctx.acquire().await else {
            return if attempts == 0 {
                StepOutcome::pending()
            } else {
                ctx.finish(name, masker, ctx.stopped_outcome(attempts, None))
            };
        };
        attempts += 1;
        tracing::info!(target: "ferry::runner", run = %ctx.shared.run_id, step = %name, attempt = attempts, "step started");
        ctx.emit(RunEvent::StepStarted { step: name.clone(), attempt: attempts, at: Timestamp::now() });
        if attempts == 1 {
            for text in ctx.secrets.too_short_notes(env) {
                ctx.note(name, masker, &text);
            }
        }
        let result = attempt(ctx, step, script, env, masker, attempts).await;
        drop(permit);
        let outcome = match result {
            Attempt::Success(outputs) => {
                StepOutcome { status: StepStatus::Success, exit_code: Some(0), error: None, outputs, attempts }
            }
            Attempt::Failed { exit_code, error } if attempts <= step.retries && ctx.shared.stop_reason().is_none() => {
                let delay = ctx.runner.config.backoff(attempts);
                let text = format!(
                    "[ferry: attempt {attempts} of {} failed ({error}); retrying in {}]",
                    step.retries.saturating_add(1),
                    format_duration(delay)
                );
                ctx.note(name, masker, &text);
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    () = ctx.shared.stopped() => ctx.stopped_outcome(attempts, exit_code),
                }
            }
            Attempt::Failed { exit_code, error } => StepOutcome {
                status: StepStatus::Failed,
                exit_code,
                error: Some(error),
                outputs: Outputs::new(),
                attempts,
            },
            Attempt::Error { exit_code, error } => StepOutcome {
                status: StepStatus::Error,
                exit_code,
                error: Some(error),
                outputs: Outputs::new(),
                attempts,
            },
            Attempt::Stopped { exit_code } => ctx.stopped_outcome(attempts, exit_code),
        };
        return ctx.finish(name, masker, outcome);
    }
}

async fn attempt(
    ctx: &RunCtx,
    step: &WorkflowStep,
    script: &str,
    env: &BTreeMap<String, String>,
    masker: &Arc<Masker>,
    attempt: u32,
) -> Attempt {
    let error = |error: RunnerError| Attempt::Error { exit_code: None, error: error.to_string() };
    let output_path = ctx.dir.join(format!("{}.{attempt}.out", step.name));
    if let Err(source) = tokio::fs::write(&output_path, b"").await {
        return error(RunnerError::OutputFile { action: "create", path: output_path, source });
    }
    let attempt_text = attempt.to_string();
    let ferry_vars = [
        (OsStr::new("FERRY_OUTPUT"), output_path.as_os_str()),
        (OsStr::new("FERRY_RUN_ID"), OsStr::new(&ctx.shared.run_id)),
        (OsStr::new("FERRY_STEP"), OsStr::new(step.name.as_str())),
        (OsStr::new("FERRY_STEP_ATTEMPT"), OsStr::new(&attempt_text)),
    ];
    let vars = ctx
        .runner
        .inherited
        .iter()
        .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
        .chain(env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
        .chain(ferry_vars);
    let child = match process::spawn_shell(script, &ctx.cwd, vars) {
        Ok(child) => child,
        Err(err) => return error(err),
    };
    if let Some(pgid) = child.pgid() {
        crate::orphans::record(&ctx.dir, step.name.as_str(), attempt, pgid.as_raw());
    }
    let events = ctx.events.clone();
    let name = step.name.clone();
    let sink = move |lines| {
        let _ = events.send(RunEvent::Log { step: name.clone(), lines });
    };
    let grace = ctx.runner.config.kill_grace;
    let ending =
        child.supervise(step.timeout, ctx.shared.stopped(), grace, ctx.budget.clone(), masker.clone(), sink).await;
    match ending {
        Err(err) => error(err),
        Ok(Ending::Exited(status)) if status.success() => match read_outputs(&output_path).await {
            Ok(outputs) => Attempt::Success(outputs),
            Err(err) => Attempt::Error { exit_code: Some(0), error: err.to_string() },
        },
        Ok(Ending::Exited(status)) => {
            let (exit_code, error) = process::describe(status);
            Attempt::Failed { exit_code, error }
        }
        Ok(Ending::TimedOut(status)) => {
            let after = step.timeout.map(format_duration).unwrap_or_default();
            Attempt::Failed { exit_code: process::describe(status).0, error: format!("timed out after {after}") }
        }
        Ok(Ending::Stopped(status)) => Attempt::Stopped { exit_code: process::describe(status).0 },
    }
}

async fn read_outputs(path: &Path) -> Result<Outputs, RunnerError> {
    let owned = path.to_path_buf();
    // One blocking job: open, size check, bounded read (a missing file means no outputs).
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let file = match std::fs::File::open(&owned) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Vec::new())),
            Err(err) => return Err(err),
        };
        let mut bytes = Vec::new();
        file.take(MAX_OUTPUT_FILE_BYTES + 1).read_to_end(&mut bytes)?;
        Ok((bytes.len() as u64 <= MAX_OUTPUT_FILE_BYTES).then_some(bytes))
    })
    .await
    .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())));
    let read_error = |source| RunnerError::OutputFile { action: "read", path: path.to_path_buf(), source };
    match read.map_err(read_error)? {
        Some(bytes) => parse_outputs(&String::from_utf8_lossy(&bytes)),
        None => {
            let size = std::fs::metadata(path).map_or(MAX_OUTPUT_FILE_BYTES + 1, |m| m.len());
            Err(RunnerError::OutputTooLarge { size, limit: MAX_OUTPUT_FILE_BYTES })
        }
    }
}
