//! The state of a release and of its environments, applications and workflow runs, and why an event can be rejected.

use super::*;

/// Where an application is in its environment (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AppPhase {
    /// Not started.
    Pending,
    /// Pre-Action workflow.
    PreAction,
    /// Promotion action (commit, pull request).
    Action,
    /// Waiting for Synced at the promotion commit and Healthy.
    Health,
    /// Gate passed; Post-Action workflow (in the trigger environment: the trigger workflow).
    PostAction,
    /// All phases passed.
    Done,
}

/// One step of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepState {
    /// Name.
    pub name: StepName,
    /// Dependencies.
    pub depends_on: Vec<StepName>,
    /// Status.
    pub status: StepStatus,
    /// Number of times it started.
    pub attempts: u32,
    /// Last start.
    pub started_at: Option<Timestamp>,
    /// End.
    pub finished_at: Option<Timestamp>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Error text.
    pub error: Option<String>,
    /// Outputs (`NAME=value`).
    pub outputs: BTreeMap<String, String>,
    /// Approval message while the step waits for a person.
    pub awaiting_approval: Option<String>,
    /// Who approved it, when it is an approval step that was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<StepApproval>,
    /// The step stands for the whole run (see [`StepSpec::whole_run`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_run: bool,
}

impl StepState {
    pub(super) fn new(spec: &StepSpec) -> StepState {
        StepState {
            name: spec.name.clone(),
            depends_on: spec.depends_on.clone(),
            status: StepStatus::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            exit_code: None,
            error: None,
            outputs: BTreeMap::new(),
            awaiting_approval: None,
            approved: None,
            whole_run: spec.whole_run,
        }
    }

    pub(super) fn reset(&mut self) {
        self.status = StepStatus::Pending;
        self.started_at = None;
        self.finished_at = None;
        self.exit_code = None;
        self.error = None;
        self.outputs.clear();
        self.awaiting_approval = None;
        self.approved = None;
    }

    /// The facts the status rules read about this step.
    pub fn activity(&self) -> StepActivity {
        StepActivity {
            status: self.status,
            awaiting_approval: self.awaiting_approval.is_some(),
            whole_run: self.whole_run,
        }
    }
}

/// The approval of an approval step: who, their role, why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepApproval {
    /// Who (the token's name).
    pub actor: String,
    /// Their role, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// One workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRun {
    /// Run id.
    pub id: RunId,
    /// Stage and place.
    pub target: RunTarget,
    /// Workflow.
    pub workflow: WorkflowName,
    /// Steps in declaration order.
    pub steps: Vec<StepState>,
    /// Run-level error (could not start, invalid definition): the run is Error.
    pub error: Option<String>,
    /// Start.
    pub started_at: Timestamp,
    /// Superseded by a newer run of the same slot, or an onFail run of an earlier attempt: kept for the
    /// record, ignored by roll-ups.
    pub retired: bool,
}

impl WorkflowRun {
    /// Status: Error when the run itself errored, else the roll-up of its steps (no steps = Success).
    pub fn status(&self) -> StepStatus {
        if self.error.is_some() { StepStatus::Error } else { rollup_steps(self.steps.iter().map(|s| s.status)) }
    }

    /// The step named `name`.
    pub fn step(&self, name: &StepName) -> Option<&StepState> {
        self.steps.iter().find(|s| s.name == *name)
    }

    /// Whether the run is not finished (its status is Pending or Running).
    pub fn is_in_progress(&self) -> bool {
        !self.status().is_final()
    }

    /// Whether the run waits for a person ([`run_waits_for_person`]): a step awaits approval and no
    /// other step is working (the step standing for a whole Argo workflow is not working).
    pub fn is_waiting_for_approval(&self) -> bool {
        let steps: Vec<StepActivity> = self.steps.iter().map(StepState::activity).collect();
        self.is_in_progress() && run_waits_for_person(&steps)
    }

    /// Pending steps whose dependencies all succeeded: what to start next (also after a retry).
    pub fn ready_steps(&self) -> Vec<&StepName> {
        if self.error.is_some() {
            return Vec::new();
        }
        let ok = |name: &StepName| self.step(name).is_none_or(|s| s.status == StepStatus::Success);
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Pending && s.depends_on.iter().all(ok))
            .map(|s| &s.name)
            .collect()
    }

    /// Outputs of the successful steps, later steps winning (e.g. Pre-Action outputs for the Post-Action).
    pub fn outputs(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for step in self.steps.iter().filter(|s| s.status == StepStatus::Success) {
            out.extend(step.outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    /// Resets for a retry: failed/errored/terminated steps and every step after them go back to Pending;
    /// succeeded steps keep their outputs.
    pub(super) fn reset_for_retry(&mut self) {
        if self.error.take().is_some() {
            for step in self.steps.iter_mut().filter(|s| s.status != StepStatus::Success) {
                step.reset();
            }
            return;
        }
        let mut again: BTreeSet<StepName> =
            self.steps.iter().filter(|s| s.status.is_failure()).map(|s| s.name.clone()).collect();
        loop {
            let more: Vec<StepName> = self
                .steps
                .iter()
                .filter(|s| !again.contains(&s.name) && s.depends_on.iter().any(|d| again.contains(d)))
                .map(|s| s.name.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            again.extend(more);
        }
        for step in self.steps.iter_mut().filter(|s| again.contains(&s.name)) {
            step.reset();
        }
    }

    /// Marks every unfinished step Terminated (the release was terminated).
    pub(super) fn sweep_terminated(&mut self, at: Timestamp) {
        for step in self.steps.iter_mut().filter(|s| !s.status.is_final()) {
            step.status = StepStatus::Terminated;
            step.finished_at = Some(at);
            step.awaiting_approval = None;
        }
    }
}

/// Progress of a promotion action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    /// Writing, committing, pushing or opening the pull request.
    Running,
    /// The pull request is open, waiting for a person to merge it.
    AwaitingMerge,
    /// Landed (committed, merged, unchanged, or nothing to do for `none`).
    Succeeded,
    /// Failed.
    Failed,
}

/// A promotion pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// Web URL.
    pub url: String,
    /// Number.
    pub number: u64,
    /// Branch.
    pub branch: String,
}

/// The promotion action of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    /// Which action.
    pub action: Action,
    /// Progress.
    pub status: ActionStatus,
    /// Promotion commit (or merge commit of the pull request).
    pub commit: Option<CommitSha>,
    /// Repository of the commit.
    pub repo: Option<String>,
    /// Succeeded without a commit because the values were already in place.
    pub unchanged: bool,
    /// The pull request, for action `pr`.
    pub pull_request: Option<PullRequest>,
    /// Error text when failed.
    pub error: Option<String>,
    /// Start.
    pub started_at: Timestamp,
    /// End.
    pub finished_at: Option<Timestamp>,
}

/// Sync and health as last observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Sync.
    pub sync: SyncStatus,
    /// Health.
    pub health: HealthStatus,
    /// Revision.
    pub revision: Option<CommitSha>,
    /// Message.
    pub message: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// A failed gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateFailureRecord {
    /// Degraded or timed out.
    pub reason: GateFailure,
    /// Details.
    pub message: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// One application of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    /// Application.
    pub name: AppName,
    /// Phase.
    pub phase: AppPhase,
    /// Workflow runs (trigger, pre/post action), oldest first, retired ones included.
    pub runs: Vec<WorkflowRun>,
    /// The promotion action; `None` before it starts (and after a retry of a failed action).
    pub action: Option<ActionState>,
    /// Last observation.
    pub observation: Option<Observation>,
    /// When the gate passed.
    pub gate_passed_at: Option<Timestamp>,
    /// Why the gate failed.
    pub gate_failure: Option<GateFailureRecord>,
    /// When the application passed all phases.
    pub finished_at: Option<Timestamp>,
}

impl AppState {
    pub(super) fn new(name: AppName) -> AppState {
        AppState {
            name,
            phase: AppPhase::Pending,
            runs: Vec::new(),
            action: None,
            observation: None,
            gate_passed_at: None,
            gate_failure: None,
            finished_at: None,
        }
    }

    /// The current (latest, not retired) run of `stage`.
    pub fn current_run(&self, stage: Stage) -> Option<&WorkflowRun> {
        self.runs.iter().rev().find(|r| !r.retired && r.target.stage() == stage)
    }

    /// The current runs of every stage.
    pub fn current_runs(&self) -> impl Iterator<Item = &WorkflowRun> {
        [Stage::Trigger, Stage::PreAction, Stage::PostAction].into_iter().filter_map(|s| self.current_run(s))
    }

    /// Whether the application failed: a current run Failed/Error/Terminated, the action failed, or the
    /// gate failed.
    pub fn is_failed(&self) -> bool {
        self.action.as_ref().is_some_and(|a| a.status == ActionStatus::Failed)
            || self.gate_failure.is_some()
            || self.current_runs().any(|r| r.status().is_failure())
    }

    /// Whether it waits for a person: its pull request awaits merge, or a step awaits approval.
    pub fn is_waiting_for_person(&self) -> bool {
        self.action.as_ref().is_some_and(|a| a.status == ActionStatus::AwaitingMerge)
            || self.current_runs().any(WorkflowRun::is_waiting_for_approval)
    }

    /// Whether the promotion landed (committed, merged or unchanged), making the release version live.
    pub fn action_landed(&self) -> bool {
        self.action.as_ref().is_some_and(|a| a.status == ActionStatus::Succeeded)
    }

    /// Whether work is in progress right now: a run, an action, or a health wait.
    pub(super) fn is_busy(&self) -> bool {
        self.current_runs().any(WorkflowRun::is_in_progress)
            || self.action.as_ref().is_some_and(|a| a.status == ActionStatus::Running)
            || (self.phase == AppPhase::Health && self.gate_failure.is_none())
    }
}

/// One environment of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvState {
    /// Environment.
    pub name: EnvName,
    /// Start.
    pub started_at: Option<Timestamp>,
    /// When its status last became final (Successful, Failed, Terminated); cleared by a retry.
    pub finished_at: Option<Timestamp>,
    /// The release was terminated while this environment was Running or Suspended.
    pub terminated: bool,
    /// Applications, in snapshot order.
    pub apps: Vec<AppState>,
    /// Environment hook runs, oldest first.
    pub hook_runs: Vec<WorkflowRun>,
    /// The freeze windows holding the environment before it starts (SPEC §10).
    #[serde(default)]
    pub frozen: Option<FrozenHold>,
    /// An admin let the environment through its freeze windows.
    #[serde(default)]
    pub freeze_override: Option<FreezeOverride>,
    /// The soak time after every application passed its phases (SPEC §10).
    #[serde(default)]
    pub soak: Option<Soak>,
    /// Approvals of the promotion into this environment (SPEC §10), oldest first, one per actor.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The rollback release started when the environment failed after its action (SPEC §10).
    #[serde(default)]
    pub rollback: Option<ReleaseId>,
}

/// The soak time of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Soak {
    /// When it started (the last application passed its Post-Action).
    pub since: Timestamp,
    /// When it ends.
    pub until: Timestamp,
    /// When it passed.
    pub passed_at: Option<Timestamp>,
    /// The relapse that failed it.
    pub relapse: Option<SoakRelapse>,
}

/// An application that left Synced+Healthy inside the soak time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoakRelapse {
    /// The application.
    pub app: AppName,
    /// What was observed.
    pub message: String,
    /// When.
    pub at: Timestamp,
}

/// One approval of a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// Who.
    pub actor: String,
    /// Their role, when known.
    pub role: Option<String>,
    /// Why.
    pub comment: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Freeze windows holding an environment that is ready to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrozenHold {
    /// When the joined windows end.
    pub until: Timestamp,
    /// The freezes holding it.
    pub freezes: Vec<FreezeName>,
    /// Since when it has been held.
    pub since: Timestamp,
}

/// An admin's override of the freeze windows of one environment of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreezeOverride {
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

impl EnvState {
    /// The application named `name`.
    pub fn app(&self, name: &AppName) -> Option<&AppState> {
        self.apps.iter().find(|a| a.name == *name)
    }

    /// The current (latest, not retired) run of hook `kind`.
    pub fn current_hook_run(&self, kind: HookKind) -> Option<&WorkflowRun> {
        self.hook_runs.iter().rev().find(|r| !r.retired && r.target.hook() == Some(kind))
    }

    pub(super) fn current_hook_runs(&self) -> impl Iterator<Item = &WorkflowRun> {
        HookKind::ALL.iter().filter_map(|k| self.current_hook_run(*k))
    }
}

/// A terminate request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminateRequest {
    /// Reason.
    pub reason: String,
    /// Who asked.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// The latest retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryRecord {
    /// Who asked.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// One aggregated step of a [`WorkflowLine`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepLine {
    /// Step.
    pub name: StepName,
    /// Status across the runs.
    pub status: StepStatus,
    /// The latest approval of the step among the runs (approval steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<StepApproval>,
}

/// One workflow of an environment card: the runs of one workflow in one stage, aggregated (one run per
/// application; SPEC §4 "step status across the runs").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowLine {
    /// Stage.
    pub stage: Stage,
    /// Hook kind, for hooks.
    pub hook: Option<HookKind>,
    /// Workflow.
    pub name: WorkflowName,
    /// Roll-up of the runs.
    pub status: StepStatus,
    /// Steps in declaration order, each aggregated across the runs.
    pub steps: Vec<StepLine>,
    /// The runs aggregated (one per application).
    pub runs: Vec<RunId>,
}

/// Why an event was rejected. The state is unchanged when `apply` returns an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The log does not start with `Created`.
    #[error("the first event of a release must be Created, not {event}")]
    NotCreated {
        /// The event found instead.
        event: &'static str,
    },
    /// A second `Created`.
    #[error("Created is not accepted: the release already exists")]
    AlreadyCreated,
    /// The snapshot of `Created` is incoherent.
    #[error("invalid release snapshot: {0}")]
    InvalidSnapshot(String),
    /// Unknown environment.
    #[error("{event}: unknown environment {env:?} (this release has: {known})")]
    UnknownEnvironment {
        /// Event type.
        event: &'static str,
        /// The environment named.
        env: String,
        /// The release's environments.
        known: String,
    },
    /// Unknown application.
    #[error("{event}: environment {env:?} has no application {app:?} (it has: {known})")]
    UnknownApplication {
        /// Event type.
        event: &'static str,
        /// Environment.
        env: String,
        /// The application named.
        app: String,
        /// The environment's applications.
        known: String,
    },
    /// Unknown workflow run.
    #[error("{event}: unknown workflow run {run}")]
    UnknownRun {
        /// Event type.
        event: &'static str,
        /// Run id.
        run: RunId,
    },
    /// Unknown step.
    #[error("{event}: run {run} of workflow {workflow} has no step {step:?} (it has: {known})")]
    UnknownStep {
        /// Event type.
        event: &'static str,
        /// Run id.
        run: RunId,
        /// Workflow.
        workflow: String,
        /// The step named.
        step: String,
        /// The run's steps.
        known: String,
    },
    /// The release is over.
    #[error("{event} is not accepted: the release is {status} and finished")]
    ReleaseFinished {
        /// Event type.
        event: &'static str,
        /// Its status.
        status: ReleaseStatus,
    },
    /// Any other event that makes no sense now.
    #[error("{event} is not accepted: {reason}")]
    Rejected {
        /// Event type.
        event: &'static str,
        /// Why, in words.
        reason: String,
    },
    /// Replay stopped at an event.
    #[error("event #{index} of the log: {source}")]
    Replay {
        /// 0-based index in the log.
        index: usize,
        /// The error.
        source: Box<ApplyError>,
    },
}

pub(super) fn reject(event: &'static str, reason: impl Into<String>) -> ApplyError {
    ApplyError::Rejected { event, reason: reason.into() }
}

pub(super) fn join<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let list: Vec<String> = items.map(|i| i.to_string()).collect();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum RunLoc {
    App { env: usize, app: usize, run: usize },
    EnvHook { env: usize, run: usize },
    ReleaseHook { run: usize },
}

/// The state of one release: its snapshot plus everything its events recorded.
///
/// Fields are read through accessors; the only way to change a state is [`ReleaseState::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseState {
    pub(super) id: ReleaseId,
    /// Shared: states are cloned for every engine step, the snapshot never changes.
    pub(super) snapshot: std::sync::Arc<ReleaseSnapshot>,
    pub(super) created_at: Timestamp,
    pub(super) queued_at: Option<Timestamp>,
    pub(super) started_at: Option<Timestamp>,
    pub(super) finished_at: Option<Timestamp>,
    pub(super) environments: Vec<EnvState>,
    pub(super) hook_runs: Vec<WorkflowRun>,
    pub(super) terminate: Option<TerminateRequest>,
    pub(super) terminated_at: Option<Timestamp>,
    pub(super) retries: u32,
    pub(super) last_retry: Option<RetryRecord>,
    pub(super) context: BTreeMap<String, String>,
    pub(super) issues: Vec<Issue>,
    pub(super) resolved_issues: Vec<Issue>,
    pub(super) event_count: u64,
    /// Time spent with an environment held by a freeze since the flow timeout's start (not counted
    /// against the timeout).
    #[serde(default)]
    pub(super) frozen_for: Duration,
    /// Position of each environment by name (shared; the environments never change after creation).
    #[serde(skip)]
    pub(super) env_index: EnvIndex,
}

/// Environment positions by name, built when a state is created; empty in a deserialised state, where
/// look-ups fall back to a scan. Never part of a state's identity.
#[derive(Debug, Clone, Default)]
pub(super) struct EnvIndex(pub(super) std::sync::Arc<std::collections::HashMap<EnvName, usize>>);

impl PartialEq for EnvIndex {
    fn eq(&self, _: &EnvIndex) -> bool {
        true
    }
}

impl Eq for EnvIndex {}

impl ReleaseState {
    /// The workflow runs that `events` started or changed, as they are in this state, given the state
    /// `before` the events were applied (for the runs projection of the store). Events of one run look
    /// at that run's slot (a new run retires its predecessor); release-wide events (terminate, retry,
    /// finish) compare every run.
    pub fn changed_runs<'a>(&'a self, before: &ReleaseState, events: &[ReleaseEvent]) -> Vec<&'a WorkflowRun> {
        let wide = events.iter().any(|e| {
            matches!(
                e,
                ReleaseEvent::TerminateRequested { .. }
                    | ReleaseEvent::Terminated { .. }
                    | ReleaseEvent::RetryRequested { .. }
                    | ReleaseEvent::Finished { .. }
            )
        });
        let mut slots: Vec<RunLoc> = Vec::new();
        if wide {
            slots.push(RunLoc::ReleaseHook { run: 0 });
            for (env, state) in self.environments.iter().enumerate() {
                slots.push(RunLoc::EnvHook { env, run: 0 });
                slots.extend((0..state.apps.len()).map(|app| RunLoc::App { env, app, run: 0 }));
            }
        } else {
            for event in events {
                let id = match event {
                    ReleaseEvent::WorkflowRunStarted { run_id, .. }
                    | ReleaseEvent::StepStarted { run_id, .. }
                    | ReleaseEvent::StepAwaitingApproval { run_id, .. }
                    | ReleaseEvent::StepFinished { run_id, .. }
                    | ReleaseEvent::WorkflowRunErrored { run_id, .. }
                    | ReleaseEvent::StepAdded { run_id, .. }
                    | ReleaseEvent::StepLost { run_id, .. } => *run_id,
                    _ => continue,
                };
                slots.extend(self.find_run(id));
            }
        }
        let mut changed: Vec<&WorkflowRun> = Vec::new();
        for slot in slots {
            let (now, then) = (self.slot_runs(slot), before.slot_runs(slot));
            for (k, run) in now.iter().enumerate() {
                if then.get(k) != Some(run) && !changed.iter().any(|c| c.id == run.id) {
                    changed.push(run);
                }
            }
        }
        changed
    }

    /// The runs of the slot holding `loc` (an application's runs, an environment's or the release's
    /// hook runs); empty when the state has no such slot.
    fn slot_runs(&self, loc: RunLoc) -> &[WorkflowRun] {
        let runs = match loc {
            RunLoc::App { env, app, .. } => {
                self.environments.get(env).and_then(|e| e.apps.get(app)).map(|a| a.runs.as_slice())
            }
            RunLoc::EnvHook { env, .. } => self.environments.get(env).map(|e| e.hook_runs.as_slice()),
            RunLoc::ReleaseHook { .. } => Some(self.hook_runs.as_slice()),
        };
        runs.unwrap_or_default()
    }
}
