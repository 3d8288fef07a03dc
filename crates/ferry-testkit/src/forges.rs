//! An in-process forge (feature `forges`): GitHub's REST v3, GitLab's REST v4 or Gitea's REST v1,
//! enough of each for Ferry's pull requests — pull/merge requests, labels, reviewers, comments
//! (notes), merges, auto-merge, commit statuses, GitHub App installation tokens — over local bare
//! repositories. Merges are real `git merge --no-ff` commits pushed to the bare repository, so a
//! merged pull request really moves the branch. Its JSON is written here from the forges' published
//! OpenAPI documents (see `crates/ferry-forge/tests/fixtures/README.md`), independently of
//! `ferry-forge`'s types.
//!
//! Tests act on the forge as people would ([`ForgeStandIn::merge`], [`ForgeStandIn::close`]), get the
//! webhook delivery the forge would send ([`ForgeStandIn::webhook`]) and read what Ferry did.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::{Git, git};

/// Which forge the stand-in speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// GitHub REST v3.
    Github,
    /// GitLab REST v4.
    Gitlab,
    /// Gitea / Forgejo REST v1.
    Gitea,
}

impl Flavor {
    /// The GitProvider `type:` of this forge.
    pub fn kind(self) -> &'static str {
        match self {
            Flavor::Github => "github",
            Flavor::Gitlab => "gitlab",
            Flavor::Gitea => "gitea",
        }
    }
}

/// A `GitProvider` document: `name`, of `flavor`, at `api`, serving the git URL `url` as `repo`
/// (`owner/repo`); `extra` holds more `spec` lines (credentials, webhook secret), each indented two
/// spaces and ending in a newline.
pub fn provider_yaml(name: &str, flavor: Flavor, api: &str, url: &str, repo: &str, extra: &str) -> String {
    format!(
        "apiVersion: ferry/v1\nkind: GitProvider\nmetadata: {{ name: {name} }}\nspec:\n  type: {}\n  apiURL: {api}\n{extra}  repositories:\n    - {{ url: \"{url}\", name: {repo} }}\n",
        flavor.kind()
    )
}

/// A pull request on the stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Number (GitLab: iid).
    pub number: u64,
    /// Repository (`owner/repo`).
    pub repo: String,
    /// Head branch.
    pub head: String,
    /// Base branch.
    pub base: String,
    /// Title as sent.
    pub title: String,
    /// Body as sent.
    pub body: String,
    /// `open`, `closed` or `merged`.
    pub state: String,
    /// Draft (GitHub's flag).
    pub draft: bool,
    /// Labels.
    pub labels: Vec<String>,
    /// Requested reviewers.
    pub reviewers: Vec<String>,
    /// Merge commit.
    pub merge_commit: Option<String>,
    /// Who merged or closed it.
    pub actor: Option<String>,
    /// Auto-merge requested.
    pub auto_merge: bool,
    /// Comments: id → text (rewritten in place when edited).
    pub comments: BTreeMap<u64, String>,
}

/// A commit status set on the stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Repository.
    pub repo: String,
    /// Commit.
    pub sha: String,
    /// State as sent (`pending`, `success`, … ; GitLab's `running`, `failed`, …).
    pub state: String,
    /// Context (GitLab: `name`).
    pub context: String,
    /// Target URL.
    pub target_url: String,
}

/// A scripted answer: to which request (`None`: any), status, headers, body.
type Fault = (Option<String>, u16, Vec<(String, String)>, String);

#[derive(Default)]
struct State {
    repos: BTreeMap<String, PathBuf>,
    pulls: Vec<Pull>,
    statuses: Vec<Status>,
    next_comment: u64,
    /// Answers to give before serving normally: to which request (`METHOD /path`; `None`: any),
    /// status, headers, body.
    faults: VecDeque<Fault>,
    /// The accepted token (`None`: any).
    token: Option<String>,
    /// GitHub App: id, public key (PKCS#1 DER), installation token lifetime in seconds.
    app: Option<(u64, Vec<u8>, i64)>,
    /// Installation tokens minted, in order.
    minted: Vec<String>,
    /// Tokens seen on calls, in order.
    seen_tokens: Vec<String>,
    /// Requests received: method and path.
    requests: Vec<String>,
    /// Bumped on every commit status and comment (tests wait on it).
    changed: Option<tokio::sync::watch::Sender<u64>>,
}

/// A running forge stand-in.
pub struct ForgeStandIn {
    /// The API base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    changed: tokio::sync::watch::Receiver<u64>,
    flavor: Flavor,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ForgeStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Answer = (StatusCode, Value);

fn ok(v: Value) -> Answer {
    (StatusCode::OK, v)
}

fn not_found() -> Answer {
    (StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}

/// An RSA key for a GitHub App: the private key's PEM (PKCS#8) and the public key (PKCS#1 DER) the
/// stand-in verifies JWTs with.
pub fn app_key() -> (String, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate an RSA key");
    let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = key.as_der().expect("PKCS#8");
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
    (pem, key.public_key().as_ref().to_vec())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ForgeStandIn {
    /// A stand-in speaking `flavor`, serving `repos` (`owner/repo` → bare repository).
    pub async fn start(flavor: Flavor, repos: &[(&str, PathBuf)]) -> ForgeStandIn {
        let (changed_tx, changed) = tokio::sync::watch::channel(0);
        let state = State {
            repos: repos.iter().map(|(n, p)| ((*n).to_owned(), p.clone())).collect(),
            next_comment: 100,
            changed: Some(changed_tx),
            ..State::default()
        };
        let state = Arc::new(Mutex::new(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = state.clone();
        let router = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { serve(flavor, &state, method, uri, headers, body) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        ForgeStandIn { url, changed, flavor, state, task }
    }

    /// Accepts only `token` from now on.
    pub fn require_token(&self, token: &str) {
        self.state.lock().unwrap().token = Some(token.to_owned());
    }

    /// Acts as GitHub App `id` with public key `public_der`, minting installation tokens that live
    /// `ttl_seconds`; only those are accepted on API calls.
    pub fn github_app(&self, id: u64, public_der: Vec<u8>, ttl_seconds: i64) {
        self.state.lock().unwrap().app = Some((id, public_der, ttl_seconds));
    }

    /// The next answer is `status` with `headers` and `body` (a rate limit, an outage).
    pub fn fail_next(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.fail_next_on(None, status, headers, body);
    }

    /// The next answer to `request` (`METHOD /path`, e.g. `GET /repos/o/r/pulls`; `None`: any) is
    /// `status` with `headers` and `body`.
    pub fn fail_next_on(&self, request: Option<&str>, status: u16, headers: &[(&str, &str)], body: &str) {
        let headers = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.state.lock().unwrap().faults.push_back((request.map(str::to_owned), status, headers, body.to_owned()));
    }

    /// Every pull request.
    pub fn pulls(&self) -> Vec<Pull> {
        self.state.lock().unwrap().pulls.clone()
    }

    /// Every commit status set, in order.
    pub fn statuses(&self) -> Vec<Status> {
        self.state.lock().unwrap().statuses.clone()
    }

    /// Waits (up to a minute) until `done` holds of the statuses set and pull requests; panics otherwise.
    pub async fn wait_until(&self, done: impl Fn(&[Status], &[Pull]) -> bool) {
        let mut changed = self.changed.clone();
        let wait = async {
            loop {
                {
                    let st = self.state.lock().unwrap();
                    if done(&st.statuses, &st.pulls) {
                        return;
                    }
                }
                changed.changed().await.expect("the stand-in runs");
            }
        };
        let timeout = tokio::time::timeout(std::time::Duration::from_secs(60), wait).await;
        timeout.unwrap_or_else(|_| panic!("never came; statuses: {:?}", self.statuses()));
    }

    /// Installation tokens minted, in order.
    pub fn minted(&self) -> Vec<String> {
        self.state.lock().unwrap().minted.clone()
    }

    /// Tokens presented on API calls, in order.
    pub fn seen_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().seen_tokens.clone()
    }

    /// Requests received (`METHOD /path`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Merges pull request `number` as `by`: a real merge commit on the base branch of the bare
    /// repository. Returns the merge commit.
    pub fn merge(&self, number: u64, by: &str) -> String {
        let mut st = self.state.lock().unwrap();
        merge_locked(&mut st, number, by).expect("merge on the stand-in")
    }

    /// Closes pull request `number` without merging, as `by`.
    pub fn close(&self, number: u64, by: &str) {
        let mut st = self.state.lock().unwrap();
        let pull = st.pulls.iter_mut().find(|p| p.number == number).expect("pull request");
        pull.state = "closed".into();
        pull.actor = Some(by.to_owned());
    }

    /// The webhook delivery the forge sends about pull request `number` now (merged or closed):
    /// headers and body, signed with `secret` (GitHub and Gitea: HMAC-SHA256; GitLab: the token).
    pub fn webhook(&self, number: u64, secret: &str) -> (Vec<(String, String)>, Vec<u8>) {
        let st = self.state.lock().unwrap();
        let p = st.pulls.iter().find(|p| p.number == number).expect("pull request").clone();
        let merged = p.state == "merged";
        let actor = p.actor.clone().unwrap_or_default();
        let (event_header, event, body) = match self.flavor {
            Flavor::Github | Flavor::Gitea => {
                let header = if self.flavor == Flavor::Github { "x-github-event" } else { "x-gitea-event" };
                let body = json!({
                    "action": "closed", "number": p.number,
                    "pull_request": {"number": p.number, "state": "closed", "merged": merged,
                        "merge_commit_sha": p.merge_commit, "merged_by": if merged { json!({"login": actor}) } else { Value::Null },
                        "head": {"ref": p.head}, "base": {"ref": p.base}},
                    "repository": {"full_name": p.repo},
                    "sender": {"login": actor},
                });
                (header, "pull_request", body)
            }
            Flavor::Gitlab => {
                let body = json!({
                    "object_kind": "merge_request", "event_type": "merge_request",
                    "user": {"username": actor},
                    "project": {"path_with_namespace": p.repo},
                    "object_attributes": {"iid": p.number, "action": if merged { "merge" } else { "close" },
                        "state": p.state, "merge_commit_sha": p.merge_commit, "source_branch": p.head, "target_branch": p.base},
                });
                ("x-gitlab-event", "Merge Request Hook", body)
            }
        };
        let bytes = serde_json::to_vec(&body).expect("JSON");
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (event_header.to_owned(), event.to_owned()),
        ];
        match self.flavor {
            Flavor::Gitlab => headers.push(("x-gitlab-token".into(), secret.to_owned())),
            flavor => {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
                mac.update(&bytes);
                let hex = hex::encode(mac.finalize().into_bytes());
                match flavor {
                    Flavor::Github => headers.push(("x-hub-signature-256".into(), format!("sha256={hex}"))),
                    _ => headers.push(("x-gitea-signature".into(), hex)),
                }
            }
        }
        (headers, bytes)
    }
}

fn merge_locked(st: &mut State, number: u64, by: &str) -> Result<String, String> {
    let pull = st.pulls.iter().find(|p| p.number == number).ok_or("no such pull request")?.clone();
    if pull.state != "open" {
        return Err(format!("pull request is {}", pull.state));
    }
    let bare = st.repos.get(&pull.repo).ok_or("no such repository")?.clone();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let work = std::env::temp_dir().join(format!("ferry-forge-standin-{}-{n}", std::process::id()));
    let g = Git::alice();
    let url = bare.to_str().ok_or("path")?.to_owned();
    g.run(&std::env::temp_dir(), &["clone", "-q", &url, work.to_str().ok_or("path")?]);
    g.run(&work, &["checkout", "-q", &pull.base]);
    let message = format!("Merge pull request #{number} from {}\n\n{}", pull.head, pull.title);
    g.run(&work, &["merge", "-q", "--no-ff", "-m", &message, &format!("origin/{}", pull.head)]);
    g.run(&work, &["push", "-q", "origin", &pull.base]);
    let sha = git(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    let _ = std::fs::remove_dir_all(&work);
    let p = st.pulls.iter_mut().find(|p| p.number == number).ok_or("no such pull request")?;
    p.state = "merged".into();
    p.merge_commit = Some(sha.clone());
    p.actor = Some(by.to_owned());
    Ok(sha)
}

fn serve(flavor: Flavor, state: &Mutex<State>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut st = state.lock().unwrap();
    let request = format!("{method} {}", uri.path());
    st.requests.push(request.clone());
    if let Some(changed) = &st.changed {
        changed.send_modify(|n| *n += 1);
    }
    let fault = st.faults.iter().position(|(on, ..)| on.as_ref().is_none_or(|r| *r == request));
    if let Some((_, status, extra, text)) = fault.and_then(|i| st.faults.remove(i)) {
        let mut response =
            (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), text).into_response();
        for (k, v) in extra {
            if let (Ok(k), Ok(v)) = (axum::http::HeaderName::try_from(k), axum::http::HeaderValue::try_from(v)) {
                response.headers_mut().insert(k, v);
            }
        }
        return response;
    }
    let token = headers
        .get("authorization")
        .or_else(|| headers.get("private-token"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").trim_start_matches("token ").to_owned());
    let segments: Vec<String> = uri.path().trim_matches('/').split('/').map(percent_decode).collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // GitHub App endpoints take the App's JWT.
    if flavor == Flavor::Github && st.app.is_some() {
        if let Some(answer) = app_call(&mut st, &method, &segs, token.as_deref()) {
            return (answer.0, axum::Json(answer.1)).into_response();
        }
        match &token {
            Some(t) if st.minted.contains(t) => st.seen_tokens.push(t.clone()),
            _ => return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Bad credentials"}))).into_response(),
        }
    } else if let Some(required) = st.token.clone() {
        if token.as_deref() != Some(required.as_str()) {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "401 Unauthorized"}))).into_response();
        }
        st.seen_tokens.push(required);
    }
    let (status, value) = match flavor {
        Flavor::Github => github(&mut st, &method, &segs, &query, &body),
        Flavor::Gitlab => gitlab(&mut st, &method, &segs, &query, &body),
        Flavor::Gitea => gitea(&mut st, &method, &segs, &query, &body),
    };
    (status, axum::Json(value)).into_response()
}

fn app_call(st: &mut State, method: &Method, segs: &[&str], token: Option<&str>) -> Option<Answer> {
    let is_app = matches!(
        (method.as_str(), segs),
        ("GET", ["repos", _, _, "installation"]) | ("POST", ["app", "installations", _, "access_tokens"])
    );
    if !is_app {
        return None;
    }
    let (id, public, ttl) = st.app.clone()?;
    if !jwt_valid(token.unwrap_or_default(), id, &public) {
        return Some((StatusCode::UNAUTHORIZED, json!({"message": "A JSON web token could not be decoded"})));
    }
    Some(match segs {
        ["repos", owner, repo, "installation"] => {
            if !st.repos.contains_key(&format!("{owner}/{repo}")) {
                return Some(not_found());
            }
            ok(json!({"id": 77, "app_id": id, "account": {"login": owner}}))
        }
        _ => {
            let token = format!("ghs_standin{}", st.minted.len() + 1);
            st.minted.push(token.clone());
            let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(ttl);
            (StatusCode::CREATED, json!({"token": token, "expires_at": expires.to_string(), "permissions": {}}))
        }
    })
}

/// Checks an RS256 JWT: signature by the App's key, `iss` the App id, not expired.
fn jwt_valid(token: &str, app_id: u64, public_der: &[u8]) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else { return false };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Ok(sig) = b64.decode(signature) else { return false };
    let key =
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, public_der);
    if key.verify(format!("{header}.{claims}").as_bytes(), &sig).is_err() {
        return false;
    }
    let Ok(claims) = b64.decode(claims) else { return false };
    let Ok(claims) = serde_json::from_slice::<Value>(&claims) else { return false };
    let now = jiff::Timestamp::now().as_second();
    claims["iss"].as_str() == Some(&app_id.to_string()) && claims["exp"].as_i64().is_some_and(|e| e > now)
}

fn find_pull<'a>(st: &'a mut State, repo: &str, number: &str) -> Option<&'a mut Pull> {
    let n: u64 = number.parse().ok()?;
    st.pulls.iter_mut().find(|p| p.repo == repo && p.number == n)
}

fn new_pull(st: &mut State, repo: &str, head: &str, base: &str, title: &str, body: &str) -> Result<Pull, Answer> {
    if !st.repos.contains_key(repo) {
        return Err(not_found());
    }
    if st.pulls.iter().any(|p| p.repo == repo && p.head == head && p.state == "open") {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, json!({"message": "A pull request already exists"})));
    }
    let pull = Pull {
        number: st.pulls.len() as u64 + 1,
        repo: repo.to_owned(),
        head: head.to_owned(),
        base: base.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        state: "open".into(),
        draft: false,
        labels: Vec::new(),
        reviewers: Vec::new(),
        merge_commit: None,
        actor: None,
        auto_merge: false,
        comments: BTreeMap::new(),
    };
    st.pulls.push(pull.clone());
    Ok(pull)
}

fn comment(st: &mut State, repo: &str, number: &str, text: &str) -> Answer {
    st.next_comment += 1;
    let id = st.next_comment;
    match find_pull(st, repo, number) {
        Some(p) => {
            p.comments.insert(id, text.to_owned());
            (StatusCode::CREATED, json!({"id": id, "body": text}))
        }
        None => not_found(),
    }
}

fn edit_comment(st: &mut State, id: &str, text: &str) -> Answer {
    let Ok(id) = id.parse::<u64>() else { return not_found() };
    for p in &mut st.pulls {
        if let Some(c) = p.comments.get_mut(&id) {
            *c = text.to_owned();
            return ok(json!({"id": id, "body": text}));
        }
    }
    not_found()
}

fn status(st: &mut State, repo: &str, sha: &str, state: &Value, context: &Value, target: &Value) -> Answer {
    st.statuses.push(Status {
        repo: repo.to_owned(),
        sha: sha.to_owned(),
        state: state.as_str().unwrap_or_default().to_owned(),
        context: context.as_str().unwrap_or_default().to_owned(),
        target_url: target.as_str().unwrap_or_default().to_owned(),
    });
    (StatusCode::CREATED, json!({"id": st.statuses.len(), "state": state, "context": context}))
}

/// GitHub's `pull-request` object.
fn github_pull(p: &Pull) -> Value {
    let merged = p.state == "merged";
    json!({
        "number": p.number, "node_id": format!("PR_node{}", p.number),
        "html_url": format!("https://github.example/{}/pull/{}", p.repo, p.number),
        "state": if p.state == "open" { "open" } else { "closed" },
        "title": p.title, "body": p.body, "draft": p.draft, "merged": merged,
        "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "merge_commit_sha": p.merge_commit,
        "merged_by": if merged { json!({"login": p.actor}) } else { Value::Null },
        "head": {"ref": p.head}, "base": {"ref": p.base},
        "labels": p.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
    })
}

fn github(st: &mut State, method: &Method, segs: &[&str], query: &BTreeMap<String, String>, body: &Value) -> Answer {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    match (method.as_str(), segs) {
        ("GET", ["repos", o, r, "pulls"]) => {
            let repo = format!("{o}/{r}");
            let head = query.get("head").map(|h| h.split_once(':').map_or(h.as_str(), |(_, b)| b).to_owned());
            let list: Vec<Value> = st
                .pulls
                .iter()
                .filter(|p| p.repo == repo && head.as_ref().is_none_or(|h| &p.head == h))
                .map(github_pull)
                .collect();
            ok(json!(list))
        }
        ("POST", ["repos", o, r, "pulls"]) => {
            match new_pull(st, &format!("{o}/{r}"), &text("head"), &text("base"), &text("title"), &text("body")) {
                Ok(mut p) => {
                    p.draft = body["draft"].as_bool().unwrap_or(false);
                    if let Some(x) = st.pulls.iter_mut().find(|x| x.number == p.number) {
                        x.draft = p.draft;
                    }
                    (StatusCode::CREATED, github_pull(&p))
                }
                Err(a) => a,
            }
        }
        ("GET", ["repos", o, r, "pulls", n]) => {
            find_pull(st, &format!("{o}/{r}"), n).map_or_else(not_found, |p| ok(github_pull(p)))
        }
        ("PATCH", ["repos", o, r, "pulls", n]) => match find_pull(st, &format!("{o}/{r}"), n) {
            Some(p) if p.state != "merged" => {
                let wanted = text("state");
                if wanted == "open" || wanted == "closed" {
                    p.state = wanted;
                    if p.state == "closed" {
                        p.actor = Some("ferry-bot".into());
                    }
                }
                ok(github_pull(p))
            }
            Some(_) => (StatusCode::UNPROCESSABLE_ENTITY, json!({"message": "merged"})),
            None => not_found(),
        },
        ("PUT", ["repos", _, _, "pulls", n, "merge"]) => {
            let number: u64 = n.parse().unwrap_or(0);
            match merge_locked(st, number, "ferry-bot") {
                Ok(sha) => ok(json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"})),
                Err(m) => (StatusCode::METHOD_NOT_ALLOWED, json!({"message": m})),
            }
        }
        ("POST", ["repos", o, r, "pulls", n, "requested_reviewers"]) => match find_pull(st, &format!("{o}/{r}"), n) {
            Some(p) => {
                p.reviewers.extend(
                    body["reviewers"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)),
                );
                (StatusCode::CREATED, github_pull(p))
            }
            None => not_found(),
        },
        ("POST", ["repos", o, r, "issues", n, "labels"]) => match find_pull(st, &format!("{o}/{r}"), n) {
            Some(p) => {
                p.labels.extend(
                    body["labels"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)),
                );
                ok(json!(p.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()))
            }
            None => not_found(),
        },
        ("GET", ["repos", o, r, "issues", n]) => match find_pull(st, &format!("{o}/{r}"), n) {
            Some(p) => ok(json!({"number": p.number, "state": if p.state == "open" { "open" } else { "closed" },
                "closed_by": if p.state == "closed" { json!({"login": p.actor}) } else { Value::Null }})),
            None => not_found(),
        },
        ("POST", ["repos", o, r, "issues", n, "comments"]) => comment(st, &format!("{o}/{r}"), n, &text("body")),
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => edit_comment(st, id, &text("body")),
        ("POST", ["repos", o, r, "statuses", sha]) => {
            status(st, &format!("{o}/{r}"), sha, &body["state"], &body["context"], &body["target_url"])
        }
        ("POST", ["graphql"]) => {
            let node = body["variables"]["id"].as_str().unwrap_or_default().to_owned();
            let number: u64 = node.trim_start_matches("PR_node").parse().unwrap_or(0);
            auto_merge(st, number);
            ok(json!({"data": {"enablePullRequestAutoMerge": {"pullRequest": {"number": number}}}}))
        }
        _ => not_found(),
    }
}

/// Auto-merge on the stand-in: its checks pass at once, so the forge merges by itself.
fn auto_merge(st: &mut State, number: u64) {
    if let Some(p) = st.pulls.iter_mut().find(|p| p.number == number) {
        p.auto_merge = true;
    }
    let _ = merge_locked(st, number, "auto-merge");
}

/// GitLab's `MergeRequest` object.
fn gitlab_mr(p: &Pull) -> Value {
    let user = |who: &Option<String>| who.as_ref().map_or(Value::Null, |u| json!({"username": u, "id": 1}));
    json!({
        "iid": p.number, "id": 1000 + p.number, "web_url": format!("https://gitlab.example/{}/-/merge_requests/{}", p.repo, p.number),
        "state": if p.state == "open" { "opened" } else { p.state.as_str() },
        "title": p.title, "description": p.body, "source_branch": p.head, "target_branch": p.base,
        "labels": p.labels, "merge_commit_sha": p.merge_commit, "draft": p.title.starts_with("Draft:"),
        "merged_by": if p.state == "merged" { user(&p.actor) } else { Value::Null },
        "closed_by": if p.state == "closed" { user(&p.actor) } else { Value::Null },
        "merge_when_pipeline_succeeds": p.auto_merge,
    })
}

fn gitlab(st: &mut State, method: &Method, segs: &[&str], query: &BTreeMap<String, String>, body: &Value) -> Answer {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    match (method.as_str(), segs) {
        ("GET", ["users"]) => ok(json!([{"id": 7, "username": query.get("username")}])),
        ("GET", ["projects", repo, "merge_requests"]) => {
            let source = query.get("source_branch");
            let list: Vec<Value> = st
                .pulls
                .iter()
                .filter(|p| p.repo == *repo && source.is_none_or(|s| &p.head == s))
                .map(gitlab_mr)
                .collect();
            ok(json!(list))
        }
        ("POST", ["projects", repo, "merge_requests"]) => {
            match new_pull(
                st,
                repo,
                &text("source_branch"),
                &text("target_branch"),
                &text("title"),
                &text("description"),
            ) {
                Ok(p) => {
                    let labels: Vec<String> =
                        text("labels").split(',').filter(|l| !l.is_empty()).map(str::to_owned).collect();
                    let reviewers = body["reviewer_ids"].as_array().map_or(0, Vec::len);
                    let x = st.pulls.iter_mut().find(|x| x.number == p.number).unwrap();
                    x.labels = labels;
                    x.reviewers = (0..reviewers).map(|i| format!("user-{i}")).collect();
                    (StatusCode::CREATED, gitlab_mr(x))
                }
                Err(a) => a,
            }
        }
        ("GET", ["projects", repo, "merge_requests", n]) => {
            find_pull(st, repo, n).map_or_else(not_found, |p| ok(gitlab_mr(p)))
        }
        ("PUT", ["projects", repo, "merge_requests", n]) => match find_pull(st, repo, n) {
            Some(p) if p.state != "merged" => {
                match text("state_event").as_str() {
                    "close" => {
                        p.state = "closed".into();
                        p.actor = Some("ferry-bot".into());
                    }
                    "reopen" => p.state = "open".into(),
                    _ => {}
                }
                ok(gitlab_mr(p))
            }
            Some(_) => (StatusCode::NOT_ACCEPTABLE, json!({"message": "merged"})),
            None => not_found(),
        },
        ("PUT", ["projects", repo, "merge_requests", n, "merge"]) => {
            let number: u64 = n.parse().unwrap_or(0);
            if body["merge_when_pipeline_succeeds"].as_bool() == Some(true) {
                auto_merge(st, number);
                return find_pull(st, repo, n).map_or_else(not_found, |p| ok(gitlab_mr(p)));
            }
            match merge_locked(st, number, "ferry-bot") {
                Ok(_) => find_pull(st, repo, n).map_or_else(not_found, |p| ok(gitlab_mr(p))),
                Err(m) => (StatusCode::METHOD_NOT_ALLOWED, json!({"message": m})),
            }
        }
        ("POST", ["projects", repo, "merge_requests", n, "notes"]) => comment(st, repo, n, &text("body")),
        ("PUT", ["projects", _, "merge_requests", _, "notes", id]) => edit_comment(st, id, &text("body")),
        ("POST", ["projects", repo, "statuses", sha]) => {
            status(st, repo, sha, &body["state"], &body["name"], &body["target_url"])
        }
        _ => not_found(),
    }
}

/// Gitea's `PullRequest` object.
fn gitea_pull(p: &Pull) -> Value {
    let merged = p.state == "merged";
    json!({
        "number": p.number, "html_url": format!("https://gitea.example/{}/pulls/{}", p.repo, p.number),
        "state": if p.state == "open" { "open" } else { "closed" }, "title": p.title, "body": p.body,
        "merged": merged, "merge_commit_sha": p.merge_commit,
        "merged_by": if merged { json!({"login": p.actor}) } else { Value::Null },
        "head": {"ref": p.head}, "base": {"ref": p.base},
        "labels": p.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
    })
}

/// The labels every stand-in repository has (Gitea adds labels by id).
const GITEA_LABELS: [(u64, &str); 3] = [(1, "promotion"), (2, "prod"), (3, "urgent")];

fn gitea(st: &mut State, method: &Method, segs: &[&str], _query: &BTreeMap<String, String>, body: &Value) -> Answer {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    match (method.as_str(), segs) {
        ("GET", ["repos", _, _, "labels"]) => {
            ok(json!(GITEA_LABELS.iter().map(|(id, n)| json!({"id": id, "name": n})).collect::<Vec<_>>()))
        }
        ("GET", ["repos", o, r, "pulls"]) => {
            let repo = format!("{o}/{r}");
            ok(json!(st.pulls.iter().filter(|p| p.repo == repo).map(gitea_pull).collect::<Vec<_>>()))
        }
        ("POST", ["repos", o, r, "pulls"]) => {
            match new_pull(st, &format!("{o}/{r}"), &text("head"), &text("base"), &text("title"), &text("body")) {
                Ok(p) => {
                    let ids: Vec<u64> =
                        body["labels"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
                    let x = st.pulls.iter_mut().find(|x| x.number == p.number).unwrap();
                    x.labels =
                        GITEA_LABELS.iter().filter(|(id, _)| ids.contains(id)).map(|(_, n)| (*n).to_owned()).collect();
                    (StatusCode::CREATED, gitea_pull(x))
                }
                Err(a) => a,
            }
        }
        ("GET", ["repos", o, r, "pulls", n]) => {
            find_pull(st, &format!("{o}/{r}"), n).map_or_else(not_found, |p| ok(gitea_pull(p)))
        }
        ("PATCH", ["repos", o, r, "pulls", n]) => match find_pull(st, &format!("{o}/{r}"), n) {
            Some(p) if p.state != "merged" => {
                let wanted = text("state");
                if wanted == "open" || wanted == "closed" {
                    p.state = wanted;
                }
                (StatusCode::CREATED, gitea_pull(p))
            }
            Some(_) => (StatusCode::CONFLICT, json!({"message": "merged"})),
            None => not_found(),
        },
        ("POST", ["repos", _, _, "pulls", n, "merge"]) => {
            let number: u64 = n.parse().unwrap_or(0);
            if body["merge_when_checks_succeed"].as_bool() == Some(true) {
                auto_merge(st, number);
                return (StatusCode::OK, Value::Null);
            }
            match merge_locked(st, number, "ferry-bot") {
                Ok(_) => (StatusCode::OK, Value::Null),
                Err(m) => (StatusCode::METHOD_NOT_ALLOWED, json!({"message": m})),
            }
        }
        ("POST", ["repos", o, r, "pulls", n, "requested_reviewers"]) => match find_pull(st, &format!("{o}/{r}"), n) {
            Some(p) => {
                p.reviewers.extend(
                    body["reviewers"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)),
                );
                (StatusCode::CREATED, json!([]))
            }
            None => not_found(),
        },
        ("POST", ["repos", o, r, "issues", n, "comments"]) => comment(st, &format!("{o}/{r}"), n, &text("body")),
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => edit_comment(st, id, &text("body")),
        ("POST", ["repos", o, r, "statuses", sha]) => {
            status(st, &format!("{o}/{r}"), sha, &body["state"], &body["context"], &body["target_url"])
        }
        _ => not_found(),
    }
}
