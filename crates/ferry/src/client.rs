//! The HTTP client of the client commands: JSON requests, the API's error shape, and Server-Sent Events.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::contexts::Secret;
use crate::exit;

/// Header naming who makes a request (see the server's API description).
const ACTOR_HEADER: &str = "Ferry-Actor";
/// Time allowed for one ordinary request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// No server answers at the URL.
    Unreachable {
        /// The server URL.
        server: String,
        /// What the network said.
        reason: String,
    },
    /// The server answered with an error.
    Api {
        /// HTTP status.
        status: u16,
        /// The error's code.
        code: String,
        /// The error's message.
        message: String,
        /// Details, one per line.
        details: Vec<String>,
        /// The whole answer.
        body: Value,
    },
    /// The answer could not be understood, or the connection broke.
    Protocol(String),
}

impl ClientError {
    /// The exit status for this error (SPEC §7.1): invalid input (400, 413, 415, 422) is 2, everything
    /// else — refused (401, 403), unknown, conflicting, unreachable — 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Api { status: 400 | 413 | 415 | 422, .. } => exit::INVALID,
            _ => exit::FAILED,
        }
    }

    /// Bad usage found before any request: exit status 2.
    pub fn usage(message: String) -> ClientError {
        ClientError::Api { status: 400, code: "bad_usage".into(), message, details: Vec::new(), body: Value::Null }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { server, reason } => write!(
                f,
                "cannot reach the Ferry server at {server} ({reason}); start one with `ferry server`, \
                 or point --server / FERRY_SERVER at a running one"
            ),
            ClientError::Api { message, details, .. } => {
                f.write_str(message)?;
                for d in details.iter().filter(|d| *d != message) {
                    write!(f, "\n  {d}")?;
                }
                Ok(())
            }
            ClientError::Protocol(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ClientError {}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    actor: Option<String>,
    token: Option<Secret>,
}

/// How a client authenticates and which certificate authorities it trusts.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Sent as `Authorization: Bearer` on every request.
    pub token: Option<Secret>,
    /// Certificate authorities trusted besides the built-in roots (`--ca-cert`).
    pub ca_certs: Vec<reqwest::Certificate>,
}

fn reason(e: &reqwest::Error) -> String {
    if e.is_connect() {
        let text = format!("{e:?}").to_lowercase();
        if text.contains("refused") {
            return "connection refused".to_owned();
        }
        if text.contains("certificate") || text.contains("tls") {
            return "TLS handshake failed; if the server uses a private certificate authority, pass --ca-cert FILE"
                .to_owned();
        }
        return "cannot connect".to_owned();
    }
    if e.is_timeout() {
        return "no answer in time".to_owned();
    }
    e.to_string()
}

/// Reads `--ca-cert FILE`: one or more PEM certificates.
pub fn read_ca_certs(file: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let name = file.display();
    let bytes = std::fs::read(file).map_err(|e| format!("--ca-cert {name}: cannot read it: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&bytes)
        .map_err(|e| format!("--ca-cert {name}: not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        return Err(format!("--ca-cert {name}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

impl Client {
    /// A client of the server at `server` (`http://host:port`).
    pub fn new(server: &str, credentials: Credentials) -> Result<Client, ClientError> {
        let base = server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::usage(format!(
                "--server {server:?}: expected a URL such as http://127.0.0.1:7878"
            )));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        if !credentials.ca_certs.is_empty() {
            builder = builder.tls_certs_merge(credentials.ca_certs);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::usage(format!("cannot set up HTTP with the given certificates: {e}")))?;
        let actor = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty() && u.len() <= 128 && !u.chars().any(char::is_control));
        Ok(Client { base, http, actor, token: credentials.token })
    }

    /// The server URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        // The server ignores the actor header when it requires tokens (the token names the actor).
        if let Some(actor) = &self.actor {
            request = request.header(ACTOR_HEADER, actor);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        request
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|e| self.network(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| self.network(&e))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // The API's error envelope; anything else (a proxy's page, say) is shown as it came.
        let error = serde_json::from_value::<ferry_api::ErrorEnvelope>(body.clone()).ok().map(|e| e.error);
        let message = error.as_ref().map(|e| e.message.clone()).unwrap_or_else(|| {
            let text = text.trim();
            if text.is_empty() { format!("the server answered {status}") } else { format!("{status}: {text}") }
        });
        let mut details: Vec<String> = error.as_ref().map(|e| e.details.clone()).unwrap_or_default();
        if status == 401 {
            details.push(format!(
                "hint: pass --token, set FERRY_TOKEN or run `ferry login --server {} --token-stdin`",
                self.base
            ));
        }
        Err(ClientError::Api { status, code: error.map(|e| e.code).unwrap_or_default(), message, details, body })
    }

    fn network(&self, e: &reqwest::Error) -> ClientError {
        if e.is_connect() || e.is_timeout() {
            ClientError::Unreachable { server: self.base.clone(), reason: reason(e) }
        } else {
            ClientError::Protocol(format!("talking to {}: {e}", self.base))
        }
    }

    async fn json(&self, response: reqwest::Response) -> Result<Value, ClientError> {
        let text = response.text().await.map_err(|e| self.network(&e))?;
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Protocol(format!("the server at {} sent something that is not JSON: {e}", self.base))
        })
    }

    /// `GET path` → JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        let response = self.send(self.request(reqwest::Method::GET, path).timeout(REQUEST_TIMEOUT)).await?;
        self.json(response).await
    }

    /// `GET path` → the answer read as `T` (a type of the API's wire vocabulary, `ferry_api`).
    pub async fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let value = self.get(path).await?;
        self.decode(value)
    }

    /// `POST path` with a JSON body → the answer read as `T`.
    pub async fn post_as<T: serde::de::DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, ClientError> {
        let value = self.post(path, body).await?;
        self.decode(value)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, value: Value) -> Result<T, ClientError> {
        serde_json::from_value(value).map_err(|e| {
            ClientError::Protocol(format!(
                "the server at {} answered in a shape this client cannot read ({e}); is it another version of Ferry?",
                self.base
            ))
        })
    }

    /// `POST path` with a JSON body → JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let request = self.request(reqwest::Method::POST, path).timeout(REQUEST_TIMEOUT).json(body);
        let response = self.send(request).await?;
        self.json(response).await
    }

    /// Opens the live event stream `path` (`/api/v1/events?...`), resuming after `last_id` if given.
    pub async fn events(&self, path: &str, last_id: Option<i64>) -> Result<EventStream, ClientError> {
        let mut request = self.request(reqwest::Method::GET, path).header("Accept", "text/event-stream");
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = self.send(request).await?;
        Ok(EventStream { response, buffer: String::new(), decoder: Utf8Chunks::default(), server: self.base.clone() })
    }
}

/// An open Server-Sent Events stream.
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
    decoder: Utf8Chunks,
    server: String,
}

/// Decodes a byte stream arriving in chunks as UTF-8 text with `\n` line ends: a character (or a
/// `\r\n`) split across two chunks is decoded whole; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
struct Utf8Chunks {
    pending: Vec<u8>,
}

impl Utf8Chunks {
    /// The text of `chunk` that is complete so far.
    fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let mut text = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete character at the end: wait for the next chunk.
                        None => {
                            rest = after;
                            break;
                        }
                        Some(n) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                    }
                }
            }
        }
        // A `\r` at the very end may be the first half of `\r\n`.
        let mut keep = rest.to_vec();
        if text.ends_with('\r') && keep.is_empty() {
            text.pop();
            keep.push(b'\r');
        }
        self.pending = keep;
        text.replace("\r\n", "\n")
    }
}

/// One event of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// `id:` (the event's gid).
    pub id: Option<i64>,
    /// `event:` (`release` or `error`).
    pub event: String,
    /// `data:`, read by the event's name.
    pub data: StreamData,
}

/// The `data:` of a stream event.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamData {
    /// `event: release`: a committed event.
    Release(Box<ferry_api::EventItem>),
    /// `event: error`: why the server ends the stream.
    Error(ferry_api::ErrorEnvelope),
    /// Any other event, or data that does not read as its event's type: the text as sent.
    Other(String),
}

impl StreamData {
    fn read(event: &str, data: String) -> StreamData {
        match event {
            "release" => serde_json::from_str(&data).map(|e| StreamData::Release(Box::new(e))),
            "error" => serde_json::from_str(&data).map(StreamData::Error),
            _ => return StreamData::Other(data),
        }
        .unwrap_or(StreamData::Other(data))
    }
}

impl EventStream {
    /// Discards the events already received in full and returns the last one's id, without waiting for
    /// the network (to coalesce bursts).
    pub fn skip_buffered(&mut self) -> Option<i64> {
        let mut last = None;
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            if let Some(id) = parse_block(&block).and_then(|e| e.id) {
                last = Some(id);
            }
        }
        last
    }

    /// The next event; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, ClientError> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Ok(Some(event));
                }
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => {
                    let text = self.decoder.push(&chunk);
                    self.buffer.push_str(&text);
                }
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(ClientError::Protocol(format!("the event stream from {} broke: {e}", self.server)));
                }
            }
        }
    }
}

/// Parses one SSE block; comments (keep-alives) give `None`.
fn parse_block(block: &str) -> Option<StreamEvent> {
    let mut id = None;
    let mut event = "message".to_owned();
    let mut data = String::new();
    let mut any = false;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        any = true;
        match field {
            "id" => id = value.parse().ok(),
            "event" => event = value.to_owned(),
            "data" => {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
    }
    if !any {
        return None;
    }
    let data = StreamData::read(&event, data);
    Some(StreamEvent { id, event, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_and_line_ends_split_across_chunks_are_decoded_whole() {
        let text = "data: {\"message\":\"déploiement ✓ 🚢\"}\r\n\r\n";
        let bytes = text.as_bytes();
        // Every split point, including inside multi-byte characters and inside `\r\n`.
        for cut in 0..=bytes.len() {
            let mut d = Utf8Chunks::default();
            let joined = d.push(&bytes[..cut]) + &d.push(&bytes[cut..]);
            assert_eq!(joined, text.replace("\r\n", "\n"), "cut at {cut}");
        }
        // One byte at a time.
        let mut d = Utf8Chunks::default();
        let joined: String = bytes.iter().map(|b| d.push(&[*b])).collect();
        assert_eq!(joined, text.replace("\r\n", "\n"));
        // Invalid bytes become U+FFFD and decoding goes on.
        let mut d = Utf8Chunks::default();
        assert_eq!(d.push(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn sse_blocks() {
        assert_eq!(parse_block(":\n\n"), None);
        let data = r#"{"gid":7,"releaseId":"r","product":"shop","seq":0,"at":"2026-01-05T10:00:00Z","body":{"type":"Created"}}"#;
        let e = parse_block(&format!("id: 7\nevent: release\ndata: {data}\n\n")).unwrap();
        let StreamData::Release(item) = &e.data else { panic!("not a release event: {e:?}") };
        assert_eq!(
            (e.id, item.gid, item.product.as_str(), &item.body),
            (Some(7), 7, "shop", &serde_json::json!({"type": "Created"}))
        );
        let e =
            parse_block("event: error\ndata: {\"error\":{\"code\":\"internal\",\"message\":\"m\",\"details\":[]}}\n\n");
        assert!(matches!(e.map(|e| e.data), Some(StreamData::Error(env)) if env.error.code == "internal"));
        let e = parse_block("event: release\ndata: {\"gid\":7}\n\n").unwrap();
        assert_eq!(e.data, StreamData::Other("{\"gid\":7}".into()), "a shape this client cannot read");
        let e = parse_block("data: a\ndata: b\n\n").unwrap();
        assert_eq!((e.event.as_str(), e.data), ("message", StreamData::Other("a\nb".into())));
    }

    #[test]
    fn unreachable_servers_are_named_with_a_suggestion() {
        let e = ClientError::Unreachable { server: "http://127.0.0.1:9".into(), reason: "connection refused".into() };
        let text = e.to_string();
        assert!(text.contains("http://127.0.0.1:9") && text.contains("`ferry server`"), "{text}");
        assert_eq!(e.exit_code(), exit::FAILED);
    }

    #[test]
    fn exit_codes_by_status() {
        let api = |status| ClientError::Api {
            status,
            code: String::new(),
            message: "m".into(),
            details: vec![],
            body: Value::Null,
        };
        for (status, code) in
            [(400, 2), (401, 1), (403, 1), (404, 1), (409, 1), (413, 2), (415, 2), (421, 1), (422, 2), (500, 1)]
        {
            assert_eq!(api(status).exit_code(), code, "{status}");
        }
    }

    /// A self-signed certificate authority (no key kept anywhere), to check that bundles load.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBhzCCAS2gAwIBAgIUFmI5wx/p7tZ51Iy9H9KnjzsBLjkwCgYIKoZIzj0EAwIw\nGDEWMBQGA1UEAwwNRmVycnkgdGVzdCBDQTAgFw0yNjEyMDYwNDE5MDdaGA8yMTI2\nMTExMjA0MTkwN1owGDEWMBQGA1UEAwwNRmVycnkgdGVzdCBDQTBZMBMGByqGSM49\nAgEGCCqGSM49AwEHA0IABLEY9Q+b8Ek+2ytjYehBOuoCLgD3WOSZro8MwFyh8j/T\niT4W/VRDEfTuEvmleJ2v73Ik6oW1vB9obmpNxRD9qH6jUzBRMB0GA1UdDgQWBBRb\nRaOxOTLP4BGNNjH3swx8clAjVzAfBgNVHSMEGDAWgBRbRaOxOTLP4BGNNjH3swx8\nclAjVzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQC0kTImuuqm\nSYdIAe27ZH/7+TPKzAQNTSsfDnbjBYNSTQIgJHQwvpIhZpfk+nXyOQBBNkzVb+73\nXmhgr0ZBLaZ3ke0=\n-----END CERTIFICATE-----\n";

    #[test]
    fn ca_certificate_bundles_load_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("ca.pem");
        std::fs::write(&one, TEST_CA).unwrap();
        let two = dir.path().join("bundle.pem");
        std::fs::write(&two, format!("{TEST_CA}{TEST_CA}")).unwrap();
        assert_eq!(read_ca_certs(&one).unwrap().len(), 1);
        let certs = read_ca_certs(&two).unwrap();
        assert_eq!(certs.len(), 2);
        let client = Client::new("https://ferry.example.com", Credentials { token: None, ca_certs: certs });
        assert!(client.is_ok(), "{:?}", client.err());
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        for file in [garbage, missing] {
            let e = read_ca_certs(&file).unwrap_err();
            assert!(e.starts_with(&format!("--ca-cert {}: ", file.display())), "{e}");
        }
    }

    #[test]
    fn tokens_are_not_shown_by_debug() {
        let secret = "ferry_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let credentials = Credentials { token: Some(Secret::new(secret)), ..Credentials::default() };
        let client = Client::new("http://127.0.0.1:1", credentials).unwrap();
        assert!(!format!("{client:?}").contains(secret));
    }
}
