//! The engine task: owns active releases, commits events, plans and executes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_model::resources::Catalog;
use ferry_store::{Store, Write, WriteOutcome};
use tokio::sync::{mpsc, watch};

use crate::handle::{EngineError, EngineHandle, Request};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory for git mirrors, checkouts and workflow scratch space.
    pub data_dir: PathBuf,
    /// Public base URL of the server, used for `RELEASE_URL` (e.g. `http://127.0.0.1:7878`).
    pub base_url: String,
    /// How often trigger environments' branches are polled.
    pub poll_interval: Duration,
    /// Most workflow steps running at once in this process.
    pub max_concurrent_steps: usize,
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: PathBuf, base_url: String) -> Self {
        EngineConfig { data_dir, base_url, poll_interval: Duration::from_secs(30), max_concurrent_steps: 16 }
    }
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// Starts the engine on `store`: loads the latest configuration, recovers active releases and
/// serves requests until every handle is dropped.
pub async fn start<S: Store>(
    store: S,
    config: EngineConfig,
) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
    let catalog = match store.latest_config().await.map_err(internal)? {
        Some(version) => serde_json::from_value::<Catalog>(version.catalog).map_err(internal)?,
        None => Catalog::default(),
    };
    let (catalog_tx, catalog_rx) = watch::channel(Arc::new(catalog));
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(run(store, config, rx, catalog_tx));
    Ok((EngineHandle { requests: tx, catalog: catalog_rx }, task))
}

async fn run<S: Store>(
    store: S,
    _config: EngineConfig,
    mut requests: mpsc::Receiver<Request>,
    catalog: watch::Sender<Arc<Catalog>>,
) {
    while let Some(request) = requests.recv().await {
        match request {
            Request::ApplyConfig { catalog: new, actor, reply } => {
                let result = apply_config(&store, &catalog, *new, actor).await;
                let _ = reply.send(result);
            }
            Request::Promote { reply, .. } => {
                let _ = reply.send(Err(EngineError::Internal("releases are not implemented yet".into())));
            }
            Request::PushStatus { reply, .. } => {
                let _ = reply.send(Err(EngineError::Internal("status reports are not implemented yet".into())));
            }
            Request::GitPush { reply, .. } => {
                let _ = reply.send(Err(EngineError::Internal("git hooks are not implemented yet".into())));
            }
        }
    }
}

async fn apply_config<S: Store>(
    store: &S,
    current: &watch::Sender<Arc<Catalog>>,
    catalog: Catalog,
    actor: String,
) -> Result<i64, EngineError> {
    let json = serde_json::to_value(&catalog).map_err(internal)?;
    let write = Write::Config { applied_by: actor, catalog: json, at: jiff::Timestamp::now() };
    let outcome = store.write(vec![write]).await.map_err(internal)?.into_iter().next();
    match outcome {
        Some(Ok(WriteOutcome::ConfigVersion(v))) => {
            current.send_replace(Arc::new(catalog));
            Ok(v)
        }
        Some(Err(e)) => Err(internal(e)),
        _ => Err(EngineError::Internal("the store did not return a configuration version".into())),
    }
}
