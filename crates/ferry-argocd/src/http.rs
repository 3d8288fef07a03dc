//! The bearer-token JSON client both Argo APIs are spoken through (Argo CD's API server here, the
//! Argo Server in `ferry-argowf`): URL checks, the token kept out of `Debug` and messages, request
//! building, error bodies (`runtimeError`) and status codes turned into each API's own error enum
//! ([`ApiError`]), and newline-delimited JSON streams read item by item ([`LineStream`]).

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::stream::{StreamParser, StreamResult};

/// How long a plain request may take (streams have no deadline).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The error enum of one API, built from what went wrong on the wire. Messages name the server or
/// the object (`what`), never the token.
pub trait ApiError: Sized {
    /// The server URL is not an `http://` or `https://` URL.
    fn invalid_server(server: String) -> Self;
    /// No connection, or no answer in time.
    fn unreachable(server: String, message: String) -> Self;
    /// A non-success answer about `what`: its status `code`, the server's `message` (from the
    /// error body, or the body's start) and, for 401, `token_hint` (what to check).
    fn refused(code: StatusCode, what: &str, message: String, token_hint: &str) -> Self;
    /// The answer is not the JSON the API documents.
    fn malformed(what: &str, message: String) -> Self;
    /// A stream stopped in the middle of a line, or its connection broke.
    fn stream_cut(what: &str, message: String) -> Self;
    /// The server reported an error inside a stream.
    fn stream_error(what: &str, message: String) -> Self;
}

/// `runtimeError` (`grpc.gateway.runtime.Error`): the body of an error response of either API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeError {
    /// gRPC code.
    #[serde(default)]
    pub code: Option<i32>,
    /// The message.
    #[serde(default)]
    pub message: Option<String>,
    /// The error text (older servers).
    #[serde(default)]
    pub error: Option<String>,
}

/// A client of one server with one bearer token.
#[derive(Clone)]
pub struct BearerClient {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
    token_hint: String,
}

impl std::fmt::Debug for BearerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("BearerClient").field("server", &self.server).field("token", &self.token.is_some()).finish()
    }
}

impl BearerClient {
    /// A client of `server` sending `token` as a bearer token. `token_source` names where the token
    /// came from (an environment variable) and `token_kind` what it is (`an Argo CD API token`), for
    /// 401 messages.
    pub fn new<E: ApiError>(
        server: &str,
        token: Option<String>,
        token_source: &str,
        token_kind: &str,
    ) -> Result<BearerClient, E> {
        let trimmed = server.trim().trim_end_matches('/');
        let valid = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !valid {
            return Err(E::invalid_server(server.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| E::unreachable(trimmed.to_owned(), e.to_string()))?;
        let token_hint = match &token {
            Some(_) => format!(": check the token in {token_source}"),
            None => format!(": no token is set; put {token_kind} in {token_source}"),
        };
        Ok(BearerClient { http, server: trimmed.to_owned(), token: token.filter(|t| !t.is_empty()), token_hint })
    }

    /// The server URL, without a trailing slash.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A request to `path` (with its query) on the server, carrying the token as
    /// `Authorization: Bearer …` (both APIs take it so).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.server));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn unreachable<E: ApiError>(&self, e: &reqwest::Error) -> E {
        // reqwest's message may carry the URL but never headers: the token stays out.
        let message = if e.is_timeout() {
            "no answer in time".to_owned()
        } else if e.is_connect() {
            "cannot connect".to_owned()
        } else {
            e.to_string()
        };
        E::unreachable(self.server.clone(), message)
    }

    /// Sends `rb`; a successful answer, or the API's error about `what`.
    pub async fn send<E: ApiError>(&self, what: &str, rb: reqwest::RequestBuilder) -> Result<reqwest::Response, E> {
        let response = rb.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<RuntimeError>(&body)
            .ok()
            .and_then(|e| e.message.or(e.error))
            .unwrap_or_else(|| body.chars().take(200).collect());
        Err(E::refused(status, what, message, &self.token_hint))
    }

    /// Sends `rb` (within [`REQUEST_TIMEOUT`]) and reads the answer as `T`.
    pub async fn json<T: DeserializeOwned, E: ApiError>(
        &self,
        what: &str,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, E> {
        let response = self.send(what, rb.timeout(REQUEST_TIMEOUT)).await?;
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&body).map_err(|e| E::malformed(what, e.to_string()))
    }

    /// Sends `rb` and reads the answer as a stream of `T` items.
    pub async fn stream<T: DeserializeOwned, E: ApiError>(
        &self,
        what: &str,
        rb: reqwest::RequestBuilder,
    ) -> Result<LineStream<T, E>, E> {
        let response = self.send(what, rb).await?;
        Ok(LineStream::new(what.to_owned(), response))
    }
}

/// `?a=b&c=d`, or nothing for no parameters.
pub fn query_string(query: &[(&'static str, String)]) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

/// Percent-encodes a path segment (Kubernetes names are DNS labels; anything else is escaped).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The items of one streaming response (newline-delimited `{"result": …}` or `{"error": …}`).
pub struct LineStream<T, E> {
    what: String,
    response: reqwest::Response,
    parser: StreamParser<T>,
    pending: VecDeque<Result<StreamResult<T>, crate::stream::LineError>>,
    error: PhantomData<fn() -> E>,
}

impl<T: DeserializeOwned, E: ApiError> LineStream<T, E> {
    fn new(what: String, response: reqwest::Response) -> LineStream<T, E> {
        LineStream { what, response, parser: StreamParser::new(), pending: VecDeque::new(), error: PhantomData }
    }

    /// What the stream is about (for messages).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The next item; `None` at a clean end. A line that is not an item is an error item (the
    /// stream goes on); a stream that stops in the middle of a line ends with a cut.
    pub async fn next(&mut self) -> Option<Result<T, E>> {
        loop {
            while let Some(item) = self.pending.pop_front() {
                match item {
                    Err(e) => return Some(Err(E::malformed(&self.what, e.to_string()))),
                    Ok(StreamResult { error: Some(e), .. }) => {
                        let message = e.message.unwrap_or_else(|| "unknown error".to_owned());
                        return Some(Err(E::stream_error(&self.what, message)));
                    }
                    Ok(StreamResult { result: Some(item), .. }) => return Some(Ok(item)),
                    Ok(_) => {}
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.pending.extend(self.parser.push(&bytes)),
                Ok(None) if self.parser.is_cut() => {
                    self.parser = StreamParser::new();
                    let message = "the connection ended in the middle of a line".to_owned();
                    return Some(Err(E::stream_cut(&self.what, message)));
                }
                Ok(None) => return None,
                Err(e) => return Some(Err(E::stream_cut(&self.what, e.to_string()))),
            }
        }
    }
}
