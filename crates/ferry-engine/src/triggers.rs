//! Automatic triggers (SPEC §3.1): a new commit on a trigger environment's application branch that
//! touches its path is deployed there (exec) or awaited (push); once the application is Synced at that
//! commit and Healthy, the product's first matching flow starts a release.

use std::sync::Arc;

use ferry_git::CommitInfo;
use ferry_model::names::AppName;
use ferry_model::release::GateFailure;
use ferry_model::resources::{Application, Catalog};
use tokio::sync::watch;

use crate::handle::PushedStatus;
use crate::ports::{GitPort, Observation, StatusProviders, StatusTarget};
use crate::work::gate;

/// The key under which the last commit seen for an application is kept.
pub(crate) fn seen_key(app: &AppName) -> String {
    format!("trigger-seen:{app}")
}

/// The key recording which release a commit started for a product's flow (so the commit starts no other).
pub(crate) fn released_key(product: &str, flow: &str, sha: &str) -> String {
    format!("trigger-released:{product}:{flow}:{sha}")
}

/// Applications that sit in the trigger environment of one of their product's flows.
pub(crate) fn trigger_apps(catalog: &Catalog) -> Vec<&Application> {
    catalog
        .applications
        .values()
        .filter(|app| {
            catalog.products.get(&app.product).is_some_and(|p| {
                p.promotion_flows
                    .iter()
                    .any(|sel| catalog.flows.get(&sel.flow).is_some_and(|f| f.trigger_environment == app.environment))
            })
        })
        .collect()
}

/// What a check found.
#[derive(Debug)]
pub(crate) enum TriggerOutcome {
    /// First look at this application: its current commit becomes the baseline, nothing is released.
    Baseline { sha: String },
    /// No new commit.
    Unchanged,
    /// A new commit is deployed and healthy; `observed` is the application's last observation.
    Ready { commit: CommitInfo, observed: Option<Observed> },
    /// A new commit did not become healthy.
    NotHealthy { commit: CommitInfo, message: String, observed: Option<Observed> },
    /// The check itself failed (git unreachable, ...).
    Failed { error: String },
}

/// What a trigger check saw of the application last (shown on the product page like any other
/// environment's live state).
pub(crate) type Observed = Observation;

/// One check of one application.
pub(crate) struct TriggerCheck {
    pub app: Application,
    pub seen: Option<String>,
    pub pushed: watch::Receiver<Option<PushedStatus>>,
    /// When the check was asked for: a ref advertisement of the repository that started since then
    /// (shared with the checks of other applications in it) tells whether the branch moved.
    pub asked: std::time::Instant,
}

/// Looks for a new commit and, when there is one, waits for the application to be healthy at it.
/// `on_new` is told about a new commit before the (possibly long) wait starts.
pub(crate) async fn check(
    job: TriggerCheck,
    git: Arc<dyn GitPort>,
    status: StatusProviders,
    on_new: impl FnOnce(&CommitInfo),
) -> TriggerOutcome {
    let app = job.app.clone();
    let g = git.clone();
    let asked = job.asked;
    let found = tokio::task::spawn_blocking(move || {
        // Unmoved branches cost no fetch, and `last_commit_touching` remembers its answer per tip.
        g.fetch_if_moved(&app.source.repo_url, &app.source.target_revision, asked)?;
        g.last_commit_touching(&app.source.repo_url, &app.source.target_revision, &app.source.path)
    })
    .await;
    let commit = match found {
        Ok(Ok(Some(commit))) => commit,
        Ok(Ok(None)) => return TriggerOutcome::Unchanged,
        Ok(Err(e)) => return TriggerOutcome::Failed { error: e.to_string() },
        Err(e) => return TriggerOutcome::Failed { error: format!("the git task failed: {e}") },
    };
    match &job.seen {
        None => return TriggerOutcome::Baseline { sha: commit.sha.to_string() },
        Some(seen) if *seen == commit.sha.as_str() => return TriggerOutcome::Unchanged,
        Some(_) => {}
    }
    on_new(&commit);
    let target = StatusTarget {
        env: job.app.environment.clone(),
        app: job.app.name.clone(),
        repo_url: job.app.source.repo_url.clone(),
        branch: job.app.source.target_revision.clone(),
        path: job.app.source.path.clone(),
        expected: Some(commit.sha.clone()),
        source: job.app.status.clone(),
        reports: job.pushed,
    };
    let last = std::sync::Mutex::new(None);
    let keep = |observed: Observation| {
        if let Ok(mut last) = last.lock() {
            *last = Some(observed);
        }
    };
    let result = gate(&target, &status, &keep).await;
    let observed = last.lock().ok().and_then(|mut l| l.take());
    match result {
        Ok(()) => TriggerOutcome::Ready { commit, observed },
        Err((reason, message)) => {
            let reason = match reason {
                GateFailure::Degraded => "degraded",
                GateFailure::Timeout => "timed out",
            };
            TriggerOutcome::NotHealthy { commit, message: format!("{reason}: {message}"), observed }
        }
    }
}
