//! `ferry server`: opens the store, starts the engine and serves the API.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_engine::EngineConfig;
use ferry_engine::ports::{PgReplicas, Ports, Replicas, SoleReplica};
use ferry_server::auth::tokens::{self, Bootstrap, TokenError};
use ferry_server::{PublicUrl, ServerSettings, WebhookSecret};
use ferry_store::{AnyStore, Database, ReplicaOptions, Store};

use crate::{exit, logging, style, validate};

/// Where data lives when `--data` and `FERRY_DATA` are not given: `$XDG_DATA_HOME/ferry`, else
/// `~/.local/share/ferry`.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("ferry"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|home| PathBuf::from(home).join(".local/share/ferry"))
}

/// Parses `--listen`: `ADDRESS:PORT` (`localhost:PORT` means 127.0.0.1). Any address but loopback
/// turns token authentication on (SPEC §8.2).
pub fn parse_listen(listen: &str) -> Result<SocketAddr, String> {
    let addr = match listen.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => listen.to_owned(),
    };
    addr.parse().map_err(|_| format!("--listen {listen:?}: expected ADDRESS:PORT such as 127.0.0.1:7878"))
}

/// Raises the open-file soft limit to the hard limit: each live event stream holds a socket.
fn raise_open_file_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "cannot raise the open-file limit");
    }
}

/// Timing settings of the engine.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often trigger environments' branches are polled.
    pub poll_interval: Duration,
    /// How often health commands are re-run until healthy.
    pub health_poll_interval: Duration,
    /// Time between SIGTERM and SIGKILL for stopped workflow steps.
    pub kill_grace: Duration,
    /// On PostgreSQL: how long a release's lease lasts unless renewed.
    pub lease_expiry: Duration,
    /// On PostgreSQL: how often leases are renewed and releases nobody drives are claimed.
    pub lease_renew_interval: Duration,
}

/// The options of `ferry server`.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--database` (default: the data directory's SQLite file).
    pub database: Option<String>,
    /// Apply pending migrations at start (not `--no-migrate`).
    pub migrate: bool,
    /// `--listen`.
    pub listen: String,
    /// `--auth`.
    pub auth: bool,
    /// `--bootstrap-token-file`.
    pub bootstrap_token_file: Option<PathBuf>,
    /// `--public-url` (repeatable).
    pub public_urls: Vec<String>,
    /// `--webhook-secret-file`.
    pub webhook_secret_file: Option<PathBuf>,
    /// `--tls-cert` and `--tls-key`.
    pub tls: Option<ferry_server::tls::TlsFiles>,
    /// `--git-token-file`.
    pub git_token_file: Option<PathBuf>,
    /// `--argocd-server` (`FERRY_ARGOCD_SERVER`).
    pub argocd_server: Option<String>,
    /// `--argo-server` (`FERRY_ARGO_SERVER`).
    pub argo_server: Option<String>,
    /// `--retention`.
    pub retention: Duration,
    /// `--replica-id` (on PostgreSQL; default: host name, process id and a random suffix).
    pub replica_id: Option<String>,
    /// Engine timing.
    pub timing: Timing,
}

/// What was checked before anything starts.
struct Checked {
    loaded: Option<ferry_config::Loaded>,
    data: PathBuf,
    database: Database,
    addr: SocketAddr,
    public_urls: Vec<(String, PublicUrl)>,
    webhook_secret: Option<WebhookSecret>,
    tls: Option<ferry_server::tls::ReloadableTls>,
    git_credentials: Option<ferry_git::Credentials>,
}

fn invalid(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{} {message}", style::error_label());
    ExitCode::from(exit::INVALID)
}

/// Reads `--webhook-secret-file`; errors name the file.
fn read_webhook_secret(file: &Path) -> Result<WebhookSecret, String> {
    let name = file.display();
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("--webhook-secret-file {name}: cannot read it: {e}"))?;
    WebhookSecret::new(&text).map_err(|e| format!("--webhook-secret-file {name}: {e}"))
}

/// Checks the options and the configuration before anything starts.
fn check(options: &Options) -> Result<Checked, ExitCode> {
    let addr = parse_listen(&options.listen).map_err(invalid)?;
    let mut public_urls = Vec::new();
    for text in &options.public_urls {
        let url = PublicUrl::parse(text).map_err(invalid)?;
        public_urls.push((text.trim().trim_end_matches('/').to_owned(), url));
    }
    let webhook_secret =
        options.webhook_secret_file.as_deref().map(read_webhook_secret).transpose().map_err(invalid)?;
    // Validate the configuration before anything starts.
    let loaded = match &options.config {
        None => None,
        Some(dir) => Some(validate::load(std::slice::from_ref(dir))?),
    };
    let Some(data) = options.data.clone().or_else(default_data_dir) else {
        return Err(invalid("no data directory: pass --data DIR or set FERRY_DATA"));
    };
    let database = match &options.database {
        Some(text) => Database::parse(text).map_err(|e| invalid(format!("--database {e}")))?,
        None => Database::in_data_dir(&data),
    };
    // The certificate is loaded now, so a bad file stops the start with its name.
    let tls = options.tls.as_ref().map(ferry_server::tls::ReloadableTls::load).transpose().map_err(invalid)?;
    let git_credentials = options
        .git_token_file
        .as_deref()
        .map(|f| ferry_git::Credentials::from_file(f).map_err(|e| format!("--git-token-file: {}", e.message)))
        .transpose()
        .map_err(invalid)?;
    if let Some(server) = &options.argocd_server {
        ferry_argocd::Client::new(server, None, "").map_err(|e| invalid(format!("--argocd-server: {e}")))?;
    }
    if let Some(server) = &options.argo_server {
        ferry_argowf::Client::new(server, None, "").map_err(|e| invalid(format!("--argo-server: {e}")))?;
    }
    check_replica(options).map_err(invalid)?;
    Ok(Checked { loaded, data, database, addr, public_urls, webhook_secret, tls, git_credentials })
}

/// Checks `--replica-id` and the lease timing.
fn check_replica(options: &Options) -> Result<(), String> {
    if let Some(id) = &options.replica_id
        && (id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control))
    {
        return Err(format!("--replica-id {id:?}: expected 1 to 200 printable characters"));
    }
    let timing = options.timing;
    if timing.lease_renew_interval.is_zero() || timing.lease_renew_interval * 2 > timing.lease_expiry {
        return Err(format!(
            "--lease-renew-interval {}: must be more than zero and at most half of --lease-expiry ({})",
            ferry_model::format_duration(timing.lease_renew_interval),
            ferry_model::format_duration(timing.lease_expiry)
        ));
    }
    Ok(())
}

/// A replica's default name: host name, process id and a random suffix (unique among replicas, and
/// new at each start, so a restarted replica never mistakes its old leases for its own).
fn default_replica_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ferry".to_owned());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    format!("{host}-{}-{:06x}", std::process::id(), hasher.finish() & 0xff_ffff)
}

/// Makes `store` a replica's when it is PostgreSQL: its leases carry the replica's name and expiry.
fn as_replica(store: AnyStore, options: &Options) -> anyhow::Result<(AnyStore, Arc<dyn Replicas>, Option<String>)> {
    match store {
        AnyStore::Postgres(pg) => {
            let name = options.replica_id.clone().unwrap_or_else(default_replica_id);
            let replica = pg.replica(ReplicaOptions { owner: name.clone(), lease_ttl: options.timing.lease_expiry });
            let replicas = PgReplicas::new(replica.clone()).context("starting the replica")?;
            Ok((AnyStore::Postgres(replica), Arc::new(replicas), Some(name)))
        }
        sqlite => Ok((sqlite, Arc::new(SoleReplica), None)),
    }
}

/// Runs the command.
pub fn run(options: Options) -> anyhow::Result<ExitCode> {
    let checked = match check(&options) {
        Ok(checked) => checked,
        Err(code) => return Ok(code),
    };
    let data = &checked.data;
    std::fs::create_dir_all(data).with_context(|| format!("cannot create the data directory {}", data.display()))?;
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(options, checked))
}

/// Whether the store holds an admin token that works now.
async fn has_active_admin(store: &impl Store) -> anyhow::Result<bool> {
    let now = jiff::Timestamp::now();
    let tokens = store.tokens().await.context("reading the tokens")?;
    Ok(tokens.iter().any(|t| t.role == "admin" && t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now)))
}

/// `--bootstrap-token-file`, and the refusal to require tokens that nobody has; `Err` is the exit status.
async fn bootstrap(
    store: &impl Store,
    options: &Options,
    auth: bool,
    database: &Database,
) -> anyhow::Result<Result<(), ExitCode>> {
    if let Some(file) = &options.bootstrap_token_file {
        let shown = file.display();
        match tokens::bootstrap(store, file).await {
            Ok(Bootstrap::Created { name }) => logging::notice(format!("admin token {name:?} written to {shown}")),
            Ok(Bootstrap::Existing { name }) => logging::notice(format!("admin token {name:?} read from {shown}")),
            Ok(Bootstrap::Registered { name }) => {
                logging::notice(format!("admin token {name:?} read from {shown} (registered in this data directory)"));
            }
            Err(e @ (TokenError::File { .. } | TokenError::Invalid { .. } | TokenError::Conflict(_))) => {
                return Ok(Err(invalid(e)));
            }
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        }
        return Ok(Ok(()));
    }
    if auth && !has_active_admin(store).await? {
        let offline = match database {
            Database::Sqlite(path) => {
                format!("--data {}", path.parent().map(|p| p.display().to_string()).unwrap_or_default())
            }
            Database::Postgres(_) => format!("--database {}", database.describe()),
        };
        return Ok(Err(invalid(format!(
            "this server requires tokens (--auth, or a --listen address that is not loopback) but no admin token \
             exists yet: pass --bootstrap-token-file FILE (a new admin token is written there, mode 0600), or \
             create one offline first with `ferry token create NAME --role admin {offline}`"
        ))));
    }
    Ok(Ok(()))
}

async fn serve(options: Options, checked: Checked) -> anyhow::Result<ExitCode> {
    // Before the engine starts: what it records from its first moment reaches /metrics.
    ferry_server::install_metrics();
    let Checked { loaded, data, database, addr, public_urls, webhook_secret, tls, git_credentials } = checked;
    let auth = options.auth || !addr.ip().is_loopback();
    let store = database
        .open(options.migrate)
        .await
        .with_context(|| format!("cannot open the database {}", database.describe()))?;
    let (store, replicas, replica_name) = as_replica(store, &options)?;
    // Before listening: a server that requires tokens nobody has would be of no use.
    if let Err(code) = bootstrap(&store, &options, auth, &database).await? {
        return Ok(code);
    }
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("reading the listening address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listening_url = format!("{scheme}://{local}");
    // Links Ferry writes point at the first public URL when there is one.
    let base_url = public_urls.first().map_or_else(|| listening_url.clone(), |(text, _)| text.clone());
    let timing = options.timing;
    let mut engine_config = EngineConfig::new(data.clone(), base_url);
    engine_config.poll_interval = timing.poll_interval;
    engine_config.health_poll_interval = timing.health_poll_interval;
    engine_config.kill_grace = timing.kill_grace;
    engine_config.lease_renew_interval = timing.lease_renew_interval;
    engine_config.lease_expiry = timing.lease_expiry;
    engine_config.git_credentials = git_credentials;
    engine_config.argocd_server = options.argocd_server.clone();
    engine_config.argo_server = options.argo_server.clone();
    // Release notes add Jira details when FERRY_JIRA_URL and FERRY_JIRA_TOKEN are set.
    engine_config.jira = ferry_notes::jira::Jira::from_env().map(std::sync::Arc::new);
    let ports = Ports::default_for(&engine_config, &store).context("starting the engine")?;
    let (engine, engine_task) = ferry_engine::start_replica(store.clone(), engine_config, ports, replicas)
        .await
        .context("starting the engine")?;
    if let Some(loaded) = loaded {
        let wanted = serde_json::to_value(&loaded.catalog).context("encoding the configuration")?;
        let current = store.latest_config().await.context("reading the applied configuration")?;
        let dir = options.config.as_deref().map(|c| c.display().to_string()).unwrap_or_default();
        match current {
            Some(current) if current.catalog == wanted => {
                tracing::info!(dir = %dir, version = current.version, "the configuration is already applied");
            }
            _ => {
                let version = engine
                    .apply_config(loaded.catalog, "ferry server --config".to_owned())
                    .await
                    .context("applying the configuration")?;
                tracing::info!(dir = %dir, version, "applied the configuration");
            }
        }
    }
    logging::notice(format!("data directory: {}", data.display()));
    logging::notice(format!("database: {}", database.describe()));
    if let Some(name) = replica_name {
        logging::notice(format!(
            "replica: {name} (leases expire after {})",
            ferry_model::format_duration(timing.lease_expiry)
        ));
    }
    logging::notice(if auth { "auth: tokens required" } else { "auth: off (loopback only)" });
    println!("ferry server listening on {listening_url}");
    std::io::stdout().flush().context("writing to stdout")?;
    let settings = ServerSettings {
        default_actor: "anonymous".to_owned(),
        auth,
        public_urls: public_urls.into_iter().map(|(_, url)| url).collect(),
        webhook_secret,
        retention: options.retention,
        ..ServerSettings::default()
    };
    match tls {
        None => ferry_server::serve_with_shutdown(listener, store, engine, settings, shutdown_signal()).await?,
        Some(tls) => {
            // `kill -HUP` reloads the certificate and key; a file that fails to load keeps the old pair.
            ferry_server::tls::watch_sighup(tls.clone()).context("watching SIGHUP for certificate reloads")?;
            ferry_server::serve_tls_with_shutdown(listener, tls, store, engine, settings, shutdown_signal()).await?
        }
    }
    // The engine stops once its last handle (held by the server) is gone.
    if tokio::time::timeout(Duration::from_secs(10), engine_task).await.is_err() {
        tracing::warn!("the engine did not stop within 10 s");
    }
    tracing::info!("ferry server stopped");
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
    tracing::info!("stopping: finishing the requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("127.0.0.1:7878").unwrap().port(), 7878);
        assert_eq!(parse_listen("localhost:0").unwrap().to_string(), "127.0.0.1:0");
        assert!(parse_listen("[::1]:7878").is_ok());
        assert!(parse_listen("0.0.0.0:7878").unwrap().ip().is_unspecified());
        assert!(parse_listen("7878").unwrap_err().contains("ADDRESS:PORT"));
    }
}
