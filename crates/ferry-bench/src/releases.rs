//! Scenario 5: a million stored releases, written through the store's own write path, then read
//! over HTTP from the real server (a child process running the same start-up as `ferry server`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferry_store::{NewEvent, OutcomeRow, ReleaseFilter, ReleaseRow, ReleaseWrite, SqliteStore, Store, Write};
use jiff::Timestamp;
use tokio::sync::{Mutex, mpsc};

use crate::Sizes;
use crate::limits::Limits;
use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::{Rig, config_yaml, gitops_files, load_catalog};
use crate::stats::{Stat, ms, rate};
use crate::util::{ChildServer, bare_repo};

/// Products of the generated data.
const PRODUCTS: usize = 10;
/// The template product's name, replaced by the generated product's name everywhere.
const TEMPLATE_PRODUCT: &str = "benchtpl";
/// Releases per `Store::write` call.
const BATCH: usize = 500;
/// Ids sampled for the view queries.
const SAMPLES: usize = 2_000;

/// A real release, finished by the engine, copied to make the generated ones.
struct Template {
    id: String,
    events: Vec<(Timestamp, String)>,
    row: ReleaseRow,
    view: String,
}

/// Real releases made by the engine (product `benchtpl`, flow `short`: dev → prod-eu).
async fn templates(dir: &Path, count: usize) -> Result<Vec<Template>> {
    let rig = Rig::start(dir, &[(TEMPLATE_PRODUCT.to_owned(), "short")]).await?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let id = rig.promote(TEMPLATE_PRODUCT).await?;
        rig.wait_all(std::slice::from_ref(&id), Duration::from_secs(120)).await?;
        let events = rig.store.release_events(&crate::rig::release_id(&id)?).await?;
        let view = rig.store.release_view(&crate::rig::release_id(&id)?).await?.context("template view")?;
        let page = rig
            .store
            .list_releases(ReleaseFilter {
                product: Some(TEMPLATE_PRODUCT.to_owned()),
                limit: 500,
                ..Default::default()
            })
            .await?;
        let row = page.items.into_iter().find(|r| r.id == id).context("template row")?;
        if row.status != "Succeeded" {
            bail!("template release ended {}", row.status);
        }
        out.push(Template {
            id: id.clone(),
            events: events.iter().map(|e| (e.at, e.body.to_string())).collect(),
            row,
            view: view.to_string(),
        });
    }
    rig.stop();
    Ok(out)
}

/// Creation time of generated release `i` of `n`: spread over the 270 days before 2026-01-01.
fn created_ms(i: usize, n: usize) -> u64 {
    let end: u64 = 1_767_225_600_000;
    let span: u64 = 270 * 24 * 3600 * 1000;
    end - span + (span / n.max(1) as u64) * i as u64
}

/// UUID v7 of generated release `i` (deterministic, time-ordered).
fn release_id(i: usize, n: usize) -> String {
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    bytes[8..].copy_from_slice(&((i as u16) ^ 0x5a5a).to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis(created_ms(i, n), &bytes).into_uuid().to_string()
}

fn product(i: usize) -> String {
    format!("shop{}", i % PRODUCTS)
}

/// Generated release `i`: the template's events, row and view with the id, product and times replaced.
fn generate(t: &Template, i: usize, n: usize) -> Result<Write> {
    let id = release_id(i, n);
    let product = product(i);
    let fix = |text: &str| text.replace(&t.id, &id).replace(TEMPLATE_PRODUCT, &product);
    let created = Timestamp::from_millisecond(created_ms(i, n) as i64)?;
    let shift = created.as_microsecond() - t.row.created_at.as_microsecond();
    let moved = |at: Timestamp| Timestamp::from_microsecond(at.as_microsecond() + shift).unwrap_or(at);
    let mut events = Vec::with_capacity(t.events.len());
    for (at, body) in &t.events {
        events.push(NewEvent { at: moved(*at), body: serde_json::from_str(&fix(body))? });
    }
    let row = ReleaseRow {
        id: id.clone(),
        product: product.clone(),
        created_at: created,
        finished_at: t.row.finished_at.map(moved),
        environments: t.row.environments.clone(),
        ..t.row.clone()
    };
    let view = serde_json::from_str(&fix(&t.view))?;
    // The DORA projection: each Successful environment of the template, an hour after its commit.
    let at = row.finished_at.unwrap_or(created);
    let outcomes = t
        .row
        .environments
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, status)| status.as_str() == Some("Successful"))
        .map(|(env, _)| OutcomeRow {
            release_id: id.clone(),
            product: product.clone(),
            environment: env.clone(),
            flow: row.flow.clone(),
            attempt: 0,
            status: "Successful".into(),
            after_action: true,
            committed_at: created - jiff::SignedDuration::from_hours(1),
            at,
        })
        .collect();
    Ok(Write::Release(Box::new(ReleaseWrite {
        release_id: id,
        product,
        first_seq: 0,
        events,
        row,
        view: Some(view),
        app_states: Vec::new(),
        runs: Vec::new(),
        outcomes,
        turn: None,
    })))
}

/// The DORA window of the reads: the last 90 days of the generated releases (see [`created_ms`]).
const DORA_SINCE: &str = "2025-10-03T00:00:00Z";

/// Writes `n` releases through `Store::write`; returns per-tenth rates and the total time.
async fn populate(store: &SqliteStore, templates: Arc<Vec<Template>>, n: usize) -> Result<(Vec<f64>, Duration)> {
    let (tx, rx) = mpsc::channel::<Vec<Write>>(4);
    let producers = 2usize;
    let batches = n.div_ceil(BATCH);
    let mut handles = Vec::new();
    for k in 0..producers {
        let (tx, templates) = (tx.clone(), templates.clone());
        handles.push(tokio::task::spawn_blocking(move || -> Result<()> {
            for b in (k..batches).step_by(producers) {
                let batch: Vec<Write> = (b * BATCH..((b + 1) * BATCH).min(n))
                    .map(|i| generate(&templates[i % templates.len()], i, n))
                    .collect::<Result<_>>()?;
                if tx.blocking_send(batch).is_err() {
                    break;
                }
            }
            Ok(())
        }));
    }
    drop(tx);
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now();
    let done = Arc::new(std::sync::Mutex::new(Vec::<(usize, Instant)>::new()));
    let mut writers = Vec::new();
    for _ in 0..2 {
        let (rx, store, done) = (rx.clone(), store.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some(batch) = next else { return Ok::<_, anyhow::Error>(()) };
                let count = batch.len();
                for outcome in store.write(batch).await? {
                    outcome.context("a generated release was not stored")?;
                }
                if let Ok(mut d) = done.lock() {
                    d.push((count, Instant::now()));
                }
            }
        }));
    }
    let mut reported = 0usize;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let stored: usize = done.lock().map(|d| d.iter().map(|(c, _)| c).sum()).unwrap_or(0);
        if stored >= reported + n / 10 || stored == n {
            eprintln!("    {stored} of {n} releases stored ({:.0} s)", start.elapsed().as_secs_f64());
            reported = stored;
        }
        if writers.iter().all(|w| w.is_finished()) {
            break;
        }
    }
    for h in handles {
        h.await.context("generator task")??;
    }
    for w in writers {
        w.await.context("writer task")??;
    }
    let total = start.elapsed();
    // Rates per tenth of the run.
    let mut d = done.lock().map(|d| d.clone()).unwrap_or_default();
    d.sort_by_key(|(_, at)| *at);
    let mut rates = Vec::new();
    let (mut count, mut since) = (0usize, start);
    for (c, at) in d {
        count += c;
        if count >= n / 10 {
            rates.push(rate(count, at.duration_since(since)));
            count = 0;
            since = at;
        }
    }
    Ok((rates, total))
}

async fn timed_get(client: &reqwest::Client, url: &str, html: bool) -> Result<(f64, reqwest::StatusCode)> {
    let t = Instant::now();
    let mut req = client.get(url);
    if html {
        req = req.header("accept", "text/html");
    }
    let resp = req.send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let elapsed = ms(t.elapsed());
    if status.is_success() && body.is_empty() {
        bail!("empty body from {url}");
    }
    Ok((elapsed, status))
}

/// Scenario 5.
pub async fn releases(dir: &Path, limits: &Limits, sizes: Sizes) -> Result<Vec<Row>> {
    let n = sizes.releases;
    let templates = Arc::new(templates(&dir.join("templates"), 3).await?);
    let events_per_release = templates[0].events.len();
    let data = dir.join("server");
    std::fs::create_dir_all(&data)?;
    let (bare, _) = bare_repo(dir, "gen-gitops", &gitops_files())?;
    let url = format!("file://{}", bare.display());
    let products: Vec<(String, String, &str)> = (0..PRODUCTS).map(|i| (product(i), url.clone(), "short")).collect();
    let catalog = serde_json::to_value(load_catalog(config_yaml(&products))?)?;
    let store = SqliteStore::open(&data.join("ferry.db")).await?;
    store.write(vec![Write::Config { applied_by: "bench".into(), catalog, at: Timestamp::now() }]).await?;
    eprintln!("  generating {n} releases ({events_per_release} events each) through Store::write");
    let (gen_rates, gen_time) = populate(&store, templates, n).await?;

    // In-process store reads, against the minimal program's newest-50 query.
    let q = sizes.queries;
    let mut list_store = Vec::with_capacity(q);
    for k in 0..q {
        let t = Instant::now();
        let page = store
            .list_releases(ReleaseFilter {
                product: Some(product(k)),
                statuses: vec!["Succeeded".into()],
                limit: 50,
                ..Default::default()
            })
            .await?;
        list_store.push(ms(t.elapsed()));
        if page.items.len() != 50.min(n / PRODUCTS) {
            bail!("the release list returned {} rows", page.items.len());
        }
    }
    drop(store);
    tokio::time::sleep(Duration::from_millis(500)).await; // let the store's connections close

    // Start-up to serving, repeated; the last instance serves the reads.
    let args = vec!["serve-ferry".to_owned(), "--data".to_owned(), data.display().to_string()];
    let minimal_args = vec!["serve-minimal".to_owned()];
    let mut startups = Vec::new();
    let mut minimal_startups = Vec::new();
    let mut server = None;
    for k in 0..sizes.startups {
        let s = ChildServer::start(&args, "/api/v1/releases?limit=1").await?;
        startups.push(s.startup.as_secs_f64());
        if k + 1 == sizes.startups {
            server = Some(s);
        } else {
            s.stop().await?;
        }
        let m = ChildServer::start(&minimal_args, "/json").await?;
        minimal_startups.push(m.startup.as_secs_f64());
        m.stop().await?;
    }
    let server = server.context("no server")?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let sample: Vec<String> = (0..SAMPLES).map(|k| release_id((k * 7919) % n, n)).collect();
    for k in 0..20 {
        timed_get(&client, &format!("{base}/api/v1/releases/{}", sample[k % sample.len()]), false).await?;
    }
    let mut list = Vec::with_capacity(q);
    let mut view = Vec::with_capacity(q);
    for k in 0..q {
        let url = format!("{base}/api/v1/releases?product={}&status=Succeeded&limit=50", product(k));
        let (t, status) = timed_get(&client, &url, false).await?;
        if !status.is_success() {
            bail!("GET {url}: {status}");
        }
        list.push(t);
        let url = format!("{base}/api/v1/releases/{}", sample[k % sample.len()]);
        let (t, status) = timed_get(&client, &url, false).await?;
        if !status.is_success() {
            bail!("GET {url}: {status}");
        }
        view.push(t);
    }
    // DORA metrics of one product over 90 days (the weekly rollups, and the outcomes of the first
    // partial week).
    let mut dora = Vec::with_capacity(q);
    for k in 0..q {
        let url = format!("{base}/api/v1/dora?product={}&since={DORA_SINCE}", product(k));
        let (t, status) = timed_get(&client, &url, false).await?;
        if !status.is_success() {
            bail!("GET {url}: {status}");
        }
        dora.push(t);
    }
    // The HTML pages of the web UI.
    let mut product_page = Vec::with_capacity(q);
    let mut release_page = Vec::with_capacity(q);
    for k in 0..q {
        let (t, s1) = timed_get(&client, &format!("{base}/products/{}", product(k)), true).await?;
        let (u, s2) = timed_get(&client, &format!("{base}/releases/{}", sample[k % sample.len()]), true).await?;
        if !s1.is_success() || !s2.is_success() {
            bail!("UI page answered {s1} / {s2}");
        }
        product_page.push(t);
        release_page.push(u);
    }
    let rss_mib = server.rss_kib()? as f64 / 1024.0;
    server.stop().await?;
    // The minimal server's memory after the same number of requests.
    let minimal = ChildServer::start(&minimal_args, "/json").await?;
    let murl = format!("http://{}/json", minimal.addr);
    for _ in 0..(2 * q) {
        timed_get(&client, &murl, false).await?;
    }
    let minimal_rss = minimal.rss_kib()? as f64 / 1024.0;
    minimal.stop().await?;

    let scenario = if n == 1_000_000 { "5 1M releases".to_owned() } else { format!("5 {n} releases") };
    let scenario = scenario.as_str();
    let batch = limits.batch().await?;
    let http = limits.http().await?;
    let http_limit =
        || Some(Limit { primitive: "minimal axum JSON round trip (reqwest)".into(), stat: http.latency_ms });
    let mut rows = vec![
        Row::new(
            scenario,
            &format!("rows/s written through Store::write ({events_per_release} events + 1 projection row per release)"),
            Unit::PerSec,
            Stat::of_rates(&gen_rates.iter().map(|r| r * (events_per_release + 1) as f64).collect::<Vec<_>>()),
            Some(Limit {
                primitive: format!(
                    "batched SQLite rows/s ({} per transaction, {} per statement)",
                    crate::limits::BATCH,
                    crate::limits::ROWS_PER_STATEMENT
                ),
                stat: batch.rows_per_sec,
            }),
        )
        .note(&format!(
            "{n} releases in {:.0} s ({:.0} releases/s), {BATCH} per Store::write call (one transaction, a savepoint each)",
            gen_time.as_secs_f64(),
            n as f64 / gen_time.as_secs_f64()
        )),
        Row::new(
            scenario,
            "release list in-process (store.list_releases, product+status, 50 rows)",
            Unit::Ms,
            Stat::of_latencies(&list_store),
            Some(Limit {
                primitive: format!("newest-50-of-a-key query, {}-row table", batch.rows),
                stat: batch.newest50_ms,
            }),
        ),
        Row::new(
            scenario,
            "release list API (50 rows, product+status filter)",
            Unit::Ms,
            Stat::of_latencies(&list),
            http_limit(),
        )
        .target("p99 ≤ 2 ms", Goal::P99AtMost(2.0)),
        Row::new(scenario, "release view API", Unit::Ms, Stat::of_latencies(&view), http_limit())
            .target("p99 ≤ 2 ms", Goal::P99AtMost(2.0)),
    ];
    rows.push(
        Row::new(
            scenario,
            &format!("DORA metrics API (one product, 90 days: ~{} outcomes)", 2 * n / PRODUCTS / 3),
            Unit::Ms,
            Stat::of_latencies(&dora),
            http_limit(),
        )
        .target("p99 ≤ 50 ms", Goal::P99AtMost(50.0))
        .note("reads one rollup row per environment and week, and the outcomes of the window's first, partial week"),
    );
    rows.push(
        Row::new(scenario, "HTML page /products/{name}", Unit::Ms, Stat::of_latencies(&product_page), http_limit())
            .target("p99 ≤ 5 ms", Goal::P99AtMost(5.0)),
    );
    rows.push(
        Row::new(scenario, "HTML page /releases/{id}", Unit::Ms, Stat::of_latencies(&release_page), http_limit())
            .target("p99 ≤ 5 ms", Goal::P99AtMost(5.0)),
    );
    rows.push(
        Row::new(
            scenario,
            "server resident memory after the reads",
            Unit::MiB,
            Stat::single(rss_mib),
            Some(Limit {
                primitive: "minimal axum server after as many requests".into(),
                stat: Stat::single(minimal_rss),
            }),
        )
        .target("≤ 200 MB", Goal::MedianAtMost(200.0 * 1e6 / 1024.0 / 1024.0)),
    );
    rows.push(
        Row::new(
            scenario,
            "start-up to serving (spawn → first list answered)",
            Unit::Seconds,
            Stat::of_latencies(&startups),
            Some(Limit {
                primitive: "minimal axum server process, spawn → first answer".into(),
                stat: Stat::of_latencies(&minimal_startups),
            }),
        )
        .target("≤ 1 s", Goal::P99AtMost(1.0)),
    );
    Ok(rows)
}
