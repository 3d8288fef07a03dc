//! DORA figures checked against a history computed by hand.

use super::*;

/// Monday 2026-01-05 00:00 UTC.
fn base() -> Timestamp {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

fn h(hours: i64) -> Timestamp {
    base().checked_add(SignedDuration::from_hours(hours)).unwrap()
}

fn outcome(env: &str, flow: &str, status: OutcomeStatus, after_action: bool, committed: i64, at: i64) -> EnvOutcome {
    EnvOutcome {
        environment: env.parse().unwrap(),
        flow: flow.to_owned(),
        attempt: 0,
        status,
        after_action,
        committed_at: h(committed),
        at: h(at),
    }
}

use OutcomeStatus::{Failed, Successful};

/// The history: see each line's comment for what it counts for.
fn history() -> Vec<EnvOutcome> {
    vec![
        outcome("prod", "standard", Successful, true, 8, 10),    // lead 2 h
        outcome("prod", "standard", Failed, true, 15, 20),       // failure, restored at 30: 10 h
        outcome("prod", "standard", Successful, true, 25, 30),   // lead 5 h
        outcome("prod", "standard", Successful, true, 49, 50),   // lead 1 h, rolled back at 60: 10 h
        outcome("prod", ROLLBACK_FLOW, Successful, true, 8, 60), // deployment without lead time
        outcome("prod", "standard", Failed, false, 65, 70),      // failed before its action: no change
        outcome("prod", "standard", Failed, true, 190, 200),     // week 2: failure, not restored
        outcome("qa", "standard", Successful, true, 4, 5),       // lead 1 h
        outcome("qa", "standard", Successful, true, 170, 180),   // week 2: lead 10 h
        outcome("qa", "standard", Successful, true, -3, -1),     // before the window
    ]
}

fn window() -> Window {
    Window { since: base(), until: h(14 * 24) }
}

#[test]
fn one_environment_over_two_weeks() {
    let prod: Vec<EnvOutcome> = history().into_iter().filter(|o| o.environment.as_str() == "prod").collect();
    let report = compute(&prod, window());
    let t = &report.total;
    assert_eq!(t.deployments, 4);
    assert_eq!(t.deployments_per_week, 2.0);
    assert_eq!(t.lead_time, Percentiles { count: 3, median: Some(7_200), p90: Some(18_000) });
    assert_eq!((t.changes, t.change_failures), (6, 3));
    assert_eq!(t.change_failure_rate, Some(0.5));
    assert_eq!(t.time_to_restore, Percentiles { count: 2, median: Some(36_000), p90: Some(36_000) });
    assert_eq!(t.unrestored, 1);

    assert_eq!(report.weeks.len(), 2);
    let (w1, w2) = (&report.weeks[0].figures, &report.weeks[1].figures);
    assert_eq!(report.weeks[0].start, base());
    assert_eq!(report.weeks[1].start, h(7 * 24));
    assert_eq!((w1.deployments, w1.changes, w1.change_failures, w1.unrestored), (4, 5, 2, 0));
    assert_eq!(w1.deployments_per_week, 4.0);
    assert_eq!((w2.deployments, w2.changes, w2.change_failures, w2.unrestored), (0, 1, 1, 1));
    assert_eq!(w2.lead_time, Percentiles::default());
    assert_eq!(w2.change_failure_rate, Some(1.0));
}

#[test]
fn every_environment_together_decides_failures_within_each_environment() {
    let report = compute(&history(), window());
    let t = &report.total;
    assert_eq!(t.deployments, 6);
    assert_eq!(t.deployments_per_week, 3.0);
    assert_eq!(t.lead_time, Percentiles { count: 5, median: Some(7_200), p90: Some(36_000) });
    assert_eq!((t.changes, t.change_failures, t.unrestored), (8, 3, 1));
    assert_eq!(t.change_failure_rate, Some(0.375));
    assert_eq!(t.time_to_restore.count, 2);
}

#[test]
fn an_empty_window_has_no_rates() {
    let report = compute(&[], window());
    assert_eq!(report.total, Figures::default());
    assert!(report.weeks.iter().all(|w| w.figures.change_failure_rate.is_none()));
}

#[test]
fn nearest_rank_percentiles() {
    assert_eq!(Percentiles::of(vec![]), Percentiles::default());
    assert_eq!(Percentiles::of(vec![5]), Percentiles { count: 1, median: Some(5), p90: Some(5) });
    let ten: Vec<i64> = (1..=10).rev().collect();
    assert_eq!(Percentiles::of(ten), Percentiles { count: 10, median: Some(5), p90: Some(9) });
}

#[test]
fn weeks_start_on_monday_utc() {
    for (at, monday) in [
        ("2026-01-05T00:00:00Z", "2026-01-05T00:00:00Z"),
        ("2026-01-11T23:59:59Z", "2026-01-05T00:00:00Z"),
        ("2026-01-12T00:00:00Z", "2026-01-12T00:00:00Z"),
        ("1970-01-01T12:00:00Z", "1969-12-29T00:00:00Z"),
    ] {
        assert_eq!(week_start(at.parse().unwrap()), monday.parse::<Timestamp>().unwrap(), "{at}");
    }
}
