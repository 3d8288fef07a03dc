//! The admin page of failed notifications (SPEC §6.6): the dead letters and dropped changes the store
//! keeps, newest first, each with a button that redelivers it once.

use askama::Template;
use ferry_store::NotificationFailureRow;

use super::{PageMeta, crumb, here, release_href, short_id};
use crate::ui::format::{iso, time};

/// The page's address.
pub(crate) const FAILED_NOTIFICATIONS: &str = "/notifications/failed";

/// One failed notification as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct FailedRow {
    pub(crate) id: i64,
    /// `failed` or `dropped`.
    pub(crate) outcome: String,
    /// The notification's name (`—` for a dropped change).
    pub(crate) notification: String,
    pub(crate) attempts: i64,
    pub(crate) error: String,
    pub(crate) failed_at: String,
    pub(crate) failed_iso: String,
    /// What changed: `shop · prod → Failed`.
    pub(crate) change: String,
    /// The release's page and short id, when the change names a release.
    pub(crate) release: Option<(String, String)>,
    /// `by alice at …` once redelivered.
    pub(crate) redelivered: Option<String>,
    /// Where its redeliver button posts.
    pub(crate) action: String,
}

/// `GET /notifications/failed`.
#[derive(Template)]
#[template(path = "notifications.html")]
pub(crate) struct FailedNotificationsPage {
    pub(crate) page: PageMeta,
    pub(crate) rows: Vec<FailedRow>,
    /// Why the last redelivery was refused.
    pub(crate) error: Option<String>,
}

/// The page with `rows` as the store lists them (newest first).
pub(crate) fn failed_notifications(rows: &[NotificationFailureRow], error: Option<String>) -> FailedNotificationsPage {
    let page = PageMeta::new("Failed notifications", vec![crumb("Products", "/"), here("Failed notifications")]);
    let rows = rows.iter().filter_map(failed_row).collect();
    FailedNotificationsPage { page, rows, error }
}

fn failed_row(r: &NotificationFailureRow) -> Option<FailedRow> {
    let id = r.id?;
    let text = |k: &str| r.change.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (product, env, status) = (text("product"), text("environment"), text("status"));
    let change = match env.as_str() {
        "" => format!("{product} → {status}"),
        env => format!("{product} · {env} → {status}"),
    };
    let release = Some(text("releaseId")).filter(|r| !r.is_empty()).map(|r| (release_href(&r), short_id(&r)));
    let redelivered = r.redelivered_by.as_ref().map(|by| format!("by {by} at {}", time(r.redelivered_at)));
    Some(FailedRow {
        id,
        outcome: r.outcome.clone(),
        notification: r.notification.clone().unwrap_or_else(|| "—".to_owned()),
        attempts: r.attempts,
        error: r.error.clone(),
        failed_at: time(Some(r.failed_at)),
        failed_iso: iso(Some(r.failed_at)),
        change,
        release,
        redelivered,
        action: format!("{FAILED_NOTIFICATIONS}/{id}/redeliver"),
    })
}
