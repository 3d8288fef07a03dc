//! Image reports (SPEC §6.5): `POST /api/v1/images` and `GET /api/v1/images`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::list_type;

/// `POST /api/v1/images`: an image and where it was built from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageReportRequest {
    /// The image reference, e.g. `registry.example/shop/api:1.4.2` (required).
    pub image: Option<String>,
    /// Digest (`algorithm:hex`); must agree with the reference's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Source repository URL the image was built from (required).
    pub git_repo: Option<String>,
    /// Full commit id the image was built from (required).
    pub git_revision: Option<String>,
    /// Source branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    /// Annotations (at most 100); the OCI `org.opencontainers.image.*` keys are filled in.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Free text naming issues (`ABC-1, #12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues: Option<String>,
}

/// A recorded image report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageReport {
    /// Id.
    pub id: i64,
    /// The reference as reported.
    pub image: String,
    /// The reference without tag and digest.
    pub repository: String,
    /// Tag, when the reference has one.
    pub tag: Option<String>,
    /// Digest, when known.
    pub digest: Option<String>,
    /// Source repository (credentials redacted).
    pub git_repo: String,
    /// Source commit.
    pub git_revision: String,
    /// Source branch.
    pub git_branch: Option<String>,
    /// Annotations, the OCI `org.opencontainers.image.*` keys included.
    pub annotations: BTreeMap<String, String>,
    /// Free text naming issues, as the reporter gave it.
    pub issues: Option<String>,
    /// Who reported it.
    pub reported_by: String,
    /// When.
    pub reported_at: Timestamp,
}

list_type!(
    /// `GET /api/v1/images`, newest first.
    ImageReportList of ImageReport
);
