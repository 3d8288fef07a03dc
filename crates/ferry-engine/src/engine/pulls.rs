//! Pull requests: recording a pushed pull-request branch, merging and closing on request, and
//! closing a terminated release's open ones.

use ferry_git::PromotionOutcome;
use ferry_model::names::{AppName, EnvName, ReleaseId};
use ferry_model::release::{GitOperation, ReleaseEvent};
use ferry_store::{PullRequestFilter, PullRequestRow, Store, Write, WriteOutcome};

use super::{Engine, internal};
use crate::handle::{EngineError, PullRequestInfo};

impl<S: Store> Engine<S> {
    /// A pull-request branch was pushed: record the pull request (once) and suspend the environment.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn pr_pushed(
        &mut self,
        id: ReleaseId,
        env: EnvName,
        apps: Vec<AppName>,
        branch: String,
        target: String,
        title: String,
        result: Result<PromotionOutcome, ferry_git::GitError>,
    ) -> Vec<ReleaseEvent> {
        let now = crate::now();
        let head = match result {
            Ok(PromotionOutcome::Committed { sha, .. }) | Ok(PromotionOutcome::AlreadyDone { sha }) => sha,
            Ok(PromotionOutcome::Unchanged) => return vec![ReleaseEvent::ActionUnchanged { env, apps, at: now }],
            Err(e) => {
                return self.action_failed(
                    id,
                    env,
                    apps,
                    GitOperation::OpenPr,
                    e.remote.clone(),
                    e.message.clone(),
                    now,
                );
            }
        };
        let Some(active) = self.releases.get(&id) else { return Vec::new() };
        let snap = active.state.snapshot();
        let repo = snap
            .environment(&env)
            .and_then(|es| es.applications.iter().find(|a| apps.contains(&a.name)))
            .map(|a| a.repo_url.clone())
            .unwrap_or_default();
        let product = snap.product.to_string();
        // A pull request opened before a restart is reused.
        let existing = self
            .store
            .pull_requests(PullRequestFilter { release: Some(id.to_string()), ..Default::default() })
            .await
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.environment == env.as_str() && r.state == "open"));
        let number = match existing.and_then(|r| r.number) {
            Some(n) => n,
            None => {
                let row = PullRequestRow {
                    number: None,
                    release_id: id.to_string(),
                    product,
                    environment: env.to_string(),
                    applications: apps.iter().map(|a| a.to_string()).collect(),
                    repo,
                    branch: branch.clone(),
                    target,
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
                    other => {
                        let error = format!("cannot record the pull request: {other:?}");
                        return self.action_failed(id, env, apps, GitOperation::OpenPr, String::new(), error, now);
                    }
                }
            }
        };
        let url = format!("{}/api/v1/pulls/{number}", self.config.base_url.trim_end_matches('/'));
        vec![ReleaseEvent::PullRequestOpened { env, apps, url, number: number.unsigned_abs(), branch, at: now }]
    }

    /// An open pull request and the release waiting for it.
    async fn open_pr(&self, number: u64) -> Result<PullRequestRow, EngineError> {
        let n = i64::try_from(number).map_err(|_| EngineError::NotFound(format!("no pull request #{number}")))?;
        let row = self
            .store
            .pull_request(n)
            .await
            .map_err(internal)?
            .ok_or_else(|| EngineError::NotFound(format!("no pull request #{number}")))?;
        if row.state != "open" {
            return Err(EngineError::Conflict(format!("pull request #{number} is already {}", row.state)));
        }
        Ok(row)
    }

    pub(super) async fn merge_pr(&mut self, number: u64, actor: String) -> Result<PullRequestInfo, EngineError> {
        let row = self.open_pr(number).await?;
        let release: ReleaseId = row
            .release_id
            .parse::<uuid::Uuid>()
            .map(ReleaseId)
            .map_err(|_| internal(format!("pull request #{number} names an invalid release")))?;
        let env = EnvName::new(&row.environment).map_err(internal)?;
        let apps: Vec<AppName> = row.applications.iter().filter_map(|a| AppName::new(a).ok()).collect();
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
        let url = apps.first().map_or_else(|| row.repo.clone(), |a| self.repo_url(a, &row.repo));
        let message =
            format!("Merge pull request #{number} from {}\n\n{}\n\nMerged-by: {actor}", row.branch, row.title);
        let (git, branch, target) = (self.git.clone(), row.branch.clone(), row.target.clone());
        let author = ("Ferry".to_owned(), "ferry@localhost".to_owned());
        let merged = tokio::task::spawn_blocking(move || git.merge_branch(&url, &branch, &target, &message, &author))
            .await
            .map_err(internal)?
            .map_err(|e| EngineError::Conflict(format!("cannot merge pull request #{number}: {e}")))?;
        let now = crate::now();
        let updated =
            PullRequestRow { state: "merged".into(), merge_commit: Some(merged.to_string()), updated_at: now, ..row };
        self.store.write(vec![Write::PullRequest(updated.clone())]).await.map_err(internal)?;
        self.record(release, vec![ReleaseEvent::PullRequestMerged { env, apps, merge_commit: merged, at: now }]).await;
        Ok(pr_info(updated))
    }

    pub(super) async fn close_pr(&mut self, number: u64, comment: String) -> Result<PullRequestInfo, EngineError> {
        let row = self.open_pr(number).await?;
        let now = crate::now();
        let updated = PullRequestRow { state: "closed".into(), comment: Some(comment.clone()), updated_at: now, ..row };
        self.store.write(vec![Write::PullRequest(updated.clone())]).await.map_err(internal)?;
        if let Ok(release) = updated.release_id.parse::<uuid::Uuid>().map(ReleaseId)
            && let Ok(env) = EnvName::new(&updated.environment)
            && self.releases.get(&release).is_some_and(|a| a.state.terminate_request().is_none())
        {
            let apps: Vec<AppName> = updated.applications.iter().filter_map(|a| AppName::new(a).ok()).collect();
            let error = format!("pull request #{number} was closed without merge: {comment}");
            let events =
                self.action_failed(release, env, apps, GitOperation::ClosePr, updated.repo.clone(), error, now);
            self.record(release, events).await;
        }
        Ok(pr_info(updated))
    }

    /// Closes the open pull requests of a terminated release, leaving their branches.
    pub(super) async fn close_release_prs(&mut self, id: ReleaseId, reason: &str) {
        let filter =
            PullRequestFilter { release: Some(id.to_string()), state: Some("open".into()), ..Default::default() };
        let Ok(rows) = self.store.pull_requests(filter).await else { return };
        let now = crate::now();
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
        if !writes.is_empty()
            && let Err(e) = self.store.write(writes).await
        {
            tracing::error!(release = %id, error = %e, "cannot close the pull requests of a terminated release");
        }
    }
}

pub(super) fn pr_info(row: PullRequestRow) -> PullRequestInfo {
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
