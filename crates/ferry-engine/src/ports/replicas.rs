//! Replicas sharing one database (SPEC §8.1): which releases this engine drives, the locks that let
//! one replica at a time poll triggers, and control requests carried to the replica owning a release.
//!
//! [`SoleReplica`] is the embedded server: it owns every release and every lock. [`PgReplicas`] is a
//! replica on PostgreSQL: leases with fencing epochs ([`ferry_store::PgStore::replica`]), advisory
//! locks, and control requests stored for the owner, which answers through the database.

use std::time::Duration;

use ferry_model::names::{AppName, EnvName, ReleaseId};
use ferry_store::{ControlNotice, PgStore};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::BoxFuture;
use crate::handle::EngineError;

/// How long a replica waits for the owner of a release to answer a forwarded control request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a replica waiting for an answer reads it again, besides being told.
const ANSWER_RECHECK: Duration = Duration::from_secs(1);

/// A control request about one release, carried to the replica that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Control {
    /// Terminate the release (SPEC §3.5).
    Terminate {
        /// Why.
        reason: String,
        /// Who asks.
        actor: String,
    },
    /// Retry the Failed release (SPEC §3.8).
    Retry {
        /// Who asks.
        actor: String,
    },
    /// Approve the approval steps waiting in an environment.
    Approve {
        /// The environment.
        env: EnvName,
        /// Who approves.
        actor: String,
        /// Their role, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// Let an environment through the freeze windows holding it (SPEC §10).
    Unfreeze {
        /// The environment.
        env: EnvName,
        /// Why.
        reason: String,
        /// Who.
        actor: String,
    },
    /// Merge a promotion pull request of the release.
    MergePr {
        /// Its number.
        number: u64,
        /// Who merges.
        actor: String,
    },
    /// Close a promotion pull request of the release without merging it.
    ClosePr {
        /// Its number.
        number: u64,
        /// Why.
        comment: String,
    },
}

/// What a control request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ControlAnswer {
    /// Done (terminate, retry).
    Done,
    /// The approved steps, `RUN/STEP`.
    Approved(Vec<String>),
    /// The pull request merged or closed.
    PullRequest(Box<crate::handle::PullRequestInfo>),
}

/// The answer to a control request, as stored for the asking replica.
pub type ControlResult = Result<ControlAnswer, EngineError>;

/// A control request this replica took to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenControl {
    /// Its id, to answer it.
    pub id: i64,
    /// The release.
    pub release: ReleaseId,
    /// What is asked.
    pub control: Control,
}

/// What another replica announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Control requests about this release wait for its owner.
    ControlRequested(ReleaseId),
    /// A status report for this application was stored (`status.push`).
    StatusPushed(AppName),
}

/// Who owns a release right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This replica.
    Here,
    /// Nobody: the release ended, or its lease was given up; whoever writes it next owns it.
    Free,
    /// Another replica (its lease may have expired; the next claimer answers then).
    Other(String),
}

/// A lock held by this replica (trigger polling); dropping it gives it up.
pub trait HeldLock: Send + Sync + 'static {
    /// Whether it is still held (a lost database connection loses it).
    fn is_held(&self) -> bool;
}

/// Which releases this engine drives, and how it reaches the owner of the others.
pub trait Replicas: Send + Sync + 'static {
    /// Whether this engine is the only one on its database: it drives every release from the start
    /// and never claims, renews or forwards.
    fn is_sole(&self) -> bool;
    /// Claims up to `limit` releases no replica drives (never owned, given up, or expired).
    fn claim(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>>;
    /// Renews the leases held; returns the releases whose lease was lost (taken over).
    fn renew(&self) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>>;
    /// Gives the lease of `release` up (at shutdown, or when it cannot be loaded).
    fn give_up(&self, release: ReleaseId) -> BoxFuture<'_, Result<(), String>>;
    /// Who owns `release` now.
    fn owner(&self, release: ReleaseId) -> BoxFuture<'_, Result<Owner, String>>;
    /// Takes the lock `name` when no replica holds it.
    fn try_lock(&self, name: &'static str) -> BoxFuture<'_, Result<Option<Box<dyn HeldLock>>, String>>;
    /// Asks the replica owning `release` to carry out `control` and waits for its answer.
    fn forward(&self, release: ReleaseId, control: Control) -> BoxFuture<'_, ControlResult>;
    /// What replicas announce, as it is announced (a closed channel for a sole replica).
    fn notices(&self) -> mpsc::UnboundedReceiver<Notice>;
    /// Tells every replica that a status report for `app` was stored.
    fn announce_pushed(&self, app: AppName) -> BoxFuture<'_, Result<(), String>>;
    /// Takes the waiting control requests about `releases` (those this replica holds).
    fn take(&self, releases: Vec<ReleaseId>) -> BoxFuture<'_, Result<Vec<TakenControl>, String>>;
    /// Stores the answer to control request `id` for the replica that asked.
    fn answer(&self, id: i64, answer: ControlResult) -> BoxFuture<'_, Result<(), String>>;
}

/// The only server on its database (embedded SQLite): it owns every release and every lock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoleReplica;

struct AlwaysHeld;

impl HeldLock for AlwaysHeld {
    fn is_held(&self) -> bool {
        true
    }
}

impl Replicas for SoleReplica {
    fn is_sole(&self) -> bool {
        true
    }

    fn claim(&self, _limit: u32) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn renew(&self) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn give_up(&self, _release: ReleaseId) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn owner(&self, _release: ReleaseId) -> BoxFuture<'_, Result<Owner, String>> {
        Box::pin(async { Ok(Owner::Here) })
    }

    fn try_lock(&self, _name: &'static str) -> BoxFuture<'_, Result<Option<Box<dyn HeldLock>>, String>> {
        Box::pin(async { Ok(Some(Box::new(AlwaysHeld) as Box<dyn HeldLock>)) })
    }

    fn forward(&self, release: ReleaseId, _control: Control) -> BoxFuture<'_, ControlResult> {
        Box::pin(async move { Err(EngineError::Internal(format!("release {release} has no other owner to ask"))) })
    }

    fn notices(&self) -> mpsc::UnboundedReceiver<Notice> {
        mpsc::unbounded_channel().1
    }

    fn announce_pushed(&self, _app: AppName) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn take(&self, _releases: Vec<ReleaseId>) -> BoxFuture<'_, Result<Vec<TakenControl>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn answer(&self, _id: i64, _answer: ControlResult) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A replica on PostgreSQL: `store` is the replica's store ([`PgStore::replica`]), whose release
/// writes are fenced by the lease epochs it holds.
#[derive(Clone)]
pub struct PgReplicas {
    store: PgStore,
    name: String,
}

impl PgReplicas {
    /// The replica `store` (made by [`PgStore::replica`]); its name is the lease owner.
    pub fn new(store: PgStore) -> Result<PgReplicas, EngineError> {
        let name = store
            .replica_name()
            .ok_or_else(|| EngineError::Internal("the store is not a replica's (see PgStore::replica)".into()))?
            .to_owned();
        Ok(PgReplicas { store, name })
    }
}

struct PgLock(ferry_store::PollLock);

impl HeldLock for PgLock {
    fn is_held(&self) -> bool {
        self.0.is_held()
    }
}

/// Release ids read back from the store (ids the engine wrote; an unreadable one is skipped).
fn release_ids(ids: impl IntoIterator<Item = String>) -> Vec<ReleaseId> {
    ids.into_iter().filter_map(|id| id.parse::<uuid::Uuid>().ok().map(ReleaseId)).collect()
}

impl Replicas for PgReplicas {
    fn is_sole(&self) -> bool {
        false
    }

    fn claim(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>> {
        Box::pin(async move {
            let leases = self.store.claim(limit).await.map_err(|e| e.to_string())?;
            Ok(release_ids(leases.into_iter().map(|l| l.release_id)))
        })
    }

    fn renew(&self) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>> {
        Box::pin(async move { Ok(release_ids(self.store.renew().await.map_err(|e| e.to_string())?)) })
    }

    fn give_up(&self, release: ReleaseId) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.store.release_lease(&release.to_string()).await.map_err(|e| e.to_string()) })
    }

    fn owner(&self, release: ReleaseId) -> BoxFuture<'_, Result<Owner, String>> {
        Box::pin(async move {
            let lease = self.store.lease(&release.to_string()).await.map_err(|e| e.to_string())?;
            Ok(match lease.and_then(|l| l.owner) {
                None => Owner::Free,
                Some(owner) if owner == self.name => Owner::Here,
                Some(owner) => Owner::Other(owner),
            })
        })
    }

    fn try_lock(&self, name: &'static str) -> BoxFuture<'_, Result<Option<Box<dyn HeldLock>>, String>> {
        Box::pin(async move {
            let lock = self.store.try_poll_lock(name).await.map_err(|e| e.to_string())?;
            Ok(lock.map(|l| Box::new(PgLock(l)) as Box<dyn HeldLock>))
        })
    }

    fn forward(&self, release: ReleaseId, control: Control) -> BoxFuture<'_, ControlResult> {
        Box::pin(async move {
            let unavailable =
                |e: String| EngineError::Internal(format!("cannot reach the owner of release {release}: {e}"));
            let body = serde_json::to_value(&control).map_err(|e| unavailable(e.to_string()))?;
            // Listening before asking: the answer cannot be announced before it is awaited.
            let mut notices = self.store.control_notices();
            let id = self
                .store
                .request_control(&release.to_string(), &body)
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let deadline = tokio::time::Instant::now() + FORWARD_TIMEOUT;
            loop {
                if let Some(answer) = self.store.control_answer(id).await.map_err(|e| unavailable(e.to_string()))? {
                    return serde_json::from_value::<ControlResult>(answer)
                        .map_err(|e| unavailable(format!("unreadable answer: {e}")))?;
                }
                let wake = tokio::time::Instant::now() + ANSWER_RECHECK;
                if wake > deadline {
                    return Err(EngineError::Internal(format!(
                        "the replica owning release {release} did not answer within {} s; the request stays \
                         queued for it",
                        FORWARD_TIMEOUT.as_secs()
                    )));
                }
                // Told of an answer (or lagging, or the recheck time) — read the row again.
                let answered = async {
                    loop {
                        match notices.recv().await {
                            Ok(ControlNotice::Answered(n)) if n == id => return,
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Lagged(_)) => return,
                            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                        }
                    }
                };
                let _ = tokio::time::timeout_at(wake, answered).await;
            }
        })
    }

    fn notices(&self) -> mpsc::UnboundedReceiver<Notice> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut notices = self.store.control_notices();
        tokio::spawn(async move {
            loop {
                let notice = match notices.recv().await {
                    Ok(ControlNotice::Requested(release)) => {
                        release_ids([release]).into_iter().next().map(Notice::ControlRequested)
                    }
                    Ok(ControlNotice::Pushed(app)) => AppName::new(&app).ok().map(Notice::StatusPushed),
                    Ok(ControlNotice::Answered(_)) | Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if let Some(notice) = notice
                    && tx.send(notice).is_err()
                {
                    return;
                }
            }
        });
        rx
    }

    fn announce_pushed(&self, app: AppName) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.store.announce_pushed(app.as_str()).await.map_err(|e| e.to_string()) })
    }

    fn take(&self, releases: Vec<ReleaseId>) -> BoxFuture<'_, Result<Vec<TakenControl>, String>> {
        Box::pin(async move {
            let ids: Vec<String> = releases.iter().map(ReleaseId::to_string).collect();
            let taken = self.store.take_controls(&ids).await.map_err(|e| e.to_string())?;
            let mut out = Vec::with_capacity(taken.len());
            for request in taken {
                let Some(release) = release_ids([request.release_id]).into_iter().next() else { continue };
                match serde_json::from_value::<Control>(request.body) {
                    Ok(control) => out.push(TakenControl { id: request.id, release, control }),
                    Err(e) => {
                        let answer: ControlResult = Err(EngineError::Invalid {
                            message: format!("unreadable control request: {e}"),
                            details: vec![],
                        });
                        let answer = serde_json::to_value(&answer).map_err(|e| e.to_string())?;
                        self.store.answer_control(request.id, &answer).await.map_err(|e| e.to_string())?;
                    }
                }
            }
            Ok(out)
        })
    }

    fn answer(&self, id: i64, answer: ControlResult) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let answer = serde_json::to_value(&answer).map_err(|e| e.to_string())?;
            self.store.answer_control(id, &answer).await.map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_requests_and_answers_read_back() {
        let control =
            Control::Approve { env: EnvName::new("qa").unwrap(), actor: "alice".into(), role: None, comment: None };
        let json = serde_json::to_value(&control).unwrap();
        assert_eq!(json, serde_json::json!({"type": "approve", "env": "qa", "actor": "alice"}));
        assert_eq!(serde_json::from_value::<Control>(json).unwrap(), control);
        for answer in [
            Ok(ControlAnswer::Approved(vec!["r/s".into()])),
            Err(EngineError::Conflict("release x is Succeeded".into())),
        ] {
            let json = serde_json::to_value(&answer).unwrap();
            assert_eq!(serde_json::from_value::<ControlResult>(json).unwrap(), answer);
        }
    }
}
