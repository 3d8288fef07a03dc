//! The HTTP client of Argo CD's API server: one application, its watch stream, refresh and sync.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::StatusCode;

use crate::stream::StreamParser;
use crate::types::{Application, RuntimeError, StreamResult, SyncRequest};

/// Why a request to Argo CD failed. Messages name the cause and the application, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgoError {
    /// The server URL is not an `http://` or `https://` URL.
    #[error("invalid Argo CD server URL {0:?}: expected http:// or https://")]
    InvalidServer(String),
    /// No connection, or no answer in time.
    #[error("Argo CD at {server} is unreachable: {message}")]
    Unreachable {
        /// The server.
        server: String,
        /// What failed.
        message: String,
    },
    /// 401: no token, or the token is not valid.
    #[error("Argo CD refused the token (401 Unauthorized){hint}")]
    Unauthorized {
        /// What to check.
        hint: String,
    },
    /// 403: the token's role may not read (or sync) the application.
    #[error("Argo CD denied access to application {app} (403 Forbidden): {message}")]
    Forbidden {
        /// The application.
        app: String,
        /// Argo CD's message.
        message: String,
    },
    /// 404: no such application (or it was deleted).
    #[error("Argo CD has no application {app} (404 Not Found){message}")]
    NotFound {
        /// The application.
        app: String,
        /// Argo CD's message, with a leading separator when there is one.
        message: String,
    },
    /// Any other error status.
    #[error("Argo CD answered {code} for application {app}: {message}")]
    Status {
        /// The application.
        app: String,
        /// The HTTP status code.
        code: u16,
        /// Argo CD's message.
        message: String,
    },
    /// The answer is not the JSON Argo CD documents.
    #[error("Argo CD sent malformed JSON for application {app}: {message}")]
    Malformed {
        /// The application.
        app: String,
        /// The parse error.
        message: String,
    },
    /// The watch stream stopped in the middle of an event, or the connection broke.
    #[error("the Argo CD watch stream for application {app} was cut: {message}")]
    StreamCut {
        /// The application.
        app: String,
        /// What happened.
        message: String,
    },
    /// The server reported an error inside the watch stream.
    #[error("Argo CD reported an error in the watch stream for application {app}: {message}")]
    Stream {
        /// The application.
        app: String,
        /// Argo CD's message.
        message: String,
    },
}

impl ArgoError {
    /// Whether retrying may help (unreachable, 5xx, a cut or failed stream, malformed answers) rather
    /// than a configuration problem (401, 403, 404, a bad URL).
    pub fn is_transient(&self) -> bool {
        match self {
            ArgoError::InvalidServer(_)
            | ArgoError::Unauthorized { .. }
            | ArgoError::Forbidden { .. }
            | ArgoError::NotFound { .. } => false,
            ArgoError::Status { code, .. } => *code >= 500 || *code == 429,
            _ => true,
        }
    }
}

/// Which application: its name, and optionally its namespace and project (query parameters
/// `appNamespace` and `project`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppRef {
    /// The application's name.
    pub name: String,
    /// Its namespace, when applications live outside Argo CD's own namespace.
    pub app_namespace: Option<String>,
    /// Its project.
    pub project: Option<String>,
}

impl AppRef {
    /// The application named `name`.
    pub fn named(name: &str) -> AppRef {
        AppRef { name: name.to_owned(), ..AppRef::default() }
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(ns) = &self.app_namespace {
            q.push(("appNamespace", ns.clone()));
        }
        if let Some(p) = &self.project {
            q.push(("project", p.clone()));
        }
        q
    }
}

/// How hard Argo CD is asked to look again (`?refresh=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// `normal`: compare against the repository again.
    Normal,
    /// `hard`: also regenerate the manifests.
    Hard,
}

impl Refresh {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresh::Normal => "normal",
            Refresh::Hard => "hard",
        }
    }
}

/// A client of one Argo CD server with one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
    token_hint: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Client").field("server", &self.server).field("token", &self.token.is_some()).finish()
    }
}

impl Client {
    /// A client of `server` (`https://argocd.example`) sending `token` as a bearer token.
    /// `token_source` names where the token came from (an environment variable) for 401 messages.
    pub fn new(server: &str, token: Option<String>, token_source: &str) -> Result<Client, ArgoError> {
        let trimmed = server.trim().trim_end_matches('/');
        let valid = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !valid {
            return Err(ArgoError::InvalidServer(server.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ArgoError::Unreachable { server: trimmed.to_owned(), message: e.to_string() })?;
        let token_hint = match &token {
            Some(_) => format!(": check the token in {token_source}"),
            None => format!(": no token is set; put an Argo CD API token in {token_source}"),
        };
        Ok(Client { http, server: trimmed.to_owned(), token: token.filter(|t| !t.is_empty()), token_hint })
    }

    /// The server URL, without a trailing slash.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.server));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> ArgoError {
        // reqwest's message may carry the URL but never headers: the token stays out.
        let message = if e.is_timeout() {
            "no answer in time".to_owned()
        } else if e.is_connect() {
            "cannot connect".to_owned()
        } else {
            e.to_string()
        };
        ArgoError::Unreachable { server: self.server.clone(), message }
    }

    async fn check(&self, app: &str, response: reqwest::Response) -> Result<reqwest::Response, ArgoError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<RuntimeError>(&body)
            .ok()
            .and_then(|e| e.message.or(e.error))
            .unwrap_or_else(|| body.chars().take(200).collect());
        Err(match status {
            StatusCode::UNAUTHORIZED => ArgoError::Unauthorized { hint: self.token_hint.clone() },
            StatusCode::FORBIDDEN => ArgoError::Forbidden { app: app.to_owned(), message },
            StatusCode::NOT_FOUND => ArgoError::NotFound {
                app: app.to_owned(),
                message: if message.is_empty() { String::new() } else { format!(": {message}") },
            },
            _ => ArgoError::Status { app: app.to_owned(), code: status.as_u16(), message },
        })
    }

    /// `GET /api/v1/applications/{name}`, with `?refresh=` when `refresh` is set.
    pub async fn application(&self, app: &AppRef, refresh: Option<Refresh>) -> Result<Application, ArgoError> {
        let mut query = app.query();
        if let Some(r) = refresh {
            query.push(("refresh", r.as_str().to_owned()));
        }
        let response = self
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/applications/{}{}", segment(&app.name), query_string(&query)),
            )
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let response = self.check(&app.name, response).await?;
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&body)
            .map_err(|e| ArgoError::Malformed { app: app.name.clone(), message: e.to_string() })
    }

    /// `POST /api/v1/applications/{name}/sync` to `revision` (`None` = the application's target).
    pub async fn sync(&self, app: &AppRef, revision: Option<&str>) -> Result<(), ArgoError> {
        let body = SyncRequest {
            name: app.name.clone(),
            revision: revision.map(str::to_owned),
            app_namespace: app.app_namespace.clone(),
            project: app.project.clone(),
        };
        let response = self
            .request(reqwest::Method::POST, &format!("/api/v1/applications/{}/sync", segment(&app.name)))
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.check(&app.name, response).await.map(|_| ())
    }

    /// Opens `GET /api/v1/stream/applications?name=…`: the application's changes as they happen.
    pub async fn watch(&self, app: &AppRef) -> Result<Watch, ArgoError> {
        let mut query = app.query();
        query.push(("name", app.name.clone()));
        let response = self
            .request(reqwest::Method::GET, &format!("/api/v1/stream/applications{}", query_string(&query)))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let response = self.check(&app.name, response).await?;
        Ok(Watch { app: app.name.clone(), response, parser: StreamParser::new(), pending: VecDeque::new() })
    }
}

/// `?a=b&c=d`, or nothing for no parameters.
fn query_string(query: &[(&'static str, String)]) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

/// Percent-encodes a path segment (application names are DNS labels; anything else is escaped).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An open watch stream of one application.
pub struct Watch {
    app: String,
    response: reqwest::Response,
    parser: StreamParser,
    pending: VecDeque<Result<Application, ArgoError>>,
}

impl Watch {
    /// The next state of the application; `None` when the server ended the stream cleanly. A line
    /// that is not an event is an error item (the stream goes on); a stream that stops in the
    /// middle of an event ends with [`ArgoError::StreamCut`].
    pub async fn next(&mut self) -> Option<Result<Application, ArgoError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => {
                    for item in self.parser.push(&bytes) {
                        if let Some(converted) = self.convert(item) {
                            self.pending.push_back(converted);
                        }
                    }
                }
                Ok(None) if self.parser.is_cut() => {
                    self.parser = StreamParser::new();
                    return Some(Err(ArgoError::StreamCut {
                        app: self.app.clone(),
                        message: "the connection ended in the middle of an event".to_owned(),
                    }));
                }
                Ok(None) => return None,
                Err(e) => {
                    return Some(Err(ArgoError::StreamCut { app: self.app.clone(), message: e.to_string() }));
                }
            }
        }
    }

    fn convert(&self, item: Result<StreamResult, crate::stream::LineError>) -> Option<Result<Application, ArgoError>> {
        let app = self.app.clone();
        match item {
            Err(e) => Some(Err(ArgoError::Malformed { app, message: e.to_string() })),
            Ok(StreamResult { error: Some(e), .. }) => {
                Some(Err(ArgoError::Stream { app, message: e.message.unwrap_or_else(|| "unknown error".to_owned()) }))
            }
            Ok(StreamResult { result: Some(event), .. }) => match (event.kind.as_deref(), event.application) {
                (Some("DELETED"), _) => Some(Err(ArgoError::NotFound { app, message: ": it was deleted".to_owned() })),
                (_, Some(application)) => Some(Ok(application)),
                (_, None) => None,
            },
            Ok(_) => None,
        }
    }
}
