//! `ferry-bench`: Ferry's benchmark harness (SPEC §9).
//!
//! Prints one table: each scenario's figure (median and p99 over repeated runs) beside the machine's
//! own limit for the same primitive, measured by this harness in the same run with minimal programs,
//! and the ratio of the two. Every scenario builds its own data in a temporary directory.
//!
//! ```text
//! cargo run --release -p ferry-bench -- all            # everything (under 15 minutes on 2 cores)
//! cargo run --release -p ferry-bench -- quick          # small sizes (under 2 minutes), CI smoke test
//! cargo run --release -p ferry-bench -- hop sse --json results.json
//! cargo run --release -p ferry-bench -- postgres --postgres postgres://USER@HOST/postgres
//! ```
//!
//! The PostgreSQL scenario runs only when named (or with `all`/`quick`) and given a server where it
//! may create a database (`--postgres URL` or `FERRY_BENCH_POSTGRES`); without one, `all` and `quick`
//! leave it out.

mod active;
mod argocd;
mod engine;
mod git;
mod limits;
mod minimal;
mod notes;
mod postgres;
mod releases;
mod report;
mod rig;
mod scale;
mod sse;
mod stats;
mod takeover;
mod triggers;
mod util;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use crate::limits::Limits;
use crate::report::{Background, Machine, Report, Row, Sampler};

/// Scenario names, in the order `all` runs them.
const SCENARIOS: [(&str, &str); 11] = [
    ("hop", "1 hop overhead: dependency Successful → next environment's first action started"),
    ("throughput", "2 engine throughput: environment promotions/s, action none, durable"),
    ("git", "3 git promotion throughput against a plain commit+push loop"),
    ("steps", "4 workflow step throughput against raw sh spawns"),
    ("releases", "5 a million stored releases: list, view, HTML pages, memory, start-up"),
    ("sse", "6 live updates: commit → SSE delivered, idle subscriber memory"),
    ("notes", "7 release notes against git log over the same range"),
    ("scale", "8 scale: a flow of 1,000 environments planned, run and rendered"),
    ("active", "10 active releases: 10,000 waiting on health — memory, and the hop beside them"),
    ("argocd", "11 Argo CD status: stand-in reports Synced+Healthy → Ferry observes it (watch), beside its delay"),
    ("triggers", "12 trigger polling: 1,000 products' trigger environments polled, CPU per 30 s"),
];

/// The PostgreSQL scenario: only with a server (`--postgres URL`).
const POSTGRES: (&str, &str) =
    ("postgres", "9 PostgreSQL: engine throughput beside raw inserts, cross-replica event delivery");

/// How much work each scenario does.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Rounds of durable commits.
    pub commit_rounds: usize,
    /// Durable commits per round.
    pub commits_per_round: usize,
    /// Rows of the batched-insert table.
    pub batch_rows: usize,
    /// Promotions (and raw commit+push iterations).
    pub promotions: usize,
    /// Minimal HTTP round trips.
    pub http_requests: usize,
    /// Read queries per kind in scenario 5.
    pub queries: usize,
    /// Releases run one at a time in scenario 1.
    pub hop_releases: usize,
    /// Products in scenario 2.
    pub tp_products: usize,
    /// Releases per product per round in scenario 2 (at most the queue limit, 50).
    pub tp_per_product: usize,
    /// Rounds of scenario 2.
    pub tp_rounds: usize,
    /// Workflow steps per mode in scenario 4.
    pub steps: usize,
    /// Stored releases in scenario 5.
    pub releases: usize,
    /// Server start-ups timed in scenario 5.
    pub startups: usize,
    /// Live subscribers in scenario 6.
    pub sse_subscribers: usize,
    /// Commits delivered to them.
    pub sse_rounds: usize,
    /// Idle subscribers in scenario 6.
    pub idle_subscribers: usize,
    /// Commits in the release-notes range.
    pub notes_commits: usize,
    /// `git log` runs.
    pub notes_runs: usize,
    /// Environments of the wide flow in scenario 8.
    pub wide_envs: usize,
    /// Requests per page in scenario 8.
    pub wide_requests: usize,
    /// Releases waiting at once in scenario 10.
    pub active_waiting: usize,
    /// Releases hopping through the standard flow beside them.
    pub active_hops: usize,
    /// Releases through the Argo CD stand-in in scenario 11.
    pub argocd_releases: usize,
    /// Owners killed in the takeover measurement of scenario 9.
    pub takeover_kills: usize,
    /// Products polled for triggers in scenario 12.
    pub poll_products: usize,
    /// Repositories they share.
    pub poll_repos: usize,
    /// Poll interval of scenario 12, in seconds.
    pub poll_interval_s: u64,
    /// Intervals over which its CPU is measured.
    pub poll_rounds: usize,
}

impl Sizes {
    /// The sizes of `all`.
    pub fn full() -> Sizes {
        Sizes {
            commit_rounds: 5,
            commits_per_round: 1_000,
            batch_rows: 1_000_000,
            promotions: 100,
            http_requests: 5_000,
            queries: 2_000,
            hop_releases: 50,
            tp_products: 4,
            tp_per_product: 25,
            tp_rounds: 5,
            steps: 2_000,
            releases: 1_000_000,
            startups: 3,
            sse_subscribers: 1_000,
            sse_rounds: 100,
            idle_subscribers: 10_000,
            notes_commits: 10_000,
            notes_runs: 10,
            wide_envs: 1_000,
            wide_requests: 200,
            active_waiting: 10_000,
            active_hops: 20,
            argocd_releases: 20,
            takeover_kills: 20,
            poll_products: 1_000,
            poll_repos: 10,
            poll_interval_s: 10,
            poll_rounds: 6,
        }
    }

    /// The sizes of `quick`.
    pub fn quick() -> Sizes {
        Sizes {
            commit_rounds: 3,
            commits_per_round: 200,
            batch_rows: 20_000,
            promotions: 20,
            http_requests: 500,
            queries: 200,
            hop_releases: 10,
            tp_products: 2,
            tp_per_product: 5,
            tp_rounds: 2,
            steps: 200,
            releases: 20_000,
            startups: 2,
            sse_subscribers: 100,
            sse_rounds: 20,
            idle_subscribers: 1_000,
            notes_commits: 2_000,
            notes_runs: 3,
            wide_envs: 100,
            wide_requests: 20,
            active_waiting: 200,
            active_hops: 5,
            argocd_releases: 5,
            takeover_kills: 3,
            poll_products: 50,
            poll_repos: 2,
            poll_interval_s: 1,
            poll_rounds: 3,
        }
    }
}

#[derive(Debug, Parser)]
#[command(name = "ferry-bench", about = "Ferry's benchmark harness: SPEC §9 figures beside the machine's own limits")]
struct Cli {
    /// `all`, `quick`, or scenario names: hop, throughput, git, steps, releases, sse, notes, scale, active,
    /// argocd, triggers, postgres (with --postgres).
    #[arg(required = true)]
    what: Vec<String>,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Use the small sizes of `quick` for the named scenarios.
    #[arg(long)]
    quick: bool,
    /// A PostgreSQL server where scenario `postgres` creates (and drops) a database of its own.
    #[arg(long, env = "FERRY_BENCH_POSTGRES", value_name = "URL")]
    postgres: Option<String>,
    /// How many releases wait at once in scenario `active` (default 10,000; 200 with `--quick`).
    #[arg(long, value_name = "N")]
    active_waiting: Option<usize>,
    /// How many owners scenario `postgres` kills to time takeovers (default 20; 3 with `--quick`;
    /// 0 leaves the row out, for quicker runs of the other rows).
    #[arg(long, value_name = "N")]
    takeover_kills: Option<usize>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Child servers and processes started by the harness itself.
    let child = match args.get(1).map(String::as_str) {
        Some("serve-ferry") => Some(serve_ferry(&args[2..])),
        Some("serve-minimal") => Some(minimal::child_main()),
        Some(active::CHILD_COMMAND) => Some(active::run_child(&args[2..])),
        _ => None,
    };
    if let Some(result) = child {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferry-bench child process: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ferry-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `ferry-bench serve-ferry --data DIR`: the start-up of `ferry server` (store, engine, API) on
/// 127.0.0.1 with a free port, announced as `listening ADDR` on stdout.
fn serve_ferry(args: &[String]) -> Result<()> {
    let data = match args {
        [flag, dir] if flag == "--data" => PathBuf::from(dir),
        _ => anyhow::bail!("usage: ferry-bench serve-ferry --data DIR"),
    };
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        use ferry_store::SqliteStore;
        let store = SqliteStore::open(&data.join("ferry.db")).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let config = ferry_engine::EngineConfig::new(data.clone(), format!("http://{addr}"));
        let (engine, _task) = ferry_engine::start(store.clone(), config).await.context("starting the engine")?;
        println!("listening {addr}");
        ferry_server::serve(listener, store, engine, ferry_server::ServerSettings::default()).await?;
        Ok(())
    })
}

fn run(cli: Cli) -> Result<bool> {
    let mut quick = cli.quick;
    let mut selected: Vec<&str> = Vec::new();
    for w in &cli.what {
        match w.as_str() {
            "all" => {
                selected.extend(SCENARIOS.iter().map(|(n, _)| *n));
                selected.extend(cli.postgres.as_ref().map(|_| POSTGRES.0));
            }
            "quick" => {
                quick = true;
                selected.extend(SCENARIOS.iter().map(|(n, _)| *n));
                selected.extend(cli.postgres.as_ref().map(|_| POSTGRES.0));
            }
            name if name == POSTGRES.0 => {
                if cli.postgres.is_none() {
                    anyhow::bail!("scenario postgres needs a server: --postgres URL or FERRY_BENCH_POSTGRES");
                }
                selected.push(POSTGRES.0);
            }
            name => match SCENARIOS.iter().find(|(n, _)| *n == name) {
                Some((n, _)) => selected.push(n),
                None => anyhow::bail!(
                    "unknown scenario {name:?}; use all, quick or one of: {}",
                    SCENARIOS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            },
        }
    }
    selected.dedup();
    let mut sizes = if quick { Sizes::quick() } else { Sizes::full() };
    if let Some(n) = cli.active_waiting {
        sizes.active_waiting = n;
    }
    if let Some(n) = cli.takeover_kills {
        sizes.takeover_kills = n;
    }
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("cannot raise the open-file limit: {e}");
    }
    let machine = Machine::describe();
    let started = jiff::Timestamp::now();
    let clock = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let tmp = tempfile::Builder::new().prefix("ferry-bench-").tempdir().context("creating a temporary directory")?;
    let limits = Limits::new(sizes, tmp.path().join("limits"));
    let mut rows: Vec<Row> = Vec::new();
    let mut ok = true;
    let mut background = Vec::new();
    for name in &selected {
        let title = SCENARIOS.iter().chain([&POSTGRES]).find(|(n, _)| n == name).map_or(*name, |(_, t)| *t);
        eprintln!("scenario {title} ({:.0} s so far)", clock.elapsed().as_secs_f64());
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir)?;
        let t = Instant::now();
        let sampler = Sampler::start();
        let result = runtime.block_on(scenario(name, &dir, &limits, sizes, cli.postgres.as_deref()));
        let (max_load, max_compilers) = sampler.finish();
        background.push(Background {
            scenario: (*name).to_owned(),
            seconds: t.elapsed().as_secs_f64(),
            max_load,
            max_compilers,
        });
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => {
                ok = false;
                eprintln!("  scenario {name} failed: {e:#}");
                rows.push(Row::unavailable(title, "scenario", &format!("failed: {e:#}")));
            }
        }
        eprintln!("  done in {:.1} s", t.elapsed().as_secs_f64());
    }
    drop(runtime);
    let report = Report {
        mode: cli.what.join(" ") + if cli.quick { " --quick" } else { "" },
        optimized: !cfg!(debug_assertions),
        started: started.to_string(),
        seconds: clock.elapsed().as_secs_f64(),
        machine,
        rows,
        background,
    };
    println!(
        "Ferry benchmark ({}, {} build), {} — {} × {} CPUs, {:.0} GiB, load {:.2} at start; {:.0} s",
        report.mode,
        if report.optimized { "release" } else { "debug" },
        report.started,
        report.machine.cpus,
        report.machine.cpu,
        report.machine.memory_gib,
        report.machine.load_at_start,
        report.seconds
    );
    println!();
    print!("{}", report.table());
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ok)
}

async fn scenario(
    name: &str,
    dir: &std::path::Path,
    limits: &Limits,
    s: Sizes,
    postgres: Option<&str>,
) -> Result<Vec<Row>> {
    match name {
        "postgres" => match postgres {
            Some(server) => postgres::postgres(dir, server, s).await,
            None => anyhow::bail!("scenario postgres needs --postgres URL"),
        },
        "hop" => engine::hop_overhead(dir, limits, s.hop_releases).await,
        "throughput" => engine::throughput(dir, limits, s.tp_products, s.tp_per_product, s.tp_rounds).await,
        "git" => git::promotions(dir, s.promotions).await,
        "steps" => workflow::steps(dir, s.steps).await,
        "releases" => releases::releases(dir, limits, s).await,
        "sse" => sse::sse(dir, s.sse_subscribers, s.sse_rounds, s.idle_subscribers).await,
        "notes" => notes::notes(dir, s.notes_commits, s.notes_runs).await,
        "scale" => scale::wide(dir, limits, s.wide_envs, s.wide_requests).await,
        "active" => active::active(dir, limits, s.active_waiting, s.active_hops).await,
        "argocd" => argocd::argocd(dir, s.argocd_releases).await,
        "triggers" => {
            let interval = std::time::Duration::from_secs(s.poll_interval_s);
            triggers::triggers(dir, s.poll_products, s.poll_repos, interval, s.poll_rounds).await
        }
        other => anyhow::bail!("unknown scenario {other}"),
    }
}
