//! The release list of `GET /api/v1/releases` and `ferry release list -o json` (SPEC §7.4).

use std::collections::BTreeMap;

use ferry_model::ReleaseId;
use ferry_model::status::{EnvStatus, ReleaseStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::schema;

/// One row of the release list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseItem {
    /// Release id (UUID v7).
    #[schema(value_type = String)]
    pub id: ReleaseId,
    /// Product.
    pub product: String,
    /// Flow name or `manual`.
    pub flow: String,
    /// Flow version.
    pub flow_version: Option<String>,
    /// Release status (SPEC §4).
    #[schema(schema_with = schema::release_status)]
    pub status: ReleaseStatus,
    /// Who or what started it.
    pub initiator: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it finished or was terminated.
    pub finished_at: Option<Timestamp>,
    /// Failure or termination reason.
    pub reason: Option<String>,
    /// Number of retries.
    pub retries: u32,
    /// Release version.
    pub version: Option<String>,
    /// Environment name → status.
    #[schema(schema_with = schema::env_status_map)]
    pub environments: BTreeMap<String, EnvStatus>,
}

/// A page of the release list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleasePage {
    /// Rows.
    pub items: Vec<ReleaseItem>,
    /// Cursor of the next page (the `cursor=` parameter), or `null` on the last page.
    pub next: Option<String>,
}
