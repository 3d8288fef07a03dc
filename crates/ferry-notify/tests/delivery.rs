//! Deliveries to an in-process webhook receiver on 127.0.0.1: body, signature, filters, retries and
//! dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use ferry_model::names::NotificationName;
use ferry_model::resources::{Catalog, Notification, NotificationFilter, NotificationFormat, SecretSource};
use ferry_notify::{Change, Counts, Notifier, Outcome, SIGNATURE_HEADER, Settings, sign};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

/// What the receiver saw: the signature header, the body as JSON and the raw body.
type Seen = (Option<String>, serde_json::Value, Bytes);

/// A receiver answering 500 to its first `failures` requests and 204 after; every request is reported.
async fn receiver(failures: usize) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (tx, count) = (tx.clone(), count.clone());
            async move {
                let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                let _ = tx.send((sig, json, body));
                if count.fetch_add(1, Ordering::SeqCst) < failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), rx)
}

fn notification(name: &str, url: &str, format: NotificationFormat, on: NotificationFilter) -> Notification {
    Notification { name: NotificationName::new(name).expect("name"), url: url.to_owned(), secret: None, format, on }
}

fn start(notifications: Vec<Notification>) -> Notifier {
    let mut catalog = Catalog::default();
    for n in notifications {
        catalog.notifications.insert(n.name.clone(), n);
    }
    let (_tx, rx) = watch::channel(Arc::new(catalog));
    let settings = Settings {
        attempts: 3,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..Settings::default()
    };
    Notifier::start(rx, settings)
}

fn change(product: &str, env: Option<&str>, status: &str) -> Change {
    Change {
        release_id: "01JREL".into(),
        product: product.into(),
        environment: env.map(str::to_owned),
        status: status.into(),
        previous_status: "Running".into(),
        reason: None,
        release_url: "http://127.0.0.1:7878/releases/01JREL".into(),
        timestamp: Timestamp::UNIX_EPOCH,
    }
}

async fn until(notifier: &Notifier, done: impl Fn(&Counts) -> bool) -> Counts {
    let mut counts = notifier.counts();
    *counts.wait_for(|c| done(c)).await.expect("notifier alive")
}

#[tokio::test]
async fn signed_json_body_reaches_the_webhook_and_filters_choose_the_changes() {
    let (url, mut seen) = receiver(0).await;
    let mut signed = notification(
        "prod-failures",
        &url,
        NotificationFormat::Json,
        NotificationFilter {
            products: vec!["shop-*".into()],
            environments: vec!["prod".into()],
            statuses: vec!["Failed".into()],
        },
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "s3cret\n").expect("write secret");
    signed.secret = Some(SecretSource::File(secret_file.display().to_string()));
    let notifier = start(vec![signed]);
    notifier.send(change("billing", Some("prod"), "Failed")); // other product
    notifier.send(change("shop-api", Some("qa"), "Failed")); // other environment
    notifier.send(change("shop-api", Some("prod"), "Successful")); // other status
    notifier.send(change("shop-api", None, "Failed")); // a release change has no environment
    let mut wanted = change("shop-api", Some("prod"), "Failed");
    wanted.reason = Some("health timeout".into());
    notifier.send(wanted);
    let (sig, body, raw) = seen.recv().await.expect("one delivery");
    assert_eq!(sig, Some(sign(b"s3cret", &raw)), "signed with the file's secret (trimmed) over the exact body");
    assert_eq!(
        body,
        serde_json::json!({
            "releaseId": "01JREL", "product": "shop-api", "environment": "prod", "status": "Failed",
            "previousStatus": "Running", "reason": "health timeout",
            "releaseUrl": "http://127.0.0.1:7878/releases/01JREL", "timestamp": "1970-01-01T00:00:00Z"
        })
    );
    let counts = until(&notifier, |c| c.delivered == 1).await;
    assert_eq!(counts.failed, 0);
    assert!(seen.try_recv().is_err(), "only the matching change was delivered");
}

#[tokio::test]
async fn slack_format_sends_text_and_retries_until_the_webhook_accepts() {
    let (url, mut seen) = receiver(2).await;
    let notifier = start(vec![notification("chat", &url, NotificationFormat::Slack, NotificationFilter::default())]);
    notifier.send(change("shop", None, "Succeeded"));
    let counts = until(&notifier, |c| c.delivered + c.failed == 1).await;
    assert_eq!(counts, Counts { delivered: 1, failed: 0 }, "third attempt succeeded");
    let mut bodies = Vec::new();
    while let Ok((sig, body, _)) = seen.try_recv() {
        assert_eq!(sig, None, "no secret, no signature");
        bodies.push(body);
    }
    assert_eq!(bodies.len(), 3, "two failures and one success");
    let text = bodies[2]["text"].as_str().expect("slack text");
    assert!(text.contains("01JREL") && text.contains("Running → Succeeded"), "{text}");
    assert!(notifier.failed().is_empty());
}

#[tokio::test]
async fn a_webhook_that_always_fails_leaves_a_dead_letter() {
    let (url, mut seen) = receiver(usize::MAX).await;
    let notifier = start(vec![notification("down", &url, NotificationFormat::Json, NotificationFilter::default())]);
    notifier.send(change("shop", Some("qa"), "Failed"));
    until(&notifier, |c| c.failed == 1).await;
    let failed = notifier.failed();
    assert_eq!(failed.len(), 1);
    let dead = &failed[0];
    assert_eq!((dead.notification.as_deref(), dead.outcome, dead.attempts), (Some("down"), Outcome::Failed, 3));
    assert!(dead.error.contains("500"), "{}", dead.error);
    assert_eq!(dead.change, change("shop", Some("qa"), "Failed"));
    let mut tries = 0;
    while seen.try_recv().is_ok() {
        tries += 1;
    }
    assert_eq!(tries, 3, "bounded attempts");
}

#[tokio::test]
async fn a_missing_secret_is_a_dead_letter_naming_the_variable_not_a_value() {
    let mut n =
        notification("nosecret", "http://127.0.0.1:9/hook", NotificationFormat::Json, NotificationFilter::default());
    n.secret = Some(SecretSource::Env("FERRY_NOTIFY_UNSET_VARIABLE".into()));
    let notifier = start(vec![n]);
    notifier.send(change("shop", None, "Failed"));
    until(&notifier, |c| c.failed == 1).await;
    let dead = &notifier.failed()[0];
    assert_eq!(dead.attempts, 0, "nothing is sent unsigned");
    assert!(dead.error.contains("FERRY_NOTIFY_UNSET_VARIABLE"), "{}", dead.error);
}

/// A notifier over `notifications` with `settings`, handing failures to the returned receiver too.
fn start_with_sink(
    notifications: Vec<Notification>,
    settings: Settings,
) -> (Notifier, mpsc::UnboundedReceiver<ferry_notify::FailedDelivery>) {
    let mut catalog = Catalog::default();
    for n in notifications {
        catalog.notifications.insert(n.name.clone(), n);
    }
    let (_tx, rx) = watch::channel(Arc::new(catalog));
    let (sink, failures) = mpsc::unbounded_channel();
    (Notifier::start_with_sink(rx, settings, Some(sink)), failures)
}

// A current-thread runtime: the delivery task cannot take a change off the queue between the sends.
#[tokio::test]
async fn a_full_queue_drops_changes_at_once_and_hands_them_to_the_sink() {
    let (url, mut seen) = receiver(0).await;
    let ops = notification("ops", &url, NotificationFormat::Json, NotificationFilter::default());
    let (notifier, mut failures) = start_with_sink(vec![ops], Settings { queue: 2, ..Settings::default() });
    for env in ["a", "b", "c", "d", "e"] {
        // Never waits, whatever the queue holds.
        notifier.send(change("shop", Some(env), "Running"));
    }
    let dropped: Vec<_> = std::iter::from_fn(|| failures.try_recv().ok()).collect();
    let envs: Vec<_> = dropped.iter().map(|d| d.change.environment.clone().unwrap_or_default()).collect();
    assert_eq!(envs, ["c", "d", "e"], "the two that fit wait, the rest are dropped at once");
    for d in &dropped {
        assert_eq!((d.outcome, d.notification.as_deref(), d.attempts), (Outcome::Dropped, None, 0));
        assert_eq!(d.error, "the notification queue is full");
    }
    let counts = until(&notifier, |c| c.delivered == 2).await;
    assert_eq!(counts.failed, 3);
    let delivered: Vec<_> = [seen.recv().await, seen.recv().await]
        .into_iter()
        .map(|s| s.expect("delivered").1["environment"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(delivered.len(), 2);
    assert!(delivered.iter().all(|e| e == "a" || e == "b"), "{delivered:?}");
    assert_eq!(notifier.failed().len(), 3);
    assert!(failures.try_recv().is_err());
}

#[tokio::test]
async fn a_redelivery_goes_to_the_named_notification_or_to_every_match_of_a_dropped_change() {
    let (url, mut seen) = receiver(0).await;
    let shop_only = NotificationFilter { products: vec!["shop".into()], environments: vec![], statuses: vec![] };
    let notifier = start(vec![notification("ops", &url, NotificationFormat::Json, shop_only)]);
    // A dead letter of `ops`: to `ops` as configured now.
    assert_eq!(notifier.check_redelivery(Some("ops"), &change("shop", None, "Failed")), Ok(()));
    assert_eq!(notifier.redeliver(Some("ops"), change("shop", None, "Failed")), Ok(1));
    let (_, body, _) = seen.recv().await.expect("redelivered");
    assert_eq!((body["product"].as_str(), body["status"].as_str()), (Some("shop"), Some("Failed")));
    // A dropped change: to every notification matching it now.
    assert_eq!(notifier.redeliver(None, change("shop", Some("qa"), "Successful")), Ok(1));
    let (_, body, _) = seen.recv().await.expect("redelivered");
    assert_eq!(body["environment"], "qa");
    until(&notifier, |c| c.delivered == 2).await;
    // Refusals start nothing.
    let gone = notifier.redeliver(Some("gone"), change("shop", None, "Failed")).unwrap_err();
    assert_eq!(gone, ferry_notify::RedeliverError::Unknown("gone".into()));
    assert_eq!(gone.to_string(), "notification gone is no longer configured");
    let cart = change("cart", None, "Failed");
    assert_eq!(notifier.check_redelivery(None, &cart), Err(ferry_notify::RedeliverError::NoMatch));
    assert_eq!(notifier.redeliver(None, cart), Err(ferry_notify::RedeliverError::NoMatch));
    assert!(seen.try_recv().is_err());
}
