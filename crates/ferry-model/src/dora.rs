//! DORA metrics (SPEC §10) from environment outcomes: deployment frequency, lead time for changes,
//! change failure rate and time to restore, per product and environment, with weekly buckets.
//!
//! An [`EnvOutcome`] is written once each time an environment of a release reaches Successful or
//! Failed ([`outcomes`], comparing the state before and after a commit); the figures are a pure
//! function of the outcomes of a time window ([`compute`]), so they never replay release logs.
//!
//! Definitions (in one place, `docs/dora.md` repeats them):
//! * a **deployment** is a Successful outcome (every flow, rollbacks included);
//! * **lead time** is the time from the trigger commit's date to the Successful outcome, for
//!   deployments not of flow `rollback` (a rollback carries an old commit);
//! * a **change** is an outcome whose promotion landed: every Successful one, and a Failed one whose
//!   action had landed in at least one application; a **change failure** is a Failed change, or a
//!   Successful one whose next Successful outcome in the same environment is of flow `rollback`;
//!   the change failure rate is failures / changes;
//! * **time to restore** runs from a change failure (the Failed outcome, or the rolled-back
//!   deployment) to the next Successful outcome in the same environment;
//! * percentiles are nearest-rank; weeks start on Monday 00:00 UTC.
//!
//! Stores keep these figures pre-aggregated per week ([`rollup`]); [`compute`] is the reference
//! they are tested against.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::EnvName;
use crate::release::ReleaseState;
use crate::status::EnvStatus;

pub mod rollup;

/// The flow name of rollback releases.
pub const ROLLBACK_FLOW: &str = "rollback";

/// How an environment of a release ended one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OutcomeStatus {
    /// The environment became Successful.
    Successful,
    /// The environment became Failed.
    Failed,
}

impl OutcomeStatus {
    /// The spelling stored and shown (as [`EnvStatus`] spells it).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Successful => "Successful",
            OutcomeStatus::Failed => "Failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<OutcomeStatus> {
        match text {
            "Successful" => Some(OutcomeStatus::Successful),
            "Failed" => Some(OutcomeStatus::Failed),
            _ => None,
        }
    }
}

/// One environment of one release reaching Successful or Failed (once per attempt: a retry that
/// fails again is a new outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvOutcome {
    /// The environment.
    pub environment: EnvName,
    /// The release's flow (`manual`, `rollback`, or a flow name).
    pub flow: String,
    /// The release's retry count when it happened.
    pub attempt: u32,
    /// How it ended.
    pub status: OutcomeStatus,
    /// Whether the promotion had landed in at least one of its applications (always for Successful).
    pub after_action: bool,
    /// The trigger commit's date.
    pub committed_at: Timestamp,
    /// When the environment reached the status.
    pub at: Timestamp,
}

/// The outcomes a commit produced: environments that are Successful or Failed in `after` and were
/// not so, with the same finish time, in `before` (a retry clears a failed environment's finish
/// time, so its next end is a new outcome). `now` stands in for a missing finish time.
pub fn outcomes(before: &ReleaseState, after: &ReleaseState, now: Timestamp) -> Vec<EnvOutcome> {
    let snap = after.snapshot();
    after
        .env_statuses()
        .into_iter()
        .filter_map(|(name, status)| {
            let status = match status {
                EnvStatus::Successful => OutcomeStatus::Successful,
                EnvStatus::Failed => OutcomeStatus::Failed,
                _ => return None,
            };
            let env = after.environment(name)?;
            let was = before.env_status(name);
            let was_finished = before.environment(name).and_then(|e| e.finished_at);
            if was.is_some_and(|w| w.as_str() == status.as_str()) && was_finished == env.finished_at {
                return None;
            }
            let after_action = status == OutcomeStatus::Successful || env.apps.iter().any(|app| app.action_landed());
            Some(EnvOutcome {
                environment: name.clone(),
                flow: snap.flow.clone(),
                attempt: after.retries(),
                status,
                after_action,
                committed_at: snap.trigger.date,
                at: env.finished_at.unwrap_or(now),
            })
        })
        .collect()
}

/// A time window, `since` inclusive, `until` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start (inclusive).
    pub since: Timestamp,
    /// End (exclusive).
    pub until: Timestamp,
}

/// A duration statistic in whole seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median (nearest rank), when there are samples.
    pub median: Option<i64>,
    /// 90th percentile (nearest rank), when there are samples.
    pub p90: Option<i64>,
}

impl Percentiles {
    /// The statistic of `samples` (seconds, any order).
    pub fn of(mut samples: Vec<i64>) -> Percentiles {
        samples.sort_unstable();
        let rank = |p: f64| -> Option<i64> {
            if samples.is_empty() {
                return None;
            }
            // Nearest rank: the smallest value with at least p of the samples at or below it.
            let n = samples.len();
            let k = ((p * n as f64).ceil() as usize).clamp(1, n);
            samples.get(k - 1).copied()
        };
        Percentiles { count: samples.len() as u64, median: rank(0.5), p90: rank(0.9) }
    }
}

/// The four figures over some outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Deployments (Successful outcomes).
    pub deployments: u64,
    /// Deployments per week over the window.
    pub deployments_per_week: f64,
    /// Lead time for changes, trigger commit → Successful (rollbacks excluded).
    pub lead_time: Percentiles,
    /// Changes (outcomes whose promotion landed).
    pub changes: u64,
    /// Change failures (Failed after the action, or rolled back).
    pub change_failures: u64,
    /// `change_failures / changes`, when there were changes.
    pub change_failure_rate: Option<f64>,
    /// Time to restore, change failure → next Successful in the environment (restored ones only).
    pub time_to_restore: Percentiles,
    /// Change failures not followed by a Successful outcome (yet).
    pub unrestored: u64,
}

/// The figures of one week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Week {
    /// Monday 00:00 UTC.
    pub start: Timestamp,
    /// The week's figures (deployments per week = deployments).
    pub figures: Figures,
}

/// Figures of a window and of each week it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The whole window.
    pub total: Figures,
    /// Each week from the one holding `since` to the one holding `until`, oldest first.
    pub weeks: Vec<Week>,
}

/// What one outcome counts for, once its neighbours in the environment are known.
struct Classified<'a> {
    outcome: &'a EnvOutcome,
    failure: bool,
    restored_after: Option<SignedDuration>,
}

/// Classifies `outcomes` (any order, any environments): change failures and restore times are
/// decided within each environment, in time order.
fn classify(outcomes: &[EnvOutcome]) -> Vec<Classified<'_>> {
    let mut by_env: BTreeMap<&EnvName, Vec<&EnvOutcome>> = BTreeMap::new();
    for o in outcomes {
        by_env.entry(&o.environment).or_default().push(o);
    }
    let mut out = Vec::with_capacity(outcomes.len());
    for (_, mut list) in by_env {
        list.sort_by_key(|o| o.at);
        for (i, o) in list.iter().enumerate() {
            let next_success = list[i + 1..].iter().find(|n| n.status == OutcomeStatus::Successful);
            let failure = match o.status {
                OutcomeStatus::Failed => o.after_action,
                OutcomeStatus::Successful => next_success.is_some_and(|n| n.flow == ROLLBACK_FLOW),
            };
            let restored_after = if failure { next_success.map(|n| n.at.duration_since(o.at)) } else { None };
            out.push(Classified { outcome: o, failure, restored_after });
        }
    }
    out
}

/// The figures of classified outcomes over a window of `days` days.
fn figures<'a>(items: impl Iterator<Item = &'a Classified<'a>>, days: f64) -> Figures {
    let mut f = Figures::default();
    let (mut leads, mut restores) = (Vec::new(), Vec::new());
    for c in items {
        let o = c.outcome;
        if o.status == OutcomeStatus::Successful {
            f.deployments += 1;
            if o.flow != ROLLBACK_FLOW {
                leads.push(o.at.duration_since(o.committed_at).as_secs().max(0));
            }
        }
        if o.after_action {
            f.changes += 1;
        }
        if c.failure {
            f.change_failures += 1;
            match c.restored_after {
                Some(d) => restores.push(d.as_secs().max(0)),
                None => f.unrestored += 1,
            }
        }
    }
    f.deployments_per_week = if days > 0.0 { f.deployments as f64 * 7.0 / days } else { 0.0 };
    f.change_failure_rate = (f.changes > 0).then(|| f.change_failures as f64 / f.changes as f64);
    f.lead_time = Percentiles::of(leads);
    f.time_to_restore = Percentiles::of(restores);
    f
}

/// Monday 00:00 UTC of the week holding `t`.
pub fn week_start(t: Timestamp) -> Timestamp {
    const DAY: i64 = 86_400;
    // 1970-01-01 was a Thursday, so a day number d is a Monday when (d + 3) mod 7 = 0.
    let secs = t.as_second();
    let days = secs.div_euclid(DAY);
    let monday = days - (days + 3).rem_euclid(7);
    Timestamp::from_second(monday * DAY).unwrap_or(t)
}

/// The figures of the outcomes of `window` (outcomes outside it are ignored, except that a later
/// Successful outcome still decides a rollback or a restore of one inside it).
pub fn compute(outcomes: &[EnvOutcome], window: Window) -> Report {
    let mut inside: Vec<Classified<'_>> = classify(outcomes)
        .into_iter()
        .filter(|c| c.outcome.at >= window.since && c.outcome.at < window.until)
        .collect();
    // In time order, each week is one contiguous run: the buckets cost one pass, not one per week.
    inside.sort_by_key(|c| c.outcome.at);
    let days = window.until.duration_since(window.since).as_secs_f64() / 86_400.0;
    let total = figures(inside.iter(), days);
    let mut weeks = Vec::new();
    let mut start = week_start(window.since);
    let mut rest = inside.as_slice();
    while start < window.until {
        let end = start.checked_add(SignedDuration::from_hours(24 * 7)).unwrap_or(window.until);
        let (week, later) = rest.split_at(rest.partition_point(|c| c.outcome.at < end));
        weeks.push(Week { start, figures: figures(week.iter(), 7.0) });
        rest = later;
        start = end;
    }
    Report { total, weeks }
}

#[cfg(test)]
mod tests;
