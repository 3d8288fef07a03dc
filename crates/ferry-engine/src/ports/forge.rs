//! Pull requests on forges (SPEC §6.2): a repository some forge serves (a `GitProvider`, or the public
//! forge of its host) gets its promotion branch pushed and recorded as the local provider does, then
//! a pull request opened on the forge (title, body, labels, reviewers, draft, the forge's
//! auto-merge); every other repository is the local provider's. Merges and closes made on the forge
//! are seen by webhook ([`PullRequestProvider::hook`]) or by polling, whichever comes first; each is
//! reported to the engine once (the record's open → merged/closed transition, made under one lock).
//! Environment status changes become commit statuses (context `ferry/<product>/<env>`) on the trigger
//! commit, the environment's promotion commits (as they land) and its pull request's head, and update
//! the pull request's comment.
//!
//! The link between Ferry's record and the forge's pull request is kept in the store's durable keys
//! (`forge-pr:<number>` and `forge-pr-of:<provider>/<repo>#<forge number>`).

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ferry_forge::{CommitStatus, ForgeError, ForgePr, Forges, NewPr, PrEvent, PrState, RetryPolicy, StatusState};
use ferry_model::names::{CommitSha, ReleaseId};
use ferry_model::resources::Catalog;
use ferry_model::status::EnvStatus;
use ferry_store::{PullRequestFilter, Store, Write};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::pulls::{LocalPullRequests, internal};
use super::{
    BoxFuture, EnvProgress, OpenPullRequest, PullRequestChange, PullRequestError, PullRequestOpened,
    PullRequestProvider,
};
use crate::handle::{EngineError, PullRequestInfo};

/// How often open forge pull requests are polled for merges and closes (SPEC §6.2: 30 s).
pub const DEFAULT_PR_POLL: Duration = Duration::from_secs(30);

/// Settings of the forge provider.
#[derive(Debug, Clone)]
pub struct ForgeSettings {
    /// How often open pull requests are polled.
    pub poll_interval: Duration,
    /// How forge calls are retried.
    pub retry: RetryPolicy,
    /// Whether `github.com`, `gitlab.com` and `codeberg.org` URLs get their public forge without a
    /// GitProvider.
    pub public_forges: bool,
}

impl Default for ForgeSettings {
    fn default() -> Self {
        ForgeSettings { poll_interval: DEFAULT_PR_POLL, retry: RetryPolicy::default(), public_forges: true }
    }
}

/// A Ferry pull request's counterpart on a forge.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Link {
    provider: String,
    repo: String,
    number: u64,
    url: String,
    /// Ferry's progress comment.
    comment: Option<u64>,
}

fn link_key(number: u64) -> String {
    format!("forge-pr:{number}")
}

fn reverse_key(provider: &str, repo: &str, number: u64) -> String {
    format!("forge-pr-of:{provider}/{repo}#{number}")
}

/// Pull requests on forges, the local provider for repositories without one.
pub struct ForgePullRequests<S> {
    inner: Arc<Inner<S>>,
    changes: Mutex<Option<mpsc::UnboundedReceiver<PullRequestChange>>>,
    /// Progress reports, carried out one after the other (so statuses arrive in order).
    progress: mpsc::UnboundedSender<EnvProgress>,
    progress_rx: Mutex<Option<mpsc::UnboundedReceiver<EnvProgress>>>,
}

struct Inner<S> {
    local: LocalPullRequests<S>,
    forges: RwLock<Arc<Forges>>,
    settings: ForgeSettings,
    tx: mpsc::UnboundedSender<PullRequestChange>,
    /// Serialises open → merged/closed transitions (a webhook and a poll may see one merge).
    transitions: tokio::sync::Mutex<()>,
    /// Releases with a pull request on a forge (opened here, or found open by a poll, the first of
    /// which runs at start): only their progress is looked up in the store for a comment to update.
    linked: Mutex<std::collections::HashSet<ReleaseId>>,
}

impl<S: Store> ForgePullRequests<S> {
    /// Forge pull requests over the `local` provider's records.
    pub fn new(local: LocalPullRequests<S>, settings: ForgeSettings) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let forges = Forges::new(&Default::default(), settings.retry, settings.public_forges);
        let inner = Inner {
            local,
            forges: RwLock::new(Arc::new(forges)),
            settings,
            tx,
            transitions: tokio::sync::Mutex::new(()),
            linked: Mutex::default(),
        };
        let (progress, progress_rx) = mpsc::unbounded_channel();
        ForgePullRequests {
            inner: Arc::new(inner),
            changes: Mutex::new(Some(rx)),
            progress,
            progress_rx: Mutex::new(Some(progress_rx)),
        }
    }
}

fn refused(repo: &str, e: &ForgeError) -> PullRequestError {
    PullRequestError { remote: repo.to_owned(), message: e.to_string() }
}

impl<S: Store> Inner<S> {
    fn forges(&self) -> Arc<Forges> {
        self.forges.read().map(|f| f.clone()).unwrap_or_default()
    }

    async fn link(&self, number: u64) -> Option<Link> {
        let text = self.local.store().kv_get(&link_key(number)).await.ok()??;
        serde_json::from_str(&text).ok()
    }

    async fn save_link(&self, number: u64, link: &Link) -> Result<(), EngineError> {
        let value = serde_json::to_string(link).map_err(internal)?;
        let writes = vec![
            Write::Kv { key: link_key(number), value },
            Write::Kv { key: reverse_key(&link.provider, &link.repo, link.number), value: number.to_string() },
        ];
        self.local.store().write(writes).await.map_err(internal)?;
        Ok(())
    }

    async fn opened(&self, request: OpenPullRequest) -> Result<PullRequestOpened, PullRequestError> {
        let Some(route) = self.forges().route(&request.request.repo_url) else {
            return self.local.open(request).await;
        };
        let title = match request.version.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("Promote {} {v} to {}", request.product, request.env),
            None => format!("Promote {} to {}", request.product, request.env),
        };
        let (branch, options) = (request.branch.clone(), request.options.clone().unwrap_or_default());
        let body_of = |files: &[String], target: &str| pr_body(&request, files, target);
        let redacted = request.repo.clone();
        let pending = body_of(&[], &request.request.branch);
        let Some(recorded) = self.local.record(request.clone()).await? else {
            return Ok(PullRequestOpened::Unchanged);
        };
        if let Some(link) = self.link(recorded.number).await {
            return Ok(PullRequestOpened::Open { number: recorded.number, url: link.url });
        }
        let (forge, repo) = (&route.forge, route.repo.as_str());
        let body = if recorded.files.is_empty() { pending } else { body_of(&recorded.files, &recorded.target) };
        let new = NewPr {
            title,
            body,
            head: branch.clone(),
            base: recorded.target.clone(),
            labels: options.labels.clone(),
            reviewers: options.reviewers.clone(),
            draft: options.draft,
        };
        // A pull request of this branch opened before (a restart, or a retry after a close) is reused;
        // one the forge will not reopen (GitHub refuses after the branch was pushed again) is replaced.
        let pr = match forge.find(repo, &branch).await.map_err(|e| refused(&redacted, &e))? {
            Some(pr) if pr.state == PrState::Open => pr,
            Some(pr) if pr.state == PrState::Closed => match forge.set_open(repo, pr.number, true).await {
                Ok(()) => ForgePr { state: PrState::Open, ..pr },
                Err(e) => {
                    tracing::warn!(target: "ferry::forge", repo, number = pr.number, error = %e, "cannot reopen the closed pull request; opening a new one");
                    forge.create(repo, &new).await.map_err(|e| refused(&redacted, &e))?
                }
            },
            _ => forge.create(repo, &new).await.map_err(|e| refused(&redacted, &e))?,
        };
        if options.auto_merge
            && let Err(e) = forge.auto_merge(repo, &pr).await
        {
            tracing::warn!(target: "ferry::forge", repo, number = pr.number, error = %e, "cannot turn on the forge's auto-merge; the pull request waits for a merge");
        }
        let comment = forge.comment(repo, pr.number, None, "Ferry: waiting for this pull request to be merged.").await;
        let link = Link {
            provider: route.provider.clone(),
            repo: repo.to_owned(),
            number: pr.number,
            url: pr.url.clone(),
            comment: comment.ok(),
        };
        self.save_link(recorded.number, &link).await.map_err(|e| PullRequestError {
            remote: String::new(),
            message: format!("cannot record the forge's pull request: {e}"),
        })?;
        self.mark_linked(&request.release.to_string());
        Ok(PullRequestOpened::Open { number: recorded.number, url: pr.url })
    }

    /// Records that Ferry's pull request `number` was merged (with `merge_commit`) or closed on the
    /// forge by `actor`, and tells the engine — once: only the first to find it open does.
    async fn settle(
        &self,
        number: u64,
        state: PrState,
        merge_commit: Option<String>,
        actor: Option<String>,
    ) -> Result<bool, EngineError> {
        let _one = self.transitions.lock().await;
        let by = actor.unwrap_or_else(|| "someone on the forge".to_owned());
        let change = match (state, merge_commit) {
            (PrState::Merged, Some(commit)) => {
                let sha = CommitSha::new(&commit).map_err(internal)?;
                if self.local.settle(number, Some(commit), None).await?.is_none() {
                    return Ok(false);
                }
                PullRequestChange::Merged { number, merge_commit: sha, by }
            }
            (PrState::Closed, _) => {
                let comment = format!("closed on the forge by {by}");
                if self.local.settle(number, None, Some(comment)).await?.is_none() {
                    return Ok(false);
                }
                PullRequestChange::Closed { number, by }
            }
            _ => return Ok(false),
        };
        tracing::info!(target: "ferry::forge", number, change = ?change, "pull request settled on the forge");
        let _ = self.tx.send(change);
        Ok(true)
    }

    async fn hooked(&self, event: PrEvent) -> Result<bool, EngineError> {
        let store = self.local.store();
        for provider in self.providers_of(&event.repo) {
            let key = reverse_key(&provider, &event.repo, event.number);
            if let Some(n) = store.kv_get(&key).await.map_err(internal)?.and_then(|v| v.parse::<u64>().ok()) {
                let (state, commit, actor) = (event.state, event.merge_commit.clone(), event.actor.clone());
                // A webhook may omit the merge commit: the forge has it.
                let commit = match (state, commit) {
                    (PrState::Merged, None) => self.forge_state(n).await.and_then(|pr| pr.merge_commit),
                    (_, c) => c,
                };
                return self.settle(n, state, commit, actor).await;
            }
        }
        Ok(false)
    }

    /// The provider names a repository may be linked under (every configured one and the public forges).
    fn providers_of(&self, _repo: &str) -> Vec<String> {
        self.forges().names()
    }

    async fn forge_state(&self, number: u64) -> Option<ForgePr> {
        let link = self.link(number).await?;
        let forge = self.forges().forge(&link.provider)?;
        forge.get(&link.repo, link.number).await.ok()
    }

    /// One poll: every open pull request with a forge counterpart is read from the forge.
    async fn poll_once(&self) {
        let filter = PullRequestFilter { state: Some("open".into()), ..Default::default() };
        let Ok(rows) = self.local.store().pull_requests(filter).await else { return };
        for row in rows {
            let Some(number) = row.number.map(i64::unsigned_abs) else { continue };
            let Some(link) = self.link(number).await else { continue };
            self.mark_linked(&row.release_id);
            let Some(forge) = self.forges().forge(&link.provider) else { continue };
            match forge.get(&link.repo, link.number).await {
                Ok(pr) if pr.state != PrState::Open => {
                    if let Err(e) = self.settle(number, pr.state, pr.merge_commit, pr.actor).await {
                        tracing::warn!(target: "ferry::forge", number, error = %e, "cannot record a pull request's merge or close");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "ferry::forge", repo = %link.repo, number = link.number, error = %e, "cannot poll a pull request")
                }
            }
        }
    }

    async fn merged(&self, number: u64, url: String, actor: String) -> Result<PullRequestInfo, EngineError> {
        let Some(link) = self.link(number).await else { return self.local.merge(number, url, actor).await };
        let forge = self.forges().forge(&link.provider).ok_or_else(|| {
            EngineError::Conflict(format!(
                "pull request #{number} is on {}, which is no longer configured",
                link.provider
            ))
        })?;
        let row =
            self.local.get(number).await?.ok_or_else(|| EngineError::NotFound(format!("no pull request #{number}")))?;
        let _one = self.transitions.lock().await;
        let title =
            format!("Merge pull request #{} from {} (merged by {actor} through Ferry)", link.number, row.branch);
        let pr = forge
            .merge(&link.repo, link.number, &title)
            .await
            .map_err(|e| EngineError::Conflict(format!("cannot merge pull request #{number}: {e}")))?;
        let commit =
            pr.merge_commit.ok_or_else(|| internal(format!("the forge merged #{number} without a merge commit")))?;
        self.local
            .settle(number, Some(commit), None)
            .await?
            .ok_or_else(|| EngineError::Conflict(format!("pull request #{number} is no longer open")))
    }

    async fn closed(&self, number: u64, comment: String) -> Result<PullRequestInfo, EngineError> {
        if let Some(link) = self.link(number).await
            && let Some(forge) = self.forges().forge(&link.provider)
        {
            let _ = forge.comment(&link.repo, link.number, None, &format!("Closed by Ferry: {comment}")).await;
            forge
                .set_open(&link.repo, link.number, false)
                .await
                .map_err(|e| EngineError::Conflict(format!("cannot close pull request #{number}: {e}")))?;
        }
        self.local.close(number, comment).await
    }

    async fn closed_for_release(&self, id: ReleaseId, reason: String) -> Result<(), EngineError> {
        let filter =
            PullRequestFilter { release: Some(id.to_string()), state: Some("open".into()), ..Default::default() };
        let rows = self.local.store().pull_requests(filter).await.map_err(internal)?;
        for row in rows {
            let Some(number) = row.number.map(i64::unsigned_abs) else { continue };
            if let Some(link) = self.link(number).await
                && let Some(forge) = self.forges().forge(&link.provider)
            {
                let text = format!("Release {id} was terminated: {reason}");
                let _ = forge.comment(&link.repo, link.number, None, &text).await;
                if let Err(e) = forge.set_open(&link.repo, link.number, false).await {
                    tracing::warn!(target: "ferry::forge", repo = %link.repo, number = link.number, error = %e, "cannot close the pull request of a terminated release");
                }
            }
        }
        self.local.close_for_release(id, reason).await
    }

    fn mark_linked(&self, release: &str) {
        if let (Ok(id), Ok(mut linked)) = (release.parse::<uuid::Uuid>(), self.linked.lock()) {
            linked.insert(ReleaseId(id));
        }
    }

    /// Sets the environment's commit status on the trigger commit, its promotion commits and the head
    /// of its pull request, and rewrites the pull request's comment.
    async fn report(&self, change: EnvProgress) {
        let forges = self.forges();
        let text = progress_text(&change);
        let status = CommitStatus {
            state: status_state(change.status),
            context: format!("ferry/{}/{}", change.product, change.env),
            description: text.chars().take(140).collect(),
            target_url: change.release_url.clone(),
        };
        // (provider, repository on the forge, commit): each is marked once per report.
        let mut marked: Vec<(String, String, String)> = Vec::new();
        for (url, sha) in change.trigger.iter().chain(&change.promotions) {
            let Some(route) = forges.route(url) else { continue };
            let key = (route.provider.clone(), route.repo.clone(), sha.to_string());
            if !marked.contains(&key) {
                marked.push(key);
                set_status(&route.forge, &route.repo, sha.as_str(), &status).await;
            }
        }
        if !change.status_changed || !self.linked.lock().is_ok_and(|l| l.contains(&change.release)) {
            return;
        }
        let filter = PullRequestFilter { release: Some(change.release.to_string()), ..Default::default() };
        let Ok(rows) = self.local.store().pull_requests(filter).await else { return };
        let rows: Vec<_> = rows.into_iter().filter(|r| r.environment == change.env.as_str()).collect();
        // The newest pull request is the environment's current attempt: its head carries the status too.
        let newest = rows.iter().filter_map(|r| r.number).max();
        for row in rows {
            let Some(number) = row.number.map(i64::unsigned_abs) else { continue };
            let Some(mut link) = self.link(number).await else { continue };
            let Some(forge) = forges.forge(&link.provider) else { continue };
            let key = (link.provider.clone(), link.repo.clone(), row.head.clone());
            if row.number == newest && !row.head.is_empty() && !marked.contains(&key) {
                set_status(&forge, &link.repo, &row.head, &status).await;
            }
            match forge.comment(&link.repo, link.number, link.comment, &format!("Ferry: {text}")).await {
                Ok(id) if link.comment != Some(id) => {
                    link.comment = Some(id);
                    let _ = self.save_link(number, &link).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "ferry::forge", repo = %link.repo, error = %e, "cannot update the pull request's comment")
                }
            }
        }
    }
}

/// The commit status of an environment's status: pending while it runs or waits, then success,
/// failure (Failed) or error (Terminated).
fn status_state(status: EnvStatus) -> StatusState {
    match status {
        EnvStatus::Pending | EnvStatus::Running | EnvStatus::Suspended => StatusState::Pending,
        EnvStatus::Successful => StatusState::Success,
        EnvStatus::Failed => StatusState::Failure,
        EnvStatus::Terminated => StatusState::Error,
    }
}

/// Sets `status` on `sha`; a refusal is logged (statuses inform, they never stop a release).
async fn set_status(forge: &ferry_forge::Forge, repo: &str, sha: &str, status: &CommitStatus) {
    if let Err(e) = forge.status(repo, sha, status).await {
        tracing::warn!(target: "ferry::forge", repo, sha, error = %e, "cannot set a commit status");
    }
}

/// One line on an environment's progress.
fn progress_text(change: &EnvProgress) -> String {
    let mut text = format!("{} of {} is {}", change.env, change.product, change.status.as_str());
    if let Some(reason) = change.reason.as_deref().filter(|_| change.status == EnvStatus::Failed) {
        text.push_str(&format!(": {reason}"));
    }
    text.push_str(&format!(" — {}", change.release_url));
    text
}

/// The pull request's body: applications, version change, files changed and the release's link.
fn pr_body(request: &OpenPullRequest, files: &[String], target: &str) -> String {
    let mut body = format!(
        "Ferry promotes **{}** to **{}** (release [{}]({})).\n\n",
        request.product, request.env, request.release, request.release_url
    );
    let subject = request.request.message.lines().next().unwrap_or_default();
    body.push_str(&format!("**Version change:** {subject}\n\n**Applications:**\n"));
    for (app, source) in request.apps.iter().zip(request.request.sources.iter()) {
        let short: String = source.commit.as_str().chars().take(12).collect();
        body.push_str(&format!("- `{app}` from source commit `{short}`\n"));
    }
    for app in request.apps.iter().skip(request.request.sources.len()) {
        body.push_str(&format!("- `{app}`\n"));
    }
    body.push_str(&format!("\n**Files changed** (into `{target}`):\n"));
    if files.is_empty() {
        body.push_str("- (see the diff)\n");
    }
    for f in files {
        body.push_str(&format!("- `{f}`\n"));
    }
    body.push_str(&format!("\n[Release page]({})\n", request.release_url));
    body
}

impl<S: Store> PullRequestProvider for ForgePullRequests<S> {
    fn open(&self, request: OpenPullRequest) -> BoxFuture<'_, Result<PullRequestOpened, PullRequestError>> {
        Box::pin(self.inner.opened(request))
    }

    fn get(&self, number: u64) -> BoxFuture<'_, Result<Option<PullRequestInfo>, EngineError>> {
        self.inner.local.get(number)
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<PullRequestInfo>, EngineError>> {
        self.inner.local.list()
    }

    fn merge(
        &self,
        number: u64,
        repo_url: String,
        actor: String,
    ) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>> {
        Box::pin(self.inner.merged(number, repo_url, actor))
    }

    fn close(&self, number: u64, comment: String) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>> {
        Box::pin(self.inner.closed(number, comment))
    }

    fn close_for_release(&self, release: ReleaseId, reason: String) -> BoxFuture<'_, Result<(), EngineError>> {
        Box::pin(self.inner.closed_for_release(release, reason))
    }

    fn configure(&self, catalog: &Catalog) {
        let forges = Forges::new(&catalog.git_providers, self.inner.settings.retry, self.inner.settings.public_forges);
        for problem in &forges.problems {
            tracing::error!(target: "ferry::forge", problem = %problem, "a git provider cannot be used");
        }
        if let Ok(mut f) = self.inner.forges.write() {
            *f = Arc::new(forges);
        }
    }

    fn changes(&self) -> Option<mpsc::UnboundedReceiver<PullRequestChange>> {
        let rx = self.changes.lock().ok()?.take()?;
        let inner = self.inner.clone();
        let weak = Arc::downgrade(&inner);
        let every = inner.settings.poll_interval;
        drop(inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                inner.poll_once().await;
            }
        });
        Some(rx)
    }

    fn hook(&self, event: PrEvent) -> BoxFuture<'_, Result<bool, EngineError>> {
        Box::pin(self.inner.hooked(event))
    }

    fn webhook_secrets(&self) -> Vec<String> {
        self.inner.forges().webhook_secrets()
    }

    fn progress(&self, change: EnvProgress) {
        if let Some(mut rx) = self.progress_rx.lock().ok().and_then(|mut r| r.take()) {
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                while let Some(change) = rx.recv().await {
                    let Some(inner) = weak.upgrade() else { break };
                    inner.report(change).await;
                }
            });
        }
        let _ = self.progress.send(change);
    }
}
