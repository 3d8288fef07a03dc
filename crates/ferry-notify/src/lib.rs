//! Outgoing notifications (SPEC §6.6): release and environment status changes POSTed to the webhooks
//! of the catalog's `Notification` resources.
//!
//! The engine hands each change to [`Notifier::send`], which never waits: changes go through a bounded
//! channel to a delivery task, and a change that finds the channel full is recorded as dropped. The
//! task matches the change against every notification's filters and delivers each match on its own
//! task: a JSON (or Slack `{"text": …}`) body, signed with `X-Ferry-Signature-256: sha256=<hex
//! HMAC-SHA256 of the body>` when the notification has a secret, retried with exponential backoff and
//! jitter up to [`Settings::attempts`] times. A delivery whose last attempt failed is kept as a
//! dead letter ([`Notifier::deliveries`]); secrets are read at delivery time and never logged.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_model::resources::{Catalog, Notification, NotificationFormat, SecretSource};
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::{mpsc, watch};

/// The signature header of outgoing notifications.
pub const SIGNATURE_HEADER: &str = "X-Ferry-Signature-256";

/// Most failed and dropped deliveries kept (the oldest are forgotten first).
const KEPT: usize = 1000;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Changes waiting for the delivery task before new ones are dropped.
    pub queue: usize,
    /// Attempts per delivery (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further attempt, with jitter.
    pub backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            queue: 1024,
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A release or environment status change: the JSON body of a `json` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The release.
    pub release_id: String,
    /// Its product.
    pub product: String,
    /// The environment whose status changed; `None` for a change of the release's own status.
    pub environment: Option<String>,
    /// The new status (as in the API: `Succeeded`, `Failed`, `Successful`, ...).
    pub status: String,
    /// The status before the change.
    pub previous_status: String,
    /// Why, when the release recorded a reason.
    pub reason: Option<String>,
    /// The release's page.
    pub release_url: String,
    /// When the change was committed.
    pub timestamp: Timestamp,
}

impl Change {
    /// The Slack-compatible one-line message.
    pub fn text(&self) -> String {
        let subject = match &self.environment {
            Some(env) => format!("{} in {env}", self.product),
            None => self.product.clone(),
        };
        let reason = self.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        format!(
            "Ferry release {} of {subject}: {} → {}{reason} <{}>",
            self.release_id, self.previous_status, self.status, self.release_url
        )
    }
}

/// Why a delivery is in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Every attempt failed (a dead letter).
    Failed,
    /// The queue was full; the change was never matched against the notifications.
    Dropped,
}

/// A delivery that did not reach its webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedDelivery {
    /// The notification (`None` for a dropped change, which no notification was chosen for).
    pub notification: Option<String>,
    /// Failed or dropped.
    pub outcome: Outcome,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// When it was given up.
    pub at: Timestamp,
    /// The change.
    pub change: Change,
}

#[derive(Default)]
struct Record {
    failed: VecDeque<FailedDelivery>,
}

impl Record {
    fn push(&mut self, delivery: FailedDelivery) {
        if self.failed.len() == KEPT {
            self.failed.pop_front();
        }
        self.failed.push_back(delivery);
    }
}

/// Counts of finished deliveries, for waiting on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Deliveries a webhook accepted.
    pub delivered: u64,
    /// Deliveries given up (dead letters) or dropped.
    pub failed: u64,
}

/// The sending side of notifications; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    changes: mpsc::Sender<Change>,
    record: Arc<Mutex<Record>>,
    counts: watch::Sender<Counts>,
}

impl Notifier {
    /// Starts the delivery task (on the current Tokio runtime), reading the notifications of the
    /// catalog `catalog` holds at each change.
    pub fn start(catalog: watch::Receiver<Arc<Catalog>>, settings: Settings) -> Notifier {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let notifier = Notifier { changes: tx, record: Arc::default(), counts: watch::Sender::new(Counts::default()) };
        tokio::spawn(run(rx, catalog, settings, notifier.clone()));
        notifier
    }

    /// Hands `change` to the delivery task without waiting; records it as dropped when the queue is full.
    pub fn send(&self, change: Change) {
        if let Err(e) = self.changes.try_send(change) {
            let (error, change) = match e {
                mpsc::error::TrySendError::Full(c) => ("the notification queue is full", c),
                mpsc::error::TrySendError::Closed(c) => ("the notification task has stopped", c),
            };
            tracing::warn!(release = %change.release_id, "notification dropped: {error}");
            self.give_up(FailedDelivery {
                notification: None,
                outcome: Outcome::Dropped,
                attempts: 0,
                error: error.to_owned(),
                at: Timestamp::now(),
                change,
            });
        }
    }

    /// Failed and dropped deliveries, oldest first (the last 1000).
    pub fn failed(&self) -> Vec<FailedDelivery> {
        self.record.lock().map(|r| r.failed.iter().cloned().collect()).unwrap_or_default()
    }

    /// Counts of finished deliveries; changes whenever one finishes.
    pub fn counts(&self) -> watch::Receiver<Counts> {
        self.counts.subscribe()
    }

    fn give_up(&self, delivery: FailedDelivery) {
        ::metrics::counter!("ferry_notifications_total", "outcome" => match delivery.outcome {
            Outcome::Failed => "failed",
            Outcome::Dropped => "dropped",
        })
        .increment(1);
        if let Ok(mut r) = self.record.lock() {
            r.push(delivery);
        }
        self.counts.send_modify(|c| c.failed += 1);
    }

    fn delivered(&self) {
        ::metrics::counter!("ferry_notifications_total", "outcome" => "delivered").increment(1);
        self.counts.send_modify(|c| c.delivered += 1);
    }
}

async fn run(
    mut changes: mpsc::Receiver<Change>,
    catalog: watch::Receiver<Arc<Catalog>>,
    settings: Settings,
    notifier: Notifier,
) {
    let client = match reqwest::Client::builder().timeout(settings.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("notifications are off: cannot build the HTTP client: {e}");
            return;
        }
    };
    while let Some(change) = changes.recv().await {
        let current = catalog.borrow().clone();
        for n in current.notifications.values() {
            if n.on.matches(&change.product, change.environment.as_deref(), &change.status) {
                let job = Delivery { client: client.clone(), notification: n.clone(), change: change.clone() };
                tokio::spawn(job.run(settings.clone(), notifier.clone()));
            }
        }
    }
}

struct Delivery {
    client: reqwest::Client,
    notification: Notification,
    change: Change,
}

impl Delivery {
    async fn run(self, settings: Settings, notifier: Notifier) {
        let name = self.notification.name.to_string();
        let (body, signature) = match self.prepare() {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::warn!(notification = %name, "notification not sent: {error}");
                let at = Timestamp::now();
                let change = self.change;
                notifier.give_up(FailedDelivery {
                    notification: Some(name),
                    outcome: Outcome::Failed,
                    attempts: 0,
                    error,
                    at,
                    change,
                });
                return;
            }
        };
        let attempts = settings.attempts.max(1);
        let mut error = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(backoff(&settings, attempt - 1)).await;
            }
            match self.post(&body, signature.as_deref()).await {
                Ok(()) => {
                    tracing::debug!(notification = %name, release = %self.change.release_id, attempt, "notification delivered");
                    notifier.delivered();
                    return;
                }
                Err(e) => {
                    tracing::info!(notification = %name, release = %self.change.release_id, attempt, "notification attempt failed: {e}");
                    error = e;
                }
            }
        }
        tracing::warn!(notification = %name, release = %self.change.release_id, attempts, "notification given up: {error}");
        let change = self.change;
        notifier.give_up(FailedDelivery {
            notification: Some(name),
            outcome: Outcome::Failed,
            attempts,
            error,
            at: Timestamp::now(),
            change,
        });
    }

    /// The body and, with a secret, its signature header value.
    fn prepare(&self) -> Result<(Vec<u8>, Option<String>), String> {
        let body = match self.notification.format {
            NotificationFormat::Json => serde_json::to_vec(&self.change),
            NotificationFormat::Slack => serde_json::to_vec(&serde_json::json!({ "text": self.change.text() })),
        }
        .map_err(|e| format!("cannot encode the body: {e}"))?;
        let signature = match &self.notification.secret {
            None => None,
            Some(source) => Some(sign(read_secret(source)?.as_bytes(), &body)),
        };
        Ok((body, signature))
    }

    /// One attempt. Errors leave the URL out: webhook URLs (Slack's, for one) carry credentials.
    async fn post(&self, body: &[u8], signature: Option<&str>) -> Result<(), String> {
        let mut request = self
            .client
            .post(&self.notification.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            request = request.header(SIGNATURE_HEADER, sig);
        }
        let response = request.send().await.map_err(|e| format!("request failed: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(format!("the webhook answered {status}")) }
    }
}

/// The secret named by `source`; errors name the variable or file, never the value.
fn read_secret(source: &SecretSource) -> Result<String, String> {
    let text = match source {
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| format!("the secret's environment variable {var} is not set"))?
        }
        SecretSource::File(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the secret file {path}: {e}"))?
        }
    };
    let secret = text.trim();
    if secret.is_empty() {
        return Err("the notification secret is empty".to_owned());
    }
    Ok(secret.to_owned())
}

/// `sha256=<hex HMAC-SHA256 of body>`: the value of [`SIGNATURE_HEADER`], the scheme of the
/// `X-Hub-Signature-256` header the server verifies on inbound webhooks.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before retry `retry` (1 = before the second attempt): `backoff · 2^(retry-1)`, capped at
/// `max_backoff`, then scaled by a jitter factor in [0.5, 1).
fn backoff(settings: &Settings, retry: u32) -> Duration {
    let exp = settings.backoff.saturating_mul(1u32 << (retry - 1).min(20)).min(settings.max_backoff);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = 0.5 + f64::from(nanos % 1000) / 2000.0;
    exp.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let s =
            Settings { backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(5), ..Settings::default() };
        for (retry, full) in [(1, 1), (2, 2), (3, 4), (4, 5), (30, 5)] {
            let d = backoff(&s, retry);
            let full = Duration::from_secs(full);
            assert!(d >= full / 2 && d < full, "retry {retry}: {d:?} outside [{:?}, {full:?})", full / 2);
        }
    }

    #[test]
    fn signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn slack_text_names_release_product_environment_and_statuses() {
        let change = Change {
            release_id: "r1".into(),
            product: "shop".into(),
            environment: Some("prod".into()),
            status: "Failed".into(),
            previous_status: "Running".into(),
            reason: Some("health timeout".into()),
            release_url: "http://127.0.0.1:7878/releases/r1".into(),
            timestamp: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(
            change.text(),
            "Ferry release r1 of shop in prod: Running → Failed: health timeout <http://127.0.0.1:7878/releases/r1>"
        );
    }
}
