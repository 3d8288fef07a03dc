//! `ferry server`: opens the store, starts the engine and serves the API.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ferry_engine::EngineConfig;
use ferry_server::ServerSettings;
use ferry_store::{SqliteStore, Store};

use crate::{exit, style, validate};

/// Where data lives when `--data` and `FERRY_DATA` are not given: `$XDG_DATA_HOME/ferry`, else
/// `~/.local/share/ferry`.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("ferry"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|home| PathBuf::from(home).join(".local/share/ferry"))
}

/// Parses `--listen`: `ADDRESS:PORT` (`localhost:PORT` means 127.0.0.1). Only loopback addresses are
/// accepted until authentication exists (SPEC §8).
pub fn parse_listen(listen: &str) -> Result<SocketAddr, String> {
    let addr = match listen.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => listen.to_owned(),
    };
    let addr: SocketAddr =
        addr.parse().map_err(|_| format!("--listen {listen:?}: expected ADDRESS:PORT such as 127.0.0.1:7878"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--listen {listen}: listening on a non-loopback address requires authentication, which this version \
             of Ferry does not have yet; listen on 127.0.0.1 (or [::1]) and put a reverse proxy with \
             authentication in front"
        ));
    }
    Ok(addr)
}

/// Raises the open-file soft limit to the hard limit: each live event stream holds a socket.
fn raise_open_file_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("{} cannot raise the open-file limit: {e}", style::warning_label());
    }
}

/// Runs the command.
/// Timing settings of the engine.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often trigger environments' branches are polled.
    pub poll_interval: Duration,
    /// How often health commands are re-run until healthy.
    pub health_poll_interval: Duration,
    /// Time between SIGTERM and SIGKILL for stopped workflow steps.
    pub kill_grace: Duration,
}

/// Runs the command.
pub fn run(config: Option<&Path>, data: Option<PathBuf>, listen: &str, timing: Timing) -> anyhow::Result<ExitCode> {
    let addr = match parse_listen(listen) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("{} {message}", style::error_label());
            return Ok(ExitCode::from(exit::INVALID));
        }
    };
    // Validate the configuration before anything starts.
    let loaded = match config {
        None => None,
        Some(dir) => match validate::load(&[dir.to_path_buf()]) {
            Ok(loaded) => Some(loaded),
            Err(code) => return Ok(code),
        },
    };
    let Some(data) = data.or_else(default_data_dir) else {
        eprintln!("{} no data directory: pass --data DIR or set FERRY_DATA", style::error_label());
        return Ok(ExitCode::from(exit::INVALID));
    };
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create the data directory {}", data.display()))?;
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(loaded, config, data, addr, timing))
}

async fn serve(
    loaded: Option<ferry_config::Loaded>,
    config: Option<&Path>,
    data: PathBuf,
    addr: SocketAddr,
    timing: Timing,
) -> anyhow::Result<ExitCode> {
    let db = data.join("ferry.db");
    let store = SqliteStore::open(&db).await.with_context(|| format!("cannot open {}", db.display()))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("reading the listening address")?;
    let base_url = format!("http://{local}");
    let mut engine_config = EngineConfig::new(data.clone(), base_url.clone());
    engine_config.poll_interval = timing.poll_interval;
    engine_config.health_poll_interval = timing.health_poll_interval;
    engine_config.kill_grace = timing.kill_grace;
    // Release notes add Jira details when FERRY_JIRA_URL and FERRY_JIRA_TOKEN are set.
    engine_config.jira = ferry_notes::jira::Jira::from_env().map(std::sync::Arc::new);
    let (engine, engine_task) =
        ferry_engine::start(store.clone(), engine_config).await.context("starting the engine")?;
    if let Some(loaded) = loaded {
        let wanted = serde_json::to_value(&loaded.catalog).context("encoding the configuration")?;
        let current = store.latest_config().await.context("reading the applied configuration")?;
        let dir = config.map(|c| c.display().to_string()).unwrap_or_default();
        match current {
            Some(current) if current.catalog == wanted => {
                eprintln!("configuration from {dir} is already applied (version {})", current.version);
            }
            _ => {
                let version = engine
                    .apply_config(loaded.catalog, "ferry server --config".to_owned())
                    .await
                    .context("applying the configuration")?;
                eprintln!("applied configuration from {dir} as version {version}");
            }
        }
    }
    eprintln!("data directory: {}", data.display());
    println!("ferry server listening on {base_url}");
    std::io::stdout().flush().context("writing to stdout")?;
    let settings = ServerSettings { default_actor: "anonymous".to_owned(), ..ServerSettings::default() };
    ferry_server::serve_with_shutdown(listener, store, engine, settings, shutdown_signal()).await?;
    // The engine stops once its last handle (held by the server) is gone.
    if tokio::time::timeout(Duration::from_secs(10), engine_task).await.is_err() {
        eprintln!("{} the engine did not stop within 10 s", style::warning_label());
    }
    eprintln!("ferry server stopped");
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    eprintln!("ferry server: stopping (finishing requests in flight)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("127.0.0.1:7878").unwrap().port(), 7878);
        assert_eq!(parse_listen("localhost:0").unwrap().to_string(), "127.0.0.1:0");
        assert!(parse_listen("[::1]:7878").is_ok());
        assert!(parse_listen("0.0.0.0:7878").unwrap_err().contains("requires authentication"));
        assert!(parse_listen("7878").unwrap_err().contains("ADDRESS:PORT"));
    }
}
