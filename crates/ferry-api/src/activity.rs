//! What happens in releases: the event log (`GET /api/v1/releases/{id}/events`, the `data` of the
//! `/api/v1/events` stream) and workflow logs (`GET /api/v1/releases/{id}/logs`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::list_type;

/// A committed event: a list item of a release's event log, and the `data` of an SSE `release` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Event)]
pub struct EventItem {
    /// Global event id; the SSE id.
    pub gid: i64,
    /// Release (`product:<name>` for a product event).
    pub release_id: String,
    /// Product.
    pub product: String,
    /// Position in the release's log, from 0.
    pub seq: i64,
    /// When it was committed.
    pub at: Timestamp,
    /// The event, tagged by `type`: a release event of SPEC §4, or `{"type": "ProductEvent", "kind",
    /// "message"}`. Kept as JSON so that events written by other versions read back unchanged.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

list_type!(
    /// `GET /api/v1/releases/{id}/events`: every event, in order.
    EventList of EventItem
);

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A workflow log line, with where its run belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Line id; pass the last one as `after=` to read on.
    pub id: i64,
    /// Workflow run.
    pub run_id: String,
    /// Step.
    pub step: String,
    /// When it was read.
    pub at: Timestamp,
    /// Output stream.
    pub stream: LogStream,
    /// The text, without its newline.
    pub text: String,
    /// Stage of the run: `trigger`, `preAction`, `postAction`, `environmentHook`, `releaseHook`.
    pub stage: Option<String>,
    /// Environment of the run.
    pub environment: Option<String>,
    /// Application of the run.
    pub application: Option<String>,
    /// Workflow of the run.
    pub workflow: Option<String>,
}

/// A page of log lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    /// Lines in order.
    pub items: Vec<LogLine>,
    /// The `after=` value for the next request (the last line's id, or the given `after` when no line
    /// was returned).
    pub next: i64,
}
