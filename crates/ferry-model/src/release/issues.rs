//! Issues (SPEC §4): what went wrong, where, with the log tail.

use super::*;

/// The three kinds of issue (what the seed calls errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IssueKind {
    /// A workflow step failed or errored.
    Workflow,
    /// An application was Degraded or not synced/healthy in time.
    Application,
    /// A Git or pull-request operation failed.
    Git,
}

impl IssueKind {
    /// Spelling in the JSON API: `workflow`, `application`, `git`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Workflow => "workflow",
            IssueKind::Application => "application",
            IssueKind::Git => "git",
        }
    }
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Git operation behind a Git issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GitOperation {
    /// Cloning the repository.
    Clone,
    /// Fetching.
    Fetch,
    /// Editing files and committing.
    Commit,
    /// Pushing.
    Push,
    /// Opening a pull request.
    OpenPr,
    /// Checking whether a pull request was merged.
    MergeCheck,
    /// Closing a pull request (on terminate).
    ClosePr,
}

/// What went wrong, per issue kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum IssueDetail {
    /// A workflow run or step failed.
    Workflow {
        /// The run.
        run_id: RunId,
        /// The workflow.
        workflow: WorkflowName,
        /// The stage.
        stage: Stage,
        /// The failing step, when one is to blame (`None` when the run could not start).
        step: Option<StepName>,
        /// Exit code of the step.
        exit_code: Option<i32>,
        /// Error text (timeout, cannot start, invalid definition, ...).
        error: Option<String>,
        /// The last lines of the step's log (at most [`LOG_TAIL_LINES`]; see [`log_tail`]).
        log_tail: Vec<String>,
        /// The workflow definition as it ran (rendered text).
        definition: Option<String>,
    },
    /// An application failed its sync-and-health gate.
    Application {
        /// Sync as last observed.
        sync: Option<SyncStatus>,
        /// Health as last observed.
        health: Option<HealthStatus>,
        /// Why the gate failed, in words.
        reason: String,
        /// When the status was last observed.
        observed_at: Option<Timestamp>,
        /// Link to the application (Argo CD URL when known).
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

/// An issue of a release, shown per environment and in the release's error banner (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// Stable id, see [`Issue::make_id`] and [`ReleaseState::next_issue_id`].
    pub id: String,
    /// Environment; `None` for a release-level problem (a release hook).
    pub env: Option<EnvName>,
    /// Application, when one is concerned.
    pub app: Option<AppName>,
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

    /// A deterministic id: `ENV[/APP]:KIND:SEQ` (`release` instead of the environment for release-level
    /// issues), e.g. `qa/shop-api-qa:workflow:1`.
    pub fn make_id(env: Option<&EnvName>, app: Option<&AppName>, kind: IssueKind, seq: u32) -> String {
        format!("{}:{kind}:{seq}", issue_scope(env, app))
    }
}

pub(super) fn issue_scope(env: Option<&EnvName>, app: Option<&AppName>) -> String {
    match (env, app) {
        (Some(env), Some(app)) => format!("{env}/{app}"),
        (Some(env), None) => env.to_string(),
        (None, Some(app)) => format!("release/{app}"),
        (None, None) => "release".to_owned(),
    }
}

/// The last [`LOG_TAIL_LINES`] lines of a log, for a workflow issue.
pub fn log_tail<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines.iter().skip(start).map(|l| l.as_ref().to_owned()).collect()
}
