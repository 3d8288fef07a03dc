//! Scenario 6: live updates over SSE — commit → event delivered with many subscribers, and the
//! memory of many idle subscribers — against the harness's minimal axum SSE server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferry_engine::EngineConfig;
use ferry_server::ServerSettings;
use ferry_store::{NewEvent, ReleaseRow, ReleaseWrite, SqliteStore, Store, Write, WriteOutcome};
use jiff::Timestamp;

use crate::report::{Goal, Limit, Row, Unit};
use crate::stats::Stat;
use crate::util::{ChildServer, delivery_latencies, follow_ids, open_many};

/// Pause between two commits (each commit is one delivery round).
const INTERVAL: Duration = Duration::from_millis(20);
/// Connections opened at once.
const CONNECT_PARALLEL: usize = 64;

fn event_body(i: usize) -> serde_json::Value {
    serde_json::json!({
        "type": "AppObserved", "env": "prod-eu", "app": "shop-api-prod-eu", "sync": "Synced",
        "health": "Healthy", "revision": "0123456789abcdef0123456789abcdef01234567", "message": null,
        "at": "2026-01-01T00:00:00Z", "n": i
    })
}

fn write(release: &str, seq: usize) -> Write {
    let at = Timestamp::now();
    Write::Release(Box::new(ReleaseWrite {
        release_id: release.to_owned(),
        product: "shop".into(),
        first_seq: seq as i64,
        events: vec![NewEvent { at, body: event_body(seq) }],
        row: ReleaseRow {
            id: release.to_owned(),
            product: "shop".into(),
            flow: "standard".into(),
            flow_version: None,
            status: "Running".into(),
            initiator: "bench".into(),
            created_at: at,
            finished_at: None,
            reason: None,
            retries: 0,
            version: None,
            environments: serde_json::json!({"prod-eu": "Running"}),
        },
        view: Some(serde_json::json!({"id": release, "status": "Running"})),
        app_states: Vec::new(),
        runs: Vec::new(),
        outcomes: Vec::new(),
        turn: None,
    }))
}

/// Opens `subscribers` streams, then runs `rounds` sends through `send` (which returns the ids
/// sent); returns the delivery latencies (ms) and the number of deliveries missing.
async fn fan_out<F, Fut>(
    addr: SocketAddr,
    path: &str,
    subscribers: usize,
    rounds: usize,
    mut send: F,
) -> Result<(Vec<f64>, usize)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<i64>>>,
{
    let streams = open_many(addr, path, subscribers, CONNECT_PARALLEL).await?;
    let deadline = Instant::now() + INTERVAL * rounds as u32 + Duration::from_secs(30);
    let followers: Vec<_> =
        streams.into_iter().map(|(s, rest)| tokio::spawn(follow_ids(s, rest, rounds, deadline))).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sent = HashMap::new();
    for r in 0..rounds {
        let t0 = Instant::now();
        for id in send(r).await? {
            sent.insert(id, t0);
        }
        tokio::time::sleep(INTERVAL).await;
    }
    let mut received = Vec::with_capacity(followers.len());
    for f in followers {
        received.push(f.await.context("subscriber task")?);
    }
    Ok(delivery_latencies(&sent, &received))
}

/// Commit → delivered, Ferry (in-process server, commits through the store) and the minimal server.
async fn latency(dir: &Path, subscribers: usize, rounds: usize) -> Result<(Vec<f64>, usize, Vec<f64>, usize)> {
    std::fs::create_dir_all(dir)?;
    let store = SqliteStore::open(&dir.join("ferry.db")).await?;
    let (engine, engine_task) =
        ferry_engine::start(store.clone(), EngineConfig::new(dir.join("data"), "http://127.0.0.1:0".into()))
            .await
            .context("starting the engine")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ferry_server::serve_with_shutdown(
        listener,
        store.clone(),
        engine,
        ServerSettings::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let release = uuid::Uuid::now_v7().to_string();
    let (ferry, ferry_missing) = fan_out(addr, "/api/v1/events", subscribers, rounds, |r| {
        let (store, release) = (store.clone(), release.clone());
        async move {
            let outcome = store.write(vec![write(&release, r)]).await?;
            match outcome.into_iter().next() {
                Some(Ok(WriteOutcome::Events(gids))) => Ok(gids),
                other => bail!("unexpected write outcome {other:?}"),
            }
        }
    })
    .await?;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    engine_task.abort();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, _) = tokio::sync::broadcast::channel(1024);
    let minimal = tokio::spawn(crate::minimal::serve(listener, tx.clone()));
    let (base, base_missing) = fan_out(addr, "/events", subscribers, rounds, |r| {
        let tx = tx.clone();
        async move {
            let data = serde_json::json!({"gid": r, "body": event_body(r)}).to_string();
            let _ = tx.send((r as i64, data));
            Ok(vec![r as i64])
        }
    })
    .await?;
    minimal.abort();
    Ok((ferry, ferry_missing, base, base_missing))
}

/// Server memory with `n` idle subscribers: (total MiB, KiB per subscriber).
async fn idle_memory(args: &[String], ready: &str, path: &str, n: usize) -> Result<(f64, f64)> {
    let server = ChildServer::start(args, ready).await?;
    let client = reqwest::Client::new();
    for _ in 0..50 {
        client.get(format!("http://{}{ready}", server.addr)).send().await?.bytes().await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib()?;
    let streams = open_many(server.addr, path, n, CONNECT_PARALLEL).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib()?;
    server.stop().await?;
    drop(streams);
    Ok((after as f64 / 1024.0, after.saturating_sub(before) as f64 / n as f64))
}

/// Scenario 6.
pub async fn sse(dir: &Path, subscribers: usize, rounds: usize, idle: usize) -> Result<Vec<Row>> {
    let (ferry, ferry_missing, base, base_missing) = latency(&dir.join("latency"), subscribers, rounds).await?;
    let data = dir.join("idle");
    std::fs::create_dir_all(&data)?;
    let args = vec!["serve-ferry".to_owned(), "--data".to_owned(), data.display().to_string()];
    let (ferry_total, ferry_each) = idle_memory(&args, "/api/v1/releases?limit=1", "/api/v1/events", idle).await?;
    let (min_total, min_each) = idle_memory(&["serve-minimal".to_owned()], "/json", "/events", idle).await?;
    let minimal_sse = |what: &str, stat| Some(Limit { primitive: format!("minimal axum SSE server, {what}"), stat });
    Ok(vec![
        Row::new(
            "6 SSE",
            &format!("commit → event delivered, {subscribers} subscribers"),
            Unit::Ms,
            Stat::of_latencies(&ferry),
            minimal_sse("broadcast → delivered (no commit)", Stat::of_latencies(&base)),
        )
        .target("p99 ≤ 20 ms", Goal::P99AtMost(20.0))
        .note(&format!(
            "{rounds} commits {} ms apart, timed from just before Store::write (includes the durable commit); \
             deliveries missing: Ferry {ferry_missing}, minimal {base_missing}",
            INTERVAL.as_millis()
        )),
        Row::new(
            "6 SSE",
            &format!("server memory with {idle} idle subscribers"),
            Unit::MiB,
            Stat::single(ferry_total),
            minimal_sse("same subscribers", Stat::single(min_total)),
        )
        .target(
            &format!("10,000 idle in ≤ 400 MB{}", if idle < 10_000 { " (quick: fewer)" } else { "" }),
            Goal::MedianAtMost(400.0 * 1e6 / 1024.0 / 1024.0),
        ),
        Row::new(
            "6 SSE",
            "memory per idle subscriber",
            Unit::KiB,
            Stat::single(ferry_each),
            minimal_sse("per idle subscriber", Stat::single(min_each)),
        ),
    ])
}
