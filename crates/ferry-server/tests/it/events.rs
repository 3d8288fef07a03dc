//! Server-Sent Events: live delivery, filters and resume without gaps or duplicates.

use std::time::Duration;

use ferry_store::{EventFilter, Store};
use serde_json::Value;

use crate::{Server, release_id, release_write, write};

/// One parsed SSE event.
#[derive(Debug)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: Value,
}

/// Reads SSE events from a response body.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(server: &Server, query: &str, last_event_id: Option<i64>) -> SseReader {
        let mut request = server.http.get(server.url(&format!("/api/v1/events{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        // The server subscribes before it answers, so once the headers are here nothing committed later is missed.
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader { response, buffer: String::new() }
    }

    /// The next event (comments skipped); fails after 20 s without one, so a bug cannot hang the suite.
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent { id: None, event: None, data: Value::Null };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && event.id.is_none() {
                    continue; // keep-alive comment
                }
                event.data = serde_json::from_str(&data).unwrap();
                let schema = if event.event.as_deref() == Some("error") { "ErrorEnvelope" } else { "Event" };
                crate::contract::check_schema(schema, &event.data);
                return event;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("no SSE event within 20 s")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The gids of the next `n` events.
    async fn gids(&mut self, n: usize) -> Vec<i64> {
        let mut gids = Vec::new();
        for _ in 0..n {
            let e = self.next().await;
            assert_eq!(e.event.as_deref(), Some("release"));
            let gid = e.data["gid"].as_i64().unwrap();
            assert_eq!(e.id, Some(gid.to_string()));
            gids.push(gid);
        }
        gids
    }
}

#[tokio::test]
async fn live_events_with_filters_and_resume_by_last_event_id() {
    let server = Server::start().await;
    let r1 = release_id("2026-01-01T00:00:00Z");
    let other = release_id("2026-01-01T00:00:01Z");
    let created = "2026-01-01T00:00:00Z";
    let before = write(&server.store, release_write(&r1, "shop", "standard", "Running", created, 0, 3)).await;

    // Resume after the first event: the two stored ones, then live ones; other products are filtered out.
    let mut sse = SseReader::open(&server, "?product=shop", Some(before[0])).await;
    let first = sse.next().await;
    assert_eq!(first.data["gid"], before[1]);
    assert_eq!(first.data["releaseId"], r1);
    assert_eq!(first.data["product"], "shop");
    assert_eq!(first.data["seq"], 1);
    assert_eq!(first.data["body"]["n"], 1);
    assert!(first.data["at"].is_string());
    assert_eq!(sse.gids(1).await, [before[2]]);
    write(&server.store, release_write(&other, "other", "standard", "Running", created, 0, 2)).await;
    let live = write(&server.store, release_write(&r1, "shop", "standard", "Running", created, 3, 2)).await;
    assert_eq!(sse.gids(2).await, live);
    drop(sse);

    // Disconnected meanwhile: resuming from the last id received gets exactly what was missed.
    let missed = write(&server.store, release_write(&r1, "shop", "standard", "Running", created, 5, 2)).await;
    let mut sse = SseReader::open(&server, "", Some(live[1])).await;
    assert_eq!(sse.gids(2).await, missed);
    let more = write(&server.store, release_write(&other, "other", "standard", "Running", created, 2, 1)).await;
    assert_eq!(sse.gids(1).await, more, "no filter: every product");

    // ?after= works like the header; a release filter keeps one release.
    let mut sse = SseReader::open(&server, &format!("?release={r1}&after=0"), None).await;
    let all: Vec<i64> = server
        .store
        .events_after(0, EventFilter::Release(r1.clone()), 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.gid)
        .collect();
    assert_eq!(all.len(), 7);
    assert_eq!(sse.gids(7).await, all);

    // Without a resume id: only what is committed after connecting.
    let mut sse = SseReader::open(&server, &format!("?release={r1}"), None).await;
    let fresh = write(&server.store, release_write(&r1, "shop", "standard", "Running", created, 7, 1)).await;
    assert_eq!(sse.gids(1).await, fresh);

    drop(sse);
    let committed = server.store.events_after(0, EventFilter::All, 1000).await.unwrap().len();
    wait_for_metric(&server, "ferry_events_committed_total", committed as i64).await;
}

/// The value of a metric without labels.
async fn metric(server: &Server, name: &str) -> i64 {
    let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.split_once(' ').is_some_and(|(n, _)| n == name));
    line.and_then(|l| l.split_once(' ')).unwrap_or_else(|| panic!("no {name} in {text}")).1.parse().unwrap()
}

/// Polls /metrics until `name` has the value `want`: a bounded number of times, a short pause apart
/// (the server learns that a client went away only when it notices the closed connection).
async fn wait_for_metric(server: &Server, name: &str, want: i64) {
    let mut last = None;
    for _ in 0..1200 {
        let value = metric(server, name).await;
        if value == want {
            return;
        }
        last = Some(value);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} stayed at {last:?}, expected {want}");
}

#[tokio::test]
async fn the_subscriber_gauge_counts_open_streams() {
    let server = Server::start().await;
    assert_eq!(metric(&server, "ferry_sse_subscribers").await, 0);
    let first = SseReader::open(&server, "", None).await;
    assert_eq!(metric(&server, "ferry_sse_subscribers").await, 1);
    let second = SseReader::open(&server, "?product=shop", None).await;
    assert_eq!(metric(&server, "ferry_sse_subscribers").await, 2);
    drop(first);
    wait_for_metric(&server, "ferry_sse_subscribers", 1).await;
    drop(second);
    wait_for_metric(&server, "ferry_sse_subscribers", 0).await;
}

#[tokio::test]
async fn resume_while_events_are_being_committed_has_no_gap_and_no_duplicate() {
    let server = Server::start().await;
    let r = release_id("2026-01-01T00:00:00Z");
    let created = "2026-01-01T00:00:00Z";
    let first = write(&server.store, release_write(&r, "shop", "standard", "Running", created, 0, 50)).await;

    // A writer keeps committing while the client connects and catches up.
    let store = server.store.clone();
    let writer_id = r.clone();
    let writer = tokio::spawn(async move {
        let mut seq = 50;
        for _ in 0..100 {
            write(&store, release_write(&writer_id, "shop", "standard", "Running", created, seq, 3)).await;
            seq += 3;
        }
    });
    let mut sse = SseReader::open(&server, "?product=shop", Some(first[9])).await;
    let total = 50 + 300;
    let received = sse.gids(total - 10).await;
    writer.await.unwrap();
    let stored: Vec<i64> =
        server.store.events_after(first[9], EventFilter::All, 1000).await.unwrap().iter().map(|e| e.gid).collect();
    assert_eq!(received, stored);
}

#[tokio::test]
async fn a_burst_larger_than_the_broadcast_arrives_whole() {
    let server = Server::start().await;
    let r = release_id("2026-01-01T00:00:00Z");
    let created = "2026-01-01T00:00:00Z";
    let first = write(&server.store, release_write(&r, "shop", "standard", "Running", created, 0, 1)).await;
    let mut sse = SseReader::open(&server, "", Some(first[0])).await;
    // More events in one commit than the broadcast holds (16,384). Whether the server's receiver falls behind
    // depends on socket buffers; the unit tests of the stream force it.
    let n = 17_000;
    let burst = write(&server.store, release_write(&r, "shop", "standard", "Running", created, 1, n)).await;
    let received = sse.gids(n).await;
    assert_eq!(received, burst);
    let tail = write(&server.store, release_write(&r, "shop", "standard", "Running", created, 1 + n as i64, 1)).await;
    assert_eq!(sse.gids(1).await, tail);
}

#[tokio::test]
async fn bad_event_stream_parameters_are_named() {
    let server = Server::start().await;
    for (query, header, name) in [
        ("?product=shop&release=x", None, "release"),
        ("?release=nope", None, "release"),
        ("?after=-5", None, "after"),
        ("?produkt=shop", None, "produkt"),
        ("", Some("abc"), "Last-Event-ID"),
    ] {
        let mut request = server.http.get(server.url(&format!("/api/v1/events{query}")));
        if let Some(h) = header {
            request = request.header("Last-Event-ID", h);
        }
        let (status, body) = crate::checked("GET", "/api/v1/events", request.send().await.unwrap()).await;
        assert_eq!(status, 400, "{query}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(name), "{query}: {body}");
    }
}
