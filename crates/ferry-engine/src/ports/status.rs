//! The built-in status sources: exec (Ferry deploys: checks out the revision, runs the sync command,
//! polls the health command) and push (an agent reports).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_model::names::CommitSha;
use ferry_model::release::GateFailure;
use ferry_model::resources::StatusSource;
use ferry_model::status::{HealthStatus, SyncStatus};

use super::{AppStatusProvider, BoxFuture, GateError, GitPort, Observation, StatusTarget};

/// `status.exec` (SPEC §6.3): Ferry is the deployer. The revision is checked out under
/// `deploy_root/<app>/<sha>`, the sync command retried until it succeeds, then the health command
/// polled every `poll` until it succeeds or the health timeout passes. Without commands the
/// application is Synced and Healthy once committed, with no checkout.
pub struct ExecStatus {
    git: Arc<dyn GitPort>,
    deploy_root: PathBuf,
    poll: Duration,
}

impl ExecStatus {
    /// Exec status over `git`, checking out under `deploy_root`, polling every `poll`.
    pub fn new(git: Arc<dyn GitPort>, deploy_root: PathBuf, poll: Duration) -> ExecStatus {
        ExecStatus { git, deploy_root, poll }
    }
}

/// `status.push` (SPEC §6.3): waits for reports; Synced counts only at the expected commit or a
/// descendant of it, Degraded fails at once.
pub struct PushStatus {
    git: Arc<dyn GitPort>,
}

impl PushStatus {
    /// Push status, comparing revisions in the mirrors of `git`.
    pub fn new(git: Arc<dyn GitPort>) -> PushStatus {
        PushStatus { git }
    }
}

impl AppStatusProvider for ExecStatus {
    /// A relapse is the health command failing (polled every `poll`); without one nothing can relapse.
    fn watch_relapse<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let StatusSource::Exec(exec) = &target.source else { return std::future::pending().await };
            let Some(health) = &exec.health else { return std::future::pending().await };
            let revision = match target_revision(target, &self.git).await {
                Ok(r) => r,
                Err(e) => return e,
            };
            let cwd = match self.checkout(target, &revision).await {
                Ok(dir) => dir,
                Err((_, e)) => return e,
            };
            let vars: BTreeMap<String, String> = [
                ("APP_NAME".to_owned(), target.app.to_string()),
                ("ENVIRONMENT".to_owned(), target.env.to_string()),
                ("REVISION".to_owned(), revision.to_string()),
            ]
            .into();
            loop {
                tokio::time::sleep(self.poll).await;
                match ferry_runner::run_command(health, &cwd, &vars, exec.health_timeout, 256 * 1024).await {
                    Ok(result) if result.success() => {}
                    Ok(result) => {
                        let text = tail_text(&result.output_text());
                        observe(seen(SyncStatus::Synced, HealthStatus::Degraded, &revision, Some(text.clone())));
                        return format!("the health command failed: {text}");
                    }
                    Err(e) => return format!("cannot run the health command: {e}"),
                }
            }
        })
    }

    fn settled(&self, target: &StatusTarget) -> Option<Observation> {
        let StatusSource::Exec(exec) = &target.source else { return None };
        if exec.sync.is_some() || exec.health.is_some() {
            return None;
        }
        // Without commands: Synced and Healthy at the promotion commit, or (no commit) at the branch
        // tip the mirror holds — one reference read; a mirror that cannot answer is left to the watch.
        let revision = match &target.expected {
            Some(sha) => sha.clone(),
            None => self.git.head(&target.repo_url, &target.branch).ok()?,
        };
        Some(seen(SyncStatus::Synced, HealthStatus::Healthy, &revision, None))
    }

    fn wait_ready<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async move {
            let StatusSource::Exec(exec) = &target.source else {
                return Err((GateFailure::Degraded, "the application's status source is not exec".to_owned()));
            };
            self.watch(target, exec, observe).await
        })
    }
}

impl AppStatusProvider for PushStatus {
    /// A relapse is a report that is not Synced and Healthy.
    fn watch_relapse<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let mut pushed = target.reports.clone();
            loop {
                let current = pushed.borrow_and_update().clone();
                if let Some(report) = current
                    && (report.sync != SyncStatus::Synced || report.health != HealthStatus::Healthy)
                {
                    let revision = report.revision.as_deref().and_then(|r| CommitSha::new(r).ok());
                    let message = report.message.clone();
                    observe(Observation { sync: report.sync, health: report.health, revision, message });
                    let detail = report.message.map(|m| format!(": {m}")).unwrap_or_default();
                    return format!("reported {} and {}{detail}", report.sync.as_str(), report.health.as_str());
                }
                if pushed.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        })
    }

    fn wait_ready<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async move {
            let StatusSource::Push { health_timeout } = &target.source else {
                return Err((GateFailure::Degraded, "the application's status source is not push".to_owned()));
            };
            self.watch(target, *health_timeout, observe).await
        })
    }
}

/// Runs a git operation on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ferry_git::GitError> + Send + 'static,
) -> Result<T, String> {
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("a git task failed: {e}")),
    }
}

/// The revision to deploy: the promotion commit, or (no commit: action `none`) the branch tip in the
/// mirror, which the release's creation fetched; only a mirror that cannot answer is fetched again.
pub(crate) async fn target_revision(target: &StatusTarget, git: &Arc<dyn GitPort>) -> Result<CommitSha, String> {
    if let Some(sha) = &target.expected {
        return Ok(sha.clone());
    }
    let (g, url, branch) = (git.clone(), target.repo_url.clone(), target.branch.clone());
    blocking(move || {
        g.head(&url, &branch).or_else(|_| {
            g.fetch(&url)?;
            g.head(&url, &branch)
        })
    })
    .await
}

fn seen(sync: SyncStatus, health: HealthStatus, revision: &CommitSha, message: Option<String>) -> Observation {
    Observation { sync, health, revision: Some(revision.clone()), message }
}

impl ExecStatus {
    async fn watch(
        &self,
        target: &StatusTarget,
        exec: &ferry_model::resources::ExecStatus,
        observe: &(dyn Fn(Observation) + Send + Sync),
    ) -> Result<(), GateError> {
        let deadline = tokio::time::Instant::now() + exec.health_timeout;
        if exec.sync.is_none() && exec.health.is_none() {
            // Without commands an exec application is Synced and Healthy once committed (SPEC §6.3):
            // there is nothing to check out or run. Without a promotion commit, the revision shown is
            // the branch tip in the mirror (fetched when the release was created), read without
            // another fetch; only a mirror that cannot answer is fetched.
            let revision = target_revision(target, &self.git).await.map_err(|e| (GateFailure::Degraded, e))?;
            observe(seen(SyncStatus::Synced, HealthStatus::Healthy, &revision, None));
            return Ok(());
        }
        let revision = target_revision(target, &self.git).await.map_err(|e| (GateFailure::Degraded, e))?;
        let cwd = self.checkout(target, &revision).await?;
        let vars: BTreeMap<String, String> = [
            ("APP_NAME".to_owned(), target.app.to_string()),
            ("ENVIRONMENT".to_owned(), target.env.to_string()),
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
                        let text = tail_text(&result.output_text());
                        observe(seen(SyncStatus::OutOfSync, HealthStatus::Unknown, &revision, Some(text.clone())));
                        if tokio::time::Instant::now() + self.poll >= deadline {
                            return Err((GateFailure::Timeout, format!("sync command failed: {text}")));
                        }
                    }
                    Err(e) => return Err((GateFailure::Degraded, format!("cannot run the sync command: {e}"))),
                }
                tokio::time::sleep(self.poll).await;
            }
        }
        let Some(health) = &exec.health else {
            observe(seen(SyncStatus::Synced, HealthStatus::Healthy, &revision, None));
            return Ok(());
        };
        observe(seen(SyncStatus::Synced, HealthStatus::Progressing, &revision, None));
        loop {
            match run(health.clone()).await {
                Ok(result) if result.success() => {
                    observe(seen(SyncStatus::Synced, HealthStatus::Healthy, &revision, None));
                    return Ok(());
                }
                Ok(result) => {
                    if tokio::time::Instant::now() + self.poll >= deadline {
                        let text = tail_text(&result.output_text());
                        observe(seen(SyncStatus::Synced, HealthStatus::Degraded, &revision, Some(text.clone())));
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
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Checks the revision out (once) and returns the application's directory in it: Ferry is the
    /// deployer of exec applications.
    async fn checkout(&self, target: &StatusTarget, revision: &CommitSha) -> Result<PathBuf, GateError> {
        let app_root = self.deploy_root.join(target.app.as_str());
        let dir = app_root.join(revision.as_str());
        if !dir.exists() {
            let tmp = app_root.join(format!(".{}.tmp", revision.as_str()));
            let _ = std::fs::remove_dir_all(&tmp);
            let (g, url, sha, t) = (self.git.clone(), target.repo_url.clone(), revision.clone(), tmp.clone());
            // The mirror usually has the revision already (it was fetched for the release, or pushed
            // by Ferry); it is fetched only when the checkout cannot find it.
            blocking(move || {
                g.checkout(&url, &sha, &t).or_else(|_| {
                    let _ = std::fs::remove_dir_all(&t);
                    g.fetch(&url)?;
                    g.checkout(&url, &sha, &t)
                })
            })
            .await
            .map_err(|e| (GateFailure::Degraded, format!("cannot check out {}: {e}", revision.short())))?;
            std::fs::rename(&tmp, &dir)
                .map_err(|e| (GateFailure::Degraded, format!("cannot prepare {}: {e}", dir.display())))?;
        }
        let path = target.path.trim_matches('/');
        Ok(if path.is_empty() { dir } else { dir.join(path) })
    }
}

fn tail_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n")
}

impl PushStatus {
    async fn watch(
        &self,
        target: &StatusTarget,
        timeout: Duration,
        observe: &(dyn Fn(Observation) + Send + Sync),
    ) -> Result<(), GateError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let expected = target_revision(target, &self.git).await.map_err(|e| (GateFailure::Degraded, e))?;
        let mut pushed = target.reports.clone();
        loop {
            let current = pushed.borrow_and_update().clone();
            if let Some(report) = current {
                let (sync, health) = (report.sync, report.health);
                let revision = report.revision.as_deref().and_then(|r| CommitSha::new(r).ok());
                // Synced counts only at the expected commit or a descendant of it.
                let at_expected = match &revision {
                    Some(rev) if *rev == expected => true,
                    Some(rev) => {
                        let (g, url, a, d) = (self.git.clone(), target.repo_url.clone(), expected.clone(), rev.clone());
                        blocking(move || {
                            g.is_ancestor(&url, &a, &d).or_else(|_| {
                                g.fetch(&url)?;
                                g.is_ancestor(&url, &a, &d)
                            })
                        })
                        .await
                        .unwrap_or(false)
                    }
                    None => false,
                };
                let sync = if sync == SyncStatus::Synced && !at_expected { SyncStatus::OutOfSync } else { sync };
                observe(Observation { sync, health, revision: revision.clone(), message: report.message.clone() });
                if health == HealthStatus::Degraded {
                    return Err((
                        GateFailure::Degraded,
                        report.message.unwrap_or_else(|| "reported Degraded".to_owned()),
                    ));
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
}
