//! Rows and write requests exchanged with the store.

use ferry_model::ReleaseId;
use ferry_model::release::{RunId, WorkflowRun};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One event of a release's log as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Global, monotonically increasing id (the SSE event id).
    pub gid: i64,
    /// Release id.
    pub release_id: String,
    /// Product of the release.
    pub product: String,
    /// Position in the release's log, from 0.
    pub seq: i64,
    /// When it happened.
    pub at: Timestamp,
    /// The event as JSON.
    pub body: serde_json::Value,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// When it happened.
    pub at: Timestamp,
    /// The event as JSON.
    pub body: serde_json::Value,
}

/// The list-page projection of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRow {
    /// Release id (UUID v7).
    pub id: String,
    /// Product.
    pub product: String,
    /// Flow name or `manual`.
    pub flow: String,
    /// Flow version.
    pub flow_version: Option<String>,
    /// Release status (SPEC §4 spelling).
    pub status: String,
    /// Who or what started it.
    pub initiator: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it reached a final status.
    pub finished_at: Option<Timestamp>,
    /// Failure or termination reason.
    pub reason: Option<String>,
    /// Retry count.
    pub retries: i64,
    /// Release version.
    pub version: Option<String>,
    /// Environment name → status.
    pub environments: serde_json::Value,
}

/// Live state of one application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStateRow {
    /// Application name.
    pub application: String,
    /// Product.
    pub product: String,
    /// Environment.
    pub environment: String,
    /// Component.
    pub component: String,
    /// Live version.
    pub version: Option<String>,
    /// Live revision (commit).
    pub revision: Option<String>,
    /// Sync status.
    pub sync: String,
    /// Health status.
    pub health: String,
    /// Last message from the status source.
    pub message: Option<String>,
    /// Release that last changed it.
    pub release_id: Option<String>,
    /// Last update.
    pub updated_at: Timestamp,
}

/// A log line to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Release id.
    pub release_id: String,
    /// Workflow run id.
    pub run_id: String,
    /// Step name.
    pub step: String,
    /// Time the line was read.
    pub at: Timestamp,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line, without its newline.
    pub text: String,
}

/// A stored log line with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredLogLine {
    /// Line id (for resuming).
    pub id: i64,
    /// The line.
    #[serde(flatten)]
    pub line: LogLine,
}

/// What to read from the logs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    /// Release id.
    pub release_id: ReleaseId,
    /// Only these runs (`Some` of an empty list reads nothing).
    pub runs: Option<Vec<RunId>>,
    /// Only this step.
    pub step: Option<String>,
    /// Only lines after this id.
    pub after: i64,
    /// At most this many lines.
    pub limit: u32,
}

impl LogQuery {
    /// Every line of release `release`, at most `limit`.
    pub fn release(release: ReleaseId, limit: u32) -> LogQuery {
        LogQuery { release_id: release, runs: None, step: None, after: 0, limit }
    }
}

/// Applied configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigVersion {
    /// Version number, from 1.
    pub version: i64,
    /// When it was applied.
    pub applied_at: Timestamp,
    /// Who applied it.
    pub applied_by: String,
    /// The validated catalog as JSON.
    pub catalog: serde_json::Value,
}

/// A product event (e.g. why a commit created no release). Product events are part of the event log
/// (release id `product:<name>`, body `{"type": "ProductEvent", "kind", "message"}`), so live streams
/// filtered by product carry them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductEvent {
    /// Id (the event's global id).
    pub id: i64,
    /// Product.
    pub product: String,
    /// When.
    pub at: Timestamp,
    /// Short kind, e.g. `no-flow-matched`.
    pub kind: String,
    /// Human message.
    pub message: String,
}

/// Which events a stream wants.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum EventFilter {
    /// Every event.
    #[default]
    All,
    /// One product's releases.
    Product(String),
    /// One release.
    Release(String),
}

impl EventFilter {
    /// Whether an event passes the filter.
    pub fn accepts(&self, event: &StoredEvent) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Product(p) => event.product == *p,
            EventFilter::Release(r) => event.release_id == *r,
        }
    }
}

/// Release list query; `before` is the cursor (the last id of the previous page).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReleaseFilter {
    /// Product (required by the list pages; `None` lists every product).
    pub product: Option<String>,
    /// Statuses to include; empty = all.
    pub statuses: Vec<String>,
    /// Flow name.
    pub flow: Option<String>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before (exclusive).
    pub until: Option<Timestamp>,
    /// Cursor: only ids smaller than this.
    pub before: Option<String>,
    /// Page size (1..=500).
    pub limit: u32,
}

/// A page of releases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasePage {
    /// Rows, newest first.
    pub items: Vec<ReleaseRow>,
    /// Cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Everything the engine writes about one release in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseWrite {
    /// Release id.
    pub release_id: String,
    /// Product.
    pub product: String,
    /// Sequence number of the first event (the log's current length).
    pub first_seq: i64,
    /// Events to append.
    pub events: Vec<NewEvent>,
    /// The release row after the events.
    pub row: ReleaseRow,
    /// The release view (SPEC §7.4) after the events; `None` keeps the stored one (the engine writes it
    /// when a release is created and when its status changes, and serves active releases' views from
    /// memory).
    pub view: Option<serde_json::Value>,
    /// Application states changed by the events.
    pub app_states: Vec<AppStateRow>,
    /// Workflow runs started or changed by the events, as they are after them (the runs projection).
    pub runs: Vec<WorkflowRun>,
    /// Environments that reached Successful or Failed through the events (the DORA projection).
    pub outcomes: Vec<OutcomeRow>,
    /// On a replica, the product turn (queue mode across replicas) this write takes for a queued
    /// release it starts; `None` for every other write. A sole store has no turns and ignores it.
    pub turn: Option<TurnClaim>,
}

/// The turn of a queue-mode product taken in the write that starts its release, so that a queue
/// drains in one write on a replica too: granted when no other active release of the product is older
/// or started, and the turn is free, the release's, or held by a release that ends in the same
/// transaction. Releases in `ending` whose writes come earlier in the same store call (and are
/// accepted) count as ended; a write refused for the turn is [`crate::StoreError::TurnTaken`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnClaim {
    /// Releases of the product that end in writes before this one in the same store call.
    pub ending: Vec<String>,
}

/// One environment of a release reaching Successful or Failed (SPEC §10, DORA metrics): written in the
/// release write that got it there, once per release, environment and attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRow {
    /// Release id.
    pub release_id: String,
    /// Product.
    pub product: String,
    /// Environment.
    pub environment: String,
    /// The release's flow (`manual`, `rollback`, or a flow name).
    pub flow: String,
    /// The release's retry count when it happened.
    pub attempt: i64,
    /// `Successful` or `Failed`.
    pub status: String,
    /// Whether the promotion had landed in at least one application (always for `Successful`).
    pub after_action: bool,
    /// The trigger commit's date.
    pub committed_at: Timestamp,
    /// When the environment reached the status.
    pub at: Timestamp,
}

/// Which outcomes to read: every given field narrows; oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomeQuery {
    /// Only this product's (`None`: every product, for the metrics gauges).
    pub product: Option<String>,
    /// Only this environment's.
    pub environment: Option<String>,
    /// Only outcomes at or after this time.
    pub since: Option<Timestamp>,
    /// Only outcomes before this time.
    pub until: Option<Timestamp>,
}

/// An environment outcome with what it counts for in the DORA figures, as decided so far: a change
/// failure, and its time to restore once restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedOutcomeRow {
    /// The outcome.
    pub outcome: OutcomeRow,
    /// Whether it is a change failure (Failed after its action, or rolled back).
    pub failure: bool,
    /// Seconds from it to the next Successful outcome of its environment, when it is a restored failure.
    pub restore_secs: Option<i64>,
}

/// The DORA figures of one product, environment and week (Monday 00:00 UTC), kept up to date as
/// outcomes are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoraWeekRow {
    /// Product.
    pub product: String,
    /// Environment.
    pub environment: String,
    /// Monday 00:00 UTC of the week.
    pub week: Timestamp,
    /// The week's counts and durations.
    pub rollup: ferry_model::dora::rollup::WeekRollup,
}

/// A workflow run of a release as last written (the runs projection): where it belongs (stage,
/// environment, application, workflow) and its steps. Read by the logs endpoint and the step page
/// instead of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// Release id.
    pub release_id: String,
    /// The run.
    pub run: WorkflowRun,
    /// Whether `run` holds the run's steps. Runs recorded before the store kept run states hold their
    /// place (target, workflow, start) and no steps.
    pub detailed: bool,
}

/// A pull request of the local provider (SPEC §6.2): the pushed branch plus this record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestRow {
    /// Number, unique in this Ferry and never reused. `None` in a [`Write::PullRequest`] creates a new
    /// record (the store assigns the number); rows read from the store always have one.
    pub number: Option<i64>,
    /// Release that opened it.
    pub release_id: String,
    /// Product of the release.
    pub product: String,
    /// Target environment.
    pub environment: String,
    /// Applications whose promotion it carries.
    pub applications: Vec<String>,
    /// Repository (credentials redacted).
    pub repo: String,
    /// The pushed branch, `ferry/<product>/<env>/<release>`.
    pub branch: String,
    /// The branch it merges into.
    pub target: String,
    /// `open`, `merged` or `closed`.
    pub state: String,
    /// Head commit of the branch.
    pub head: String,
    /// The merge commit, once merged.
    pub merge_commit: Option<String>,
    /// Why it was closed, when closed without merge.
    pub comment: Option<String>,
    /// Title (the promotion commit's subject).
    pub title: String,
    /// When it was opened.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Pull-request list query; every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullRequestFilter {
    /// Only this product's.
    pub product: Option<String>,
    /// Only in this state (`open`, `merged`, `closed`).
    pub state: Option<String>,
    /// Only those opened by this release.
    pub release: Option<String>,
}

/// An image report (SPEC §6.5): an image and where it was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    /// Id; `None` in a [`Write::ImageReport`] (the store assigns it), always set when read.
    pub id: Option<i64>,
    /// The reference as reported, e.g. `registry.example/shop/api:1.4.2`.
    pub image: String,
    /// The reference without tag and digest, e.g. `registry.example/shop/api`.
    pub repository: String,
    /// Tag, when the reference has one.
    pub tag: Option<String>,
    /// Digest (`sha256:...`), when known.
    pub digest: Option<String>,
    /// Source repository the image was built from (credentials redacted).
    pub git_repo: String,
    /// Source commit.
    pub git_revision: String,
    /// Source branch.
    pub git_branch: Option<String>,
    /// Annotations, the OCI `org.opencontainers.image.*` keys included.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Free text naming issues (`ABC-1, #12`), as the reporter gave it.
    pub issues: Option<String>,
    /// Who reported it.
    pub reported_by: String,
    /// When.
    pub reported_at: Timestamp,
}

/// An outgoing notification that did not reach its webhook (SPEC §6.6), kept for an admin to see and
/// redeliver: a dead letter (every attempt failed) or a status change dropped because the delivery
/// queue was full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationFailureRow {
    /// Id; `None` in a [`Write::NotificationFailure`] (the store assigns it), always set when read.
    pub id: Option<i64>,
    /// The notification's name (`None` for a dropped change, which no notification was chosen for).
    pub notification: Option<String>,
    /// `failed` (a dead letter) or `dropped` (the queue was full).
    pub outcome: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last error (never the webhook's URL, which may carry credentials).
    pub error: String,
    /// The status change, as the JSON body of a `json` notification.
    pub change: serde_json::Value,
    /// When it was given up.
    pub failed_at: Timestamp,
    /// When an admin redelivered it.
    pub redelivered_at: Option<Timestamp>,
    /// Who redelivered it.
    pub redelivered_by: Option<String>,
}

/// Which image reports to read; every given field must match. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageQuery {
    /// Reference without tag and digest.
    pub repository: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// At most this many (1..=500).
    pub limit: u32,
}

/// An API token (SPEC §8.2). Only the SHA-256 of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRow {
    /// Name, unique and never reused; recorded as the actor of what the token does.
    pub name: String,
    /// Hex SHA-256 of the secret.
    #[serde(skip_serializing)]
    pub hash: String,
    /// `viewer`, `promoter` or `admin`.
    pub role: String,
    /// Product globs the token may act on; empty = every product.
    pub products: Vec<String>,
    /// Environment types (`production`, `non-production`) it may act on; empty = every type.
    pub env_types: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// Who created it (a token name, or `offline` / `bootstrap`).
    pub created_by: String,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A runtime freeze (SPEC §10), kept apart from the applied configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreezeRow {
    /// Name, unique among runtime freezes.
    pub name: String,
    /// The freeze as JSON (`ferry_model::freeze::Freeze`).
    pub spec: serde_json::Value,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
}

/// A web UI session: a browser signed in with a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Hex SHA-256 of the session cookie's secret.
    pub hash: String,
    /// The token it was opened with.
    pub token: String,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// One audit log entry: a state-changing request of an identified caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    /// Id; `None` in a [`Write::Audit`] (the store assigns it), always set when read.
    pub id: Option<i64>,
    /// When.
    pub at: Timestamp,
    /// Who: a token name, the local user on an auth-less server, or `webhook:<provider>`.
    pub actor: String,
    /// What, e.g. `release.terminate`.
    pub action: String,
    /// On what: the request path.
    pub target: String,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    /// The peer address of the request.
    pub source: String,
    /// A short explanation when it was denied or failed.
    pub detail: Option<String>,
}

/// Which audit entries to read: newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Only entries at or after this time.
    pub since: Option<Timestamp>,
    /// Only entries with a smaller id (the next page).
    pub before: Option<i64>,
    /// At most this many (1..=1000).
    pub limit: u32,
}

/// One write request.
// `PullRequest` carries its row unboxed: that is the shape callers were promised, and pull-request
// writes are rare, so the larger `Write` costs little.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Append release events and update its projections.
    Release(Box<ReleaseWrite>),
    /// Store workflow log lines.
    Logs(Vec<LogLine>),
    /// Store a new configuration version.
    Config {
        /// Who applied it.
        applied_by: String,
        /// The catalog as JSON.
        catalog: serde_json::Value,
        /// When.
        at: Timestamp,
    },
    /// Record a product event.
    ProductEvent {
        /// Product.
        product: String,
        /// Kind.
        kind: String,
        /// Message.
        message: String,
        /// When.
        at: Timestamp,
    },
    /// Upsert application states outside a release (e.g. a commit made by someone else synced).
    AppStates(Vec<AppStateRow>),
    /// Create a pull-request record (`number` is `None`; the outcome is
    /// [`WriteOutcome::PullRequest`] with the new number), or update the `state`, `merge_commit`,
    /// `comment` and `updated_at` of an existing one (`number` is `Some`; other fields are kept; the
    /// outcome is [`WriteOutcome::PullRequest`] with the same number; an unknown number is an error).
    PullRequest(PullRequestRow),
    /// Record an image report (`id` is `None`); the outcome is [`WriteOutcome::Image`] with its id.
    ImageReport(Box<ImageRow>),
    /// Store (or replace) the computed release notes of a release.
    ReleaseNotes {
        /// Release id.
        release_id: String,
        /// The notes as JSON.
        notes: serde_json::Value,
        /// When they were computed.
        at: Timestamp,
    },
    /// Set a durable key.
    Kv {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Set a durable key unless it is set already: of concurrent claims of one key (on any replica), the
    /// first to commit wins and the others find its value. The outcome is [`WriteOutcome::KvValue`] with
    /// the value the key holds now (`value` when this write set it). The unique key behind "one commit
    /// creates one release".
    KvClaim {
        /// Key.
        key: String,
        /// Value to set.
        value: String,
    },
    /// Create a runtime freeze; a name in use is [`StoreError::Conflict`].
    Freeze(Box<FreezeRow>),
    /// Delete a runtime freeze; unknown is [`StoreError::NotFound`].
    DeleteFreeze {
        /// Freeze name.
        name: String,
    },
    /// Create a token; a name in use (revoked or not) or a known hash is [`StoreError::Conflict`].
    Token(Box<TokenRow>),
    /// Revoke a token and end its sessions; unknown is [`StoreError::NotFound`], already revoked
    /// [`StoreError::Conflict`].
    RevokeToken {
        /// Token name.
        name: String,
        /// When.
        at: Timestamp,
    },
    /// Open a web UI session.
    Session(SessionRow),
    /// End a web UI session (nothing happens when it is unknown).
    EndSession {
        /// Hex SHA-256 of the session secret.
        hash: String,
    },
    /// Append an audit entry; the outcome is [`WriteOutcome::Audit`] with its id.
    Audit(Box<AuditRow>),
    /// Record a notification that did not reach its webhook (`id` is `None`); the outcome is
    /// [`WriteOutcome::NotificationFailure`] with its id.
    NotificationFailure(Box<NotificationFailureRow>),
    /// Mark a failed notification as redelivered; unknown is [`StoreError::NotFound`], already
    /// redelivered [`StoreError::Conflict`] (of two concurrent redeliveries, one wins).
    NotificationRedelivered {
        /// Its id.
        id: i64,
        /// Who redelivered it.
        by: String,
        /// When.
        at: Timestamp,
    },
    /// Delete audit entries, failed notifications and expired sessions older than `before` (the
    /// retention setting).
    Prune {
        /// Entries before this time go.
        before: Timestamp,
        /// Sessions that ended before this time go.
        now: Timestamp,
    },
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// Global ids of the appended events.
    Events(Vec<i64>),
    /// The new configuration version.
    ConfigVersion(i64),
    /// The number of the created or updated pull request.
    PullRequest(i64),
    /// The id of a recorded image report.
    Image(i64),
    /// The id of an audit entry.
    Audit(i64),
    /// The id of a recorded failed notification.
    NotificationFailure(i64),
    /// The value of the key of a [`Write::KvClaim`].
    KvValue(String),
    /// Nothing to report.
    Done,
}
