//! The vocabulary Ferry speaks to every forge: a pull request as the forge has it, one to open, a
//! commit status, and a change a webhook or a poll observed.

use serde::{Deserialize, Serialize};

/// Where a pull request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrState {
    /// Open (drafts included).
    Open,
    /// Merged into its base branch.
    Merged,
    /// Closed without merge.
    Closed,
}

/// A pull request (GitLab: merge request) as the forge reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgePr {
    /// Its number in the repository (GitLab: `iid`).
    pub number: u64,
    /// Its web address.
    pub url: String,
    /// Open, merged or closed.
    pub state: PrState,
    /// The merge commit, once merged.
    pub merge_commit: Option<String>,
    /// Who merged or closed it, when the forge says.
    pub actor: Option<String>,
    /// The head branch.
    pub head: String,
    /// GitHub's GraphQL node id (auto-merge is a GraphQL mutation).
    pub node_id: Option<String>,
}

/// A pull request to open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewPr {
    /// Title.
    pub title: String,
    /// Body (Markdown).
    pub body: String,
    /// The branch carrying the change.
    pub head: String,
    /// The branch it merges into.
    pub base: String,
    /// Labels to add.
    pub labels: Vec<String>,
    /// Reviewers to request (user names).
    pub reviewers: Vec<String>,
    /// Opened as a draft.
    pub draft: bool,
}

/// The state of a commit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StatusState {
    /// Under way.
    Pending,
    /// Succeeded.
    Success,
    /// Failed.
    Failure,
    /// Could not be completed (terminated, an error of Ferry's).
    Error,
}

impl StatusState {
    /// GitHub's and Gitea's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// A commit status to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// State.
    pub state: StatusState,
    /// Context (`ferry/<product>/<env>`).
    pub context: String,
    /// One line of text.
    pub description: String,
    /// The release page.
    pub target_url: String,
}

/// A merge or close made on the forge, seen by a webhook or a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrEvent {
    /// The repository's name on the forge (`owner/repo`).
    pub repo: String,
    /// The pull request's number.
    pub number: u64,
    /// Merged or closed (never `Open`).
    pub state: PrState,
    /// The merge commit, for a merge.
    pub merge_commit: Option<String>,
    /// Who did it.
    pub actor: Option<String>,
}
