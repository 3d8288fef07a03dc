//! `/products/{name}/dora`: a product's DORA metrics with a bar chart per figure and week (SVG drawn
//! here, no script), and a table per environment.

use super::*;
use ferry_api::{DoraFigures, DoraReport, DoraSeries};

/// Chart size in SVG units.
const CHART_W: f64 = 640.0;
const CHART_H: f64 = 160.0;
/// Room for the axis labels under and beside the bars.
const AXIS_BOTTOM: f64 = 22.0;
const AXIS_LEFT: f64 = 48.0;

/// One bar of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) x: String,
    pub(crate) y: String,
    pub(crate) width: String,
    pub(crate) height: String,
    /// The week's label under the bar (every few bars).
    pub(crate) label: String,
    /// What the bar stands for, in words (its tooltip and accessible text).
    pub(crate) title: String,
}

/// A bar chart of one figure per week.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    pub(crate) id: String,
    pub(crate) title: String,
    /// The highest value on the axis, as shown.
    pub(crate) max_label: String,
    pub(crate) bars: Vec<Bar>,
    pub(crate) width: f64,
    pub(crate) height: f64,
    pub(crate) plot_bottom: f64,
    pub(crate) plot_left: f64,
}

/// The figures of one environment (or all) as the table shows them.
#[derive(Debug, Clone)]
pub(crate) struct FigureRow {
    pub(crate) environment: String,
    pub(crate) href: String,
    pub(crate) deployments: u64,
    pub(crate) per_week: String,
    pub(crate) lead_median: String,
    pub(crate) lead_p90: String,
    pub(crate) failure_rate: String,
    pub(crate) restore_median: String,
    pub(crate) unrestored: u64,
}

/// `/products/{name}/dora`.
#[derive(Template)]
#[template(path = "dora.html")]
pub(crate) struct DoraPage {
    pub(crate) page: PageMeta,
    pub(crate) product: String,
    pub(crate) product_href: String,
    /// The environment shown in the charts, or empty for all.
    pub(crate) environment: String,
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) charts: Vec<Chart>,
    pub(crate) rows: Vec<FigureRow>,
}

/// A duration in seconds as `3d 4h`, `2h 5m`, `45s`; `–` without one.
pub(crate) fn span(seconds: Option<i64>) -> String {
    let Some(s) = seconds else { return "–".to_owned() };
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

fn row(product: &str, series: &DoraSeries) -> FigureRow {
    let f = &series.total;
    let (environment, href) = match &series.environment {
        Some(e) => (e.clone(), format!("{}/dora{}", product_href(product), query(&[("env", e)]))),
        None => ("All environments".to_owned(), format!("{}/dora", product_href(product))),
    };
    FigureRow {
        environment,
        href,
        deployments: f.deployments,
        per_week: format!("{:.1}", f.deployments_per_week),
        lead_median: span(f.lead_time_seconds.median),
        lead_p90: span(f.lead_time_seconds.p90),
        failure_rate: percent(f.change_failure_rate),
        restore_median: span(f.time_to_restore_seconds.median),
        unrestored: f.unrestored,
    }
}

/// A bar chart of `value` per week of `series` (`None` values draw no bar and say so).
fn chart(
    id: &str,
    title: &str,
    series: &DoraSeries,
    value: impl Fn(&DoraFigures) -> Option<f64>,
    show: impl Fn(f64) -> String,
) -> Chart {
    let values: Vec<Option<f64>> = series.weeks.iter().map(|w| value(&w.figures)).collect();
    let max = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let plot_w = CHART_W - AXIS_LEFT;
    let plot_h = CHART_H - AXIS_BOTTOM;
    let slot = plot_w / values.len().max(1) as f64;
    let label_every = (values.len() / 8).max(1);
    let bars = series
        .weeks
        .iter()
        .zip(&values)
        .enumerate()
        .map(|(i, (week, v))| {
            let h = match v {
                Some(v) if max > 0.0 => (v / max) * (plot_h - 4.0),
                _ => 0.0,
            };
            let day = week.start.strftime("%Y-%m-%d").to_string();
            let shown = v.map_or_else(|| "no data".to_owned(), &show);
            Bar {
                x: format!("{:.1}", AXIS_LEFT + i as f64 * slot + slot * 0.15),
                y: format!("{:.1}", plot_h - h),
                width: format!("{:.1}", slot * 0.7),
                height: format!("{h:.1}"),
                label: if i % label_every == 0 { week.start.strftime("%b %d").to_string() } else { String::new() },
                title: format!("Week of {day}: {shown}"),
            }
        })
        .collect();
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        max_label: show(max),
        bars,
        width: CHART_W,
        height: CHART_H,
        plot_bottom: plot_h,
        plot_left: AXIS_LEFT,
    }
}

/// Builds the page from the report; `environment` is the one the charts show (`None`: all).
pub(crate) fn dora_page(report: &DoraReport, environment: Option<&str>) -> DoraPage {
    let shown = environment
        .and_then(|e| report.environments.iter().find(|s| s.environment.as_deref() == Some(e)))
        .unwrap_or(&report.all);
    let hours = |s: f64| if s >= 3600.0 { format!("{:.1} h", s / 3600.0) } else { format!("{:.0} min", s / 60.0) };
    let charts = vec![
        chart("deployments", "Deployments per week", shown, |f| Some(f.deployments as f64), |v| format!("{v:.0}")),
        chart(
            "lead-time",
            "Lead time for changes (median)",
            shown,
            |f| f.lead_time_seconds.median.map(|s| s as f64),
            hours,
        ),
        chart(
            "failure-rate",
            "Change failure rate",
            shown,
            |f| f.change_failure_rate.map(|r| r * 100.0),
            |v| format!("{v:.0}%"),
        ),
        chart(
            "restore",
            "Time to restore (median)",
            shown,
            |f| f.time_to_restore_seconds.median.map(|s| s as f64),
            hours,
        ),
    ];
    let mut rows = vec![row(&report.product, &report.all)];
    rows.extend(report.environments.iter().map(|s| row(&report.product, s)));
    let title = format!("DORA metrics · {}", report.product);
    DoraPage {
        page: PageMeta::new(
            title,
            vec![
                Crumb { label: "Products".into(), href: Some("/".into()) },
                Crumb { label: report.product.clone(), href: Some(product_href(&report.product)) },
                Crumb { label: "DORA metrics".into(), href: None },
            ],
        ),
        product: report.product.clone(),
        product_href: product_href(&report.product),
        environment: environment.unwrap_or_default().to_owned(),
        since: report.since.strftime("%Y-%m-%d").to_string(),
        until: report.until.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        charts,
        rows,
    }
}
