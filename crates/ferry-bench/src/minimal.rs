//! The harness's own minimal HTTP server (axum): a JSON endpoint and an SSE endpoint fed by a
//! broadcast channel. It is the "machine limit" for Ferry's HTTP figures: same runtime, same
//! framework, nothing else.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// A small JSON body, the size of one release-list item.
fn body() -> serde_json::Value {
    serde_json::json!({
        "id": "019b7a2e-0000-7000-8000-000000000000",
        "product": "shop",
        "flow": "standard",
        "status": "Succeeded",
        "initiator": "alice",
        "createdAt": "2026-01-01T00:00:00Z",
        "environments": {"dev": "Successful", "prod": "Successful"}
    })
}

async fn json() -> axum::Json<serde_json::Value> {
    axum::Json(body())
}

async fn events(
    State(tx): State<broadcast::Sender<(i64, String)>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = tx.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok((id, data)) => {
                    return Some((Ok(Event::default().id(id.to_string()).event("release").data(data)), rx));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The router: `GET /json` and `GET /events`.
pub fn router(tx: broadcast::Sender<(i64, String)>) -> Router {
    Router::new().route("/json", get(json)).route("/events", get(events)).with_state(tx)
}

/// Serves the minimal server on `listener` until the process ends.
pub async fn serve(listener: TcpListener, tx: broadcast::Sender<(i64, String)>) -> anyhow::Result<()> {
    axum::serve(listener, router(tx)).await?;
    Ok(())
}

/// Entry point of `ferry-bench serve-minimal` (a child process, for memory and start-up figures).
pub fn child_main() -> anyhow::Result<()> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {}", listener.local_addr()?);
        let (tx, _) = broadcast::channel(1024);
        serve(listener, tx).await
    })
}
