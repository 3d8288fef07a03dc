//! The HTTP client of the Argo Server: submit from a WorkflowTemplate, read a workflow, follow its
//! events, read a node's log, terminate and retry.

use std::time::Duration;

use ferry_argocd::http::{ApiError, BearerClient, LineStream, query_string, segment};
use reqwest::StatusCode;

use crate::types::{
    LogEntry, SubmitOpts, Workflow, WorkflowResumeRequest, WorkflowRetryRequest, WorkflowSubmitRequest,
    WorkflowTerminateRequest, WorkflowWatchEvent,
};

/// Most log lines read for one node; the rest is dropped with a note.
pub const MAX_LOG_LINES: usize = 10_000;

/// Why a request to the Argo Server failed. Messages name the cause and the workflow or template,
/// never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgoWfError {
    /// The server URL is not an `http://` or `https://` URL.
    #[error("invalid Argo Server URL {0:?}: expected http:// or https://")]
    InvalidServer(String),
    /// No connection, or no answer in time.
    #[error("the Argo Server at {server} is unreachable: {message}")]
    Unreachable {
        /// The server.
        server: String,
        /// What failed.
        message: String,
    },
    /// 401: no token, or the token is not valid.
    #[error("the Argo Server refused the token (401 Unauthorized){hint}")]
    Unauthorized {
        /// What to check.
        hint: String,
    },
    /// 403: the token's role may not do this.
    #[error("the Argo Server denied access to {what} (403 Forbidden): {message}")]
    Forbidden {
        /// The workflow or template.
        what: String,
        /// Argo's message.
        message: String,
    },
    /// 404: no such workflow or template (or it was deleted).
    #[error("the Argo Server has no {what} (404 Not Found){message}")]
    NotFound {
        /// The workflow or template.
        what: String,
        /// Argo's message, with a leading separator when there is one.
        message: String,
    },
    /// 409: a workflow of that name exists already.
    #[error("{what} already exists (409 Conflict): {message}")]
    AlreadyExists {
        /// The workflow.
        what: String,
        /// Argo's message.
        message: String,
    },
    /// Another 4xx answer: the request was refused (an invalid submission, a workflow that cannot
    /// be retried).
    #[error("the Argo Server refused the request for {what} ({code}): {message}")]
    Rejected {
        /// The workflow or template.
        what: String,
        /// The HTTP status code.
        code: u16,
        /// Argo's message.
        message: String,
    },
    /// A 5xx answer.
    #[error("the Argo Server answered {code} for {what}: {message}")]
    Status {
        /// The workflow or template.
        what: String,
        /// The HTTP status code.
        code: u16,
        /// Argo's message.
        message: String,
    },
    /// The answer is not the JSON Argo documents.
    #[error("the Argo Server sent malformed JSON for {what}: {message}")]
    Malformed {
        /// The workflow.
        what: String,
        /// The parse error.
        message: String,
    },
    /// A stream stopped in the middle of a line, or the connection broke.
    #[error("the Argo Server's stream for {what} was cut: {message}")]
    StreamCut {
        /// The workflow.
        what: String,
        /// What happened.
        message: String,
    },
    /// The server reported an error inside a stream.
    #[error("the Argo Server reported an error in the stream for {what}: {message}")]
    Stream {
        /// The workflow.
        what: String,
        /// Argo's message.
        message: String,
    },
}

impl ArgoWfError {
    /// Whether retrying may help (unreachable, 5xx, 429, a cut or failed stream, malformed answers)
    /// rather than a configuration problem or a refusal (401, 403, 404, 409, other 4xx, a bad URL).
    pub fn is_transient(&self) -> bool {
        match self {
            ArgoWfError::InvalidServer(_)
            | ArgoWfError::Unauthorized { .. }
            | ArgoWfError::Forbidden { .. }
            | ArgoWfError::NotFound { .. }
            | ArgoWfError::AlreadyExists { .. } => false,
            ArgoWfError::Rejected { code, .. } => *code == 429,
            _ => true,
        }
    }
}

impl ApiError for ArgoWfError {
    fn invalid_server(server: String) -> Self {
        ArgoWfError::InvalidServer(server)
    }

    fn unreachable(server: String, message: String) -> Self {
        ArgoWfError::Unreachable { server, message }
    }

    fn refused(code: StatusCode, what: &str, message: String, token_hint: &str) -> Self {
        let what = what.to_owned();
        match code {
            StatusCode::UNAUTHORIZED => ArgoWfError::Unauthorized { hint: token_hint.to_owned() },
            StatusCode::FORBIDDEN => ArgoWfError::Forbidden { what, message },
            StatusCode::NOT_FOUND => ArgoWfError::NotFound {
                what,
                message: if message.is_empty() { String::new() } else { format!(": {message}") },
            },
            StatusCode::CONFLICT => ArgoWfError::AlreadyExists { what, message },
            s if s.is_client_error() => ArgoWfError::Rejected { what, code: s.as_u16(), message },
            s => ArgoWfError::Status { what, code: s.as_u16(), message },
        }
    }

    fn malformed(what: &str, message: String) -> Self {
        ArgoWfError::Malformed { what: what.to_owned(), message }
    }

    fn stream_cut(what: &str, message: String) -> Self {
        ArgoWfError::StreamCut { what: what.to_owned(), message }
    }

    fn stream_error(what: &str, message: String) -> Self {
        ArgoWfError::Stream { what: what.to_owned(), message }
    }
}

/// A workflow: its namespace and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl WorkflowRef {
    fn what(&self) -> String {
        format!("workflow {}/{}", self.namespace, self.name)
    }
}

impl std::fmt::Display for WorkflowRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A client of one Argo Server with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: BearerClient,
}

impl Client {
    /// A client of `server` (`https://argo.example`) sending `token` as a bearer token (the Argo
    /// Server takes `Authorization: Bearer <token>`). `token_source` names where the token came from
    /// (an environment variable) for 401 messages.
    pub fn new(server: &str, token: Option<String>, token_source: &str) -> Result<Client, ArgoWfError> {
        Ok(Client { http: BearerClient::new(server, token, token_source, "an Argo Server token")? })
    }

    /// The server URL, without a trailing slash.
    pub fn server(&self) -> &str {
        self.http.server()
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, path)
    }

    /// `POST /api/v1/workflows/{namespace}/submit`: a workflow from the WorkflowTemplate `template`.
    pub async fn submit(&self, namespace: &str, template: &str, opts: SubmitOpts) -> Result<Workflow, ArgoWfError> {
        let what = format!("workflow {namespace}/{} from WorkflowTemplate {template}", opts.name);
        let body = WorkflowSubmitRequest {
            namespace: namespace.to_owned(),
            resource_kind: "WorkflowTemplate".to_owned(),
            resource_name: template.to_owned(),
            submit_options: opts,
        };
        let rb = self.request(reqwest::Method::POST, &format!("/api/v1/workflows/{}/submit", segment(namespace)));
        self.http.json(&what, rb.json(&body)).await
    }

    /// `GET /api/v1/workflows/{namespace}/{name}`.
    pub async fn workflow(&self, wf: &WorkflowRef) -> Result<Workflow, ArgoWfError> {
        let rb = self.request(reqwest::Method::GET, &workflow_path(wf, ""));
        self.http.json(&wf.what(), rb).await
    }

    /// `PUT /api/v1/workflows/{namespace}/{name}/terminate`.
    pub async fn terminate(&self, wf: &WorkflowRef) -> Result<Workflow, ArgoWfError> {
        let body = WorkflowTerminateRequest { name: wf.name.clone(), namespace: wf.namespace.clone() };
        let rb = self.request(reqwest::Method::PUT, &workflow_path(wf, "/terminate"));
        self.http.json(&wf.what(), rb.json(&body)).await
    }

    /// `PUT /api/v1/workflows/{namespace}/{name}/resume` with `nodeFieldSelector`: the suspended
    /// nodes the selector matches (`id=<node id>`) succeed and the workflow goes on. Argo refuses
    /// (an error answer) when no suspended node matches.
    pub async fn resume(&self, wf: &WorkflowRef, node_field_selector: &str) -> Result<Workflow, ArgoWfError> {
        let body = WorkflowResumeRequest {
            name: wf.name.clone(),
            namespace: wf.namespace.clone(),
            node_field_selector: node_field_selector.to_owned(),
        };
        let rb = self.request(reqwest::Method::PUT, &workflow_path(wf, "/resume"));
        self.http.json(&wf.what(), rb.json(&body)).await
    }

    /// `PUT /api/v1/workflows/{namespace}/{name}/retry` with `restartSuccessful: false` (succeeded
    /// nodes are kept), setting `parameters` (`NAME=VALUE`).
    pub async fn retry(&self, wf: &WorkflowRef, parameters: Vec<String>) -> Result<Workflow, ArgoWfError> {
        let body = WorkflowRetryRequest {
            name: wf.name.clone(),
            namespace: wf.namespace.clone(),
            restart_successful: false,
            parameters,
        };
        let rb = self.request(reqwest::Method::PUT, &workflow_path(wf, "/retry"));
        self.http.json(&wf.what(), rb.json(&body)).await
    }

    /// Opens `GET /api/v1/workflow-events/{namespace}?listOptions.fieldSelector=metadata.name=…`: the
    /// workflow's changes as they happen.
    pub async fn watch(&self, wf: &WorkflowRef) -> Result<WorkflowWatch, ArgoWfError> {
        let query = query_string(&[("listOptions.fieldSelector", format!("metadata.name={}", wf.name))]);
        let rb =
            self.request(reqwest::Method::GET, &format!("/api/v1/workflow-events/{}{query}", segment(&wf.namespace)));
        Ok(WorkflowWatch { stream: self.http.stream(&wf.what(), rb).await? })
    }

    /// `GET /api/v1/workflows/{namespace}/{name}/log?podName=…&logOptions.container=main`: the log
    /// of one pod as lines (at most [`MAX_LOG_LINES`]; a last line says how many were dropped).
    pub async fn logs(&self, wf: &WorkflowRef, pod: &str) -> Result<Vec<String>, ArgoWfError> {
        let query = query_string(&[("podName", pod.to_owned()), ("logOptions.container", "main".to_owned())]);
        let rb = self
            .request(reqwest::Method::GET, &format!("{}{query}", workflow_path(wf, "/log")))
            .timeout(Duration::from_secs(60));
        let mut stream: LineStream<LogEntry, ArgoWfError> = self.http.stream(&wf.what(), rb).await?;
        let mut lines = Vec::new();
        let mut dropped = 0usize;
        while let Some(item) = stream.next().await {
            let entry = item?;
            let Some(content) = entry.content else { continue };
            for line in content.lines() {
                if lines.len() < MAX_LOG_LINES {
                    lines.push(line.to_owned());
                } else {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            lines.push(format!("[log truncated: {dropped} more lines in Argo]"));
        }
        Ok(lines)
    }
}

fn workflow_path(wf: &WorkflowRef, tail: &str) -> String {
    format!("/api/v1/workflows/{}/{}{tail}", segment(&wf.namespace), segment(&wf.name))
}

/// An open event stream of one workflow.
pub struct WorkflowWatch {
    stream: LineStream<WorkflowWatchEvent, ArgoWfError>,
}

impl WorkflowWatch {
    /// The next state of the workflow; `None` when the server ended the stream cleanly. A line that
    /// is not an event is an error item (the stream goes on); a `DELETED` event is
    /// [`ArgoWfError::NotFound`]; a stream that stops in the middle of an event ends with
    /// [`ArgoWfError::StreamCut`].
    pub async fn next(&mut self) -> Option<Result<Workflow, ArgoWfError>> {
        loop {
            let event = match self.stream.next().await? {
                Ok(event) => event,
                Err(e) => return Some(Err(e)),
            };
            match (event.kind.as_deref(), event.object) {
                (Some("DELETED"), _) => {
                    return Some(Err(ArgoWfError::NotFound {
                        what: self.stream.what().to_owned(),
                        message: ": it was deleted".to_owned(),
                    }));
                }
                (_, Some(workflow)) => return Some(Ok(workflow)),
                (_, None) => {}
            }
        }
    }
}
