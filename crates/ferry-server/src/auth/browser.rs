//! Browser safety on every address, loopback included (SPEC §8.2): a web page the user visits must
//! never be able to drive Ferry.
//!
//! - `Host` must be a loopback name (`localhost`, `*.localhost`), an IP literal, or the host of a
//!   `--public-url` (421 otherwise). A DNS-rebinding page reaches Ferry under the attacker's own host
//!   name; an IP literal cannot be rebound, so it is safe to accept.
//! - State-changing requests (anything but GET/HEAD) whose `Origin` is not the server's own origin or a
//!   `--public-url`, or whose `Sec-Fetch-Site` is `cross-site` or `same-site`, are refused (403).
//! - A request body on the JSON API must be `application/json` (415): the content types a page may send
//!   without a CORS preflight (`text/plain`, forms) never reach a handler. Webhooks also take GitHub's
//!   form-encoded `payload=`; UI forms must be form-encoded.
//!
//! Health probes skip the `Host` check (orchestrators probe by pod address; the answers carry nothing).

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// An address Ferry is reached at besides loopback (`--public-url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https://ferry.example.com` (scheme, host and any non-default port; lowercase).
    pub origin: String,
    /// `ferry.example.com` (lowercase, no port).
    pub host: String,
}

impl PublicUrl {
    /// Parses `--public-url`: `http(s)://HOST[:PORT][/path]`.
    pub fn parse(text: &str) -> Result<PublicUrl, String> {
        let bad = || format!("--public-url {text:?}: expected a URL such as https://ferry.example.com");
        let (scheme, rest) = text.trim().split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = split_host(&authority).ok_or_else(bad)?;
        let default_port = if scheme == "https" { "443" } else { "80" };
        let origin = match port {
            Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        };
        Ok(PublicUrl { origin, host: host.to_owned() })
    }
}

/// Splits `host[:port]` / `[v6][:port]`; `None` when malformed.
fn split_host(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (_, after) = rest.split_once(']')?;
        let host = &authority[..authority.len() - after.len()];
        return match after {
            "" => Some((host, None)),
            p => {
                let p = p.strip_prefix(':')?;
                valid_port(p).then_some((host, Some(p)))
            }
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if valid_port(port) && !host.is_empty() => Some((host, Some(port))),
        Some(_) => None,
        None if !authority.is_empty() => Some((authority, None)),
        None => None,
    }
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a `Host` header value may be answered.
pub fn host_allowed(host: &str, public: &[PublicUrl]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let Some((name, _)) = split_host(&host) else { return false };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if name.starts_with('[') || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    public.iter().any(|p| p.host == name)
}

/// Whether a state-changing request may come from where the browser says it comes from.
pub fn origin_allowed(headers: &HeaderMap, tls: bool, public: &[PublicUrl]) -> bool {
    let text = |name| headers.get(name).map(|v: &axum::http::HeaderValue| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site.trim().to_ascii_lowercase().as_str(), "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = text(ORIGIN.as_str()) else { return true };
    let origin = origin.trim().to_ascii_lowercase();
    if public.iter().any(|p| p.origin == origin) {
        return true;
    }
    let Some(host) = text(HOST.as_str()) else { return false };
    let scheme = if tls { "https" } else { "http" };
    origin == format!("{scheme}://{}", host.trim().to_ascii_lowercase())
}

/// The media type of a request body (`application/json`), lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(TRANSFER_ENCODING) {
        return true;
    }
    match headers.get(CONTENT_LENGTH) {
        None => false,
        Some(v) => v.to_str().ok().and_then(|n| n.trim().parse::<u64>().ok()) != Some(0),
    }
}

/// The content types a path takes for a request body.
fn accepted_types(path: &str) -> &'static [&'static str] {
    if path == "/api/v1/hooks/git" {
        &["application/json", "application/x-www-form-urlencoded"]
    } else if path.starts_with("/api/") {
        &["application/json"]
    } else {
        &["application/x-www-form-urlencoded"]
    }
}

/// Checks a request's headers (see the module documentation); the refusal when it must not be served.
pub fn check(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    tls: bool,
    public: &[PublicUrl],
) -> Result<(), ApiError> {
    let probe = path == "/healthz" || path == "/readyz";
    if !probe {
        let host = headers.get(HOST).map(|v| v.to_str().unwrap_or("\u{0}"));
        match host {
            Some(h) if host_allowed(h, public) => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    "misdirected_request",
                    format!(
                        "this server does not answer for host {:?}; use a loopback address, or start the server \
                         with --public-url for the address clients use",
                        host.unwrap_or("")
                    ),
                ));
            }
        }
    }
    let safe = method == Method::GET || method == Method::HEAD || method == Method::OPTIONS;
    if safe {
        return Ok(());
    }
    if !origin_allowed(headers, tls, public) {
        return Err(ApiError::forbidden(
            "cross-origin requests are refused: this request came from another site's page",
        ));
    }
    if has_body(headers) {
        let accepted = accepted_types(path);
        let given = media_type(headers);
        if !given.as_deref().is_some_and(|t| accepted.contains(&t)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "the request body must be sent with Content-Type: {} (got {})",
                    accepted.join(" or "),
                    given.map_or_else(|| "none".to_owned(), |t| format!("{t:?}"))
                ),
            ));
        }
    }
    Ok(())
}

/// The middleware: refuses what [`check`] refuses, before any routing.
pub(crate) async fn guard<S: Send + Sync + Clone + 'static>(
    State(st): State<AppState<S>>,
    request: Request,
    next: Next,
) -> Response {
    let settings = &st.settings;
    match check(request.method(), request.uri().path(), request.headers(), settings.tls, &settings.public_urls) {
        Ok(()) => next.run(request).await,
        Err(e) if crate::ui::is_ui_path(request.uri().path()) => crate::ui::error_page(e.status, e.message),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn public() -> Vec<PublicUrl> {
        vec![PublicUrl::parse("https://Ferry.Example.com/ui").unwrap()]
    }

    #[test]
    fn public_urls() {
        let p = PublicUrl::parse("https://Ferry.Example.com:443/x").unwrap();
        assert_eq!(p, PublicUrl { origin: "https://ferry.example.com".into(), host: "ferry.example.com".into() });
        let p = PublicUrl::parse("http://ferry.internal:8080").unwrap();
        assert_eq!(p.origin, "http://ferry.internal:8080");
        for bad in ["ferry.example.com", "ftp://x", "https://", "https://user@host", "https://h:port"] {
            assert!(PublicUrl::parse(bad).unwrap_err().starts_with("--public-url"), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        let cases = [
            ("127.0.0.1:7878", true),
            ("localhost:7878", true),
            ("LOCALHOST", true),
            ("app.localhost:1", true),
            ("[::1]:7878", true),
            ("10.0.0.5:7878", true),
            ("ferry.example.com", true),
            ("ferry.example.com:8443", true),
            ("ferry.example.com.", true),
            ("rebind.example", false),
            ("rebind.example:7878", false),
            ("localhost.evil.example", false),
            ("127.0.0.1.nip.io", false),
            ("", false),
            ("[::1", false),
            ("host:notaport", false),
        ];
        for (host, expect) in cases {
            assert_eq!(host_allowed(host, &public()), expect, "{host}");
        }
    }

    #[test]
    fn origins() {
        let ok = |pairs: &[(&'static str, &str)], tls| origin_allowed(&headers(pairs), tls, &public());
        assert!(ok(&[("host", "127.0.0.1:7878")], false));
        assert!(ok(&[("host", "127.0.0.1:7878"), ("origin", "http://127.0.0.1:7878")], false));
        assert!(!ok(&[("host", "127.0.0.1:7878"), ("origin", "https://127.0.0.1:7878")], false));
        assert!(ok(&[("host", "127.0.0.1:7878"), ("origin", "https://127.0.0.1:7878")], true));
        assert!(ok(&[("host", "10.0.0.1"), ("origin", "https://ferry.example.com")], false));
        assert!(!ok(&[("host", "127.0.0.1:7878"), ("origin", "http://evil.example")], false));
        assert!(!ok(&[("host", "127.0.0.1:7878"), ("origin", "null")], false));
        assert!(!ok(&[("host", "127.0.0.1:7878"), ("sec-fetch-site", "cross-site")], false));
        assert!(!ok(&[("host", "127.0.0.1:7878"), ("sec-fetch-site", "same-site")], false));
        assert!(ok(&[("host", "127.0.0.1:7878"), ("sec-fetch-site", "same-origin")], false));
        assert!(ok(&[("host", "127.0.0.1:7878"), ("sec-fetch-site", "none")], false));
        assert!(!ok(&[("origin", "http://127.0.0.1:7878")], false));
    }

    #[test]
    fn requests() {
        let post = Method::POST;
        let status = |method: &Method, path: &str, pairs: &[(&'static str, &str)]| {
            check(method, path, &headers(pairs), false, &[]).err().map(|e| e.status.as_u16())
        };
        let local = ("host", "127.0.0.1:7878");
        let json = ("content-type", "application/json; charset=utf-8");
        let len = ("content-length", "2");
        assert_eq!(status(&post, "/api/v1/apply", &[local, json, len]), None);
        assert_eq!(status(&post, "/api/v1/apply", &[local, ("content-type", "text/plain"), len]), Some(415));
        assert_eq!(status(&post, "/api/v1/apply", &[local, len]), Some(415));
        assert_eq!(status(&post, "/api/v1/apply", &[local, ("transfer-encoding", "chunked")]), Some(415));
        // No body: nothing to check (`curl -X POST …/retry`).
        assert_eq!(status(&post, "/api/v1/releases/x/retry", &[local]), None);
        assert_eq!(status(&post, "/api/v1/releases/x/retry", &[local, ("content-length", "0")]), None);
        let form = ("content-type", "application/x-www-form-urlencoded");
        assert_eq!(status(&post, "/api/v1/hooks/git", &[local, form, len]), None);
        assert_eq!(status(&post, "/api/v1/apply", &[local, form, len]), Some(415));
        assert_eq!(status(&post, "/releases/x/terminate", &[local, form, len]), None);
        assert_eq!(status(&post, "/releases/x/terminate", &[local, json, len]), Some(415));
        // The cross-site form of the report: refused before its content type is even looked at.
        let evil = ("origin", "http://evil.example");
        assert_eq!(status(&post, "/api/v1/apply", &[local, evil, ("content-type", "text/plain"), len]), Some(403));
        assert_eq!(status(&Method::GET, "/api/v1/products", &[("host", "rebind.example:7878")]), Some(421));
        assert_eq!(status(&Method::GET, "/api/v1/products", &[]), Some(421));
        assert_eq!(status(&Method::GET, "/healthz", &[("host", "10.1.2.3:7878")]), None);
        assert_eq!(status(&Method::GET, "/api/v1/products", &[local, evil]), None, "reads are not refused");
    }

    proptest! {
        #[test]
        fn any_host_or_origin_is_answered_without_panic(host in "\\PC{0,40}", origin in "\\PC{0,40}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&host) { h.insert("host", v); }
            if let Ok(v) = HeaderValue::from_str(&origin) { h.insert("origin", v); }
            let _ = check(&Method::POST, "/api/v1/apply", &h, false, &public());
            let _ = PublicUrl::parse(&host);
        }
    }
}
