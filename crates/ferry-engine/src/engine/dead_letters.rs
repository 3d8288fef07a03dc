//! Failed outgoing notifications kept in the store: the notifier hands each dead letter and dropped
//! change to a channel, and this task writes them (several to a write), so they outlive the process
//! and an admin can list and redeliver them.

use ferry_notify::FailedDelivery;
use ferry_store::{NotificationFailureRow, Store, Write};
use tokio::sync::{mpsc, watch};

/// Most failures written in one store write.
const BATCH: usize = 256;

/// A failed delivery as its store row.
fn row(delivery: FailedDelivery) -> NotificationFailureRow {
    NotificationFailureRow {
        id: None,
        notification: delivery.notification,
        outcome: delivery.outcome.as_str().to_owned(),
        attempts: i64::from(delivery.attempts),
        error: delivery.error,
        change: serde_json::to_value(&delivery.change).unwrap_or(serde_json::Value::Null),
        failed_at: delivery.at,
        redelivered_at: None,
        redelivered_by: None,
    }
}

/// Writes what `failures` brings until every sender is gone, counting the failures written in
/// `stored`.
pub(super) async fn store_failures<S: Store>(
    store: S,
    mut failures: mpsc::UnboundedReceiver<FailedDelivery>,
    stored: watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while failures.recv_many(&mut batch, BATCH).await > 0 {
        let writes: Vec<Write> = batch.drain(..).map(|d| Write::NotificationFailure(Box::new(row(d)))).collect();
        let count = writes.len();
        match store.write(writes).await {
            Ok(outcomes) => {
                let mut written = 0;
                for outcome in outcomes {
                    match outcome {
                        Ok(_) => written += 1,
                        Err(e) => tracing::warn!(error = %e, "cannot store a failed notification"),
                    }
                }
                stored.send_modify(|n| *n += written);
            }
            Err(e) => tracing::warn!(error = %e, count, "cannot store failed notifications"),
        }
    }
}
