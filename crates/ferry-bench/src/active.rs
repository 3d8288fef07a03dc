//! Scenario 10 (scale of one installation): thousands of releases active at once, each waiting in its
//! target environment for an application that is not yet healthy — half on pushed status (no agent
//! reports), half on a health command that keeps failing, polled every 60 s — while releases of another
//! product hop through the standard flow. Measures the resident memory of the process holding the
//! engine and the hop latency under that load; that process is a fresh child of the harness, so the
//! figure does not depend on the scenarios that ran before.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferry_engine::EngineConfig;
use ferry_store::Store;
use serde::{Deserialize, Serialize};

use crate::engine::{Timings, timings};
use crate::limits::Limits;
use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::{ENVS, Rig, config_yaml, gitops_files};
use crate::stats::Stat;
use crate::util::{bare_repo, peak_rss_kib, rss_kib};

/// Products (each with one waiting release) per configuration file: three documents each (the
/// product and its two applications), so a file stays under the 1,000-document limit.
const PER_FILE: usize = 300;

/// The configuration of the waiting products: flow `short` (dev → prod-eu), the prod-eu application on
/// pushed status (even products) or on a failing health command (odd products); all in one GitOps
/// repository `url`. The environments, flows and policy come with the `hop` product's file.
fn idle_yaml(products: usize, url: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut out = String::new();
    for i in 0..products {
        if i > 0 && i % PER_FILE == 0 {
            files.push(std::mem::take(&mut out));
        }
        let name = format!("idle{i:05}");
        let status = if i % 2 == 0 {
            "{ push: { healthTimeout: 24h } }"
        } else {
            "{ exec: { health: \"exit 1\", healthTimeout: 24h } }"
        };
        let _ = write!(
            out,
            "apiVersion: ferry/v1\nkind: Product\nmetadata: {{ name: {name} }}\nspec:\n  promotionFlows: [ {{ name: short }} ]\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: {name}-dev }}\nspec:\n  product: {name}\n  environment: dev\n  component: app\n  source: {{ repoURL: \"{url}\", path: apps/dev, targetRevision: main }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: {name}-prod-eu }}\nspec:\n  product: {name}\n  environment: prod-eu\n  component: app\n  source: {{ repoURL: \"{url}\", path: apps/prod-eu, targetRevision: main }}\n  status: {status}\n---\n"
        );
    }
    files.push(out);
    files
}

/// Counts `event` of a waiting release: it reached prod-eu, or its application there was observed.
fn count(
    event: &ferry_store::StoredEvent,
    in_target: &mut HashSet<String>,
    observed: &mut HashSet<String>,
) -> Result<()> {
    match crate::rig::kind_env(event) {
        ("EnvironmentStarted", "prod-eu") => {
            in_target.insert(event.release_id.clone());
        }
        ("AppObserved", "prod-eu") => {
            observed.insert(event.release_id.clone());
        }
        ("Finished" | "Terminated", _) => bail!("release {} ended while it should wait", event.release_id),
        _ => {}
    }
    Ok(())
}

/// What the scenario's child process measured ([`run_child`]), handed to the harness as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct Measured {
    /// Resident memory once the warm-up release finished, before the waiting releases, KiB.
    pub before_kib: u64,
    /// Once every waiting release waited, KiB.
    pub waiting_kib: u64,
    /// After the hop releases, KiB.
    pub after_kib: u64,
    /// The process's peak resident memory (`VmHWM`), KiB.
    pub peak_kib: u64,
    /// Seconds until every waiting release was in its target environment.
    pub settle_s: f64,
    /// Hop latencies of the `hop` releases, ms.
    pub hop_durable: Vec<f64>,
    /// How many `hop` releases ran.
    pub hops: usize,
}

/// The line of the child's stdout that carries its [`Measured`] JSON.
const RESULT_PREFIX: &str = "measured ";

/// Scenario 10: `waiting` releases active at once, then `hops` releases of product `hop` one after
/// another through the standard flow. The measured part runs in a fresh child process
/// (`ferry-bench run-active`), so its memory is that of the engine and store alone, whatever the
/// harness ran before.
pub async fn active(dir: &Path, limits: &Limits, waiting: usize, hops: usize) -> Result<Vec<Row>> {
    let exe = std::env::current_exe().context("locating the harness executable")?;
    let out = tokio::process::Command::new(exe)
        .arg(CHILD_COMMAND)
        .arg(dir)
        .arg(waiting.to_string())
        .arg(hops.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .context("running the scenario's child process")?;
    if !out.status.success() {
        bail!("the scenario's child process failed ({})", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .context("the scenario's child process printed no measurement")?;
    let m: Measured = serde_json::from_str(line).context("reading the child's measurement")?;
    rows(limits, waiting, &m).await
}

/// The hidden subcommand that runs the measured part: `ferry-bench run-active DIR WAITING HOPS`.
pub const CHILD_COMMAND: &str = "run-active";

/// `ferry-bench run-active DIR WAITING HOPS`: the measured part of scenario 10 in this (fresh) process;
/// prints `measured {JSON}` on stdout.
pub fn run_child(args: &[String]) -> Result<()> {
    let [dir, waiting, hops] = args else {
        bail!("usage: ferry-bench {CHILD_COMMAND} DIR WAITING HOPS");
    };
    let waiting: usize = waiting.parse().context("WAITING must be a number")?;
    let hops: usize = hops.parse().context("HOPS must be a number")?;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let m = runtime.block_on(measure(Path::new(dir), waiting, hops))?;
    println!("{RESULT_PREFIX}{}", serde_json::to_string(&m)?);
    Ok(())
}

/// The scenario's releases on an engine of this process, and this process's memory.
async fn measure(dir: &Path, waiting: usize, hops: usize) -> Result<Measured> {
    let (bare, _work) = bare_repo(dir, "gitops", &gitops_files())?;
    let url = format!("file://{}", bare.display());
    let mut yaml = vec![config_yaml(&[("hop".to_owned(), url.clone(), "standard")])];
    yaml.extend(idle_yaml(waiting, &url));
    let rig =
        Rig::start_tuned(dir, yaml, |c: &mut EngineConfig| c.health_poll_interval = Duration::from_secs(60)).await?;
    let warm = rig.promote("hop").await?;
    rig.wait_all(std::slice::from_ref(&warm), Duration::from_secs(120)).await?;
    let before_kib = rss_kib(std::process::id())?;

    // Every waiting release has started its target environment; the health-command half has also been
    // observed Progressing once. Counted from the store's broadcast, as it commits.
    let mut events = rig.store.subscribe();
    let started = std::time::Instant::now();
    let mut ids = HashSet::with_capacity(waiting);
    for i in 0..waiting {
        ids.insert(rig.promote(&format!("idle{i:05}")).await?);
    }
    let (mut in_target, mut observed) = (HashSet::new(), HashSet::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while in_target.len() < waiting || observed.len() < waiting / 2 {
        let event = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) => event,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                // Events went by uncounted: count the releases not counted yet from their stored events.
                for id in &ids {
                    if in_target.contains(id) && observed.contains(id) {
                        continue;
                    }
                    let release: ferry_model::names::ReleaseId = id.parse().context("a release id")?;
                    for event in rig.store.release_events(&release).await? {
                        count(&event, &mut in_target, &mut observed)?;
                    }
                }
                continue;
            }
            Ok(Err(e)) => bail!("the store's events ended: {e}"),
            Err(_) => bail!(
                "{} of {waiting} releases reached prod-eu and {} of {} were observed within 10 minutes",
                in_target.len(),
                observed.len(),
                waiting / 2
            ),
        };
        if ids.contains(&event.release_id) {
            count(&event, &mut in_target, &mut observed)?;
        }
    }
    let settle = started.elapsed();
    let waiting_kib = rss_kib(std::process::id())?;
    let active = rig.store.active_releases().await?.len();
    if active < waiting {
        bail!("{active} releases are active, expected at least {waiting}");
    }

    // Releases of `hop`, one after another, while the others wait.
    let mut hop_ids = Vec::with_capacity(hops);
    for _ in 0..hops {
        let id = rig.promote("hop").await?;
        rig.wait_all(std::slice::from_ref(&id), Duration::from_secs(120)).await?;
        hop_ids.push(id);
    }
    let received = rig.received_times();
    let mut t = Timings::default();
    for id in &hop_ids {
        t.extend(timings(&rig, id, &received).await.context("timing a hop release")?);
    }
    let after_kib = rss_kib(std::process::id())?;
    let peak_kib = peak_rss_kib(std::process::id())?;
    rig.stop();
    Ok(Measured {
        before_kib,
        waiting_kib,
        after_kib,
        peak_kib,
        settle_s: settle.as_secs_f64(),
        hop_durable: t.hop_durable,
        hops: hop_ids.len(),
    })
}

/// The scenario's rows from the child's measurement.
async fn rows(limits: &Limits, waiting: usize, m: &Measured) -> Result<Vec<Row>> {
    let commit = limits.commit().await?;
    let scenario = "10 active releases";
    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(vec![
        Row::new(
            scenario,
            &format!("resident memory with {waiting} releases waiting on health"),
            Unit::MiB,
            Stat::single(mib(m.waiting_kib.max(m.after_kib))),
            None,
        )
        .target("≤ 1,024 MiB", Goal::MedianAtMost(1024.0))
        .note(&format!(
            "a fresh process of the harness running only this scenario (engine, store, the harness's copy of every \
             committed event); {:.0} MiB before the releases, {:.0} MiB once all waited, {:.0} MiB after the hop \
             releases, peak {:.0} MiB; {} products of 2 applications; all {waiting} in prod-eu after {:.1} s",
            mib(m.before_kib),
            mib(m.waiting_kib),
            mib(m.after_kib),
            mib(m.peak_kib),
            waiting + 1,
            m.settle_s
        )),
        Row::new(
            scenario,
            &format!("hop (dependency Successful → ActionStarted committed) with {waiting} releases waiting"),
            Unit::Ms,
            Stat::of_latencies(&m.hop_durable),
            Some(Limit { primitive: "durable 1-row SQLite commit (FULL), latency".into(), stat: commit.latency_ms }),
        )
        .target("p99 ≤ 10 ms", Goal::P99AtMost(10.0))
        .note(&format!(
            "{} releases of product hop through {} environments, one at a time; half the waiting applications \
             on pushed status, half on a failing health command polled every 60 s",
            m.hops,
            ENVS.len()
        )),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_products_configuration_is_valid() {
        let mut files = vec![config_yaml(&[("hop".to_owned(), "file:///tmp/g.git".to_owned(), "standard")])];
        files.extend(idle_yaml(1_000, "file:///tmp/g.git"));
        assert_eq!(files.len(), 5, "300 products a file");
        let catalog = crate::rig::load_catalog_files(files).expect("valid");
        assert_eq!(catalog.products.len(), 1_001);
        assert_eq!(catalog.applications.len(), 5 + 2_000);
    }
}
