//! Ferry's HTTP server: the JSON API under `/api/v1` (SPEC §7.2), live events as Server-Sent Events,
//! push webhooks, health probes, Prometheus metrics and the web UI (SPEC §7.3: server-rendered pages
//! with templates and assets compiled in, updated live by a small script).
//!
//! The server is a thin layer: reads answer from the store's projections, writes go to the engine
//! through its [`EngineHandle`]. Every error has one JSON shape,
//! `{"error": {"code": "...", "message": "...", "details": [...]}}` ([`ApiError`]).
//! The routes and their schemas are described by the OpenAPI document served at
//! `/api/v1/openapi.json` (committed as `crates/ferry-server/openapi.json`).
//!
//! Every route has an authorisation rule ([`ROUTES`], [`auth`]): browsers cannot drive the server from
//! another site, tokens carry roles and scopes, webhooks are verified by signature, and state-changing
//! requests are audited (SPEC §8.2).

mod api;
pub mod auth;
mod body;
mod control;
mod dora;
pub mod dto;
mod error;
mod extract;
mod freezes;
pub mod hooks;
mod metrics;
mod notes;
mod notify;
pub mod openapi;
mod params;
mod recorder;
mod routes;
mod sse;
pub mod tls;
mod ui;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_engine::EngineHandle;
use ferry_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::browser::PublicUrl;
pub use auth::signature::WebhookSecret;
pub use error::ApiError;

/// Installs the process's metrics recorder, so what the engine records before the server starts is
/// kept (the server installs it too; the first call wins).
pub fn install_metrics() {
    recorder::install();
}

/// The git commit this build was made from (`git rev-parse` at build time), or `unknown`.
pub const BUILD_COMMIT: &str = metrics::BUILD_COMMIT;
pub use routes::{OPENAPI, ROUTES, Route};
pub use ui::ROUTES as UI_ROUTES;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Largest request body accepted, in bytes (larger → 413).
    pub body_limit: usize,
    /// Interval of SSE keep-alive comments.
    pub keep_alive: Duration,
    /// Who is recorded as the actor of writes on an auth-less server when the request names nobody
    /// (`Ferry-Actor` header).
    pub default_actor: String,
    /// Whether every request needs a token (SPEC §8.2). Off only on a loopback server without `--auth`.
    pub auth: bool,
    /// The addresses clients reach the server at besides loopback (`--public-url`): their hosts are
    /// answered and their origins may send state-changing requests.
    pub public_urls: Vec<PublicUrl>,
    /// The secret inbound webhooks are signed with (`--webhook-secret-file`). Without one, unsigned
    /// webhooks are accepted only when `auth` is off.
    pub webhook_secret: Option<WebhookSecret>,
    /// Whether the server is reached over TLS (cookies get `Secure`, the own origin is `https://`).
    pub tls: bool,
    /// How long audit entries are kept (the retention setting).
    pub retention: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            body_limit: 8 * 1024 * 1024,
            keep_alive: Duration::from_secs(15),
            default_actor: "anonymous".to_owned(),
            auth: false,
            public_urls: Vec::new(),
            webhook_secret: None,
            tls: false,
            retention: Duration::from_secs(270 * 24 * 3600),
        }
    }
}

/// Errors of the server itself (request errors are answered, not returned).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Accepting or serving connections failed.
    #[error("the HTTP server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// Shared by every handler.
pub(crate) struct AppState<S> {
    pub(crate) store: S,
    pub(crate) engine: EngineHandle,
    pub(crate) settings: Arc<ServerSettings>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Parsed views of ended releases.
    pub(crate) views: Arc<views::ViewCache>,
}

impl<S: Clone> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            store: self.store.clone(),
            engine: self.engine.clone(),
            settings: self.settings.clone(),
            metrics: self.metrics.clone(),
            shutdown: self.shutdown.clone(),
            views: self.views.clone(),
        }
    }
}

/// Serves the API on `listener` until the process ends.
pub async fn serve<S: Store>(
    listener: TcpListener,
    store: S,
    engine: EngineHandle,
    settings: ServerSettings,
) -> Result<(), ServerError> {
    serve_with_shutdown(listener, store, engine, settings, std::future::pending()).await
}

/// Serves the API on `listener` until `signal` completes, then shuts down gracefully: stops accepting,
/// ends the live event streams and waits for the requests in flight.
pub async fn serve_with_shutdown<S, F>(
    listener: TcpListener,
    store: S,
    engine: EngineHandle,
    settings: ServerSettings,
    signal: F,
) -> Result<(), ServerError>
where
    S: Store,
    F: Future<Output = ()> + Send + 'static,
{
    serve_on(listener, store, engine, settings, signal).await
}

/// Like [`serve_with_shutdown`], over TLS: handshakes with the (reloadable) certificate of `tls`.
pub async fn serve_tls_with_shutdown<S, F>(
    listener: TcpListener,
    tls: tls::ReloadableTls,
    store: S,
    engine: EngineHandle,
    mut settings: ServerSettings,
    signal: F,
) -> Result<(), ServerError>
where
    S: Store,
    F: Future<Output = ()> + Send + 'static,
{
    settings.tls = true;
    let listener = tls::TlsListener::new(listener, tls)?.with_connect_info();
    serve_on(listener, store, engine, settings, signal).await
}

/// Like [`serve_with_shutdown`], on any listener (plain TCP, or [`tls::TlsListener`]).
pub async fn serve_on<L, S, F>(
    listener: L,
    store: S,
    engine: EngineHandle,
    settings: ServerSettings,
    signal: F,
) -> Result<(), ServerError>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> SocketAddr: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
    S: Store,
    F: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    recorder::install();
    let metrics = Arc::new(metrics::Metrics::default());
    let counter = tokio::spawn(metrics::count_events(store.subscribe(), metrics.clone(), stop_rx.clone()));
    let pruner = tokio::spawn(auth::audit::prune(store.clone(), engine.clone(), settings.retention, stop_rx.clone()));
    let views = Arc::new(views::ViewCache::default());
    let follower = tokio::spawn(views.clone().follow(store.subscribe(), stop_rx.clone()));
    let state = AppState { store, engine, settings: Arc::new(settings), metrics, shutdown: stop_rx, views };
    let app = routes::router(state);
    // One service shared by every connection: `serve(listener, router)` would clone the router's
    // routes into each connection (hundreds of KiB per idle SSE client). The peer address is kept for
    // the audit log.
    let result = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            signal.await;
            let _ = stop_tx.send(true);
        })
        .await;
    counter.abort();
    pruner.abort();
    follower.abort();
    result.map_err(ServerError::from)
}
