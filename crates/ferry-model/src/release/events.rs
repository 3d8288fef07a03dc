//! The events of a release's log.

use super::*;

/// A step of a workflow run as declared when the run starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSpec {
    /// Step name (unique in the run).
    pub name: StepName,
    /// Resolved dependencies (the implicit "previous step" already made explicit).
    pub depends_on: Vec<StepName>,
    /// The step stands for the whole run and does no work of its own (an Argo workflow's own step):
    /// it does not keep the run from waiting for a person (see [`run_waits_for_person`]).
    ///
    /// [`run_waits_for_person`]: crate::status::run_waits_for_person
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_run: bool,
}

/// Why an application failed its sync-and-health gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GateFailure {
    /// Reported Degraded.
    Degraded,
    /// Still not synced and healthy after `healthTimeout`.
    Timeout,
}

/// Everything that changes a release. Serialized with a `type` tag and camelCase fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ReleaseEvent {
    /// The release was created with its snapshot. Always the first event.
    Created {
        /// Release id (UUID v7).
        id: ReleaseId,
        /// What the release fixes at creation.
        snapshot: Box<ReleaseSnapshot>,
        /// Creation time.
        at: Timestamp,
    },
    /// The release waits for another release of the product (SPEC §3.9).
    Queued {
        /// When it was queued.
        at: Timestamp,
    },
    /// The release left the queue and started (its flow timeout counts from here).
    Started {
        /// When.
        at: Timestamp,
    },
    /// An environment started (all its dependencies are Successful).
    EnvironmentStarted {
        /// Environment.
        env: EnvName,
        /// When.
        at: Timestamp,
    },
    /// An environment ready to start waits for a freeze window to end (SPEC §10): Suspended, with the
    /// reason "frozen until …", until `until` (recorded again when the windows holding it change).
    EnvironmentFrozen {
        /// Environment.
        env: EnvName,
        /// When the joined windows holding it end.
        until: Timestamp,
        /// The freezes holding it.
        freezes: Vec<FreezeName>,
        /// When.
        at: Timestamp,
    },
    /// An admin let an environment of this release through the freeze windows holding it.
    FreezeOverridden {
        /// Environment.
        env: EnvName,
        /// Who.
        actor: String,
        /// Why (required).
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// Every application of an environment passed its phases: its soak time starts (SPEC §10) and
    /// lasts until `until` (`at` + the policy's `soakTime`), durable across restarts.
    SoakStarted {
        /// Environment.
        env: EnvName,
        /// When the soak ends.
        until: Timestamp,
        /// When.
        at: Timestamp,
    },
    /// The applications stayed Synced and Healthy through the soak time.
    SoakPassed {
        /// Environment.
        env: EnvName,
        /// When.
        at: Timestamp,
    },
    /// An application left Synced+Healthy inside the soak time: the environment fails.
    SoakRelapsed {
        /// Environment.
        env: EnvName,
        /// The application that relapsed.
        app: AppName,
        /// What was observed.
        message: String,
        /// When.
        at: Timestamp,
    },
    /// A person approved the promotion into an environment whose policy asks for approvals (SPEC §10).
    ApprovalGiven {
        /// Environment.
        env: EnvName,
        /// Who (the token's name).
        actor: String,
        /// The approver's role, when known.
        #[serde(default)]
        role: Option<String>,
        /// Why.
        #[serde(default)]
        comment: Option<String>,
        /// When.
        at: Timestamp,
    },
    /// An environment whose policy has `autoRollback` failed after its action landed: a rollback
    /// release of it (flow `rollback`, SPEC §10) is started with id `release`.
    RollbackStarted {
        /// Environment.
        env: EnvName,
        /// The rollback release.
        release: ReleaseId,
        /// When.
        at: Timestamp,
    },
    /// A workflow run started (trigger, pre/post action, or a hook). Starting a run for a slot (same
    /// target) that already has one supersedes the earlier run.
    WorkflowRunStarted {
        /// Run id.
        run_id: RunId,
        /// Stage and place.
        target: RunTarget,
        /// Workflow name (must be the one the snapshot configures for that target).
        workflow: WorkflowName,
        /// Its steps, with resolved dependencies; empty when the definition could not be read.
        steps: Vec<StepSpec>,
        /// When.
        at: Timestamp,
    },
    /// A step started (or was restarted after a crash).
    StepStarted {
        /// Run.
        run_id: RunId,
        /// Step.
        step: StepName,
        /// When.
        at: Timestamp,
    },
    /// A step the run learned of while running (an Argo workflow's node): added, Pending, to the
    /// run's steps. A step the run already has is refused.
    StepAdded {
        /// Run.
        run_id: RunId,
        /// Step.
        step: StepName,
        /// When.
        at: Timestamp,
    },
    /// A running step's process was lost with the replica that ran it (SPEC §8.1): the replica that
    /// took the release over runs the step again from its start.
    StepLost {
        /// Run.
        run_id: RunId,
        /// Step.
        step: StepName,
        /// Why, e.g. `the replica driving the release stopped (lease epoch 2)`.
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// A step waits for a person's approval (the environment is Suspended while nothing else runs).
    StepAwaitingApproval {
        /// Run.
        run_id: RunId,
        /// Step.
        step: StepName,
        /// Shown to the approver.
        message: String,
        /// When.
        at: Timestamp,
    },
    /// A person approved an approval step waiting for them (`ferry release approve`): who, their role
    /// and why. The step then finishes Success.
    StepApproved {
        /// Run.
        run_id: RunId,
        /// Step.
        step: StepName,
        /// Who (the token's name).
        actor: String,
        /// The approver's role, when known.
        #[serde(default)]
        role: Option<String>,
        /// Why.
        #[serde(default)]
        comment: Option<String>,
        /// When.
        at: Timestamp,
    },
    /// A step finished.
    StepFinished {
        /// Run.
        run_id: RunId,
        /// Step.
        step: StepName,
        /// Final status: Success, Failed, Error or Terminated.
        status: StepStatus,
        /// Exit code, when the step ran.
        exit_code: Option<i32>,
        /// Error text (timeout, cannot start, ...).
        error: Option<String>,
        /// `NAME=value` outputs written to `$FERRY_OUTPUT`.
        outputs: BTreeMap<String, String>,
        /// When.
        at: Timestamp,
    },
    /// The run could not start or its definition is invalid: the run is Error (SPEC §2.7).
    WorkflowRunErrored {
        /// Run.
        run_id: RunId,
        /// What is wrong.
        error: String,
        /// When.
        at: Timestamp,
    },
    /// The promotion action started for applications of one environment that share a repository.
    /// With action `none` there is nothing to wait for: the applications go straight to the health gate.
    ActionStarted {
        /// Target environment.
        env: EnvName,
        /// Applications in this commit (one repository).
        apps: Vec<AppName>,
        /// The action (must be the environment's resolved action).
        action: Action,
        /// When.
        at: Timestamp,
    },
    /// The promotion commit was pushed to the target branch.
    ActionCommitted {
        /// Target environment.
        env: EnvName,
        /// Applications in this commit.
        apps: Vec<AppName>,
        /// Repository (credentials redacted).
        repo: String,
        /// The promotion commit.
        commit: CommitSha,
        /// When.
        at: Timestamp,
    },
    /// The promoted values were already in place: success without a commit.
    ActionUnchanged {
        /// Target environment.
        env: EnvName,
        /// Applications.
        apps: Vec<AppName>,
        /// When.
        at: Timestamp,
    },
    /// A promotion pull request was opened; the environment is Suspended until it is merged.
    PullRequestOpened {
        /// Target environment.
        env: EnvName,
        /// Applications in this pull request.
        apps: Vec<AppName>,
        /// Web URL of the pull request.
        url: String,
        /// Number on its forge (or in the local provider).
        number: u64,
        /// Pushed branch (`ferry/<product>/<env>/<release>`).
        branch: String,
        /// When.
        at: Timestamp,
    },
    /// The promotion pull request was merged.
    PullRequestMerged {
        /// Target environment.
        env: EnvName,
        /// Applications.
        apps: Vec<AppName>,
        /// The merge commit on the target branch.
        merge_commit: CommitSha,
        /// When.
        at: Timestamp,
    },
    /// The action failed (Git error, or pull request closed without merge).
    ActionFailed {
        /// Target environment.
        env: EnvName,
        /// Applications.
        apps: Vec<AppName>,
        /// What went wrong (credentials redacted).
        error: String,
        /// When.
        at: Timestamp,
    },
    /// Sync and health of an application as observed.
    AppObserved {
        /// Environment.
        env: EnvName,
        /// Application.
        app: AppName,
        /// Sync (relative to the expected commit).
        sync: SyncStatus,
        /// Health.
        health: HealthStatus,
        /// Revision the application is synced to.
        revision: Option<CommitSha>,
        /// Message of the status source.
        message: Option<String>,
        /// When observed.
        at: Timestamp,
    },
    /// The application is Synced at the promotion commit and Healthy: on to the Post-Action phase.
    AppGatePassed {
        /// Environment.
        env: EnvName,
        /// Application.
        app: AppName,
        /// When.
        at: Timestamp,
    },
    /// The application failed its sync-and-health gate.
    AppGateFailed {
        /// Environment.
        env: EnvName,
        /// Application.
        app: AppName,
        /// Degraded or timed out.
        reason: GateFailure,
        /// Details in words.
        message: Option<String>,
        /// When.
        at: Timestamp,
    },
    /// The application passed all its phases in this environment.
    AppSucceeded {
        /// Environment.
        env: EnvName,
        /// Application.
        app: AppName,
        /// When.
        at: Timestamp,
    },
    /// An issue was raised.
    IssueRaised {
        /// The issue.
        issue: Box<Issue>,
    },
    /// A hook wrote `PROMOTION_CONTEXT`; merged shallowly into the context (newer keys win).
    ContextMerged {
        /// New values.
        values: BTreeMap<String, String>,
        /// When.
        at: Timestamp,
    },
    /// Someone (or the flow timeout, queue overflow, supersession) asked to terminate.
    TerminateRequested {
        /// Reason, shown in the release list.
        reason: String,
        /// Who asked (user, token, or `ferry`).
        actor: String,
        /// When.
        at: Timestamp,
    },
    /// Everything stopped after a terminate request (onFail hooks included). Steps still marked
    /// running are recorded as Terminated, actions in progress as failed.
    Terminated {
        /// When.
        at: Timestamp,
    },
    /// Retry of a Failed release at the point of failure (SPEC §3.8).
    RetryRequested {
        /// Who asked.
        actor: String,
        /// When (the flow timeout counts from here).
        at: Timestamp,
    },
    /// The release reached Succeeded or Failed and nothing runs any more.
    Finished {
        /// The derived status at that point (checked).
        status: ReleaseStatus,
        /// When.
        at: Timestamp,
    },
}

impl ReleaseEvent {
    /// The event's type name (its serde tag).
    pub fn name(&self) -> &'static str {
        match self {
            ReleaseEvent::Created { .. } => "Created",
            ReleaseEvent::Queued { .. } => "Queued",
            ReleaseEvent::Started { .. } => "Started",
            ReleaseEvent::EnvironmentStarted { .. } => "EnvironmentStarted",
            ReleaseEvent::EnvironmentFrozen { .. } => "EnvironmentFrozen",
            ReleaseEvent::FreezeOverridden { .. } => "FreezeOverridden",
            ReleaseEvent::SoakStarted { .. } => "SoakStarted",
            ReleaseEvent::SoakPassed { .. } => "SoakPassed",
            ReleaseEvent::SoakRelapsed { .. } => "SoakRelapsed",
            ReleaseEvent::ApprovalGiven { .. } => "ApprovalGiven",
            ReleaseEvent::RollbackStarted { .. } => "RollbackStarted",
            ReleaseEvent::WorkflowRunStarted { .. } => "WorkflowRunStarted",
            ReleaseEvent::StepStarted { .. } => "StepStarted",
            ReleaseEvent::StepAdded { .. } => "StepAdded",
            ReleaseEvent::StepAwaitingApproval { .. } => "StepAwaitingApproval",
            ReleaseEvent::StepApproved { .. } => "StepApproved",
            ReleaseEvent::StepLost { .. } => "StepLost",
            ReleaseEvent::StepFinished { .. } => "StepFinished",
            ReleaseEvent::WorkflowRunErrored { .. } => "WorkflowRunErrored",
            ReleaseEvent::ActionStarted { .. } => "ActionStarted",
            ReleaseEvent::ActionCommitted { .. } => "ActionCommitted",
            ReleaseEvent::ActionUnchanged { .. } => "ActionUnchanged",
            ReleaseEvent::PullRequestOpened { .. } => "PullRequestOpened",
            ReleaseEvent::PullRequestMerged { .. } => "PullRequestMerged",
            ReleaseEvent::ActionFailed { .. } => "ActionFailed",
            ReleaseEvent::AppObserved { .. } => "AppObserved",
            ReleaseEvent::AppGatePassed { .. } => "AppGatePassed",
            ReleaseEvent::AppGateFailed { .. } => "AppGateFailed",
            ReleaseEvent::AppSucceeded { .. } => "AppSucceeded",
            ReleaseEvent::IssueRaised { .. } => "IssueRaised",
            ReleaseEvent::ContextMerged { .. } => "ContextMerged",
            ReleaseEvent::TerminateRequested { .. } => "TerminateRequested",
            ReleaseEvent::Terminated { .. } => "Terminated",
            ReleaseEvent::RetryRequested { .. } => "RetryRequested",
            ReleaseEvent::Finished { .. } => "Finished",
        }
    }

    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            ReleaseEvent::IssueRaised { issue } => issue.at,
            ReleaseEvent::Created { at, .. }
            | ReleaseEvent::Queued { at }
            | ReleaseEvent::Started { at }
            | ReleaseEvent::EnvironmentStarted { at, .. }
            | ReleaseEvent::EnvironmentFrozen { at, .. }
            | ReleaseEvent::FreezeOverridden { at, .. }
            | ReleaseEvent::SoakStarted { at, .. }
            | ReleaseEvent::SoakPassed { at, .. }
            | ReleaseEvent::SoakRelapsed { at, .. }
            | ReleaseEvent::ApprovalGiven { at, .. }
            | ReleaseEvent::RollbackStarted { at, .. }
            | ReleaseEvent::WorkflowRunStarted { at, .. }
            | ReleaseEvent::StepStarted { at, .. }
            | ReleaseEvent::StepAdded { at, .. }
            | ReleaseEvent::StepAwaitingApproval { at, .. }
            | ReleaseEvent::StepApproved { at, .. }
            | ReleaseEvent::StepLost { at, .. }
            | ReleaseEvent::StepFinished { at, .. }
            | ReleaseEvent::WorkflowRunErrored { at, .. }
            | ReleaseEvent::ActionStarted { at, .. }
            | ReleaseEvent::ActionCommitted { at, .. }
            | ReleaseEvent::ActionUnchanged { at, .. }
            | ReleaseEvent::PullRequestOpened { at, .. }
            | ReleaseEvent::PullRequestMerged { at, .. }
            | ReleaseEvent::ActionFailed { at, .. }
            | ReleaseEvent::AppObserved { at, .. }
            | ReleaseEvent::AppGatePassed { at, .. }
            | ReleaseEvent::AppGateFailed { at, .. }
            | ReleaseEvent::AppSucceeded { at, .. }
            | ReleaseEvent::ContextMerged { at, .. }
            | ReleaseEvent::TerminateRequested { at, .. }
            | ReleaseEvent::Terminated { at }
            | ReleaseEvent::RetryRequested { at, .. }
            | ReleaseEvent::Finished { at, .. } => *at,
        }
    }

    /// Whether this event starts new work (refused once terminate was requested, except onFail hooks).
    pub(super) fn starts_work(&self) -> bool {
        match self {
            ReleaseEvent::Started { .. }
            | ReleaseEvent::EnvironmentStarted { .. }
            | ReleaseEvent::ActionStarted { .. }
            | ReleaseEvent::RetryRequested { .. } => true,
            ReleaseEvent::WorkflowRunStarted { target, .. } => target.hook() != Some(HookKind::OnFail),
            _ => false,
        }
    }
}
