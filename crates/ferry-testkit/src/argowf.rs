//! An in-process stand-in for the Argo Server's API (feature `argowf`): it speaks the JSON shapes of
//! Argo Workflows' swagger document (`POST /api/v1/workflows/{ns}/submit`,
//! `GET /api/v1/workflows/{ns}/{name}`, the event stream `GET /api/v1/workflow-events/{ns}`, logs
//! `GET /api/v1/workflows/{ns}/{name}/log`, `PUT …/terminate`, `PUT …/retry`, `PUT …/resume`) and
//! behaves like Argo over time: a workflow submitted from a template it knows runs the template's
//! steps one after the other, each node going Pending → Running → Succeeded or Failed a tick apart; a
//! step may run a real `sh -c` child process whose output is its log and whose exit code decides; a
//! suspend node stays Running until a resume whose `nodeFieldSelector` matches it (as Argo's
//! `updateSuspendedNode` does: `id`, `name`, `displayName`, `templateName`, `phase`; `=`, `==`, `!=`).
//!
//! The JSON is written here by hand, independently of Ferry's client types, so that a field name
//! Ferry gets wrong shows as a failing test.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::watch;

/// What a step of a template does when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeds, logging these lines.
    Succeed(Vec<String>),
    /// Fails with this exit code, logging these lines.
    Fail(i32, Vec<String>),
    /// Runs `sh -c SCRIPT`: its stdout and stderr are the log, its exit code decides.
    Run(String),
    /// Is skipped (its `when` was false).
    Skip,
    /// A suspend node (`suspend: {}`): Running until resumed (`PUT …/resume`), then Succeeded.
    Suspend,
}

/// One step of a template.
#[derive(Debug, Clone)]
pub struct TemplateStep {
    /// The step's name (the node's display name and template name).
    pub name: String,
    /// What it does.
    pub outcome: Outcome,
}

/// A WorkflowTemplate the stand-in knows: sequential steps, and the workflow's output parameters
/// once it succeeded.
#[derive(Debug, Clone)]
pub struct Template {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its steps, run one after the other.
    pub steps: Vec<TemplateStep>,
    /// Output parameters of a succeeded workflow (`status.outputs.parameters`).
    pub outputs: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Node {
    id: String,
    name: String,
    display: String,
    kind: &'static str,
    template: String,
    phase: &'static str,
    message: Option<String>,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    exit_code: Option<i32>,
    log: Vec<String>,
}

#[derive(Debug, Clone)]
struct Wf {
    name: String,
    namespace: String,
    template: Template,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    parameters: Vec<(String, String)>,
    service_account: Option<String>,
    phase: &'static str,
    message: Option<String>,
    started_at: Timestamp,
    finished_at: Option<Timestamp>,
    /// Index of the step running now.
    current: usize,
    nodes: Vec<Node>,
    version: u64,
    /// A step's process is running outside the lock.
    busy: bool,
}

struct Shared {
    templates: Mutex<BTreeMap<(String, String), Template>>,
    workflows: Mutex<BTreeMap<(String, String), Wf>>,
    version: watch::Sender<u64>,
    token: Option<String>,
    requests: Mutex<Vec<String>>,
    submissions: AtomicUsize,
    hold: AtomicBool,
    cut_streams: AtomicBool,
    forbidden: AtomicBool,
    unavailable: AtomicBool,
    unavailable_answers: AtomicUsize,
    malformed: AtomicBool,
    reject: Mutex<Option<String>>,
}

/// A running stand-in on a loopback port; stops when dropped.
pub struct ArgoServerStandIn {
    url: String,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ArgoServerStandIn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn now() -> Timestamp {
    // Argo's timestamps have second precision.
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl ArgoServerStandIn {
    /// Serves `templates`, requiring `token` as a bearer token when set, advancing workflows every
    /// `tick`.
    pub async fn start(templates: Vec<Template>, token: Option<&str>, tick: Duration) -> ArgoServerStandIn {
        let map = templates.into_iter().map(|t| ((t.namespace.clone(), t.name.clone()), t)).collect();
        let shared = Arc::new(Shared {
            templates: Mutex::new(map),
            workflows: Mutex::new(BTreeMap::new()),
            version: watch::channel(0).0,
            token: token.map(str::to_owned),
            requests: Mutex::new(Vec::new()),
            submissions: AtomicUsize::new(0),
            hold: AtomicBool::new(false),
            cut_streams: AtomicBool::new(false),
            forbidden: AtomicBool::new(false),
            unavailable: AtomicBool::new(false),
            unavailable_answers: AtomicUsize::new(0),
            malformed: AtomicBool::new(false),
            reject: Mutex::new(None),
        });
        let router = Router::new()
            .route("/api/v1/workflows/{ns}/submit", post(submit))
            .route("/api/v1/workflows/{ns}/{name}", get(get_workflow))
            .route("/api/v1/workflows/{ns}/{name}/log", get(logs))
            .route("/api/v1/workflows/{ns}/{name}/terminate", put(terminate))
            .route("/api/v1/workflows/{ns}/{name}/retry", put(retry))
            .route("/api/v1/workflows/{ns}/{name}/resume", put(resume))
            .route("/api/v1/workflow-events/{ns}", get(events))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let ticker = tokio::spawn(tick_loop(shared.clone(), tick));
        ArgoServerStandIn { url: format!("http://{addr}"), shared, tasks: vec![server, ticker] }
    }

    /// The server URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes what `step` of template `namespace/template` does in later runs of it (a retried
    /// node runs again with the new outcome).
    pub fn set_outcome(&self, namespace: &str, template: &str, step: &str, outcome: Outcome) {
        let key = (namespace.to_owned(), template.to_owned());
        if let Some(t) = lock(&self.shared.templates).get_mut(&key) {
            for s in t.steps.iter_mut().filter(|s| s.name == step) {
                s.outcome = outcome.clone();
            }
        }
        for wf in lock(&self.shared.workflows).values_mut().filter(|w| w.template.name == template) {
            for s in wf.template.steps.iter_mut().filter(|s| s.name == step) {
                s.outcome = outcome.clone();
            }
        }
    }

    /// While held, running workflows do not advance (their nodes stay as they are).
    pub fn hold(&self, hold: bool) {
        self.shared.hold.store(hold, Ordering::SeqCst);
    }

    /// Whether event streams are cut in the middle of their first event.
    pub fn cut_streams(&self, cut: bool) {
        self.shared.cut_streams.store(cut, Ordering::SeqCst);
    }

    /// Whether every request is answered 403 (the token's role may not do anything).
    pub fn forbid(&self, forbid: bool) {
        self.shared.forbidden.store(forbid, Ordering::SeqCst);
    }

    /// Whether every request is answered 503 (the Argo Server is down behind its load balancer);
    /// workflows keep running meanwhile.
    pub fn unavailable(&self, unavailable: bool) {
        self.shared.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Resolves once `count` requests have been answered 503 (see [`unavailable`](Self::unavailable)).
    pub async fn wait_for_unavailable_answers(&self, count: usize) {
        let mut versions = self.shared.version.subscribe();
        loop {
            if self.shared.unavailable_answers.load(Ordering::SeqCst) >= count {
                return;
            }
            if versions.changed().await.is_err() {
                panic!("the stand-in stopped");
            }
        }
    }

    /// Whether `GET /api/v1/workflows/{ns}/{name}` answers malformed JSON.
    pub fn malformed(&self, malformed: bool) {
        self.shared.malformed.store(malformed, Ordering::SeqCst);
    }

    /// Rejects later submissions with this message (400, as Argo answers an invalid workflow).
    pub fn reject_submissions(&self, message: Option<&str>) {
        *lock(&self.shared.reject) = message.map(str::to_owned);
    }

    /// Deletes a workflow behind Ferry's back; whether it existed.
    pub fn delete(&self, namespace: &str, name: &str) -> bool {
        let removed = lock(&self.shared.workflows).remove(&(namespace.to_owned(), name.to_owned())).is_some();
        self.shared.version.send_modify(|v| *v += 1);
        removed
    }

    /// Workflows created by submissions so far (a submission refused because the name exists does
    /// not count).
    pub fn submissions(&self) -> usize {
        self.shared.submissions.load(Ordering::SeqCst)
    }

    /// Names of the workflows in `namespace`.
    pub fn workflows(&self, namespace: &str) -> Vec<String> {
        lock(&self.shared.workflows).keys().filter(|(ns, _)| ns == namespace).map(|(_, n)| n.clone()).collect()
    }

    /// A workflow's JSON as `GET /api/v1/workflows/{ns}/{name}` answers it.
    pub fn workflow(&self, namespace: &str, name: &str) -> Option<Value> {
        lock(&self.shared.workflows).get(&(namespace.to_owned(), name.to_owned())).map(to_json)
    }

    /// Requests received, as `METHOD path?query` (bodies appended), oldest first.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }

    /// Resolves once a workflow exists in `namespace`; returns its name.
    pub async fn wait_for_workflow(&self, namespace: &str) -> String {
        let mut versions = self.shared.version.subscribe();
        loop {
            if let Some(name) = self.workflows(namespace).into_iter().next() {
                return name;
            }
            if versions.changed().await.is_err() {
                panic!("the stand-in stopped");
            }
        }
    }

    /// Resolves once a workflow in `namespace` has a node of `step` in `phase`; returns the workflow's
    /// name.
    pub async fn wait_for_node(&self, namespace: &str, step: &str, phase: &str) -> String {
        let mut versions = self.shared.version.subscribe();
        loop {
            let found = lock(&self.shared.workflows)
                .values()
                .find(|w| w.namespace == namespace && w.nodes.iter().any(|n| n.display == step && n.phase == phase))
                .map(|w| w.name.clone());
            if let Some(name) = found {
                return name;
            }
            if versions.changed().await.is_err() {
                panic!("the stand-in stopped");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Argo's 32-bit FNV-1a, for node ids and pod names.
fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The pod of a node, as Argo (v2 pod names) names it.
fn pod_name(wf: &str, node: &Node) -> String {
    format!("{wf}-{}-{}", node.template, fnv32a(node.name.as_bytes()))
}

/// Advances every running workflow one transition per tick.
async fn tick_loop(shared: Arc<Shared>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        if shared.hold.load(Ordering::SeqCst) {
            continue;
        }
        let keys: Vec<(String, String)> = lock(&shared.workflows).keys().cloned().collect();
        for key in keys {
            let script = {
                let mut wfs = lock(&shared.workflows);
                let Some(wf) = wfs.get_mut(&key) else { continue };
                if wf.phase != "Running" || wf.busy {
                    continue;
                }
                advance(wf)
            };
            if let Some((index, script)) = script {
                let shared = shared.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let result = tokio::task::spawn_blocking(move || run_script(&script)).await.unwrap_or((1, vec![]));
                    let mut wfs = lock(&shared.workflows);
                    if let Some(wf) = wfs.get_mut(&key) {
                        wf.busy = false;
                        if wf.phase == "Running" && wf.nodes.get(index).is_some_and(|n| n.phase == "Running") {
                            finish_node(wf, index, result.0, result.1);
                        }
                    }
                    drop(wfs);
                    shared.version.send_modify(|v| *v += 1);
                });
            }
        }
        shared.version.send_modify(|v| *v += 1);
    }
}

fn run_script(script: &str) -> (i32, Vec<String>) {
    match std::process::Command::new("sh").arg("-c").arg(script).stdin(std::process::Stdio::null()).output() {
        Ok(out) => {
            let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
            lines.extend(String::from_utf8_lossy(&out.stderr).lines().map(str::to_owned));
            (out.status.code().unwrap_or(1), lines)
        }
        Err(e) => (1, vec![format!("cannot run sh: {e}")]),
    }
}

/// One transition of `wf`; a script to run outside the lock (the node's index and the script).
fn advance(wf: &mut Wf) -> Option<(usize, String)> {
    let Some(step) = wf.template.steps.get(wf.current).cloned() else {
        finish_workflow(wf, "Succeeded", None);
        return None;
    };
    let node_name = format!("{}[{}].{}", wf.name, wf.current, step.name);
    let index = match wf.nodes.iter().position(|n| n.name == node_name) {
        Some(i) => i,
        None => {
            wf.nodes.push(Node {
                id: format!("{}-{}", wf.name, fnv32a(node_name.as_bytes())),
                name: node_name,
                display: step.name.clone(),
                kind: match step.outcome {
                    Outcome::Skip => "Skipped",
                    Outcome::Suspend => "Suspend",
                    _ => "Pod",
                },
                template: step.name.clone(),
                phase: "Pending",
                message: None,
                started_at: None,
                finished_at: None,
                exit_code: None,
                log: Vec::new(),
            });
            wf.version += 1;
            return None;
        }
    };
    let node = &mut wf.nodes[index];
    match (node.phase, &step.outcome) {
        ("Pending", Outcome::Skip) => {
            node.phase = "Skipped";
            node.message = Some("when 'false' evaluated false".to_owned());
            node.started_at = Some(now());
            node.finished_at = node.started_at;
            wf.current += 1;
            wf.version += 1;
            None
        }
        ("Pending", _) => {
            node.phase = "Running";
            node.started_at = Some(now());
            wf.version += 1;
            None
        }
        ("Running", Outcome::Succeed(log)) => {
            finish_node(wf, index, 0, log.clone());
            None
        }
        ("Running", Outcome::Fail(code, log)) => {
            finish_node(wf, index, *code, log.clone());
            None
        }
        ("Running", Outcome::Run(script)) => {
            wf.busy = true;
            Some((index, script.clone()))
        }
        _ => None,
    }
}

fn finish_node(wf: &mut Wf, index: usize, code: i32, log: Vec<String>) {
    wf.version += 1;
    let node = &mut wf.nodes[index];
    node.finished_at = Some(now());
    node.exit_code = Some(code);
    node.log = log;
    if code == 0 {
        node.phase = "Succeeded";
        wf.current += 1;
    } else {
        node.phase = "Failed";
        node.message = Some(format!("Error (exit code {code})"));
        let message = format!("child '{}' failed", node.id);
        finish_workflow(wf, "Failed", Some(message));
    }
}

fn finish_workflow(wf: &mut Wf, phase: &'static str, message: Option<String>) {
    wf.version += 1;
    wf.phase = phase;
    wf.message = message;
    wf.finished_at = Some(now());
}

/// The workflow in the shape of `io.argoproj.workflow.v1alpha1.Workflow`.
fn to_json(wf: &Wf) -> Value {
    let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
    let mut nodes = serde_json::Map::new();
    let root_phase = wf.phase;
    let children: Vec<&str> = wf.nodes.iter().map(|n| n.id.as_str()).collect();
    nodes.insert(
        wf.name.clone(),
        json!({
            "id": wf.name, "name": wf.name, "displayName": wf.name, "type": "Steps",
            "templateName": wf.template.name, "phase": root_phase, "message": wf.message,
            "startedAt": time(Some(wf.started_at)), "finishedAt": time(wf.finished_at),
            "children": children,
        }),
    );
    for n in &wf.nodes {
        let mut node = json!({
            "id": n.id, "name": n.name, "displayName": n.display, "type": n.kind,
            "templateName": n.template, "phase": n.phase,
            "startedAt": time(n.started_at), "finishedAt": time(n.finished_at),
            "boundaryID": wf.name,
        });
        if let Some(m) = &n.message {
            node["message"] = json!(m);
        }
        if let Some(code) = n.exit_code {
            node["outputs"] = json!({ "exitCode": code.to_string() });
        }
        nodes.insert(n.id.clone(), node);
    }
    let mut status = json!({
        "phase": wf.phase,
        "startedAt": time(Some(wf.started_at)),
        "finishedAt": time(wf.finished_at),
        "nodes": nodes,
        "progress": format!("{}/{}", wf.nodes.iter().filter(|n| n.finished_at.is_some()).count(), wf.template.steps.len()),
    });
    if let Some(m) = &wf.message {
        status["message"] = json!(m);
    }
    if wf.phase == "Succeeded" && !wf.template.outputs.is_empty() {
        let params: Vec<Value> = wf.template.outputs.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
        status["outputs"] = json!({ "parameters": params });
    }
    let params: Vec<Value> = wf.parameters.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
    json!({
        "metadata": {
            "name": wf.name, "namespace": wf.namespace, "uid": format!("uid-{}", fnv32a(wf.name.as_bytes())),
            "resourceVersion": wf.version.to_string(), "labels": wf.labels, "annotations": wf.annotations,
        },
        "spec": {
            "arguments": { "parameters": params },
            "workflowTemplateRef": { "name": wf.template.name },
            "serviceAccountName": wf.service_account,
        },
        "status": status,
    })
}

fn error(code: StatusCode, grpc: i32, message: &str) -> Response {
    (code, axum::Json(json!({ "code": grpc, "message": message }))).into_response()
}

/// The 503, 401 or 403 answer when the request may not go through.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    if shared.unavailable.load(Ordering::SeqCst) {
        shared.unavailable_answers.fetch_add(1, Ordering::SeqCst);
        shared.version.send_modify(|v| *v += 1);
        return Some(error(StatusCode::SERVICE_UNAVAILABLE, 14, "the Argo Server is unavailable"));
    }
    if let Some(token) = &shared.token {
        let sent = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if sent != format!("Bearer {token}") {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                16,
                "token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/",
            ));
        }
    }
    shared.forbidden.load(Ordering::SeqCst).then(|| {
        error(
            StatusCode::FORBIDDEN,
            7,
            "workflows.argoproj.io is forbidden: User \"system:serviceaccount:argo:ferry\" cannot create resource",
        )
    })
}

fn record(shared: &Shared, line: String) {
    lock(&shared.requests).push(line);
}

fn query_text(q: &BTreeMap<String, String>) -> String {
    q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn not_found(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, 5, &format!("workflows.argoproj.io \"{name}\" not found"))
}

/// `NAME1=VALUE1,NAME2=VALUE2`.
fn pairs(text: &str) -> BTreeMap<String, String> {
    text.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

async fn submit(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record(&shared, format!("POST /api/v1/workflows/{ns}/submit {body}"));
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, 3, "invalid request body");
    };
    if req["resourceKind"] != "WorkflowTemplate" {
        return error(StatusCode::BAD_REQUEST, 3, "resourceKind must be WorkflowTemplate or ClusterWorkflowTemplate");
    }
    let template_name = req["resourceName"].as_str().unwrap_or_default().to_owned();
    let opts = &req["submitOptions"];
    let Some(name) = opts["name"].as_str().filter(|n| !n.is_empty()).map(str::to_owned) else {
        return error(StatusCode::BAD_REQUEST, 3, "submitOptions.name is required by this stand-in");
    };
    if let Some(message) = lock(&shared.reject).clone() {
        return error(StatusCode::BAD_REQUEST, 3, &message);
    }
    let Some(template) = lock(&shared.templates).get(&(ns.clone(), template_name.clone())).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            5,
            &format!("workflowtemplates.argoproj.io \"{template_name}\" not found"),
        );
    };
    let mut parameters = Vec::new();
    for p in opts["parameters"].as_array().into_iter().flatten() {
        let Some((k, v)) = p.as_str().and_then(|p| p.split_once('=')) else {
            return error(
                StatusCode::BAD_REQUEST,
                3,
                &format!("expected parameter of the form: NAME=VALUE. Received: {p}"),
            );
        };
        parameters.push((k.to_owned(), v.to_owned()));
    }
    let mut wfs = lock(&shared.workflows);
    if wfs.contains_key(&(ns.clone(), name.clone())) {
        return error(StatusCode::CONFLICT, 6, &format!("workflows.argoproj.io \"{name}\" already exists"));
    }
    let mut labels = pairs(opts["labels"].as_str().unwrap_or_default());
    labels.insert("workflows.argoproj.io/workflow-template".to_owned(), template.name.clone());
    let wf = Wf {
        name: name.clone(),
        namespace: ns.clone(),
        template,
        labels,
        annotations: pairs(opts["annotations"].as_str().unwrap_or_default()),
        parameters,
        service_account: opts["serviceAccount"].as_str().map(str::to_owned),
        phase: "Running",
        message: None,
        started_at: now(),
        finished_at: None,
        current: 0,
        nodes: Vec::new(),
        version: 1,
        busy: false,
    };
    let answer = to_json(&wf);
    wfs.insert((ns, name), wf);
    drop(wfs);
    shared.submissions.fetch_add(1, Ordering::SeqCst);
    shared.version.send_modify(|v| *v += 1);
    axum::Json(answer).into_response()
}

async fn get_workflow(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&shared, format!("GET /api/v1/workflows/{ns}/{name}"));
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    if shared.malformed.load(Ordering::SeqCst) {
        return (StatusCode::OK, "{\"metadata\": {\"name\": ").into_response();
    }
    match lock(&shared.workflows).get(&(ns, name.clone())) {
        Some(wf) => axum::Json(to_json(wf)).into_response(),
        None => not_found(&name),
    }
}

async fn terminate(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record(&shared, format!("PUT /api/v1/workflows/{ns}/{name}/terminate {body}"));
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let mut wfs = lock(&shared.workflows);
    let Some(wf) = wfs.get_mut(&(ns, name.clone())) else { return not_found(&name) };
    const STOPPED: &str = "Stopped with strategy 'Terminate'";
    if wf.phase == "Running" {
        for n in wf.nodes.iter_mut().filter(|n| matches!(n.phase, "Pending" | "Running")) {
            n.phase = "Failed";
            n.message = Some(STOPPED.to_owned());
            n.finished_at = Some(now());
        }
        finish_workflow(wf, "Failed", Some(STOPPED.to_owned()));
        wf.version += 1;
    }
    let answer = to_json(wf);
    drop(wfs);
    shared.version.send_modify(|v| *v += 1);
    axum::Json(answer).into_response()
}

async fn retry(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record(&shared, format!("PUT /api/v1/workflows/{ns}/{name}/retry {body}"));
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut wfs = lock(&shared.workflows);
    let Some(wf) = wfs.get_mut(&(ns, name.clone())) else { return not_found(&name) };
    if !matches!(wf.phase, "Failed" | "Error") {
        return error(
            StatusCode::BAD_REQUEST,
            9,
            &format!("workflow must be Failed/Error to retry (it is {})", wf.phase),
        );
    }
    if req["restartSuccessful"] == true {
        wf.nodes.clear();
        wf.current = 0;
    } else {
        // Succeeded and skipped nodes stay; the failed ones are removed and run again.
        wf.nodes.retain(|n| matches!(n.phase, "Succeeded" | "Skipped"));
    }
    for p in req["parameters"].as_array().into_iter().flatten() {
        if let Some((k, v)) = p.as_str().and_then(|p| p.split_once('=')) {
            match wf.parameters.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v.to_owned(),
                None => wf.parameters.push((k.to_owned(), v.to_owned())),
            }
        }
    }
    wf.phase = "Running";
    wf.message = None;
    wf.finished_at = None;
    wf.version += 1;
    let answer = to_json(wf);
    drop(wfs);
    shared.version.send_modify(|v| *v += 1);
    axum::Json(answer).into_response()
}

/// Whether `node` matches a node field selector (`k=v`, `k==v`, `k!=v`, comma-separated; all must
/// hold), over the fields Argo's `SelectorMatchesNode` offers.
fn selector_matches(selector: &str, node: &Node) -> Result<bool, String> {
    let mut all = true;
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (key, want, equal) = if let Some((k, v)) = term.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = term.split_once("==") {
            (k, v, true)
        } else if let Some((k, v)) = term.split_once('=') {
            (k, v, true)
        } else {
            return Err(format!("invalid selector: '{selector}'; can't understand '{term}'"));
        };
        let have = match key.trim() {
            "id" => node.id.as_str(),
            "name" => node.name.as_str(),
            "displayName" => node.display.as_str(),
            "templateName" => node.template.as_str(),
            "phase" => node.phase,
            _ => "",
        };
        all &= (have == want.trim()) == equal;
    }
    Ok(all)
}

async fn resume(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record(&shared, format!("PUT /api/v1/workflows/{ns}/{name}/resume {body}"));
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let selector = req["nodeFieldSelector"].as_str().unwrap_or_default().to_owned();
    let mut wfs = lock(&shared.workflows);
    let Some(wf) = wfs.get_mut(&(ns, name.clone())) else { return not_found(&name) };
    let mut resumed = 0;
    for i in 0..wf.nodes.len() {
        let node = &wf.nodes[i];
        if node.kind != "Suspend" || node.phase != "Running" {
            continue;
        }
        match selector_matches(&selector, node) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(message) => return error(StatusCode::INTERNAL_SERVER_ERROR, 13, &message),
        }
        let node = &mut wf.nodes[i];
        node.phase = "Succeeded";
        node.finished_at = Some(now());
        wf.current += 1;
        resumed += 1;
    }
    if resumed == 0 && !selector.is_empty() {
        // Argo's message (`updateSuspendedNode`), answered as codes.Internal.
        let message = format!(
            "currently, set only targets suspend nodes: no suspend nodes matching nodeFieldSelector: {selector}"
        );
        return error(StatusCode::INTERNAL_SERVER_ERROR, 13, &message);
    }
    wf.version += 1;
    let answer = to_json(wf);
    drop(wfs);
    shared.version.send_modify(|v| *v += 1);
    axum::Json(answer).into_response()
}

async fn logs(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&shared, format!("GET /api/v1/workflows/{ns}/{name}/log?{}", query_text(&q)));
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let wfs = lock(&shared.workflows);
    let Some(wf) = wfs.get(&(ns, name.clone())) else { return not_found(&name) };
    let pod = q.get("podName");
    let mut body = String::new();
    for n in wf.nodes.iter().filter(|n| pod.is_none_or(|p| *p == pod_name(&wf.name, n))) {
        for line in &n.log {
            let entry = json!({ "result": { "content": line, "podName": pod_name(&wf.name, n) } });
            body.push_str(&entry.to_string());
            body.push('\n');
        }
    }
    body.into_response()
}

async fn events(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&shared, format!("GET /api/v1/workflow-events/{ns}?{}", query_text(&q)));
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let Some(name) =
        q.get("listOptions.fieldSelector").and_then(|s| s.strip_prefix("metadata.name=")).map(str::to_owned)
    else {
        return error(StatusCode::BAD_REQUEST, 3, "this stand-in needs listOptions.fieldSelector=metadata.name=…");
    };
    let key = (ns, name);
    if shared.cut_streams.load(Ordering::SeqCst) {
        let wf = lock(&shared.workflows).get(&key).map(to_json);
        let line = json!({ "result": { "type": "ADDED", "object": wf } }).to_string();
        return line[..line.len() / 2].to_owned().into_response();
    }
    let versions = shared.version.subscribe();
    let events = futures_util::stream::unfold(
        (shared, versions, key, None::<String>, false),
        |(shared, mut versions, key, mut last, gone)| async move {
            if gone {
                return None;
            }
            loop {
                let current = lock(&shared.workflows).get(&key).map(to_json);
                let (line, gone) = match current {
                    Some(wf) => {
                        let text = wf.to_string();
                        if last.as_deref() == Some(text.as_str()) {
                            (None, false)
                        } else {
                            let kind = if last.is_none() { "ADDED" } else { "MODIFIED" };
                            last = Some(text);
                            (Some(json!({ "result": { "type": kind, "object": wf } })), false)
                        }
                    }
                    None if last.is_some() => {
                        let object = json!({ "metadata": { "name": key.1, "namespace": key.0 } });
                        (Some(json!({ "result": { "type": "DELETED", "object": object } })), true)
                    }
                    None => (None, false),
                };
                if let Some(line) = line {
                    let bytes = Bytes::from(format!("{line}\n"));
                    return Some((Ok::<_, Infallible>(bytes), (shared, versions, key, last, gone)));
                }
                if versions.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    Body::from_stream(events).into_response()
}
