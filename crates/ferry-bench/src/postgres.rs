//! Scenario 9 (SPEC §9, second wave), on PostgreSQL: engine throughput beside the raw durable one-row
//! insert rate at the same client count, and an event committed by one replica reaching another's
//! subscribers, and the takeover time after SIGKILL of a replica ([`crate::takeover`]). Runs only with a server to create a database on (`--postgres URL` or
//! `FERRY_BENCH_POSTGRES`), so the default runs and the CI smoke test need no PostgreSQL.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ferry_store::test_support::{create_database, drop_database, unique_name};
use ferry_store::{PgStore, Store, Write};

use crate::Sizes;
use crate::engine::promotion_rates;
use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::{Backend, Rig, STANDARD_TARGETS};
use crate::stats::Stat;

const SCENARIO: &str = "9 PostgreSQL";

/// Runs the scenario in a new database on the server `server`, dropped afterwards.
pub async fn postgres(dir: &Path, server: &str, s: Sizes) -> Result<Vec<Row>> {
    let name = unique_name("ferry_bench");
    let url = create_database(server, &name).await.context("creating the benchmark database")?;
    let result = measure(dir, &url, s).await;
    if let Err(e) = drop_database(server, &name).await {
        eprintln!("  cannot drop the benchmark database {name}: {e}");
    }
    result
}

async fn measure(dir: &Path, url: &str, s: Sizes) -> Result<Vec<Row>> {
    eprintln!("  limit: durable one-row PostgreSQL inserts, one client");
    let (raw_rates, raw_latencies) = raw_inserts(url, s.commit_rounds, s.commits_per_round).await?;
    let raw_rate = Stat::of_rates(&raw_rates);
    let raw_latency = Stat::of_latencies(&raw_latencies);
    // Event appends are serialised across the database (one advisory lock), so the engine writes as
    // one client: the limit is the one-client rate.
    let names: Vec<(String, &str)> = (0..s.tp_products).map(|i| (format!("pg{i}"), "standard")).collect();
    let rig = Rig::start_on(&dir.join("engine"), &names, &Backend::Postgres(url.to_owned())).await?;
    let (rates, envs) = promotion_rates(&rig, &names, s.tp_per_product, s.tp_rounds).await?;
    rig.stop();
    let writes = release_writes(url, s.commits_per_round).await?;
    let delivery = cross_replica(url, s.sse_rounds * 5).await?;
    let takeover = match s.takeover_kills {
        0 => None,
        kills => Some(takeover_row(dir, url, kills).await),
    };
    let raw_limit = |stat| Limit { primitive: "durable 1-row PostgreSQL inserts/s, 1 client".into(), stat };
    let mut rows = vec![
        Row::new(
            SCENARIO,
            "engine throughput: environment promotions/s (action none, durable), one replica",
            Unit::PerSec,
            Stat::of_rates(&rates),
            Some(raw_limit(raw_rate)),
        )
        .target("≥ 50% of the raw insert rate", Goal::RatioAtLeast(0.5))
        .note(&format!(
            "{} products × {} releases per round, {} rounds, {envs} environments ({STANDARD_TARGETS} per release)",
            s.tp_products, s.tp_per_product, s.tp_rounds
        )),
        Row::new(
            SCENARIO,
            "one release write (3 events, release row, view), a replica's, latency",
            Unit::Ms,
            Stat::of_latencies(&writes),
            Some(Limit { primitive: "durable 1-row PostgreSQL insert, latency".into(), stat: raw_latency }),
        )
        .note(&format!(
            "{} writes one after another through a replica's store (lease check and epoch included), \
             each like an engine commit of an environment step",
            writes.len()
        )),
        Row::new(
            SCENARIO,
            "event committed on one replica → received by another replica's subscribers",
            Unit::Ms,
            Stat::of_latencies(&delivery),
            Some(Limit { primitive: "durable 1-row PostgreSQL insert, latency".into(), stat: raw_latency }),
        )
        .target("p99 ≤ 50 ms", Goal::P99AtMost(50.0))
        .note(&format!(
            "{} product events written one at a time through one store, read through another store's \
             LISTEN/NOTIFY listener (the SSE source of its server)",
            delivery.len()
        )),
    ];
    rows.extend(takeover);
    Ok(rows)
}

/// The takeover row: `kills` SIGKILLs of a release's owner among three `ferry server` replicas.
async fn takeover_row(dir: &Path, url: &str, kills: usize) -> Row {
    let figure = format!("takeover after SIGKILL of the owner (3 replicas, {kills} kills), lease expiry included");
    match crate::takeover::takeover_times(dir, url, kills).await {
        Ok(times) => Row::new(
            SCENARIO,
            &figure,
            Unit::Seconds,
            Stat::of_latencies(&times),
            Some(Limit {
                primitive: "lease expiry: a dead owner's lease runs out 10–15 s after the kill".into(),
                stat: Stat::single(crate::takeover::LEASE_EXPIRY.as_secs_f64()),
            }),
        )
        .target("p99 ≤ 20 s", Goal::P99AtMost(20.0))
        .note(
            "the real ferry binary, default lease expiry (15 s) and renewal interval (5 s): from the kill to the \
                 first event another replica writes for the release (the lost step recorded)",
        ),
        Err(e) => Row::unavailable(SCENARIO, &figure, &format!("{e:#}")),
    }
}

/// Rounds of one-row inserts, each its own transaction, through one connection: inserts/s per round
/// and each insert's latency (ms).
async fn raw_inserts(url: &str, rounds: usize, per_round: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    client.batch_execute("CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)").await?;
    let insert = client.prepare("INSERT INTO bench_raw (body) VALUES ($1)").await?;
    let (mut rates, mut latencies) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds * per_round));
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..per_round {
            let t = Instant::now();
            client.execute(&insert, &[&"a row of about the size of an event id"]).await?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        rates.push(per_round as f64 / start.elapsed().as_secs_f64().max(1e-9));
    }
    client.batch_execute("DROP TABLE bench_raw").await?;
    drop(client);
    connection.abort();
    Ok((rates, latencies))
}

/// `n` release writes of three events each (with the release row and view) through a replica's
/// store, one after another, over 10 releases; each one's latency (ms).
async fn release_writes(url: &str, n: usize) -> Result<Vec<f64>> {
    let store = PgStore::open(url).await?.replica(ferry_store::ReplicaOptions::new("bench-writes"));
    let at = jiff::Timestamp::now();
    let mut next = [0i64; 10];
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let r = i % next.len();
        let id = format!("0190a000-0000-7000-8000-{r:012}");
        let mut w = ferry_store::test_support::release_write(&id, "bench", "Running", at, next[r], 3);
        w.view = Some(serde_json::json!({"id": id, "status": "Running", "environments": []}));
        let t = Instant::now();
        store.write(vec![Write::Release(Box::new(w))]).await?.into_iter().next().context("no outcome")??;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        next[r] += 3;
    }
    Ok(latencies)
}

/// `n` product events written one at a time through one store; how long each took to reach the
/// subscribers of another store on the same database (ms, from before the write).
async fn cross_replica(url: &str, n: usize) -> Result<Vec<f64>> {
    let (writer, reader) = (PgStore::open(url).await?, PgStore::open(url).await?);
    let mut received = reader.subscribe();
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let message = format!("ping {i}");
        let write = Write::ProductEvent {
            product: "bench".into(),
            kind: "ping".into(),
            message: message.clone(),
            at: jiff::Timestamp::now(),
        };
        let t = Instant::now();
        writer.write(vec![write]).await?.into_iter().next().context("no outcome")??;
        loop {
            let event = tokio::time::timeout(std::time::Duration::from_secs(10), received.recv())
                .await
                .context("the event never reached the other store")??;
            if event.body["message"] == message.as_str() {
                break;
            }
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    if latencies.is_empty() {
        bail!("no events were delivered");
    }
    Ok(latencies)
}
