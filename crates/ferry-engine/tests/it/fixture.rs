//! A product in local bare repositories, the engine on a temporary store, and helpers to wait for
//! releases by following committed events (never by sleeping).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_engine::{EngineConfig, EngineHandle, PromoteRequest, PromoteScope};
use ferry_model::{ProductName, ReleaseId};
use ferry_store::{SqliteStore, Store, Write, WriteOutcome};
use serde_json::Value;

pub use ferry_testkit::{Repo, git};

/// values.yaml with comments and odd quoting: promotions must keep every other byte.
pub fn values(tag: &str, env: &str) -> String {
    format!(
        "# values for {env}\nreplicas: 2   # keep\nimage:\n  repository: 'registry.example.com/shop'\n  tag: \"{tag}\"   # promoted\nenv: {{ NAME: \"{env}\" }}\n"
    )
}

pub fn chart(version: &str) -> String {
    format!("apiVersion: v2\nname: shop\nversion: 0.1.0\nappVersion: \"{version}\"\n")
}

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub store: SqliteStore,
    pub engine: EngineHandle,
    pub _task: tokio::task::JoinHandle<()>,
}

impl Harness {
    pub async fn start(dir: tempfile::TempDir) -> Harness {
        Harness::start_tuned(dir, |_| {}).await
    }

    pub async fn start_tuned(dir: tempfile::TempDir, tune: impl FnOnce(&mut EngineConfig)) -> Harness {
        let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
        let mut config = EngineConfig::new(dir.path().join("data"), "http://127.0.0.1:7878".into());
        config.health_poll_interval = Duration::from_millis(50);
        tune(&mut config);
        let (engine, task) = ferry_engine::start(store.clone(), config).await.unwrap();
        Harness { _dir: dir, store, engine, _task: task }
    }

    /// The engine on a [`CountingStore`] over the SQLite store (`store` stays the SQLite store; the
    /// engine's writes go through the counter).
    pub async fn start_counting(dir: tempfile::TempDir) -> (Harness, CountingStore) {
        let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
        let counting = CountingStore { inner: store.clone(), writes: Arc::default() };
        let mut config = EngineConfig::new(dir.path().join("data"), "http://127.0.0.1:7878".into());
        config.health_poll_interval = Duration::from_millis(50);
        let (engine, task) = ferry_engine::start(counting.clone(), config).await.unwrap();
        (Harness { _dir: dir, store, engine, _task: task }, counting)
    }

    /// The engine on in-memory fakes of every port (the store stays a real SQLite store).
    pub async fn start_faked(dir: tempfile::TempDir, fakes: &ferry_engine::testing::Fakes) -> Harness {
        Harness::start_with_ports(dir, fakes.ports()).await
    }

    /// The engine on the given ports (the store stays a real SQLite store).
    pub async fn start_with_ports(dir: tempfile::TempDir, ports: ferry_engine::ports::Ports) -> Harness {
        let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
        let config = EngineConfig::new(dir.path().join("data"), "http://127.0.0.1:7878".into());
        let (engine, task) = ferry_engine::start_with(store.clone(), config, ports).await.unwrap();
        Harness { _dir: dir, store, engine, _task: task }
    }

    /// Waits for the first event committed after this call that matches `pred` (subscribes at once).
    pub fn next_event<F: Fn(&ferry_store::StoredEvent) -> bool>(
        &self,
        pred: F,
    ) -> impl std::future::Future<Output = ferry_store::StoredEvent> + use<F> {
        let mut events = self.store.subscribe();
        async move {
            let wait = async {
                loop {
                    match events.recv().await {
                        Ok(e) if pred(&e) => return (*e).clone(),
                        Ok(_) => {}
                        Err(e) => panic!("event stream: {e}"),
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(60), wait).await.expect("the expected event never came")
        }
    }

    pub async fn apply(&self, yaml: &str) {
        let loaded =
            ferry_config::load_sources(&[ferry_config::Source { name: "test.yaml".into(), text: yaml.into() }])
                .unwrap_or_else(|d| {
                    panic!("invalid test config: {}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
                });
        self.engine.apply_config(loaded.catalog, "test".into()).await.unwrap();
    }

    pub async fn promote(&self, flow: Option<&str>, from: Option<&str>, to: Option<&str>) -> String {
        let scope = match (flow, from, to) {
            (Some(flow), None, None) => PromoteScope::Flow(flow.parse().unwrap()),
            (None, Some(from), Some(to)) => {
                PromoteScope::Environment { from: from.parse().unwrap(), to: to.parse().unwrap() }
            }
            (None, None, None) => PromoteScope::FirstFlow,
            other => panic!("not a promote request: {other:?}"),
        };
        let req = PromoteRequest { product: "shop".parse().unwrap(), scope };
        self.engine.promote(req, "alice".into()).await.unwrap().release.to_string()
    }

    /// The view of release `id` as the server answers it: from the engine's live state while the
    /// engine runs the release, else the stored one.
    pub async fn view(&self, id: &str) -> Value {
        match self.engine.live_state(id.parse().unwrap()) {
            Some(state) => serde_json::to_value(ferry_engine::view::release_view(&state)).unwrap(),
            None => self.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap(),
        }
    }

    /// The view rebuilt from the stored event log of release `id` (what every replica can read).
    pub async fn replayed_view(&self, id: &str) -> Value {
        let (state, _) = ferry_engine::replay(&self.store, &id.parse().unwrap()).await.unwrap();
        serde_json::to_value(ferry_engine::view::release_view(&state)).unwrap()
    }

    /// Waits (by following committed events) until the release reaches a final status; returns its
    /// stored view (the one kept once the release has ended).
    pub async fn wait_final(&self, id: &str) -> Value {
        let mut events = self.store.subscribe();
        let wait = async {
            loop {
                let view = self.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap();
                let status = view["status"].as_str().unwrap().to_owned();
                if matches!(status.as_str(), "Succeeded" | "Failed" | "Terminated") && !view["finishedAt"].is_null() {
                    return view;
                }
                loop {
                    match events.recv().await {
                        Ok(e) if e.release_id == id => break,
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(e) => panic!("event stream closed: {e}"),
                    }
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(120), wait).await {
            Ok(view) => {
                self.assert_projection_matches_replay(id, &view).await;
                view
            }
            Err(_) => panic!(
                "release {id} did not finish; view: {}",
                serde_json::to_string_pretty(&self.store.release_view(&id.parse().unwrap()).await.unwrap()).unwrap()
            ),
        }
    }
}

impl Harness {
    /// Roll-up consistency: replaying the stored event log gives exactly the stored projections.
    pub async fn assert_projection_matches_replay(&self, id: &str, view: &Value) {
        let events: Vec<ferry_model::release::ReleaseEvent> = self
            .store
            .release_events(&id.parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_value(e.body).unwrap())
            .collect();
        let state = ferry_model::release::ReleaseState::replay(&events).unwrap();
        let typed = ferry_engine::view::release_view(&state);
        let json = serde_json::to_value(&typed).unwrap();
        assert_eq!(&json, view, "stored view differs from the replayed state");
        let read: ferry_api::ReleaseView = serde_json::from_value(view.clone()).unwrap();
        assert_eq!(read, typed, "the stored view does not read back as the same typed view");
        let row = ferry_engine::view::release_row(&state);
        let listed = self
            .store
            .list_releases(ferry_store::ReleaseFilter {
                product: Some(row.product.clone()),
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        let stored = listed.items.into_iter().find(|r| r.id == id).unwrap();
        assert_eq!(stored, row, "stored release row differs from the replayed state");
    }
}

pub fn env_of<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

/// Product `shop` (flow `standard`, version from `Chart.yaml`'s `appVersion`, promoting the image tag
/// and the chart's `appVersion`), followed by a document separator.
pub(crate) const SHOP_PRODUCT: &str = r#"apiVersion: ferry/v1
kind: Product
metadata: { name: shop }
spec:
  promotionTemplate:
    versionSource: { file: Chart.yaml, jsonPath: $.appVersion }
    promotion:
      values.yaml: { jsonPaths: ["$.image.tag"] }
      Chart.yaml: { jsonPaths: [$.appVersion] }
  promotionFlows: [ { name: standard } ]
---
"#;

/// The release items of one [`Store::write`] call: per release, its id and the `type` of each event.
pub type ReleaseWrites = Vec<(String, Vec<String>)>;

/// A SQLite store that records the release items of every [`Store::write`] call, in call order (so a
/// test sees which releases one durable write carried).
#[derive(Clone)]
pub struct CountingStore {
    inner: SqliteStore,
    writes: Arc<Mutex<Vec<ReleaseWrites>>>,
}

impl CountingStore {
    /// The release items of each write call so far (calls with none are left out).
    pub fn release_writes(&self) -> Vec<ReleaseWrites> {
        self.writes.lock().unwrap().clone()
    }
}

type Answer<T> = ferry_store::Result<T>;

impl Store for CountingStore {
    fn write(&self, writes: Vec<Write>) -> impl Future<Output = Answer<Vec<Answer<WriteOutcome>>>> + Send {
        let releases: ReleaseWrites = writes
            .iter()
            .filter_map(|w| match w {
                Write::Release(r) => Some((
                    r.release_id.clone(),
                    r.events.iter().map(|e| e.body["type"].as_str().unwrap_or_default().to_owned()).collect(),
                )),
                _ => None,
            })
            .collect();
        if !releases.is_empty() {
            self.writes.lock().unwrap().push(releases);
        }
        self.inner.write(writes)
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<ferry_store::StoredEvent>> {
        self.inner.subscribe()
    }
    fn release_events(
        &self,
        release: &ReleaseId,
    ) -> impl Future<Output = Answer<Vec<ferry_store::StoredEvent>>> + Send {
        self.inner.release_events(release)
    }
    fn events_after(
        &self,
        after_gid: i64,
        filter: ferry_store::EventFilter,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<ferry_store::StoredEvent>>> + Send {
        self.inner.events_after(after_gid, filter, limit)
    }
    fn active_releases(&self) -> impl Future<Output = Answer<Vec<ReleaseId>>> + Send {
        self.inner.active_releases()
    }
    fn list_releases(
        &self,
        filter: ferry_store::ReleaseFilter,
    ) -> impl Future<Output = Answer<ferry_store::ReleasePage>> + Send {
        self.inner.list_releases(filter)
    }
    fn release_view(&self, id: &ReleaseId) -> impl Future<Output = Answer<Option<Value>>> + Send {
        self.inner.release_view(id)
    }
    fn latest_releases(&self) -> impl Future<Output = Answer<Vec<ferry_store::ReleaseRow>>> + Send {
        self.inner.latest_releases()
    }
    fn app_states(&self, product: &ProductName) -> impl Future<Output = Answer<Vec<ferry_store::AppStateRow>>> + Send {
        self.inner.app_states(product)
    }
    fn logs(
        &self,
        query: ferry_store::LogQuery,
    ) -> impl Future<Output = Answer<Vec<ferry_store::StoredLogLine>>> + Send {
        self.inner.logs(query)
    }
    fn runs(&self, release: &ReleaseId) -> impl Future<Output = Answer<Vec<ferry_store::RunRow>>> + Send {
        self.inner.runs(release)
    }
    fn latest_config(&self) -> impl Future<Output = Answer<Option<ferry_store::ConfigVersion>>> + Send {
        self.inner.latest_config()
    }
    fn product_events(
        &self,
        product: &ProductName,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<ferry_store::ProductEvent>>> + Send {
        self.inner.product_events(product, limit)
    }
    fn kv_get(&self, key: &str) -> impl Future<Output = Answer<Option<String>>> + Send {
        self.inner.kv_get(key)
    }
    fn pull_requests(
        &self,
        filter: ferry_store::PullRequestFilter,
    ) -> impl Future<Output = Answer<Vec<ferry_store::PullRequestRow>>> + Send {
        self.inner.pull_requests(filter)
    }
    fn pull_request(&self, number: i64) -> impl Future<Output = Answer<Option<ferry_store::PullRequestRow>>> + Send {
        self.inner.pull_request(number)
    }
    fn images_for(
        &self,
        query: ferry_store::ImageQuery,
    ) -> impl Future<Output = Answer<Vec<ferry_store::ImageRow>>> + Send {
        self.inner.images_for(query)
    }
    fn release_notes(&self, release: &ReleaseId) -> impl Future<Output = Answer<Option<Value>>> + Send {
        self.inner.release_notes(release)
    }
    fn token_by_hash(&self, hash: &str) -> impl Future<Output = Answer<Option<ferry_store::TokenRow>>> + Send {
        self.inner.token_by_hash(hash)
    }
    fn tokens(&self) -> impl Future<Output = Answer<Vec<ferry_store::TokenRow>>> + Send {
        self.inner.tokens()
    }
    fn session(
        &self,
        hash: &str,
    ) -> impl Future<Output = Answer<Option<(ferry_store::SessionRow, ferry_store::TokenRow)>>> + Send {
        self.inner.session(hash)
    }
    fn audit(&self, query: ferry_store::AuditQuery) -> impl Future<Output = Answer<Vec<ferry_store::AuditRow>>> + Send {
        self.inner.audit(query)
    }
    fn notification_failures(
        &self,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<ferry_store::NotificationFailureRow>>> + Send {
        self.inner.notification_failures(limit)
    }
    fn notification_failure(
        &self,
        id: i64,
    ) -> impl Future<Output = Answer<Option<ferry_store::NotificationFailureRow>>> + Send {
        self.inner.notification_failure(id)
    }
    fn freezes(&self) -> impl Future<Output = Answer<Vec<ferry_store::FreezeRow>>> + Send {
        self.inner.freezes()
    }
    fn outcomes(
        &self,
        query: ferry_store::OutcomeQuery,
    ) -> impl Future<Output = Answer<Vec<ferry_store::OutcomeRow>>> + Send {
        self.inner.outcomes(query)
    }
    fn decided_outcomes(
        &self,
        query: ferry_store::OutcomeQuery,
    ) -> impl Future<Output = Answer<Vec<ferry_store::DecidedOutcomeRow>>> + Send {
        self.inner.decided_outcomes(query)
    }
    fn dora_weeks(
        &self,
        query: ferry_store::OutcomeQuery,
    ) -> impl Future<Output = Answer<Vec<ferry_store::DoraWeekRow>>> + Send {
        self.inner.dora_weeks(query)
    }
}
