//! The PostgreSQL backend, for replicas sharing one database (SPEC §8.1): a pool of connections
//! (tokio-postgres + deadpool), one transaction per [`Store::write`] call (each write in its own
//! savepoint), event appends serialised by an advisory lock so global ids grow in commit order, and a
//! listening connection that turns `NOTIFY`s of any replica into the committed-event broadcast.
//!
//! Replicas: [`PgStore::replica`] gives a store that owns releases through leases ([`lease`]) and
//! fences its release writes with the lease epoch.

mod control;
mod dora;
mod lease;
mod listen;
mod migrate;
mod notifications;
mod release;
mod rows;
mod write;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::sync::broadcast;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

pub use self::control::{ControlNotice, ControlRequest};
pub use self::lease::{Lease, PollLock, ReplicaOptions};
use self::rows::{
    EVENT_COLUMNS, IMAGE_COLUMNS, PULL_REQUEST_COLUMNS, RELEASE_COLUMNS, TOKEN_COLUMNS, audit_from_row, event_from_row,
    get, image_from_row, log_from_row, pull_request_from_row, release_from_row, token_from_row,
};
use ferry_model::{ProductName, ReleaseId};

use crate::{
    AppStateRow, AuditQuery, AuditRow, ConfigVersion, DecidedOutcomeRow, DoraWeekRow, EventFilter, FreezeRow,
    ImageQuery, ImageRow, LogQuery, NotificationFailureRow, OutcomeQuery, OutcomeRow, ProductEvent, PullRequestFilter,
    PullRequestRow, ReleaseFilter, ReleasePage, ReleaseRow, Result, RunRow, SessionRow, Store, StoreError, StoredEvent,
    StoredLogLine, TokenRow, Write, WriteOutcome,
};

/// Capacity of the committed-event broadcast; slow subscribers lag and resume from the log.
const BROADCAST_CAPACITY: usize = 16_384;
/// Capacity of the control-notice broadcast; a replica that lags finds requests at its next renewal.
const CONTROL_CAPACITY: usize = 1024;
/// How long the server lets a connection of the pool sit idle inside a transaction before ending
/// the session (the store's transactions never wait on anything but their own statements).
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(5);
/// Connections of the pool.
const POOL_SIZE: usize = 16;
/// How long the listening connection waits before connecting again after it was lost.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The leases a replica holds: release id → epoch.
type Held = Mutex<std::collections::HashMap<String, i64>>;

/// A query parameter.
type Param<'a> = &'a (dyn ToSql + Sync);

/// PostgreSQL-backed [`Store`]. Cheap to clone; the listening connection closes when the last clone is
/// dropped.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    events: broadcast::Sender<Arc<StoredEvent>>,
    /// Control notices of every replica ([`PgStore::control_notices`]).
    controls: broadcast::Sender<ControlNotice>,
    location: Arc<str>,
    /// Set on a replica's store: its identity and the leases it holds.
    replica: Option<Arc<lease::Replica>>,
    _listener: Arc<listen::Listener>,
}

/// A URL (or `key=value` connection string) for messages: the password left out.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        let kept: Vec<&str> = url.split_whitespace().filter(|kv| !kv.starts_with("password=")).collect();
        return kept.join(" ");
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => format!("{}@{host}", user.split_once(':').map_or(user, |(u, _)| u)),
        None => authority.to_owned(),
    };
    // Query parameters may carry a password too.
    let path = path.map(|p| p.split_once('?').map_or(p, |(p, _)| p));
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// Maps a driver error to [`StoreError::Query`], saying what the store was doing.
pub(crate) fn query_err(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |source| StoreError::Query { doing, source: source.into() }
}

impl PgStore {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or the key=value form) and
    /// applies pending migrations.
    pub async fn open(url: &str) -> Result<PgStore> {
        PgStore::open_with(url, true).await
    }

    /// Connects to `url`; with `migrate`, applies pending migrations, without, a migration still to
    /// apply is [`StoreError::Migrate`].
    pub async fn open_with(url: &str, migrate: bool) -> Result<PgStore> {
        let location: Arc<str> = redact(url).into();
        let open_err = |source: crate::DriverError| StoreError::Open { location: location.to_string(), source };
        let config = tokio_postgres::Config::from_str(url).map_err(|e| open_err(e.into()))?;
        // A transaction left open by a replica that stopped answering (paused, not dead: a dead one's
        // connection closes) would hold the event-log lock and its lease rows: the server ends it.
        let mut pooled = config.clone();
        let timeout = format!("-c idle_in_transaction_session_timeout={}", IDLE_IN_TRANSACTION.as_millis());
        pooled.options(&match config.get_options() {
            Some(given) => format!("{given} {timeout}"),
            None => timeout,
        });
        let manager = Manager::from_config(pooled, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|e| open_err(e.into()))?;
        let mut client = pool.get().await.map_err(|e| open_err(e.into()))?;
        migrate::run(&mut client, &location, migrate).await?;
        drop(client);
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (controls, _) = broadcast::channel(CONTROL_CAPACITY);
        let listener = listen::Listener::start(config, events.clone(), controls.clone(), &location).await?;
        Ok(PgStore { pool, events, controls, location, replica: None, _listener: Arc::new(listener) })
    }

    /// The database's URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// A pooled connection.
    pub(crate) async fn client(&self, doing: &'static str) -> Result<Object> {
        self.pool.get().await.map_err(|e| StoreError::Query { doing, source: e.into() })
    }

    /// Runs a read and returns its rows.
    async fn query(&self, doing: &'static str, sql: &str, params: &[Param<'_>]) -> Result<Vec<tokio_postgres::Row>> {
        let client = self.client(doing).await?;
        let statement = client.prepare_cached(sql).await.map_err(query_err(doing))?;
        client.query(&statement, params).await.map_err(query_err(doing))
    }

    /// Runs a read and decodes every row.
    async fn all<T>(
        &self,
        doing: &'static str,
        sql: &str,
        params: &[Param<'_>],
        decode: impl Fn(&tokio_postgres::Row, &'static str) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query(doing, sql, params).await?.iter().map(|row| decode(row, doing)).collect()
    }

    /// Runs a read and decodes its first row, if any.
    async fn first<T>(
        &self,
        doing: &'static str,
        sql: &str,
        params: &[Param<'_>],
        decode: impl Fn(&tokio_postgres::Row, &'static str) -> Result<T>,
    ) -> Result<Option<T>> {
        self.query(doing, sql, params).await?.first().map(|row| decode(row, doing)).transpose()
    }
}

/// Parameters of a query assembled from a filter: `$n` placeholders numbered as they are added.
#[derive(Default)]
struct Params {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Params {
    /// Adds a value and returns its placeholder.
    fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    fn refs(&self) -> Vec<Param<'_>> {
        self.values.iter().map(|v| v.as_ref() as Param<'_>).collect()
    }
}

impl Store for PgStore {
    async fn write(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteOutcome>>> {
        write::write(self, writes).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    async fn release_events(&self, release: &ReleaseId) -> Result<Vec<StoredEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE release_id = $1 ORDER BY seq");
        self.all("reading a release's events", &sql, &[&release.to_string()], event_from_row).await
    }

    async fn events_after(&self, after_gid: i64, filter: EventFilter, limit: u32) -> Result<Vec<StoredEvent>> {
        let limit = i64::from(limit);
        let base = format!("SELECT {EVENT_COLUMNS} FROM events WHERE gid > $1");
        let doing = "reading events";
        match &filter {
            EventFilter::All => {
                self.all(doing, &format!("{base} ORDER BY gid LIMIT $2"), &[&after_gid, &limit], event_from_row).await
            }
            EventFilter::Product(p) => {
                let sql = format!("{base} AND product = $2 ORDER BY gid LIMIT $3");
                self.all(doing, &sql, &[&after_gid, p, &limit], event_from_row).await
            }
            EventFilter::Release(r) => {
                let sql = format!("{base} AND release_id = $2 ORDER BY gid LIMIT $3");
                self.all(doing, &sql, &[&after_gid, r, &limit], event_from_row).await
            }
        }
    }

    async fn active_releases(&self) -> Result<Vec<ReleaseId>> {
        let sql =
            "SELECT id FROM releases WHERE status IN ('Queued', 'Running', 'Suspended', 'Terminating') ORDER BY id";
        self.all("listing active releases", sql, &[], |row, doing| crate::release_id(&get::<String>(row, "id", doing)?))
            .await
    }

    async fn list_releases(&self, filter: ReleaseFilter) -> Result<ReleasePage> {
        let limit = filter.limit.clamp(1, 500);
        let mut params = Params::default();
        let mut sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE true");
        if let Some(p) = filter.product {
            sql.push_str(&format!(" AND product = {}", params.push(p)));
        }
        if !filter.statuses.is_empty() {
            sql.push_str(&format!(" AND status = ANY({})", params.push(filter.statuses)));
        }
        if let Some(f) = filter.flow {
            sql.push_str(&format!(" AND flow = {}", params.push(f)));
        }
        if let Some(s) = filter.since {
            sql.push_str(&format!(" AND created_at >= {}", params.push(s)));
        }
        if let Some(u) = filter.until {
            sql.push_str(&format!(" AND created_at < {}", params.push(u)));
        }
        if let Some(b) = filter.before {
            sql.push_str(&format!(" AND id < {}", params.push(b)));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", params.push(i64::from(limit) + 1)));
        let mut items = self.all("listing releases", &sql, &params.refs(), release_from_row).await?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(ReleasePage { items, next })
    }

    async fn release_view(&self, id: &ReleaseId) -> Result<Option<serde_json::Value>> {
        let sql = "SELECT view FROM release_views WHERE id = $1";
        self.first("reading a release", sql, &[&id.to_string()], |row, doing| get(row, "view", doing)).await
    }

    async fn latest_releases(&self) -> Result<Vec<ReleaseRow>> {
        let sql = format!("SELECT DISTINCT ON (product) {RELEASE_COLUMNS} FROM releases ORDER BY product, id DESC");
        self.all("reading the latest releases", &sql, &[], release_from_row).await
    }

    async fn app_states(&self, product: &ProductName) -> Result<Vec<AppStateRow>> {
        let sql = "SELECT application, product, environment, component, version, revision, sync, health, message, \
                   release_id, updated_at FROM app_state WHERE product = $1 ORDER BY environment, component";
        self.all("reading application states", sql, &[&product.as_str()], |row, doing| {
            Ok(AppStateRow {
                application: get(row, "application", doing)?,
                product: get(row, "product", doing)?,
                environment: get(row, "environment", doing)?,
                component: get(row, "component", doing)?,
                version: get(row, "version", doing)?,
                revision: get(row, "revision", doing)?,
                sync: get(row, "sync", doing)?,
                health: get(row, "health", doing)?,
                message: get(row, "message", doing)?,
                release_id: get(row, "release_id", doing)?,
                updated_at: get(row, "updated_at", doing)?,
            })
        })
        .await
    }

    async fn logs(&self, query: LogQuery) -> Result<Vec<StoredLogLine>> {
        let mut params = Params::default();
        let mut sql = format!(
            "SELECT id, release_id, run_id, step, at, stream, text FROM logs WHERE release_id = {} AND id > {}",
            params.push(query.release_id.to_string()),
            params.push(query.after)
        );
        if let Some(runs) = query.runs {
            if runs.is_empty() {
                return Ok(Vec::new());
            }
            let runs: Vec<String> = runs.iter().map(ToString::to_string).collect();
            sql.push_str(&format!(" AND run_id = ANY({})", params.push(runs)));
        }
        if let Some(s) = query.step {
            sql.push_str(&format!(" AND step = {}", params.push(s)));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", params.push(i64::from(query.limit.clamp(1, 100_000)))));
        self.all("reading logs", &sql, &params.refs(), log_from_row).await
    }

    async fn runs(&self, release: &ReleaseId) -> Result<Vec<RunRow>> {
        let sql = "SELECT run_id, started_at, workflow, target, state FROM runs WHERE release_id = $1 ORDER BY started_at, run_id";
        let release = release.to_string();
        self.all("reading workflow runs", sql, &[&release], |row, doing| {
            let run_id: String = get(row, "run_id", doing)?;
            crate::runs::decode(
                release.clone(),
                &run_id,
                get(row, "started_at", doing)?,
                &get::<String>(row, "workflow", doing)?,
                get(row, "target", doing)?,
                get(row, "state", doing)?,
            )
        })
        .await
    }

    async fn latest_config(&self) -> Result<Option<ConfigVersion>> {
        let sql = "SELECT version, applied_at, applied_by, catalog FROM config_versions ORDER BY version DESC LIMIT 1";
        self.first("reading configuration", sql, &[], |row, doing| {
            Ok(ConfigVersion {
                version: get(row, "version", doing)?,
                applied_at: get(row, "applied_at", doing)?,
                applied_by: get(row, "applied_by", doing)?,
                catalog: get(row, "catalog", doing)?,
            })
        })
        .await
    }

    async fn product_events(&self, product: &ProductName, limit: u32) -> Result<Vec<ProductEvent>> {
        let sql = "SELECT gid, at, body FROM events WHERE release_id = $1 ORDER BY gid DESC LIMIT $2";
        let stream = rows::product_stream(product.as_str());
        self.all("reading product events", sql, &[&stream, &i64::from(limit)], |row, doing| {
            let body: serde_json::Value = get(row, "body", doing)?;
            Ok(ProductEvent {
                id: get(row, "gid", doing)?,
                product: product.to_string(),
                at: get(row, "at", doing)?,
                kind: body["kind"].as_str().unwrap_or_default().to_owned(),
                message: body["message"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        self.first("reading a setting", "SELECT value FROM kv WHERE key = $1", &[&key], |row, doing| {
            get(row, "value", doing)
        })
        .await
    }

    async fn pull_requests(&self, filter: PullRequestFilter) -> Result<Vec<PullRequestRow>> {
        let mut params = Params::default();
        let mut sql = format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests WHERE true");
        for (column, value) in [("product", filter.product), ("state", filter.state), ("release_id", filter.release)] {
            if let Some(v) = value {
                sql.push_str(&format!(" AND {column} = {}", params.push(v)));
            }
        }
        sql.push_str(" ORDER BY number DESC");
        self.all("listing pull requests", &sql, &params.refs(), pull_request_from_row).await
    }

    async fn pull_request(&self, number: i64) -> Result<Option<PullRequestRow>> {
        let sql = format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests WHERE number = $1");
        self.first("reading a pull request", &sql, &[&number], pull_request_from_row).await
    }

    async fn images_for(&self, query: ImageQuery) -> Result<Vec<ImageRow>> {
        let mut params = Params::default();
        let mut sql = format!("SELECT {IMAGE_COLUMNS} FROM images WHERE true");
        for (column, value) in [("repository", query.repository), ("tag", query.tag), ("digest", query.digest)] {
            if let Some(v) = value {
                sql.push_str(&format!(" AND {column} = {}", params.push(v)));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", params.push(i64::from(query.limit.clamp(1, 500)))));
        self.all("reading image reports", &sql, &params.refs(), image_from_row).await
    }

    async fn release_notes(&self, release: &ReleaseId) -> Result<Option<serde_json::Value>> {
        let sql = "SELECT notes FROM release_notes WHERE release_id = $1";
        self.first("reading release notes", sql, &[&release.to_string()], |row, doing| get(row, "notes", doing)).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t WHERE t.hash = $1");
        self.first("reading a token", &sql, &[&hash], token_from_row).await
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t ORDER BY t.name");
        self.all("listing tokens", &sql, &[], token_from_row).await
    }

    async fn session(&self, hash: &str) -> Result<Option<(SessionRow, TokenRow)>> {
        let sql = format!(
            "SELECT s.hash AS s_hash, s.token AS s_token, s.created_at AS s_created, s.expires_at AS s_expires, \
             {TOKEN_COLUMNS} FROM sessions s JOIN tokens t ON t.name = s.token WHERE s.hash = $1"
        );
        self.first("reading a session", &sql, &[&hash], |row, doing| {
            let session = SessionRow {
                hash: get(row, "s_hash", doing)?,
                token: get(row, "s_token", doing)?,
                created_at: get(row, "s_created", doing)?,
                expires_at: get(row, "s_expires", doing)?,
            };
            Ok((session, token_from_row(row, doing)?))
        })
        .await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRow>> {
        let sql = "SELECT id, at, actor, action, target, status, outcome, source, detail FROM audit \
                   WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::bigint IS NULL OR id < $2) \
                   ORDER BY id DESC LIMIT $3";
        let limit = i64::from(query.limit.clamp(1, 1000));
        self.all("reading the audit log", sql, &[&query.since, &query.before, &limit], audit_from_row).await
    }

    async fn notification_failures(&self, limit: u32) -> Result<Vec<NotificationFailureRow>> {
        let sql = format!("SELECT {} FROM notification_failures ORDER BY id DESC LIMIT $1", notifications::COLUMNS);
        let limit = i64::from(limit.clamp(1, 1000));
        self.all("reading failed notifications", &sql, &[&limit], notifications::from_row).await
    }

    async fn notification_failure(&self, id: i64) -> Result<Option<NotificationFailureRow>> {
        let sql = format!("SELECT {} FROM notification_failures WHERE id = $1", notifications::COLUMNS);
        self.first("reading a failed notification", &sql, &[&id], notifications::from_row).await
    }

    async fn freezes(&self) -> Result<Vec<FreezeRow>> {
        let sql = "SELECT name, spec, created_by, created_at FROM freezes ORDER BY name";
        self.all("listing freezes", sql, &[], |row, doing| {
            Ok(FreezeRow {
                name: get(row, "name", doing)?,
                spec: get(row, "spec", doing)?,
                created_by: get(row, "created_by", doing)?,
                created_at: get(row, "created_at", doing)?,
            })
        })
        .await
    }

    async fn outcomes(&self, query: OutcomeQuery) -> Result<Vec<OutcomeRow>> {
        let rows = self.decided_outcomes(query).await?;
        Ok(rows.into_iter().map(|r| r.outcome).collect())
    }

    async fn decided_outcomes(&self, query: OutcomeQuery) -> Result<Vec<DecidedOutcomeRow>> {
        let client = self.client("reading environment outcomes").await?;
        dora::read_outcomes(&**client, query).await
    }

    async fn dora_weeks(&self, query: OutcomeQuery) -> Result<Vec<DoraWeekRow>> {
        let client = self.client("reading DORA weeks").await?;
        dora::weeks(&**client, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn locations_never_show_passwords() {
        assert_eq!(redact("postgres://ferry:secret@db:5432/ferry"), "postgres://ferry@db:5432/ferry");
        assert_eq!(redact("postgres://ferry@db/ferry?password=secret"), "postgres://ferry@db/ferry");
        assert_eq!(redact("postgresql://db"), "postgresql://db");
        assert_eq!(redact("host=db user=ferry password=secret dbname=ferry"), "host=db user=ferry dbname=ferry");
    }
}
