//! Pull requests: an opened pull request suspends its environment, merging and closing on request go
//! through the pull-request provider, and a terminated release's open ones are closed.

use ferry_model::names::{AppName, EnvName, ReleaseId};
use ferry_model::release::{GitOperation, ReleaseEvent};
use ferry_store::Store;

use super::{Engine, internal};
use crate::handle::{EngineError, PullRequestInfo};
use crate::ports::{PullRequestChange, PullRequestError, PullRequestOpened};

impl<S: Store> Engine<S> {
    /// The pull request of an action `pr` was opened (or nothing differed, or opening it failed).
    pub(super) fn pr_opened(
        &mut self,
        id: ReleaseId,
        env: EnvName,
        apps: Vec<AppName>,
        branch: String,
        result: Result<PullRequestOpened, PullRequestError>,
    ) -> Vec<ReleaseEvent> {
        let now = self.ports.clock.now();
        match result {
            Ok(PullRequestOpened::Open { number, url }) => {
                vec![ReleaseEvent::PullRequestOpened { env, apps, url, number, branch, at: now }]
            }
            Ok(PullRequestOpened::Unchanged) => vec![ReleaseEvent::ActionUnchanged { env, apps, at: now }],
            Err(e) => self.action_failed(id, env, apps, GitOperation::OpenPr, e.remote, e.message, now),
        }
    }

    /// An open pull request.
    async fn open_pr(&self, number: u64) -> Result<PullRequestInfo, EngineError> {
        let pr = self
            .ports
            .pulls
            .get(number)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("no pull request #{number}")))?;
        if pr.state != "open" {
            return Err(EngineError::Conflict(format!("pull request #{number} is already {}", pr.state)));
        }
        Ok(pr)
    }

    /// A merge or close made on the forge: a merge lets the environment continue, a close fails it
    /// naming who closed the pull request. Only an environment still waiting for it is changed.
    pub(super) async fn pr_changed(&mut self, change: PullRequestChange) {
        let number = match &change {
            PullRequestChange::Merged { number, .. } | PullRequestChange::Closed { number, .. } => *number,
        };
        let pr = match self.ports.pulls.get(number).await {
            Ok(Some(pr)) => pr,
            other => {
                tracing::warn!(number, answer = ?other.map(|_| ()), "a pull request settled on the forge is not known");
                return;
            }
        };
        let Some((release, env, apps)) = self.waiting_for(&pr) else { return };
        let now = self.ports.clock.now();
        let events = match change {
            PullRequestChange::Merged { merge_commit, by, .. } => {
                tracing::info!(release = %release, env = %env, number, by = %by, "pull request merged on the forge");
                vec![ReleaseEvent::PullRequestMerged { env, apps, merge_commit, at: now }]
            }
            PullRequestChange::Closed { by, .. } => {
                let error = format!("pull request #{number} was closed without merge by {by}");
                self.action_failed(release, env, apps, GitOperation::ClosePr, pr.repo.clone(), error, now)
            }
        };
        self.record(release, events).await;
    }

    /// The release, environment and applications waiting for pull request `pr` to be merged.
    fn waiting_for(&self, pr: &PullRequestInfo) -> Option<(ReleaseId, EnvName, Vec<AppName>)> {
        let release = pr.release.parse::<uuid::Uuid>().map(ReleaseId).ok()?;
        let env = EnvName::new(&pr.environment).ok()?;
        let apps: Vec<AppName> = pr.applications.iter().filter_map(|a| AppName::new(a).ok()).collect();
        let active = self.releases.get(&release)?;
        if active.state.terminate_request().is_some() {
            return None;
        }
        let waiting = active.state.environment(&env).is_some_and(|e| {
            e.apps.iter().any(|x| {
                apps.contains(&x.name)
                    && x.action.as_ref().is_some_and(|y| y.status == ferry_model::release::ActionStatus::AwaitingMerge)
            })
        });
        waiting.then_some((release, env, apps))
    }

    pub(super) async fn merge_pr(&mut self, number: u64, actor: String) -> Result<PullRequestInfo, EngineError> {
        let pr = self.open_pr(number).await?;
        let release: ReleaseId = pr
            .release
            .parse::<uuid::Uuid>()
            .map(ReleaseId)
            .map_err(|_| internal(format!("pull request #{number} names an invalid release")))?;
        let env = EnvName::new(&pr.environment).map_err(internal)?;
        let apps: Vec<AppName> = pr.applications.iter().filter_map(|a| AppName::new(a).ok()).collect();
        let waiting = self.releases.get(&release).is_some_and(|a| {
            a.state.environment(&env).is_some_and(|e| {
                e.apps.iter().any(|x| {
                    apps.contains(&x.name)
                        && x.action
                            .as_ref()
                            .is_some_and(|y| y.status == ferry_model::release::ActionStatus::AwaitingMerge)
                })
            })
        });
        if !waiting {
            return Err(EngineError::Conflict(format!(
                "release {release} is not waiting for pull request #{number}; close it instead"
            )));
        }
        let url = apps.first().map_or_else(|| pr.repo.clone(), |a| self.repo_url(a, &pr.repo));
        let merged = self.ports.pulls.merge(number, url, actor).await?;
        let commit = merged
            .merge_commit
            .as_deref()
            .and_then(|c| ferry_model::names::CommitSha::new(c).ok())
            .ok_or_else(|| internal(format!("pull request #{number} was merged without a merge commit")))?;
        let now = self.ports.clock.now();
        self.record(release, vec![ReleaseEvent::PullRequestMerged { env, apps, merge_commit: commit, at: now }]).await;
        Ok(merged)
    }

    pub(super) async fn close_pr(&mut self, number: u64, comment: String) -> Result<PullRequestInfo, EngineError> {
        self.open_pr(number).await?;
        let closed = self.ports.pulls.close(number, comment.clone()).await?;
        if let Ok(release) = closed.release.parse::<uuid::Uuid>().map(ReleaseId)
            && let Ok(env) = EnvName::new(&closed.environment)
            && self.releases.get(&release).is_some_and(|a| a.state.terminate_request().is_none())
        {
            let apps: Vec<AppName> = closed.applications.iter().filter_map(|a| AppName::new(a).ok()).collect();
            let error = format!("pull request #{number} was closed without merge: {comment}");
            let now = self.ports.clock.now();
            let events = self.action_failed(release, env, apps, GitOperation::ClosePr, closed.repo.clone(), error, now);
            self.record(release, events).await;
        }
        Ok(closed)
    }

    /// Closes the open pull requests of a terminated release, leaving their branches.
    pub(super) async fn close_release_prs(&mut self, id: ReleaseId, reason: &str) {
        if let Err(e) = self.ports.pulls.close_for_release(id, reason.to_owned()).await {
            tracing::error!(release = %id, error = %e, "cannot close the pull requests of a terminated release");
        }
    }
}
