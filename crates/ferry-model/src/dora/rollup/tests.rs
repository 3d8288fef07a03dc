//! The rollups give the figures of `compute` (exactly while few durations), and their histogram
//! percentiles stay within the documented error.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::EnvName;
use crate::dora::compute;

fn base() -> Timestamp {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

fn at(minutes: i64) -> Timestamp {
    base().checked_add(SignedDuration::from_mins(minutes)).unwrap()
}

/// Records `outcomes` in time order as a store does: the week rollups per environment, and each
/// outcome with its classification once everything is recorded.
fn record_all(outcomes: &[EnvOutcome]) -> (Vec<Decided>, BTreeMap<(EnvName, Timestamp), WeekRollup>) {
    let mut sorted: Vec<(usize, &EnvOutcome)> = outcomes.iter().enumerate().collect();
    sorted.sort_by_key(|(i, o)| (o.at, *i));
    let mut tracks: BTreeMap<EnvName, Track> = BTreeMap::new();
    let mut weeks: BTreeMap<(EnvName, Timestamp), WeekRollup> = BTreeMap::new();
    let mut decided: Vec<Decided> =
        outcomes.iter().map(|o| Decided { outcome: o.clone(), failure: false, restore: None }).collect();
    for (i, o) in sorted {
        let key = OutcomeKey { release_id: i.to_string(), attempt: 0, at: o.at };
        for effect in tracks.entry(o.environment.clone()).or_default().record(key, o) {
            weeks.entry((o.environment.clone(), effect.week())).or_default().apply(&effect);
            match effect {
                Effect::Recorded { failure, .. } => decided[i].failure = failure,
                Effect::Restored { key, secs, .. } => {
                    let Ok(j) = key.release_id.parse::<usize>() else { unreachable!() };
                    decided[j].failure = true;
                    decided[j].restore = Some(secs);
                }
            }
        }
    }
    (decided, weeks)
}

fn from_rollups(outcomes: &[EnvOutcome], window: Window) -> Report {
    let (decided, weeks) = record_all(outcomes);
    let rows: Vec<(Timestamp, &WeekRollup)> = weeks.iter().map(|((_, w), r)| (*w, r)).collect();
    report(&decided, &rows, window)
}

fn outcome(env: &str, flow: &str, status: OutcomeStatus, after_action: bool, lead: i64, minutes: i64) -> EnvOutcome {
    EnvOutcome {
        environment: env.parse().unwrap(),
        flow: flow.to_owned(),
        attempt: 0,
        status,
        after_action: after_action || status == OutcomeStatus::Successful,
        committed_at: at(minutes).checked_sub(SignedDuration::from_secs(lead)).unwrap(),
        at: at(minutes),
    }
}

use OutcomeStatus::{Failed, Successful};

/// A history over three weeks whose rollbacks and restores cross week boundaries.
fn history() -> Vec<EnvOutcome> {
    let week = 7 * 24 * 60;
    vec![
        outcome("prod", "standard", Successful, true, 7_200, 600),
        outcome("prod", "standard", Failed, true, 3_600, week - 60), // restored next week
        outcome("prod", "standard", Successful, true, 14_400, week + 120),
        outcome("prod", ROLLBACK_FLOW, Successful, true, 900_000, 2 * week + 30), // rolls back the one above
        outcome("prod", "standard", Failed, false, 60, 2 * week + 40),            // before its action
        outcome("prod", "standard", Failed, true, 60, 2 * week + 50),             // never restored
        outcome("qa", "standard", Successful, true, 60, -30),                     // before every window
        outcome("qa", "standard", Successful, true, 90, 3 * 24 * 60),
        outcome("qa", ROLLBACK_FLOW, Successful, true, 90, week + 3 * 24 * 60),
    ]
}

#[test]
fn the_rollups_give_the_figures_of_every_outcome() {
    let until = at(3 * 7 * 24 * 60);
    for since in [base(), at(2 * 24 * 60), at(7 * 24 * 60 - 30), at(8 * 24 * 60), at(-60)] {
        let window = Window { since, until };
        for env in [None, Some("prod"), Some("qa")] {
            let mine: Vec<EnvOutcome> =
                history().into_iter().filter(|o| env.is_none_or(|e| o.environment.as_str() == e)).collect();
            assert_eq!(from_rollups(&mine, window), compute(&mine, window), "since {since}, env {env:?}");
        }
    }
}

#[test]
fn a_rollback_makes_the_previous_deployment_a_failure_in_its_own_week() {
    let (_, weeks) = record_all(&history());
    let prod = |w: i64| &weeks[&("prod".parse().unwrap(), at(w * 7 * 24 * 60))];
    // Week 2 holds the rolled-back deployment: a failure restored by the rollback a week later.
    assert_eq!((prod(1).deployments, prod(1).change_failures, prod(1).unrestored), (1, 1, 0));
    assert_eq!(prod(1).restore.count, 1);
    // Week 1's failure was restored in week 2, and counts in week 1.
    assert_eq!((prod(0).change_failures, prod(0).unrestored, prod(0).restore.count), (1, 0, 1));
    assert_eq!(prod(2).unrestored, 1);
}

#[test]
fn buckets_are_exact_below_the_linear_range_and_cover_their_representative() {
    for v in [0, 1, 59, 127] {
        assert_eq!(representative(bucket(v)), v);
    }
    for v in [128, 129, 600, 3_599, 86_400, 7_776_000, 315_360_000] {
        let r = representative(bucket(v));
        assert!((r - v).abs() as f64 <= MAX_RELATIVE_ERROR * v as f64 + 0.5, "{v} → {r}");
    }
    const { assert!(MAX_RELATIVE_ERROR < 0.01) };
}

/// Durations from a fixed pseudo-random sequence, spread over many weeks so that none keeps its
/// exact values: the percentiles come from the histogram, within the documented bound.
#[test]
fn histogram_percentiles_stay_within_the_documented_error() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut weeks: Vec<Stat> = vec![Stat::default(); 13];
    let mut all = Vec::new();
    for i in 0..20_000 {
        // Log-uniform from 1 s to about 40 days.
        let v = (2f64.powf((next() % 2_200) as f64 / 100.0)) as i64;
        weeks[i % 13].add(v);
        all.push(v);
    }
    assert!(weeks.iter().all(|w| w.exact.is_none()), "many samples per week drop the exact values");
    let got = Stat::percentiles(weeks.iter());
    let exact = Percentiles::of(all);
    assert_eq!(got.count, exact.count);
    for (g, e) in [(got.median, exact.median), (got.p90, exact.p90)] {
        let (Some(g), Some(e)) = (g, e) else { panic!("no percentile: {got:?}") };
        assert!((g - e).abs() as f64 <= MAX_RELATIVE_ERROR * e as f64 + 0.5, "{g} vs {e}");
    }
    // The stored form is bounded by the buckets, not the samples.
    let stored = serde_json::to_string(&weeks[0]).unwrap();
    assert!(stored.len() < 16_000, "{} bytes", stored.len());
}

#[test]
fn a_week_keeps_exact_values_until_it_has_too_many() {
    let mut s = Stat::default();
    for v in 0..EXACT_LIMIT as i64 {
        s.add(1_000 + v);
    }
    assert_eq!(s.exact.as_ref().map(Vec::len), Some(EXACT_LIMIT));
    assert_eq!(Stat::percentiles([&s]), Percentiles::of((1_000..1_000 + EXACT_LIMIT as i64).collect()));
    s.add(5);
    assert_eq!(s.exact, None);
    let back: Stat = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

fn arb_outcome() -> impl Strategy<Value = EnvOutcome> {
    (0..2usize, any::<bool>(), 0..3u8, any::<bool>(), 0..5_000i64, -100..30_000i64).prop_map(
        |(env, rollback, status, after_action, lead, minutes)| {
            let status = if status == 0 { Failed } else { Successful };
            let flow = if rollback { ROLLBACK_FLOW } else { "standard" };
            outcome(["qa", "prod"][env], flow, status, after_action, lead * 60, minutes)
        },
    )
}

proptest! {
    #[test]
    fn any_history_gives_the_same_figures(
        history in proptest::collection::vec(arb_outcome(), 0..40),
        since in -200..20_000i64,
    ) {
        // Distinct times: the order of outcomes of one environment is then their time order.
        let mut history = history;
        history.sort_by_key(|o| o.at);
        history.dedup_by_key(|o| o.at);
        let window = Window { since: at(since), until: at(31_000) };
        prop_assert_eq!(from_rollups(&history, window), compute(&history, window));
    }
}
