//! Scenarios 1 (hop overhead) and 2 (engine throughput) on the real engine.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use ferry_store::{ReleaseFilter, Store};
use jiff::Timestamp;

use crate::limits::Limits;
use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::{ENVS, Rig, STANDARD_TARGETS, kind_env, micros, standard_deps};
use crate::stats::Stat;

/// What the events of one release say about each target environment, ms.
#[derive(Default)]
pub(crate) struct Timings {
    /// Dependency Successful → ActionStarted, from the event timestamps.
    hop: Vec<f64>,
    /// Dependency Successful → ActionStarted committed (seen by a store subscriber).
    pub(crate) hop_durable: Vec<f64>,
    /// ActionStarted → first AppObserved: the exec status gate (with action none and no commands, it
    /// reads the branch tip of the GitOps mirror, without fetching).
    gate: Vec<f64>,
    /// EnvironmentStarted → last AppSucceeded, minus the gate: the engine and the store alone.
    rest: Vec<f64>,
}

impl Timings {
    pub(crate) fn extend(&mut self, other: Timings) {
        self.hop.extend(other.hop);
        self.hop_durable.extend(other.hop_durable);
        self.gate.extend(other.gate);
        self.rest.extend(other.rest);
    }
}

pub(crate) async fn timings(rig: &Rig, id: &str, received: &HashMap<(String, i64), Timestamp>) -> Result<Timings> {
    let events = rig.store.release_events(&crate::rig::release_id(id)?).await?;
    let mut env_started: HashMap<&str, Timestamp> = HashMap::new();
    let mut succeeded: HashMap<&str, Timestamp> = HashMap::new();
    let mut action: HashMap<&str, (Timestamp, i64)> = HashMap::new();
    let mut observed: HashMap<&str, Timestamp> = HashMap::new();
    for e in &events {
        let (kind, env) = kind_env(e);
        let Some(env) = ENVS.iter().find(|x| **x == env) else { continue };
        match kind {
            "EnvironmentStarted" => {
                env_started.entry(env).or_insert(e.at);
            }
            "AppSucceeded" => {
                let at = succeeded.entry(env).or_insert(e.at);
                *at = (*at).max(e.at);
            }
            "ActionStarted" => {
                action.entry(env).or_insert((e.at, e.seq));
            }
            "AppObserved" => {
                observed.entry(env).or_insert(e.at);
            }
            _ => {}
        }
    }
    let ms = |a: Timestamp, b: Timestamp| micros(a, b) as f64 / 1000.0;
    let mut t = Timings::default();
    for env in ENVS.iter().skip(1) {
        let Some((started, seq)) = action.get(env) else { bail!("release {id}: no action started in {env}") };
        let Some(dep_done) = standard_deps(env).iter().filter_map(|d| succeeded.get(d)).max() else {
            bail!("release {id}: the dependencies of {env} never succeeded")
        };
        t.hop.push(ms(*dep_done, *started));
        if let Some(seen) = received.get(&(id.to_owned(), *seq)) {
            t.hop_durable.push(ms(*dep_done, *seen));
        }
        if let (Some(obs), Some(begun), Some(done)) = (observed.get(env), env_started.get(env), succeeded.get(env)) {
            let gate = ms(*started, *obs);
            t.gate.push(gate);
            t.rest.push(ms(*begun, *done) - gate);
        }
    }
    Ok(t)
}

/// Scenario 1: releases one after another through a 4-hop flow; the overhead of each hop.
pub async fn hop_overhead(dir: &Path, limits: &Limits, releases: usize) -> Result<Vec<Row>> {
    let rig = Rig::start(dir, &[("hop".to_owned(), "standard")]).await?;
    // One warm-up release (mirror clone, first checkout).
    let warm = rig.promote("hop").await?;
    rig.wait_all(std::slice::from_ref(&warm), Duration::from_secs(120)).await?;
    let mut ids = Vec::with_capacity(releases);
    for _ in 0..releases {
        let id = rig.promote("hop").await?;
        rig.wait_all(std::slice::from_ref(&id), Duration::from_secs(120)).await?;
        ids.push(id);
    }
    let received = rig.received_times();
    let mut t = Timings::default();
    for id in &ids {
        t.extend(timings(&rig, id, &received).await?);
    }
    rig.stop();
    let commit = limits.commit().await?;
    let limit = Limit { primitive: "durable 1-row SQLite commit (FULL), latency".into(), stat: commit.latency_ms };
    Ok(vec![
        Row::new(
            "1 hop overhead",
            "dependency Successful → next env's ActionStarted committed (seen by a store subscriber)",
            Unit::Ms,
            Stat::of_latencies(&t.hop_durable),
            Some(limit.clone()),
        )
        .target("p50 ≤ 2 ms, p99 ≤ 10 ms", Goal::P50P99AtMost(2.0, 10.0))
        .note(&format!(
            "{} releases one at a time, {} hops; from the dependency's AppSucceeded timestamp (taken before its \
             commit) to the moment a store subscriber received the committed ActionStarted",
            ids.len(),
            t.hop_durable.len()
        )),
        Row::new(
            "1 hop overhead",
            "… the engine's decision alone (AppSucceeded → ActionStarted event timestamps)",
            Unit::Ms,
            Stat::of_latencies(&t.hop),
            Some(limit),
        ),
    ])
}

/// Scenario 2: many releases of several products at once; target environments made Successful
/// per second, end to end (promote request → last release Finished).
/// What rounds of concurrent releases measured.
struct Measured {
    /// Environment promotions per second, per round.
    rates: Vec<f64>,
    /// Per-environment timings under that load.
    loaded: Timings,
    /// Environment promotions in all rounds.
    total_envs: usize,
}

/// Environment promotions per second of `rounds` rounds of `per_product` concurrent releases of each
/// product of `names` on `rig` (after one warm-up release per product), and how many there were.
pub async fn promotion_rates(
    rig: &Rig,
    names: &[(String, &str)],
    per_product: usize,
    rounds: usize,
) -> Result<(Vec<f64>, usize)> {
    let m = measure(rig, names, per_product, rounds).await?;
    Ok((m.rates, m.total_envs))
}

async fn measure(rig: &Rig, names: &[(String, &str)], per_product: usize, rounds: usize) -> Result<Measured> {
    // Warm-up: one release per product.
    let mut warm = Vec::new();
    for (p, _) in names {
        warm.push(rig.promote(p).await?);
    }
    rig.wait_all(&warm, Duration::from_secs(300)).await?;
    let mut rates = Vec::with_capacity(rounds);
    let mut loaded = Timings::default();
    let mut total_envs = 0usize;
    for _ in 0..rounds {
        let start = Timestamp::now();
        let mut requests = Vec::new();
        for (p, _) in names {
            for _ in 0..per_product {
                requests.push(rig.promote(p));
            }
        }
        let ids: Vec<String> = futures_util::future::try_join_all(requests).await?;
        rig.wait_all(&ids, Duration::from_secs(600)).await?;
        let mut end = start;
        let mut succeeded = 0usize;
        for (p, _) in names {
            let page = rig
                .store
                .list_releases(ReleaseFilter { product: Some(p.clone()), limit: 500, ..Default::default() })
                .await?;
            for row in page.items.iter().filter(|r| ids.contains(&r.id)) {
                if row.status != "Succeeded" {
                    bail!("release {} ended {}: {:?}", row.id, row.status, row.reason);
                }
                succeeded += 1;
                if let Some(f) = row.finished_at {
                    end = end.max(f);
                }
            }
        }
        if succeeded != ids.len() {
            bail!("only {succeeded} of {} releases were found finished", ids.len());
        }
        let envs = succeeded * STANDARD_TARGETS;
        total_envs += envs;
        let secs = micros(start, end) as f64 / 1e6;
        rates.push(envs as f64 / secs.max(1e-6));
        let received = rig.received_times();
        for id in &ids {
            loaded.extend(timings(rig, id, &received).await?);
        }
    }
    Ok(Measured { rates, loaded, total_envs })
}

pub async fn throughput(
    dir: &Path,
    limits: &Limits,
    products: usize,
    per_product: usize,
    rounds: usize,
) -> Result<Vec<Row>> {
    let names: Vec<(String, &str)> = (0..products).map(|i| (format!("tp{i}"), "standard")).collect();
    let rig = Rig::start(dir, &names).await?;
    let Measured { rates, loaded, total_envs } = measure(&rig, &names, per_product, rounds).await?;
    let lagged = rig.lagged();
    rig.stop();
    let commit = limits.commit().await?;
    Ok(vec![
        Row::new(
            "2 engine throughput",
            "environment promotions/s (action none, exec without commands, durable)",
            Unit::PerSec,
            Stat::of_rates(&rates),
            Some(Limit { primitive: "durable 1-row SQLite commits/s (FULL)".into(), stat: commit.rate }),
        )
        .target("≥ 2,000 /s", Goal::MedianAtLeast(2000.0))
        .note(&format!(
            "{products} products × {per_product} releases per round, {rounds} rounds, {total_envs} environments; \
             subscriber lag {lagged} events"
        )),
        Row::new(
            "2 engine throughput",
            "hop overhead under that load (event timestamps)",
            Unit::Ms,
            Stat::of_latencies(&loaded.hop),
            Some(Limit { primitive: "durable 1-row SQLite commit (FULL), latency".into(), stat: commit.latency_ms }),
        ),
        Row::new(
            "2 engine throughput",
            "per environment: exec status gate, ActionStarted → AppObserved (mirror branch tip read)",
            Unit::Ms,
            Stat::of_latencies(&loaded.gate),
            None,
        ),
        Row::new(
            "2 engine throughput",
            "per environment: the rest, EnvironmentStarted → AppSucceeded minus the gate",
            Unit::Ms,
            Stat::of_latencies(&loaded.rest),
            Some(Limit { primitive: "durable 1-row SQLite commit (FULL), latency".into(), stat: commit.latency_ms }),
        ),
    ])
}
