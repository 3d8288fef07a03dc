//! `GET /api/v1/events`: committed release events as Server-Sent Events, with resume.
//!
//! The stream subscribes to the store's commit broadcast **before** it reads any backlog, and keeps one
//! cursor: the highest event id it has examined. A resuming client (`Last-Event-ID` header or `?after=`)
//! first gets the stored events after its id, page by page; then the stream switches to the broadcast
//! and skips every event at or below the cursor, so nothing is lost or repeated across the switch. A
//! subscriber that falls so far behind that the broadcast drops events for it goes back to reading pages
//! from the store from its cursor, the same way. Memory per subscriber is bounded by one page.
//!
//! A stream opened without a resume id starts with the events committed after it connected. If such a
//! subscriber lags before it has seen any event, its cursor is set just below the dropped events by
//! counting back from the first event still in the broadcast (exact while event ids are consecutive).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use ferry_store::{EventFilter, Store, StoredEvent};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use crate::dto::event_item;
use crate::error::ApiError;
use crate::metrics::SubscriberGuard;

/// Events read from the store per query while catching up.
const PAGE: u32 = 256;

enum Mode {
    /// Reading pages from the store after the cursor.
    CatchUp,
    /// Following the broadcast.
    Live,
}

struct State<S> {
    store: S,
    filter: EventFilter,
    rx: broadcast::Receiver<Arc<StoredEvent>>,
    /// Highest event id examined (sent, or filtered out); `None` until the first event when not resuming.
    cursor: Option<i64>,
    /// Events dropped by the broadcast before the cursor was known.
    lagged_blind: Option<u64>,
    mode: Mode,
    pending: VecDeque<Arc<StoredEvent>>,
    shutdown: watch::Receiver<bool>,
    done: bool,
    /// Which products' events this subscriber may see (`None`: every product).
    visible: Option<Visible>,
    _guard: SubscriberGuard,
}

/// A predicate on product names: the products a subscriber may see.
pub(crate) type Visible = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Builds the SSE response. `after` is the resume id (events with a larger id are sent first).
pub(crate) fn stream<S: Store>(
    store: S,
    filter: EventFilter,
    after: Option<i64>,
    shutdown: watch::Receiver<bool>,
    guard: SubscriberGuard,
    keep_alive: Duration,
    visible: Option<Visible>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe first: anything committed from now on is in `rx` (or reported as lag).
    let rx = store.subscribe();
    let state = State {
        store,
        filter,
        rx,
        cursor: after,
        lagged_blind: None,
        mode: if after.is_some() { Mode::CatchUp } else { Mode::Live },
        pending: VecDeque::new(),
        shutdown,
        done: false,
        visible,
        _guard: guard,
    };
    let events = futures_util::stream::unfold(state, |mut st| async move {
        let event = next(&mut st).await?;
        Some((Ok(event), st))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive))
}

fn to_sse(event: &StoredEvent) -> Event {
    let data = serde_json::to_string(&event_item(event)).unwrap_or_else(|_| "{}".to_owned());
    Event::default().id(event.gid.to_string()).event("release").data(data)
}

fn error_event(e: ApiError) -> Event {
    let data = serde_json::to_string(&e.envelope()).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event("error").data(data)
}

async fn next<S: Store>(st: &mut State<S>) -> Option<Event> {
    loop {
        if let Some(event) = st.pending.pop_front() {
            st.cursor = Some(st.cursor.map_or(event.gid, |c| c.max(event.gid)));
            if st.visible.as_ref().is_some_and(|visible| !visible(&event.product)) {
                continue;
            }
            return Some(to_sse(&event));
        }
        if st.done || *st.shutdown.borrow() {
            return None;
        }
        match st.mode {
            Mode::CatchUp => {
                let from = st.cursor.unwrap_or(0);
                let page = tokio::select! {
                    page = st.store.events_after(from, st.filter.clone(), PAGE) => page,
                    _ = st.shutdown.wait_for(|stop| *stop) => return None,
                };
                match page {
                    Ok(page) => {
                        if page.len() < PAGE as usize {
                            st.mode = Mode::Live;
                        }
                        st.pending.extend(page.into_iter().map(Arc::new));
                    }
                    Err(e) => {
                        // Tell the client and end: it reconnects with Last-Event-ID.
                        st.done = true;
                        return Some(error_event(e.into()));
                    }
                }
            }
            Mode::Live => {
                let received = tokio::select! {
                    received = st.rx.recv() => received,
                    _ = st.shutdown.wait_for(|stop| *stop) => return None,
                };
                match received {
                    Ok(event) => {
                        if let Some(n) = st.lagged_blind.take() {
                            // Dropped events were the `n` just before this one.
                            st.cursor = Some(event.gid.saturating_sub(n as i64 + 1).max(0));
                            st.mode = Mode::CatchUp;
                            continue;
                        }
                        match st.cursor {
                            Some(c) if event.gid <= c => {}
                            _ if st.filter.accepts(&event) => st.pending.push_back(event),
                            _ => st.cursor = Some(event.gid),
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        if st.cursor.is_some() {
                            // Drop the stale backlog: a fresh receiver, then the store from the cursor.
                            st.rx = st.rx.resubscribe();
                            st.mode = Mode::CatchUp;
                        } else {
                            st.lagged_blind = Some(st.lagged_blind.unwrap_or(0) + n);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ferry_store::{NewEvent, ReleaseWrite, SqliteStore, Write, WriteOutcome};
    use serde_json::json;

    use super::*;
    use crate::metrics::Metrics;

    /// Appends `n` events to release `r` of product `p` and returns their ids.
    async fn append(store: &SqliteStore, r: &str, p: &str, first_seq: i64, n: usize) -> Vec<i64> {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let write = Write::Release(Box::new(ReleaseWrite {
            events: (0..n).map(|i| NewEvent { at, body: json!({"n": i}) }).collect(),
            view: Some(json!({})),
            ..ferry_store::test_support::release_write(r, p, "Running", at, first_seq, n)
        }));
        match store.write(vec![write]).await.unwrap().into_iter().next().unwrap().unwrap() {
            WriteOutcome::Events(gids) => gids,
            other => panic!("{other:?}"),
        }
    }

    fn state(
        store: &SqliteStore,
        filter: EventFilter,
        cursor: Option<i64>,
    ) -> (State<SqliteStore>, watch::Sender<bool>) {
        let (stop, shutdown) = watch::channel(false);
        let st = State {
            store: store.clone(),
            filter,
            rx: store.subscribe(),
            cursor,
            lagged_blind: None,
            mode: if cursor.is_some() { Mode::CatchUp } else { Mode::Live },
            pending: VecDeque::new(),
            shutdown,
            done: false,
            visible: None,
            _guard: Arc::new(Metrics::default()).subscriber(),
        };
        (st, stop)
    }

    /// The ids of the next `n` events, read directly from the stream's state machine.
    async fn ids(st: &mut State<SqliteStore>, n: usize) -> Vec<i64> {
        let mut out = Vec::new();
        for _ in 0..n {
            let _event = next(st).await.expect("an event");
            out.push(st.cursor.expect("cursor"));
        }
        out
    }

    const OVERFLOW: usize = 17_000; // more than the store's broadcast capacity (16,384)

    #[tokio::test]
    async fn a_lagging_subscriber_resumes_from_the_store_without_gaps_or_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let before = append(&store, "r1", "shop", 0, 3).await;
        let (mut st, _stop) = state(&store, EventFilter::Product("shop".into()), Some(before[0]));
        assert_eq!(ids(&mut st, 2).await, before[1..]);
        // Nobody reads while more than the broadcast holds is committed, other products included.
        append(&store, "other", "other", 0, 10).await;
        let burst = append(&store, "r1", "shop", 3, OVERFLOW).await;
        let received = ids(&mut st, OVERFLOW).await;
        assert_eq!(received, burst);
        let tail = append(&store, "r1", "shop", 3 + OVERFLOW as i64, 2).await;
        assert_eq!(ids(&mut st, 2).await, tail);
    }

    #[tokio::test]
    async fn a_subscriber_without_resume_id_that_lags_at_once_counts_back_to_the_dropped_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        append(&store, "r0", "shop", 0, 5).await; // before connecting: not sent
        let (mut st, _stop) = state(&store, EventFilter::All, None);
        let burst = append(&store, "r1", "shop", 0, OVERFLOW).await;
        assert_eq!(ids(&mut st, OVERFLOW).await, burst);
    }

    #[tokio::test]
    async fn shutdown_ends_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let (mut st, stop) = state(&store, EventFilter::All, None);
        let waiting = tokio::spawn(async move { next(&mut st).await.is_none() });
        stop.send(true).unwrap();
        assert!(waiting.await.unwrap());
    }
}
