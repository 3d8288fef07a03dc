//! Who may do what (SPEC §8.2): roles, the rule of every route, the caller of a request, and the
//! middleware that enforces both.
//!
//! Two layers guard every request:
//! 1. [`browser::guard`] (before routing, every path): the `Host` must be a loopback name, an IP literal
//!    or a `--public-url` host (421); state-changing requests from another origin are refused (403);
//!    bodies must be JSON on the API, form-encoded on the UI (415).
//! 2. [`guard`] (after routing): finds the caller — a bearer token, a UI session cookie, or, on an
//!    auth-less loopback server, the local user — checks the route's [`Access`] rule (401/403), hands
//!    the [`Principal`] to the handler and records every state-changing request in the audit log.
//!
//! Scope (a promoter's product globs and environment types) depends on what a request targets, so
//! handlers check it with [`Principal::check_scope`].

pub(crate) mod audit;
pub(crate) mod browser;
pub(crate) mod handlers;
pub mod signature;
pub mod tokens;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_model::resources::EnvironmentType;
use ferry_store::{Store, TokenRow};
use jiff::Timestamp;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::Route;

pub use tokens::{NewToken, Role, TokenError};

/// Header naming the caller on an auth-less loopback server (ignored when tokens are required).
pub(crate) const ACTOR_HEADER: &str = "ferry-actor";
/// Cookie holding a signed-in browser's session secret.
pub(crate) const SESSION_COOKIE: &str = "ferry_session";

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not: probes, the API description, UI assets and the sign-in page.
    Public,
    /// Every caller with a token (viewer and up): reads.
    Read,
    /// promoter or admin; the handler checks the product and environment-type scope.
    Promote,
    /// admin only.
    Admin,
    /// Authenticated by the delivery's signature, not by a token (inbound webhooks).
    Webhook,
}

impl Access {
    /// The weakest role allowed, for rules that need a role.
    pub fn min_role(self) -> Option<Role> {
        match self {
            Access::Public | Access::Webhook => None,
            Access::Read => Some(Role::Viewer),
            Access::Promote => Some(Role::Promoter),
            Access::Admin => Some(Role::Admin),
        }
    }

    /// Whether `role` passes this rule (scope aside).
    pub fn allows(self, role: Role) -> bool {
        self.min_role().is_none_or(|min| role >= min)
    }
}

/// A token's rights, as resolved for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Token name (the actor of what it does).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Product globs; empty = every product.
    pub products: Vec<String>,
    /// Environment types; empty = every type.
    pub env_types: Vec<EnvironmentType>,
}

impl Grant {
    fn from_row(row: &TokenRow) -> Result<Grant, ApiError> {
        let broken = || ApiError::internal(format!("the stored token {:?} is not valid; revoke it", row.name));
        let role = row.role.parse::<Role>().map_err(|_| broken())?;
        let env_types =
            row.env_types.iter().map(|t| tokens::parse_env_type(t).map_err(|_| broken())).collect::<Result<_, _>>()?;
        Ok(Grant { name: row.name.clone(), role, products: row.products.clone(), env_types })
    }

    /// Whether the token may act on `product`.
    pub fn covers_product(&self, product: &str) -> bool {
        self.products.is_empty() || self.products.iter().any(|g| tokens::glob_match(g, product))
    }

    /// Whether the token may act on environments of type `t`.
    pub fn covers_env_type(&self, t: EnvironmentType) -> bool {
        self.env_types.is_empty() || self.env_types.contains(&t)
    }

    fn scope_text(&self) -> String {
        let products = if self.products.is_empty() { "every product".to_owned() } else { self.products.join(", ") };
        let types = if self.env_types.is_empty() {
            "every environment type".to_owned()
        } else {
            self.env_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
        };
        format!("{products}; {types}")
    }
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An auth-less loopback server: the caller names itself (`Ferry-Actor`, sent by the CLI as the OS
    /// user) and may do everything.
    Local {
        /// Recorded as the actor.
        actor: String,
    },
    /// A token, presented as `Authorization: Bearer` or through a UI session.
    Token(Arc<Grant>),
    /// Nobody identified (public routes, webhooks before their signature is checked).
    Anonymous,
}

impl Principal {
    /// Who is recorded as the actor of a change.
    pub fn actor(&self) -> String {
        match self {
            Principal::Local { actor } => actor.clone(),
            Principal::Token(grant) => grant.name.clone(),
            Principal::Anonymous => "anonymous".to_owned(),
        }
    }

    /// The caller's role (`Local` is admin: an auth-less server trusts its loopback callers).
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Local { .. } => Some(Role::Admin),
            Principal::Token(grant) => Some(grant.role),
            Principal::Anonymous => None,
        }
    }

    /// Whether the caller may see `product`'s live events (a scoped promoter sees only its products).
    pub fn sees_product(&self, product: &str) -> bool {
        match self {
            Principal::Token(grant) if grant.role == Role::Promoter => grant.covers_product(product),
            _ => true,
        }
    }

    /// The products-only predicate of a scoped promoter's event stream, `None` when it sees everything.
    pub(crate) fn visible_products(&self) -> Option<crate::sse::Visible> {
        match self {
            Principal::Token(grant) if grant.role == Role::Promoter && !grant.products.is_empty() => {
                let grant = grant.clone();
                Some(Arc::new(move |product: &str| grant.covers_product(product)))
            }
            _ => None,
        }
    }

    /// 403 unless the caller may change `product` in environments of the given types.
    pub fn check_scope(
        &self,
        product: &str,
        env_types: impl IntoIterator<Item = EnvironmentType>,
    ) -> Result<(), ApiError> {
        let Principal::Token(grant) = self else { return Ok(()) };
        if grant.role == Role::Admin {
            return Ok(());
        }
        if !grant.covers_product(product) {
            return Err(ApiError::forbidden(format!(
                "the token {:?} may not act on product {product:?} (its scope: {})",
                grant.name,
                grant.scope_text()
            )));
        }
        for t in env_types {
            if !grant.covers_env_type(t) {
                return Err(ApiError::forbidden(format!(
                    "the token {:?} may not act on {} environments (its scope: {})",
                    grant.name,
                    t.as_str(),
                    grant.scope_text()
                )));
            }
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::internal("the request was not authorised (a route without a rule)"))
    }
}

/// What a handler tells the audit log about a request it authenticated itself (webhooks, sign-in).
#[derive(Debug, Clone)]
pub(crate) struct AuditActor(pub(crate) String);

/// The rule of every route, by method and path.
fn rules() -> &'static HashMap<(Method, &'static str), &'static Route> {
    static RULES: OnceLock<HashMap<(Method, &'static str), &'static Route>> = OnceLock::new();
    RULES.get_or_init(|| {
        crate::routes::ROUTES
            .iter()
            .chain(crate::ui::ROUTES)
            .filter_map(|r| Method::from_bytes(r.method.as_bytes()).ok().map(|m| ((m, r.path), r)))
            .collect()
    })
}

/// A 401 answer: the reason on one line, and how to authenticate.
fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Reads `Authorization: Bearer <token>`; `Ok(None)` when the header is absent.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else { return Ok(None) };
    let text = value.to_str().map_err(|_| unauthorized("the Authorization header is not ASCII text"))?;
    parse_bearer(text).map(Some).map_err(unauthorized)
}

/// Parses the value of an `Authorization` header: `Bearer <token>`.
pub fn parse_bearer(text: &str) -> Result<&str, String> {
    let (scheme, rest) =
        text.trim().split_once(' ').ok_or("malformed Authorization header: expected `Bearer <token>`")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("unsupported Authorization scheme: expected `Bearer <token>`".to_owned());
    }
    let token = rest.trim();
    if !tokens::looks_like_secret(token) {
        return Err("malformed token: expected the `ferry_…` secret printed by `ferry token create`".to_owned());
    }
    Ok(token)
}

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// 401 unless a token row may be used now.
fn usable(row: &TokenRow, now: Timestamp) -> Result<(), ApiError> {
    if row.revoked_at.is_some() {
        return Err(unauthorized("the token has been revoked"));
    }
    if let Some(expires) = row.expires_at
        && expires <= now
    {
        return Err(unauthorized(format!("the token expired at {}", expires.strftime("%Y-%m-%d %H:%M UTC"))));
    }
    Ok(())
}

/// Finds the caller of a request with credentials; `Ok(None)` when it carries none.
pub(crate) async fn authenticate<S: Store>(
    st: &AppState<S>,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    let now = Timestamp::now();
    let unavailable = |e: ferry_store::StoreError| ApiError::unavailable(format!("cannot check the token: {e}"));
    if let Some(secret) = bearer(headers)? {
        let hash = tokens::hash_secret(secret);
        let row = st.store.token_by_hash(&hash).await.map_err(unavailable)?;
        // The store found the row by its hash; compare in constant time all the same.
        let row = row.filter(|r| tokens::hashes_equal(&r.hash, &hash)).ok_or_else(|| unauthorized("unknown token"))?;
        usable(&row, now)?;
        return Ok(Some(Principal::Token(Arc::new(Grant::from_row(&row)?))));
    }
    if let Some(secret) = cookie(headers, SESSION_COOKIE).filter(|s| tokens::looks_like_session(s)) {
        let hash = tokens::hash_secret(secret);
        let Some((session, row)) = st.store.session(&hash).await.map_err(unavailable)? else {
            return Err(unauthorized("the session has ended; sign in again"));
        };
        if session.expires_at <= now || !tokens::hashes_equal(&session.hash, &hash) {
            return Err(unauthorized("the session has ended; sign in again"));
        }
        usable(&row, now)?;
        return Ok(Some(Principal::Token(Arc::new(Grant::from_row(&row)?))));
    }
    Ok(None)
}

/// The caller on an auth-less server: the name the client gives (`Ferry-Actor`), else the default.
fn local_actor<S>(st: &AppState<S>, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let actor = match headers.get(ACTOR_HEADER) {
        None => st.settings.default_actor.clone(),
        Some(value) => {
            let text = value.to_str().map_err(|_| ApiError::invalid_field("Ferry-Actor", "must be ASCII text"))?;
            let text = text.trim();
            if text.is_empty() || text.len() > 128 || text.chars().any(char::is_control) {
                return Err(ApiError::invalid_field("Ferry-Actor", "must be 1 to 128 printable characters"));
            }
            text.to_owned()
        }
    };
    Ok(Principal::Local { actor })
}

/// Where a request came from (the peer address; proxies' forwarding headers are not trusted).
pub(crate) fn source(request: &Request) -> String {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |c| c.0.to_string())
}

/// Authorises a routed request (see the module documentation) and audits state-changing ones.
pub(crate) async fn guard<S: Store>(State(st): State<AppState<S>>, mut request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let Some(route) = rules().get(&(request.method().clone(), path.as_str())).copied() else {
        // Every routed path has a rule (a test checks it); deny what slipped through.
        return ApiError::forbidden("this route has no authorisation rule").into_response();
    };
    let ui = crate::ui::is_ui_path(request.uri().path());
    let target = request.uri().path().to_owned();
    let from = source(&request);
    let identified = if st.settings.auth {
        authenticate(&st, request.headers()).await
    } else {
        local_actor(&st, request.headers()).map(Some)
    };
    let principal = match identified {
        Ok(Some(p)) => p,
        Ok(None) => Principal::Anonymous,
        // Credentials that do not work are refused even on public routes, except the sign-in page
        // (a stale session cookie must not lock a browser out of signing in again).
        Err(_) if route.access == Access::Public => Principal::Anonymous,
        Err(e) => return refuse(ui, &request, e),
    };
    if let Some(min) = route.access.min_role() {
        match principal.role() {
            None => {
                let e = unauthorized(
                    "this server requires a token: pass --token, set FERRY_TOKEN or run `ferry login` \
                     (browsers: sign in at /signin)",
                );
                return refuse(ui, &request, e);
            }
            Some(role) if role < min => {
                let e = ApiError::forbidden(format!(
                    "the {} role is needed for this (the token {:?} has the {} role)",
                    min.as_str(),
                    principal.actor(),
                    role.as_str()
                ));
                let response = with_actor(refuse(ui, &request, e), &principal);
                return audit::record_parts(&st, route, &principal, &target, &from, response).await;
            }
            Some(_) => {}
        }
    }
    let audited = request.method() != Method::GET && request.method() != Method::HEAD;
    request.extensions_mut().insert(principal.clone());
    let response = with_actor(next.run(request).await, &principal);
    if audited { audit::record_parts(&st, route, &principal, &target, &from, response).await } else { response }
}

/// Names the caller on the response for the access log (the actor's name, never a credential).
fn with_actor(mut response: Response, principal: &Principal) -> Response {
    response.extensions_mut().insert(crate::metrics::Actor(principal.actor()));
    response
}

/// The answer to a refused request: the API's JSON error, or for a browser on a UI page the sign-in
/// page (401) or an HTML error page (403).
fn refuse(ui: bool, request: &Request, e: ApiError) -> Response {
    if ui {
        if e.status == StatusCode::UNAUTHORIZED && request.method() == Method::GET {
            let next = request.uri().path_and_query().map_or("/", |p| p.as_str());
            return crate::ui::to_sign_in(next);
        }
        return crate::ui::error_page(e.status, e.message);
    }
    let mut response = e.into_response();
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_rules_name_the_weakest_role() {
        use Role::*;
        let cases = [
            (Access::Public, [true, true, true]),
            (Access::Webhook, [true, true, true]),
            (Access::Read, [true, true, true]),
            (Access::Promote, [false, true, true]),
            (Access::Admin, [false, false, true]),
        ];
        for (access, expect) in cases {
            let got = [Viewer, Promoter, Admin].map(|r| access.allows(r));
            assert_eq!(got, expect, "{access:?}");
        }
    }

    #[test]
    fn bearer_headers() {
        let secret = tokens::generate_secret().unwrap();
        assert_eq!(parse_bearer(&format!("Bearer {secret}")).unwrap(), secret);
        assert_eq!(parse_bearer(&format!("bearer   {secret} ")).unwrap(), secret);
        assert!(parse_bearer(&format!("Basic {secret}")).unwrap_err().contains("unsupported"));
        assert!(parse_bearer("Bearer").unwrap_err().contains("malformed Authorization"));
        assert!(parse_bearer("Bearer abc").unwrap_err().contains("malformed token"));
        // A session secret is not a token.
        assert!(parse_bearer(&format!("Bearer {}", tokens::generate_session().unwrap())).is_err());
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("a=1; ferry_session=xyz"));
        h.append("cookie", HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "ferry_session"), Some("xyz"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }

    fn grant(role: Role, products: &[&str], types: &[EnvironmentType]) -> Principal {
        Principal::Token(Arc::new(Grant {
            name: "t".into(),
            role,
            products: products.iter().map(|p| (*p).to_owned()).collect(),
            env_types: types.to_vec(),
        }))
    }

    #[test]
    fn scope_checks_name_what_is_outside() {
        use EnvironmentType::*;
        let p = grant(Role::Promoter, &["shop-*"], &[NonProduction]);
        assert!(p.check_scope("shop-eu", [NonProduction]).is_ok());
        let e = p.check_scope("billing", [NonProduction]).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("product \"billing\"") && e.message.contains("shop-*"), "{}", e.message);
        let e = p.check_scope("shop-eu", [NonProduction, Production]).unwrap_err();
        assert!(e.message.contains("production environments"), "{}", e.message);
        assert!(grant(Role::Promoter, &[], &[]).check_scope("any", [Production]).is_ok());
        assert!(grant(Role::Admin, &["x"], &[NonProduction]).check_scope("any", [Production]).is_ok());
        assert!(Principal::Local { actor: "me".into() }.check_scope("any", [Production]).is_ok());
        assert!(p.sees_product("shop-us") && !p.sees_product("billing"));
        assert!(grant(Role::Viewer, &["shop-*"], &[]).sees_product("billing"));
    }
}
