//! A real Ferry engine on a real store (SQLite, or a replica on PostgreSQL), with products whose
//! GitOps repositories are local bare repositories: action `none`, no workflows, exec status without
//! commands.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferry_engine::{EngineConfig, EngineHandle, PromoteRequest};
use ferry_store::{AnyStore, PgStore, ReplicaOptions, SqliteStore, Store, StoredEvent};
use jiff::Timestamp;
use tokio::sync::Notify;

use crate::util::bare_repo;

/// Environments of the benchmark flows (`dev` is the trigger environment).
pub const ENVS: [&str; 5] = ["dev", "qa", "staging", "prod-eu", "prod-us"];

/// The environments an environment of flow `standard` depends on.
pub fn standard_deps(env: &str) -> &'static [&'static str] {
    match env {
        "qa" => &["dev"],
        "staging" => &["qa"],
        "prod-eu" | "prod-us" => &["staging"],
        _ => &[],
    }
}

/// Target environments of a `standard` release (each one environment promotion).
pub const STANDARD_TARGETS: usize = 4;

/// The benchmark configuration: environments, flows `standard` and `short`, policy `action: none`,
/// and per product `(name, repository URL, flow)` one application per environment without status
/// (exec without commands).
pub fn config_yaml(products: &[(String, String, &str)]) -> String {
    let mut out = String::new();
    for (i, env) in ENVS.iter().enumerate() {
        let ty = if env.starts_with("prod") { "production" } else { "non-production" };
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty}, order: {i} }}\n---\n"
        ));
    }
    out.push_str(
        "apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: standard }\nspec:\n  triggerEnvironment: dev\n  steps:\n\
         \x20   - { environment: qa, dependsOn: [dev] }\n    - { environment: staging, dependsOn: [qa] }\n\
         \x20   - { environment: prod-eu, dependsOn: [staging] }\n    - { environment: prod-us, dependsOn: [staging] }\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: short }\nspec:\n  triggerEnvironment: dev\n  steps:\n\
         \x20   - { environment: prod-eu, dependsOn: [dev] }\n---\n\
         apiVersion: ferry/v1\nkind: PromotionPolicy\nmetadata: { name: all }\nspec: { priority: 100, policy: { action: none } }\n---\n",
    );
    for (name, url, flow) in products {
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Product\nmetadata: {{ name: {name} }}\nspec:\n  promotionFlows: [ {{ name: {flow} }} ]\n  concurrency: queue\n---\n"
        ));
        for env in ENVS {
            out.push_str(&format!(
                "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: {name}-{env} }}\nspec:\n  product: {name}\n  environment: {env}\n  component: app\n  source: {{ repoURL: \"{url}\", path: apps/{env}, targetRevision: main }}\n---\n"
            ));
        }
    }
    out
}

/// A committed event and when a store subscriber received it.
pub struct Seen {
    /// The event.
    pub event: Arc<StoredEvent>,
    /// When the subscriber got it (after the commit).
    pub received: Timestamp,
}

#[derive(Default)]
struct Collected {
    events: Vec<Seen>,
    finished: HashSet<String>,
    lagged: u64,
}

/// Where a rig keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `DIR/ferry.db`.
    Sqlite,
    /// A PostgreSQL database (URL), the engine running as its one replica.
    Postgres(String),
}

/// The engine, its store and everything the store committed.
pub struct Rig {
    /// The store.
    pub store: AnyStore,
    /// The engine.
    pub engine: EngineHandle,
    task: tokio::task::JoinHandle<()>,
    collector: tokio::task::JoinHandle<()>,
    collected: Arc<Mutex<Collected>>,
    notify: Arc<Notify>,
}

impl Rig {
    /// Starts the engine in `dir` with products `(name, flow)`, each with its own GitOps repository.
    pub async fn start(dir: &Path, products: &[(String, &str)]) -> Result<Rig> {
        Rig::start_on(dir, products, &Backend::Sqlite).await
    }

    /// [`Rig::start`] on `backend`.
    pub async fn start_on(dir: &Path, products: &[(String, &str)], backend: &Backend) -> Result<Rig> {
        let mut configured = Vec::new();
        for (name, flow) in products {
            let files = gitops_files();
            let (bare, _work) = bare_repo(dir, &format!("{name}-gitops"), &files)?;
            configured.push((name.clone(), format!("file://{}", bare.display()), *flow));
        }
        Rig::start_yaml_on(dir, vec![config_yaml(&configured)], backend, |_| {}).await
    }

    /// Starts the engine in `dir` with the configuration files `yaml` (its repositories already made).
    pub async fn start_yaml(dir: &Path, yaml: Vec<String>) -> Result<Rig> {
        Rig::start_yaml_on(dir, yaml, &Backend::Sqlite, |_| {}).await
    }

    /// [`Rig::start_yaml`] with the engine's settings changed by `tune`.
    pub async fn start_tuned(dir: &Path, yaml: Vec<String>, tune: impl FnOnce(&mut EngineConfig)) -> Result<Rig> {
        Rig::start_yaml_on(dir, yaml, &Backend::Sqlite, tune).await
    }

    /// [`Rig::start_yaml`] on `backend`, with the engine's settings changed by `tune`.
    pub async fn start_yaml_on(
        dir: &Path,
        yaml: Vec<String>,
        backend: &Backend,
        tune: impl FnOnce(&mut EngineConfig),
    ) -> Result<Rig> {
        let (store, replicas): (AnyStore, Arc<dyn ferry_engine::ports::Replicas>) = match backend {
            Backend::Sqlite => {
                let store = SqliteStore::open(&dir.join("ferry.db")).await.context("opening the store")?;
                (AnyStore::Sqlite(store), Arc::new(ferry_engine::ports::SoleReplica))
            }
            Backend::Postgres(url) => {
                let store = PgStore::open(url)
                    .await
                    .context("opening the PostgreSQL store")?
                    .replica(ReplicaOptions::new("bench"));
                let replicas = ferry_engine::ports::PgReplicas::new(store.clone())?;
                (AnyStore::Postgres(store), Arc::new(replicas))
            }
        };
        let collected = Arc::new(Mutex::new(Collected::default()));
        let notify = Arc::new(Notify::new());
        let collector = {
            let mut rx = store.subscribe();
            let (collected, notify) = (collected.clone(), notify.clone());
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(event) => {
                            let received = Timestamp::now();
                            let ended = matches!(
                                event.body.get("type").and_then(|t| t.as_str()),
                                Some("Finished" | "Terminated")
                            );
                            if let Ok(mut c) = collected.lock() {
                                if ended {
                                    c.finished.insert(event.release_id.clone());
                                }
                                c.events.push(Seen { event, received });
                            }
                            if ended {
                                notify.notify_waiters();
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            if let Ok(mut c) = collected.lock() {
                                c.lagged += n;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            })
        };
        let mut config = EngineConfig::new(dir.join("data"), "http://127.0.0.1:0".into());
        tune(&mut config);
        let ports = ferry_engine::ports::Ports::default_for(&config, &store)?;
        let (engine, task) =
            ferry_engine::start_replica(store.clone(), config, ports, replicas).await.context("starting the engine")?;
        let catalog = load_catalog_files(yaml)?;
        engine.apply_config(catalog, "bench".into()).await.context("applying the configuration")?;
        Ok(Rig { store, engine, task, collector, collected, notify })
    }

    /// Starts a release of `product`; returns its id.
    pub async fn promote(&self, product: &str) -> Result<String> {
        let req = PromoteRequest::first_flow(product.parse().context("a product name")?);
        Ok(self.engine.promote(req, "bench".into()).await.context("promoting")?.release.to_string())
    }

    /// Waits until every release in `ids` has ended (Finished or Terminated), at most `limit`.
    pub async fn wait_all(&self, ids: &[String], limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            let (done, lagged) = {
                let c = self.collected.lock().map_err(|_| anyhow::anyhow!("collector poisoned"))?;
                (ids.iter().all(|id| c.finished.contains(id)), c.lagged)
            };
            if done {
                return Ok(());
            }
            if lagged > 0 {
                // The broadcast dropped events: ask the store instead.
                let active: HashSet<String> =
                    self.store.active_releases().await?.into_iter().map(|id| id.to_string()).collect();
                if ids.iter().all(|id| !active.contains(id)) {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("releases did not finish within {limit:?}");
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }

    /// When each committed event of `release` (by sequence number) reached the subscriber.
    pub fn received_times(&self) -> HashMap<(String, i64), Timestamp> {
        match self.collected.lock() {
            Ok(c) => c.events.iter().map(|s| ((s.event.release_id.clone(), s.event.seq), s.received)).collect(),
            Err(_) => HashMap::new(),
        }
    }

    /// Events the subscriber missed because it lagged.
    pub fn lagged(&self) -> u64 {
        self.collected.lock().map(|c| c.lagged).unwrap_or(0)
    }

    /// Stops the engine.
    pub fn stop(self) {
        self.task.abort();
        self.collector.abort();
    }
}

/// A release id the engine answered with, as the store's reads take it.
pub fn release_id(id: &str) -> Result<ferry_model::ReleaseId> {
    id.parse().with_context(|| format!("{id:?} is not a release id"))
}

/// Microseconds from `a` to `b`.
pub fn micros(a: Timestamp, b: Timestamp) -> i64 {
    b.as_microsecond() - a.as_microsecond()
}

/// Type and environment of an event body.
pub fn kind_env(event: &StoredEvent) -> (&str, &str) {
    let t = event.body.get("type").and_then(|v| v.as_str()).unwrap_or_default();
    let e = event.body.get("env").and_then(|v| v.as_str()).unwrap_or_default();
    (t, e)
}

/// Validates a configuration text into a catalog.
pub fn load_catalog(yaml: String) -> Result<ferry_model::resources::Catalog> {
    load_catalog_files(vec![yaml])
}

/// Validates configuration files (`bench-N.yaml`) into one catalog.
pub fn load_catalog_files(files: Vec<String>) -> Result<ferry_model::resources::Catalog> {
    let sources: Vec<ferry_config::Source> = files
        .into_iter()
        .enumerate()
        .map(|(i, text)| ferry_config::Source { name: format!("bench-{i}.yaml"), text })
        .collect();
    let loaded = ferry_config::load_sources(&sources).map_err(|d| {
        anyhow::anyhow!(
            "invalid benchmark configuration: {}",
            d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")
        )
    })?;
    Ok(loaded.catalog)
}

/// Files of a GitOps repository of the benchmark products.
pub fn gitops_files() -> Vec<(String, String)> {
    ENVS.iter()
        .map(|env| (format!("apps/{env}/values.yaml"), format!("image:\n  tag: \"1.0.0\"\nenv: {env}\n")))
        .collect()
}
