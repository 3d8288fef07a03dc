//! The trust rule (SPEC §6.3): what an Argo CD application's status means for a promotion.
//!
//! An application counts as Synced only when `status.sync.revision` is the promotion commit (or a
//! descendant of it) **and** its health was assessed after the last sync operation finished
//! (`status.reconciledAt >= status.operationState.finishedAt`); a Healthy that predates the end of the
//! operation is the health of the previous revision.

use ferry_model::status::{HealthStatus, SyncStatus};
use jiff::Timestamp;

use crate::types::Application;

/// What an application's status means for the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Synced at the expected revision (trusted) and Healthy.
    Ready,
    /// Not there yet; the reason.
    Waiting(String),
    /// Failed at the expected revision: Degraded, or its sync operation failed; Argo CD's text.
    Failed(String),
}

/// One application status read through the trust rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// Sync as Ferry shows it: Synced only at the expected revision and after the operation.
    pub sync: SyncStatus,
    /// Health as Argo CD reports it.
    pub health: HealthStatus,
    /// The revision Argo CD compared against.
    pub revision: Option<String>,
    /// The application's conditions, failing resources and failed operation, as one text.
    pub message: Option<String>,
    /// What it means.
    pub verdict: Verdict,
}

/// The revisions whose relation to the expected commit [`assess`] asks about: the synced revision
/// and the revision of the last sync operation.
pub fn revisions(app: &Application) -> Vec<&str> {
    let s = &app.status;
    let mut out: Vec<&str> = Vec::new();
    for r in [
        s.sync.as_ref().and_then(|x| x.revision.as_deref()),
        s.operation_state.as_ref().and_then(|o| o.sync_result.as_ref()).and_then(|r| r.revision.as_deref()),
    ]
    .into_iter()
    .flatten()
    {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Reads `app` through the trust rule; `at_expected(rev)` answers whether `rev` is the expected
/// commit or a descendant of it.
pub fn assess(app: &Application, at_expected: &dyn Fn(&str) -> bool) -> Assessment {
    let s = &app.status;
    let argo_sync = s.sync.as_ref().and_then(|x| x.status.as_deref()).and_then(|x| x.parse::<SyncStatus>().ok());
    let health = s
        .health
        .as_ref()
        .and_then(|h| h.status.as_deref())
        .and_then(|h| h.parse::<HealthStatus>().ok())
        .unwrap_or(HealthStatus::Unknown);
    let revision = s.sync.as_ref().and_then(|x| x.revision.clone());
    let message = describe(app);
    let op = s.operation_state.as_ref();
    let phase = op.and_then(|o| o.phase.as_deref()).unwrap_or("");
    let op_revision = op.and_then(|o| o.sync_result.as_ref()).and_then(|r| r.revision.as_deref());
    let done =
        |sync, verdict| Assessment { sync, health, revision: revision.clone(), message: message.clone(), verdict };

    if matches!(phase, "Running" | "Terminating") {
        return done(SyncStatus::Syncing, Verdict::Waiting("a sync operation is running".to_owned()));
    }
    if matches!(phase, "Failed" | "Error") && op_revision.is_some_and(at_expected) {
        let text = op.and_then(|o| o.message.clone()).unwrap_or_else(|| format!("phase {phase}"));
        let full = match &message {
            Some(m) if !m.contains(&text) => format!("sync failed: {text}; {m}"),
            _ => format!("sync failed: {text}"),
        };
        return done(argo_sync.unwrap_or(SyncStatus::Unknown), Verdict::Failed(full));
    }
    let Some(argo_sync) = argo_sync else {
        return done(SyncStatus::Unknown, Verdict::Waiting("Argo CD reports no sync status yet".to_owned()));
    };
    if argo_sync != SyncStatus::Synced {
        return done(argo_sync, Verdict::Waiting(format!("Argo CD reports {}", argo_sync.as_str())));
    }
    if !revision.as_deref().is_some_and(at_expected) {
        let at = revision.as_deref().map_or("no revision".to_owned(), |r| format!("revision {}", short(r)));
        return done(
            SyncStatus::OutOfSync,
            Verdict::Waiting(format!("Argo CD is synced to {at}, not the promotion commit")),
        );
    }
    if let Err(why) = assessed_after_operation(app) {
        return done(SyncStatus::Syncing, Verdict::Waiting(why));
    }
    match health {
        HealthStatus::Healthy => done(SyncStatus::Synced, Verdict::Ready),
        HealthStatus::Degraded => {
            let text = message.clone().unwrap_or_else(|| "Argo CD reports the application Degraded".to_owned());
            done(SyncStatus::Synced, Verdict::Failed(text))
        }
        other => {
            done(SyncStatus::Synced, Verdict::Waiting(format!("Argo CD reports the application {}", other.as_str())))
        }
    }
}

/// `reconciledAt >= operationState.finishedAt`, or why not. Without an operation (nothing synced by
/// Argo CD since it started) a reconciliation suffices.
fn assessed_after_operation(app: &Application) -> Result<(), String> {
    let s = &app.status;
    let reconciled = s.reconciled_at.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
    let Some(op) = &s.operation_state else {
        return reconciled.map(|_| ()).ok_or_else(|| "Argo CD has not reconciled the application yet".to_owned());
    };
    let finished = op.finished_at.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
    match (reconciled, finished) {
        (_, None) => Err("the last sync operation has not finished".to_owned()),
        (None, Some(_)) => Err("Argo CD has not reconciled the application yet".to_owned()),
        (Some(r), Some(f)) if r >= f => Ok(()),
        (Some(_), Some(_)) => {
            Err("health was assessed before the last sync operation finished; waiting for Argo CD to reconcile"
                .to_owned())
        }
    }
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// The application's conditions, failing resources' messages, its health message and a failed
/// operation's message, as one text (`None` when there is nothing to say).
pub fn describe(app: &Application) -> Option<String> {
    let s = &app.status;
    let mut parts: Vec<String> = Vec::new();
    for c in &s.conditions {
        if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
            parts.push(format!("{}: {m}", c.kind.as_deref().unwrap_or("Condition")));
        }
    }
    if let Some(m) = s.health.as_ref().and_then(|h| h.message.as_deref()).filter(|m| !m.is_empty()) {
        parts.push(m.to_owned());
    }
    for r in &s.resources {
        let Some(h) = &r.health else { continue };
        let status = h.status.as_deref().unwrap_or("Unknown");
        if matches!(status, "Healthy" | "Progressing" | "Suspended") {
            continue;
        }
        let what = format!("{}/{}", r.kind.as_deref().unwrap_or("?"), r.name.as_deref().unwrap_or("?"));
        match h.message.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => parts.push(format!("{what} {status}: {m}")),
            None => parts.push(format!("{what} {status}")),
        }
    }
    if let Some(op) = &s.operation_state
        && matches!(op.phase.as_deref(), Some("Failed" | "Error"))
        && let Some(m) = op.message.as_deref().filter(|m| !m.is_empty())
    {
        parts.push(format!("sync operation {}: {m}", op.phase.as_deref().unwrap_or("failed")));
    }
    if parts.is_empty() { None } else { Some(parts.join("; ")) }
}
