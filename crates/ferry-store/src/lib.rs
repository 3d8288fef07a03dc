//! Ferry's storage: the append-only release event log, the projections read by the API and UI
//! (release rows, live environment × application state), workflow logs, applied configuration,
//! product events, pull requests of the local provider, image reports, computed release notes and small
//! durable cursors.
//!
//! Every write goes through [`Store::write`], which is durable when it returns: the engine commits
//! each state change before acting on it or broadcasting it. Committed events are then published to
//! subscribers ([`Store::subscribe`]) in commit order.

mod any;
pub mod copy;
mod migration;
pub(crate) mod postgres;
mod rollup;
mod runs;
mod sqlite;
#[doc(hidden)]
pub mod test_support;
mod types;

use std::future::Future;

use ferry_model::{ProductName, ReleaseId};

pub use any::{AnyStore, Database};
pub use postgres::{ControlNotice, ControlRequest, Lease, PgStore, PollLock, ReplicaOptions};
pub use sqlite::SqliteStore;
pub use types::*;

/// The error of a database driver, boxed (the backends' drivers differ).
pub type DriverError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or set up.
    #[error("cannot open the database at {location}: {source}")]
    Open {
        /// Path or URL (credentials redacted).
        location: String,
        /// Underlying error.
        #[source]
        source: DriverError,
    },
    /// The database's schema could not be brought up to date.
    #[error("cannot migrate the database at {location}: {problem}")]
    Migrate {
        /// Path or URL (credentials redacted).
        location: String,
        /// What is wrong, and what to do about it.
        problem: String,
        /// Underlying error, when a statement failed.
        #[source]
        source: Option<DriverError>,
    },
    /// A query failed.
    #[error("database error while {doing}: {source}")]
    Query {
        /// What the store was doing.
        doing: &'static str,
        /// Underlying error.
        #[source]
        source: DriverError,
    },
    /// The transaction that carried this write together with others failed as a whole (e.g. the disk is
    /// full): nothing of it was stored.
    #[error("the transaction holding this write failed, nothing of it was stored: {message}")]
    GroupFailed {
        /// The error of the transaction, as text (it is shared by every write of the group).
        message: String,
    },
    /// Events were appended out of sequence: someone else wrote this release concurrently.
    #[error("release {release}: expected next event number {expected}, the log is at {actual}")]
    SequenceConflict {
        /// Release id.
        release: String,
        /// Sequence number the writer assumed.
        expected: i64,
        /// Sequence number in the log.
        actual: i64,
    },
    /// Stored JSON could not be decoded (a bug or a newer schema).
    #[error("stored data for {what} is not valid: {source}")]
    Decode {
        /// What was being read.
        what: String,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The write names something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The write conflicts with what is stored (e.g. a name in use).
    #[error("{0}")]
    Conflict(String),
    /// A thread of the store could not be started, or failed (a bug; the store may need a restart).
    #[error("the store failed while {doing}: {detail}")]
    Internal {
        /// What the store was doing.
        doing: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A release write of a replica whose lease on the release moved on (another replica took the release
    /// over after the lease expired, or it ended): nothing of the write was stored, and this replica
    /// must stop driving the release.
    #[error(
        "release {release}: this replica's lease (epoch {epoch}) is gone, the release is now {}; nothing was written",
        match (owner, current_epoch) {
            (Some(owner), Some(e)) => format!("owned by {owner} at epoch {e}"),
            _ => "not leased".to_owned(),
        }
    )]
    Fenced {
        /// Release id.
        release: String,
        /// The epoch this replica held.
        epoch: i64,
        /// The replica that owns it now, if any.
        owner: Option<String>,
        /// The epoch of the lease now, if there is one.
        current_epoch: Option<i64>,
    },
    /// A release write that would start a queued release ([`ReleaseWrite::turn`]) while its product's
    /// turn is not free: nothing of the write was stored; the release stays queued.
    #[error("release {release}: the turn of product {product} is not free; nothing was written")]
    TurnTaken {
        /// Release id.
        release: String,
        /// Product.
        product: String,
    },
    /// The writer has stopped (the store is shutting down).
    #[error("the store is shutting down")]
    Closed,
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stored release id as the domain type (ids are written from [`ReleaseId`]s, so one that does not
/// read is a bug or a foreign row).
pub(crate) fn release_id(text: &str) -> Result<ReleaseId> {
    text.parse::<ReleaseId>().map_err(|e| StoreError::Decode {
        what: format!("release id {text:?}"),
        source: serde_json::Error::io(std::io::Error::other(e.to_string())),
    })
}

/// The storage contract, implemented by each backend.
pub trait Store: Clone + Send + Sync + 'static {
    /// Applies a batch of writes in one durable transaction (grouped with concurrent writes).
    /// Each write succeeds or fails on its own; the result lists one outcome per write.
    fn write(&self, writes: Vec<Write>) -> impl Future<Output = Result<Vec<Result<WriteOutcome>>>> + Send;

    /// Committed events, in commit order, as they are committed.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<StoredEvent>>;

    /// The event log of one release, in order.
    fn release_events(&self, release: &ReleaseId) -> impl Future<Output = Result<Vec<StoredEvent>>> + Send;

    /// Events committed after `after_gid` (for resuming a live stream), optionally for one product or release.
    fn events_after(
        &self,
        after_gid: i64,
        filter: EventFilter,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>>> + Send;

    /// Ids of releases that are not final (Queued, Running, Suspended, Terminating), oldest first.
    fn active_releases(&self) -> impl Future<Output = Result<Vec<ReleaseId>>> + Send;

    /// A page of releases, newest first.
    fn list_releases(&self, filter: ReleaseFilter) -> impl Future<Output = Result<ReleasePage>> + Send;

    /// The projected view (SPEC §7.4 JSON) of one release.
    fn release_view(&self, id: &ReleaseId) -> impl Future<Output = Result<Option<serde_json::Value>>> + Send;

    /// The latest release row of each product.
    fn latest_releases(&self) -> impl Future<Output = Result<Vec<ReleaseRow>>> + Send;

    /// The live state of a product's applications.
    fn app_states(&self, product: &ProductName) -> impl Future<Output = Result<Vec<AppStateRow>>> + Send;

    /// Workflow log lines of a release, after line id `after`, optionally for one run and/or step.
    fn logs(&self, query: LogQuery) -> impl Future<Output = Result<Vec<StoredLogLine>>> + Send;

    /// The workflow runs of a release (the runs projection), in the order they started.
    fn runs(&self, release: &ReleaseId) -> impl Future<Output = Result<Vec<RunRow>>> + Send;

    /// The latest applied configuration, if any.
    fn latest_config(&self) -> impl Future<Output = Result<Option<ConfigVersion>>> + Send;

    /// Product events, newest first.
    fn product_events(
        &self,
        product: &ProductName,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ProductEvent>>> + Send;

    /// A durable setting or cursor.
    fn kv_get(&self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Pull requests of the local provider that pass the filter, newest (highest number) first.
    fn pull_requests(&self, filter: PullRequestFilter) -> impl Future<Output = Result<Vec<PullRequestRow>>> + Send;

    /// One pull request by number.
    fn pull_request(&self, number: i64) -> impl Future<Output = Result<Option<PullRequestRow>>> + Send;

    /// Image reports matching the query (by repository, tag and/or digest), newest first.
    fn images_for(&self, query: ImageQuery) -> impl Future<Output = Result<Vec<ImageRow>>> + Send;

    /// The stored release notes of a release (JSON), if they were stored.
    fn release_notes(&self, release: &ReleaseId) -> impl Future<Output = Result<Option<serde_json::Value>>> + Send;

    /// The token whose secret hashes to `hash`, revoked or expired ones included.
    fn token_by_hash(&self, hash: &str) -> impl Future<Output = Result<Option<TokenRow>>> + Send;

    /// Every token, by name.
    fn tokens(&self) -> impl Future<Output = Result<Vec<TokenRow>>> + Send;

    /// The web UI session whose secret hashes to `hash`, with its token.
    fn session(&self, hash: &str) -> impl Future<Output = Result<Option<(SessionRow, TokenRow)>>> + Send;

    /// Audit entries, newest first.
    fn audit(&self, query: AuditQuery) -> impl Future<Output = Result<Vec<AuditRow>>> + Send;

    /// Notifications that did not reach their webhooks, newest first (at most `limit`, 1..=1000).
    fn notification_failures(&self, limit: u32) -> impl Future<Output = Result<Vec<NotificationFailureRow>>> + Send;

    /// One failed notification by id.
    fn notification_failure(&self, id: i64) -> impl Future<Output = Result<Option<NotificationFailureRow>>> + Send;

    /// Every runtime freeze, by name.
    fn freezes(&self) -> impl Future<Output = Result<Vec<FreezeRow>>> + Send;

    /// Environment outcomes (the DORA projection) passing the query, oldest first (by time, then
    /// as written).
    fn outcomes(&self, query: OutcomeQuery) -> impl Future<Output = Result<Vec<OutcomeRow>>> + Send;

    /// Environment outcomes passing the query with their DORA classification, oldest first.
    fn decided_outcomes(&self, query: OutcomeQuery) -> impl Future<Output = Result<Vec<DecidedOutcomeRow>>> + Send;

    /// DORA week rollups of the query's product and environment whose week starts in `[since,
    /// until)`, by week.
    fn dora_weeks(&self, query: OutcomeQuery) -> impl Future<Output = Result<Vec<DoraWeekRow>>> + Send;
}
