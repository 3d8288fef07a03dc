//! The API of tokens, the audit log and the caller itself.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::{AuditPage, Token, TokenList, WhoAmI};
use ferry_store::{AuditQuery, Store, TokenRow, Write};
use jiff::Timestamp;

use super::Principal;
use super::tokens::{self, NewToken, TokenError};
use crate::AppState;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::extract::{PathParam, TokenName};
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

/// A token as listed; a stored role that does not read is an internal error.
fn listed(t: TokenRow, now: Timestamp) -> Result<Token, ApiError> {
    let name = t.name.clone();
    tokens::listed(t, now)
        .map_err(|e| ApiError::internal(format!("the stored token {name:?} has an unreadable role: {e}")))
}

/// `GET /api/v1/tokens` → `{"items": [...]}` by name.
pub(crate) async fn list<S: Store>(State(st): State<AppState<S>>) -> Result<Json<TokenList>, ApiError> {
    let now = Timestamp::now();
    let items = st.store.tokens().await?.into_iter().map(|token| listed(token, now)).collect::<Result<_, _>>()?;
    Ok(Json(TokenList { items }))
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
    PathParam(TokenName(name)): PathParam<TokenName>,
) -> Result<Json<Token>, ApiError> {
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
    Ok(Json(listed(token, at)?))
}

/// `GET /api/v1/audit?since=&cursor=&limit=` → `{"items": [...], "next": cursor|null}`, newest first.
pub(crate) async fn audit<S: Store>(
    State(st): State<AppState<S>>,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    let p = Params::parse(query.as_deref(), &["since", "cursor", "limit"])?;
    let since = p.time("since", false)?;
    let before = p.parsed("cursor", |c| {
        c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{c:?} is not a cursor returned by this API"))
    })?;
    let limit = p.int("limit", AUDIT_DEFAULT, 1, AUDIT_MAX)?;
    let limit = u32::try_from(limit).unwrap_or(100);
    let rows = st.store.audit(AuditQuery { since, before, limit }).await?;
    let next =
        if rows.len() == limit as usize { rows.last().and_then(|r| r.id).map(|id| id.to_string()) } else { None };
    let items = rows.into_iter().map(crate::dto::audit_entry).collect::<Result<_, _>>()?;
    Ok(Json(AuditPage { items, next }))
}

/// `GET /api/v1/whoami` → who the server takes the caller for.
pub(crate) async fn whoami<S: Store>(State(st): State<AppState<S>>, principal: Principal) -> Json<WhoAmI> {
    let (products, env_types) = match &principal {
        Principal::Token(g) => (g.products.clone(), g.env_types.iter().map(|t| t.as_str().to_owned()).collect()),
        _ => (Vec::new(), Vec::new()),
    };
    Json(WhoAmI { name: principal.actor(), role: principal.role(), products, env_types, auth: st.settings.auth })
}
