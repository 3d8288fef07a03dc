//! Scenario 4: workflow steps through `ferry-runner` (one-line steps) against raw `sh -c true` spawns.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ferry_model::resources::Workflow;
use ferry_model::status::StepStatus;
use ferry_runner::{RunSpec, Runner, RunnerConfig};

use crate::limits;
use crate::report::{Goal, Limit, Row, Unit};
use crate::stats::{Stat, rate};

fn workflow(steps: usize) -> Result<Workflow> {
    let mut yaml = String::from("apiVersion: ferry/v1\nkind: Workflow\nmetadata: { name: steps }\nspec:\n  steps:\n");
    for i in 0..steps {
        yaml.push_str(&format!("    - {{ name: s{i}, run: \"true\" }}\n"));
    }
    let loaded = ferry_config::load_sources(&[ferry_config::Source { name: "steps.yaml".into(), text: yaml }])
        .map_err(|d| anyhow::anyhow!("{}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")))?;
    loaded.catalog.workflows.into_values().next().context("no workflow")
}

async fn run(runner: &Runner, wf: &Workflow, cwd: &Path) -> Result<()> {
    let spec = RunSpec {
        run_id: uuid::Uuid::now_v7().to_string(),
        workflow: wf.clone(),
        env: BTreeMap::new(),
        cwd: cwd.to_path_buf(),
        completed: BTreeMap::new(),
        labels: BTreeMap::new(),
        attempt: 1,
    };
    let mut handle = runner.start(spec);
    if let Some(mut events) = handle.take_events() {
        tokio::spawn(async move { while events.recv().await.is_some() {} });
    }
    let outcome = handle.wait().await;
    if outcome.status != StepStatus::Success {
        bail!("a benchmark run ended {}: {:?}", outcome.status, outcome.error);
    }
    Ok(())
}

/// Steps of each benchmark workflow (run one after another).
const STEPS_PER_RUN: usize = 10;
/// Runs (and raw spawn tasks) in parallel.
const LANES: usize = 8;

/// Scenario 4. Each round of Ferry's steps is followed by a round of as many raw spawns.
pub async fn steps(dir: &Path, total: usize) -> Result<Vec<Row>> {
    let cwd = dir.join("cwd");
    std::fs::create_dir_all(&cwd)?;
    let runner =
        Runner::new(RunnerConfig { max_concurrent_steps: 8, work_dir: dir.join("runner"), ..RunnerConfig::default() });
    // Workflows of a realistic size: runs of STEPS_PER_RUN one-line steps.
    let rounds = 5usize;
    let runs_per_round = (total / rounds / STEPS_PER_RUN).max(8);
    let steps_per_round = runs_per_round * STEPS_PER_RUN;
    let wf = workflow(STEPS_PER_RUN)?;
    run(&runner, &wf, &cwd).await?; // warm-up
    limits::spawn_round(STEPS_PER_RUN).await?;
    let (mut one, mut raw_one, mut per_spawn) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..runs_per_round {
            run(&runner, &wf, &cwd).await?;
        }
        one.push(rate(steps_per_round, start.elapsed()));
        let (r, each) = limits::spawn_round(steps_per_round).await?;
        raw_one.push(r);
        per_spawn.extend(each);
    }
    let (mut eight, mut raw_eight) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        let lanes: Vec<_> = (0..LANES)
            .map(|_| {
                let (runner, wf, cwd) = (runner.clone(), wf.clone(), cwd.clone());
                async move {
                    for _ in 0..runs_per_round / LANES {
                        run(&runner, &wf, &cwd).await?;
                    }
                    Ok::<_, anyhow::Error>(())
                }
            })
            .collect();
        futures_util::future::try_join_all(lanes).await?;
        eight.push(rate(runs_per_round / LANES * LANES * STEPS_PER_RUN, start.elapsed()));
        raw_eight.push(limits::parallel_spawn_round(LANES, steps_per_round / LANES).await?);
    }
    let one = Stat::of_rates(&one);
    let raw_one = Stat::of_rates(&raw_one);
    Ok(vec![
        Row::new(
            "4 workflow steps",
            "one-line steps/s, runs of 10 steps one at a time",
            Unit::PerSec,
            one,
            Some(Limit { primitive: "sh -c true spawns/s from one task".into(), stat: raw_one }),
        )
        .target("≥ 50% of the spawn rate", Goal::RatioAtLeast(0.5))
        .note(&format!("{rounds} rounds of {steps_per_round} steps, each followed by a round of as many raw spawns")),
        Row::new(
            "4 workflow steps",
            "one-line steps/s, 8 runs of 10 steps in parallel",
            Unit::PerSec,
            Stat::of_rates(&eight),
            Some(Limit {
                primitive: "sh -c true spawns/s, 8 tasks in parallel".into(),
                stat: Stat::of_rates(&raw_eight),
            }),
        )
        .target("≥ 50% of the spawn rate", Goal::RatioAtLeast(0.5)),
        Row::new(
            "4 workflow steps",
            "time per step, one run at a time (1 / median rate)",
            Unit::Ms,
            Stat::single(1000.0 / one.median),
            Some(Limit { primitive: "one sh -c true spawn".into(), stat: Stat::of_latencies(&per_spawn) }),
        ),
    ])
}
