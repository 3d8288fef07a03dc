//! Outgoing notifications (SPEC §6.6): release and environment status changes POSTed to the webhooks
//! of the catalog's `Notification` resources.
//!
//! The engine hands each change to [`Notifier::send`], which never waits: changes go through a bounded
//! channel to a delivery task, and a change that finds the channel full is recorded as dropped. The
//! task matches the change against every notification's filters and delivers each match on its own
//! task: a JSON (or Slack `{"text": …}`) body, signed with `X-Ferry-Signature-256: sha256=<hex
//! HMAC-SHA256 of the body>` when the notification has a secret, retried with exponential backoff and
//! jitter up to [`Settings::attempts`] times, at most [`Settings::concurrency`] at once (a change
//! waits in the queue for a free delivery, so a flood fills the queue and is dropped rather than
//! held). A delivery whose last attempt failed is a dead letter; dead letters and dropped changes are
//! kept in memory ([`Notifier::failed`]) and handed to the dead-letter sink (the engine stores them),
//! and an admin can [`redeliver`](Notifier::redeliver) one. Secrets are read at delivery time and
//! never logged.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_model::resources::{Catalog, Notification, NotificationFormat, SecretSource};
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc, watch};

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
    /// Deliveries under way at once (at least 1).
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            queue: 1024,
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            concurrency: 32,
        }
    }
}

/// A release or environment status change: the JSON body of a `json` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Every attempt failed (a dead letter).
    Failed,
    /// The queue was full; the change was never matched against the notifications.
    Dropped,
}

impl Outcome {
    /// The serde spelling: `failed` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Failed => "failed",
            Outcome::Dropped => "dropped",
        }
    }
}

/// Where the notifier hands each dead letter and dropped change besides its memory (the engine
/// writes them to the store).
pub type DeadLetterSink = mpsc::UnboundedSender<FailedDelivery>;

/// Why a redelivery could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeliverError {
    /// The notification is no longer in the applied configuration.
    #[error("notification {0} is no longer configured")]
    Unknown(String),
    /// A dropped change that no notification's filters match any more.
    #[error("no notification matches the change any more")]
    NoMatch,
    /// The notifier could not build its HTTP client.
    #[error("notifications are off: {0}")]
    Off(String),
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
    sink: Option<DeadLetterSink>,
    catalog: watch::Receiver<Arc<Catalog>>,
    settings: Settings,
    /// The HTTP client, or why there is none.
    client: Result<reqwest::Client, String>,
    /// One permit per delivery under way.
    permits: Arc<Semaphore>,
}

impl Notifier {
    /// Starts the delivery task (on the current Tokio runtime), reading the notifications of the
    /// catalog `catalog` holds at each change.
    pub fn start(catalog: watch::Receiver<Arc<Catalog>>, settings: Settings) -> Notifier {
        Notifier::start_with_sink(catalog, settings, None)
    }

    /// [`start`](Notifier::start), handing every dead letter and dropped change to `sink` too.
    pub fn start_with_sink(
        catalog: watch::Receiver<Arc<Catalog>>,
        settings: Settings,
        sink: Option<DeadLetterSink>,
    ) -> Notifier {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"));
        if let Err(e) = &client {
            tracing::error!("notifications are off: {e}");
        }
        let notifier = Notifier {
            changes: tx,
            record: Arc::default(),
            counts: watch::Sender::new(Counts::default()),
            sink,
            catalog,
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            client,
        };
        tokio::spawn(run(rx, notifier.clone()));
        notifier
    }

    /// Delivers `change` again (an admin's redelivery of a failed notification): to `notification`
    /// as the applied configuration has it now, or, for a dropped change (`None`), to every
    /// notification whose filters match it. Returns at once with the number of deliveries started;
    /// one that fails again is a new dead letter.
    pub fn redeliver(&self, notification: Option<&str>, change: Change) -> Result<usize, RedeliverError> {
        let client = self.client.clone().map_err(RedeliverError::Off)?;
        let chosen = self.redelivery_targets(notification, &change)?;
        for n in &chosen {
            let job = Delivery { client: client.clone(), notification: n.clone(), change: change.clone() };
            let (permits, notifier) = (self.permits.clone(), self.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else { return };
                job.run(notifier).await;
            });
        }
        Ok(chosen.len())
    }

    /// Whether [`redeliver`](Notifier::redeliver) would start a delivery, without starting one.
    pub fn check_redelivery(&self, notification: Option<&str>, change: &Change) -> Result<(), RedeliverError> {
        self.client.as_ref().map_err(|e| RedeliverError::Off(e.clone()))?;
        self.redelivery_targets(notification, change).map(drop)
    }

    /// The notifications a redelivery goes to (never empty).
    fn redelivery_targets(
        &self,
        notification: Option<&str>,
        change: &Change,
    ) -> Result<Vec<Notification>, RedeliverError> {
        let catalog = self.catalog.borrow().clone();
        let chosen: Vec<Notification> = match notification {
            Some(name) => {
                let n = catalog.notifications.values().find(|n| n.name.as_str() == name);
                vec![n.cloned().ok_or_else(|| RedeliverError::Unknown(name.to_owned()))?]
            }
            None => catalog
                .notifications
                .values()
                .filter(|n| n.on.matches(&change.product, change.environment.as_deref(), &change.status))
                .cloned()
                .collect(),
        };
        if chosen.is_empty() {
            return Err(RedeliverError::NoMatch);
        }
        Ok(chosen)
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

    /// Failed and dropped deliveries of this process, oldest first (the last 1000; the sink keeps
    /// them across restarts).
    pub fn failed(&self) -> Vec<FailedDelivery> {
        self.record.lock().map(|r| r.failed.iter().cloned().collect()).unwrap_or_default()
    }

    /// Counts of finished deliveries; changes whenever one finishes.
    pub fn counts(&self) -> watch::Receiver<Counts> {
        self.counts.subscribe()
    }

    fn give_up(&self, delivery: FailedDelivery) {
        ::metrics::counter!("ferry_notifications_total", "outcome" => delivery.outcome.as_str()).increment(1);
        if let Some(sink) = &self.sink {
            let _ = sink.send(delivery.clone());
        }
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

/// Takes the changes off the queue and starts a delivery for each notification matching one, waiting
/// for a free delivery permit first (so a flood fills the queue instead of piling up tasks).
async fn run(mut changes: mpsc::Receiver<Change>, notifier: Notifier) {
    let Ok(client) = notifier.client.clone() else { return };
    while let Some(change) = changes.recv().await {
        let current = notifier.catalog.borrow().clone();
        for n in current.notifications.values() {
            if n.on.matches(&change.product, change.environment.as_deref(), &change.status) {
                let Ok(permit) = notifier.permits.clone().acquire_owned().await else { return };
                let job = Delivery { client: client.clone(), notification: n.clone(), change: change.clone() };
                let notifier = notifier.clone();
                tokio::spawn(async move {
                    job.run(notifier).await;
                    drop(permit);
                });
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
    async fn run(self, notifier: Notifier) {
        let settings = &notifier.settings;
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
                tokio::time::sleep(backoff(settings, attempt - 1)).await;
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
