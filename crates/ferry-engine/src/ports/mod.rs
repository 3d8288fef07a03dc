//! The engine's ports: everything it needs from the outside world besides the store, as traits.
//!
//! The engine holds each port as an `Arc<dyn …>` ([`Ports`]), so one engine type serves the built-in
//! implementations ([`Ports::default_for`]), in-memory fakes in tests, and later implementations (Argo
//! CD, Argo Workflows, forge pull-request providers) without type parameters. Async methods return
//! boxed futures ([`BoxFuture`]) so the traits stay object-safe; git is blocking by nature (the mirror
//! cache runs `git` and gix) and is called from blocking threads.

mod argocd;
mod argowf;
mod clock;
mod forge;
mod git;
mod pulls;
mod replicas;
mod runner;
mod status;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use ferry_git::{CommitInfo, GitError, PromotionOutcome, PromotionRequest};
use ferry_model::names::{AppName, CommitSha, EnvName, ReleaseId, StepName};
use ferry_model::release::GateFailure;
use ferry_model::resources::StatusSource;
use ferry_model::status::{HealthStatus, SyncStatus};
use ferry_runner::{RunEvent, RunSpec};
use ferry_store::Store;
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use crate::engine::EngineConfig;
use crate::handle::{EngineError, PullRequestInfo, PushedStatus};

pub use argocd::{ArgoCdStatusProvider, DEFAULT_TOKEN_VARIABLE, TokenLookup};
pub use argowf::{
    ATTEMPT_PARAMETER, ArgoWorkflowRunner, DEFAULT_ARGO_NAMESPACE, DEFAULT_ARGO_TOKEN_VARIABLE, argo_root_step,
};
pub use clock::SystemClock;
pub use forge::{DEFAULT_PR_POLL, ForgePullRequests, ForgeSettings};
pub use git::MirrorGit;
pub use pulls::LocalPullRequests;
pub use replicas::{
    Control, ControlAnswer, ControlResult, HeldLock, Notice, Owner, PgReplicas, Replicas, SoleReplica, TakenControl,
};
pub use runner::{BackendRunner, LocalRunner};
pub use status::{ExecStatus, PushStatus};

/// A boxed, sendable future: what the async methods of the ports return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the engine needs from git: mirrors of remote repositories, reads at commits, promotion
/// commits and merges. Blocking: called from blocking threads (`spawn_blocking`), never from the
/// engine task. URLs are the configured ones and may carry credentials; implementations keep them out
/// of errors.
pub trait GitPort: Send + Sync + 'static {
    /// Brings the mirror of `url` up to date with the remote.
    fn fetch(&self, url: &str) -> Result<(), GitError>;
    /// Brings the mirror of `url` up to date if the remote's `branch` moved, as a ref advertisement
    /// that started at or after `asked` shows it (one advertisement serves every caller that asked
    /// before it started); returns whether it fetched. By default: always fetches.
    fn fetch_if_moved(&self, url: &str, branch: &str, asked: std::time::Instant) -> Result<bool, GitError> {
        let _ = (branch, asked);
        self.fetch(url).map(|()| true)
    }
    /// The tip of `branch` in the mirror.
    fn head(&self, url: &str, branch: &str) -> Result<CommitSha, GitError>;
    /// The newest commit on `branch` touching `path` (`""` = the whole repository).
    fn last_commit_touching(&self, url: &str, branch: &str, path: &str) -> Result<Option<CommitInfo>, GitError>;
    /// The file at `path` in `commit`, `None` when there is none.
    fn read_file(&self, url: &str, commit: &CommitSha, path: &str) -> Result<Option<Vec<u8>>, GitError>;
    /// Author, date and message of a commit.
    fn commit_info(&self, url: &str, sha: &CommitSha) -> Result<CommitInfo, GitError>;
    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(&self, url: &str, ancestor: &CommitSha, descendant: &CommitSha) -> Result<bool, GitError>;
    /// Writes the tree of `commit` to the new directory `dest`.
    fn checkout(&self, url: &str, commit: &CommitSha, dest: &Path) -> Result<(), GitError>;
    /// Builds the promotion commit on the target branch and pushes it (idempotent per release and
    /// environment through the `Ferry-Release` trailer).
    fn promote(&self, request: &PromotionRequest) -> Result<PromotionOutcome, GitError>;
    /// Builds the same commit as [`promote`](GitPort::promote) and pushes it to `branch` instead.
    fn push_branch(&self, request: &PromotionRequest, branch: &str) -> Result<PromotionOutcome, GitError>;
    /// Merges `source` into `target` with a merge commit and pushes it; returns the merge commit.
    fn merge_branch(
        &self,
        url: &str,
        source: &str,
        target: &str,
        message: &str,
        author: &(String, String),
    ) -> Result<CommitSha, GitError>;
    /// The mirror cache for release notes' history walks (`ferry_notes::compute` reads it directly);
    /// `None` when this implementation has no mirrors (release notes are then refused).
    fn mirrors(&self) -> Option<Arc<ferry_git::GitCache>>;
}

/// Runs workflows (SPEC §3.5–3.6): starts a run of steps, reports its events (steps started,
/// waiting, finished, log lines, the end) and takes control requests. The local runner is behind it
/// for `spec.steps`; the Argo Workflows runner submits `spec.argo` workflows and translates their
/// nodes and logs into the same events ([`BackendRunner`] routes by the workflow's backend).
pub trait WorkflowRunner: Send + Sync + 'static {
    /// Starts `spec` and returns at once. Every started step gets exactly one `StepFinished` after
    /// its log lines; the last event is `Finished` (also for a run that could not start).
    fn start(&self, spec: RunSpec) -> StartedRun;

    /// What this runner lacks on this server to run `workflow` (an Argo Server or token), `None`
    /// when nothing; `apply` shows it as a warning.
    fn missing_settings(&self, workflow: &ferry_model::resources::Workflow) -> Option<String> {
        let _ = workflow;
        None
    }
}

/// A run that was started: its control and its events.
pub struct StartedRun {
    /// Terminates the run and approves its waiting steps.
    pub control: Arc<dyn RunController>,
    /// The run's events, ending with `Finished`.
    pub events: mpsc::UnboundedReceiver<RunEvent>,
}

/// Control of one started run; cheap to share between tasks.
pub trait RunController: Send + Sync + 'static {
    /// Stops the run: running and waiting steps end Terminated, the run ends Terminated. Returns at
    /// once; only the first call counts.
    fn terminate(&self, reason: String);
    /// Approves the waiting approval step `step` on behalf of `actor` (an error when it does not wait).
    fn approve(&self, step: &StepName, actor: String) -> Result<(), String>;
    /// Stops following the run here because another replica drives its release now. A local run's
    /// processes are stopped (the default: [`terminate`](RunController::terminate)); a remote run (an
    /// Argo workflow) goes on where it runs, for the new owner to re-attach to.
    fn detach(&self, reason: String) {
        self.terminate(reason);
    }
}

/// One observation of an application: its sync and health, and the revision it is synced to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Sync status.
    pub sync: SyncStatus,
    /// Health status.
    pub health: HealthStatus,
    /// The revision the application is synced to, when known.
    pub revision: Option<CommitSha>,
    /// Text from the source (a command's output, an agent's message).
    pub message: Option<String>,
}

/// The application one status wait is about, in one environment.
#[derive(Debug, Clone)]
pub struct StatusTarget {
    /// The environment.
    pub env: EnvName,
    /// The application (an Argo CD provider observes the Argo CD application of this name or the one
    /// its `status.argocd` names).
    pub app: AppName,
    /// The GitOps repository (configured URL, may carry credentials).
    pub repo_url: String,
    /// Its branch.
    pub branch: String,
    /// The application's path in it.
    pub path: String,
    /// The commit to be synced to: the promotion commit; `None` = the branch tip.
    pub expected: Option<CommitSha>,
    /// The application's status source as configured.
    pub source: StatusSource,
    /// Reports pushed for this application (`POST /api/v1/applications/{app}/status`); only the push
    /// provider reads them.
    pub reports: watch::Receiver<Option<PushedStatus>>,
}

/// Why a status wait failed: the gate failure kind and a message.
pub type GateError = (GateFailure, String);

/// Observes an application's sync, health and revision in an environment, and waits until it is
/// Synced at the expected revision and Healthy (SPEC §3.4, §6.3). One provider per status source kind
/// ([`StatusProviders`]).
pub trait AppStatusProvider: Send + Sync + 'static {
    /// Asks the source to look at the repository again after Ferry pushed a promotion commit (an Argo
    /// CD provider refreshes the application); nothing for sources that look by themselves. A failure
    /// is logged and the wait goes on.
    fn refresh<'a>(&'a self, target: &'a StatusTarget) -> BoxFuture<'a, Result<(), String>> {
        let _ = target;
        Box::pin(async { Ok(()) })
    }

    /// What this provider lacks on this server to observe an application with `source` (an Argo CD
    /// server or token), `None` when nothing; `apply` shows it as a warning.
    fn missing_settings(&self, source: &StatusSource) -> Option<String> {
        let _ = source;
        None
    }

    /// The application's state when the provider knows it without waiting or running anything (an
    /// exec application without commands is Synced and Healthy once committed): the engine records it
    /// and passes the gate in the step that asked, instead of handing out a watch. `None` (the
    /// default): wait with [`AppStatusProvider::wait_ready`]. Called on the engine's task, so it must
    /// answer at once (reading a reference file is the most it may do).
    fn settled(&self, target: &StatusTarget) -> Option<Observation> {
        let _ = target;
        None
    }

    /// Waits until the application is Synced at the expected revision (or a descendant) and Healthy,
    /// or fails: Degraded, or not there within the source's health timeout. Each observation is passed
    /// to `observe` as it is made.
    fn wait_ready<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, Result<(), GateError>>;

    /// Follows an application that passed its gate through its environment's soak time (SPEC §10):
    /// resolves, with what was seen, when it leaves Synced+Healthy; never resolves otherwise (the
    /// engine drops it when the soak ends). The default never resolves: a source that cannot follow an
    /// application after its gate reports no relapse, and the soak is a wait.
    fn watch_relapse<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, String> {
        let _ = (target, observe);
        Box::pin(std::future::pending())
    }
}

/// The status providers by status source kind.
#[derive(Clone)]
pub struct StatusProviders {
    /// `status.exec`: Ferry deploys (checks out the revision, runs the sync and health commands).
    pub exec: Arc<dyn AppStatusProvider>,
    /// `status.push`: an agent reports.
    pub push: Arc<dyn AppStatusProvider>,
    /// `status.argocd`: Argo CD ([`ArgoCdStatusProvider`] by default); `None` refuses the source.
    pub argocd: Option<Arc<dyn AppStatusProvider>>,
}

impl std::fmt::Debug for StatusProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusProviders").field("argocd", &self.argocd.is_some()).finish_non_exhaustive()
    }
}

impl StatusProviders {
    /// The applications of `catalog` whose status source lacks a setting here, with what is missing.
    pub fn missing_settings(&self, catalog: &ferry_model::resources::Catalog) -> Vec<(AppName, String)> {
        catalog
            .applications
            .values()
            .filter_map(|app| {
                let missing = match self.for_source(&app.status) {
                    Ok(provider) => provider.missing_settings(&app.status)?,
                    Err(why) => why,
                };
                Some((app.name.clone(), missing))
            })
            .collect()
    }

    /// The provider for `source`, or why there is none.
    pub fn for_source(&self, source: &StatusSource) -> Result<&Arc<dyn AppStatusProvider>, String> {
        match source {
            StatusSource::Exec(_) => Ok(&self.exec),
            StatusSource::Push { .. } => Ok(&self.push),
            StatusSource::ArgoCd(_) => self.argocd.as_ref().ok_or_else(|| {
                "the argocd status source is not available in this version of Ferry; use exec or push".to_owned()
            }),
        }
    }
}

/// A promotion pull request to open (action `pr`, SPEC §3.3).
#[derive(Debug, Clone)]
pub struct OpenPullRequest {
    /// The release opening it.
    pub release: ReleaseId,
    /// Its product.
    pub product: String,
    /// The target environment.
    pub env: EnvName,
    /// The applications whose promotion it carries.
    pub apps: Vec<AppName>,
    /// The repository as the snapshot shows it (credentials redacted).
    pub repo: String,
    /// The promotion commit to propose (its `branch` is the target branch).
    pub request: PromotionRequest,
    /// The branch to push it to (`ferry/<product>/<env>/<release>`).
    pub branch: String,
    /// The release's version, if it has one.
    pub version: Option<String>,
    /// The release page.
    pub release_url: String,
    /// The policy's `pullRequest` block (labels, reviewers, draft, auto-merge).
    pub options: Option<ferry_model::resources::PullRequestOptions>,
}

/// A merge or close made on a forge (seen by a webhook or a poll), for the engine to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRequestChange {
    /// Merged on the forge.
    Merged {
        /// Ferry's number of the pull request.
        number: u64,
        /// The merge commit.
        merge_commit: CommitSha,
        /// Who merged it.
        by: String,
    },
    /// Closed on the forge without merge.
    Closed {
        /// Ferry's number of the pull request.
        number: u64,
        /// Who closed it.
        by: String,
    },
}

/// An environment's status changed, or a promotion commit of it landed: what a forge provider reports
/// as commit statuses on the trigger commit and the promotion commits, and in the comment of the
/// environment's pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProgress {
    /// The release.
    pub release: ReleaseId,
    /// Its product.
    pub product: String,
    /// The environment.
    pub env: EnvName,
    /// Its status (new, when `status_changed`).
    pub status: ferry_model::status::EnvStatus,
    /// Whether the status changed; otherwise only promotion commits landed, and only they are marked.
    pub status_changed: bool,
    /// The trigger commit's repository (the configured URL) and commit.
    pub trigger: Option<(String, CommitSha)>,
    /// Promotion commits (the repository's configured URL, commit) to mark: every one of the
    /// environment when its status changed, else those that just landed.
    pub promotions: Vec<(String, CommitSha)>,
    /// The release page.
    pub release_url: String,
    /// Why, for a failure.
    pub reason: Option<String>,
}

/// What opening a pull request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRequestOpened {
    /// The pull request is open (newly, or one the release opened before).
    Open {
        /// Its number.
        number: u64,
        /// Its address.
        url: String,
    },
    /// The target already had every promoted value: nothing to propose.
    Unchanged,
}

/// Why a pull request could not be opened: the remote (redacted) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestError {
    /// The repository, when the failure is about one.
    pub remote: String,
    /// What failed.
    pub message: String,
}

/// Promotion pull requests (SPEC §6.2): the built-in local provider today; GitHub, GitLab and Gitea
/// providers open the same pull requests on the forge. Merges and closes requested through Ferry go
/// through the provider; a forge provider also reports merges made on the forge.
pub trait PullRequestProvider: Send + Sync + 'static {
    /// Pushes the promotion to its branch and opens a pull request into the target branch, reusing the
    /// release's open one for the same environment.
    fn open(&self, request: OpenPullRequest) -> BoxFuture<'_, Result<PullRequestOpened, PullRequestError>>;
    /// One pull request, `None` when there is no such number.
    fn get(&self, number: u64) -> BoxFuture<'_, Result<Option<PullRequestInfo>, EngineError>>;
    /// Every pull request, newest first.
    fn list(&self) -> BoxFuture<'_, Result<Vec<PullRequestInfo>, EngineError>>;
    /// Merges an open pull request of the repository `repo_url` (the configured URL, which may carry
    /// credentials) on behalf of `actor`; returns it merged, with its merge commit. A merge that cannot
    /// be made (conflicts, a deleted branch) is a `Conflict`.
    fn merge(
        &self,
        number: u64,
        repo_url: String,
        actor: String,
    ) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>>;
    /// Closes an open pull request without merging it, keeping its branch.
    fn close(&self, number: u64, comment: String) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>>;
    /// Closes every open pull request of a terminated release, keeping their branches.
    fn close_for_release(&self, release: ReleaseId, reason: String) -> BoxFuture<'_, Result<(), EngineError>>;
    /// Takes the configuration's GitProviders (at start and after each apply).
    fn configure(&self, _catalog: &ferry_model::resources::Catalog) {}
    /// The merges and closes made on forges, once: the engine takes the receiver at start. `None`
    /// for providers that see none (the local provider).
    fn changes(&self) -> Option<mpsc::UnboundedReceiver<PullRequestChange>> {
        None
    }
    /// A verified pull-request webhook delivery; whether it concerned one of Ferry's pull requests.
    fn hook(&self, _event: ferry_forge::PrEvent) -> BoxFuture<'_, Result<bool, EngineError>> {
        Box::pin(async { Ok(false) })
    }
    /// The webhook secrets of the configured forges (accepted beside the server's own).
    fn webhook_secrets(&self) -> Vec<String> {
        Vec::new()
    }
    /// An environment's status changed or its promotion commit landed (commit statuses, the pull
    /// request's comment); never waits.
    fn progress(&self, _change: EnvProgress) {}
}

/// Time and identities. Tests pin time with a fake; the engine reads the time only through this.
pub trait Clock: Send + Sync + 'static {
    /// The current time, at the store's precision (microseconds).
    fn now(&self) -> Timestamp;
    /// A new id for a release or a workflow run: unique, and ordered by creation within a process.
    fn new_id(&self) -> uuid::Uuid;
    /// Completes once [`now`](Clock::now) has reached `at` (timers of flow timeouts).
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()>;
}

/// The engine's ports. [`Ports::default_for`] builds the built-in implementations.
#[derive(Clone)]
pub struct Ports {
    /// Git mirrors, reads, promotions and merges.
    pub git: Arc<dyn GitPort>,
    /// Workflow runs.
    pub runner: Arc<dyn WorkflowRunner>,
    /// Application status by source kind.
    pub status: StatusProviders,
    /// Promotion pull requests.
    pub pulls: Arc<dyn PullRequestProvider>,
    /// Time and ids.
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// The built-in implementations for `config`: the git mirror cache under `data_dir/git`, the local
    /// runner under `data_dir/runner` (stopping steps an earlier process left running) beside the Argo
    /// Workflows runner (tokens from the process environment), the exec, push
    /// and Argo CD status sources (Argo CD tokens from the process environment), the local
    /// pull-request provider on `store`, and the system clock.
    pub fn default_for<S: Store>(config: &EngineConfig, store: &S) -> Result<Ports, EngineError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| EngineError::Internal(format!("cannot create {}: {e}", config.data_dir.display())))?;
        let cache =
            ferry_git::GitCache::new(config.data_dir.join("git")).with_credentials(config.git_credentials.clone());
        let git: Arc<dyn GitPort> = Arc::new(MirrorGit(Arc::new(cache)));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let argo = ArgoWorkflowRunner::new(config.argo_server.clone(), ArgoCdStatusProvider::env_tokens());
        Ok(Ports {
            runner: Arc::new(BackendRunner { local: Arc::new(LocalRunner::new(config)), argo: Arc::new(argo) }),
            status: StatusProviders {
                exec: Arc::new(ExecStatus::new(
                    git.clone(),
                    config.data_dir.join("deploy"),
                    config.health_poll_interval,
                )),
                push: Arc::new(PushStatus::new(git.clone())),
                argocd: Some(Arc::new(ArgoCdStatusProvider::new(
                    git.clone(),
                    config.argocd_server.clone(),
                    ArgoCdStatusProvider::env_tokens(),
                ))),
            },
            pulls: Arc::new(ForgePullRequests::new(
                LocalPullRequests::new(store.clone(), git.clone(), clock.clone(), &config.base_url),
                config.forges.clone(),
            )),
            git,
            clock,
        })
    }
}
