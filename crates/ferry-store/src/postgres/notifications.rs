//! Failed outgoing notifications in PostgreSQL: recorded, marked redelivered, read.

use jiff::Timestamp;
use tokio_postgres::{Row, Transaction};

use super::query_err;
use super::rows::get;
use crate::{NotificationFailureRow, Result, StoreError, WriteOutcome};

pub(super) const COLUMNS: &str =
    "id, notification, outcome, attempts, error, change, failed_at, redelivered_at, redelivered_by";

pub(super) async fn write(tx: &Transaction<'_>, row: &NotificationFailureRow) -> Result<WriteOutcome> {
    let created = tx
        .query_one(
            "INSERT INTO notification_failures (notification, outcome, attempts, error, change, failed_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&row.notification, &row.outcome, &row.attempts, &row.error, &row.change, &row.failed_at],
        )
        .await
        .map_err(query_err("recording a failed notification"))?;
    Ok(WriteOutcome::NotificationFailure(created.get(0)))
}

/// Marks it redelivered unless it already is: the conditional update decides between concurrent
/// redeliveries (on any replica).
pub(super) async fn redelivered(tx: &Transaction<'_>, id: i64, by: &str, at: Timestamp) -> Result<WriteOutcome> {
    let doing = "marking a failed notification redelivered";
    let updated = tx
        .execute(
            "UPDATE notification_failures SET redelivered_at = $2, redelivered_by = $3
             WHERE id = $1 AND redelivered_at IS NULL",
            &[&id, &at, &by],
        )
        .await
        .map_err(query_err(doing))?;
    if updated == 1 {
        return Ok(WriteOutcome::Done);
    }
    let who = tx
        .query_opt("SELECT redelivered_by FROM notification_failures WHERE id = $1", &[&id])
        .await
        .map_err(query_err(doing))?;
    Err(match who {
        None => StoreError::NotFound(format!("there is no failed notification {id}")),
        Some(row) => {
            let who: Option<String> = get(&row, "redelivered_by", doing)?;
            StoreError::Conflict(format!(
                "failed notification {id} was already redelivered by {}",
                who.unwrap_or_default()
            ))
        }
    })
}

pub(super) async fn prune(tx: &Transaction<'_>, before: &Timestamp) -> Result<()> {
    tx.execute("DELETE FROM notification_failures WHERE failed_at < $1", &[before])
        .await
        .map_err(query_err("pruning failed notifications"))?;
    Ok(())
}

pub(super) fn from_row(row: &Row, doing: &'static str) -> Result<NotificationFailureRow> {
    Ok(NotificationFailureRow {
        id: Some(get(row, "id", doing)?),
        notification: get(row, "notification", doing)?,
        outcome: get(row, "outcome", doing)?,
        attempts: get(row, "attempts", doing)?,
        error: get(row, "error", doing)?,
        change: get(row, "change", doing)?,
        failed_at: get(row, "failed_at", doing)?,
        redelivered_at: get(row, "redelivered_at", doing)?,
        redelivered_by: get(row, "redelivered_by", doing)?,
    })
}
