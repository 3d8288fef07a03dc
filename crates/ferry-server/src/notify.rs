//! Outgoing notifications that did not reach their webhooks (SPEC §6.6), as the store keeps them: the
//! list, and an admin's redelivery of one.

use std::num::NonZeroU64;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ferry_store::{NotificationFailureRow, Store, Write};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::PathParam;

/// Failed notifications listed at most.
pub(crate) const LISTED: u32 = 1000;

/// `GET /api/v1/notifications/failed` → `{"items": [...]}`, newest first (the last 1000).
pub(crate) async fn failed<S: Store>(State(st): State<AppState<S>>) -> Result<Json<serde_json::Value>, ApiError> {
    let items = st.store.notification_failures(LISTED).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}

/// `POST /api/v1/notifications/failed/{id}/redeliver` → 202 with the failure, marked redelivered (see
/// [`redeliver_failure`]).
pub(crate) async fn redeliver<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<NonZeroU64>,
    principal: Principal,
) -> Result<(StatusCode, Json<NotificationFailureRow>), ApiError> {
    let answer = redeliver_failure(&st, id, principal.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// Redelivers failed notification `id` as `actor` and answers it marked redelivered. The change goes to
/// its notification as the applied configuration has it now (a dropped change: to every notification
/// matching it); a delivery that fails again is a new failure. Redelivered once: 409 after; unknown: 404.
/// The API and the UI's admin page both redeliver through here.
pub(crate) async fn redeliver_failure<S: Store>(
    st: &AppState<S>,
    id: NonZeroU64,
    actor: String,
) -> Result<NotificationFailureRow, ApiError> {
    let id = i64::try_from(id.get()).map_err(|_| ApiError::invalid_field("id", "out of range"))?;
    let failure = st
        .store
        .notification_failure(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no failed notification {id}")))?;
    if let Some(who) = &failure.redelivered_by {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("failed notification {id} was already redelivered by {who}"),
        ));
    }
    let change: ferry_notify::Change = serde_json::from_value(failure.change.clone())
        .map_err(|e| ApiError::internal(format!("failed notification {id}: the stored change does not read: {e}")))?;
    let notifier = st.engine.notifier();
    // Checked before the failure is marked, so a notification since removed leaves it as it was.
    notifier.check_redelivery(failure.notification.as_deref(), &change).map_err(conflict)?;
    let at = jiff::Timestamp::now();
    let marked = Write::NotificationRedelivered { id, by: actor.clone(), at };
    // One write, one outcome: its error (not found, or redelivered meanwhile) is the answer.
    for outcome in st.store.write(vec![marked]).await? {
        outcome?;
    }
    notifier.redeliver(failure.notification.as_deref(), change).map_err(conflict)?;
    Ok(NotificationFailureRow { redelivered_at: Some(at), redelivered_by: Some(actor), ..failure })
}

fn conflict(e: ferry_notify::RedeliverError) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
}
