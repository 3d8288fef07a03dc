//! The engine's public interface: what the server and the demo ask of it.

use ferry_model::names::{AppName, EnvName, ReleaseId};
use serde::{Deserialize, Serialize};

/// Errors returned to API callers; each maps to an HTTP status in the server. Serialisable: a replica
/// answers a control request forwarded by another one with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EngineError {
    /// The request names something that does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is invalid (400/422), with field paths in `details`.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Field-level details, e.g. `flow: unknown flow "x"`.
        details: Vec<String>,
    },
    /// The request conflicts with the current state (409), e.g. retrying a running release.
    #[error("{0}")]
    Conflict(String),
    /// Something failed inside Ferry (500): storage, git, ...
    #[error("{0}")]
    Internal(String),
    /// The engine is shutting down (503).
    #[error("the engine is shutting down")]
    Unavailable,
}

/// Who approves (SPEC §10): the actor (a token's name), their role when known, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Approver {
    /// The token's name (the actor).
    pub actor: String,
    /// Its role (`promoter`, `admin`), when known.
    pub role: Option<String>,
    /// The approval's comment.
    pub comment: Option<String>,
}

/// How a release is requested by a person or a pipeline, parsed at the edge (the API, the CLI's
/// demo): the engine checks only that what it names is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoteRequest {
    /// Product.
    pub product: ferry_model::names::ProductName,
    /// What to promote.
    pub scope: PromoteScope,
}

/// What a promote request runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteScope {
    /// The product's first promotion flow.
    FirstFlow,
    /// This flow (selectors are not consulted).
    Flow(ferry_model::names::FlowName),
    /// A single-environment promotion.
    Environment {
        /// Source environment.
        from: EnvName,
        /// Target environment.
        to: EnvName,
    },
    /// A rollback of one environment (flow `rollback`, SPEC §10).
    Rollback {
        /// The environment rolled back.
        env: EnvName,
        /// The release whose versions to restore (default: the last one Successful in `env` before
        /// the current one).
        to: Option<ferry_model::names::ReleaseId>,
        /// Why.
        reason: Option<String>,
    },
}

impl PromoteRequest {
    /// A release of `product` through its first promotion flow.
    pub fn first_flow(product: ferry_model::names::ProductName) -> PromoteRequest {
        PromoteRequest { product, scope: PromoteScope::FirstFlow }
    }
}

/// A status report from an external agent (`push` status kind, SPEC §6.3), parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedStatus {
    /// Sync status.
    pub sync: ferry_model::status::SyncStatus,
    /// Revision the application is synced to.
    pub revision: Option<String>,
    /// Health status.
    pub health: ferry_model::status::HealthStatus,
    /// Free text from the agent.
    pub message: Option<String>,
}

/// A push to a git repository, from a webhook (normalised from GitHub, GitLab, Gitea or the generic form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitPush {
    /// Repository URL as the webhook names it (clone URLs are matched against applications' `repoURL`).
    pub repo_urls: Vec<String>,
    /// Branch (without `refs/heads/`).
    pub branch: String,
    /// New tip.
    pub after: String,
}

/// What the engine answers to a git push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushAccepted {
    /// Applications whose branch moved and that will be checked.
    pub applications: Vec<AppName>,
}

/// Result of a promote request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promoted {
    /// The new release.
    pub release: ReleaseId,
}

/// A promotion pull request of the local provider (SPEC §6.2), as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestInfo {
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
    /// `open`, `merged` or `closed`.
    pub state: String,
    /// Head commit of the branch.
    pub head: String,
    /// Merge commit, once merged.
    pub merge_commit: Option<String>,
    /// Why it was closed, when closed without merge.
    pub comment: Option<String>,
    /// Title (the promotion commit's subject).
    pub title: String,
}

/// Requests carried from a handle to the engine task.
#[derive(Debug)]
pub(crate) enum Request {
    ApplyConfig {
        catalog: Box<ferry_model::resources::Catalog>,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<i64, EngineError>>,
    },
    Promote {
        request: PromoteRequest,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<Promoted, EngineError>>,
    },
    PushStatus {
        app: AppName,
        status: PushedStatus,
        reply: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    },
    GitPush {
        push: GitPush,
        reply: tokio::sync::oneshot::Sender<Result<PushAccepted, EngineError>>,
    },
    Terminate {
        release: ReleaseId,
        reason: String,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    },
    Retry {
        release: ReleaseId,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    },
    Unfreeze {
        release: ReleaseId,
        env: EnvName,
        reason: String,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    },
    Freezes {
        reply: tokio::sync::oneshot::Sender<Result<Vec<ferry_model::freeze::Freeze>, EngineError>>,
    },
    CreateFreeze {
        freeze: Box<ferry_model::freeze::Freeze>,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    },
    DeleteFreeze {
        name: ferry_model::names::FreezeName,
        reply: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    },
    Approve {
        release: ReleaseId,
        env: EnvName,
        actor: String,
        role: Option<String>,
        comment: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<Vec<String>, EngineError>>,
    },
    PullRequests {
        reply: tokio::sync::oneshot::Sender<Result<Vec<PullRequestInfo>, EngineError>>,
    },
    MergePr {
        number: u64,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<PullRequestInfo, EngineError>>,
    },
    ClosePr {
        number: u64,
        actor: String,
        comment: String,
        reply: tokio::sync::oneshot::Sender<Result<PullRequestInfo, EngineError>>,
    },
    Notes {
        release: ReleaseId,
        first_parent: bool,
        reply: tokio::sync::oneshot::Sender<Result<ferry_notes::Notes, EngineError>>,
    },
    TakeTurn {
        job: &'static str,
        reply: tokio::sync::oneshot::Sender<Result<bool, EngineError>>,
    },
}

/// A cheap, cloneable handle to the running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) requests: tokio::sync::mpsc::Sender<Request>,
    pub(crate) catalog: tokio::sync::watch::Receiver<std::sync::Arc<ferry_model::resources::Catalog>>,
    pub(crate) status: crate::ports::StatusProviders,
    pub(crate) runner: std::sync::Arc<dyn crate::ports::WorkflowRunner>,
    pub(crate) live: LiveStates,
    pub(crate) notifier: ferry_notify::Notifier,
    pub(crate) pulls: std::sync::Arc<dyn crate::ports::PullRequestProvider>,
    /// Failed notifications written to the store so far.
    pub(crate) failures_stored: tokio::sync::watch::Receiver<u64>,
    pub(crate) freezes: tokio::sync::watch::Receiver<std::sync::Arc<ferry_model::freeze::FreezeSet>>,
}

/// The state of every release the engine is running, shared with readers: each commit replaces a
/// release's entry just before its store write (so a reader that saw one of its events finds it here)
/// and puts the old one back if the write fails; a release that ends leaves the map.
#[derive(Debug, Clone, Default)]
pub struct LiveStates(
    std::sync::Arc<
        std::sync::RwLock<
            std::collections::HashMap<
                ferry_model::names::ReleaseId,
                std::sync::Arc<ferry_model::release::ReleaseState>,
            >,
        >,
    >,
);

impl LiveStates {
    /// The state of release `id`, if the engine is running it.
    pub fn get(&self, id: ferry_model::names::ReleaseId) -> Option<std::sync::Arc<ferry_model::release::ReleaseState>> {
        let map = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&id).cloned()
    }

    pub(crate) fn insert(
        &self,
        id: ferry_model::names::ReleaseId,
        state: std::sync::Arc<ferry_model::release::ReleaseState>,
    ) {
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(id, state);
    }

    pub(crate) fn remove(&self, id: ferry_model::names::ReleaseId) {
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(&id);
    }
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").field("status", &self.status).finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// A verified pull-request webhook delivery from a forge (SPEC §6.2): whether it was about one of
    /// Ferry's pull requests (a merge or close the engine then acts on, once).
    pub async fn pull_request_hook(&self, event: ferry_forge::PrEvent) -> Result<bool, EngineError> {
        self.pulls.hook(event).await
    }

    /// The webhook secrets of the configured forges (GitProvider `webhookSecret`), read now.
    pub fn forge_webhook_secrets(&self) -> Vec<String> {
        self.pulls.webhook_secrets()
    }

    /// Outgoing notifications: failed and dropped deliveries (SPEC §6.6).
    pub fn notifier(&self) -> &ferry_notify::Notifier {
        &self.notifier
    }

    /// How many failed notifications (dead letters, dropped changes) the store has taken so far;
    /// changes after each store write of them.
    pub fn failures_stored(&self) -> tokio::sync::watch::Receiver<u64> {
        self.failures_stored.clone()
    }

    /// The committed state of release `id` while the engine runs it (`None` once it ended, or when
    /// another replica runs it): readers build an active release's view from it, the store keeps the
    /// view of releases that ended.
    pub fn live_state(
        &self,
        id: ferry_model::names::ReleaseId,
    ) -> Option<std::sync::Arc<ferry_model::release::ReleaseState>> {
        self.live.get(id)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, EngineError>>) -> Request,
    ) -> Result<T, EngineError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.requests.send(make(tx)).await.map_err(|_| EngineError::Unavailable)?;
        rx.await.map_err(|_| EngineError::Unavailable)?
    }

    /// Whether this server does the periodic `job` (e.g. `retention`) now: among replicas sharing a
    /// database one at a time does, holding the job's lock (taken here when free); another takes it
    /// over when that one stops. Always `true` for the only server on its database.
    pub async fn take_turn(&self, job: &'static str) -> bool {
        self.ask(|reply| Request::TakeTurn { job, reply }).await.unwrap_or(false)
    }

    /// Stores a validated configuration as the new version and starts using it. Returns the version.
    pub async fn apply_config(
        &self,
        catalog: ferry_model::resources::Catalog,
        actor: String,
    ) -> Result<i64, EngineError> {
        self.ask(|reply| Request::ApplyConfig { catalog: Box::new(catalog), actor, reply }).await
    }

    /// Creates a release (SPEC §3.1 manual trigger).
    pub async fn promote(&self, request: PromoteRequest, actor: String) -> Result<Promoted, EngineError> {
        self.ask(|reply| Request::Promote { request, actor, reply }).await
    }

    /// Records a status report for an application with the `push` status kind.
    pub async fn push_status(&self, app: AppName, status: PushedStatus) -> Result<(), EngineError> {
        self.ask(|reply| Request::PushStatus { app, status, reply }).await
    }

    /// Reacts to a git push (webhook): checks the applications that deploy from that branch.
    pub async fn git_push(&self, push: GitPush) -> Result<PushAccepted, EngineError> {
        self.ask(|reply| Request::GitPush { push, reply }).await
    }

    /// Terminates a Queued, Running or Suspended release (SPEC §3.5). Conflict when it already ended.
    pub async fn terminate(&self, release: ReleaseId, reason: String, actor: String) -> Result<(), EngineError> {
        self.ask(|reply| Request::Terminate { release, reason, actor, reply }).await
    }

    /// Retries a Failed release from the point of failure (SPEC §3.8). Conflict while anything runs or
    /// when the release is not Failed.
    pub async fn retry(&self, release: ReleaseId, actor: String) -> Result<(), EngineError> {
        self.ask(|reply| Request::Retry { release, actor, reply }).await
    }

    /// Lets environment `env` of the release through the freeze windows holding it (SPEC §10). Conflict
    /// when it is not frozen.
    pub async fn unfreeze(
        &self,
        release: ReleaseId,
        env: EnvName,
        reason: String,
        actor: String,
    ) -> Result<(), EngineError> {
        self.ask(|reply| Request::Unfreeze { release, env, reason, actor, reply }).await
    }

    /// Every freeze in force: the configuration's `Freeze` resources, then the runtime ones.
    pub async fn freezes(&self) -> Result<Vec<ferry_model::freeze::Freeze>, EngineError> {
        self.ask(|reply| Request::Freezes { reply }).await
    }

    /// Makes a runtime freeze (kept apart from the configuration). Conflict when the name is taken.
    pub async fn create_freeze(&self, freeze: ferry_model::freeze::Freeze, actor: String) -> Result<(), EngineError> {
        self.ask(|reply| Request::CreateFreeze { freeze: Box::new(freeze), actor, reply }).await
    }

    /// Deletes a runtime freeze. Not found when no runtime freeze has that name.
    pub async fn delete_freeze(&self, name: ferry_model::names::FreezeName) -> Result<(), EngineError> {
        self.ask(|reply| Request::DeleteFreeze { name, reply }).await
    }

    /// Approves every approval step waiting in environment `env` of the release; returns the approved
    /// steps (`run/step`). Conflict when none waits.
    pub async fn approve(&self, release: ReleaseId, env: EnvName, actor: String) -> Result<Vec<String>, EngineError> {
        self.approve_as(release, env, Approver { actor, role: None, comment: None }).await
    }

    /// Approves, in environment `env` of the release, both the approval steps waiting there and the
    /// approvals its policy asks for before the action (SPEC §10), recorded with who, their role and
    /// the comment; returns what was approved. Conflict when nothing waits or the approver's approval
    /// does not count (already given, not eligible, the initiator approving their own release).
    pub async fn approve_as(
        &self,
        release: ReleaseId,
        env: EnvName,
        approver: Approver,
    ) -> Result<Vec<String>, EngineError> {
        let Approver { actor, role, comment } = approver;
        self.ask(|reply| Request::Approve { release, env, actor, role, comment, reply }).await
    }

    /// Promotion pull requests of the local provider, newest first.
    pub async fn pull_requests(&self) -> Result<Vec<PullRequestInfo>, EngineError> {
        self.ask(|reply| Request::PullRequests { reply }).await
    }

    /// Merges an open promotion pull request into its target branch (a real merge commit, pushed).
    pub async fn merge_pull_request(&self, number: u64, actor: String) -> Result<PullRequestInfo, EngineError> {
        self.ask(|reply| Request::MergePr { number, actor, reply }).await
    }

    /// Closes an open promotion pull request without merging; its environment fails.
    pub async fn close_pull_request(
        &self,
        number: u64,
        actor: String,
        comment: String,
    ) -> Result<PullRequestInfo, EngineError> {
        self.ask(|reply| Request::ClosePr { number, actor, comment, reply }).await
    }

    /// The release notes of a release (SPEC §5): commits, pull requests, issues and images per component
    /// since what was live in the final environments. Computed off the engine task; stored once they
    /// can no longer change (and then answered from the store); Jira details are added on every call
    /// when Jira is configured. `first_parent` follows only the first parent in application source
    /// repositories (such notes are not stored). NotFound when the release does not exist.
    pub async fn notes(&self, release: ReleaseId, first_parent: bool) -> Result<ferry_notes::Notes, EngineError> {
        self.ask(|reply| Request::Notes { release, first_parent, reply }).await
    }

    /// The configuration in use.
    pub fn catalog(&self) -> std::sync::Arc<ferry_model::resources::Catalog> {
        self.catalog.borrow().clone()
    }

    /// The freeze windows in force (SPEC §10), as the engine last set them; read without asking the
    /// engine (pages and lists).
    pub fn freeze_set(&self) -> std::sync::Arc<ferry_model::freeze::FreezeSet> {
        self.freezes.borrow().clone()
    }

    /// The applications of `catalog` whose status source lacks a setting on this server (an Argo CD
    /// server or token), with what is missing: `apply` shows them as warnings.
    pub fn status_warnings(
        &self,
        catalog: &ferry_model::resources::Catalog,
    ) -> Vec<(ferry_model::names::AppName, String)> {
        self.status.missing_settings(catalog)
    }

    /// The workflows of `catalog` whose runner lacks a setting on this server (an Argo Server or
    /// token), with what is missing: `apply` shows them as warnings.
    pub fn workflow_warnings(
        &self,
        catalog: &ferry_model::resources::Catalog,
    ) -> Vec<(ferry_model::names::WorkflowName, String)> {
        catalog.workflows.values().filter_map(|w| Some((w.name.clone(), self.runner.missing_settings(w)?))).collect()
    }
}
