//! Helpers shared by the scenarios: git fixtures, child servers, raw SSE clients, memory readings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A fixed identity and date for every git command of the fixtures.
pub const GIT_ENV: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Bench"),
    ("GIT_AUTHOR_EMAIL", "bench@example.com"),
    ("GIT_COMMITTER_NAME", "Bench"),
    ("GIT_COMMITTER_EMAIL", "bench@example.com"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
];

/// Runs `git ARGS` in `dir`; its stdout on success.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(GIT_ENV)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running git {args:?}"))?;
    if !out.status.success() {
        bail!("git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Async variant of [`git`] (for timed loops).
pub async fn git_async(dir: &Path, args: &[&str]) -> Result<()> {
    let status = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(GIT_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .with_context(|| format!("running git {args:?}"))?;
    if !status.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
    }
    Ok(())
}

/// A bare repository `NAME.git` under `root` with one commit holding `files`, plus a working clone
/// `NAME-work` whose `origin` is the bare repository. Returns (bare, work).
pub fn bare_repo(root: &Path, name: &str, files: &[(String, String)]) -> Result<(PathBuf, PathBuf)> {
    let bare = root.join(format!("{name}.git"));
    let work = root.join(format!("{name}-work"));
    std::fs::create_dir_all(&bare)?;
    git(&bare, &["init", "--bare", "-q", "-b", "main"])?;
    std::fs::create_dir_all(&work)?;
    git(&work, &["init", "-q", "-b", "main"])?;
    for (path, text) in files {
        let p = work.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
    }
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "-q", "-m", "initial layout"])?;
    let bare_text = bare.to_str().context("non-UTF-8 temporary path")?;
    git(&work, &["remote", "add", "origin", bare_text])?;
    git(&work, &["push", "-q", "origin", "main"])?;
    Ok((bare, work))
}

/// One commit written by [`fast_import`]: its message and the files it sets.
pub struct FastCommit {
    /// Full message.
    pub message: String,
    /// `(path, content)` of each file it adds or changes.
    pub files: Vec<(String, String)>,
}

/// Appends `count` commits to branch `main` of the bare repository with `git fast-import`, one second
/// apart from 2026-01-01 (committer and author); commit `i` is `commit(i)`.
pub fn fast_import(bare: &Path, count: usize, commit: impl Fn(usize) -> FastCommit) -> Result<()> {
    use std::io::Write as _;
    let parent = git(bare, &["rev-parse", "--verify", "-q", "refs/heads/main"]).ok();
    let mut child = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(bare)
        .envs(GIT_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("starting git fast-import")?;
    {
        let stdin = child.stdin.as_mut().context("fast-import stdin")?;
        let mut w = std::io::BufWriter::new(stdin);
        let base = 1_767_225_600u64; // 2026-01-01
        for i in 0..count {
            let c = commit(i);
            let at = base + i as u64;
            writeln!(w, "commit refs/heads/main")?;
            writeln!(w, "mark :{}", i + 1)?;
            writeln!(w, "author Bench <bench@example.com> {at} +0000")?;
            writeln!(w, "committer Bench <bench@example.com> {at} +0000")?;
            writeln!(w, "data {}\n{}", c.message.len(), c.message)?;
            if i == 0
                && let Some(p) = &parent
            {
                writeln!(w, "from {p}")?;
            }
            for (path, data) in &c.files {
                writeln!(w, "M 100644 inline {path}")?;
                writeln!(w, "data {}\n{data}", data.len())?;
            }
        }
        w.flush()?;
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("git fast-import failed");
    }
    Ok(())
}

/// Resident memory of a process, in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// Peak resident memory of a process so far, in KiB (`VmHWM` of /proc/PID/status).
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/PID/status")?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} line in /proc/{pid}/status"))
}

/// A server running as a child process of the harness (`ferry-bench serve-…`).
pub struct ChildServer {
    /// The process.
    pub child: tokio::process::Child,
    /// Its address.
    pub addr: SocketAddr,
    /// From spawn to the first successful answer to `ready_path`.
    pub startup: Duration,
}

impl ChildServer {
    /// Starts `current_exe ARGS`, reads `listening ADDR` from its stdout, then polls `ready_path`
    /// until it answers 200. Gives up after 60 s.
    pub async fn start(args: &[String], ready_path: &str) -> Result<ChildServer> {
        let exe = std::env::current_exe().context("locating the harness executable")?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a child server")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(a) = line.strip_prefix("listening ") {
                    return Ok::<_, anyhow::Error>(a.trim().parse::<SocketAddr>()?);
                }
            }
            bail!("the child server ended before listening")
        })
        .await
        .context("the child server did not start within 60 s")??;
        // Keep draining its stdout so it never blocks.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = reqwest::Client::new();
        let url = format!("http://{addr}{ready_path}");
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the child server did not answer {ready_path} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let startup = started.elapsed();
        Ok(ChildServer { child, addr, startup })
    }

    /// Its resident memory, KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.child.id().context("the child server has exited")?)
    }

    /// Stops it (SIGKILL) and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await.context("stopping the child server")?;
        Ok(())
    }
}

/// Opens a raw HTTP/1.1 GET to `addr` `path` and reads the response head; fails unless 200.
pub async fn open_stream(addr: SocketAddr, path: &str) -> Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await.context("connecting")?;
    stream.set_nodelay(true)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the stream before answering");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            if !head.starts_with("HTTP/1.1 200") {
                bail!("unexpected answer: {}", head.lines().next().unwrap_or_default());
            }
            let rest = buf[end + 4..].to_vec();
            return Ok((stream, rest));
        }
        if buf.len() > 64 * 1024 {
            bail!("response head too large");
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads an SSE stream and records when each event id arrived, until `want` ids were seen or
/// `deadline` passed. Ids are taken from `id: N` lines.
pub async fn follow_ids(
    mut stream: TcpStream,
    mut pending: Vec<u8>,
    want: usize,
    deadline: Instant,
) -> Vec<(i64, Instant)> {
    let mut seen = Vec::with_capacity(want);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // Parse complete lines.
        while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            if let Some(rest) = line.strip_prefix(b"id:")
                && let Ok(text) = std::str::from_utf8(rest)
                && let Ok(id) = text.trim().parse::<i64>()
            {
                seen.push((id, Instant::now()));
            }
        }
        if seen.len() >= want {
            return seen;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return seen;
        }
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => pending.extend_from_slice(&chunk[..n]),
            _ => return seen,
        }
    }
}

/// Latencies (ms) of deliveries: arrival minus the send instant of the same id.
pub fn delivery_latencies(sent: &HashMap<i64, Instant>, received: &[Vec<(i64, Instant)>]) -> (Vec<f64>, usize) {
    let mut out = Vec::new();
    let mut missing = 0;
    for per_client in received {
        for (id, at) in per_client {
            if let Some(t0) = sent.get(id) {
                out.push(crate::stats::ms(at.saturating_duration_since(*t0)));
            }
        }
        missing += sent.len().saturating_sub(per_client.iter().filter(|(id, _)| sent.contains_key(id)).count());
    }
    (out, missing)
}

/// Opens `n` streams to `addr` `path`, `parallel` connects at a time.
pub async fn open_many(addr: SocketAddr, path: &str, n: usize, parallel: usize) -> Result<Vec<(TcpStream, Vec<u8>)>> {
    let path: Arc<str> = Arc::from(path);
    let mut out = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let batch = left.min(parallel);
        let mut tasks = Vec::with_capacity(batch);
        for _ in 0..batch {
            let path = path.clone();
            tasks.push(tokio::spawn(async move { open_stream(addr, &path).await }));
        }
        for t in tasks {
            out.push(t.await.context("connect task")??);
        }
        left -= batch;
    }
    Ok(out)
}
