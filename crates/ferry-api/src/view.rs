//! The release view of SPEC §7.4: `GET /api/v1/releases/{id}` and `ferry release show ID -o json`.

use std::collections::BTreeMap;

use ferry_model::ReleaseId;
use ferry_model::release::RunId;
use ferry_model::status::{EnvStatus, HealthStatus, ReleaseStatus, StepStatus, SyncStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::schema;
use crate::wire::{
    ActionStatus, AppPhase, EnvironmentType, GateFailureReason, GitOperation, HookKind, IssueKind, PromotionAction,
    Stage,
};

/// A release as the API presents it (SPEC §7.4; field names are a public contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    /// Release id (UUID v7).
    #[schema(value_type = String)]
    pub id: ReleaseId,
    /// Product.
    pub product: String,
    /// Flow name, or `manual` for a single-environment promotion.
    pub flow: String,
    /// Flow version.
    pub flow_version: Option<String>,
    /// The release version (SPEC §3.7), when known.
    pub version: Option<String>,
    /// Release status (SPEC §4).
    #[schema(schema_with = schema::release_status)]
    pub status: ReleaseStatus,
    /// Who or what started it.
    pub initiator: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it left the queue.
    pub started_at: Option<Timestamp>,
    /// When it finished or was terminated.
    pub finished_at: Option<Timestamp>,
    /// Failure or termination reason.
    pub reason: Option<String>,
    /// Number of retries.
    pub retries: u32,
    /// The terminate request, once made.
    pub terminate: Option<TerminateView>,
    /// The latest retry.
    pub last_retry: Option<RetryView>,
    /// The commit that triggered the release.
    pub trigger: TriggerView,
    /// Environments by roll-up (SPEC §4 header counters).
    pub counters: Counters,
    /// Environments in flow order, trigger first.
    pub environments: Vec<EnvironmentView>,
    /// Release hook workflows.
    pub hooks: Vec<WorkflowLine>,
    /// Promotion context values (SPEC §3.6).
    pub context: BTreeMap<String, String>,
    /// Open issues of the whole release, with their details.
    pub issues: Vec<Issue>,
    /// For a rollback release (flow `rollback`, SPEC §10): what it restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackView>,
}

/// What a rollback release restores (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackView {
    /// The environment rolled back.
    pub environment: String,
    /// The release whose versions are restored.
    #[schema(value_type = String)]
    pub target: ReleaseId,
    /// The release whose versions were in the environment when the rollback was created.
    #[schema(value_type = Option<String>)]
    pub replaces: Option<ReleaseId>,
    /// Why, as given by the initiator.
    pub reason: Option<String>,
    /// Whether the engine started it (`policy.autoRollback`).
    pub automatic: bool,
}

/// A terminate request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TerminateView {
    /// Why.
    pub reason: String,
    /// Who asked.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// A retry request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryView {
    /// Who asked.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// The commit that triggered a release (SPEC §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerView {
    /// The trigger environment.
    pub environment: String,
    /// Full commit id.
    pub sha: String,
    /// The first 7 digits of the commit id.
    pub short_sha: String,
    /// Full commit message.
    pub message: String,
    /// Author name.
    pub author: String,
    /// Author e-mail.
    pub author_email: String,
    /// Commit date.
    pub date: Timestamp,
    /// Repository URL (credentials redacted).
    pub repo: String,
    /// Branch.
    pub branch: String,
    /// Link to the commit on its forge, when the host is known.
    pub web_url: Option<String>,
}

/// Environments of a release by roll-up (SPEC §4 header counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Successful environments.
    pub successful: u32,
    /// Running or Suspended environments.
    pub running: u32,
    /// Failed or Terminated environments.
    pub failed: u32,
    /// Pending environments.
    pub pending: u32,
}

impl From<ferry_model::status::Counters> for Counters {
    fn from(c: ferry_model::status::Counters) -> Self {
        Counters { successful: c.successful, running: c.running, failed: c.failed, pending: c.pending }
    }
}

/// One environment of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    /// Name.
    pub name: String,
    /// Production or not.
    #[serde(rename = "type")]
    pub env_type: EnvironmentType,
    /// Whether this is the trigger environment.
    pub is_trigger: bool,
    /// Environments that must be Successful first.
    pub depends_on: Vec<String>,
    /// Environment status (SPEC §4).
    #[schema(schema_with = schema::env_status)]
    pub status: EnvStatus,
    /// Start.
    pub started_at: Option<Timestamp>,
    /// When its status last became final.
    pub finished_at: Option<Timestamp>,
    /// The resolved policy; `null` for the trigger environment.
    pub policy: Option<PolicyView>,
    /// Environment hook workflows.
    pub hooks: EnvironmentHooks,
    /// Applications, in snapshot order.
    pub applications: Vec<AppView>,
    /// Workflows, their steps aggregated across the applications.
    pub workflows: Vec<WorkflowLine>,
    /// Open issues of this environment.
    pub issues: Vec<IssueRef>,
    /// The freeze windows holding it before it starts (SPEC §10); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<FrozenView>,
    /// An admin's override of its freeze windows; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_override: Option<FreezeOverrideView>,
    /// Its soak time (SPEC §10); absent when its policy sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<SoakView>,
    /// The approvals its policy asks for before the action (SPEC §10); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalView>,
    /// The rollback release started when the environment failed after its action
    /// (`policy.autoRollback`, SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub rolled_back_by: Option<ReleaseId>,
}

/// The soak time of an environment: the remaining time is `until` minus now while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoakView {
    /// The policy's `soakTime` (`30m`).
    pub time: String,
    /// When it started (the applications passed their Post-Action); absent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ends; absent before it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// When it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_at: Option<Timestamp>,
    /// The application that relapsed inside it, and what was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relapse: Option<String>,
}

/// The approvals an environment's policy asks for, and those given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    /// Distinct approvers needed.
    pub required: u32,
    /// Roles whose holders may approve.
    pub roles: Vec<String>,
    /// Token names that may approve.
    pub tokens: Vec<String>,
    /// Whether the initiator may approve.
    pub allow_self_approval: bool,
    /// The approvals given, oldest first.
    pub approvals: Vec<ApprovalGivenView>,
    /// Whether the action waits for more approvals now.
    pub waiting: bool,
}

/// One approval: who, their role, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalGivenView {
    /// Who.
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

/// Freeze windows holding an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrozenView {
    /// When the windows end and the environment starts by itself.
    pub until: Timestamp,
    /// The freezes holding it.
    pub freezes: Vec<String>,
    /// Since when.
    pub since: Timestamp,
}

/// Who let an environment through its freeze windows, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreezeOverrideView {
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// The resolved policy of a target environment, as snapshotted at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// Promotion action.
    pub action: PromotionAction,
    /// Pre-Action workflow.
    pub pre_action: Option<String>,
    /// Post-Action workflow.
    pub post_action: Option<String>,
    /// Field (`action`, `preAction`, `postAction`) → who supplied it (`flow`, `policy NAME`, `default`).
    pub source: BTreeMap<String, String>,
}

/// The hook workflows of an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentHooks {
    /// On start.
    pub on_start: Option<String>,
    /// On success.
    pub on_success: Option<String>,
    /// On failure or termination.
    pub on_fail: Option<String>,
}

/// One application of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// Application.
    pub name: String,
    /// Component.
    pub component: String,
    /// Phase (SPEC §3.3).
    pub phase: AppPhase,
    /// The promotion action; `null` before it starts.
    pub action: Option<ActionView>,
    /// Sync and health as last observed.
    pub app: Option<AppObservation>,
    /// The version the application runs, when known.
    pub version: Option<String>,
    /// Whether the application failed.
    pub failed: bool,
    /// Why its gate failed.
    pub gate_failure: Option<GateFailureView>,
}

/// The promotion action of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionView {
    /// Which action.
    pub action: PromotionAction,
    /// Progress.
    pub status: ActionStatus,
    /// Promotion commit (or merge commit of the pull request).
    pub commit: Option<String>,
    /// Repository of the commit.
    pub repo: Option<String>,
    /// Succeeded without a commit because the values were already in place.
    pub unchanged: bool,
    /// The pull request, for action `pr`.
    pub pull_request: Option<PullRequestRef>,
    /// Error text when failed.
    pub error: Option<String>,
}

/// A promotion pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestRef {
    /// Web URL.
    pub url: String,
    /// Number.
    pub number: u64,
    /// Branch.
    pub branch: String,
}

/// Sync and health of an application as last observed (SPEC §6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppObservation {
    /// Sync status.
    #[schema(schema_with = schema::sync_status)]
    pub sync: SyncStatus,
    /// Health status.
    #[schema(schema_with = schema::health_status)]
    pub health: HealthStatus,
    /// Revision.
    pub revision: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// When it was observed.
    pub observed_at: Timestamp,
}

/// A failed sync-and-health gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateFailureView {
    /// Degraded or timed out.
    pub reason: GateFailureReason,
    /// Details.
    pub message: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// A workflow of an environment (or a release hook): the runs of one workflow in one stage, each step
/// aggregated across them (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowLine {
    /// Stage.
    pub stage: Stage,
    /// Hook kind, for hooks.
    pub hook: Option<HookKind>,
    /// Workflow.
    pub name: String,
    /// Roll-up of the runs.
    #[schema(schema_with = schema::step_status)]
    pub status: StepStatus,
    /// Steps in declaration order.
    pub steps: Vec<StepLine>,
    /// The runs aggregated.
    #[schema(value_type = Vec<String>)]
    pub runs: Vec<RunId>,
}

/// One aggregated step of a workflow line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepLine {
    /// Step.
    pub name: String,
    /// Status across the runs.
    #[schema(schema_with = schema::step_status)]
    pub status: StepStatus,
    /// Who approved it, when it is an approval step that was approved (the latest among the runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<ApprovalGivenView>,
}

/// An issue as listed in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueRef {
    /// Stable id.
    pub id: String,
    /// Kind.
    pub kind: IssueKind,
    /// One line for the error banner.
    pub summary: String,
    /// When it happened.
    pub at: Timestamp,
    /// Application, when one is concerned.
    pub app: Option<String>,
}

/// An issue with its details (the release's top-level list, SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// Stable id.
    pub id: String,
    /// Environment; `null` for a release-level problem.
    pub env: Option<String>,
    /// Application, when one is concerned.
    pub app: Option<String>,
    /// One line for the error banner.
    pub summary: String,
    /// Details per kind.
    pub detail: IssueDetail,
    /// When it happened.
    pub at: Timestamp,
}

impl Issue {
    /// The kind of issue.
    pub fn kind(&self) -> IssueKind {
        self.detail.kind()
    }
}

/// What went wrong, per kind of issue (tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum IssueDetail {
    /// A workflow run or step failed.
    #[serde(rename_all = "camelCase")]
    Workflow {
        /// The run.
        #[schema(value_type = String)]
        run_id: RunId,
        /// The workflow.
        workflow: String,
        /// The stage.
        stage: Stage,
        /// The failing step (`null` when the run could not start).
        step: Option<String>,
        /// Exit code of the step.
        exit_code: Option<i32>,
        /// Error text.
        error: Option<String>,
        /// The last lines of the step's log.
        log_tail: Vec<String>,
        /// The workflow definition as it ran.
        definition: Option<String>,
    },
    /// An application failed its sync-and-health gate.
    #[serde(rename_all = "camelCase")]
    Application {
        /// Sync as last observed.
        #[schema(schema_with = schema::sync_status_or_null)]
        sync: Option<SyncStatus>,
        /// Health as last observed.
        #[schema(schema_with = schema::health_status_or_null)]
        health: Option<HealthStatus>,
        /// Why the gate failed, in words.
        reason: String,
        /// When the status was last observed.
        observed_at: Option<Timestamp>,
        /// Link to the application.
        url: Option<String>,
    },
    /// A Git operation failed.
    Git {
        /// The operation.
        operation: GitOperation,
        /// The remote (credentials redacted).
        remote: String,
        /// The error text (credentials redacted).
        error: String,
    },
}

impl IssueDetail {
    /// The kind of issue.
    pub fn kind(&self) -> IssueKind {
        match self {
            IssueDetail::Workflow { .. } => IssueKind::Workflow,
            IssueDetail::Application { .. } => IssueKind::Application,
            IssueDetail::Git { .. } => IssueKind::Git,
        }
    }
}

impl ReleaseView {
    /// The environment named `name`.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentView> {
        self.environments.iter().find(|e| e.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue details read and write their §7.4 spelling: a `kind` tag and camelCase fields.
    #[test]
    fn issue_details_round_trip_in_their_wire_spelling() {
        let cases = [
            r#"{"kind":"workflow","runId":"01940000-0000-7000-8000-000000000001","workflow":"e2e","stage":"postAction","step":"tests","exitCode":1,"error":null,"logTail":["boom"],"definition":null}"#,
            r#"{"kind":"application","sync":"OutOfSync","health":null,"reason":"timed out","observedAt":"2026-01-05T10:00:00Z","url":null}"#,
            r#"{"kind":"git","operation":"openPr","remote":"https://git.example.com/x.git","error":"denied"}"#,
        ];
        for text in cases {
            let detail: IssueDetail = serde_json::from_str(text).expect(text);
            let back = serde_json::to_value(&detail).expect("serialises");
            let original: serde_json::Value = serde_json::from_str(text).expect("JSON");
            assert_eq!(back, original);
            assert_eq!(back["kind"], detail.kind().as_str());
        }
    }
}
