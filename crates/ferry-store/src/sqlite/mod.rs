//! The SQLite backend: WAL with `synchronous=FULL`; one writer thread that owns its connection and
//! commits the waiting writes together (group commit); a small pool of read-only connections used from
//! tokio's blocking threads.

mod dora;
mod migrate;
mod notifications;
mod rows;
mod writer;

pub(crate) use self::rows::product_stream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params, params_from_iter};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

use self::rows::{
    EVENT_COLUMNS, IMAGE_COLUMNS, PULL_REQUEST_COLUMNS, RELEASE_COLUMNS, TOKEN_COLUMNS, all, audit_from_row,
    event_from_row, first, fmt_ts, image_from_row, json, log_from_row, pull_request_from_row, release_from_row,
    token_from_row,
};
use self::writer::Request;
use ferry_model::{ProductName, ReleaseId};

use crate::{
    AppStateRow, AuditQuery, AuditRow, ConfigVersion, DecidedOutcomeRow, DoraWeekRow, EventFilter, FreezeRow,
    ImageQuery, ImageRow, LogQuery, NotificationFailureRow, OutcomeQuery, OutcomeRow, ProductEvent, PullRequestFilter,
    PullRequestRow, ReleaseFilter, ReleasePage, ReleaseRow, Result, RunRow, SessionRow, Store, StoreError, StoredEvent,
    StoredLogLine, TokenRow, Write, WriteOutcome,
};

/// Capacity of the committed-event broadcast; slow subscribers lag and resume from the log.
const BROADCAST_CAPACITY: usize = 16_384;
/// Write requests that may wait for the writer before callers wait to hand theirs over.
const WRITE_QUEUE: usize = 1024;
/// Read-only connections.
const READERS: usize = 4;
/// Prepared statements kept per connection (the writer uses about 25, a reader fewer).
const STATEMENT_CACHE: usize = 64;
/// How long a statement waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite-backed [`Store`]. Cheap to clone; the writer thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<Request>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    readers: Arc<Readers>,
}

/// Sets up a connection the way every connection of the store is.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each write runs in its own savepoint; keep the statement sub-journals in memory instead of a
    // temporary file (a pwrite per changed page). Durability is the WAL's, unchanged.
    conn.pragma_update(None, "temp_store", "MEMORY")
}

fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode: the database stays in {mode} mode instead of WAL"
        )));
    }
    // Every commit is on disk before it returns (an fsync of the WAL per transaction).
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    configure(&conn)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file `path` and runs migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(path, true).await
    }

    /// Opens the database file `path`; with `migrate`, creates it if needed and applies pending migrations,
    /// without, a migration still to apply is [`StoreError::Migrate`].
    pub async fn open_with(path: &Path, migrate: bool) -> Result<SqliteStore> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || SqliteStore::open_blocking(&path, migrate))
            .await
            .map_err(|e| StoreError::Internal { doing: "opening the database", detail: e.to_string() })?
    }

    fn open_blocking(path: &Path, migrate: bool) -> Result<SqliteStore> {
        let location = path.display().to_string();
        let open_err = |source: rusqlite::Error| StoreError::Open { location: location.clone(), source: source.into() };
        let mut conn = open_writer(path).map_err(open_err)?;
        migrate::run(&mut conn, &location, migrate)?;
        let idle = (0..READERS).map(|_| open_reader(path)).collect::<rusqlite::Result<Vec<_>>>().map_err(open_err)?;
        let readers = Arc::new(Readers {
            path: path.to_owned(),
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(READERS)),
        });
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let publish = events.clone();
        std::thread::Builder::new()
            .name("ferry-store-writer".into())
            .spawn(move || writer::run(conn, rx, publish))
            .map_err(|e| StoreError::Internal { doing: "starting the writer thread", detail: e.to_string() })?;
        Ok(SqliteStore { writer: tx, events, readers })
    }

    /// Runs `read` on a read-only connection, on one of tokio's blocking threads.
    async fn read<T, F>(&self, doing: &'static str, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self.readers.permits.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take(doing)?;
            let result = read(&conn);
            readers.give_back(conn, doing)?;
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Internal { doing, detail: format!("the reading thread failed: {e}") })?
    }
}

/// The read-only connections not in use; the semaphore's permits count them.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    /// An idle connection (a new one if a reader that panicked took its connection with it).
    fn take(&self, doing: &'static str) -> Result<Connection> {
        let idle = self.idle.lock().map_err(|_| poisoned(doing))?.pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path).map_err(|source| StoreError::Open {
                location: self.path.display().to_string(),
                source: source.into(),
            }),
        }
    }

    fn give_back(&self, conn: Connection, doing: &'static str) -> Result<()> {
        self.idle.lock().map_err(|_| poisoned(doing))?.push(conn);
        Ok(())
    }
}

fn poisoned(doing: &'static str) -> StoreError {
    StoreError::Internal { doing, detail: "the pool of reading connections is unusable after a panic".into() }
}

/// Text and integer parameters of a query assembled from a filter.
fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

impl Store for SqliteStore {
    async fn write(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteOutcome>>> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Request { writes, reply }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    async fn release_events(&self, release: &ReleaseId) -> Result<Vec<StoredEvent>> {
        let release = release.to_string();
        let doing = "reading a release's events";
        self.read(doing, move |conn| {
            let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE release_id = ? ORDER BY seq");
            all(conn, doing, &sql, [release], event_from_row)
        })
        .await
    }

    async fn events_after(&self, after_gid: i64, filter: EventFilter, limit: u32) -> Result<Vec<StoredEvent>> {
        let doing = "reading events";
        self.read(doing, move |conn| {
            let base = format!("SELECT {EVENT_COLUMNS} FROM events WHERE gid > ?");
            let limit = i64::from(limit);
            match &filter {
                EventFilter::All => {
                    all(conn, doing, &format!("{base} ORDER BY gid LIMIT ?"), params![after_gid, limit], event_from_row)
                }
                EventFilter::Product(p) => all(
                    conn,
                    doing,
                    &format!("{base} AND product = ? ORDER BY gid LIMIT ?"),
                    params![after_gid, p, limit],
                    event_from_row,
                ),
                EventFilter::Release(r) => all(
                    conn,
                    doing,
                    &format!("{base} AND release_id = ? ORDER BY gid LIMIT ?"),
                    params![after_gid, r, limit],
                    event_from_row,
                ),
            }
        })
        .await
    }

    async fn active_releases(&self) -> Result<Vec<ReleaseId>> {
        let doing = "listing active releases";
        self.read(doing, move |conn| {
            all(
                conn,
                doing,
                "SELECT id FROM releases WHERE status IN ('Queued', 'Running', 'Suspended', 'Terminating') ORDER BY id",
                [],
                |row| crate::release_id(&row.get::<String>("id")?),
            )
        })
        .await
    }

    async fn list_releases(&self, filter: ReleaseFilter) -> Result<ReleasePage> {
        let doing = "listing releases";
        self.read(doing, move |conn| {
            let limit = filter.limit.clamp(1, 500);
            let mut sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE 1 = 1");
            let mut values = Vec::new();
            if let Some(p) = &filter.product {
                sql.push_str(" AND product = ?");
                values.push(text(p));
            }
            if !filter.statuses.is_empty() {
                let marks = vec!["?"; filter.statuses.len()].join(", ");
                sql.push_str(&format!(" AND status IN ({marks})"));
                values.extend(filter.statuses.iter().map(|s| text(s)));
            }
            if let Some(f) = &filter.flow {
                sql.push_str(" AND flow = ?");
                values.push(text(f));
            }
            if let Some(s) = filter.since {
                sql.push_str(" AND created_at >= ?");
                values.push(Value::Text(fmt_ts(s)));
            }
            if let Some(u) = filter.until {
                sql.push_str(" AND created_at < ?");
                values.push(Value::Text(fmt_ts(u)));
            }
            if let Some(b) = &filter.before {
                sql.push_str(" AND id < ?");
                values.push(text(b));
            }
            sql.push_str(" ORDER BY id DESC LIMIT ?");
            values.push(Value::Integer(i64::from(limit) + 1));
            let mut items = all(conn, doing, &sql, params_from_iter(values), release_from_row)?;
            let next = if items.len() > limit as usize {
                items.truncate(limit as usize);
                items.last().map(|r| r.id.clone())
            } else {
                None
            };
            Ok(ReleasePage { items, next })
        })
        .await
    }

    async fn release_view(&self, id: &ReleaseId) -> Result<Option<serde_json::Value>> {
        let id = id.to_string();
        let doing = "reading a release";
        self.read(doing, move |conn| {
            let view = first(conn, doing, "SELECT view FROM release_views WHERE id = ?", [id], |row| {
                row.get::<String>("view")
            })?;
            view.map(|v| json(&v, "release view")).transpose()
        })
        .await
    }

    async fn latest_releases(&self) -> Result<Vec<ReleaseRow>> {
        let doing = "reading the latest releases";
        self.read(doing, move |conn| {
            let sql = format!(
                "SELECT {RELEASE_COLUMNS} FROM releases r WHERE id = (SELECT max(id) FROM releases WHERE product = r.product) ORDER BY product"
            );
            all(conn, doing, &sql, [], release_from_row)
        })
        .await
    }

    async fn app_states(&self, product: &ProductName) -> Result<Vec<AppStateRow>> {
        let product = product.to_string();
        let doing = "reading application states";
        self.read(doing, move |conn| {
            all(
                conn,
                doing,
                "SELECT application, product, environment, component, version, revision, sync, health, message, release_id, updated_at
                 FROM app_state WHERE product = ? ORDER BY environment, component",
                [product],
                |row| {
                    Ok(AppStateRow {
                        application: row.get("application")?,
                        product: row.get("product")?,
                        environment: row.get("environment")?,
                        component: row.get("component")?,
                        version: row.get("version")?,
                        revision: row.get("revision")?,
                        sync: row.get("sync")?,
                        health: row.get("health")?,
                        message: row.get("message")?,
                        release_id: row.get("release_id")?,
                        updated_at: row.ts("updated_at", "application state")?,
                    })
                },
            )
        })
        .await
    }

    async fn logs(&self, query: LogQuery) -> Result<Vec<StoredLogLine>> {
        let doing = "reading logs";
        self.read(doing, move |conn| {
            let mut sql =
                "SELECT id, release_id, run_id, step, at, stream, text FROM logs WHERE release_id = ? AND id > ?"
                    .to_owned();
            let mut values = vec![text(&query.release_id.to_string()), Value::Integer(query.after)];
            if let Some(runs) = &query.runs {
                if runs.is_empty() {
                    return Ok(Vec::new());
                }
                sql.push_str(" AND run_id IN (");
                sql.push_str(&vec!["?"; runs.len()].join(", "));
                sql.push(')');
                values.extend(runs.iter().map(|r| text(&r.to_string())));
            }
            if let Some(s) = &query.step {
                sql.push_str(" AND step = ?");
                values.push(text(s));
            }
            sql.push_str(" ORDER BY id LIMIT ?");
            values.push(Value::Integer(i64::from(query.limit.clamp(1, 100_000))));
            all(conn, doing, &sql, params_from_iter(values), log_from_row)
        })
        .await
    }

    async fn runs(&self, release: &ReleaseId) -> Result<Vec<RunRow>> {
        let release = release.to_string();
        let doing = "reading workflow runs";
        self.read(doing, move |conn| {
            all(
                conn,
                doing,
                "SELECT run_id, started_at, workflow, target, state FROM runs WHERE release_id = ? ORDER BY started_at, rowid",
                [&release],
                |row| {
                    let run_id: String = row.get("run_id")?;
                    let state = row.get::<Option<String>>("state")?.map(|s| json(&s, "workflow run")).transpose()?;
                    crate::runs::decode(
                        release.clone(),
                        &run_id,
                        row.ts("started_at", "workflow run")?,
                        &row.get::<String>("workflow")?,
                        json(&row.get::<String>("target")?, "workflow run target")?,
                        state,
                    )
                },
            )
        })
        .await
    }

    async fn latest_config(&self) -> Result<Option<ConfigVersion>> {
        let doing = "reading configuration";
        self.read(doing, move |conn| {
            first(
                conn,
                doing,
                "SELECT version, applied_at, applied_by, catalog FROM config_versions ORDER BY version DESC LIMIT 1",
                [],
                |row| {
                    Ok(ConfigVersion {
                        version: row.get("version")?,
                        applied_at: row.ts("applied_at", "configuration")?,
                        applied_by: row.get("applied_by")?,
                        catalog: json(&row.get::<String>("catalog")?, "configuration")?,
                    })
                },
            )
        })
        .await
    }

    async fn product_events(&self, product: &ProductName, limit: u32) -> Result<Vec<ProductEvent>> {
        let product = product.to_string();
        let doing = "reading product events";
        self.read(doing, move |conn| {
            all(
                conn,
                doing,
                "SELECT gid, at, body FROM events WHERE release_id = ? ORDER BY gid DESC LIMIT ?",
                params![product_stream(&product), i64::from(limit)],
                |row| {
                    let body = json(&row.get::<String>("body")?, "product event")?;
                    Ok(ProductEvent {
                        id: row.get("gid")?,
                        product: product.clone(),
                        at: row.ts("at", "product event")?,
                        kind: body["kind"].as_str().unwrap_or_default().to_owned(),
                        message: body["message"].as_str().unwrap_or_default().to_owned(),
                    })
                },
            )
        })
        .await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        let doing = "reading a setting";
        self.read(doing, move |conn| {
            first(conn, doing, "SELECT value FROM kv WHERE key = ?", [key], |row| row.get("value"))
        })
        .await
    }

    async fn pull_requests(&self, filter: PullRequestFilter) -> Result<Vec<PullRequestRow>> {
        let doing = "listing pull requests";
        self.read(doing, move |conn| {
            let mut sql = format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests WHERE 1 = 1");
            let mut values = Vec::new();
            for (column, value) in
                [("product", &filter.product), ("state", &filter.state), ("release_id", &filter.release)]
            {
                if let Some(v) = value {
                    sql.push_str(&format!(" AND {column} = ?"));
                    values.push(text(v));
                }
            }
            sql.push_str(" ORDER BY number DESC");
            all(conn, doing, &sql, params_from_iter(values), pull_request_from_row)
        })
        .await
    }

    async fn pull_request(&self, number: i64) -> Result<Option<PullRequestRow>> {
        let doing = "reading a pull request";
        self.read(doing, move |conn| {
            let sql = format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests WHERE number = ?");
            first(conn, doing, &sql, [number], pull_request_from_row)
        })
        .await
    }

    async fn images_for(&self, query: ImageQuery) -> Result<Vec<ImageRow>> {
        let doing = "reading image reports";
        self.read(doing, move |conn| {
            let mut sql = format!("SELECT {IMAGE_COLUMNS} FROM images WHERE 1 = 1");
            let mut values = Vec::new();
            for (column, value) in [("repository", &query.repository), ("tag", &query.tag), ("digest", &query.digest)] {
                if let Some(v) = value {
                    sql.push_str(&format!(" AND {column} = ?"));
                    values.push(text(v));
                }
            }
            sql.push_str(" ORDER BY id DESC LIMIT ?");
            values.push(Value::Integer(i64::from(query.limit.clamp(1, 500))));
            all(conn, doing, &sql, params_from_iter(values), image_from_row)
        })
        .await
    }

    async fn release_notes(&self, release: &ReleaseId) -> Result<Option<serde_json::Value>> {
        let release = release.to_string();
        let doing = "reading release notes";
        self.read(doing, move |conn| {
            let notes = first(conn, doing, "SELECT notes FROM release_notes WHERE release_id = ?", [release], |row| {
                row.get::<String>("notes")
            })?;
            notes.map(|n| json(&n, "release notes")).transpose()
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        let hash = hash.to_owned();
        let doing = "reading a token";
        self.read(doing, move |conn| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t WHERE t.hash = ?");
            first(conn, doing, &sql, [hash], token_from_row)
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>> {
        let doing = "listing tokens";
        self.read(doing, move |conn| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t ORDER BY t.name");
            all(conn, doing, &sql, [], token_from_row)
        })
        .await
    }

    async fn session(&self, hash: &str) -> Result<Option<(SessionRow, TokenRow)>> {
        let hash = hash.to_owned();
        let doing = "reading a session";
        self.read(doing, move |conn| {
            let sql = format!(
                "SELECT s.hash AS s_hash, s.token AS s_token, s.created_at AS s_created, s.expires_at AS s_expires, \
                 {TOKEN_COLUMNS} FROM sessions s JOIN tokens t ON t.name = s.token WHERE s.hash = ?"
            );
            first(conn, doing, &sql, [hash], |row| {
                let session = SessionRow {
                    hash: row.get("s_hash")?,
                    token: row.get("s_token")?,
                    created_at: row.ts("s_created", "session")?,
                    expires_at: row.ts("s_expires", "session")?,
                };
                Ok((session, token_from_row(row)?))
            })
        })
        .await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRow>> {
        let doing = "reading the audit log";
        self.read(doing, move |conn| {
            let since = query.since.map(fmt_ts);
            all(
                conn,
                doing,
                "SELECT id, at, actor, action, target, status, outcome, source, detail FROM audit
                 WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
                params![since, since, query.before, query.before, i64::from(query.limit.clamp(1, 1000))],
                audit_from_row,
            )
        })
        .await
    }

    async fn notification_failures(&self, limit: u32) -> Result<Vec<NotificationFailureRow>> {
        self.read("reading failed notifications", move |conn| notifications::list(conn, limit)).await
    }

    async fn notification_failure(&self, id: i64) -> Result<Option<NotificationFailureRow>> {
        self.read("reading a failed notification", move |conn| notifications::one(conn, id)).await
    }

    async fn freezes(&self) -> Result<Vec<FreezeRow>> {
        let doing = "listing freezes";
        self.read(doing, move |conn| {
            all(conn, doing, "SELECT name, spec, created_by, created_at FROM freezes ORDER BY name", [], |row| {
                Ok(FreezeRow {
                    name: row.get("name")?,
                    spec: json(&row.get::<String>("spec")?, "freeze")?,
                    created_by: row.get("created_by")?,
                    created_at: row.ts("created_at", "freeze")?,
                })
            })
        })
        .await
    }

    async fn outcomes(&self, query: OutcomeQuery) -> Result<Vec<OutcomeRow>> {
        let rows = self.decided_outcomes(query).await?;
        Ok(rows.into_iter().map(|r| r.outcome).collect())
    }

    async fn decided_outcomes(&self, query: OutcomeQuery) -> Result<Vec<DecidedOutcomeRow>> {
        self.read("reading environment outcomes", move |conn| dora::read_outcomes(conn, &query)).await
    }

    async fn dora_weeks(&self, query: OutcomeQuery) -> Result<Vec<DoraWeekRow>> {
        self.read("reading DORA weeks", move |conn| dora::weeks(conn, &query)).await
    }
}
