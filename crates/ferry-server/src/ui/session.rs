//! Signing in and out of the web UI, and what every page knows about its viewer.
//!
//! - A browser signs in by pasting a token (`POST /signin`); it gets a session cookie
//!   (`ferry_session`, `HttpOnly; SameSite=Strict`, `Secure` under TLS) whose secret's hash is stored
//!   with the token's name. Revoking the token ends its sessions.
//! - Every form carries a CSRF token: the `ferry_csrf` cookie (set with the first page) must equal the
//!   form's `csrf` field (double submit, compared in constant time). Requests authenticated with an
//!   `Authorization` header need none: a page elsewhere cannot attach one.
//! - Pages render inside a task-local [`UiContext`] (the viewer, the CSRF token) so every template can
//!   show who is signed in and fill its forms' hidden field.

use std::time::Duration;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_store::{SessionRow, Store, Write};
use jiff::Timestamp;

use super::pages::{Crumb, PageMeta};
use super::{UiError, html};
use crate::AppState;
use crate::auth::{self, AuditActor, Principal, Role, SESSION_COOKIE, tokens};

/// Cookie holding the CSRF token of a browser.
const CSRF_COOKIE: &str = "ferry_csrf";
/// Longest UI session (shorter when the token expires first).
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Largest form body read for the CSRF check.
const FORM_LIMIT: usize = 64 * 1024;

/// What a page knows about the request it answers.
#[derive(Debug, Clone)]
pub(crate) struct UiContext {
    /// The CSRF token to put in forms.
    pub(crate) csrf: String,
    /// The viewer.
    pub(crate) principal: Principal,
    /// Whether the server requires signing in.
    pub(crate) auth: bool,
}

tokio::task_local! {
    static CONTEXT: UiContext;
}

/// The context of the page being rendered (an anonymous one outside a request).
pub(crate) fn context() -> UiContext {
    CONTEXT.try_with(Clone::clone).unwrap_or(UiContext {
        csrf: String::new(),
        principal: Principal::Anonymous,
        auth: true,
    })
}

/// Runs `f` as a page rendered for an auth-less local user (tests render pages outside requests).
#[cfg(test)]
pub(crate) fn as_local<R>(f: impl FnOnce() -> R) -> R {
    let context = UiContext { csrf: "c".repeat(43), principal: Principal::Local { actor: "test".into() }, auth: false };
    CONTEXT.sync_scope(context, f)
}

impl UiContext {
    /// The signed-in token's name, shown in the header (none on an auth-less server).
    pub(crate) fn user(&self) -> Option<String> {
        match &self.principal {
            Principal::Token(g) if self.auth => Some(g.name.clone()),
            _ => None,
        }
    }

    /// The signed-in token's role.
    pub(crate) fn role(&self) -> &'static str {
        self.principal.role().map_or("", Role::as_str)
    }

    /// Whether the viewer may terminate or retry releases of `product`.
    pub(crate) fn may_change(&self, product: &str) -> bool {
        self.principal.role().is_some_and(|r| r >= Role::Promoter) && self.principal.sees_product(product)
    }
}

fn cookie_header(name: &str, value: &str, tls: bool, max_age: Option<u64>) -> Option<HeaderValue> {
    let secure = if tls { "; Secure" } else { "" };
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}")).ok()
}

fn forbidden_form() -> Response {
    UiError::new(
        StatusCode::FORBIDDEN,
        "This form is out of date or was not sent from Ferry's own page: reload the page and try again.",
    )
    .into_response()
}

/// The middleware of every UI route: checks the CSRF token of form posts, and renders the page inside its
/// [`UiContext`].
pub(crate) async fn layer<S: Store>(State(st): State<AppState<S>>, request: Request, next: Next) -> Response {
    let known = auth::cookie(request.headers(), CSRF_COOKIE).filter(|c| c.len() == 43).map(str::to_owned);
    let csrf = match known.clone() {
        Some(c) => c,
        None => match tokens::random_part() {
            Ok(c) => c,
            Err(e) => return UiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
    };
    let principal = request.extensions().get::<Principal>().cloned().unwrap_or(Principal::Anonymous);
    let request = if request.method() == Method::POST && !request.headers().contains_key(AUTHORIZATION) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return UiError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response();
        };
        let sent = super::form(&bytes).ok().and_then(|f| super::field(&f, "csrf").map(str::to_owned));
        let valid = match (&known, sent) {
            (Some(cookie), Some(sent)) => tokens::hashes_equal(cookie, &sent),
            _ => false,
        };
        if !valid {
            return forbidden_form();
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    let context = UiContext { csrf: csrf.clone(), principal, auth: st.settings.auth };
    let mut response = CONTEXT.scope(context, next.run(request)).await;
    if known.is_none()
        && let Some(v) = cookie_header(CSRF_COOKIE, &csrf, st.settings.tls, None)
    {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// `/signin`.
#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct SignInPage {
    pub(crate) page: PageMeta,
    pub(crate) next: String,
    pub(crate) error: Option<String>,
    pub(crate) auth: bool,
}

/// Only paths of this server are followed after signing in.
fn safe_next(next: &str) -> String {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.contains("://");
    if local && !next.starts_with("/signin") { next.to_owned() } else { "/".to_owned() }
}

fn sign_in_page(status: StatusCode, next: &str, error: Option<String>) -> Response {
    let crumbs = vec![Crumb { label: "Sign in".into(), href: None }];
    let page = SignInPage { page: PageMeta::new("Sign in", crumbs), next: safe_next(next), error, auth: true };
    html(status, &page)
}

/// Sends a browser that is not signed in to the sign-in page, coming back to `next` afterwards.
pub(crate) fn to_sign_in(next: &str) -> Response {
    let location = format!("/signin{}", super::format::query(&[("next", &safe_next(next))]));
    (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response()
}

/// `GET /signin[?next=/path]`.
pub(crate) async fn sign_in_form<S: Store>(
    State(st): State<AppState<S>>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, UiError> {
    let p = crate::params::Params::parse(q.as_deref(), &["next"])?;
    let next = p.one("next")?.unwrap_or("/").to_owned();
    if !st.settings.auth {
        let crumbs = vec![Crumb { label: "Sign in".into(), href: None }];
        let page =
            SignInPage { page: PageMeta::new("Sign in", crumbs), next: safe_next(&next), error: None, auth: false };
        return Ok(html(StatusCode::OK, &page));
    }
    Ok(sign_in_page(StatusCode::OK, &next, None))
}

/// `POST /signin` (form `token`, `next`, `csrf`) → a session cookie and 303 to `next`.
pub(crate) async fn sign_in<S: Store>(State(st): State<AppState<S>>, body: Bytes) -> Result<Response, UiError> {
    let form = super::form(&body)?;
    let next = super::field(&form, "next").unwrap_or("/").to_owned();
    if !st.settings.auth {
        return Ok(super::see_other(&safe_next(&next)));
    }
    let secret = super::field(&form, "token").unwrap_or("").trim().to_owned();
    let refuse = |message: &str| Ok(sign_in_page(StatusCode::UNAUTHORIZED, &next, Some(message.to_owned())));
    if !tokens::looks_like_secret(&secret) {
        return refuse("That is not a Ferry token: paste the whole `ferry_…` secret printed by `ferry token create`.");
    }
    let mut headers = axum::http::HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {secret}")) {
        headers.insert(AUTHORIZATION, v);
    }
    let grant = match auth::authenticate(&st, &headers).await {
        Ok(Some(Principal::Token(grant))) => grant,
        Ok(_) => return refuse("The token is not known."),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            tracing::warn!(reason = %e.message, "a sign-in was refused");
            return refuse(&format!("Sign-in refused: {}.", e.message));
        }
        Err(e) => return Err(e.into()),
    };
    let token = st.store.token_by_hash(&tokens::hash_secret(&secret)).await?;
    let now = Timestamp::now();
    let lifetime = jiff::SignedDuration::try_from(SESSION_LIFETIME).unwrap_or(jiff::SignedDuration::from_hours(12));
    let mut expires = now.checked_add(lifetime).unwrap_or(now);
    if let Some(token_end) = token.and_then(|t| t.expires_at) {
        expires = expires.min(token_end);
    }
    let session =
        tokens::generate_session().map_err(|e| UiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let row = SessionRow {
        hash: tokens::hash_secret(&session),
        token: grant.name.clone(),
        created_at: now,
        expires_at: expires,
    };
    let outcome = st.store.write(vec![Write::Session(row)]).await?;
    if let Some(Err(e)) = outcome.into_iter().next() {
        return Err(e.into());
    }
    let max_age = u64::try_from(expires.duration_since(now).as_secs()).unwrap_or(0);
    let mut response = super::see_other(&safe_next(&next));
    if let Some(v) = cookie_header(SESSION_COOKIE, &session, st.settings.tls, Some(max_age)) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response.extensions_mut().insert(AuditActor(grant.name.clone()));
    Ok(response)
}

/// `POST /signout` → ends the session, clears the cookie, 303 to the sign-in page.
pub(crate) async fn sign_out<S: Store>(
    State(st): State<AppState<S>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, UiError> {
    if let Some(secret) = auth::cookie(&headers, SESSION_COOKIE) {
        let hash = tokens::hash_secret(secret);
        st.store.write(vec![Write::EndSession { hash }]).await?;
    }
    let mut response = super::see_other("/signin");
    if let Some(v) = cookie_header(SESSION_COOKIE, "", st.settings.tls, Some(0)) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        for (next, expect) in [
            ("/releases/x?fragment=body", "/releases/x?fragment=body"),
            ("/", "/"),
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
            ("/signin?next=/", "/"),
            ("relative", "/"),
        ] {
            assert_eq!(safe_next(next), expect, "{next}");
        }
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = cookie_header("ferry_session", "v", false, Some(60)).unwrap();
        assert_eq!(c, "ferry_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
        let c = cookie_header("ferry_csrf", "v", true, None).unwrap();
        assert_eq!(c, "ferry_csrf=v; Path=/; HttpOnly; SameSite=Strict; Secure");
    }
}
