//! The SQLite backend: WAL, one writer task with group commit, a pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    AppStateRow, AuditQuery, AuditRow, ConfigVersion, EventFilter, ImageQuery, ImageRow, LogQuery, ProductEvent,
    PullRequestFilter, PullRequestRow, ReleaseFilter, ReleasePage, ReleaseRow, ReleaseWrite, Result, SessionRow, Store,
    StoreError, StoredEvent, StoredLogLine, TokenRow, Write, WriteOutcome,
};

/// Most writes grouped into one transaction.
const MAX_GROUP: usize = 256;
/// Capacity of the committed-event broadcast; slow subscribers lag and resume from the log.
const BROADCAST_CAPACITY: usize = 16_384;
/// Events appended per INSERT statement (5 parameters each; SQLite allows 32,766).
const EVENTS_PER_INSERT: usize = 500;

type Reply = oneshot::Sender<Result<Vec<Result<WriteOutcome>>>>;

/// SQLite-backed [`Store`]. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    readers: SqlitePool,
    writer: mpsc::Sender<(Vec<Write>, Reply)>,
    events: broadcast::Sender<Arc<StoredEvent>>,
}

fn query_err(doing: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { doing, source }
}

/// The event-log stream holding a product's events (not a release id: release ids are UUIDs).
fn product_stream(product: &str) -> String {
    format!("product:{product}")
}

/// Fixed-width RFC 3339 (microseconds), so stored times sort as text.
fn fmt_ts(t: Timestamp) -> String {
    format!("{t:.6}")
}

fn ts(text: &str, what: &str) -> Result<Timestamp> {
    Timestamp::from_str(text).map_err(|e| StoreError::Decode {
        what: format!("{what} timestamp {text:?}"),
        source: serde_json::Error::io(std::io::Error::other(e.to_string())),
    })
}

fn json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|source| StoreError::Decode { what: what.to_owned(), source })
}

impl SqliteStore {
    /// Opens (creating if needed) the database file `path` and runs migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let location = path.display().to_string();
        let open_err = |source| StoreError::Open { location: location.clone(), source };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Each write runs in its own savepoint; keep the statement sub-journals in memory instead of
            // a temporary file (a pwrite per changed page). Durability is the WAL's, unchanged.
            .pragma("temp_store", "memory");
        let mut writer = SqliteConnection::connect_with(&options).await.map_err(open_err)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&mut writer)
            .await
            .map_err(|e| StoreError::Open { location: location.clone(), source: e.into() })?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_err)?;
        let (tx, rx) = mpsc::channel(1024);
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        tokio::spawn(writer_task(writer, rx, events.clone()));
        Ok(SqliteStore { readers, writer: tx, events })
    }
}

async fn writer_task(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<(Vec<Write>, Reply)>,
    events: broadcast::Sender<Arc<StoredEvent>>,
) {
    while let Some(first) = rx.recv().await {
        // Group commit: take whatever else is already waiting.
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut committed = Vec::new();
        let result = commit_group(&mut conn, &group, &mut committed).await;
        match result {
            Ok(outcomes) => {
                for event in committed {
                    // No subscriber is fine.
                    let _ = events.send(Arc::new(event));
                }
                for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Query {
                        doing: "committing a group of writes",
                        source: sqlx::Error::Protocol(message.clone()),
                    }));
                }
            }
        }
    }
}

async fn commit_group(
    conn: &mut SqliteConnection,
    group: &[(Vec<Write>, Reply)],
    committed: &mut Vec<StoredEvent>,
) -> Result<Vec<Vec<Result<WriteOutcome>>>> {
    let mut tx = conn.begin().await.map_err(query_err("starting a transaction"))?;
    // A lone write (the engine's usual case) needs no savepoint: the transaction is its own.
    if let [(writes, _)] = group
        && let [write] = writes.as_slice()
    {
        let mut events = Vec::new();
        return match apply_write(&mut tx, write, &mut events).await {
            Ok(outcome) => {
                tx.commit().await.map_err(query_err("committing"))?;
                committed.extend(events);
                Ok(vec![vec![Ok(outcome)]])
            }
            Err(err) => {
                // The write's own error is the answer; a failed rollback shows on the next group.
                let _ = tx.rollback().await;
                Ok(vec![vec![Err(err)]])
            }
        };
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for (writes, _) in group {
        let mut per_request = Vec::with_capacity(writes.len());
        for write in writes {
            // Each write in its own savepoint: one failing write does not undo the others.
            let mut sp = tx.begin().await.map_err(query_err("starting a savepoint"))?;
            let mut events = Vec::new();
            match apply_write(&mut sp, write, &mut events).await {
                Ok(outcome) => {
                    sp.commit().await.map_err(query_err("releasing a savepoint"))?;
                    committed.extend(events);
                    per_request.push(Ok(outcome));
                }
                Err(err) => {
                    sp.rollback().await.map_err(query_err("rolling back a savepoint"))?;
                    per_request.push(Err(err));
                }
            }
        }
        outcomes.push(per_request);
    }
    tx.commit().await.map_err(query_err("committing"))?;
    Ok(outcomes)
}

async fn apply_write(
    conn: &mut SqliteConnection,
    write: &Write,
    committed: &mut Vec<StoredEvent>,
) -> Result<WriteOutcome> {
    match write {
        Write::Release(w) => write_release(conn, w, committed).await,
        Write::Logs(lines) => {
            for line in lines {
                sqlx::query("INSERT INTO logs (release_id, run_id, step, at, stream, text) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(&line.release_id)
                    .bind(&line.run_id)
                    .bind(&line.step)
                    .bind(fmt_ts(line.at))
                    .bind(&line.stream)
                    .bind(&line.text)
                    .execute(&mut *conn)
                    .await
                    .map_err(query_err("storing log lines"))?;
            }
            Ok(WriteOutcome::Done)
        }
        Write::Config { applied_by, catalog, at } => {
            let row = sqlx::query(
                "INSERT INTO config_versions (applied_at, applied_by, catalog) VALUES (?, ?, ?) RETURNING version",
            )
            .bind(fmt_ts(*at))
            .bind(applied_by)
            .bind(catalog.to_string())
            .fetch_one(&mut *conn)
            .await
            .map_err(query_err("storing configuration"))?;
            Ok(WriteOutcome::ConfigVersion(row.get(0)))
        }
        Write::ProductEvent { product, kind, message, at } => {
            // Product events share the event log (and its ids) so live streams carry and resume them.
            let stream = product_stream(product);
            let body = serde_json::json!({"type": "ProductEvent", "kind": kind, "message": message});
            let row = sqlx::query(
                "INSERT INTO events (release_id, product, seq, at, body)
                 VALUES (?, ?, (SELECT coalesce(max(seq) + 1, 0) FROM events WHERE release_id = ?), ?, ?) RETURNING gid, seq",
            )
            .bind(&stream)
            .bind(product)
            .bind(&stream)
            .bind(fmt_ts(*at))
            .bind(body.to_string())
            .fetch_one(&mut *conn)
            .await
            .map_err(query_err("storing a product event"))?;
            committed.push(StoredEvent {
                gid: row.get(0),
                release_id: stream,
                product: product.clone(),
                seq: row.get(1),
                at: *at,
                body,
            });
            Ok(WriteOutcome::Done)
        }
        Write::AppStates(rows) => {
            for row in rows {
                upsert_app_state(conn, row).await?;
            }
            Ok(WriteOutcome::Done)
        }
        Write::PullRequest(row) => write_pull_request(conn, row).await,
        Write::ImageReport(row) => write_image(conn, row).await,
        Write::ReleaseNotes { release_id, notes, at } => {
            sqlx::query(
                "INSERT INTO release_notes (release_id, notes, computed_at) VALUES (?, ?, ?)
                 ON CONFLICT (release_id) DO UPDATE SET notes = excluded.notes, computed_at = excluded.computed_at",
            )
            .bind(release_id)
            .bind(notes.to_string())
            .bind(fmt_ts(*at))
            .execute(&mut *conn)
            .await
            .map_err(query_err("storing release notes"))?;
            Ok(WriteOutcome::Done)
        }
        Write::Kv { key, value } => {
            sqlx::query(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *conn)
            .await
            .map_err(query_err("storing a setting"))?;
            Ok(WriteOutcome::Done)
        }
        Write::Token(row) => write_token(conn, row).await,
        Write::RevokeToken { name, at } => revoke_token(conn, name, *at).await,
        Write::Session(row) => {
            sqlx::query("INSERT INTO sessions (hash, token, created_at, expires_at) VALUES (?, ?, ?, ?)")
                .bind(&row.hash)
                .bind(&row.token)
                .bind(fmt_ts(row.created_at))
                .bind(fmt_ts(row.expires_at))
                .execute(&mut *conn)
                .await
                .map_err(query_err("opening a session"))?;
            Ok(WriteOutcome::Done)
        }
        Write::EndSession { hash } => {
            sqlx::query("DELETE FROM sessions WHERE hash = ?")
                .bind(hash)
                .execute(&mut *conn)
                .await
                .map_err(query_err("ending a session"))?;
            Ok(WriteOutcome::Done)
        }
        Write::Audit(row) => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO audit (at, actor, action, target, status, outcome, source, detail)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(fmt_ts(row.at))
            .bind(&row.actor)
            .bind(&row.action)
            .bind(&row.target)
            .bind(i64::from(row.status))
            .bind(&row.outcome)
            .bind(&row.source)
            .bind(&row.detail)
            .fetch_one(&mut *conn)
            .await
            .map_err(query_err("recording an audit entry"))?;
            Ok(WriteOutcome::Audit(id))
        }
        Write::Prune { before, now } => {
            sqlx::query("DELETE FROM audit WHERE at < ?")
                .bind(fmt_ts(*before))
                .execute(&mut *conn)
                .await
                .map_err(query_err("pruning the audit log"))?;
            sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
                .bind(fmt_ts(*now))
                .execute(&mut *conn)
                .await
                .map_err(query_err("pruning ended sessions"))?;
            Ok(WriteOutcome::Done)
        }
    }
}

fn json_list(items: &[String], what: &str) -> Result<String> {
    serde_json::to_string(items).map_err(|source| StoreError::Decode { what: what.to_owned(), source })
}

async fn write_token(conn: &mut SqliteConnection, row: &TokenRow) -> Result<WriteOutcome> {
    let taken: Option<String> = sqlx::query_scalar("SELECT name FROM tokens WHERE name = ? OR hash = ?")
        .bind(&row.name)
        .bind(&row.hash)
        .fetch_optional(&mut *conn)
        .await
        .map_err(query_err("checking token names"))?;
    if let Some(taken) = taken {
        return Err(if taken == row.name {
            StoreError::Conflict(format!(
                "a token named {:?} exists (names are never reused, revoked ones included); choose another name",
                row.name
            ))
        } else {
            StoreError::Conflict("this secret is already registered as another token".to_owned())
        });
    }
    sqlx::query(
        "INSERT INTO tokens (name, hash, role, products, env_types, created_at, created_by, expires_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.name)
    .bind(&row.hash)
    .bind(&row.role)
    .bind(json_list(&row.products, "token products")?)
    .bind(json_list(&row.env_types, "token environment types")?)
    .bind(fmt_ts(row.created_at))
    .bind(&row.created_by)
    .bind(row.expires_at.map(fmt_ts))
    .bind(row.revoked_at.map(fmt_ts))
    .execute(&mut *conn)
    .await
    .map_err(query_err("creating a token"))?;
    Ok(WriteOutcome::Done)
}

async fn revoke_token(conn: &mut SqliteConnection, name: &str, at: Timestamp) -> Result<WriteOutcome> {
    let revoked: Option<Option<String>> = sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(query_err("reading a token"))?;
    match revoked {
        None => return Err(StoreError::NotFound(format!("no token named {name:?}"))),
        Some(Some(_)) => return Err(StoreError::Conflict(format!("the token {name:?} is already revoked"))),
        Some(None) => {}
    }
    sqlx::query("UPDATE tokens SET revoked_at = ? WHERE name = ?")
        .bind(fmt_ts(at))
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(query_err("revoking a token"))?;
    sqlx::query("DELETE FROM sessions WHERE token = ?")
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(query_err("ending a revoked token's sessions"))?;
    Ok(WriteOutcome::Done)
}

const TOKEN_COLUMNS: &str =
    "t.name, t.hash, t.role, t.products, t.env_types, t.created_at, t.created_by, t.expires_at, t.revoked_at";

fn token_from_row(row: &SqliteRow) -> Result<TokenRow> {
    let list = |column: &str| -> Result<Vec<String>> {
        let text: String = row.get(column);
        serde_json::from_str(&text).map_err(|source| StoreError::Decode { what: format!("token {column}"), source })
    };
    let opt_ts = |column: &str| -> Result<Option<Timestamp>> {
        row.get::<Option<String>, _>(column).map(|t| ts(&t, "token")).transpose()
    };
    Ok(TokenRow {
        name: row.get("name"),
        hash: row.get("hash"),
        role: row.get("role"),
        products: list("products")?,
        env_types: list("env_types")?,
        created_at: ts(row.get("created_at"), "token")?,
        created_by: row.get("created_by"),
        expires_at: opt_ts("expires_at")?,
        revoked_at: opt_ts("revoked_at")?,
    })
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditRow> {
    Ok(AuditRow {
        id: Some(row.get("id")),
        at: ts(row.get("at"), "audit entry")?,
        actor: row.get("actor"),
        action: row.get("action"),
        target: row.get("target"),
        status: u16::try_from(row.get::<i64, _>("status")).unwrap_or(0),
        outcome: row.get("outcome"),
        source: row.get("source"),
        detail: row.get("detail"),
    })
}

async fn write_pull_request(conn: &mut SqliteConnection, row: &PullRequestRow) -> Result<WriteOutcome> {
    match row.number {
        None => {
            let applications = serde_json::to_string(&row.applications)
                .map_err(|source| StoreError::Decode { what: "pull request applications".into(), source })?;
            let number: i64 = sqlx::query_scalar(
                "INSERT INTO pull_requests (release_id, product, environment, applications, repo, branch, target, state,
                   head, merge_commit, comment, title, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING number",
            )
            .bind(&row.release_id)
            .bind(&row.product)
            .bind(&row.environment)
            .bind(applications)
            .bind(&row.repo)
            .bind(&row.branch)
            .bind(&row.target)
            .bind(&row.state)
            .bind(&row.head)
            .bind(&row.merge_commit)
            .bind(&row.comment)
            .bind(&row.title)
            .bind(fmt_ts(row.created_at))
            .bind(fmt_ts(row.updated_at))
            .fetch_one(&mut *conn)
            .await
            .map_err(query_err("creating a pull request"))?;
            Ok(WriteOutcome::PullRequest(number))
        }
        Some(number) => {
            let updated = sqlx::query(
                "UPDATE pull_requests SET state = ?, merge_commit = ?, comment = ?, updated_at = ? WHERE number = ?",
            )
            .bind(&row.state)
            .bind(&row.merge_commit)
            .bind(&row.comment)
            .bind(fmt_ts(row.updated_at))
            .bind(number)
            .execute(&mut *conn)
            .await
            .map_err(query_err("updating a pull request"))?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::Query { doing: "updating a pull request", source: sqlx::Error::RowNotFound });
            }
            Ok(WriteOutcome::PullRequest(number))
        }
    }
}

async fn write_image(conn: &mut SqliteConnection, row: &ImageRow) -> Result<WriteOutcome> {
    let annotations = serde_json::to_string(&row.annotations)
        .map_err(|source| StoreError::Decode { what: "image annotations".into(), source })?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO images (image, repository, tag, digest, git_repo, git_revision, git_branch, annotations, issues,
           reported_by, reported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&row.image)
    .bind(&row.repository)
    .bind(&row.tag)
    .bind(&row.digest)
    .bind(&row.git_repo)
    .bind(&row.git_revision)
    .bind(&row.git_branch)
    .bind(annotations)
    .bind(&row.issues)
    .bind(&row.reported_by)
    .bind(fmt_ts(row.reported_at))
    .fetch_one(&mut *conn)
    .await
    .map_err(query_err("recording an image report"))?;
    Ok(WriteOutcome::Image(id))
}

fn image_from_row(row: &SqliteRow) -> Result<ImageRow> {
    let id: i64 = row.get("id");
    let annotations: String = row.get("annotations");
    let at: String = row.get("reported_at");
    Ok(ImageRow {
        id: Some(id),
        image: row.get("image"),
        repository: row.get("repository"),
        tag: row.get("tag"),
        digest: row.get("digest"),
        git_repo: row.get("git_repo"),
        git_revision: row.get("git_revision"),
        git_branch: row.get("git_branch"),
        annotations: serde_json::from_str(&annotations)
            .map_err(|source| StoreError::Decode { what: format!("image report {id} annotations"), source })?,
        issues: row.get("issues"),
        reported_by: row.get("reported_by"),
        reported_at: ts(&at, "image report")?,
    })
}

const PULL_REQUEST_COLUMNS: &str = "number, release_id, product, environment, applications, repo, branch, target, state, \
     head, merge_commit, comment, title, created_at, updated_at";

fn pull_request_from_row(row: &SqliteRow) -> Result<PullRequestRow> {
    let applications: String = row.get("applications");
    let created: String = row.get("created_at");
    let updated: String = row.get("updated_at");
    let number: i64 = row.get("number");
    Ok(PullRequestRow {
        number: Some(number),
        release_id: row.get("release_id"),
        product: row.get("product"),
        environment: row.get("environment"),
        applications: serde_json::from_str(&applications)
            .map_err(|source| StoreError::Decode { what: format!("pull request #{number} applications"), source })?,
        repo: row.get("repo"),
        branch: row.get("branch"),
        target: row.get("target"),
        state: row.get("state"),
        head: row.get("head"),
        merge_commit: row.get("merge_commit"),
        comment: row.get("comment"),
        title: row.get("title"),
        created_at: ts(&created, "pull request")?,
        updated_at: ts(&updated, "pull request")?,
    })
}

async fn upsert_app_state(conn: &mut SqliteConnection, row: &AppStateRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_state (application, product, environment, component, version, revision, sync, health, message, release_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (application) DO UPDATE SET product = excluded.product, environment = excluded.environment,
           component = excluded.component, version = excluded.version, revision = excluded.revision, sync = excluded.sync,
           health = excluded.health, message = excluded.message, release_id = excluded.release_id, updated_at = excluded.updated_at",
    )
    .bind(&row.application)
    .bind(&row.product)
    .bind(&row.environment)
    .bind(&row.component)
    .bind(&row.version)
    .bind(&row.revision)
    .bind(&row.sync)
    .bind(&row.health)
    .bind(&row.message)
    .bind(&row.release_id)
    .bind(fmt_ts(row.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(query_err("storing application state"))?;
    Ok(())
}

async fn write_release(
    conn: &mut SqliteConnection,
    w: &ReleaseWrite,
    committed: &mut Vec<StoredEvent>,
) -> Result<WriteOutcome> {
    let next: Option<i64> = sqlx::query_scalar("SELECT next_seq FROM releases WHERE id = ?")
        .bind(&w.release_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(query_err("reading a release's sequence"))?;
    let actual = next.unwrap_or(0);
    if actual != w.first_seq {
        return Err(StoreError::SequenceConflict { release: w.release_id.clone(), expected: w.first_seq, actual });
    }
    // All events of the write in one statement per chunk (one round trip to SQLite instead of one per
    // event); ids are matched back by sequence number, whatever order RETURNING gives them in.
    let mut gids = Vec::with_capacity(w.events.len());
    for (c, chunk) in w.events.chunks(EVENTS_PER_INSERT).enumerate() {
        let first = w.first_seq + (c * EVENTS_PER_INSERT) as i64;
        let mut sql = String::from("INSERT INTO events (release_id, product, seq, at, body) VALUES ");
        sql.push_str(&vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", "));
        sql.push_str(" RETURNING gid, seq");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, event) in chunk.iter().enumerate() {
            q = q
                .bind(&w.release_id)
                .bind(&w.product)
                .bind(first + i as i64)
                .bind(fmt_ts(event.at))
                .bind(event.body.to_string());
        }
        let rows = q.fetch_all(&mut *conn).await.map_err(query_err("appending release events"))?;
        let mut by_seq: Vec<Option<i64>> = vec![None; chunk.len()];
        for row in &rows {
            let seq: i64 = row.get(1);
            if let Some(slot) = usize::try_from(seq - first).ok().and_then(|i| by_seq.get_mut(i)) {
                *slot = Some(row.get(0));
            }
        }
        for (i, event) in chunk.iter().enumerate() {
            let seq = first + i as i64;
            let gid = by_seq[i]
                .ok_or(StoreError::Query { doing: "appending release events", source: sqlx::Error::RowNotFound })?;
            gids.push(gid);
            committed.push(StoredEvent {
                gid,
                release_id: w.release_id.clone(),
                product: w.product.clone(),
                seq,
                at: event.at,
                body: event.body.clone(),
            });
        }
    }
    let r = &w.row;
    sqlx::query(
        "INSERT INTO releases (id, product, flow, flow_version, status, initiator, created_at, finished_at, reason, retries, version, environments, next_seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, reason = excluded.reason,
           retries = excluded.retries, version = excluded.version, environments = excluded.environments,
           next_seq = excluded.next_seq, flow_version = excluded.flow_version",
    )
    .bind(&r.id)
    .bind(&r.product)
    .bind(&r.flow)
    .bind(&r.flow_version)
    .bind(&r.status)
    .bind(&r.initiator)
    .bind(fmt_ts(r.created_at))
    .bind(r.finished_at.map(fmt_ts))
    .bind(&r.reason)
    .bind(r.retries)
    .bind(&r.version)
    .bind(r.environments.to_string())
    .bind(w.first_seq + w.events.len() as i64)
    .execute(&mut *conn)
    .await
    .map_err(query_err("updating the release projection"))?;
    sqlx::query(
        "INSERT INTO release_views (id, view) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET view = excluded.view",
    )
    .bind(&r.id)
    .bind(w.view.to_string())
    .execute(&mut *conn)
    .await
    .map_err(query_err("updating the release view"))?;
    for row in &w.app_states {
        upsert_app_state(conn, row).await?;
    }
    Ok(WriteOutcome::Events(gids))
}

fn event_from_row(row: &SqliteRow) -> Result<StoredEvent> {
    let body: String = row.get("body");
    let at: String = row.get("at");
    Ok(StoredEvent {
        gid: row.get("gid"),
        release_id: row.get("release_id"),
        product: row.get("product"),
        seq: row.get("seq"),
        at: ts(&at, "event")?,
        body: json(&body, "event body")?,
    })
}

fn release_from_row(row: &SqliteRow) -> Result<ReleaseRow> {
    let created: String = row.get("created_at");
    let finished: Option<String> = row.get("finished_at");
    let envs: String = row.get("environments");
    Ok(ReleaseRow {
        id: row.get("id"),
        product: row.get("product"),
        flow: row.get("flow"),
        flow_version: row.get("flow_version"),
        status: row.get("status"),
        initiator: row.get("initiator"),
        created_at: ts(&created, "release")?,
        finished_at: finished.as_deref().map(|f| ts(f, "release")).transpose()?,
        reason: row.get("reason"),
        retries: row.get("retries"),
        version: row.get("version"),
        environments: json(&envs, "release environments")?,
    })
}

const RELEASE_COLUMNS: &str = "id, product, flow, flow_version, status, initiator, created_at, finished_at, reason, retries, version, environments";

impl Store for SqliteStore {
    async fn write(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteOutcome>>> {
        let (tx, rx) = oneshot::channel();
        self.writer.send((writes, tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    async fn release_events(&self, release: &str) -> Result<Vec<StoredEvent>> {
        let rows =
            sqlx::query("SELECT gid, release_id, product, seq, at, body FROM events WHERE release_id = ? ORDER BY seq")
                .bind(release)
                .fetch_all(&self.readers)
                .await
                .map_err(query_err("reading a release's events"))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn events_after(&self, after_gid: i64, filter: EventFilter, limit: u32) -> Result<Vec<StoredEvent>> {
        let base = "SELECT gid, release_id, product, seq, at, body FROM events WHERE gid > ?";
        let rows = match &filter {
            EventFilter::All => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{base} ORDER BY gid LIMIT ?")))
                    .bind(after_gid)
                    .bind(limit)
                    .fetch_all(&self.readers)
                    .await
            }
            EventFilter::Product(p) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{base} AND product = ? ORDER BY gid LIMIT ?")))
                    .bind(after_gid)
                    .bind(p)
                    .bind(limit)
                    .fetch_all(&self.readers)
                    .await
            }
            EventFilter::Release(r) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{base} AND release_id = ? ORDER BY gid LIMIT ?")))
                    .bind(after_gid)
                    .bind(r)
                    .bind(limit)
                    .fetch_all(&self.readers)
                    .await
            }
        }
        .map_err(query_err("reading events"))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn active_releases(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT id FROM releases WHERE status IN ('Queued', 'Running', 'Suspended', 'Terminating') ORDER BY id",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(query_err("listing active releases"))
    }

    async fn list_releases(&self, filter: ReleaseFilter) -> Result<ReleasePage> {
        let limit = filter.limit.clamp(1, 500);
        let mut sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE 1 = 1");
        if filter.product.is_some() {
            sql.push_str(" AND product = ?");
        }
        if !filter.statuses.is_empty() {
            let marks = vec!["?"; filter.statuses.len()].join(", ");
            sql.push_str(&format!(" AND status IN ({marks})"));
        }
        if filter.flow.is_some() {
            sql.push_str(" AND flow = ?");
        }
        if filter.since.is_some() {
            sql.push_str(" AND created_at >= ?");
        }
        if filter.until.is_some() {
            sql.push_str(" AND created_at < ?");
        }
        if filter.before.is_some() {
            sql.push_str(" AND id < ?");
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(p) = &filter.product {
            q = q.bind(p);
        }
        for s in &filter.statuses {
            q = q.bind(s);
        }
        if let Some(f) = &filter.flow {
            q = q.bind(f);
        }
        if let Some(s) = filter.since {
            q = q.bind(fmt_ts(s));
        }
        if let Some(u) = filter.until {
            q = q.bind(fmt_ts(u));
        }
        if let Some(b) = &filter.before {
            q = q.bind(b);
        }
        q = q.bind(limit + 1);
        let rows = q.fetch_all(&self.readers).await.map_err(query_err("listing releases"))?;
        let mut items: Vec<ReleaseRow> = rows.iter().map(release_from_row).collect::<Result<_>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(ReleasePage { items, next })
    }

    async fn release_view(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let view: Option<String> = sqlx::query_scalar("SELECT view FROM release_views WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(query_err("reading a release"))?;
        view.map(|v| json(&v, "release view")).transpose()
    }

    async fn latest_releases(&self) -> Result<Vec<ReleaseRow>> {
        let sql = format!(
            "SELECT {RELEASE_COLUMNS} FROM releases r WHERE id = (SELECT max(id) FROM releases WHERE product = r.product) ORDER BY product"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.readers)
            .await
            .map_err(query_err("reading the latest releases"))?;
        rows.iter().map(release_from_row).collect()
    }

    async fn app_states(&self, product: &str) -> Result<Vec<AppStateRow>> {
        let rows = sqlx::query(
            "SELECT application, product, environment, component, version, revision, sync, health, message, release_id, updated_at
             FROM app_state WHERE product = ? ORDER BY environment, component",
        )
        .bind(product)
        .fetch_all(&self.readers)
        .await
        .map_err(query_err("reading application states"))?;
        rows.iter()
            .map(|row| {
                let updated: String = row.get("updated_at");
                Ok(AppStateRow {
                    application: row.get("application"),
                    product: row.get("product"),
                    environment: row.get("environment"),
                    component: row.get("component"),
                    version: row.get("version"),
                    revision: row.get("revision"),
                    sync: row.get("sync"),
                    health: row.get("health"),
                    message: row.get("message"),
                    release_id: row.get("release_id"),
                    updated_at: ts(&updated, "application state")?,
                })
            })
            .collect()
    }

    async fn logs(&self, query: LogQuery) -> Result<Vec<StoredLogLine>> {
        let mut sql = "SELECT id, release_id, run_id, step, at, stream, text FROM logs WHERE release_id = ? AND id > ?"
            .to_owned();
        if query.run_id.is_some() {
            sql.push_str(" AND run_id = ?");
        }
        if query.step.is_some() {
            sql.push_str(" AND step = ?");
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&query.release_id).bind(query.after);
        if let Some(r) = &query.run_id {
            q = q.bind(r);
        }
        if let Some(s) = &query.step {
            q = q.bind(s);
        }
        let rows =
            q.bind(query.limit.clamp(1, 100_000)).fetch_all(&self.readers).await.map_err(query_err("reading logs"))?;
        rows.iter()
            .map(|row| {
                let at: String = row.get("at");
                Ok(StoredLogLine {
                    id: row.get("id"),
                    line: crate::LogLine {
                        release_id: row.get("release_id"),
                        run_id: row.get("run_id"),
                        step: row.get("step"),
                        at: ts(&at, "log line")?,
                        stream: row.get("stream"),
                        text: row.get("text"),
                    },
                })
            })
            .collect()
    }

    async fn latest_config(&self) -> Result<Option<ConfigVersion>> {
        let row = sqlx::query(
            "SELECT version, applied_at, applied_by, catalog FROM config_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.readers)
        .await
        .map_err(query_err("reading configuration"))?;
        row.map(|row| {
            let at: String = row.get("applied_at");
            let catalog: String = row.get("catalog");
            Ok(ConfigVersion {
                version: row.get("version"),
                applied_at: ts(&at, "configuration")?,
                applied_by: row.get("applied_by"),
                catalog: json(&catalog, "configuration")?,
            })
        })
        .transpose()
    }

    async fn product_events(&self, product: &str, limit: u32) -> Result<Vec<ProductEvent>> {
        let rows = sqlx::query("SELECT gid, at, body FROM events WHERE release_id = ? ORDER BY gid DESC LIMIT ?")
            .bind(product_stream(product))
            .bind(limit)
            .fetch_all(&self.readers)
            .await
            .map_err(query_err("reading product events"))?;
        rows.iter()
            .map(|row| {
                let at: String = row.get("at");
                let body: String = row.get("body");
                let body = json(&body, "product event")?;
                Ok(ProductEvent {
                    id: row.get("gid"),
                    product: product.to_owned(),
                    at: ts(&at, "product event")?,
                    kind: body["kind"].as_str().unwrap_or_default().to_owned(),
                    message: body["message"].as_str().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM kv WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.readers)
            .await
            .map_err(query_err("reading a setting"))
    }

    async fn pull_requests(&self, filter: PullRequestFilter) -> Result<Vec<PullRequestRow>> {
        let mut sql = format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests WHERE 1 = 1");
        for (column, value) in [("product", &filter.product), ("state", &filter.state), ("release_id", &filter.release)]
        {
            if value.is_some() {
                sql.push_str(&format!(" AND {column} = ?"));
            }
        }
        sql.push_str(" ORDER BY number DESC");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in [&filter.product, &filter.state, &filter.release].into_iter().flatten() {
            q = q.bind(value);
        }
        let rows = q.fetch_all(&self.readers).await.map_err(query_err("listing pull requests"))?;
        rows.iter().map(pull_request_from_row).collect()
    }

    async fn images_for(&self, query: ImageQuery) -> Result<Vec<ImageRow>> {
        let mut sql =
            "SELECT id, image, repository, tag, digest, git_repo, git_revision, git_branch, annotations, issues, \
                       reported_by, reported_at FROM images WHERE 1 = 1"
                .to_owned();
        let filters = [("repository", &query.repository), ("tag", &query.tag), ("digest", &query.digest)];
        for (column, value) in filters {
            if value.is_some() {
                sql.push_str(&format!(" AND {column} = ?"));
            }
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (_, value) in filters {
            if let Some(v) = value {
                q = q.bind(v);
            }
        }
        let rows = q
            .bind(query.limit.clamp(1, 500))
            .fetch_all(&self.readers)
            .await
            .map_err(query_err("reading image reports"))?;
        rows.iter().map(image_from_row).collect()
    }

    async fn release_notes(&self, release: &str) -> Result<Option<serde_json::Value>> {
        let notes: Option<String> = sqlx::query_scalar("SELECT notes FROM release_notes WHERE release_id = ?")
            .bind(release)
            .fetch_optional(&self.readers)
            .await
            .map_err(query_err("reading release notes"))?;
        notes.map(|n| json(&n, "release notes")).transpose()
    }

    async fn pull_request(&self, number: i64) -> Result<Option<PullRequestRow>> {
        let sql = format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests WHERE number = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(number)
            .fetch_optional(&self.readers)
            .await
            .map_err(query_err("reading a pull request"))?;
        row.as_ref().map(pull_request_from_row).transpose()
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t WHERE t.hash = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.readers)
            .await
            .map_err(query_err("reading a token"))?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t ORDER BY t.name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.readers)
            .await
            .map_err(query_err("listing tokens"))?;
        rows.iter().map(token_from_row).collect()
    }

    async fn session(&self, hash: &str) -> Result<Option<(SessionRow, TokenRow)>> {
        let sql = format!(
            "SELECT s.hash AS s_hash, s.token AS s_token, s.created_at AS s_created, s.expires_at AS s_expires, \
             {TOKEN_COLUMNS} FROM sessions s JOIN tokens t ON t.name = s.token WHERE s.hash = ?"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.readers)
            .await
            .map_err(query_err("reading a session"))?;
        let Some(row) = row else { return Ok(None) };
        let session = SessionRow {
            hash: row.get("s_hash"),
            token: row.get("s_token"),
            created_at: ts(row.get("s_created"), "session")?,
            expires_at: ts(row.get("s_expires"), "session")?,
        };
        Ok(Some((session, token_from_row(&row)?)))
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, status, outcome, source, detail FROM audit
             WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(query.since.map(fmt_ts))
        .bind(query.since.map(fmt_ts))
        .bind(query.before)
        .bind(query.before)
        .bind(query.limit.clamp(1, 1000))
        .fetch_all(&self.readers)
        .await
        .map_err(query_err("reading the audit log"))?;
        rows.iter().map(audit_from_row).collect()
    }
}
