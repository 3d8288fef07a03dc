use std::time::Duration;

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn name(text: &str) -> FreezeName {
    FreezeName::new(text).unwrap()
}

fn freeze(n: &str, envs: &[&str], products: &[&str], window: Window) -> Freeze {
    Freeze {
        name: name(n),
        environments: envs.iter().map(|s| s.to_string()).collect(),
        products: products.iter().map(|s| s.to_string()).collect(),
        window,
        reason: None,
        source: FreezeSource::Config,
    }
}

fn weekend() -> Window {
    // Every Friday 16:00 for 64 h, Berlin time: until Monday 08:00.
    Window::recurring("0 16 * * FRI", Duration::from_secs(64 * 3600), "Europe/Berlin").unwrap()
}

#[test]
fn cron_fields_parse_and_bad_ones_name_the_field() {
    let ok =
        ["* * * * *", "0 16 * * FRI", "*/15 9-17 * * MON-FRI", "0 0 1,15 JAN,jul *", "30 2 * * 7", "5-50/5 * * * *"];
    for text in ok {
        assert!(Cron::parse(text).is_ok(), "{text}");
    }
    let bad = [
        ("0 16 * *", "has 4 fields; expected 5"),
        ("60 * * * *", "minute field \"60\": 60 is out of range 0-59"),
        ("0 24 * * *", "hour field \"24\": 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field \"0\": 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field \"13\": 13 is out of range 1-12"),
        ("0 0 * * FRY", "day-of-week field \"FRY\": \"FRY\" is not a number"),
        ("*/0 * * * *", "minute field \"*/0\": the step must be at least 1"),
        ("0 5-1 * * *", "hour field \"5-1\": the range 5-1 is backwards"),
    ];
    for (text, expect) in bad {
        let err = Cron::parse(text).unwrap_err().describe();
        assert!(err.starts_with("cron: "), "{err}");
        assert!(err.contains(expect), "{text}: {err}");
    }
}

#[test]
fn next_firing_in_a_time_zone() {
    let cron = Cron::parse("0 16 * * FRI").unwrap();
    let berlin = Zone::get("Europe/Berlin").unwrap();
    // 2026-12-04 is a Friday; Berlin is UTC+1 in winter.
    assert_eq!(cron.next_after(ts("2026-12-01T00:00:00Z"), &berlin.tz), Some(ts("2026-12-04T15:00:00Z")));
    // Strictly after: at the firing itself, the next one is a week later.
    assert_eq!(cron.next_after(ts("2026-12-04T15:00:00Z"), &berlin.tz), Some(ts("2026-12-11T15:00:00Z")));
    // Summer time: UTC+2.
    assert_eq!(cron.next_after(ts("2026-07-01T00:00:00Z"), &berlin.tz), Some(ts("2026-07-03T14:00:00Z")));
    // Both day fields restricted: either matches (the 1st, or any Monday).
    let either = Cron::parse("0 0 1 * MON").unwrap();
    let utc = Zone::get("UTC").unwrap();
    assert_eq!(either.next_after(ts("2026-12-01T00:00:00Z"), &utc.tz), Some(ts("2026-12-07T00:00:00Z")));
    assert_eq!(either.next_after(ts("2026-12-28T00:00:00Z"), &utc.tz), Some(ts("2027-01-01T00:00:00Z")));
}

#[test]
fn a_local_time_skipped_by_daylight_saving_fires_after_the_change() {
    // Berlin skips 02:00-03:00 on 2027-03-28.
    let cron = Cron::parse("30 2 * * *").unwrap();
    let berlin = Zone::get("Europe/Berlin").unwrap();
    let got = cron.next_after(ts("2027-03-28T00:00:00Z"), &berlin.tz).unwrap();
    assert_eq!(got, ts("2027-03-28T01:30:00Z"), "02:30 does not exist; fired at 03:30 CEST");
}

#[test]
fn window_errors_name_the_field() {
    let cases: Vec<(Result<Window, FreezeError>, &str)> = vec![
        (
            Window::recurring("0 16 * * FRI", Duration::from_secs(3600), "Europe/Berlinn"),
            "timeZone: unknown time zone \"Europe/Berlinn\"",
        ),
        (Window::recurring("0 16 * * FRI", Duration::ZERO, "UTC"), "duration: a window must last longer than 0s"),
        (
            Window::recurring("0 16 * * FRI", Duration::from_secs(8 * 86_400), "UTC"),
            "duration: 8d is longer than the time between two occurrences",
        ),
        (Window::recurring("0 * * * *", Duration::from_secs(7200), "UTC"), "the windows would overlap"),
        (Window::recurring("0 0 30 2 *", Duration::from_secs(60), "UTC"), "cron: \"0 0 30 2 *\" never fires"),
        (Window::recurring("0 16 * FRI", Duration::from_secs(60), "UTC"), "cron: \"0 16 * FRI\" has 4 fields"),
        (
            Window::once(ts("2026-12-24T00:00:00Z"), ts("2026-12-24T00:00:00Z")),
            "until: 2026-12-24T00:00:00Z is not after from",
        ),
    ];
    for (got, expect) in cases {
        let err = got.unwrap_err().describe();
        assert!(err.contains(expect), "{err:?} should contain {expect:?}");
    }
    // Back to back (an hour each hour) is not an overlap.
    assert!(Window::recurring("0 * * * *", Duration::from_secs(3600), "UTC").is_ok());
}

#[test]
fn occurrences_of_a_recurring_window() {
    let w = weekend();
    // Friday 2026-12-04 15:00Z .. Monday 2026-12-07 07:00Z.
    let occurrence = (ts("2026-12-04T15:00:00Z"), ts("2026-12-07T07:00:00Z"));
    assert_eq!(w.occurrence_at(ts("2026-12-04T14:59:59Z")), None);
    assert_eq!(w.occurrence_at(ts("2026-12-04T15:00:00Z")), Some(occurrence));
    assert_eq!(w.occurrence_at(ts("2026-12-06T12:00:00Z")), Some(occurrence));
    assert_eq!(w.occurrence_at(ts("2026-12-07T07:00:00Z")), None, "the end is excluded");
    assert_eq!(
        w.next_after(ts("2026-12-06T12:00:00Z")),
        Some((ts("2026-12-11T15:00:00Z"), ts("2026-12-14T07:00:00Z")))
    );
    let once = Window::once(ts("2026-12-24T00:00:00Z"), ts("2026-12-27T00:00:00Z")).unwrap();
    assert_eq!(
        once.occurrence_at(ts("2026-12-25T00:00:00Z")),
        Some((ts("2026-12-24T00:00:00Z"), ts("2026-12-27T00:00:00Z")))
    );
    assert_eq!(once.next_after(ts("2026-12-25T00:00:00Z")), None);
}

#[test]
fn holds_match_globs_and_join_windows_without_a_gap() {
    let set = FreezeSet::new(vec![
        freeze("weekend", &["prod*"], &[], weekend()),
        freeze("xmas", &[], &["shop"], Window::once(ts("2026-12-07T07:00:00Z"), ts("2026-12-09T00:00:00Z")).unwrap()),
        freeze("later", &[], &[], Window::once(ts("2026-12-20T00:00:00Z"), ts("2026-12-21T00:00:00Z")).unwrap()),
    ]);
    let now = ts("2026-12-05T10:00:00Z");
    // The weekend ends where xmas begins: one hold until xmas ends.
    assert_eq!(
        set.hold("shop", "prod-eu", now),
        Some(Hold { until: ts("2026-12-09T00:00:00Z"), freezes: vec![name("weekend"), name("xmas")] })
    );
    // Another product: the weekend only.
    assert_eq!(
        set.hold("blog", "prod-eu", now),
        Some(Hold { until: ts("2026-12-07T07:00:00Z"), freezes: vec![name("weekend")] })
    );
    assert_eq!(set.hold("blog", "qa", now), None, "qa does not match prod*");
    assert_eq!(set.hold("shop", "qa", ts("2026-12-10T00:00:00Z")), None);
    let windows = set.windows("blog", Some("qa"), now);
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].freeze.name, name("later"));
    assert_eq!(windows[0].active, None);
}

#[test]
fn a_freeze_round_trips_through_json() {
    let f = freeze("weekend", &["prod"], &["shop"], weekend());
    let json = serde_json::to_string(&f).unwrap();
    assert!(json.contains("\"cron\":\"0 16 * * FRI\"") && json.contains("\"timeZone\":\"Europe/Berlin\""), "{json}");
    let back: Freeze = serde_json::from_str(&json).unwrap();
    assert_eq!(back, f);
    let bad = json.replace("Europe/Berlin", "Mars/Olympus");
    assert!(serde_json::from_str::<Freeze>(&bad).is_err());
}

proptest! {
    /// The occurrence holding at an instant contains it, and the next occurrence starts after it.
    #[test]
    fn occurrences_contain_the_instant(secs in 1_767_225_600i64..1_830_297_600, hours in 1u64..100) {
        let w = Window::recurring("0 16 * * FRI", Duration::from_secs(hours * 3600), "Europe/Berlin").unwrap();
        let now = Timestamp::from_second(secs).unwrap();
        if let Some((start, end)) = w.occurrence_at(now) {
            prop_assert!(start <= now && now < end);
            prop_assert_eq!(end.duration_since(start).as_secs(), (hours * 3600) as i64);
        }
        let (next, _) = w.next_after(now).unwrap();
        prop_assert!(next > now);
        prop_assert!(next.duration_since(now).as_secs() <= 8 * 86_400);
    }
}
