//! Work carried out outside the engine task: workflow runs, promotions, sync-and-health watches.
//! Each task reports back through [`Msg`]s; the engine turns them into release events.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_git::{FilePlan, GitCache, PromotionOutcome, PromotionRequest, PromotionSource};
use ferry_model::names::{AppName, CommitSha, EnvName, ReleaseId, StepName};
use ferry_model::release::{GateFailure, RunId};
use ferry_model::resources::{StatusSource, Workflow};
use ferry_model::status::{HealthStatus, StepStatus, SyncStatus};
use ferry_runner::{CompletedStep, LogStream, RunControl, RunEvent, RunSpec, Runner};
use ferry_store::{LogLine, Store, Write};
use tokio::sync::{mpsc, watch};

use crate::handle::PushedStatus;

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
    /// A pull-request branch was pushed (or nothing differed).
    PrPushed {
        env: EnvName,
        apps: Vec<AppName>,
        branch: String,
        target: String,
        title: String,
        result: Result<PromotionOutcome, ferry_git::GitError>,
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
}

/// Everything a workflow run task needs.
pub(crate) struct RunJob {
    pub release: ReleaseId,
    pub run_id: RunId,
    pub workflow: Workflow,
    pub env: BTreeMap<String, String>,
    pub completed: BTreeMap<StepName, CompletedStep>,
    pub labels: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// Promotion commit whose facts become `COMMIT_*` (Post-Action).
    pub commit: Option<(String, CommitSha)>,
}

/// Runs a workflow through the local runner, streaming logs to the store and step results to the engine.
pub(crate) async fn run_workflow<S: Store>(
    job: RunJob,
    runner: Runner,
    git: Arc<GitCache>,
    store: S,
    tx: mpsc::UnboundedSender<Msg>,
    controls: Arc<std::sync::Mutex<BTreeMap<RunId, RunControl>>>,
) {
    let RunJob { release, run_id, workflow, mut env, completed, labels, cwd, commit } = job;
    let key = crate::plan::Work::Run { run_id }.key();
    let send = |outcome, done: bool| {
        let _ = tx.send(Msg { release, done: done.then(|| key.clone()), outcome });
    };
    if let Some((repo, sha)) = commit {
        let git = git.clone();
        let info = tokio::task::spawn_blocking(move || git.commit_info(&repo, &sha)).await;
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
    let spec = RunSpec { run_id: run_id.to_string(), workflow, env, cwd, completed, labels };
    let mut handle = runner.start(spec);
    if let Ok(mut map) = controls.lock() {
        map.insert(run_id, handle.control());
    }
    let Some(mut events) = handle.take_events() else {
        send(
            Outcome::RunEnded { run_id, status: StepStatus::Error, error: Some("runner gave no events".into()) },
            true,
        );
        return;
    };
    let mut tails: BTreeMap<StepName, VecDeque<String>> = BTreeMap::new();
    let release_text = release.to_string();
    let run_text = run_id.to_string();
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::StepStarted { step, .. } => {
                tails.remove(&step);
                send(Outcome::StepStarted { run_id, step }, false);
            }
            RunEvent::Log { step, lines } => {
                let tail = tails.entry(step.clone()).or_default();
                let mut rows = Vec::with_capacity(lines.len());
                for line in lines {
                    if tail.len() == TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line.text.clone());
                    rows.push(LogLine {
                        release_id: release_text.clone(),
                        run_id: run_text.clone(),
                        step: step.to_string(),
                        at: line.at,
                        stream: match line.stream {
                            LogStream::Stdout => "stdout".into(),
                            LogStream::Stderr => "stderr".into(),
                        },
                        text: line.text,
                    });
                }
                if let Err(e) = store.write(vec![Write::Logs(rows)]).await {
                    tracing::warn!(error = %e, "storing workflow log lines failed");
                }
            }
            RunEvent::StepWaiting { step, message, .. } => send(Outcome::StepWaiting { run_id, step, message }, false),
            RunEvent::StepFinished { step, status, exit_code, error, outputs, .. } => {
                let tail = tails.remove(&step).map(Vec::from).unwrap_or_default();
                send(Outcome::StepFinished { run_id, step, status, exit_code, error, outputs, tail }, false);
            }
            RunEvent::Finished { status, error, .. } => {
                if let Ok(mut map) = controls.lock() {
                    map.remove(&run_id);
                }
                send(Outcome::RunEnded { run_id, status, error }, true);
                return;
            }
        }
    }
    send(
        Outcome::RunEnded { run_id, status: StepStatus::Error, error: Some("the run ended without a result".into()) },
        true,
    );
}

/// Everything a promotion task needs.
pub(crate) struct PromoteJob {
    pub release: ReleaseId,
    pub env: EnvName,
    pub apps: Vec<AppName>,
    pub request: Result<PromotionRequest, String>,
    /// For action `pr`: the branch to push instead of the target branch.
    pub pr_branch: Option<String>,
}

/// Carries out a commit action.
pub(crate) async fn promote(job: PromoteJob, git: Arc<GitCache>, tx: mpsc::UnboundedSender<Msg>) {
    let PromoteJob { release, env, apps, request, pr_branch } = job;
    let key = crate::plan::Work::Promote {
        env: env.clone(),
        apps: apps.clone(),
        action: ferry_model::resources::Action::Commit,
    }
    .key();
    let failed =
        |e| ferry_git::GitError::new(ferry_git::Operation::Commit, "", format!("the promotion task failed: {e}"));
    let outcome = match (request, pr_branch) {
        (Err(error), _) => Outcome::ActionUnsupported { env, apps, error },
        (Ok(request), None) => {
            let result =
                tokio::task::spawn_blocking(move || git.promote(&request)).await.unwrap_or_else(|e| Err(failed(e)));
            Outcome::Promoted { env, apps, result }
        }
        (Ok(request), Some(branch)) => {
            let target = request.branch.clone();
            let title = request.message.lines().next().unwrap_or_default().to_owned();
            let pushed = branch.clone();
            let result = tokio::task::spawn_blocking(move || git.push_branch(&request, &pushed))
                .await
                .unwrap_or_else(|e| Err(failed(e)));
            Outcome::PrPushed { env, apps, branch, target, title, result }
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
    pub env: EnvName,
    pub app: AppName,
    pub repo_url: String,
    pub branch: String,
    pub path: String,
    /// The promotion commit; `None` = the branch tip (action `none` or unchanged values).
    pub expected: Option<CommitSha>,
    pub status: StatusSource,
    pub deploy_root: PathBuf,
    pub poll: Duration,
    /// Push-kind reports for this application.
    pub pushed: watch::Receiver<Option<PushedStatus>>,
}

/// Waits until the application is Synced at the expected revision and Healthy, or fails its gate.
pub(crate) async fn watch_app(job: WatchJob, git: Arc<GitCache>, tx: mpsc::UnboundedSender<Msg>) {
    let release = job.release;
    let key = crate::plan::Work::Watch { env: job.env.clone(), app: job.app.clone() }.key();
    let env = job.env.clone();
    let app = job.app.clone();
    let send = |outcome| {
        let _ = tx.send(Msg { release, done: None, outcome });
    };
    let result = gate(&job, &git, &send).await;
    let _ = tx.send(Msg { release, done: Some(key), outcome: Outcome::Gate { env, app, result } });
}

/// Deploys (exec) or waits for reports (push) until the application is Synced at the expected
/// revision and Healthy; `send` receives each observation.
pub(crate) async fn gate(
    job: &WatchJob,
    git: &Arc<GitCache>,
    send: &impl Fn(Outcome),
) -> Result<(), (GateFailure, String)> {
    match job.status.clone() {
        StatusSource::Exec(exec) => watch_exec(job, &exec, git, send).await,
        StatusSource::Push { health_timeout } => watch_push(job, health_timeout, git, send).await,
        StatusSource::ArgoCd(_) => Err((
            GateFailure::Degraded,
            "the argocd status source is not available in this version of Ferry; use exec or push".to_owned(),
        )),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ferry_git::GitError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("a git task failed: {e}")),
    }
}

/// The revision to deploy: the promotion commit, or the branch tip.
async fn target_revision(job: &WatchJob, git: &Arc<GitCache>) -> Result<CommitSha, String> {
    if let Some(sha) = &job.expected {
        return Ok(sha.clone());
    }
    let (g, url, branch) = (git.clone(), job.repo_url.clone(), job.branch.clone());
    blocking(move || {
        g.fetch(&url)?;
        g.head(&url, &branch)
    })
    .await
}

async fn watch_exec(
    job: &WatchJob,
    exec: &ferry_model::resources::ExecStatus,
    git: &Arc<GitCache>,
    send: &impl Fn(Outcome),
) -> Result<(), (GateFailure, String)> {
    let deadline = tokio::time::Instant::now() + exec.health_timeout;
    let observe = |sync, health, revision: Option<CommitSha>, message: Option<String>| {
        send(Outcome::Observed { env: job.env.clone(), app: job.app.clone(), sync, health, revision, message })
    };
    if exec.sync.is_none() && exec.health.is_none() {
        // Without commands an exec application is Synced and Healthy once committed (SPEC §6.3): there
        // is nothing to check out or run. Without a promotion commit, the revision shown is the branch
        // tip in the mirror (fetched when the release was created), read without another fetch; only a
        // mirror that cannot answer is fetched.
        let revision = match &job.expected {
            Some(sha) => sha.clone(),
            None => {
                let (g, url, branch) = (git.clone(), job.repo_url.clone(), job.branch.clone());
                match blocking(move || g.head(&url, &branch)).await {
                    Ok(sha) => sha,
                    Err(_) => target_revision(job, git).await.map_err(|e| (GateFailure::Degraded, e))?,
                }
            }
        };
        observe(SyncStatus::Synced, HealthStatus::Healthy, Some(revision), None);
        return Ok(());
    }
    let revision = target_revision(job, git).await.map_err(|e| (GateFailure::Degraded, e))?;
    // Check out the revision: Ferry is the deployer of exec applications.
    let dir = job.deploy_root.join(job.app.as_str()).join(revision.as_str());
    if !dir.exists() {
        let tmp = job.deploy_root.join(job.app.as_str()).join(format!(".{}.tmp", revision.as_str()));
        let _ = std::fs::remove_dir_all(&tmp);
        let (g, url, sha, t) = (git.clone(), job.repo_url.clone(), revision.clone(), tmp.clone());
        blocking(move || {
            g.fetch(&url)?;
            g.checkout(&url, &sha, &t)
        })
        .await
        .map_err(|e| (GateFailure::Degraded, format!("cannot check out {}: {e}", revision.short())))?;
        std::fs::rename(&tmp, &dir)
            .map_err(|e| (GateFailure::Degraded, format!("cannot prepare {}: {e}", dir.display())))?;
    }
    let cwd = if job.path.trim_matches('/').is_empty() { dir.clone() } else { dir.join(job.path.trim_matches('/')) };
    let vars: BTreeMap<String, String> = [
        ("APP_NAME".to_owned(), job.app.to_string()),
        ("ENVIRONMENT".to_owned(), job.env.to_string()),
        ("REVISION".to_owned(), revision.to_string()),
    ]
    .into();
    let run = |script: String| {
        let cwd = cwd.clone();
        let vars = vars.clone();
        async move {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_secs(1));
            ferry_runner::run_command(&script, &cwd, &vars, left, 256 * 1024).await
        }
    };
    // Sync, retried until it succeeds or the health timeout passes.
    if let Some(sync) = &exec.sync {
        loop {
            match run(sync.clone()).await {
                Ok(result) if result.success() => break,
                Ok(result) => {
                    let text = result.output_text();
                    observe(
                        SyncStatus::OutOfSync,
                        HealthStatus::Unknown,
                        Some(revision.clone()),
                        Some(tail_text(&text)),
                    );
                    if tokio::time::Instant::now() + job.poll >= deadline {
                        return Err((GateFailure::Timeout, format!("sync command failed: {}", tail_text(&text))));
                    }
                }
                Err(e) => return Err((GateFailure::Degraded, format!("cannot run the sync command: {e}"))),
            }
            tokio::time::sleep(job.poll).await;
        }
    }
    let Some(health) = &exec.health else {
        observe(SyncStatus::Synced, HealthStatus::Healthy, Some(revision.clone()), None);
        return Ok(());
    };
    observe(SyncStatus::Synced, HealthStatus::Progressing, Some(revision.clone()), None);
    loop {
        match run(health.clone()).await {
            Ok(result) if result.success() => {
                observe(SyncStatus::Synced, HealthStatus::Healthy, Some(revision.clone()), None);
                return Ok(());
            }
            Ok(result) => {
                if tokio::time::Instant::now() + job.poll >= deadline {
                    let text = tail_text(&result.output_text());
                    observe(SyncStatus::Synced, HealthStatus::Degraded, Some(revision.clone()), Some(text.clone()));
                    return Err((
                        GateFailure::Timeout,
                        format!(
                            "not healthy after {}: health command exited with {}: {text}",
                            ferry_model::format_duration(exec.health_timeout),
                            result.exit_code.map_or("a signal".to_owned(), |c| format!("code {c}"))
                        ),
                    ));
                }
            }
            Err(e) => return Err((GateFailure::Degraded, format!("cannot run the health command: {e}"))),
        }
        tokio::time::sleep(job.poll).await;
    }
}

fn tail_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n")
}

async fn watch_push(
    job: &WatchJob,
    timeout: Duration,
    git: &Arc<GitCache>,
    send: &impl Fn(Outcome),
) -> Result<(), (GateFailure, String)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let expected = target_revision(job, git).await.map_err(|e| (GateFailure::Degraded, e))?;
    let mut pushed = job.pushed.clone();
    loop {
        let current = pushed.borrow_and_update().clone();
        if let Some(report) = current {
            let sync = report.sync.parse::<SyncStatus>().unwrap_or(SyncStatus::Unknown);
            let health = report.health.parse::<HealthStatus>().unwrap_or(HealthStatus::Unknown);
            let revision = report.revision.as_deref().and_then(|r| CommitSha::new(r).ok());
            // Synced counts only at the expected commit or a descendant of it.
            let at_expected = match &revision {
                Some(rev) if *rev == expected => true,
                Some(rev) => {
                    let (g, url, a, d) = (git.clone(), job.repo_url.clone(), expected.clone(), rev.clone());
                    blocking(move || {
                        g.fetch(&url)?;
                        g.is_ancestor(&url, &a, &d)
                    })
                    .await
                    .unwrap_or(false)
                }
                None => false,
            };
            let sync = if sync == SyncStatus::Synced && !at_expected { SyncStatus::OutOfSync } else { sync };
            send(Outcome::Observed {
                env: job.env.clone(),
                app: job.app.clone(),
                sync,
                health,
                revision: revision.clone(),
                message: report.message.clone(),
            });
            if health == HealthStatus::Degraded {
                return Err((GateFailure::Degraded, report.message.unwrap_or_else(|| "reported Degraded".to_owned())));
            }
            if sync == SyncStatus::Synced && health == HealthStatus::Healthy {
                return Ok(());
            }
        }
        tokio::select! {
            changed = pushed.changed() => {
                if changed.is_err() {
                    return Err((GateFailure::Degraded, "status reports stopped".to_owned()));
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err((
                    GateFailure::Timeout,
                    format!("not Synced at {} and Healthy after {}", expected.short(), ferry_model::format_duration(timeout)),
                ));
            }
        }
    }
}
