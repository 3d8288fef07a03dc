//! Failed outgoing notifications in SQLite: recorded, marked redelivered, read.

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{Row, all, first, fmt_ts, json, query_err};
use crate::{NotificationFailureRow, Result, StoreError, WriteOutcome};

const COLUMNS: &str = "id, notification, outcome, attempts, error, change, failed_at, redelivered_at, redelivered_by";

pub(super) fn write(conn: &Connection, row: &NotificationFailureRow) -> Result<WriteOutcome> {
    let change = serde_json::to_string(&row.change)
        .map_err(|source| StoreError::Decode { what: "notification change".into(), source })?;
    conn.prepare_cached(
        "INSERT INTO notification_failures (notification, outcome, attempts, error, change, failed_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![row.notification, row.outcome, row.attempts, row.error, change, fmt_ts(row.failed_at)])
    })
    .map_err(query_err("recording a failed notification"))?;
    Ok(WriteOutcome::NotificationFailure(conn.last_insert_rowid()))
}

pub(super) fn redelivered(conn: &Connection, id: i64, by: &str, at: jiff::Timestamp) -> Result<WriteOutcome> {
    let doing = "marking a failed notification redelivered";
    let current: Option<Option<String>> = conn
        .prepare_cached("SELECT redelivered_by FROM notification_failures WHERE id = ?")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(query_err(doing))?;
    match current {
        None => Err(StoreError::NotFound(format!("there is no failed notification {id}"))),
        Some(Some(who)) => {
            Err(StoreError::Conflict(format!("failed notification {id} was already redelivered by {who}")))
        }
        Some(None) => {
            conn.prepare_cached("UPDATE notification_failures SET redelivered_at = ?, redelivered_by = ? WHERE id = ?")
                .and_then(|mut s| s.execute(params![fmt_ts(at), by, id]))
                .map_err(query_err(doing))?;
            Ok(WriteOutcome::Done)
        }
    }
}

pub(super) fn prune(conn: &Connection, before: jiff::Timestamp) -> Result<()> {
    conn.prepare_cached("DELETE FROM notification_failures WHERE failed_at < ?")
        .and_then(|mut s| s.execute([fmt_ts(before)]))
        .map_err(query_err("pruning failed notifications"))?;
    Ok(())
}

fn from_row(row: &Row) -> Result<NotificationFailureRow> {
    let id: i64 = row.get("id")?;
    let what = "failed notification";
    Ok(NotificationFailureRow {
        id: Some(id),
        notification: row.get("notification")?,
        outcome: row.get("outcome")?,
        attempts: row.get("attempts")?,
        error: row.get("error")?,
        change: json(&row.get::<String>("change")?, &format!("failed notification {id} change"))?,
        failed_at: row.ts("failed_at", what)?,
        redelivered_at: row.opt_ts("redelivered_at", what)?,
        redelivered_by: row.get("redelivered_by")?,
    })
}

pub(super) fn list(conn: &Connection, limit: u32) -> Result<Vec<NotificationFailureRow>> {
    let sql = format!("SELECT {COLUMNS} FROM notification_failures ORDER BY id DESC LIMIT ?");
    all(conn, "reading failed notifications", &sql, [i64::from(limit.clamp(1, 1000))], from_row)
}

pub(super) fn one(conn: &Connection, id: i64) -> Result<Option<NotificationFailureRow>> {
    let sql = format!("SELECT {COLUMNS} FROM notification_failures WHERE id = ?");
    first(conn, "reading a failed notification", &sql, [id], from_row)
}
