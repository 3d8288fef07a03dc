//! Integration tests: the real server on 127.0.0.1:0 with a temporary SQLite store and the real engine,
//! driven over HTTP.
#![allow(clippy::unwrap_used)]

mod auth;
mod catalog;
mod contract;
mod control;
mod dora;
mod errors;
mod events;
mod freezes;
mod gitops;
mod governance;
mod notes;
mod notifications;
mod releases;
mod rollback;
mod tls;

use std::str::FromStr;
use std::time::Duration;

use ferry_engine::EngineConfig;
use ferry_server::ServerSettings;
use ferry_store::{ReleaseRow, ReleaseWrite, SqliteStore, Store, Write, WriteOutcome};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A running server; stopped (gracefully) when dropped.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) store: SqliteStore,
    pub(crate) http: reqwest::Client,
    /// The engine, for waiting on what it does outside the store (notifications).
    pub(crate) engine: ferry_engine::EngineHandle,
    stop: Option<oneshot::Sender<()>>,
    engine_task: Option<tokio::task::JoinHandle<()>>,
    /// The example product's GitOps repository, made on first use.
    shop_repo: std::sync::OnceLock<String>,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    pub(crate) async fn start() -> Server {
        Server::start_tuned(|_| {}).await
    }

    /// A server with these settings.
    pub(crate) async fn start_with(settings: ServerSettings) -> Server {
        Server::start_full(|_| {}, settings).await
    }

    /// A server whose engine settings are adjusted first.
    pub(crate) async fn start_tuned(tune: impl FnOnce(&mut EngineConfig)) -> Server {
        Server::start_full(tune, ServerSettings::default()).await
    }

    /// A server with these settings, its engine settings adjusted first.
    pub(crate) async fn start_full(tune: impl FnOnce(&mut EngineConfig), settings: ServerSettings) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = EngineConfig::new(dir.path().to_path_buf(), base.clone());
        tune(&mut config);
        let (engine, engine_task) = ferry_engine::start(store.clone(), config).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(ferry_server::serve_with_shutdown(
            listener,
            store.clone(),
            engine.clone(),
            settings,
            async move {
                let _ = stopped.await;
            },
        ));
        let server = Server {
            base,
            store,
            http: reqwest::Client::new(),
            engine,
            stop: Some(stop),
            engine_task: Some(engine_task),
            shop_repo: std::sync::OnceLock::new(),
            dir,
        };
        // Answering means the server task got past its set-up (its event counter and view cache
        // subscribed): what the test writes from now on is seen by them.
        server.http.get(server.url("/readyz")).send().await.unwrap();
        server
    }

    /// Stops the engine task (the server keeps answering; requests for the engine get 503).
    pub(crate) async fn stop_engine(&mut self) {
        if let Some(task) = self.engine_task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// The example product's files, as the CLI would send them, its applications in a local bare
    /// repository of this server's directory (the same one on every call).
    pub(crate) fn shop_sources(&self) -> Value {
        gitops::shop_sources(&self.shop_repo_url())
    }

    /// The URL of the example product's GitOps repository (made on first use).
    pub(crate) fn shop_repo_url(&self) -> String {
        self.shop_repo.get_or_init(|| gitops::shop_repo(self.dir.path()).url()).clone()
    }

    /// Waits (following committed events, never sleeping) until the release has ended; returns its view.
    pub(crate) async fn wait_final(&self, id: &str) -> Value {
        let mut events = self.store.subscribe();
        let wait = async {
            loop {
                let view = self.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap();
                if matches!(view["status"].as_str(), Some("Succeeded" | "Failed" | "Terminated"))
                    && !view["finishedAt"].is_null()
                {
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
        tokio::time::timeout(Duration::from_secs(120), wait).await.expect("the release finished")
    }

    /// A future for the first event committed after this call (it subscribes at once) that matches.
    pub(crate) fn event<F: Fn(&ferry_store::StoredEvent) -> bool>(
        &self,
        pred: F,
    ) -> impl std::future::Future<Output = ferry_store::StoredEvent> + use<F> {
        let wait = self.events(1, pred);
        async move { wait.await.remove(0) }
    }

    /// A future for the first `n` events committed after this call (it subscribes at once) that match.
    pub(crate) fn events<F: Fn(&ferry_store::StoredEvent) -> bool>(
        &self,
        n: usize,
        pred: F,
    ) -> impl std::future::Future<Output = Vec<ferry_store::StoredEvent>> + use<F> {
        let mut events = self.store.subscribe();
        async move {
            let wait = async {
                let mut found = Vec::new();
                while found.len() < n {
                    match events.recv().await {
                        Ok(e) if pred(&e) => found.push((*e).clone()),
                        Ok(_) => {}
                        Err(e) => panic!("event stream: {e}"),
                    }
                }
                found
            };
            tokio::time::timeout(Duration::from_secs(60), wait).await.expect("the expected events never came")
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        checked("GET", path, self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        checked("POST", path, self.http.post(self.url(path)).json(body).send().await.unwrap()).await
    }

    /// `GET path` with a bearer token.
    pub(crate) async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        checked("GET", path, self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()).await
    }

    /// `POST path` with a bearer token and a JSON body.
    pub(crate) async fn post_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self.http.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap();
        checked("POST", path, response).await
    }

    /// `POST path` with a raw body (possibly empty) and optional headers; sent as JSON unless the
    /// headers name another content type.
    pub(crate) async fn post_raw(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).body(body.to_owned());
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        checked("POST", path, request.send().await.unwrap()).await
    }
}

/// The status and JSON body of an answer, the body checked against the OpenAPI document.
pub(crate) async fn checked(method: &str, path: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    contract::check(method, path, status, &body);
    (status, body)
}

pub(crate) fn t(s: &str) -> Timestamp {
    Timestamp::from_str(s).unwrap()
}

/// A release id (UUID v7) for a creation time, so ids sort like creation times.
pub(crate) fn release_id(created: &str) -> String {
    let ts = t(created);
    let uuid = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, ts.as_second() as u64, 0));
    uuid.to_string()
}

/// A made-up release write: `n` events starting at `first_seq`.
pub(crate) fn release_write(
    id: &str,
    product: &str,
    flow: &str,
    status: &str,
    created: &str,
    first_seq: i64,
    n: usize,
) -> Write {
    let base = ferry_store::test_support::release_write(id, product, status, t(created), first_seq, n);
    Write::Release(Box::new(ReleaseWrite {
        row: ReleaseRow {
            flow: flow.into(),
            flow_version: Some("3.0".into()),
            finished_at: None,
            version: Some("1.4.2".into()),
            environments: json!({"dev": "Successful", "qa": if status == "Failed" { "Failed" } else { "Running" }}),
            ..base.row.clone()
        },
        view: Some(serde_json::to_value(made_up_view(id, product, flow, status, created)).unwrap()),
        ..base
    }))
}

/// A made-up release view with no environments.
pub(crate) fn made_up_view(id: &str, product: &str, flow: &str, status: &str, created: &str) -> ferry_api::ReleaseView {
    ferry_api::ReleaseView {
        id: id.parse().unwrap(),
        product: product.into(),
        flow: flow.into(),
        flow_version: Some("3.0".into()),
        version: Some("1.4.2".into()),
        status: status.parse().unwrap(),
        initiator: "alice".into(),
        created_at: t(created),
        started_at: Some(t(created)),
        finished_at: None,
        reason: None,
        retries: 0,
        terminate: None,
        last_retry: None,
        trigger: ferry_api::TriggerView {
            environment: "dev".into(),
            sha: "00e81fed5f2da0ab8310f4d032695b9ec0548e06".into(),
            short_sha: "00e81fe".into(),
            message: "feat: x".into(),
            author: "Dana".into(),
            author_email: "dana@example.com".into(),
            date: t(created),
            repo: "https://git.example.com/shop.git".into(),
            branch: "main".into(),
            web_url: None,
        },
        counters: ferry_api::Counters::default(),
        environments: vec![],
        hooks: vec![],
        context: Default::default(),
        issues: vec![],
        rollback: None,
    }
}

/// Writes and returns the new events' ids.
pub(crate) async fn write(store: &SqliteStore, w: Write) -> Vec<i64> {
    let outcome = store.write(vec![w]).await.unwrap().into_iter().next().unwrap().unwrap();
    match outcome {
        WriteOutcome::Events(gids) => gids,
        _ => Vec::new(),
    }
}
