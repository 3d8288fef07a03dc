//! Pre-aggregated DORA figures: one [`WeekRollup`] per product, environment and week, kept up to
//! date as each outcome is recorded, so a window's figures read (weeks × environments) rows instead
//! of every outcome.
//!
//! The definitions are those of the parent module. What spans weeks is decided when the later
//! outcome is recorded, from the environment's [`Track`] (its last deployment and its change
//! failures not yet restored): a Successful outcome restores the pending failures (their week gains a
//! restore time), and a Successful rollback also makes the previous deployment a change failure,
//! restored by the rollback. Outcomes of an environment are decided in the order they are recorded,
//! which is their time order (an environment of a product is promoted by one release at a time).
//!
//! Durations go into a [`Stat`]: exact values while a week has at most [`EXACT_LIMIT`] of them, and
//! always a log-scale histogram (exact below [`LINEAR`] seconds, buckets of ratio [`GAMMA`] above),
//! so a percentile of many weeks is exact when every week kept its values, and otherwise within
//! [`MAX_RELATIVE_ERROR`] of the exact nearest-rank value plus half a second of rounding.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{EnvOutcome, Figures, OutcomeStatus, Percentiles, ROLLBACK_FLOW, Report, Week, Window, week_start};

/// A week keeps its exact durations while it has at most this many.
pub const EXACT_LIMIT: usize = 32;
/// Durations below this many seconds have a bucket each (exact).
pub const LINEAR: i64 = 128;
/// The ratio of a bucket's upper to its lower bound above [`LINEAR`].
pub const GAMMA: f64 = 1.02;
/// The largest relative error of a percentile read from the histogram: `(GAMMA − 1) / (GAMMA + 1)`
/// (0.99%), before rounding to whole seconds.
pub const MAX_RELATIVE_ERROR: f64 = (GAMMA - 1.0) / (GAMMA + 1.0);

/// The histogram bucket of a duration (seconds, negative ones count as 0).
pub fn bucket(secs: i64) -> u32 {
    let v = secs.max(0);
    if v < LINEAR {
        return v as u32;
    }
    let k = ((v as f64 / LINEAR as f64).ln() / GAMMA.ln()).floor().max(0.0);
    LINEAR as u32 + k as u32
}

/// The value a bucket stands for: itself below [`LINEAR`], else the point of least relative error
/// of `[LINEAR·GAMMAᵏ, LINEAR·GAMMAᵏ⁺¹)`, rounded to whole seconds.
pub fn representative(bucket: u32) -> i64 {
    if i64::from(bucket) < LINEAR {
        return i64::from(bucket);
    }
    let k = f64::from(bucket) - LINEAR as f64;
    (2.0 * LINEAR as f64 * GAMMA.powf(k + 1.0) / (1.0 + GAMMA)).round() as i64
}

/// A bounded summary of durations in seconds: count, sum, exact values while few, and a histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// Samples.
    pub count: u64,
    /// Sum of the samples (for a mean).
    pub sum: i64,
    /// Every sample while there are at most [`EXACT_LIMIT`]; `None` once there were more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<Vec<i64>>,
    /// Samples per bucket ([`bucket`]).
    #[serde(default)]
    pub buckets: BTreeMap<u32, u64>,
}

impl Stat {
    /// Adds a sample (negative durations count as 0, as in the parent module).
    pub fn add(&mut self, secs: i64) {
        let v = secs.max(0);
        if self.count == 0 {
            self.exact = Some(Vec::new());
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        *self.buckets.entry(bucket(v)).or_default() += 1;
        match &mut self.exact {
            Some(values) if values.len() < EXACT_LIMIT => values.push(v),
            _ => self.exact = None,
        }
    }

    /// Whether every sample is kept exactly.
    fn is_exact(&self) -> bool {
        self.exact.as_ref().is_some_and(|v| v.len() as u64 == self.count)
    }

    /// The median and 90th percentile (nearest rank) of `parts` together: exact when every part kept
    /// its values, else from the merged histogram.
    pub fn percentiles<'a>(parts: impl IntoIterator<Item = &'a Stat> + Clone) -> Percentiles {
        let count: u64 = parts.clone().into_iter().map(|s| s.count).sum();
        if count == 0 {
            return Percentiles::default();
        }
        if parts.clone().into_iter().all(|s| s.count == 0 || s.is_exact()) {
            let all: Vec<i64> = parts.into_iter().filter_map(|s| s.exact.as_ref()).flatten().copied().collect();
            return Percentiles::of(all);
        }
        let mut merged: BTreeMap<u32, u64> = BTreeMap::new();
        for s in parts {
            for (b, c) in &s.buckets {
                *merged.entry(*b).or_default() += c;
            }
        }
        let rank = |p: f64| -> Option<i64> {
            let k = ((p * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            merged
                .iter()
                .find(|(_, c)| {
                    seen += **c;
                    seen >= k
                })
                .map(|(b, _)| representative(*b))
        };
        Percentiles { count, median: rank(0.5), p90: rank(0.9) }
    }
}

/// The counts and durations of one product, environment and week (outcomes by their own time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekRollup {
    /// Successful outcomes.
    pub deployments: u64,
    /// Outcomes whose promotion landed.
    pub changes: u64,
    /// Change failures (as decided so far).
    pub change_failures: u64,
    /// Change failures not restored yet.
    pub unrestored: u64,
    /// Lead times of the deployments (rollbacks excluded).
    pub lead: Stat,
    /// Times to restore of the restored change failures.
    pub restore: Stat,
}

impl WeekRollup {
    /// Counts what `effect` says for this week (the week of the outcome it is about).
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Recorded { successful, after_action, lead, failure, .. } => {
                self.deployments += u64::from(*successful);
                self.changes += u64::from(*after_action);
                if let Some(lead) = lead {
                    self.lead.add(*lead);
                }
                if *failure {
                    self.change_failures += 1;
                    self.unrestored += 1;
                }
            }
            Effect::Restored { secs, newly_failed, .. } => {
                if *newly_failed {
                    self.change_failures += 1;
                } else {
                    self.unrestored = self.unrestored.saturating_sub(1);
                }
                self.restore.add(*secs);
            }
        }
    }

    /// Counts one outcome already decided (`failure`, and its time to restore when restored).
    pub fn add_decided(&mut self, o: &EnvOutcome, failure: bool, restore: Option<i64>) {
        let successful = o.status == OutcomeStatus::Successful;
        self.deployments += u64::from(successful);
        self.changes += u64::from(o.after_action);
        if successful && o.flow != ROLLBACK_FLOW {
            self.lead.add(o.at.duration_since(o.committed_at).as_secs());
        }
        if failure {
            self.change_failures += 1;
            match restore {
                Some(secs) => self.restore.add(secs),
                None => self.unrestored += 1,
            }
        }
    }

    /// The figures of `parts` together, over a window of `days` days.
    pub fn figures(parts: &[&WeekRollup], days: f64) -> Figures {
        let mut f = Figures::default();
        for p in parts {
            f.deployments += p.deployments;
            f.changes += p.changes;
            f.change_failures += p.change_failures;
            f.unrestored += p.unrestored;
        }
        f.deployments_per_week = if days > 0.0 { f.deployments as f64 * 7.0 / days } else { 0.0 };
        f.change_failure_rate = (f.changes > 0).then(|| f.change_failures as f64 / f.changes as f64);
        f.lead_time = Stat::percentiles(parts.iter().map(|p| &p.lead));
        f.time_to_restore = Stat::percentiles(parts.iter().map(|p| &p.restore));
        f
    }
}

/// Which stored outcome an effect is about: release, attempt, and its time (the environment and
/// product are the track's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeKey {
    /// Release id.
    pub release_id: String,
    /// Attempt (the release's retry count).
    pub attempt: i64,
    /// When it happened.
    pub at: Timestamp,
}

/// What recording an outcome changes, each in the week of the outcome it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The recorded outcome itself.
    Recorded {
        /// Monday of its week.
        week: Timestamp,
        /// It is a deployment.
        successful: bool,
        /// It is a change.
        after_action: bool,
        /// Its lead time (deployments not of flow `rollback`).
        lead: Option<i64>,
        /// It is a change failure (Failed after its action).
        failure: bool,
    },
    /// An earlier outcome is restored by the recorded one.
    Restored {
        /// Monday of the earlier outcome's week.
        week: Timestamp,
        /// The earlier outcome.
        key: OutcomeKey,
        /// Its time to restore.
        secs: i64,
        /// It becomes a change failure now (a deployment that was rolled back).
        newly_failed: bool,
    },
}

impl Effect {
    /// Monday of the week the effect counts in.
    pub fn week(&self) -> Timestamp {
        match self {
            Effect::Recorded { week, .. } | Effect::Restored { week, .. } => *week,
        }
    }
}

/// What an environment's next outcome needs to know of the earlier ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// The last deployment (Successful outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<OutcomeKey>,
    /// Change failures since then, not restored yet.
    #[serde(default)]
    pub pending: Vec<OutcomeKey>,
}

impl Track {
    /// Records `o` (stored as `key`): its own effect, then the restores it brings.
    pub fn record(&mut self, key: OutcomeKey, o: &EnvOutcome) -> Vec<Effect> {
        let successful = o.status == OutcomeStatus::Successful;
        let failure = o.status == OutcomeStatus::Failed && o.after_action;
        let lead = (successful && o.flow != ROLLBACK_FLOW).then(|| o.at.duration_since(o.committed_at).as_secs());
        let mut effects =
            vec![Effect::Recorded { week: week_start(o.at), successful, after_action: o.after_action, lead, failure }];
        let restored = |earlier: OutcomeKey, newly_failed: bool| Effect::Restored {
            week: week_start(earlier.at),
            secs: o.at.duration_since(earlier.at).as_secs().max(0),
            key: earlier,
            newly_failed,
        };
        if failure {
            self.pending.push(key);
        } else if successful {
            if o.flow == ROLLBACK_FLOW
                && let Some(previous) = self.last_success.take()
            {
                effects.push(restored(previous, true));
            }
            effects.extend(self.pending.drain(..).map(|f| restored(f, false)));
            self.last_success = Some(key);
        }
        effects
    }
}

/// Outcomes of an environment decided already (stored with their classification), as the first,
/// partial week of a window reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The outcome.
    pub outcome: EnvOutcome,
    /// Whether it is a change failure.
    pub failure: bool,
    /// Its time to restore, when restored.
    pub restore: Option<i64>,
}

/// Where a window's figures come from: outcomes from `since` to the first Monday at or after it
/// (capped at `until`), and week rows from that Monday on.
pub fn head_end(window: Window) -> Timestamp {
    let monday = week_start(window.since);
    let first_full = if monday == window.since {
        monday
    } else {
        monday.checked_add(SignedDuration::from_hours(24 * 7)).unwrap_or(window.until)
    };
    first_full.min(window.until)
}

/// The report of `window` from the decided outcomes of its head (see [`head_end`]) and the rollups
/// of the weeks after it (any environments: they are added together).
pub fn report(head: &[Decided], weeks: &[(Timestamp, &WeekRollup)], window: Window) -> Report {
    let end = head_end(window);
    let mut first = WeekRollup::default();
    for d in head.iter().filter(|d| d.outcome.at >= window.since && d.outcome.at < end) {
        first.add_decided(&d.outcome, d.failure, d.restore);
    }
    let mut by_week: BTreeMap<Timestamp, Vec<&WeekRollup>> = BTreeMap::new();
    for (week, rollup) in weeks.iter().filter(|(w, _)| *w >= end && *w < window.until) {
        by_week.entry(*week).or_default().push(rollup);
    }
    let days = window.until.duration_since(window.since).as_secs_f64() / 86_400.0;
    let mut every: Vec<&WeekRollup> = by_week.values().flatten().copied().collect();
    every.push(&first);
    let total = WeekRollup::figures(&every, days);
    let mut out = Vec::new();
    let mut start = week_start(window.since);
    while start < window.until {
        let figures = if start < end {
            WeekRollup::figures(&[&first], 7.0)
        } else {
            WeekRollup::figures(by_week.get(&start).map_or(&[][..], Vec::as_slice), 7.0)
        };
        out.push(Week { start, figures });
        start = start.checked_add(SignedDuration::from_hours(24 * 7)).unwrap_or(window.until);
    }
    Report { total, weeks: out }
}

#[cfg(test)]
mod tests;
