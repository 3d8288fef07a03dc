//! The admin's page of failed notifications and its redeliver button (SPEC §6.6). Both routes are
//! admin-only in [`super::ROUTES`], like their API counterparts; a redelivery goes through the same
//! code as `POST /api/v1/notifications/failed/{id}/redeliver`.

use std::num::NonZeroU64;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use ferry_store::Store;

use super::pages::{self, FAILED_NOTIFICATIONS};
use super::{UiError, html, see_other};
use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::notify::{LISTED, redeliver_failure};
use crate::params::Params;

/// `GET /notifications/failed`: the failed notifications, newest first.
pub(super) async fn failed<S: Store>(
    State(st): State<AppState<S>>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    Params::parse(q.as_deref(), &[])?;
    page(&st, StatusCode::OK, None).await
}

/// `POST /notifications/failed/{id}/redeliver` → 303 back to the list, or the list with the refusal.
pub(super) async fn redeliver<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    principal: Principal,
) -> Result<Response, UiError> {
    let id = raw
        .parse::<NonZeroU64>()
        .map_err(|_| UiError::bad_request(format!("id: {raw:?} is not the number of a failed notification")))?;
    match redeliver_failure(&st, id, principal.actor()).await {
        Ok(_) => Ok(see_other(FAILED_NOTIFICATIONS)),
        Err(e) if e.status.is_client_error() => {
            page(&st, e.status, Some(format!("Redelivery of notification {id} refused: {}", e.message))).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn page<S: Store>(st: &AppState<S>, status: StatusCode, error: Option<String>) -> Result<Response, UiError> {
    let rows = st.store.notification_failures(LISTED).await.map_err(ApiError::from)?;
    Ok(html(status, &pages::failed_notifications(&rows, error)))
}
