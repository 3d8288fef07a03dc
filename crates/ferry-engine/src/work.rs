//! Work carried out outside the engine task: workflow runs, promotions, sync-and-health watches.
//! Each task reports back through [`Msg`]s; the engine turns them into release events.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use ferry_git::{FilePlan, PromotionOutcome, PromotionRequest, PromotionSource};
use ferry_model::names::{AppName, CommitSha, EnvName, ReleaseId, StepName};
use ferry_model::release::{GateFailure, RunId};
use ferry_model::resources::Workflow;
use ferry_model::status::{HealthStatus, StepStatus, SyncStatus};
use ferry_runner::{CompletedStep, LogStream, RunEvent, RunSpec};
use ferry_store::{LogLine, Store, Write};
use tokio::sync::mpsc;

use crate::ports::{
    GateError, GitPort, Observation, OpenPullRequest, PullRequestError, PullRequestOpened, PullRequestProvider,
    RunController, StatusProviders, StatusTarget, WorkflowRunner,
};

/// Lines kept for an issue's log tail.
const TAIL: usize = ferry_model::release::LOG_TAIL_LINES;

/// A report from a work task.
#[derive(Debug)]
pub(crate) struct Msg {
    pub release: ReleaseId,
    /// Set when the work ended: its in-flight key is released.
    pub done: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    /// Outcomes to record at once (an Argo workflow's end: its nodes and itself).
    Batch(Vec<Outcome>),
    StepAdded {
        run_id: RunId,
        step: StepName,
    },
    StepStarted {
        run_id: RunId,
        step: StepName,
    },
    StepWaiting {
        run_id: RunId,
        step: StepName,
        message: String,
    },
    StepFinished {
        run_id: RunId,
        step: StepName,
        status: StepStatus,
        exit_code: Option<i32>,
        error: Option<String>,
        outputs: BTreeMap<String, String>,
        tail: Vec<String>,
    },
    RunEnded {
        run_id: RunId,
        status: StepStatus,
        error: Option<String>,
    },
    Promoted {
        env: EnvName,
        apps: Vec<AppName>,
        result: Result<PromotionOutcome, ferry_git::GitError>,
    },
    /// A pull request was opened (or nothing differed).
    PrOpened {
        env: EnvName,
        apps: Vec<AppName>,
        branch: String,
        result: Result<PullRequestOpened, PullRequestError>,
    },
    ActionUnsupported {
        env: EnvName,
        apps: Vec<AppName>,
        error: String,
    },
    Observed {
        env: EnvName,
        app: AppName,
        sync: SyncStatus,
        health: HealthStatus,
        revision: Option<CommitSha>,
        message: Option<String>,
    },
    Gate {
        env: EnvName,
        app: AppName,
        result: Result<(), (GateFailure, String)>,
    },
    /// An application left Synced+Healthy inside its environment's soak time.
    Relapsed {
        env: EnvName,
        app: AppName,
        message: String,
    },
}

/// Everything a workflow run task needs.
pub(crate) struct RunJob {
    pub release: ReleaseId,
    pub run_id: RunId,
    pub workflow: Workflow,
    pub env: BTreeMap<String, String>,
    pub completed: BTreeMap<StepName, CompletedStep>,
    /// The steps of a remote run (an Argo workflow) already recorded as started when the run is
    /// carried out again after a restart or a takeover: the runner re-attaches and reports their
    /// starts again, which are no new attempts.
    pub reattached: BTreeSet<StepName>,
    pub labels: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// Promotion commit whose facts become `COMMIT_*` (Post-Action).
    pub commit: Option<(String, CommitSha)>,
    /// The release's attempt (1 + its retries).
    pub attempt: u32,
    /// The release is being terminated and this run is not one of its `onFail` hooks: the run is
    /// stopped as soon as it starts (a remote run carried out again to be stopped), with this reason.
    pub terminate: Option<String>,
}

/// Runs a workflow through the runner port, streaming logs to the store and step results to the engine.
pub(crate) async fn run_workflow<S: Store>(
    job: RunJob,
    runner: Arc<dyn WorkflowRunner>,
    git: Arc<dyn GitPort>,
    store: S,
    tx: mpsc::UnboundedSender<Msg>,
    controls: Arc<std::sync::Mutex<BTreeMap<RunId, Arc<dyn RunController>>>>,
) {
    let RunJob { release, run_id, workflow, mut env, completed, reattached, labels, cwd, commit, attempt, terminate } =
        job;
    let key = crate::plan::Work::Run { run_id }.key();
    let send = |outcome, done: bool| {
        let _ = tx.send(Msg { release, done: done.then(|| key.clone()), outcome });
    };
    if let Some((repo, sha)) = commit {
        let git = git.clone();
        let span = tracing::Span::current();
        let info = tokio::task::spawn_blocking(move || span.in_scope(|| git.commit_info(&repo, &sha))).await;
        if let Ok(Ok(info)) = info {
            env.insert("COMMIT_SHA".into(), info.sha.to_string());
            env.insert("COMMIT_AUTHOR".into(), format!("{} <{}>", info.author_name, info.author_email));
            env.insert("COMMIT_MESSAGE".into(), info.message.clone());
            env.insert("COMMIT_DATE".into(), info.date.to_string());
        }
    }
    if let Err(e) = tokio::fs::create_dir_all(&cwd).await {
        send(
            Outcome::RunEnded {
                run_id,
                status: StepStatus::Error,
                error: Some(format!("cannot create {}: {e}", cwd.display())),
            },
            true,
        );
        return;
    }
    let spec = RunSpec { run_id: run_id.to_string(), workflow, env, cwd, completed, labels, attempt };
    let started = runner.start(spec);
    if let Some(reason) = terminate {
        started.control.terminate(reason);
    }
    if let Ok(mut map) = controls.lock() {
        map.insert(run_id, started.control);
    }
    let mut events = started.events;
    let mut logs =
        RunLogs { tails: BTreeMap::new(), reattached, release: release.to_string(), run: run_id.to_string(), store };
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::Log { step, lines } => logs.store(step, lines).await,
            RunEvent::Together { events } => {
                let mut outcomes = Vec::with_capacity(events.len());
                for event in events {
                    match event {
                        RunEvent::Log { step, lines } => logs.store(step, lines).await,
                        event => outcomes.extend(logs.outcome(run_id, event)),
                    }
                }
                send(Outcome::Batch(outcomes), false);
            }
            RunEvent::Finished { status, error, .. } => {
                if let Ok(mut map) = controls.lock() {
                    map.remove(&run_id);
                }
                send(Outcome::RunEnded { run_id, status, error }, true);
                return;
            }
            event => {
                if let Some(outcome) = logs.outcome(run_id, event) {
                    send(outcome, false);
                }
            }
        }
    }
    send(
        Outcome::RunEnded { run_id, status: StepStatus::Error, error: Some("the run ended without a result".into()) },
        true,
    );
}

/// The log lines of one run: stored as they come, the last lines of each step kept for its issue.
struct RunLogs<S> {
    tails: BTreeMap<StepName, VecDeque<String>>,
    /// Steps whose first reported start is a re-attachment's (see [`RunJob::reattached`]).
    reattached: BTreeSet<StepName>,
    release: String,
    run: String,
    store: S,
}

impl<S: Store> RunLogs<S> {
    async fn store(&mut self, step: StepName, lines: Vec<ferry_runner::LogLine>) {
        let tail = self.tails.entry(step.clone()).or_default();
        let mut rows = Vec::with_capacity(lines.len());
        for line in lines {
            if tail.len() == TAIL {
                tail.pop_front();
            }
            tail.push_back(line.text.clone());
            rows.push(LogLine {
                release_id: self.release.clone(),
                run_id: self.run.clone(),
                step: step.to_string(),
                at: line.at,
                stream: match line.stream {
                    LogStream::Stdout => "stdout".into(),
                    LogStream::Stderr => "stderr".into(),
                },
                text: line.text,
            });
        }
        if let Err(e) = self.store.write(vec![Write::Logs(rows)]).await {
            tracing::warn!(error = %e, "storing workflow log lines failed");
        }
    }

    /// The outcome of a step event (`None` for the events that are not about one step).
    fn outcome(&mut self, run_id: RunId, event: RunEvent) -> Option<Outcome> {
        match event {
            RunEvent::StepAdded { step, .. } => Some(Outcome::StepAdded { run_id, step }),
            // A re-attached run reports the start of a step already recorded as started: not an attempt.
            RunEvent::StepStarted { step, .. } if self.reattached.remove(&step) => None,
            RunEvent::StepStarted { step, .. } => {
                self.tails.remove(&step);
                Some(Outcome::StepStarted { run_id, step })
            }
            RunEvent::StepWaiting { step, message, .. } => Some(Outcome::StepWaiting { run_id, step, message }),
            RunEvent::StepFinished { step, status, exit_code, error, outputs, .. } => {
                let tail = self.tails.remove(&step).map(Vec::from).unwrap_or_default();
                Some(Outcome::StepFinished { run_id, step, status, exit_code, error, outputs, tail })
            }
            RunEvent::Log { .. } | RunEvent::Together { .. } | RunEvent::Finished { .. } => None,
        }
    }
}

/// Everything a promotion task needs.
pub(crate) struct PromoteJob {
    pub release: ReleaseId,
    pub env: EnvName,
    pub apps: Vec<AppName>,
    pub request: Result<PromotionRequest, String>,
    /// For action `pr`: the pull request to open instead of pushing to the target branch.
    pub pr: Option<PrTarget>,
}

/// Where an action `pr` promotion goes.
pub(crate) struct PrTarget {
    /// The branch pushed, `ferry/<product>/<env>/<release>`.
    pub branch: String,
    pub product: String,
    /// The repository as the snapshot shows it (redacted).
    pub repo: String,
    /// The release's version.
    pub version: Option<String>,
    /// The release page.
    pub release_url: String,
    /// The policy's `pullRequest` block.
    pub options: Option<ferry_model::resources::PullRequestOptions>,
}

/// Carries out a commit action (or opens its pull request).
pub(crate) async fn promote(
    job: PromoteJob,
    git: Arc<dyn GitPort>,
    pulls: Arc<dyn PullRequestProvider>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let PromoteJob { release, env, apps, request, pr } = job;
    let key = crate::plan::Work::Promote {
        env: env.clone(),
        apps: apps.clone(),
        action: ferry_model::resources::Action::Commit,
    }
    .key();
    let failed =
        |e| ferry_git::GitError::new(ferry_git::Operation::Commit, "", format!("the promotion task failed: {e}"));
    let outcome = match (request, pr) {
        (Err(error), _) => Outcome::ActionUnsupported { env, apps, error },
        (Ok(request), None) => {
            let span = tracing::Span::current();
            let result = tokio::task::spawn_blocking(move || span.in_scope(|| git.promote(&request)))
                .await
                .unwrap_or_else(|e| Err(failed(e)));
            Outcome::Promoted { env, apps, result }
        }
        (Ok(request), Some(PrTarget { branch, product, repo, version, release_url, options })) => {
            let open = OpenPullRequest {
                release,
                product,
                env: env.clone(),
                apps: apps.clone(),
                repo,
                request,
                branch: branch.clone(),
                version,
                release_url,
                options,
            };
            let result = pulls.open(open).await;
            Outcome::PrOpened { env, apps, branch, result }
        }
    };
    let _ = tx.send(Msg { release, done: Some(key), outcome });
}

/// Builds the promotion request for applications sharing a repository.
pub(crate) fn promotion_source(
    source_repo: &str,
    source_commit: &CommitSha,
    source_path: &str,
    target_path: &str,
    plan: FilePlan,
) -> PromotionSource {
    PromotionSource {
        repo_url: source_repo.to_owned(),
        commit: source_commit.clone(),
        source_path: source_path.to_owned(),
        target_path: target_path.to_owned(),
        plan,
    }
}

/// Everything a sync-and-health watch needs.
pub(crate) struct WatchJob {
    pub release: ReleaseId,
    pub target: StatusTarget,
}

impl Outcome {
    /// What observation `o` of `app` in `env` reports.
    fn observed(env: &EnvName, app: &AppName, o: Observation) -> Outcome {
        Outcome::Observed {
            env: env.clone(),
            app: app.clone(),
            sync: o.sync,
            health: o.health,
            revision: o.revision,
            message: o.message,
        }
    }
}

/// Waits until the application is Synced at the expected revision and Healthy, or fails its gate.
pub(crate) async fn watch_app(job: WatchJob, status: StatusProviders, tx: mpsc::UnboundedSender<Msg>) {
    let release = job.release;
    let (env, app) = (job.target.env.clone(), job.target.app.clone());
    let key = crate::plan::Work::Watch { env: env.clone(), app: app.clone() }.key();
    let send = |o: Observation| {
        let _ = tx.send(Msg { release, done: None, outcome: Outcome::observed(&env, &app, o) });
    };
    let result = gate(&job.target, &status, &send).await;
    let _ = tx.send(Msg { release, done: Some(key), outcome: Outcome::Gate { env, app, result } });
}

/// Follows an application through its environment's soak time until `until` by the engine's clock:
/// reports a relapse, or nothing when the soak ends (the planner then records it passed).
pub(crate) async fn soak_app(
    job: WatchJob,
    until: jiff::Timestamp,
    status: StatusProviders,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let release = job.release;
    let (env, app) = (job.target.env.clone(), job.target.app.clone());
    let key = crate::plan::Work::Soak { env: env.clone(), app: app.clone(), until }.key();
    let observe = |o: Observation| {
        let _ = tx.send(Msg { release, done: None, outcome: Outcome::observed(&env, &app, o) });
    };
    let outcome = match status.for_source(&job.target.source) {
        Err(message) => Outcome::Relapsed { env: env.clone(), app: app.clone(), message },
        Ok(provider) => {
            tokio::select! {
                () = clock.sleep_until(until) => Outcome::Batch(Vec::new()),
                message = provider.watch_relapse(&job.target, &observe) => {
                    Outcome::Relapsed { env: env.clone(), app: app.clone(), message }
                }
            }
        }
    };
    let _ = tx.send(Msg { release, done: Some(key), outcome });
}

/// Waits through the application's status provider until it is Synced at the expected revision and
/// Healthy; `observe` receives each observation. After a promotion commit the provider is asked to
/// refresh first.
pub(crate) async fn gate(
    target: &StatusTarget,
    status: &StatusProviders,
    observe: &(dyn Fn(Observation) + Send + Sync),
) -> Result<(), GateError> {
    let provider = status.for_source(&target.source).map_err(|e| (GateFailure::Degraded, e))?;
    let kind = source_kind(&target.source);
    if target.expected.is_some() {
        let started = std::time::Instant::now();
        let refreshed = provider.refresh(target).await;
        ::metrics::histogram!("ferry_provider_call_duration_seconds", "provider" => kind, "call" => "refresh")
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = refreshed {
            tracing::warn!(app = %target.app, env = %target.env, error = %e, "refreshing the application failed");
        }
    }
    let started = std::time::Instant::now();
    let ready = provider.wait_ready(target, observe).await;
    ::metrics::histogram!("ferry_provider_call_duration_seconds", "provider" => kind, "call" => "wait_ready")
        .record(started.elapsed().as_secs_f64());
    ready
}

/// The status source kind as `/metrics` labels it.
pub(crate) fn source_kind(source: &ferry_model::resources::StatusSource) -> &'static str {
    match source {
        ferry_model::resources::StatusSource::Exec(_) => "exec",
        ferry_model::resources::StatusSource::ArgoCd(_) => "argocd",
        ferry_model::resources::StatusSource::Push { .. } => "push",
    }
}
