//! `GET /healthz` and `GET /readyz`.

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
