//! The JSON client every forge is spoken through: the token in the forge's own header (never in a
//! message or `Debug`), and retries — rate limits honoured (`Retry-After`, GitHub's and Gitea's
//! `X-RateLimit-Remaining`/`-Reset`, GitLab's `RateLimit-Remaining`/`-Reset`, GitHub's secondary
//! limits), server errors and lost connections retried with exponential backoff and jitter.

use std::time::Duration;

use ferry_argocd::Backoff;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ForgeError;

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// The first backoff step (doubled per attempt, with jitter).
    pub base: Duration,
    /// The longest wait between two attempts: a rate limit that resets later fails the call.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, base: Duration::from_millis(500), max_wait: Duration::from_secs(120) }
    }
}

/// How the token travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <token>` (GitHub; GitHub App JWTs and installation tokens).
    Bearer,
    /// `PRIVATE-TOKEN: <token>` (GitLab).
    PrivateToken,
    /// `Authorization: token <token>` (Gitea, Forgejo).
    Token,
}

/// One forge's API base with its HTTP client.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    style: AuthStyle,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).finish()
    }
}

/// What a call sends: method, path under the base, optional JSON body, and what it is (for messages).
pub struct Call<'a> {
    /// Method.
    pub method: Method,
    /// Path and query under the API base (`/repos/o/r/pulls`), or an absolute `http(s)://` URL.
    pub path: String,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// What is asked, for messages (`open pull request acme/gitops`).
    pub what: &'a str,
}

impl Api {
    /// A client of the API at `base` (`http://` or `https://`).
    pub fn new(base: &str, style: AuthStyle, retry: RetryPolicy) -> Result<Api, ForgeError> {
        let trimmed = base.trim().trim_end_matches('/');
        let valid = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !valid {
            return Err(ForgeError::Settings(format!("invalid forge API URL {base:?}: use http:// or https://")));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ForgeError::Settings(format!("cannot build the HTTP client: {e}")))?;
        Ok(Api { http, base: trimmed.to_owned(), style, retry })
    }

    /// The API base URL, without a final slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `call` with `token` (retrying as the policy says) and reads the answer as `T`; an empty
    /// answer reads as JSON `null`.
    pub async fn json<T: DeserializeOwned>(&self, call: Call<'_>, token: Option<&str>) -> Result<T, ForgeError> {
        let what = call.what.to_owned();
        let bytes = self.send(call, token, self.style).await?;
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { &b"null"[..] } else { &bytes[..] };
        serde_json::from_slice(bytes).map_err(|e| ForgeError::Malformed { what, message: e.to_string() })
    }

    /// Sends `call` with `token` in the given header style; the answer's body on success.
    pub async fn send(&self, call: Call<'_>, token: Option<&str>, style: AuthStyle) -> Result<Vec<u8>, ForgeError> {
        let url = if call.path.starts_with("http://") || call.path.starts_with("https://") {
            call.path.clone()
        } else {
            format!("{}{}", self.base, call.path)
        };
        let mut backoff = Backoff::new(self.retry.base, self.retry.max_wait);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut rb = self.http.request(call.method.clone(), &url).timeout(REQUEST_TIMEOUT);
            rb = rb.header("accept", "application/json");
            if style == AuthStyle::Bearer {
                rb = rb.header("accept", "application/vnd.github+json").header("x-github-api-version", "2022-11-28");
            }
            if let Some(token) = token {
                rb = match style {
                    AuthStyle::Bearer => rb.bearer_auth(token),
                    AuthStyle::PrivateToken => rb.header("private-token", token),
                    AuthStyle::Token => rb.header("authorization", format!("token {token}")),
                };
            }
            if let Some(body) = &call.body {
                rb = rb.json(body);
            }
            let last = attempt >= self.retry.attempts.max(1);
            let response = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    // reqwest's message may carry the URL but never headers: the token stays out.
                    let message = if e.is_timeout() { "no answer in time".to_owned() } else { e.to_string() };
                    if last {
                        return Err(ForgeError::Unreachable { api: self.base.clone(), message });
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            if status.is_success() {
                return Ok(body);
            }
            let wait = retry_wait(status, &headers, &body, jiff::Timestamp::now());
            match wait {
                Some(_) if last => {
                    if limited(status, &headers, &body) {
                        return Err(ForgeError::RateLimited { what: call.what.to_owned(), attempts: attempt });
                    }
                    return Err(refused(call.what, status, &body));
                }
                Some(Wait::Until(d)) if d > self.retry.max_wait => {
                    return Err(ForgeError::RateLimited { what: call.what.to_owned(), attempts: attempt });
                }
                Some(Wait::Until(d)) => {
                    tracing::warn!(target: "ferry::forge", what = call.what, status = status.as_u16(), wait_ms = d.as_millis() as u64, "rate-limited by the forge; waiting");
                    tokio::time::sleep(d + backoff.next_delay() / 4).await;
                }
                Some(Wait::Backoff) => {
                    tracing::warn!(target: "ferry::forge", what = call.what, status = status.as_u16(), "forge call failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                None => return Err(refused(call.what, status, &body)),
            }
        }
    }
}

fn refused(what: &str, status: StatusCode, body: &[u8]) -> ForgeError {
    ForgeError::Refused { what: what.to_owned(), status: status.as_u16(), message: message_of(body) }
}

/// The forge's error message: `message` (GitHub, Gitea), `message`/`error` (GitLab), or the body's start.
fn message_of(body: &[u8]) -> String {
    let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = value.as_ref().and_then(|v| {
        let m = v.get("message").or_else(|| v.get("error"))?;
        Some(m.as_str().map_or_else(|| m.to_string(), str::to_owned))
    });
    text.unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
}

/// How long to wait before trying an answer again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The forge said when (`Retry-After`, a rate limit's reset).
    Until(Duration),
    /// Exponential backoff (a server error, a secondary limit without a time).
    Backoff,
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Whether an answer says the rate limit is used up.
fn limited(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> bool {
    let exhausted = ["x-ratelimit-remaining", "ratelimit-remaining"].iter().any(|h| header_u64(headers, h) == Some(0));
    let secondary = String::from_utf8_lossy(body).to_ascii_lowercase().contains("rate limit");
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || secondary || headers.contains_key("retry-after")))
}

/// Whether and how long to wait before retrying an answer with `status`, at `now`: a rate limit's
/// reset or `Retry-After` (GitHub, GitLab, Gitea), backoff for 5xx and limits without a time; `None`
/// for answers that retrying cannot change.
pub fn retry_wait(status: StatusCode, headers: &HeaderMap, body: &[u8], now: jiff::Timestamp) -> Option<Wait> {
    if status.is_server_error() {
        return Some(Wait::Backoff);
    }
    if !limited(status, headers, body) {
        return None;
    }
    if let Some(seconds) = header_u64(headers, "retry-after") {
        return Some(Wait::Until(Duration::from_secs(seconds)));
    }
    for (remaining, reset) in
        [("x-ratelimit-remaining", "x-ratelimit-reset"), ("ratelimit-remaining", "ratelimit-reset")]
    {
        if header_u64(headers, remaining) == Some(0)
            && let Some(reset) = header_u64(headers, reset)
        {
            let now = u64::try_from(now.as_second()).unwrap_or(0);
            return Some(Wait::Until(Duration::from_secs(reset.saturating_sub(now))));
        }
    }
    Some(Wait::Backoff)
}

/// Percent-encodes one path segment (GitLab's `group%2Fproject` ids, branch names in queries).
pub fn segment(s: &str) -> String {
    ferry_argocd::http::segment(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn rate_limits_and_server_errors_say_when_to_retry() {
        let now = jiff::Timestamp::from_second(1_000_000).unwrap();
        let forbidden = StatusCode::FORBIDDEN;
        let cases: Vec<(StatusCode, HeaderMap, &str, Option<Wait>)> = vec![
            (
                forbidden,
                h(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1000007")]),
                "",
                Some(Wait::Until(Duration::from_secs(7))),
            ),
            (
                StatusCode::TOO_MANY_REQUESTS,
                h(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "1000002")]),
                "",
                Some(Wait::Until(Duration::from_secs(2))),
            ),
            (forbidden, h(&[("retry-after", "3")]), "", Some(Wait::Until(Duration::from_secs(3)))),
            (forbidden, h(&[]), r#"{"message":"You have exceeded a secondary rate limit"}"#, Some(Wait::Backoff)),
            (StatusCode::TOO_MANY_REQUESTS, h(&[]), "", Some(Wait::Backoff)),
            (StatusCode::BAD_GATEWAY, h(&[]), "", Some(Wait::Backoff)),
            (
                forbidden,
                h(&[("x-ratelimit-remaining", "4999")]),
                r#"{"message":"Resource not accessible by integration"}"#,
                None,
            ),
            (StatusCode::NOT_FOUND, h(&[]), "", None),
            (StatusCode::UNPROCESSABLE_ENTITY, h(&[("x-ratelimit-remaining", "0")]), "", None),
            // A reset already past waits nothing.
            (
                forbidden,
                h(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "5")]),
                "",
                Some(Wait::Until(Duration::ZERO)),
            ),
        ];
        for (status, headers, body, expect) in cases {
            assert_eq!(retry_wait(status, &headers, body.as_bytes(), now), expect, "{status} {headers:?} {body}");
        }
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(message_of(br#"{"message":"Validation Failed"}"#), "Validation Failed");
        assert_eq!(message_of(br#"{"message":["title is too long"]}"#), r#"["title is too long"]"#);
        assert_eq!(message_of(br#"{"error":"insufficient_scope"}"#), "insufficient_scope");
        assert_eq!(message_of(b"plain"), "plain");
        assert!(Api::new("ftp://x", AuthStyle::Bearer, RetryPolicy::default()).is_err());
        let api = Api::new("https://api.github.com/", AuthStyle::Bearer, RetryPolicy::default()).unwrap();
        assert_eq!(api.base(), "https://api.github.com");
    }
}
