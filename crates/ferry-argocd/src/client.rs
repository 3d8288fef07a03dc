//! The HTTP client of Argo CD's API server: one application, its watch stream, refresh and sync.

use reqwest::StatusCode;

use crate::http::{ApiError, BearerClient, LineStream, REQUEST_TIMEOUT, query_string, segment};
use crate::types::{Application, ApplicationWatchEvent, SyncRequest};

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

impl ApiError for ArgoError {
    fn invalid_server(server: String) -> Self {
        ArgoError::InvalidServer(server)
    }

    fn unreachable(server: String, message: String) -> Self {
        ArgoError::Unreachable { server, message }
    }

    fn refused(code: StatusCode, app: &str, message: String, token_hint: &str) -> Self {
        let app = app.to_owned();
        match code {
            StatusCode::UNAUTHORIZED => ArgoError::Unauthorized { hint: token_hint.to_owned() },
            StatusCode::FORBIDDEN => ArgoError::Forbidden { app, message },
            StatusCode::NOT_FOUND => ArgoError::NotFound {
                app,
                message: if message.is_empty() { String::new() } else { format!(": {message}") },
            },
            _ => ArgoError::Status { app, code: code.as_u16(), message },
        }
    }

    fn malformed(app: &str, message: String) -> Self {
        ArgoError::Malformed { app: app.to_owned(), message }
    }

    fn stream_cut(app: &str, message: String) -> Self {
        ArgoError::StreamCut { app: app.to_owned(), message }
    }

    fn stream_error(app: &str, message: String) -> Self {
        ArgoError::Stream { app: app.to_owned(), message }
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
#[derive(Debug, Clone)]
pub struct Client {
    http: BearerClient,
}

impl Client {
    /// A client of `server` (`https://argocd.example`) sending `token` as a bearer token.
    /// `token_source` names where the token came from (an environment variable) for 401 messages.
    pub fn new(server: &str, token: Option<String>, token_source: &str) -> Result<Client, ArgoError> {
        Ok(Client { http: BearerClient::new(server, token, token_source, "an Argo CD API token")? })
    }

    /// The server URL, without a trailing slash.
    pub fn server(&self) -> &str {
        self.http.server()
    }

    /// `GET /api/v1/applications/{name}`, with `?refresh=` when `refresh` is set.
    pub async fn application(&self, app: &AppRef, refresh: Option<Refresh>) -> Result<Application, ArgoError> {
        let mut query = app.query();
        if let Some(r) = refresh {
            query.push(("refresh", r.as_str().to_owned()));
        }
        let path = format!("/api/v1/applications/{}{}", segment(&app.name), query_string(&query));
        self.http.json(&app.name, self.http.request(reqwest::Method::GET, &path)).await
    }

    /// `POST /api/v1/applications/{name}/sync` to `revision` (`None` = the application's target).
    pub async fn sync(&self, app: &AppRef, revision: Option<&str>) -> Result<(), ArgoError> {
        let body = SyncRequest {
            name: app.name.clone(),
            revision: revision.map(str::to_owned),
            app_namespace: app.app_namespace.clone(),
            project: app.project.clone(),
        };
        let rb = self.http.request(reqwest::Method::POST, &format!("/api/v1/applications/{}/sync", segment(&app.name)));
        self.http.send::<ArgoError>(&app.name, rb.json(&body).timeout(REQUEST_TIMEOUT)).await.map(|_| ())
    }

    /// Opens `GET /api/v1/stream/applications?name=…`: the application's changes as they happen.
    pub async fn watch(&self, app: &AppRef) -> Result<Watch, ArgoError> {
        let mut query = app.query();
        query.push(("name", app.name.clone()));
        let rb =
            self.http.request(reqwest::Method::GET, &format!("/api/v1/stream/applications{}", query_string(&query)));
        Ok(Watch { stream: self.http.stream(&app.name, rb).await? })
    }
}

/// An open watch stream of one application.
pub struct Watch {
    stream: LineStream<ApplicationWatchEvent, ArgoError>,
}

impl Watch {
    /// The next state of the application; `None` when the server ended the stream cleanly. A line
    /// that is not an event is an error item (the stream goes on); a `DELETED` event is
    /// [`ArgoError::NotFound`]; a stream that stops in the middle of an event ends with
    /// [`ArgoError::StreamCut`].
    pub async fn next(&mut self) -> Option<Result<Application, ArgoError>> {
        loop {
            let event = match self.stream.next().await? {
                Ok(event) => event,
                Err(e) => return Some(Err(e)),
            };
            match (event.kind.as_deref(), event.application) {
                (Some("DELETED"), _) => {
                    let app = self.stream.what().to_owned();
                    return Some(Err(ArgoError::NotFound { app, message: ": it was deleted".to_owned() }));
                }
                (_, Some(application)) => return Some(Ok(application)),
                (_, None) => {}
            }
        }
    }
}
