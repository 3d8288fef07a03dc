//! The built-in local pull-request provider (SPEC §6.2): the promotion is pushed to its own branch,
//! the pull request is a record in the store, merging is a real merge commit made by Ferry.

use std::sync::Arc;

use ferry_git::PromotionOutcome;
use ferry_model::names::ReleaseId;
use ferry_store::{PullRequestFilter, PullRequestRow, Store, Write, WriteOutcome};

use super::{BoxFuture, Clock, GitPort, OpenPullRequest, PullRequestError, PullRequestOpened, PullRequestProvider};
use crate::handle::{EngineError, PullRequestInfo};

/// A pushed and recorded pull request.
pub(crate) struct Recorded {
    /// Its number in Ferry.
    pub number: u64,
    /// Files the promotion changed (empty when an earlier push is reused).
    pub files: Vec<String>,
    /// The branch it merges into.
    pub target: String,
}

/// Pull requests kept in the store, merged by Ferry in the mirror.
pub struct LocalPullRequests<S> {
    store: S,
    git: Arc<dyn GitPort>,
    clock: Arc<dyn Clock>,
    /// `<base URL>/api/v1/pulls`, the prefix of every pull request's address.
    pulls_url: String,
}

impl<S: Store> LocalPullRequests<S> {
    /// The local provider on `store`, pushing and merging through `git`; pull requests are addressed
    /// under the server's `base_url`.
    pub fn new(store: S, git: Arc<dyn GitPort>, clock: Arc<dyn Clock>, base_url: &str) -> Self {
        let pulls_url = format!("{}/api/v1/pulls", base_url.trim_end_matches('/'));
        LocalPullRequests { store, git, clock, pulls_url }
    }

    /// An open pull request by number.
    async fn open_row(&self, number: u64) -> Result<PullRequestRow, EngineError> {
        let missing = || EngineError::NotFound(format!("no pull request #{number}"));
        let n = i64::try_from(number).map_err(|_| missing())?;
        let row = self.store.pull_request(n).await.map_err(internal)?.ok_or_else(missing)?;
        if row.state != "open" {
            return Err(EngineError::Conflict(format!("pull request #{number} is already {}", row.state)));
        }
        Ok(row)
    }

    async fn opened(&self, request: OpenPullRequest) -> Result<PullRequestOpened, PullRequestError> {
        Ok(match self.record(request).await? {
            Some(r) => PullRequestOpened::Open { number: r.number, url: format!("{}/{}", self.pulls_url, r.number) },
            None => PullRequestOpened::Unchanged,
        })
    }

    /// Pushes the promotion to its branch and records the pull request (reusing the release's open
    /// one for the environment); `None` when nothing differs.
    pub(crate) async fn record(&self, request: OpenPullRequest) -> Result<Option<Recorded>, PullRequestError> {
        let OpenPullRequest { release, product, env, apps, repo, request, branch, .. } = request;
        let title = request.message.lines().next().unwrap_or_default().to_owned();
        let target = request.branch.clone();
        let (git, pushed) = (self.git.clone(), branch.clone());
        let span = tracing::Span::current();
        let (head, files) =
            match tokio::task::spawn_blocking(move || span.in_scope(|| git.push_branch(&request, &pushed))).await {
                Ok(Ok(PromotionOutcome::Committed { sha, files })) => (sha, files),
                Ok(Ok(PromotionOutcome::AlreadyDone { sha })) => (sha, Vec::new()),
                Ok(Ok(PromotionOutcome::Unchanged)) => return Ok(None),
                Ok(Err(e)) => return Err(PullRequestError { remote: e.remote, message: e.message }),
                Err(e) => {
                    return Err(PullRequestError {
                        remote: String::new(),
                        message: format!("the promotion task failed: {e}"),
                    });
                }
            };
        let recording = |message: String| PullRequestError { remote: String::new(), message };
        // A pull request opened before a restart is reused.
        let existing = self
            .store
            .pull_requests(PullRequestFilter { release: Some(release.to_string()), ..Default::default() })
            .await
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.environment == env.as_str() && r.state == "open"));
        let number = match existing.and_then(|r| r.number) {
            Some(n) => n,
            None => {
                let now = self.clock.now();
                let row = PullRequestRow {
                    number: None,
                    release_id: release.to_string(),
                    product,
                    environment: env.to_string(),
                    applications: apps.iter().map(|a| a.to_string()).collect(),
                    repo,
                    branch,
                    target: target.clone(),
                    state: "open".into(),
                    head: head.to_string(),
                    merge_commit: None,
                    comment: None,
                    title,
                    created_at: now,
                    updated_at: now,
                };
                match self.store.write(vec![Write::PullRequest(row)]).await.map(|o| o.into_iter().next()) {
                    Ok(Some(Ok(WriteOutcome::PullRequest(n)))) => n,
                    other => return Err(recording(format!("cannot record the pull request: {other:?}"))),
                }
            }
        };
        Ok(Some(Recorded { number: number.unsigned_abs(), files, target }))
    }

    /// Marks open pull request `number` merged (with its merge commit) or closed (with `comment`)
    /// in the store, unless it is no longer open; the updated record, or `None` when it was not open.
    pub(crate) async fn settle(
        &self,
        number: u64,
        merge_commit: Option<String>,
        comment: Option<String>,
    ) -> Result<Option<PullRequestInfo>, EngineError> {
        let Ok(n) = i64::try_from(number) else { return Ok(None) };
        let Some(row) = self.store.pull_request(n).await.map_err(internal)? else { return Ok(None) };
        if row.state != "open" {
            return Ok(None);
        }
        let state = if merge_commit.is_some() { "merged" } else { "closed" };
        let updated = PullRequestRow {
            state: state.into(),
            merge_commit: merge_commit.or(row.merge_commit.clone()),
            comment: comment.or(row.comment.clone()),
            updated_at: self.clock.now(),
            ..row
        };
        self.store.write(vec![Write::PullRequest(updated.clone())]).await.map_err(internal)?;
        Ok(Some(pr_info(updated)))
    }

    /// The store behind the records.
    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    async fn merged(&self, number: u64, url: String, actor: String) -> Result<PullRequestInfo, EngineError> {
        let row = self.open_row(number).await?;
        let message =
            format!("Merge pull request #{number} from {}\n\n{}\n\nMerged-by: {actor}", row.branch, row.title);
        let (git, branch, target) = (self.git.clone(), row.branch.clone(), row.target.clone());
        let author = ("Ferry".to_owned(), "ferry@localhost".to_owned());
        let merged = tokio::task::spawn_blocking(move || git.merge_branch(&url, &branch, &target, &message, &author))
            .await
            .map_err(internal)?
            .map_err(|e| EngineError::Conflict(format!("cannot merge pull request #{number}: {e}")))?;
        let updated = PullRequestRow {
            state: "merged".into(),
            merge_commit: Some(merged.to_string()),
            updated_at: self.clock.now(),
            ..row
        };
        self.store.write(vec![Write::PullRequest(updated.clone())]).await.map_err(internal)?;
        Ok(pr_info(updated))
    }

    async fn closed(&self, number: u64, comment: String) -> Result<PullRequestInfo, EngineError> {
        let row = self.open_row(number).await?;
        let updated =
            PullRequestRow { state: "closed".into(), comment: Some(comment), updated_at: self.clock.now(), ..row };
        self.store.write(vec![Write::PullRequest(updated.clone())]).await.map_err(internal)?;
        Ok(pr_info(updated))
    }

    async fn closed_for_release(&self, id: ReleaseId, reason: String) -> Result<(), EngineError> {
        let filter =
            PullRequestFilter { release: Some(id.to_string()), state: Some("open".into()), ..Default::default() };
        let rows = self.store.pull_requests(filter).await.map_err(internal)?;
        let now = self.clock.now();
        let writes: Vec<Write> = rows
            .into_iter()
            .map(|row| {
                let comment = format!("release {id} was terminated: {reason}");
                Write::PullRequest(PullRequestRow {
                    state: "closed".into(),
                    comment: Some(comment),
                    updated_at: now,
                    ..row
                })
            })
            .collect();
        if !writes.is_empty() {
            self.store.write(writes).await.map_err(internal)?;
        }
        Ok(())
    }
}

impl<S: Store> PullRequestProvider for LocalPullRequests<S> {
    fn open(&self, request: OpenPullRequest) -> BoxFuture<'_, Result<PullRequestOpened, PullRequestError>> {
        Box::pin(self.opened(request))
    }

    fn get(&self, number: u64) -> BoxFuture<'_, Result<Option<PullRequestInfo>, EngineError>> {
        Box::pin(async move {
            let Ok(n) = i64::try_from(number) else { return Ok(None) };
            Ok(self.store.pull_request(n).await.map_err(internal)?.map(pr_info))
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<PullRequestInfo>, EngineError>> {
        Box::pin(async move {
            let rows = self.store.pull_requests(PullRequestFilter::default()).await.map_err(internal)?;
            Ok(rows.into_iter().map(pr_info).collect())
        })
    }

    fn merge(
        &self,
        number: u64,
        repo_url: String,
        actor: String,
    ) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>> {
        Box::pin(self.merged(number, repo_url, actor))
    }

    fn close(&self, number: u64, comment: String) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>> {
        Box::pin(self.closed(number, comment))
    }

    fn close_for_release(&self, release: ReleaseId, reason: String) -> BoxFuture<'_, Result<(), EngineError>> {
        Box::pin(self.closed_for_release(release, reason))
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

fn pr_info(row: PullRequestRow) -> PullRequestInfo {
    PullRequestInfo {
        number: row.number.unwrap_or_default().unsigned_abs(),
        release: row.release_id,
        product: row.product,
        environment: row.environment,
        applications: row.applications,
        repo: row.repo,
        branch: row.branch,
        target: row.target,
        state: row.state,
        head: row.head,
        merge_commit: row.merge_commit,
        comment: row.comment,
        title: row.title,
    }
}
