//! Freeze windows (SPEC §10): the freezes in force, runtime freezes made and deleted (admin), and an
//! admin's override of the windows holding one environment of a release. Input is checked here and
//! turned into the model's types (each bad field named); the engine keeps the set and decides.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::{Freeze, FreezeList, FreezeWindow, NewFreeze, Occurrence, UnfreezeRequest};
use ferry_model::freeze::{self as model, FreezeSource, Window};
use ferry_model::{EnvName, FreezeName, ReleaseId};
use ferry_store::Store;
use jiff::Timestamp;

use crate::AppState;
use crate::auth::Principal;
use crate::body::{JsonBody, RawBody, optional_json};
use crate::control::{known_release, text_field, view_of};
use crate::error::ApiError;
use crate::extract::{FromPath, PathParam};

impl FromPath for FreezeName {
    fn from_path(raw: &str) -> Result<Self, String> {
        FreezeName::new(raw).map_err(|e| e.to_string())
    }
}

/// The API form of a freeze, with its occurrences as seen at `now`.
pub(crate) fn freeze_item(freeze: &model::Freeze, now: Timestamp) -> Freeze {
    let window = match &freeze.window {
        Window::Once { from, until } => {
            FreezeWindow { from: Some(*from), until: Some(*until), ..FreezeWindow::default() }
        }
        Window::Recurring { cron, duration, time_zone } => FreezeWindow {
            cron: Some(cron.as_str().to_owned()),
            duration: Some(ferry_model::format_duration(*duration)),
            time_zone: Some(time_zone.name().to_owned()),
            ..FreezeWindow::default()
        },
    };
    let occurrence = |(from, until)| Occurrence { from, until };
    Freeze {
        name: freeze.name.to_string(),
        source: match freeze.source {
            FreezeSource::Config => "config".to_owned(),
            FreezeSource::Runtime => "runtime".to_owned(),
        },
        environments: freeze.environments.clone(),
        products: freeze.products.clone(),
        window,
        reason: freeze.reason.clone(),
        active: freeze.window.occurrence_at(now).map(occurrence),
        next: freeze.window.next_after(now).map(occurrence),
    }
}

/// Checks a new runtime freeze, naming the field at fault.
pub(crate) fn parse_new(new: NewFreeze) -> Result<model::Freeze, ApiError> {
    let name = FreezeName::new(new.name).map_err(|e| ApiError::invalid_field("name", e))?;
    for (field, globs) in [("environments", &new.environments), ("products", &new.products)] {
        if globs.iter().any(|g| g.trim().is_empty()) {
            return Err(ApiError::invalid_field(field, "globs must not be empty"));
        }
    }
    let w = new.window;
    let once = w.from.is_some() || w.until.is_some();
    let recurring = w.cron.is_some() || w.duration.is_some() || w.time_zone.is_some();
    let invalid = |e: model::FreezeError| ApiError::invalid_field(e.field(), e);
    let window = match (once, recurring) {
        (true, true) => {
            return Err(ApiError::bad_request("a freeze has either from/until or cron/duration/timeZone, not both"));
        }
        (false, false) => {
            return Err(ApiError::bad_request(
                "a freeze needs a window: from + until (RFC 3339), or cron + duration (+ timeZone, default UTC)",
            ));
        }
        (true, false) => match (w.from, w.until) {
            (Some(from), Some(until)) => Window::once(from, until).map_err(invalid)?,
            (None, _) => return Err(ApiError::invalid_field("from", "required with until")),
            (_, None) => return Err(ApiError::invalid_field("until", "required with from")),
        },
        (false, true) => {
            let cron = w.cron.ok_or_else(|| ApiError::invalid_field("cron", "required with duration"))?;
            let duration = w.duration.ok_or_else(|| ApiError::invalid_field("duration", "required with cron"))?;
            let duration =
                ferry_model::parse_duration(&duration).map_err(|e| ApiError::invalid_field("duration", e))?;
            Window::recurring(&cron, duration, w.time_zone.as_deref().unwrap_or("UTC")).map_err(invalid)?
        }
    };
    let reason = new.reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if let Some(reason) = &reason
        && reason.chars().count() > crate::control::MAX_REASON
    {
        return Err(ApiError::invalid_field(
            "reason",
            format!("must be at most {} characters", crate::control::MAX_REASON),
        ));
    }
    Ok(model::Freeze {
        name,
        environments: new.environments,
        products: new.products,
        window,
        reason,
        source: FreezeSource::Runtime,
    })
}

/// `GET /api/v1/freezes` → `{"items": [...]}`: configuration freezes, then runtime ones.
pub(crate) async fn list<S: Store>(State(st): State<AppState<S>>) -> Result<Json<FreezeList>, ApiError> {
    let now = Timestamp::now();
    let items = st.engine.freeze_set().freezes().iter().map(|f| freeze_item(f, now)).collect();
    Ok(Json(FreezeList { items }))
}

/// `POST /api/v1/freezes` (admin) → 201 with the freeze.
pub(crate) async fn create<S: Store>(
    State(st): State<AppState<S>>,
    principal: Principal,
    JsonBody(new): JsonBody<NewFreeze>,
) -> Result<Response, ApiError> {
    let freeze = parse_new(new)?;
    let item = freeze_item(&freeze, Timestamp::now());
    st.engine.create_freeze(freeze, principal.actor()).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

/// `POST /api/v1/freezes/{name}/delete` (admin) → 200 with what is left in force.
pub(crate) async fn delete<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(name): PathParam<FreezeName>,
) -> Result<Json<FreezeList>, ApiError> {
    st.engine.delete_freeze(name).await?;
    list(State(st)).await
}

/// `POST /api/v1/releases/{id}/unfreeze` `{"environment", "reason"}` (admin) → 202 with the release view.
pub(crate) async fn unfreeze<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
    principal: Principal,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: UnfreezeRequest = optional_json(&bytes)?;
    let Some(env) = body.environment else {
        return Err(ApiError::invalid_field("environment", "required: the environment to let through"));
    };
    let env = EnvName::new(env).map_err(|e| ApiError::invalid_field("environment", e))?;
    let reason = text_field("reason", body.reason, "say why the freeze is overridden")?;
    known_release(&st, &principal, &id, Some(&env)).await?;
    st.engine.unfreeze(id, env, reason, principal.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(view_of(&st, &id).await?)).into_response())
}
