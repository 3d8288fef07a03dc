//! Types of the notes computation that are not part of the API; the notes themselves are
//! [`ferry_api::notes`], re-exported here.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use ferry_api::notes::*;

/// An image report as the store keeps it, handed to the notes by a [`crate::Lookup`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageReport {
    /// Reference as reported.
    pub image: String,
    /// Reference without tag and digest.
    pub repository: String,
    /// Tag.
    pub tag: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// Source repository (as reported; may carry credentials — redacted before it is shown).
    pub git_repo: String,
    /// Source commit.
    pub git_revision: String,
    /// Source branch.
    pub git_branch: Option<String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Issues text.
    pub issues: Option<String>,
    /// When.
    pub reported_at: Timestamp,
}

/// Which image reports a [`crate::Lookup`] should return; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageQuery {
    /// Reference without tag and digest.
    pub repository: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Digest.
    pub digest: Option<String>,
}
