//! A pull-request provider kept in memory.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry_git::PromotionOutcome;
use ferry_model::names::ReleaseId;

use crate::handle::{EngineError, PullRequestInfo};
use crate::ports::{BoxFuture, GitPort, OpenPullRequest, PullRequestError, PullRequestOpened, PullRequestProvider};

/// Pull requests in memory, numbered from 1, addressed `https://forge.invalid/pulls/<n>`. Branches are
/// pushed and merged through the git port given (a [`FakeGit`](super::FakeGit) in tests), so the
/// repository shows what a real provider leaves there; like the local provider, a release reuses its
/// open pull request for an environment, merging or closing a pull request that is not open is a
/// conflict, and [`refuse_merges`](FakePullRequests::refuse_merges) makes merges fail as a forge
/// refusing them would.
pub struct FakePullRequests {
    git: Arc<dyn GitPort>,
    prs: Mutex<Vec<PullRequestInfo>>,
    refuse: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakePullRequests {
    /// No pull requests yet; branches go through `git`.
    pub fn new(git: Arc<dyn GitPort>) -> Arc<FakePullRequests> {
        Arc::new(FakePullRequests { git, prs: Mutex::new(Vec::new()), refuse: Mutex::new(None) })
    }

    /// Makes every later merge fail with `reason` (`None` = merges go through again).
    pub fn refuse_merges(&self, reason: Option<&str>) {
        *lock(&self.refuse) = reason.map(str::to_owned);
    }

    /// Every pull request, oldest first.
    pub fn all(&self) -> Vec<PullRequestInfo> {
        lock(&self.prs).clone()
    }

    fn update(&self, number: u64, f: impl FnOnce(&mut PullRequestInfo)) -> Result<PullRequestInfo, EngineError> {
        let mut prs = lock(&self.prs);
        let pr = prs
            .iter_mut()
            .find(|p| p.number == number)
            .ok_or_else(|| EngineError::NotFound(format!("no pull request #{number}")))?;
        if pr.state != "open" {
            return Err(EngineError::Conflict(format!("pull request #{number} is already {}", pr.state)));
        }
        f(pr);
        Ok(pr.clone())
    }
}

impl PullRequestProvider for FakePullRequests {
    fn open(&self, request: OpenPullRequest) -> BoxFuture<'_, Result<PullRequestOpened, PullRequestError>> {
        Box::pin(async move {
            let head = match self.git.push_branch(&request.request, &request.branch) {
                Ok(PromotionOutcome::Committed { sha, .. } | PromotionOutcome::AlreadyDone { sha }) => sha,
                Ok(PromotionOutcome::Unchanged) => return Ok(PullRequestOpened::Unchanged),
                Err(e) => return Err(PullRequestError { remote: e.remote, message: e.message }),
            };
            let mut prs = lock(&self.prs);
            let release = request.release.to_string();
            let number = match prs.iter().find(|p| p.release == release && p.environment == request.env.as_str()) {
                Some(open) if open.state == "open" => open.number,
                _ => {
                    let number = prs.len() as u64 + 1;
                    prs.push(PullRequestInfo {
                        number,
                        release,
                        product: request.product,
                        environment: request.env.to_string(),
                        applications: request.apps.iter().map(|a| a.to_string()).collect(),
                        repo: request.repo,
                        branch: request.branch,
                        target: request.request.branch.clone(),
                        state: "open".into(),
                        head: head.to_string(),
                        merge_commit: None,
                        comment: None,
                        title: request.request.message.lines().next().unwrap_or_default().to_owned(),
                    });
                    number
                }
            };
            Ok(PullRequestOpened::Open { number, url: format!("https://forge.invalid/pulls/{number}") })
        })
    }

    fn get(&self, number: u64) -> BoxFuture<'_, Result<Option<PullRequestInfo>, EngineError>> {
        Box::pin(async move { Ok(lock(&self.prs).iter().find(|p| p.number == number).cloned()) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<PullRequestInfo>, EngineError>> {
        Box::pin(async move { Ok(lock(&self.prs).iter().rev().cloned().collect()) })
    }

    fn merge(
        &self,
        number: u64,
        repo_url: String,
        actor: String,
    ) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>> {
        Box::pin(async move {
            let pr = self.update(number, |_| {})?;
            if let Some(reason) = lock(&self.refuse).clone() {
                return Err(EngineError::Conflict(format!("cannot merge pull request #{number}: {reason}")));
            }
            let message = format!("Merge pull request #{number} from {}\n\nMerged-by: {actor}", pr.branch);
            let author = ("Ferry".to_owned(), "ferry@localhost".to_owned());
            let merged = self
                .git
                .merge_branch(&repo_url, &pr.branch, &pr.target, &message, &author)
                .map_err(|e| EngineError::Conflict(format!("cannot merge pull request #{number}: {e}")))?;
            self.update(number, |pr| {
                pr.state = "merged".into();
                pr.merge_commit = Some(merged.to_string());
            })
        })
    }

    fn close(&self, number: u64, comment: String) -> BoxFuture<'_, Result<PullRequestInfo, EngineError>> {
        Box::pin(async move {
            self.update(number, |pr| {
                pr.state = "closed".into();
                pr.comment = Some(comment);
            })
        })
    }

    fn close_for_release(&self, release: ReleaseId, reason: String) -> BoxFuture<'_, Result<(), EngineError>> {
        Box::pin(async move {
            let release_text = release.to_string();
            for pr in lock(&self.prs).iter_mut().filter(|p| p.release == release_text && p.state == "open") {
                pr.state = "closed".into();
                pr.comment = Some(format!("release {release} was terminated: {reason}"));
            }
            Ok(())
        })
    }
}
