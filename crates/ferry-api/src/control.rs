//! Requests that change releases and applications, and their answers: promote (SPEC §3.1), terminate,
//! retry and approve (§3.5, §3.8), promotion pull requests of the local provider (§6.2), status reports
//! (§6.3) and Git webhooks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::list_type;

/// `POST /api/v1/products/{name}/promote`: which flow, or which single environment. An empty body runs
/// the product's first flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// Flow to run (selectors are not consulted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Source environment of a single-environment promotion (with `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Target environment of a single-environment promotion (with `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `POST /api/v1/products/{name}/rollback` (SPEC §10): the environment to roll back and, optionally,
/// the release whose versions to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The environment to roll back (required).
    #[serde(default)]
    pub env: Option<String>,
    /// The release whose versions to restore; it must have been Successful in `env`. Default: the last
    /// release Successful in `env` before the one whose versions are there now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Why (at most 1000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/releases/{id}/terminate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminateRequest {
    /// Why the release is terminated (required, at most 1000 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/releases/{id}/approve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The environment whose waiting approval steps and policy approvals to approve (required).
    #[serde(default)]
    pub environment: Option<String>,
    /// Why: recorded with a policy approval (SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The answer of `POST /api/v1/releases/{id}/approve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Approved {
    /// The approved steps, as `run/step`.
    pub approved: Vec<String>,
}

/// `POST /api/v1/pulls/{number}/close`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosePullRequest {
    /// Why it is closed (at most 1000 characters).
    #[serde(default)]
    pub comment: Option<String>,
}

/// The state of a promotion pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PullState {
    /// Waiting for a person.
    Open,
    /// Merged into its target branch.
    Merged,
    /// Closed without merge.
    Closed,
}

impl PullState {
    /// Every state.
    pub const ALL: [PullState; 3] = [PullState::Open, PullState::Merged, PullState::Closed];

    /// The spelling on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PullState::Open => "open",
            PullState::Merged => "merged",
            PullState::Closed => "closed",
        }
    }
}

impl std::fmt::Display for PullState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PullState {
    type Err = String;

    /// Any case.
    fn from_str(s: &str) -> Result<Self, String> {
        PullState::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?} is not a pull-request state (expected one of: open, merged, closed)"))
    }
}

/// A promotion pull request of the local provider (SPEC §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// Number (unique in this Ferry).
    pub number: u64,
    /// Release that opened it.
    pub release: String,
    /// Product.
    pub product: String,
    /// Target environment.
    pub environment: String,
    /// Applications whose promotion it carries.
    pub applications: Vec<String>,
    /// Repository (credentials redacted).
    pub repo: String,
    /// Pushed branch `ferry/<product>/<env>/<release>`.
    pub branch: String,
    /// Branch it merges into.
    pub target: String,
    /// State.
    pub state: PullState,
    /// Head commit of the branch.
    pub head: String,
    /// Merge commit, once merged.
    pub merge_commit: Option<String>,
    /// Why it was closed, when closed without merge.
    pub comment: Option<String>,
    /// Title (the promotion commit's subject).
    pub title: String,
}

list_type!(
    /// `GET /api/v1/pulls`, newest first.
    PullRequestList of PullRequest
);

/// `POST /api/v1/apps/{name}/status`: an application's sync and health from an external agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// `Synced`, `OutOfSync`, `Syncing` or `Unknown`.
    pub sync: String,
    /// Revision the application is synced to (1 to 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub health: String,
    /// Free text (at most 4096 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer of a status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusAccepted {
    /// The application.
    pub application: String,
    /// Always `true`.
    pub accepted: bool,
}

/// The forge a webhook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub.
    Github,
    /// GitLab.
    Gitlab,
    /// Gitea or Forgejo.
    Gitea,
    /// The generic form.
    Generic,
}

/// The answer of `POST /api/v1/hooks/git`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookResponse {
    /// Whether the delivery was ignored (another event, a tag, a deleted branch).
    pub ignored: bool,
    /// What happened.
    pub message: String,
    /// The forge, for an accepted push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Applications whose branch moved and that will be checked, for an accepted push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<Vec<String>>,
}
