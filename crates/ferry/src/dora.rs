//! `ferry dora PRODUCT`: the product's DORA metrics (SPEC §10) from `GET /api/v1/dora`.

use std::process::ExitCode;

use ferry_api::{DoraReport, DoraSeries};

use crate::client::Client;
use crate::output::{ReadOutput, print_data};
use crate::release::enc;
use crate::render::table;

/// Runs the command.
pub async fn run(
    client: &Client,
    product: &str,
    env: Option<String>,
    since: Option<String>,
    output: ReadOutput,
) -> anyhow::Result<ExitCode> {
    let mut path = format!("/api/v1/dora?product={}", enc(product));
    if let Some(env) = &env {
        path.push_str(&format!("&env={}", enc(env)));
    }
    if let Some(since) = &since {
        path.push_str(&format!("&since={}", enc(since)));
    }
    let report: DoraReport = client.get_as(&path).await?;
    if let Some(format) = output.data() {
        print_data(&report, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&report));
    Ok(ExitCode::SUCCESS)
}

/// A duration in seconds as `3d 4h`, `2h 5m`, `45s`; `-` without one.
fn span(seconds: Option<i64>) -> String {
    let Some(s) = seconds else { return "-".to_owned() };
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn row(series: &DoraSeries) -> Vec<String> {
    let f = &series.total;
    vec![
        series.environment.clone().unwrap_or_else(|| "(all)".to_owned()),
        f.deployments.to_string(),
        format!("{:.1}", f.deployments_per_week),
        span(f.lead_time_seconds.median),
        span(f.lead_time_seconds.p90),
        f.change_failure_rate
            .map_or_else(|| "-".to_owned(), |r| format!("{:.0}% ({}/{})", r * 100.0, f.change_failures, f.changes)),
        span(f.time_to_restore_seconds.median),
        f.unrestored.to_string(),
    ]
}

/// The figures as a table: every environment together, then each one.
fn render(report: &DoraReport) -> String {
    let mut out = format!(
        "DORA metrics of {} from {} to {}\n\n",
        report.product,
        report.since.strftime("%Y-%m-%d %H:%M UTC"),
        report.until.strftime("%Y-%m-%d %H:%M UTC")
    );
    let header =
        ["ENVIRONMENT", "DEPLOYS", "PER WEEK", "LEAD p50", "LEAD p90", "FAILURE RATE", "RESTORE p50", "UNRESTORED"];
    let mut rows = vec![row(&report.all)];
    rows.extend(report.environments.iter().map(row));
    out.push_str(&table(&header, &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::{DoraFigures, DurationStats};

    #[test]
    fn the_table_shows_each_environment_with_readable_durations() {
        let figures = DoraFigures {
            deployments: 3,
            deployments_per_week: 1.5,
            lead_time_seconds: DurationStats { count: 2, median: Some(7_200), p90: Some(93_600) },
            changes: 4,
            change_failures: 2,
            change_failure_rate: Some(0.5),
            time_to_restore_seconds: DurationStats { count: 1, median: Some(45), p90: Some(45) },
            unrestored: 1,
        };
        let series = |environment: Option<&str>| DoraSeries {
            environment: environment.map(Into::into),
            total: figures.clone(),
            weeks: Vec::new(),
        };
        let report = DoraReport {
            product: "shop".into(),
            since: "2026-01-01T00:00:00Z".parse().unwrap(),
            until: "2026-01-15T12:00:00Z".parse().unwrap(),
            all: series(None),
            environments: vec![series(Some("prod"))],
        };
        let text = render(&report);
        assert!(
            text.starts_with("DORA metrics of shop from 2026-01-01 00:00 UTC to 2026-01-15 12:00 UTC\n\n"),
            "{text}"
        );
        assert!(
            text.contains("(all)        3        1.5       2h 0m     1d 2h     50% (2/4)     45s          1"),
            "{text}"
        );
        assert!(text.contains("\nprod "), "{text}");
        assert_eq!(span(None), "-");
        assert_eq!(span(Some(300)), "5m");
    }
}
