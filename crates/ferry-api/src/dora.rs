//! DORA metrics (SPEC §10) as `GET /api/v1/dora` answers them: the four figures of a product over a
//! window, for every environment together and for each one, with weekly buckets.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A duration statistic in whole seconds (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DurationStats {
    /// Samples.
    pub count: u64,
    /// Median, when there are samples.
    pub median: Option<i64>,
    /// 90th percentile, when there are samples.
    pub p90: Option<i64>,
}

/// The four figures over some environment outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoraFigures {
    /// Deployments: environments that became Successful (rollbacks included).
    pub deployments: u64,
    /// Deployments per week over the window.
    pub deployments_per_week: f64,
    /// Lead time for changes: trigger commit → Successful in the environment (rollbacks excluded).
    pub lead_time_seconds: DurationStats,
    /// Changes: outcomes whose promotion landed (every Successful one, and Failed ones after the action).
    pub changes: u64,
    /// Change failures: Failed after the action, or later rolled back.
    pub change_failures: u64,
    /// `changeFailures / changes`, when there were changes.
    pub change_failure_rate: Option<f64>,
    /// Time to restore: change failure → next Successful in the environment (restored ones only).
    pub time_to_restore_seconds: DurationStats,
    /// Change failures not followed by a Successful outcome yet.
    pub unrestored: u64,
}

/// The figures of one week (Monday 00:00 UTC to the next).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoraWeek {
    /// Monday 00:00 UTC.
    pub start: Timestamp,
    /// The week's figures.
    pub figures: DoraFigures,
}

/// The figures of every environment together or of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoraSeries {
    /// The environment; `None` for every environment together.
    pub environment: Option<String>,
    /// The whole window.
    pub total: DoraFigures,
    /// Each week the window touches, oldest first.
    pub weeks: Vec<DoraWeek>,
}

/// `GET /api/v1/dora`: a product's DORA metrics over `[since, until)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoraReport {
    /// Product.
    pub product: String,
    /// Start of the window (included).
    pub since: Timestamp,
    /// End of the window (excluded; the time of the request).
    pub until: Timestamp,
    /// Every environment asked for, together.
    pub all: DoraSeries,
    /// Each environment with an outcome in the window (or the one asked for), in flow order.
    pub environments: Vec<DoraSeries>,
}
