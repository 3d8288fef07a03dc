//! DORA week rollups (`dora_weeks`) and environment tracks (`dora_tracks`), shared by the backends:
//! each outcome recorded updates them in the same write (`ferry_model::dora::rollup` decides what
//! changes), and a migration builds them from the outcomes already stored ([`Replay`]).

use std::collections::{BTreeMap, HashMap};

use ferry_model::EnvName;
use ferry_model::dora::rollup::{Effect, OutcomeKey, Stat, Track, WeekRollup};
use ferry_model::dora::{EnvOutcome, OutcomeStatus};
use jiff::Timestamp;

use crate::{OutcomeRow, Result, StoreError};

/// The model's outcome of a stored row.
pub(crate) fn model_outcome(o: &OutcomeRow) -> Result<EnvOutcome> {
    let bad = |what: &str| StoreError::Internal {
        doing: "recording an environment outcome",
        detail: format!("release {}: {what} is not valid", o.release_id),
    };
    Ok(EnvOutcome {
        environment: EnvName::new(&o.environment).map_err(|_| bad("environment"))?,
        flow: o.flow.clone(),
        attempt: u32::try_from(o.attempt).map_err(|_| bad("attempt"))?,
        status: OutcomeStatus::parse(&o.status).ok_or_else(|| bad("status"))?,
        after_action: o.after_action,
        committed_at: o.committed_at,
        at: o.at,
    })
}

/// The key a track keeps of a stored outcome.
pub(crate) fn key(o: &OutcomeRow) -> OutcomeKey {
    OutcomeKey { release_id: o.release_id.clone(), attempt: o.attempt, at: o.at }
}

fn decode_err(what: &str) -> impl Fn(serde_json::Error) -> StoreError {
    let what = what.to_owned();
    move |source| StoreError::Decode { what: what.clone(), source }
}

/// A stored duration statistic.
pub(crate) fn stat(value: serde_json::Value) -> Result<Stat> {
    serde_json::from_value(value).map_err(decode_err("DORA week durations"))
}

/// A duration statistic to store.
pub(crate) fn stat_json(s: &Stat) -> Result<serde_json::Value> {
    serde_json::to_value(s).map_err(decode_err("DORA week durations"))
}

/// A stored environment track.
pub(crate) fn track(value: serde_json::Value) -> Result<Track> {
    serde_json::from_value(value).map_err(decode_err("DORA environment track"))
}

/// A track to store.
pub(crate) fn track_json(t: &Track) -> Result<serde_json::Value> {
    serde_json::to_value(t).map_err(decode_err("DORA environment track"))
}

/// Rollup counts as stored (BIGINT / INTEGER).
pub(crate) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count (never negative).
pub(crate) fn uncount(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A stored outcome's classification, as effects decide it: `(failure, restore seconds)`.
pub(crate) type Decision = (bool, Option<i64>);

/// What an effect decides of a stored outcome (release, attempt) of the track's environment.
pub(crate) fn decision(effect: &Effect, recorded: &OutcomeKey) -> Option<(OutcomeKey, Decision)> {
    match effect {
        Effect::Recorded { failure: true, .. } => Some((recorded.clone(), (true, None))),
        Effect::Recorded { .. } => None,
        Effect::Restored { key, secs, .. } => Some((key.clone(), (true, Some(*secs)))),
    }
}

/// Outcomes replayed in time order into tracks, week rollups and decisions, in memory (a
/// migration's backfill: then written once).
#[derive(Default)]
pub(crate) struct Replay {
    /// Per product and environment.
    pub tracks: HashMap<(String, String), Track>,
    /// Per product, environment and week.
    pub weeks: BTreeMap<(String, String, Timestamp), WeekRollup>,
    /// Per product, environment, release and attempt.
    pub decisions: HashMap<(String, String, String, i64), Decision>,
}

impl Replay {
    /// Records the next outcome (in time order).
    pub fn record(&mut self, o: &OutcomeRow) -> Result<()> {
        let model = model_outcome(o)?;
        let place = (o.product.clone(), o.environment.clone());
        let recorded = key(o);
        let effects = self.tracks.entry(place.clone()).or_default().record(recorded.clone(), &model);
        for effect in effects {
            self.weeks.entry((place.0.clone(), place.1.clone(), effect.week())).or_default().apply(&effect);
            if let Some((k, d)) = decision(&effect, &recorded) {
                self.decisions.insert((place.0.clone(), place.1.clone(), k.release_id, k.attempt), d);
            }
        }
        Ok(())
    }
}
