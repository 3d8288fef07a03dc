//! An in-process stand-in for Argo CD's API server (feature `standin`; used by the tests through
//! `ferry-testkit` and by `ferry demo --argocd`): it speaks the JSON shapes of Argo CD's swagger document
//! (`GET /api/v1/applications/{name}`, the watch stream `GET /api/v1/stream/applications?name=…`,
//! `POST /api/v1/applications/{name}/sync`) and behaves like Argo CD over time. It watches a
//! repository through a [`Revisions`] source: after a commit on an application's path it reports
//! OutOfSync, runs a sync operation (at once with auto-sync, or when a sync is requested) and, after a
//! configurable delay, reports the outcome its [`Behaviour`] says. A healthy application can also turn
//! Degraded later, without a new operation ([`ArgoCdStandIn::degrade`]).
//!
//! The JSON is written here by hand, independently of Ferry's client types, so that a field name
//! Ferry gets wrong shows as a failing test.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::watch;

/// What the application does after a sync operation starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Synced and Healthy at the new revision after the delay.
    Healthy,
    /// The operation never finishes.
    Stuck,
    /// Synced, but the Deployment is Degraded with this message.
    Degraded(String),
    /// The sync operation fails with this message.
    SyncFailed(String),
    /// Synced and Healthy, but the health was assessed a second before the operation finished (until
    /// [`ArgoCdStandIn::reconcile`]).
    AssessedBeforeFinish,
}

/// Where the stand-in reads the repository it deploys from: for a branch and a list of paths, the last
/// commit on the branch touching each path (`None` when none does or the repository cannot be read).
/// Called from a blocking thread every 50 ms.
pub type Revisions = Arc<dyn Fn(&str, &[String]) -> Vec<Option<String>> + Send + Sync>;

/// One application the stand-in serves: its name and its path in the repository.
#[derive(Debug, Clone)]
pub struct StandInApp {
    /// The Argo CD application's name.
    pub name: String,
    /// Its path in the watched repository.
    pub path: String,
    /// Whether Argo CD syncs by itself (`false`: only after a sync request).
    pub auto_sync: bool,
}

#[derive(Debug)]
struct App {
    spec: StandInApp,
    behaviour: Behaviour,
    seen: Option<String>,
    sync: &'static str,
    revision: Option<String>,
    health: &'static str,
    health_message: Option<String>,
    conditions: Vec<(String, String)>,
    degraded_resource: Option<String>,
    op: Option<Op>,
    reconciled_at: Timestamp,
    sync_requested: bool,
    /// When sync operations turned the application Synced and Healthy, and at which revision.
    reported: Vec<SyncedHealthy>,
}

/// A moment the stand-in turned an application Synced and Healthy: the revision, and the precise time
/// (microseconds, unlike the second-precision times of Argo CD's JSON) just before watchers are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedHealthy {
    /// The revision it is synced to.
    pub revision: String,
    /// When.
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
struct Op {
    phase: &'static str,
    message: String,
    revision: String,
    started_at: Timestamp,
    finished_at: Option<Timestamp>,
    due: tokio::time::Instant,
}

struct Shared {
    apps: Mutex<BTreeMap<String, App>>,
    version: watch::Sender<u64>,
    token: Option<String>,
    delay: Duration,
    revisions: Revisions,
    branch: String,
    requests: Mutex<Vec<String>>,
    refreshed: tokio::sync::Notify,
    cut_streams: std::sync::atomic::AtomicBool,
    silent_streams: std::sync::atomic::AtomicBool,
    /// How many watch streams were answered (their first event taken).
    streams: watch::Sender<usize>,
    /// Whether the repository is looked at every tick, or only after a refresh request.
    poll_repository: std::sync::atomic::AtomicBool,
}

/// A running stand-in on a loopback port; stops when dropped.
pub struct ArgoCdStandIn {
    url: String,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ArgoCdStandIn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn now() -> Timestamp {
    // Argo CD's timestamps have second precision.
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl ArgoCdStandIn {
    /// Serves `apps` of the repository `revisions` reads (branch `branch`), requiring `token` as a bearer
    /// token when set, finishing sync operations `delay` after they start. Every application starts
    /// Synced and Healthy at the last commit on its path.
    pub async fn start(
        revisions: Revisions,
        branch: &str,
        apps: Vec<StandInApp>,
        token: Option<&str>,
        delay: Duration,
    ) -> std::io::Result<ArgoCdStandIn> {
        let started = now();
        let mut map = BTreeMap::new();
        let paths: Vec<String> = apps.iter().map(|a| a.path.clone()).collect();
        let heads = {
            let (revisions, branch) = (revisions.clone(), branch.to_owned());
            tokio::task::spawn_blocking(move || revisions(&branch, &paths)).await.unwrap_or_default()
        };
        for (i, spec) in apps.into_iter().enumerate() {
            let head = heads.get(i).cloned().flatten();
            let app = App {
                behaviour: Behaviour::Healthy,
                seen: head.clone(),
                sync: "Synced",
                revision: head.clone(),
                health: "Healthy",
                health_message: None,
                conditions: Vec::new(),
                degraded_resource: None,
                op: head.map(|revision| Op {
                    phase: "Succeeded",
                    message: "successfully synced (all tasks run)".to_owned(),
                    revision,
                    started_at: started,
                    finished_at: Some(started),
                    due: tokio::time::Instant::now(),
                }),
                reconciled_at: started,
                sync_requested: false,
                reported: Vec::new(),
                spec,
            };
            map.insert(app.spec.name.clone(), app);
        }
        let shared = Arc::new(Shared {
            apps: Mutex::new(map),
            version: watch::channel(0).0,
            token: token.map(str::to_owned),
            delay,
            revisions,
            branch: branch.to_owned(),
            requests: Mutex::new(Vec::new()),
            refreshed: tokio::sync::Notify::new(),
            cut_streams: std::sync::atomic::AtomicBool::new(false),
            silent_streams: std::sync::atomic::AtomicBool::new(false),
            streams: watch::channel(0).0,
            poll_repository: std::sync::atomic::AtomicBool::new(true),
        });
        let router = Router::new()
            .route("/api/v1/applications/{name}", get(get_app))
            .route("/api/v1/applications/{name}/sync", post(sync_app))
            .route("/api/v1/stream/applications", get(stream_apps))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let ticker = tokio::spawn(tick_loop(shared.clone()));
        Ok(ArgoCdStandIn { url: format!("http://{addr}"), shared, tasks: vec![server, ticker] })
    }

    /// The server URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sets what `app` does on its next sync operations.
    pub fn set_behaviour(&self, app: &str, behaviour: Behaviour) {
        if let Some(a) = self.shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(app) {
            a.behaviour = behaviour;
        }
    }

    /// Turns `app` Degraded now with `message` on its Deployment, as Argo CD reports an application
    /// whose pods start failing some time after a sync (no new operation, a later health assessment):
    /// the application's health and the Deployment's resource health say so, `reconciledAt` moves
    /// on, and every watch stream gets the change as an event. The next sync operation assesses health
    /// afresh (by its [`Behaviour`]).
    pub fn degrade(&self, app: &str, message: &str) {
        if let Some(a) = self.shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(app) {
            a.health = "Degraded";
            a.degraded_resource = Some(message.to_owned());
            a.reconciled_at = now().max(a.op.as_ref().and_then(|o| o.finished_at).unwrap_or(Timestamp::UNIX_EPOCH));
        }
        self.shared.version.send_modify(|v| *v += 1);
    }

    /// Reconciles `app` now: its health is assessed again (after any finished operation).
    pub fn reconcile(&self, app: &str) {
        if let Some(a) = self.shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(app) {
            a.reconciled_at = now().max(a.op.as_ref().and_then(|o| o.finished_at).unwrap_or(Timestamp::UNIX_EPOCH));
        }
        self.shared.version.send_modify(|v| *v += 1);
    }

    /// Whether watch streams are cut in the middle of their first event (the connection ends there).
    pub fn cut_streams(&self, cut: bool) {
        self.shared.cut_streams.store(cut, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether watch streams send their first event and then nothing (held open, as a buffering proxy
    /// would).
    pub fn silent_streams(&self, silent: bool) {
        self.shared.silent_streams.store(silent, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the repository is looked at every 50 ms (the default) or only when a refresh is
    /// requested, as Argo CD with `timeout.reconciliation: 0s` (no polling; webhooks and refreshes
    /// only): a commit is noticed no earlier than Ferry's refresh after its push.
    pub fn poll_repository(&self, poll: bool) {
        self.shared.poll_repository.store(poll, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until `n` watch streams were answered: each one's first event is the application as it
    /// was then, so a change made after this call reaches those streams only as a later event.
    pub async fn streams_answered(&self, n: usize) {
        let mut answered = self.shared.streams.subscribe();
        let _ = answered.wait_for(|count| *count >= n).await;
    }

    /// Requests received, as `METHOD path?query` (`POST` bodies appended), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Every moment a sync operation turned `app` Synced and Healthy, oldest first.
    pub fn synced_healthy(&self, app: &str) -> Vec<SyncedHealthy> {
        let apps = self.shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        apps.get(app).map(|a| a.reported.clone()).unwrap_or_default()
    }

    /// The application's JSON as `GET /api/v1/applications/{name}` answers it.
    pub fn application(&self, app: &str) -> Option<Value> {
        self.shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(app).map(to_json)
    }
}

/// Looks at the repository every 50 ms (unless polling is off) and at once after a refresh request,
/// starts and finishes sync operations.
async fn tick_loop(shared: Arc<Shared>) {
    loop {
        let refreshed = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => false,
            _ = shared.refreshed.notified() => true,
        };
        let look = refreshed || shared.poll_repository.load(std::sync::atomic::Ordering::SeqCst);
        let specs: Vec<(String, String)> = shared
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|a| (a.spec.name.clone(), a.spec.path.clone()))
            .collect();
        let (revisions, branch) = (shared.revisions.clone(), shared.branch.clone());
        let heads = tokio::task::spawn_blocking(move || {
            let paths: Vec<String> = specs.iter().map(|(_, path)| path.clone()).collect();
            let heads = revisions(&branch, &paths);
            specs.into_iter().map(|(name, _)| name).zip(heads).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut changed = false;
        {
            let mut apps = shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (name, head) in heads {
                let Some(app) = apps.get_mut(&name) else { continue };
                changed |= step(app, head.filter(|_| look), shared.delay);
            }
        }
        if changed {
            shared.version.send_modify(|v| *v += 1);
        }
    }
}

/// Advances one application; whether it changed.
fn step(app: &mut App, head: Option<String>, delay: Duration) -> bool {
    let mut changed = false;
    if head.is_some() && head != app.seen {
        app.seen = head.clone();
        app.sync = "OutOfSync";
        app.revision = head;
        app.reconciled_at = now();
        changed = true;
    }
    let running = app.op.as_ref().is_some_and(|o| o.phase == "Running");
    if app.sync == "OutOfSync" && !running && (app.spec.auto_sync || app.sync_requested) {
        app.sync_requested = false;
        if let Some(revision) = app.revision.clone() {
            app.op = Some(Op {
                phase: "Running",
                message: "waiting for completion of hook and other tasks".to_owned(),
                revision,
                started_at: now(),
                finished_at: None,
                due: tokio::time::Instant::now() + delay,
            });
            changed = true;
        }
    }
    let due = app.op.as_ref().is_some_and(|o| o.phase == "Running" && tokio::time::Instant::now() >= o.due);
    if due && app.behaviour != Behaviour::Stuck {
        finish(app);
        changed = true;
    }
    changed
}

fn finish(app: &mut App) {
    let Some(op) = app.op.as_mut() else { return };
    let finished = now();
    op.finished_at = Some(finished);
    app.reconciled_at = finished;
    app.conditions.clear();
    app.degraded_resource = None;
    app.health_message = None;
    match app.behaviour.clone() {
        Behaviour::Healthy | Behaviour::Stuck => {
            op.phase = "Succeeded";
            op.message = "successfully synced (all tasks run)".to_owned();
            (app.sync, app.health) = ("Synced", "Healthy");
            app.reported.push(SyncedHealthy { revision: op.revision.clone(), at: Timestamp::now() });
        }
        Behaviour::Degraded(message) => {
            op.phase = "Succeeded";
            op.message = "successfully synced (all tasks run)".to_owned();
            (app.sync, app.health) = ("Synced", "Degraded");
            app.degraded_resource = Some(message);
        }
        Behaviour::SyncFailed(message) => {
            op.phase = "Failed";
            op.message = message.clone();
            app.sync = "OutOfSync";
            app.conditions.push(("SyncError".to_owned(), message));
        }
        Behaviour::AssessedBeforeFinish => {
            op.phase = "Succeeded";
            op.message = "successfully synced (all tasks run)".to_owned();
            (app.sync, app.health) = ("Synced", "Healthy");
            app.reconciled_at =
                finished.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap_or(Timestamp::UNIX_EPOCH);
        }
    }
}

/// The application in the shape of `v1alpha1Application`.
fn to_json(app: &App) -> Value {
    let time = |t: Timestamp| t.to_string();
    let mut resources = vec![json!({
        "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop", "name": app.spec.name,
        "status": app.sync,
        "health": match &app.degraded_resource {
            Some(m) => json!({ "status": "Degraded", "message": m }),
            None => json!({ "status": app.health }),
        },
    })];
    resources.push(json!({ "version": "v1", "kind": "Service", "namespace": "shop", "name": app.spec.name, "status": app.sync, "health": { "status": "Healthy" } }));
    let mut status = json!({
        "sync": { "status": app.sync, "revision": app.revision,
                  "comparedTo": { "source": { "path": app.spec.path } } },
        "health": { "status": app.health },
        "reconciledAt": time(app.reconciled_at),
        "conditions": app.conditions.iter().map(|(t, m)| json!({ "type": t, "message": m })).collect::<Vec<_>>(),
        "resources": resources,
        "sourceType": "Directory",
    });
    if let Some(m) = &app.health_message {
        status["health"]["message"] = json!(m);
    }
    if let Some(op) = &app.op {
        let mut state = json!({
            "phase": op.phase,
            "message": op.message,
            "startedAt": time(op.started_at),
            "operation": { "sync": { "revision": op.revision } },
            "syncResult": { "revision": op.revision },
        });
        if let Some(f) = op.finished_at {
            state["finishedAt"] = json!(time(f));
        }
        status["operationState"] = state;
    }
    json!({
        "metadata": { "name": app.spec.name, "namespace": "argocd" },
        "spec": { "project": "default", "source": { "path": app.spec.path } },
        "status": status,
    })
}

fn error(code: StatusCode, message: &str) -> Response {
    (code, axum::Json(json!({ "error": message, "code": 16, "message": message }))).into_response()
}

/// The 401 answer when the request does not carry the token.
fn unauthorised(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let token = shared.token.as_ref()?;
    let sent = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    (sent != format!("Bearer {token}")).then(|| error(StatusCode::UNAUTHORIZED, "no session information"))
}

fn record(shared: &Shared, line: String) {
    shared.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
}

fn query_text(q: &BTreeMap<String, String>) -> String {
    q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

async fn get_app(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&shared, format!("GET /api/v1/applications/{name}?{}", query_text(&q)));
    if let Some(r) = unauthorised(&shared, &headers) {
        return r;
    }
    if q.contains_key("refresh") {
        shared.refreshed.notify_one();
    }
    match shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&name) {
        Some(app) => axum::Json(to_json(app)).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("applications.argoproj.io \"{name}\" not found")),
    }
}

async fn sync_app(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record(&shared, format!("POST /api/v1/applications/{name}/sync {body}"));
    if let Some(r) = unauthorised(&shared, &headers) {
        return r;
    }
    let answer = match shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(&name) {
        Some(app) => {
            app.sync_requested = true;
            axum::Json(to_json(app)).into_response()
        }
        None => error(StatusCode::NOT_FOUND, &format!("applications.argoproj.io \"{name}\" not found")),
    };
    shared.refreshed.notify_one();
    answer
}

async fn stream_apps(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&shared, format!("GET /api/v1/stream/applications?{}", query_text(&q)));
    if let Some(r) = unauthorised(&shared, &headers) {
        return r;
    }
    let Some(name) = q.get("name").cloned() else {
        return error(StatusCode::BAD_REQUEST, "name is required");
    };
    if shared.cut_streams.load(std::sync::atomic::Ordering::SeqCst) {
        let app = shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&name).map(to_json);
        let line = json!({ "result": { "type": "ADDED", "application": app } }).to_string();
        return line[..line.len() / 2].to_owned().into_response();
    }
    // The first event is the application as it is when the watch begins (as Argo CD sends it);
    // changes from then on follow as events.
    let mut versions = shared.version.subscribe();
    versions.borrow_and_update();
    let initial = shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&name).map(to_json);
    shared.streams.send_modify(|count| *count += 1);
    let events = futures_util::stream::unfold(
        (shared, versions, name, Some(initial)),
        |(shared, mut versions, name, initial)| async move {
            let first = initial.is_some();
            let app = match initial {
                Some(app) => app,
                None => {
                    if shared.silent_streams.load(std::sync::atomic::Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    versions.changed().await.ok()?;
                    versions.borrow_and_update();
                    shared.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&name).map(to_json)
                }
            };
            let line = match app {
                Some(app) => {
                    json!({ "result": { "type": if first { "ADDED" } else { "MODIFIED" }, "application": app } })
                }
                None => json!({ "result": { "type": "DELETED", "application": { "metadata": { "name": name } } } }),
            };
            let bytes = Bytes::from(format!("{line}\n"));
            Some((Ok::<_, Infallible>(bytes), (shared, versions, name, None)))
        },
    );
    Body::from_stream(events).into_response()
}
