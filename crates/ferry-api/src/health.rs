//! `GET /healthz`, `GET /readyz` and `GET /api/v1/version`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Liveness or readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The process answers (`/healthz`).
    Ok,
    /// The store answers too (`/readyz`).
    Ready,
}

/// The answer of the health endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Status)]
pub struct ServerHealth {
    /// `ok` or `ready`.
    pub status: Health,
}

/// `GET /api/v1/version`: what the server runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInfo {
    /// The version, e.g. `0.1.0`.
    pub version: String,
    /// The git commit it was built from, or `unknown`.
    pub commit: String,
}
