//! Release control (terminate, retry, approve; SPEC §3.5, §3.8) and the local provider's promotion pull
//! requests (SPEC §6.2). Input is checked here; the engine decides and answers.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::{
    ApproveRequest, Approved, ClosePullRequest, PullRequest, PullRequestList, PullState, ReleaseView, TerminateRequest,
};
use std::num::NonZeroU64;

use ferry_model::{EnvName, ProductName, ReleaseId};
use ferry_store::Store;

use crate::AppState;
use crate::auth::Principal;
use crate::body::{RawBody, optional_json};
use crate::dto::release_view;
use crate::error::ApiError;
use crate::extract::PathParam;
use crate::params::Params;

/// Longest termination reason or closing comment, in characters.
pub(crate) const MAX_REASON: usize = 1000;

/// 404 unless the store knows the release (so an unknown id is 404 whatever the engine would answer);
/// 403 unless the caller may change it: its product, and the types of its environments (or of `env`).
pub(crate) async fn known_release<S: Store>(
    st: &AppState<S>,
    principal: &Principal,
    id: &ReleaseId,
    env: Option<&EnvName>,
) -> Result<(), ApiError> {
    let Some(view) = release_view(st, id).await? else {
        return Err(ApiError::not_found(format!("no release with id {id}")));
    };
    let types =
        view.environments.iter().filter(|e| env.is_none_or(|want| e.name == want.as_str())).map(|e| e.env_type.into());
    principal.check_scope(&view.product, types)
}

/// 403 unless the caller may act on the pull request's product and environment (404 when unknown is
/// left to the engine, which names what it knows).
async fn pull_scope<S: Store>(st: &AppState<S>, principal: &Principal, number: u64) -> Result<(), ApiError> {
    let Ok(n) = i64::try_from(number) else { return Ok(()) };
    let Some(pr) = st.store.pull_request(n).await? else { return Ok(()) };
    let catalog = st.engine.catalog();
    let env_type =
        EnvName::new(pr.environment.as_str()).ok().and_then(|e| catalog.environments.get(&e).map(|e| e.env_type));
    principal.check_scope(&pr.product, env_type)
}

/// The release view after a change, read back from the store.
pub(crate) async fn view_of<S: Store>(
    st: &AppState<S>,
    id: &ReleaseId,
) -> Result<std::sync::Arc<ReleaseView>, ApiError> {
    release_view(st, id).await?.ok_or_else(|| ApiError::not_found(format!("no release with id {id}")))
}

/// A required free-text field: trimmed, non-empty, at most [`MAX_REASON`] characters.
pub(crate) fn text_field(field: &str, value: Option<String>, required: &str) -> Result<String, ApiError> {
    let Some(value) = value else {
        return Err(ApiError::invalid_field(field, format!("required: {required}")));
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid_field(field, format!("must not be empty: {required}")));
    }
    check_length(field, value)?;
    Ok(value.to_owned())
}

pub(crate) fn check_length(field: &str, value: &str) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n > MAX_REASON {
        return Err(ApiError::invalid_field(field, format!("must be at most {MAX_REASON} characters (it has {n})")));
    }
    Ok(())
}

/// `POST /api/v1/releases/{id}/terminate` `{"reason"}` → 202 with the release view.
pub(crate) async fn terminate<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
    principal: Principal,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: TerminateRequest = optional_json(&bytes)?;
    let reason = text_field("reason", body.reason, "say why the release is terminated")?;
    known_release(&st, &principal, &id, None).await?;
    st.engine.terminate(id, reason, principal.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(view_of(&st, &id).await?)).into_response())
}

/// `POST /api/v1/releases/{id}/retry` → 202 with the release view.
pub(crate) async fn retry<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
    principal: Principal,
) -> Result<Response, ApiError> {
    known_release(&st, &principal, &id, None).await?;
    st.engine.retry(id, principal.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(view_of(&st, &id).await?)).into_response())
}

/// `POST /api/v1/releases/{id}/approve` `{"environment"}` → `{"approved": ["run/step", ...]}`.
pub(crate) async fn approve<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
    principal: Principal,
    RawBody(bytes): RawBody,
) -> Result<Json<Approved>, ApiError> {
    let body: ApproveRequest = optional_json(&bytes)?;
    let Some(env) = body.environment else {
        return Err(ApiError::invalid_field(
            "environment",
            "required: the environment whose approval steps to approve",
        ));
    };
    let env = EnvName::new(env).map_err(|e| ApiError::invalid_field("environment", e))?;
    known_release(&st, &principal, &id, Some(&env)).await?;
    let approver = ferry_engine::Approver {
        actor: principal.actor(),
        role: principal.role().map(|r| r.as_str().to_owned()),
        comment: body.comment,
    };
    let approved = st.engine.approve_as(id, env, approver).await?;
    Ok(Json(Approved { approved }))
}

/// `GET /api/v1/pulls?product=&state=` → `{"items": [...]}`, newest first.
pub(crate) async fn pulls<S: Store>(
    State(st): State<AppState<S>>,
    RawQuery(query): RawQuery,
) -> Result<Json<PullRequestList>, ApiError> {
    let p = Params::parse(query.as_deref(), &["product", "state"])?;
    let product = p.parsed("product", |v: &str| ProductName::new(v))?;
    let state = p.parsed("state", |v: &str| v.parse::<PullState>())?;
    let items = st
        .engine
        .pull_requests()
        .await?
        .into_iter()
        .map(crate::dto::pull_request)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|pr| product.as_ref().is_none_or(|p| pr.product == p.as_str()))
        .filter(|pr| state.is_none_or(|s| pr.state == s))
        .collect();
    Ok(Json(PullRequestList { items }))
}

/// `POST /api/v1/pulls/{number}/merge` → the merged pull request.
pub(crate) async fn merge_pull<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(number): PathParam<NonZeroU64>,
    principal: Principal,
) -> Result<Json<PullRequest>, ApiError> {
    let number = number.get();
    pull_scope(&st, &principal, number).await?;
    Ok(Json(crate::dto::pull_request(st.engine.merge_pull_request(number, principal.actor()).await?)?))
}

/// `POST /api/v1/pulls/{number}/close` `{"comment"?}` → the closed pull request.
pub(crate) async fn close_pull<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(number): PathParam<NonZeroU64>,
    principal: Principal,
    RawBody(bytes): RawBody,
) -> Result<Json<PullRequest>, ApiError> {
    let number = number.get();
    pull_scope(&st, &principal, number).await?;
    let body: ClosePullRequest = optional_json(&bytes)?;
    let comment = body.comment.map(|c| c.trim().to_owned()).unwrap_or_default();
    check_length("comment", &comment)?;
    let closed = st.engine.close_pull_request(number, principal.actor(), comment).await?;
    Ok(Json(crate::dto::pull_request(closed)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_fields_are_required_trimmed_and_bounded() {
        let check = |v: Option<&str>| text_field("reason", v.map(str::to_owned), "say why");
        assert_eq!(check(Some("  bad build \n")).unwrap(), "bad build");
        assert_eq!(check(None).unwrap_err().message, "reason: required: say why");
        assert!(check(Some("   ")).unwrap_err().message.starts_with("reason: must not be empty"));
        assert_eq!(check(Some(&"é".repeat(MAX_REASON))).unwrap().chars().count(), MAX_REASON);
        let e = check(Some(&"x".repeat(MAX_REASON + 1))).unwrap_err();
        assert_eq!(e.message, "reason: must be at most 1000 characters (it has 1001)");
    }
}
