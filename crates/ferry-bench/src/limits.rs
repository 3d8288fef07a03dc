//! The machine's own limits, measured with minimal programs of the harness (never with Ferry's code):
//! durable SQLite commits, batched inserts and a newest-50 query, and a minimal HTTP JSON round trip,
//! each measured once per run when a scenario first needs it ([`Limits`]); `sh -c true` spawns and a
//! plain `git commit && git push` loop, measured in rounds interleaved with the rounds of the Ferry
//! figure they are compared with, so that both see the same background load.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::OnceCell;

use crate::Sizes;
use crate::stats::{Stat, ms, rate};
use crate::util::git_async;

/// Durable one-row commits.
#[derive(Debug, Clone, Copy)]
pub struct CommitLimit {
    /// Latency of one commit, ms.
    pub latency_ms: Stat,
    /// Commits per second (per round).
    pub rate: Stat,
}

/// Batched inserts and a keyed newest-50 query on the table they built.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimit {
    /// Rows per second, per batch of rounds.
    pub rows_per_sec: Stat,
    /// Newest 50 rows of one key, ms.
    pub newest50_ms: Stat,
    /// Rows in the table queried.
    pub rows: usize,
}

/// Minimal HTTP JSON round trips.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimit {
    /// Round-trip latency, ms.
    pub latency_ms: Stat,
}

/// Lazily measured limits of this run.
pub struct Limits {
    sizes: Sizes,
    dir: PathBuf,
    commit: OnceCell<CommitLimit>,
    batch: OnceCell<BatchLimit>,
    http: OnceCell<HttpLimit>,
}

impl Limits {
    /// Limits measured under `dir` (a temporary directory) with `sizes`.
    pub fn new(sizes: Sizes, dir: PathBuf) -> Limits {
        Limits { sizes, dir, commit: OnceCell::new(), batch: OnceCell::new(), http: OnceCell::new() }
    }

    /// Durable one-row SQLite commits (WAL, `synchronous=FULL`).
    pub async fn commit(&self) -> Result<CommitLimit> {
        let dir = self.dir.join("sqlite-commit");
        let s = self.sizes;
        self.commit
            .get_or_try_init(|| async move {
                eprintln!("  limit: durable one-row SQLite commits");
                sqlite_commits(&dir, s.commit_rounds, s.commits_per_round).await
            })
            .await
            .copied()
    }

    /// Batched inserts and the newest-50 query.
    pub async fn batch(&self) -> Result<BatchLimit> {
        let dir = self.dir.join("sqlite-batch");
        let s = self.sizes;
        self.batch
            .get_or_try_init(|| async move {
                eprintln!("  limit: batched SQLite inserts ({} rows) and newest-50 query", s.batch_rows);
                sqlite_batched(&dir, s.batch_rows, s.queries).await
            })
            .await
            .copied()
    }

    /// Minimal axum JSON endpoint, reqwest client, loopback.
    pub async fn http(&self) -> Result<HttpLimit> {
        let n = self.sizes.http_requests;
        self.http
            .get_or_try_init(|| async move {
                eprintln!("  limit: minimal HTTP JSON round trip");
                http_round_trips(n).await
            })
            .await
            .copied()
    }
}

/// A connection as a minimal durable program opens it: WAL, `synchronous=FULL`.
fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "{} stays in {mode} mode", path.display());
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

async fn sqlite_commits(dir: &Path, rounds: usize, per_round: usize) -> Result<CommitLimit> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let conn = open(&dir.join("commits.db"))?;
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", [])?;
        let mut insert = conn.prepare("INSERT INTO t (v) VALUES (?)")?;
        let mut latencies = Vec::with_capacity(rounds * per_round);
        let mut rates = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            for i in 0..per_round {
                let t = Instant::now();
                insert.execute([format!("row {i}")])?;
                latencies.push(ms(t.elapsed()));
            }
            rates.push(rate(per_round, start.elapsed()));
        }
        Ok(CommitLimit { latency_ms: Stat::of_latencies(&latencies), rate: Stat::of_rates(&rates) })
    })
    .await?
}

/// Rows per transaction of the batched-insert limit.
pub const BATCH: usize = 1_000;
/// Rows per `INSERT … VALUES (…), (…), …` statement of the batched-insert limit.
pub const ROWS_PER_STATEMENT: usize = 100;

fn insert(rows: usize) -> String {
    format!("INSERT INTO t (id, key, body) VALUES {}", vec!["(?, ?, ?)"; rows].join(", "))
}

async fn sqlite_batched(dir: &Path, rows: usize, queries: usize) -> Result<BatchLimit> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || sqlite_batched_blocking(&dir, rows, queries)).await?
}

fn sqlite_batched_blocking(dir: &Path, rows: usize, queries: usize) -> Result<BatchLimit> {
    const KEYS: usize = 100;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("batched.db");
    let mut conn = open(&path)?;
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, key TEXT NOT NULL, body TEXT NOT NULL) WITHOUT ROWID", [])?;
    conn.execute("CREATE INDEX t_key ON t (key, id DESC)", [])?;
    let body = "x".repeat(100);
    let rounds = 10usize;
    let per_round = rows.div_ceil(rounds);
    let mut rates = Vec::with_capacity(rounds);
    let mut written = 0usize;
    while written < rows {
        let start = Instant::now();
        let target = (written + per_round).min(rows);
        let n = target - written;
        while written < target {
            let tx = conn.transaction()?;
            let end = (written + BATCH).min(target);
            for first in (written..end).step_by(ROWS_PER_STATEMENT) {
                let rows = first..(first + ROWS_PER_STATEMENT).min(end);
                let mut values = Vec::with_capacity(rows.len() * 3);
                for i in rows.clone() {
                    values.push(format!("{i:012}"));
                    values.push(format!("k{}", i % KEYS));
                    values.push(body.clone());
                }
                tx.prepare_cached(&insert(rows.len()))?.execute(rusqlite::params_from_iter(values))?;
            }
            tx.commit()?;
            written = end;
        }
        rates.push(rate(n, start.elapsed()));
    }
    drop(conn);
    let reader =
        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let mut newest = reader.prepare("SELECT id, body FROM t WHERE key = ? ORDER BY id DESC LIMIT 50")?;
    let mut latencies = Vec::with_capacity(queries);
    for q in 0..queries {
        let t = Instant::now();
        let found = newest
            .query_map(params![format!("k{}", q % KEYS)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        latencies.push(ms(t.elapsed()));
        anyhow::ensure!(!found.is_empty(), "the newest-50 query found nothing");
    }
    Ok(BatchLimit { rows_per_sec: Stat::of_rates(&rates), newest50_ms: Stat::of_latencies(&latencies), rows })
}

async fn sh_true() -> Result<()> {
    let status = tokio::process::Command::new("sh")
        .args(["-c", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("spawning sh")?;
    anyhow::ensure!(status.success(), "sh -c true failed");
    Ok(())
}

/// One round of `n` `sh -c true` spawns from one task: the rate and each spawn's time, ms.
pub async fn spawn_round(n: usize) -> Result<(f64, Vec<f64>)> {
    let mut per_spawn = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        sh_true().await?;
        per_spawn.push(ms(t.elapsed()));
    }
    Ok((rate(n, start.elapsed()), per_spawn))
}

/// One round of `sh -c true` spawns from `tasks` tasks in parallel, `per_task` each: the rate.
pub async fn parallel_spawn_round(tasks: usize, per_task: usize) -> Result<f64> {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    sh_true().await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for h in handles {
        h.await??;
    }
    Ok(rate(tasks * per_task, start.elapsed()))
}

/// Rounds of about this many iterations give the per-round rates of loops.
pub const LOOP_ROUND: usize = 10;

/// The plain loop: edit a file in a working clone, `git commit -a`, `git push` to its origin (a local
/// bare repository).
pub struct GitLoop {
    work: PathBuf,
    file: PathBuf,
    iterations: usize,
}

impl GitLoop {
    /// The loop in the working clone `work`, editing `file` (relative to it).
    pub fn new(work: PathBuf, file: &str) -> GitLoop {
        let file = work.join(file);
        GitLoop { work, file, iterations: 0 }
    }

    /// Catches up with the origin (untimed: others may have pushed), then runs `n` iterations: the
    /// rate and each iteration's time, ms.
    pub async fn round(&mut self, n: usize) -> Result<(f64, Vec<f64>)> {
        git_async(&self.work, &["fetch", "-q", "origin"]).await?;
        git_async(&self.work, &["reset", "-q", "--hard", "origin/main"]).await?;
        let mut per = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            self.iterations += 1;
            let i = self.iterations;
            let t = Instant::now();
            std::fs::write(&self.file, format!("image:\n  tag: \"raw {i}\"\n"))?;
            git_async(&self.work, &["commit", "-q", "-a", "-m", &format!("promote {i}")]).await?;
            git_async(&self.work, &["push", "-q", "origin", "main"]).await?;
            per.push(ms(t.elapsed()));
        }
        Ok((rate(n, start.elapsed()), per))
    }
}

async fn http_round_trips(n: usize) -> Result<HttpLimit> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, _) = tokio::sync::broadcast::channel(16);
    let server = tokio::spawn(crate::minimal::serve(listener, tx));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/json");
    // Warm the connection.
    for _ in 0..20 {
        client.get(&url).send().await?.bytes().await?;
    }
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let body: serde_json::Value = client.get(&url).send().await?.error_for_status()?.json().await?;
        latencies.push(ms(t.elapsed()));
        anyhow::ensure!(body.is_object(), "unexpected body");
    }
    server.abort();
    Ok(HttpLimit { latency_ms: Stat::of_latencies(&latencies) })
}
