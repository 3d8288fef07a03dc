//! Freeze windows (SPEC §10): the freezes in force as listed, a runtime freeze to create, and an
//! admin's override of the windows holding one environment of a release.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// When a freeze holds: `from` + `until`, or `cron` + `duration` (+ `timeZone`, default UTC). The
/// fields of a `Freeze` resource's spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreezeWindow {
    /// Start of a one-off range (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// End of a one-off range (RFC 3339, excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Five-field cron schedule of a recurring window, e.g. `0 16 * * FRI`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// How long each occurrence lasts, e.g. `64h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// IANA time zone the schedule is read in, e.g. `Europe/Berlin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// One occurrence of a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    /// Start (included).
    pub from: Timestamp,
    /// End (excluded).
    pub until: Timestamp,
}

/// A freeze in force, as `GET /api/v1/freezes` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Freeze {
    /// Name.
    pub name: String,
    /// `config` (a `Freeze` resource) or `runtime` (`ferry freeze create`).
    pub source: String,
    /// Environment globs; empty = every environment.
    pub environments: Vec<String>,
    /// Product globs; empty = every product.
    pub products: Vec<String>,
    /// When it holds.
    pub window: FreezeWindow,
    /// Why.
    pub reason: Option<String>,
    /// The occurrence holding now, if any.
    pub active: Option<Occurrence>,
    /// The next occurrence, if any.
    pub next: Option<Occurrence>,
}

/// `GET /api/v1/freezes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FreezeList {
    /// Configuration freezes first, then runtime ones.
    pub items: Vec<Freeze>,
}

/// `POST /api/v1/freezes`: a runtime freeze.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewFreeze {
    /// Name (a resource name: lowercase letters, digits, `-`).
    pub name: String,
    /// Environment globs; empty = every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Product globs; empty = every product.
    #[serde(default)]
    pub products: Vec<String>,
    /// When it holds.
    #[serde(flatten)]
    pub window: FreezeWindow,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/releases/{id}/unfreeze`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnfreezeRequest {
    /// The environment to let through (required).
    #[serde(default)]
    pub environment: Option<String>,
    /// Why (required, at most 1000 characters; audited).
    #[serde(default)]
    pub reason: Option<String>,
}
