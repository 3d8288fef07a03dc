//! A status source that answers from a script instead of watching an application.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry_model::names::{AppName, CommitSha};
use ferry_model::release::GateFailure;
use ferry_model::status::{HealthStatus, SyncStatus};
use tokio::sync::watch;

use crate::ports::{AppStatusProvider, BoxFuture, GateError, Observation, StatusTarget};

/// What an application does when Ferry waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeHealth {
    /// Synced at the expected revision and Healthy at once.
    Ready,
    /// Synced, then Degraded with this message: the gate fails Degraded.
    Degraded(String),
    /// Never healthy: the gate fails with Timeout and this message.
    Timeout(String),
    /// Progressing until the application's script changes.
    Hold,
}

/// Status by application name (unscripted applications are [`FakeHealth::Ready`]). Each wait
/// observes what a real source would report on the way (Progressing before Healthy, Degraded before
/// failing), at the expected revision; refreshes and waits are recorded.
#[derive(Debug)]
pub struct FakeStatus {
    scripts: watch::Sender<HashMap<AppName, FakeHealth>>,
    refreshes: Mutex<Vec<(AppName, Option<CommitSha>)>>,
    waits: Mutex<Vec<(AppName, Option<CommitSha>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeStatus {
    /// Every application Ready.
    pub fn new() -> Arc<FakeStatus> {
        Arc::new(FakeStatus {
            scripts: watch::channel(HashMap::new()).0,
            refreshes: Mutex::new(Vec::new()),
            waits: Mutex::new(Vec::new()),
        })
    }

    /// Scripts `app` (waits in progress see the change).
    pub fn script(&self, app: &str, health: FakeHealth) {
        if let Ok(app) = AppName::new(app) {
            self.scripts.send_modify(|s| {
                s.insert(app, health);
            });
        }
    }

    /// The refreshes asked for: application and expected revision.
    pub fn refreshes(&self) -> Vec<(AppName, Option<CommitSha>)> {
        lock(&self.refreshes).clone()
    }

    /// The waits started: application and expected revision.
    pub fn waits(&self) -> Vec<(AppName, Option<CommitSha>)> {
        lock(&self.waits).clone()
    }
}

impl AppStatusProvider for FakeStatus {
    /// A relapse is the application's script turning to anything but [`FakeHealth::Ready`].
    fn watch_relapse<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, String> {
        Box::pin(async move {
            let mut scripts = self.scripts.subscribe();
            loop {
                let script = scripts.borrow_and_update().get(&target.app).cloned().unwrap_or(FakeHealth::Ready);
                let (sync, health, message) = match script {
                    FakeHealth::Ready => {
                        if scripts.changed().await.is_err() {
                            return std::future::pending().await;
                        }
                        continue;
                    }
                    FakeHealth::Degraded(m) => (SyncStatus::Synced, HealthStatus::Degraded, m),
                    FakeHealth::Timeout(m) => (SyncStatus::OutOfSync, HealthStatus::Progressing, m),
                    FakeHealth::Hold => (SyncStatus::Synced, HealthStatus::Progressing, "Progressing".to_owned()),
                };
                observe(Observation {
                    sync,
                    health,
                    revision: target.expected.clone(),
                    message: Some(message.clone()),
                });
                return format!("{} and {}: {message}", sync.as_str(), health.as_str());
            }
        })
    }

    fn refresh<'a>(&'a self, target: &'a StatusTarget) -> BoxFuture<'a, Result<(), String>> {
        lock(&self.refreshes).push((target.app.clone(), target.expected.clone()));
        Box::pin(async { Ok(()) })
    }

    fn wait_ready<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, Result<(), GateError>> {
        lock(&self.waits).push((target.app.clone(), target.expected.clone()));
        let seen = move |sync, health, message: Option<String>| {
            observe(Observation { sync, health, revision: target.expected.clone(), message })
        };
        Box::pin(async move {
            let mut scripts = self.scripts.subscribe();
            loop {
                let script = scripts.borrow_and_update().get(&target.app).cloned().unwrap_or(FakeHealth::Ready);
                match script {
                    FakeHealth::Ready => {
                        seen(SyncStatus::Synced, HealthStatus::Healthy, None);
                        return Ok(());
                    }
                    FakeHealth::Degraded(message) => {
                        seen(SyncStatus::Synced, HealthStatus::Degraded, Some(message.clone()));
                        return Err((GateFailure::Degraded, message));
                    }
                    FakeHealth::Timeout(message) => {
                        seen(SyncStatus::OutOfSync, HealthStatus::Progressing, None);
                        return Err((GateFailure::Timeout, message));
                    }
                    FakeHealth::Hold => seen(SyncStatus::Synced, HealthStatus::Progressing, None),
                }
                if scripts.changed().await.is_err() {
                    return Err((GateFailure::Degraded, "the fake status source was dropped".to_owned()));
                }
            }
        })
    }
}
