//! DORA metrics (SPEC §10): `GET /api/v1/dora`, the figures of the product page
//! `/products/{name}/dora`, and the gauges on `/metrics`. Every figure comes from the store's weekly
//! rollups (one row per environment and week from the first Monday of the window on) and the
//! outcomes of the window's first, partial week (`ferry_model::dora::rollup`); nothing replays
//! release logs or reads every outcome of the window.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Json;
use axum::extract::{RawQuery, State};
use ferry_api::{DoraFigures, DoraReport, DoraSeries, DoraWeek, DurationStats};
use ferry_model::dora::rollup::{self, Decided, WeekRollup};
use ferry_model::dora::{self, EnvOutcome, Figures, OutcomeStatus, Percentiles, Window};
use ferry_model::{EnvName, ProductName};
use ferry_store::{DecidedOutcomeRow, DoraWeekRow, OutcomeQuery, Store, StoreError};
use jiff::{SignedDuration, Timestamp};

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::escape;
use crate::params::Params;

/// The window when `since` is not given: the last 90 days.
pub(crate) const DEFAULT_DAYS: i64 = 90;
/// The window of the `/metrics` gauges: the last 30 days.
const GAUGE_DAYS: i64 = 30;

/// What a DORA request asks for, parsed.
pub(crate) struct DoraQuery {
    /// The product.
    pub(crate) product: ProductName,
    /// Only this environment.
    pub(crate) env: Option<EnvName>,
    /// Start of the window; `None` = [`DEFAULT_DAYS`] before now.
    pub(crate) since: Option<Timestamp>,
}

/// `GET /api/v1/dora?product=P[&env=E][&since=DATE]` → the product's DORA metrics up to now.
pub(crate) async fn get<S: Store>(
    State(st): State<AppState<S>>,
    RawQuery(query): RawQuery,
) -> Result<Json<DoraReport>, ApiError> {
    let p = Params::parse(query.as_deref(), &["product", "env", "since"])?;
    let product = p
        .parsed("product", |v: &str| ProductName::new(v))?
        .ok_or_else(|| ApiError::invalid_field("product", "is required, e.g. ?product=shop"))?;
    let env = p.parsed("env", |v: &str| EnvName::new(v))?;
    let since = p.time("since", false)?;
    Ok(Json(report(&st, DoraQuery { product, env, since }, Timestamp::now()).await?))
}

/// The DORA report of `q` over `[since, now)`; an unknown product is a 404.
pub(crate) async fn report<S: Store>(st: &AppState<S>, q: DoraQuery, now: Timestamp) -> Result<DoraReport, ApiError> {
    let catalog = st.engine.catalog();
    if !catalog.products.contains_key(&q.product) {
        let known: Vec<&str> = catalog.products.keys().map(ProductName::as_str).collect();
        return Err(ApiError::not_found(format!(
            "unknown product {:?} (known products: {})",
            q.product.as_str(),
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    }
    let since = match q.since {
        Some(s) if s >= now => return Err(ApiError::invalid_field("since", "must be in the past")),
        Some(s) => s,
        None => now.checked_sub(SignedDuration::from_hours(24 * DEFAULT_DAYS)).unwrap_or(now),
    };
    let window = Window { since, until: now };
    let (head, weeks) =
        read(&st.store, Some(q.product.to_string()), q.env.as_ref().map(ToString::to_string), window).await?;
    let head: Vec<Decided> = head.into_iter().map(|(_, d)| d).collect();
    let mut names: Vec<EnvName> = head.iter().map(|d| d.outcome.environment.clone()).collect();
    for w in &weeks {
        names.push(EnvName::new(&w.environment).map_err(|_| bad_row("environment", &w.environment))?);
    }
    if let Some(env) = &q.env {
        names.push(env.clone());
    }
    names.sort();
    names.dedup();
    // Flow order: the configured order of environments, then any no longer configured, by name.
    let rank: BTreeMap<&EnvName, usize> =
        catalog.environments_in_order().into_iter().enumerate().map(|(i, e)| (&e.name, i)).collect();
    names.sort_by_key(|n| (rank.get(n).copied().unwrap_or(usize::MAX), n.clone()));
    let all_weeks: Vec<(Timestamp, &WeekRollup)> = weeks.iter().map(|w| (w.week, &w.rollup)).collect();
    let environments = names
        .into_iter()
        .map(|name| {
            let head: Vec<Decided> = head.iter().filter(|d| d.outcome.environment == name).cloned().collect();
            let weeks: Vec<(Timestamp, &WeekRollup)> =
                weeks.iter().filter(|w| w.environment == name.as_str()).map(|w| (w.week, &w.rollup)).collect();
            series(Some(name.to_string()), &rollup::report(&head, &weeks, window))
        })
        .collect();
    Ok(DoraReport {
        product: q.product.to_string(),
        since,
        until: now,
        all: series(None, &rollup::report(&head, &all_weeks, window)),
        environments,
    })
}

/// What the figures of `window` are made of: the decided outcomes of its first, partial week and the
/// week rollups after it (of one product, or of every product).
async fn read<S: Store>(
    store: &S,
    product: Option<String>,
    environment: Option<String>,
    window: Window,
) -> Result<(Vec<(String, Decided)>, Vec<DoraWeekRow>), StoreError> {
    let head_end = rollup::head_end(window);
    let head = OutcomeQuery {
        product: product.clone(),
        environment: environment.clone(),
        since: Some(window.since),
        until: Some(head_end),
    };
    let weeks = OutcomeQuery { product, environment, since: Some(head_end), until: Some(window.until) };
    let head = if head_end > window.since { store.decided_outcomes(head).await? } else { Vec::new() };
    Ok((decided(head)?, store.dora_weeks(weeks).await?))
}

fn bad_row(what: &str, value: &str) -> StoreError {
    StoreError::Internal { doing: "reading DORA figures", detail: format!("stored {what} {value:?} is not valid") }
}

/// Stored rows as the model's decided outcomes, with their product.
fn decided(rows: Vec<DecidedOutcomeRow>) -> Result<Vec<(String, Decided)>, StoreError> {
    rows.into_iter()
        .map(|d| {
            let r = d.outcome;
            let bad = |what: &str| StoreError::Internal {
                doing: "reading environment outcomes",
                detail: format!("release {}: stored {what} is not valid", r.release_id),
            };
            let outcome = EnvOutcome {
                environment: EnvName::new(&r.environment).map_err(|_| bad("environment"))?,
                flow: r.flow.clone(),
                attempt: u32::try_from(r.attempt).map_err(|_| bad("attempt"))?,
                status: OutcomeStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
                after_action: r.after_action,
                committed_at: r.committed_at,
                at: r.at,
            };
            Ok((r.product, Decided { outcome, failure: d.failure, restore: d.restore_secs }))
        })
        .collect()
}

fn series(environment: Option<String>, report: &dora::Report) -> DoraSeries {
    DoraSeries {
        environment,
        total: figures(&report.total),
        weeks: report.weeks.iter().map(|w| DoraWeek { start: w.start, figures: figures(&w.figures) }).collect(),
    }
}

fn stats(p: &Percentiles) -> DurationStats {
    DurationStats { count: p.count, median: p.median, p90: p.p90 }
}

fn figures(f: &Figures) -> DoraFigures {
    DoraFigures {
        deployments: f.deployments,
        deployments_per_week: f.deployments_per_week,
        lead_time_seconds: stats(&f.lead_time),
        changes: f.changes,
        change_failures: f.change_failures,
        change_failure_rate: f.change_failure_rate,
        time_to_restore_seconds: stats(&f.time_to_restore),
        unrestored: f.unrestored,
    }
}

/// The DORA gauges of `/metrics`: per product and environment over the last [`GAUGE_DAYS`] days.
/// A store that does not answer leaves them out (the rest of the page is still served).
pub(crate) async fn gauges<S: Store>(store: &S, now: Timestamp) -> String {
    let since = now.checked_sub(SignedDuration::from_hours(24 * GAUGE_DAYS)).unwrap_or(now);
    let window = Window { since, until: now };
    let (head, weeks) = match read(store, None, None, window).await {
        Ok(parts) => parts,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the DORA figures for the gauges");
            return String::new();
        }
    };
    type Parts<'a> = (Vec<Decided>, Vec<(Timestamp, &'a WeekRollup)>);
    let mut by_key: BTreeMap<(String, String), Parts<'_>> = BTreeMap::new();
    for (product, d) in head {
        by_key.entry((product, d.outcome.environment.to_string())).or_default().0.push(d);
    }
    for w in &weeks {
        by_key.entry((w.product.clone(), w.environment.clone())).or_default().1.push((w.week, &w.rollup));
    }
    let figures: Vec<((String, String), Figures)> =
        by_key.into_iter().map(|(key, (head, weeks))| (key, rollup::report(&head, &weeks, window).total)).collect();
    render_gauges(&figures)
}

/// The gauges' exposition text (Prometheus text format).
fn render_gauges(figures: &[((String, String), Figures)]) -> String {
    type Value = fn(&Figures) -> Option<f64>;
    let metrics: [(&str, &str, Value); 5] = [
        ("ferry_dora_deployments_per_week", "Deployments per week over the last 30 days.", |f| {
            Some(f.deployments_per_week)
        }),
        ("ferry_dora_lead_time_median_seconds", "Median lead time for changes over the last 30 days.", |f| {
            f.lead_time.median.map(|s| s as f64)
        }),
        ("ferry_dora_lead_time_p90_seconds", "90th percentile lead time for changes over the last 30 days.", |f| {
            f.lead_time.p90.map(|s| s as f64)
        }),
        ("ferry_dora_change_failure_rate", "Change failure rate (0 to 1) over the last 30 days.", |f| {
            f.change_failure_rate
        }),
        ("ferry_dora_time_to_restore_median_seconds", "Median time to restore over the last 30 days.", |f| {
            f.time_to_restore.median.map(|s| s as f64)
        }),
    ];
    let mut out = String::new();
    for (name, help, value) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for ((product, env), f) in figures {
            if let Some(v) = value(f) {
                let _ = writeln!(out, "{name}{{product=\"{}\",environment=\"{}\"}} {v}", escape(product), escape(env));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_name_product_and_environment_and_leave_out_what_has_no_samples() {
        let f = Figures {
            deployments: 3,
            deployments_per_week: 0.7,
            lead_time: Percentiles { count: 3, median: Some(60), p90: Some(120) },
            changes: 4,
            change_failures: 1,
            change_failure_rate: Some(0.25),
            ..Figures::default()
        };
        let text = render_gauges(&[(("shop".into(), "prod".into()), f)]);
        assert!(
            text.contains("ferry_dora_deployments_per_week{product=\"shop\",environment=\"prod\"} 0.7\n"),
            "{text}"
        );
        assert!(text.contains("ferry_dora_lead_time_p90_seconds{product=\"shop\",environment=\"prod\"} 120\n"));
        assert!(text.contains("ferry_dora_change_failure_rate{product=\"shop\",environment=\"prod\"} 0.25\n"));
        assert!(!text.contains("ferry_dora_time_to_restore_median_seconds{"), "no restore samples: {text}");
        assert!(text.contains("# TYPE ferry_dora_time_to_restore_median_seconds gauge\n"));
    }
}
