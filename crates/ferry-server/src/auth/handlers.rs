//! The API of tokens, the audit log and the caller itself.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_store::{AuditQuery, AuditRow, Store, TokenRow, Write};
use jiff::Timestamp;
use serde::Serialize;

use super::tokens::{self, NewToken, TokenError};
use super::{Principal, Role};
use crate::AppState;
use crate::api::PathParam;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::params::Params;

/// Default and largest audit page sizes.
const AUDIT_DEFAULT: i64 = 100;
const AUDIT_MAX: i64 = 1000;

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        match e {
            TokenError::Invalid { field, problem } => ApiError::invalid_field(&field, problem),
            TokenError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            TokenError::Store(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenItem {
    #[serde(flatten)]
    token: TokenRow,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
}

fn status_of(t: &TokenRow, now: Timestamp) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// `GET /api/v1/tokens` → `{"items": [...]}` by name.
pub(crate) async fn list<S: Store>(State(st): State<AppState<S>>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Timestamp::now();
    let items: Vec<TokenItem> =
        st.store.tokens().await?.into_iter().map(|token| TokenItem { status: status_of(&token, now), token }).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// `POST /api/v1/tokens` `{name, role, products?, envTypes?, expires?}` → 201 with the secret, shown once.
pub(crate) async fn create<S: Store>(
    State(st): State<AppState<S>>,
    principal: Principal,
    JsonBody(new): JsonBody<NewToken>,
) -> Result<Response, ApiError> {
    let created = tokens::create(&st.store, &new, &principal.actor()).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `POST /api/v1/tokens/{name}/revoke` → the token, revoked; its UI sessions end.
pub(crate) async fn revoke<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(name): PathParam,
) -> Result<Json<TokenItem>, ApiError> {
    tokens::check_name(&name)?;
    let at = Timestamp::now();
    let outcome = st.store.write(vec![Write::RevokeToken { name: name.clone(), at }]).await?;
    match outcome.into_iter().next() {
        Some(Ok(_)) => {}
        Some(Err(e)) => return Err(e.into()),
        None => return Err(ApiError::internal("the store answered nothing")),
    }
    let token = st
        .store
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no token named {name:?}")))?;
    Ok(Json(TokenItem { status: "revoked", token }))
}

/// `GET /api/v1/audit?since=&cursor=&limit=` → `{"items": [...], "next": cursor|null}`, newest first.
pub(crate) async fn audit<S: Store>(
    State(st): State<AppState<S>>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = Params::parse(query.as_deref(), &["since", "cursor", "limit"])?;
    let since = p.time("since", false)?;
    let before = p.parsed("cursor", |c| {
        c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{c:?} is not a cursor returned by this API"))
    })?;
    let limit = p.int("limit", AUDIT_DEFAULT, 1, AUDIT_MAX)?;
    let limit = u32::try_from(limit).unwrap_or(100);
    let items: Vec<AuditRow> = st.store.audit(AuditQuery { since, before, limit }).await?;
    let next =
        if items.len() == limit as usize { items.last().and_then(|r| r.id).map(|id| id.to_string()) } else { None };
    Ok(Json(serde_json::json!({ "items": items, "next": next })))
}

/// Who the caller is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WhoAmI {
    /// Token name, or the local user on an auth-less server.
    name: String,
    /// Role.
    role: Option<Role>,
    /// Product globs (promoters); empty = every product.
    products: Vec<String>,
    /// Environment types (promoters); empty = every type.
    env_types: Vec<String>,
    /// Whether the server requires tokens.
    auth: bool,
}

/// `GET /api/v1/whoami` → who the server takes the caller for.
pub(crate) async fn whoami<S: Store>(State(st): State<AppState<S>>, principal: Principal) -> Json<WhoAmI> {
    let (products, env_types) = match &principal {
        Principal::Token(g) => (g.products.clone(), g.env_types.iter().map(|t| t.as_str().to_owned()).collect()),
        _ => (Vec::new(), Vec::new()),
    };
    Json(WhoAmI { name: principal.actor(), role: principal.role(), products, env_types, auth: st.settings.auth })
}
