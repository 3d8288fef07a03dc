//! `ferry db copy`: moves an embedded installation (SQLite) to PostgreSQL with nothing lost — every
//! table, with the same ids (event ids, log line ids, configuration versions, pull-request numbers,
//! image, audit and failed-notification ids), so links, `Last-Event-ID`s and cursors stay valid.
//!
//! The source is read in one read transaction (a consistent snapshot; stop the server first so nothing
//! is written after it); the target is written in one transaction, so a failed copy leaves it as it was.

use std::path::Path;
use std::str::FromStr;

use rusqlite::types::Value;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use crate::postgres::query_err;
use crate::{PgStore, Result, SqliteStore, StoreError};

/// How a column is stored on each side.
#[derive(Clone, Copy)]
enum Kind {
    /// TEXT on both.
    Text,
    /// INTEGER → BIGINT.
    Int,
    /// INTEGER → INTEGER.
    Int4,
    /// RFC 3339 TEXT → TIMESTAMPTZ.
    Ts,
    /// JSON TEXT → JSON.
    Json,
    /// INTEGER 0/1 → BOOLEAN.
    Bool,
}

use Kind::{Bool, Int, Int4, Json, Text, Ts};

/// A table: name, the column pages are read by, columns, and the identity column whose sequence
/// goes on after the copied ids.
struct Table {
    name: &'static str,
    key: &'static str,
    columns: &'static [(&'static str, Kind)],
    identity: Option<&'static str>,
}

/// Every table, parents before children (sessions name tokens).
const TABLES: &[Table] = &[
    Table {
        name: "events",
        key: "gid",
        columns: &[("gid", Int), ("release_id", Text), ("product", Text), ("seq", Int), ("at", Ts), ("body", Json)],
        identity: Some("gid"),
    },
    Table {
        name: "releases",
        key: "id",
        columns: &[
            ("id", Text),
            ("product", Text),
            ("flow", Text),
            ("flow_version", Text),
            ("status", Text),
            ("initiator", Text),
            ("created_at", Ts),
            ("finished_at", Ts),
            ("reason", Text),
            ("retries", Int),
            ("version", Text),
            ("environments", Json),
            ("next_seq", Int),
        ],
        identity: None,
    },
    Table { name: "release_views", key: "id", columns: &[("id", Text), ("view", Json)], identity: None },
    Table {
        name: "app_state",
        key: "application",
        columns: &[
            ("application", Text),
            ("product", Text),
            ("environment", Text),
            ("component", Text),
            ("version", Text),
            ("revision", Text),
            ("sync", Text),
            ("health", Text),
            ("message", Text),
            ("release_id", Text),
            ("updated_at", Ts),
        ],
        identity: None,
    },
    Table {
        name: "logs",
        key: "id",
        columns: &[
            ("id", Int),
            ("release_id", Text),
            ("run_id", Text),
            ("step", Text),
            ("at", Ts),
            ("stream", Text),
            ("text", Text),
        ],
        identity: Some("id"),
    },
    Table {
        name: "runs",
        key: "run_id",
        columns: &[
            ("run_id", Text),
            ("release_id", Text),
            ("started_at", Ts),
            ("workflow", Text),
            ("target", Json),
            ("state", Json),
        ],
        identity: None,
    },
    Table {
        name: "config_versions",
        key: "version",
        columns: &[("version", Int), ("applied_at", Ts), ("applied_by", Text), ("catalog", Json)],
        identity: Some("version"),
    },
    Table { name: "kv", key: "key", columns: &[("key", Text), ("value", Text)], identity: None },
    Table {
        name: "pull_requests",
        key: "number",
        columns: &[
            ("number", Int),
            ("release_id", Text),
            ("product", Text),
            ("environment", Text),
            ("applications", Json),
            ("repo", Text),
            ("branch", Text),
            ("target", Text),
            ("state", Text),
            ("head", Text),
            ("merge_commit", Text),
            ("comment", Text),
            ("title", Text),
            ("created_at", Ts),
            ("updated_at", Ts),
        ],
        identity: Some("number"),
    },
    Table {
        name: "images",
        key: "id",
        columns: &[
            ("id", Int),
            ("image", Text),
            ("repository", Text),
            ("tag", Text),
            ("digest", Text),
            ("git_repo", Text),
            ("git_revision", Text),
            ("git_branch", Text),
            ("annotations", Json),
            ("issues", Text),
            ("reported_by", Text),
            ("reported_at", Ts),
        ],
        identity: Some("id"),
    },
    Table {
        name: "release_notes",
        key: "release_id",
        columns: &[("release_id", Text), ("notes", Json), ("computed_at", Ts)],
        identity: None,
    },
    Table {
        name: "tokens",
        key: "name",
        columns: &[
            ("name", Text),
            ("hash", Text),
            ("role", Text),
            ("products", Json),
            ("env_types", Json),
            ("created_at", Ts),
            ("created_by", Text),
            ("expires_at", Ts),
            ("revoked_at", Ts),
        ],
        identity: None,
    },
    Table {
        name: "freezes",
        key: "name",
        columns: &[("name", Text), ("spec", Json), ("created_by", Text), ("created_at", Ts)],
        identity: None,
    },
    Table {
        name: "sessions",
        key: "hash",
        columns: &[("hash", Text), ("token", Text), ("created_at", Ts), ("expires_at", Ts)],
        identity: None,
    },
    Table {
        name: "audit",
        key: "id",
        columns: &[
            ("id", Int),
            ("at", Ts),
            ("actor", Text),
            ("action", Text),
            ("target", Text),
            ("status", Int4),
            ("outcome", Text),
            ("source", Text),
            ("detail", Text),
        ],
        identity: Some("id"),
    },
    Table {
        name: "notification_failures",
        key: "id",
        columns: &[
            ("id", Int),
            ("notification", Text),
            ("outcome", Text),
            ("attempts", Int),
            ("error", Text),
            ("change", Json),
            ("failed_at", Ts),
            ("redelivered_at", Ts),
            ("redelivered_by", Text),
        ],
        identity: Some("id"),
    },
    Table {
        name: "env_outcomes",
        key: "id",
        columns: &[
            ("id", Int),
            ("release_id", Text),
            ("product", Text),
            ("environment", Text),
            ("flow", Text),
            ("attempt", Int),
            ("status", Text),
            ("after_action", Bool),
            ("committed_at", Ts),
            ("at", Ts),
            ("failure", Bool),
            ("restore_secs", Int),
        ],
        identity: Some("id"),
    },
    Table {
        name: "dora_weeks",
        key: "id",
        columns: &[
            ("id", Int),
            ("product", Text),
            ("environment", Text),
            ("week", Ts),
            ("deployments", Int),
            ("changes", Int),
            ("change_failures", Int),
            ("unrestored", Int),
            ("lead", Json),
            ("restore", Json),
        ],
        identity: Some("id"),
    },
    Table {
        name: "dora_tracks",
        key: "id",
        columns: &[("id", Int), ("product", Text), ("environment", Text), ("track", Json)],
        identity: Some("id"),
    },
];

/// Rows read per page.
const PAGE: usize = 500;

/// Rows of one table read from the source.
struct Page {
    table: usize,
    rows: Vec<Vec<Value>>,
}

/// What was copied: rows per table, in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Table name and rows copied.
    pub tables: Vec<(String, u64)>,
}

/// A boxed PostgreSQL parameter.
type Param = Box<dyn ToSql + Sync + Send>;

fn decode_err(table: &str, column: &str, problem: String) -> StoreError {
    StoreError::Decode {
        what: format!("{table}.{column}"),
        source: serde_json::Error::io(std::io::Error::other(problem)),
    }
}

/// One SQLite value as the PostgreSQL parameter of its column.
fn convert(table: &str, column: &str, kind: Kind, value: Value) -> Result<Param> {
    let wrong = |v: &Value| decode_err(table, column, format!("unexpected value {v:?}"));
    Ok(match (kind, value) {
        (Text, Value::Null) => Box::new(None::<String>),
        (Int, Value::Null) => Box::new(None::<i64>),
        (Int4, Value::Null) => Box::new(None::<i32>),
        (Ts, Value::Null) => Box::new(None::<jiff::Timestamp>),
        (Json, Value::Null) => Box::new(None::<serde_json::Value>),
        (Bool, Value::Null) => Box::new(None::<bool>),
        (Bool, Value::Integer(i)) => Box::new(i != 0),
        (Text, Value::Text(s)) => Box::new(s),
        (Int, Value::Integer(i)) => Box::new(i),
        (Int4, Value::Integer(i)) => {
            Box::new(i32::try_from(i).map_err(|_| decode_err(table, column, format!("{i} is out of range")))?)
        }
        (Ts, Value::Text(s)) => {
            Box::new(jiff::Timestamp::from_str(&s).map_err(|e| decode_err(table, column, format!("time {s:?}: {e}")))?)
        }
        (Json, Value::Text(s)) => Box::new(
            serde_json::from_str::<serde_json::Value>(&s)
                .map_err(|source| StoreError::Decode { what: format!("{table}.{column}"), source })?,
        ),
        (_, other) => return Err(wrong(&other)),
    })
}

/// Reads every table of the SQLite file, page by page, into `pages` (on a blocking thread).
fn read_source(path: &Path, pages: &mpsc::Sender<Page>) -> Result<()> {
    let doing = "reading the SQLite database";
    let sqlite_err = |e: rusqlite::Error| StoreError::Query { doing, source: e.into() };
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Open { location: path.display().to_string(), source: e.into() })?;
    // One snapshot of the whole database.
    conn.execute_batch("BEGIN").map_err(sqlite_err)?;
    for (index, table) in TABLES.iter().enumerate() {
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE ?1 IS NULL OR {key} > ?1 ORDER BY {key} LIMIT {PAGE}",
            columns.join(", "),
            table.name,
            key = table.key
        );
        let key_at = columns.iter().position(|c| *c == table.key).unwrap_or(0);
        let mut stmt = conn.prepare(&sql).map_err(sqlite_err)?;
        let mut after = Value::Null;
        loop {
            let rows: Vec<Vec<Value>> = stmt
                .query_map([&after], |row| (0..columns.len()).map(|i| row.get::<_, Value>(i)).collect())
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Vec<Value>>>>())
                .map_err(sqlite_err)?;
            let Some(last) = rows.last() else { break };
            after = last[key_at].clone();
            let full = rows.len() == PAGE;
            if pages.blocking_send(Page { table: index, rows }).is_err() {
                // The writing side stopped; its error is the answer.
                return Ok(());
            }
            if !full {
                break;
            }
        }
    }
    Ok(())
}

/// Copies the SQLite database at `from` into the PostgreSQL database at `to` (migrated first). A
/// target holding any data is refused unless `force`, which empties it first.
pub async fn sqlite_to_postgres(from: &Path, to: &str, force: bool) -> Result<CopyReport> {
    let source = from.display().to_string();
    if !from.is_file() {
        return Err(StoreError::NotFound(format!("--from: there is no SQLite database at {source}")));
    }
    // The source must be at this build's schema; this checks it without changing it.
    drop(SqliteStore::open_with(from, false).await?);
    let target = PgStore::open(to).await?;
    let mut client = target.client("copying").await?;
    let tx = client.transaction().await.map_err(query_err("starting the copy"))?;
    let names: Vec<&str> =
        TABLES.iter().map(|t| t.name).chain(["leases", "control_requests", "product_turns"]).collect();
    if force {
        tx.batch_execute(&format!("TRUNCATE {} RESTART IDENTITY", names.join(", ")))
            .await
            .map_err(query_err("emptying the target"))?;
    } else {
        let any = names.iter().map(|n| format!("EXISTS (SELECT 1 FROM {n})")).collect::<Vec<_>>().join(" OR ");
        let row = tx.query_one(&format!("SELECT {any}"), &[]).await.map_err(query_err("checking the target"))?;
        if row.get::<_, bool>(0) {
            return Err(StoreError::Conflict(format!(
                "--to {}: the database already holds data; copy into an empty database, or pass --force to replace what it holds",
                target.location()
            )));
        }
    }
    let mut statements = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", table.name, columns.join(", "), marks.join(", "));
        statements.push(tx.prepare(&sql).await.map_err(query_err("preparing the copy"))?);
    }
    let (pages_tx, mut pages) = mpsc::channel(4);
    let path = from.to_owned();
    let reader = tokio::task::spawn_blocking(move || read_source(&path, &pages_tx));
    let mut counts = vec![0u64; TABLES.len()];
    while let Some(page) = pages.recv().await {
        let table = &TABLES[page.table];
        let mut rows = Vec::with_capacity(page.rows.len());
        for values in page.rows {
            let params = table
                .columns
                .iter()
                .zip(values)
                .map(|((column, kind), value)| convert(table.name, column, *kind, value))
                .collect::<Result<Vec<_>>>()?;
            rows.push(params);
        }
        let (statement, tx) = (&statements[page.table], &tx);
        // Pipelined on the one connection.
        let inserts = rows.iter().map(|params| {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            async move { tx.execute(statement, &refs).await }
        });
        futures_util::future::try_join_all(inserts).await.map_err(query_err("copying rows"))?;
        counts[page.table] += rows.len() as u64;
    }
    reader
        .await
        .map_err(|e| StoreError::Internal { doing: "reading the SQLite database", detail: e.to_string() })??;
    for table in TABLES {
        if let Some(column) = table.identity {
            // New ids continue after the copied ones.
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{t}', '{column}'), coalesce((SELECT max({column}) FROM {t}), 0) + 1, false)",
                t = table.name
            );
            tx.execute(&sql, &[]).await.map_err(query_err("moving the id sequences on"))?;
        }
    }
    tx.commit().await.map_err(query_err("committing the copy"))?;
    Ok(CopyReport { tables: TABLES.iter().zip(counts).map(|(t, n)| (t.name.to_owned(), n)).collect() })
}
