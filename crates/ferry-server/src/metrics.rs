//! In-process metrics in the Prometheus text format.
//!
//! Counters start at zero when the process starts (Prometheus `rate()` handles restarts). Release events
//! are counted from the store's commit broadcast, so every replica counts the events it sees committed;
//! the number of active releases is read from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use ferry_store::StoredEvent;
use tokio::sync::{broadcast, watch};

/// Most distinct event types tracked with their own label (the rest count as `other`).
const MAX_EVENT_TYPES: usize = 64;

/// Counters and gauges of one server process.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    events_committed: AtomicU64,
    event_types: Mutex<BTreeMap<String, u64>>,
    sse_subscribers: AtomicI64,
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
}

/// Decrements the SSE subscriber gauge when a stream ends.
#[derive(Debug)]
pub(crate) struct SubscriberGuard(Arc<Metrics>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.sse_subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind: still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// Counts one committed event.
    pub(crate) fn event_committed(&self, event: &StoredEvent) {
        self.events_committed.fetch_add(1, Ordering::Relaxed);
        let kind = event.body.get("type").and_then(|t| t.as_str()).unwrap_or("unknown");
        let mut types = lock(&self.event_types);
        if let Some(n) = types.get_mut(kind) {
            *n += 1;
        } else if types.len() < MAX_EVENT_TYPES && kind.len() <= 64 {
            types.insert(kind.to_owned(), 1);
        } else {
            *types.entry("other".to_owned()).or_insert(0) += 1;
        }
    }

    /// Counts events the counter missed because it lagged behind the broadcast (type unknown).
    pub(crate) fn events_missed(&self, n: u64) {
        self.events_committed.fetch_add(n, Ordering::Relaxed);
        *lock(&self.event_types).entry("unknown".to_owned()).or_insert(0) += n;
    }

    /// Registers an SSE subscriber until the guard is dropped.
    pub(crate) fn subscriber(self: &Arc<Self>) -> SubscriberGuard {
        self.sse_subscribers.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard(self.clone())
    }

    fn http_request(&self, method: &str, route: &str, status: u16) {
        *lock(&self.http).entry((method.to_owned(), route.to_owned(), status)).or_insert(0) += 1;
    }

    /// Renders every metric; `active_releases` is read from the store by the caller.
    pub(crate) fn render(&self, active_releases: Option<usize>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP ferry_events_committed_total Release events committed, seen by this process.");
        let _ = writeln!(out, "# TYPE ferry_events_committed_total counter");
        let _ = writeln!(out, "ferry_events_committed_total {}", self.events_committed.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP ferry_release_events_total Release events committed by event type (type=\"Created\" counts new releases)."
        );
        let _ = writeln!(out, "# TYPE ferry_release_events_total counter");
        for (kind, n) in lock(&self.event_types).iter() {
            let _ = writeln!(out, "ferry_release_events_total{{type=\"{}\"}} {n}", escape(kind));
        }
        if let Some(active) = active_releases {
            let _ = writeln!(
                out,
                "# HELP ferry_active_releases Releases not in a final status (Queued, Running, Suspended, Terminating)."
            );
            let _ = writeln!(out, "# TYPE ferry_active_releases gauge");
            let _ = writeln!(out, "ferry_active_releases {active}");
        }
        let _ = writeln!(out, "# HELP ferry_sse_subscribers Open Server-Sent Events streams.");
        let _ = writeln!(out, "# TYPE ferry_sse_subscribers gauge");
        let _ = writeln!(out, "ferry_sse_subscribers {}", self.sse_subscribers.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP ferry_http_requests_total HTTP requests answered, by method, route and status.");
        let _ = writeln!(out, "# TYPE ferry_http_requests_total counter");
        for ((method, route, status), n) in lock(&self.http).iter() {
            let _ = writeln!(
                out,
                "ferry_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        let _ = writeln!(out, "# HELP ferry_build_info The version and the git commit this server was built from.");
        let _ = writeln!(out, "# TYPE ferry_build_info gauge");
        let _ = writeln!(
            out,
            "ferry_build_info{{commit=\"{}\",version=\"{}\"}} 1",
            escape(BUILD_COMMIT),
            escape(env!("CARGO_PKG_VERSION"))
        );
        crate::recorder::render(&mut out);
        out
    }
}

/// The git commit the server was built from (`git rev-parse` at build time), or `unknown`.
pub(crate) const BUILD_COMMIT: &str = env!("FERRY_BUILD_COMMIT");

/// Escapes a Prometheus label value.
pub(crate) fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Who made a request, as the authorisation guard found it: put on the response for the access log.
#[derive(Debug, Clone)]
pub(crate) struct Actor(pub(crate) String);

/// Middleware counting requests by method, matched route and status, and writing the access log: one
/// line per request with the method, the route template (never the path with its ids or the query), the
/// status, the duration and the actor (a token's name, never the token).
pub(crate) async fn track(metrics: Arc<Metrics>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics.http_request(&method, &route, status);
    let seconds = started.elapsed().as_secs_f64();
    ::metrics::histogram!("ferry_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(seconds);
    let actor = response.extensions().get::<Actor>().map_or("-", |a| a.0.as_str());
    tracing::info!(
        target: "ferry::access",
        method = %method,
        route = %route,
        status,
        duration_ms = (seconds * 1000.0 * 10.0).round() / 10.0,
        actor = %actor,
        "request"
    );
    response
}

/// Counts committed events until shutdown.
pub(crate) async fn count_events(
    mut events: broadcast::Receiver<Arc<StoredEvent>>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => metrics.event_committed(&event),
                Err(broadcast::error::RecvError::Lagged(n)) => metrics.events_missed(n),
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str) -> StoredEvent {
        StoredEvent {
            gid: 1,
            release_id: "r".into(),
            product: "p".into(),
            seq: 0,
            at: jiff::Timestamp::UNIX_EPOCH,
            body: serde_json::json!({"type": kind}),
        }
    }

    #[test]
    fn renders_counters_and_gauges() {
        let m = Arc::new(Metrics::default());
        m.event_committed(&event("Created"));
        m.event_committed(&event("Created"));
        m.events_missed(3);
        let guard = m.subscriber();
        m.http_request("GET", "/api/v1/releases/{id}", 404);
        let text = m.render(Some(2));
        assert!(text.contains("ferry_events_committed_total 5\n"), "{text}");
        assert!(text.contains("ferry_release_events_total{type=\"Created\"} 2\n"));
        assert!(text.contains("ferry_release_events_total{type=\"unknown\"} 3\n"));
        assert!(text.contains("ferry_sse_subscribers 1\n"));
        assert!(text.contains("ferry_active_releases 2\n"));
        assert!(
            text.contains(
                "ferry_http_requests_total{method=\"GET\",route=\"/api/v1/releases/{id}\",status=\"404\"} 1\n"
            )
        );
        drop(guard);
        assert!(m.render(None).contains("ferry_sse_subscribers 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
