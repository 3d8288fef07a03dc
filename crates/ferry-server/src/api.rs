//! Request handlers.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_api as wire;
use ferry_api::{ReleasePage, ReleaseView};
use ferry_engine::{PromoteRequest, PromoteScope, PushedStatus};
use ferry_model::release::{RunId, RunTarget};
use ferry_model::resources::Catalog;
use ferry_model::status::{HealthStatus, ReleaseStatus, SyncStatus};
use ferry_model::{AppName, EnvName, FlowName, ProductName, ReleaseId};
use ferry_store::{EventFilter, LogQuery, ReleaseFilter, Store};

use crate::AppState;
use crate::auth::Principal;
use crate::body::{JsonBody, RawBody, parse_json};
use crate::dto::{self, RunContext, release_item, release_view};
use crate::error::ApiError;
use crate::extract::PathParam;
use crate::params::Params;
use crate::routes::OPENAPI;
use crate::{hooks, sse};

/// Default and largest page sizes.
const RELEASES_DEFAULT: i64 = 50;
const RELEASES_MAX: i64 = 500;
const LOGS_DEFAULT: i64 = 1000;
const LOGS_MAX: i64 = 10_000;
/// Product events shown with a product.
const PRODUCT_EVENTS: u32 = 20;

fn known<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() { "none is configured yet; apply a configuration first".to_owned() } else { names.join(", ") }
}

fn unknown_product(name: &ProductName, catalog: &Catalog) -> ApiError {
    ApiError::not_found(format!(
        "unknown product {:?} (known products: {})",
        name.as_str(),
        known(catalog.products.keys().map(ProductName::as_str))
    ))
}

// ---------------------------------------------------------------------------------------------------
// Health, metrics, OpenAPI
// ---------------------------------------------------------------------------------------------------

pub(crate) async fn healthz() -> Json<wire::ServerHealth> {
    Json(wire::ServerHealth { status: wire::Health::Ok })
}

pub(crate) async fn version() -> Json<wire::VersionInfo> {
    Json(wire::VersionInfo { version: env!("CARGO_PKG_VERSION").to_owned(), commit: crate::BUILD_COMMIT.to_owned() })
}

pub(crate) async fn readyz<S: Store>(State(st): State<AppState<S>>) -> Result<Json<wire::ServerHealth>, ApiError> {
    // A database that does not answer at all (a network partition) is as unready as one that refuses.
    const WAIT: std::time::Duration = std::time::Duration::from_secs(5);
    tokio::time::timeout(WAIT, st.store.kv_get("ferry.readyz"))
        .await
        .map_err(|_| ApiError::unavailable(format!("the store did not answer within {} s", WAIT.as_secs())))?
        .map_err(|e| ApiError::unavailable(format!("the store is not reachable: {e}")))?;
    Ok(Json(wire::ServerHealth { status: wire::Health::Ready }))
}

pub(crate) async fn metrics<S: Store>(State(st): State<AppState<S>>) -> Response {
    let active = st.store.active_releases().await.ok().map(|ids| ids.len());
    let mut text = st.metrics.render(active);
    text.push_str(&crate::dora::gauges(&st.store, jiff::Timestamp::now()).await);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

pub(crate) async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

pub(crate) async fn apply<S: Store>(
    State(st): State<AppState<S>>,
    principal: Principal,
    JsonBody(body): JsonBody<wire::ApplyRequest>,
) -> Result<Json<wire::ApplyResponse>, ApiError> {
    let actor = principal.actor();
    if body.sources.is_empty() {
        return Err(ApiError::invalid_field("sources", "give at least one file"));
    }
    let mut names = BTreeSet::new();
    for (i, s) in body.sources.iter().enumerate() {
        if s.name.trim().is_empty() || s.name.len() > 4096 {
            return Err(ApiError::invalid_field(&format!("sources[{i}].name"), "must be 1 to 4096 characters"));
        }
        if !names.insert(s.name.as_str()) {
            return Err(ApiError::invalid_field(&format!("sources[{i}].name"), format!("{:?} is given twice", s.name)));
        }
    }
    let sources: Vec<ferry_config::Source> =
        body.sources.into_iter().map(|s| ferry_config::Source { name: s.name, text: s.text }).collect();
    // Validation is CPU work on up to the body limit of YAML: keep it off the async workers.
    let loaded = tokio::task::spawn_blocking(move || ferry_config::load_sources(&sources))
        .await
        .map_err(|e| ApiError::internal(format!("validation did not finish: {e}")))?
        .map_err(ApiError::invalid_configuration)?;
    let resources = wire::ResourceCounts::from(&loaded.catalog);
    let mut warnings: Vec<_> = loaded.warnings.iter().map(crate::error::diagnostic).collect();
    // Applications whose status source lacks a setting on this server (an Argo CD server or token).
    for (app, missing) in st.engine.status_warnings(&loaded.catalog) {
        warnings.push(crate::error::diagnostic(&ferry_config::Diagnostic {
            severity: ferry_config::Severity::Warning,
            file: format!("Application {app}"),
            document: 0,
            line: 0,
            column: 0,
            field: "spec.status".to_owned(),
            message: missing,
            hint: None,
        }));
    }
    // Workflows whose runner lacks a setting on this server (an Argo Server or token).
    for (workflow, missing) in st.engine.workflow_warnings(&loaded.catalog) {
        warnings.push(crate::error::diagnostic(&ferry_config::Diagnostic {
            severity: ferry_config::Severity::Warning,
            file: format!("Workflow {workflow}"),
            document: 0,
            line: 0,
            column: 0,
            field: "spec.argo".to_owned(),
            message: missing,
            hint: None,
        }));
    }
    let version = st.engine.apply_config(loaded.catalog, actor).await?;
    Ok(Json(wire::ApplyResponse { version, warnings, resources }))
}

/// The configuration in use, one document per resource (credentials in URLs masked).
pub(crate) async fn config<S: Store>(State(st): State<AppState<S>>) -> Result<Json<wire::AppliedConfig>, ApiError> {
    let latest = st.store.latest_config().await?;
    let catalog = st.engine.catalog();
    let resources = wire::AppliedResource::all_of(&catalog, &ferry_git::redact)
        .map_err(|e| ApiError::internal(format!("encoding the configuration: {e}")))?;
    Ok(Json(wire::AppliedConfig {
        version: latest.as_ref().map(|c| c.version),
        applied_at: latest.as_ref().map(|c| c.applied_at),
        applied_by: latest.map(|c| c.applied_by),
        resources,
    }))
}

pub(crate) async fn products<S: Store>(State(st): State<AppState<S>>) -> Json<wire::ProductList> {
    let c = st.engine.catalog();
    Json(wire::ProductList { items: c.products.values().map(|p| dto::product(p, &c)).collect() })
}

pub(crate) async fn environments<S: Store>(State(st): State<AppState<S>>) -> Json<wire::EnvironmentList> {
    let c = st.engine.catalog();
    Json(wire::EnvironmentList { items: c.environments_in_order().into_iter().map(dto::environment).collect() })
}

/// Applications ordered by product, environment (dashboard order) and component.
fn ordered_apps<'a>(c: &'a Catalog, product: Option<&ProductName>) -> Vec<&'a ferry_model::resources::Application> {
    let order: BTreeMap<&EnvName, usize> =
        c.environments_in_order().iter().enumerate().map(|(i, e)| (&e.name, i)).collect();
    let mut apps: Vec<_> = c.applications.values().filter(|a| product.is_none_or(|p| a.product == *p)).collect();
    apps.sort_by_key(|a| (&a.product, order.get(&a.environment).copied().unwrap_or(usize::MAX), &a.component, &a.name));
    apps
}

pub(crate) async fn applications<S: Store>(State(st): State<AppState<S>>) -> Json<wire::ApplicationList> {
    let c = st.engine.catalog();
    Json(wire::ApplicationList { items: ordered_apps(&c, None).into_iter().map(dto::application).collect() })
}

pub(crate) async fn flows<S: Store>(State(st): State<AppState<S>>) -> Json<wire::FlowList> {
    let c = st.engine.catalog();
    Json(wire::FlowList { items: c.flows.values().map(dto::flow).collect() })
}

pub(crate) async fn policies<S: Store>(State(st): State<AppState<S>>) -> Json<wire::PolicyList> {
    let c = st.engine.catalog();
    let mut policies: Vec<_> = c.policies.values().collect();
    policies.sort_by_key(|p| (p.priority, &p.name));
    Json(wire::PolicyList { items: policies.into_iter().map(dto::policy).collect() })
}

pub(crate) async fn workflows<S: Store>(State(st): State<AppState<S>>) -> Json<wire::WorkflowList> {
    let c = st.engine.catalog();
    Json(wire::WorkflowList { items: c.workflows.values().map(dto::workflow).collect() })
}

pub(crate) async fn git_providers<S: Store>(State(st): State<AppState<S>>) -> Json<wire::GitProviderList> {
    let c = st.engine.catalog();
    Json(wire::GitProviderList { items: c.git_providers.values().map(dto::git_provider).collect() })
}

pub(crate) async fn notifications<S: Store>(State(st): State<AppState<S>>) -> Json<wire::NotificationList> {
    let c = st.engine.catalog();
    Json(wire::NotificationList { items: c.notifications.values().map(dto::notification).collect() })
}

pub(crate) async fn product<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(name): PathParam<ProductName>,
) -> Result<Json<wire::ProductDetail>, ApiError> {
    let c = st.engine.catalog();
    let p = c.products.get(&name).ok_or_else(|| unknown_product(&name, &c))?;
    let flows: Vec<_> = p.promotion_flows.iter().filter_map(|s| c.flows.get(&s.flow)).collect();
    let apps = ordered_apps(&c, Some(&name));
    let used: BTreeSet<&EnvName> =
        flows.iter().flat_map(|f| f.environments()).chain(apps.iter().map(|a| &a.environment)).collect();
    let environments =
        c.environments_in_order().into_iter().filter(|e| used.contains(&e.name)).map(|e| e.name.to_string()).collect();
    let (live, latest, events) = tokio::try_join!(
        st.store.app_states(&name),
        st.store.list_releases(ReleaseFilter { product: Some(name.to_string()), limit: 1, ..ReleaseFilter::default() }),
        st.store.product_events(&name, PRODUCT_EVENTS),
    )?;
    Ok(Json(wire::ProductDetail {
        product: dto::product(p, &c),
        flows: flows.into_iter().map(dto::flow).collect(),
        environments,
        applications: apps.into_iter().map(dto::application).collect(),
        live: live.into_iter().map(dto::app_state).collect::<Result<_, _>>()?,
        latest_release: latest.items.into_iter().next().map(release_item).transpose()?,
        events: events.into_iter().map(dto::product_event).collect(),
    }))
}

// ---------------------------------------------------------------------------------------------------
// Releases
// ---------------------------------------------------------------------------------------------------

pub(crate) async fn promote<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(name): PathParam<ProductName>,
    principal: Principal,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    principal.check_scope(name.as_str(), [])?;
    let body: wire::PromoteRequest =
        if bytes.iter().all(u8::is_ascii_whitespace) { wire::PromoteRequest::default() } else { parse_json(&bytes)? };
    let flow = body.flow.map(|f| FlowName::new(f).map_err(|e| ApiError::invalid_field("flow", e))).transpose()?;
    let from = body.from.map(|f| EnvName::new(f).map_err(|e| ApiError::invalid_field("from", e))).transpose()?;
    let to = body.to.map(|t| EnvName::new(t).map_err(|e| ApiError::invalid_field("to", e))).transpose()?;
    match (&flow, &from, &to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::invalid_field("flow", "give either a flow, or from and to, not both"));
        }
        (None, Some(_), None) => return Err(ApiError::invalid_field("to", "required with from")),
        (None, None, Some(_)) => return Err(ApiError::invalid_field("from", "required with to")),
        _ => {}
    }
    let c = st.engine.catalog();
    let Some(product) = c.products.get(&name) else {
        return Err(unknown_product(&name, &c));
    };
    // The environments this promotion changes: the target, or every step of the flow.
    let targets: Vec<&EnvName> = match (&to, &flow) {
        (Some(to), _) => vec![to],
        (None, Some(f)) => c.flows.get(f).map(|f| f.steps.iter().map(|s| &s.environment).collect()).unwrap_or_default(),
        (None, None) => product
            .promotion_flows
            .first()
            .and_then(|s| c.flows.get(&s.flow))
            .map(|f| f.steps.iter().map(|s| &s.environment).collect())
            .unwrap_or_default(),
    };
    principal
        .check_scope(name.as_str(), targets.into_iter().filter_map(|e| c.environments.get(e)).map(|e| e.env_type))?;
    let actor = principal.actor();
    let scope = match (flow, from, to) {
        (Some(flow), _, _) => PromoteScope::Flow(flow),
        (None, Some(from), Some(to)) => PromoteScope::Environment { from, to },
        _ => PromoteScope::FirstFlow,
    };
    let request = PromoteRequest { product: name, scope };
    let promoted = st.engine.promote(request, actor).await?;
    created(&st, promoted.release).await
}

/// `201 Created` with the view of release `id`, just created, and its location.
async fn created<S: Store>(st: &AppState<S>, id: ReleaseId) -> Result<Response, ApiError> {
    let body = release_view(st, &id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("release {id} was created but its view cannot be found")))?;
    let location = format!("/api/v1/releases/{id}");
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(body)).into_response())
}

/// `POST /api/v1/products/{name}/rollback` (SPEC §10): a release of flow `rollback` into one
/// environment. Scope: the product and the environment's type, like a single-environment promotion.
pub(crate) async fn rollback<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(name): PathParam<ProductName>,
    principal: Principal,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    principal.check_scope(name.as_str(), [])?;
    let body: wire::RollbackRequest = parse_json(&bytes)?;
    let env = body.env.ok_or_else(|| ApiError::invalid_field("env", "required: the environment to roll back"))?;
    let env = EnvName::new(env).map_err(|e| ApiError::invalid_field("env", e))?;
    let to = body
        .to
        .map(|t| {
            ReleaseId::from_str(t.trim()).map_err(|e| ApiError::invalid_field("to", format!("not a release id: {e}")))
        })
        .transpose()?;
    let reason = body.reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if let Some(reason) = &reason {
        crate::control::check_length("reason", reason)?;
    }
    let c = st.engine.catalog();
    if !c.products.contains_key(&name) {
        return Err(unknown_product(&name, &c));
    }
    let Some(environment) = c.environments.get(&env) else {
        return Err(ApiError::not_found(format!(
            "unknown environment {:?} (known environments: {})",
            env.as_str(),
            known(c.environments.keys().map(EnvName::as_str))
        )));
    };
    principal.check_scope(name.as_str(), [environment.env_type])?;
    let request = PromoteRequest { product: name, scope: PromoteScope::Rollback { env, to, reason } };
    let promoted = st.engine.promote(request, principal.actor()).await?;
    created(&st, promoted.release).await
}

pub(crate) async fn releases<S: Store>(
    State(st): State<AppState<S>>,
    RawQuery(query): RawQuery,
) -> Result<Json<ReleasePage>, ApiError> {
    let p = Params::parse(query.as_deref(), &["product", "status", "flow", "since", "until", "cursor", "limit"])?;
    let product = p.parsed("product", |v: &str| ProductName::new(v))?.map(String::from);
    let statuses = p
        .all("status")
        .into_iter()
        .map(|s| {
            ReleaseStatus::from_str(s).map(|s| s.as_str().to_owned()).map_err(|e| ApiError::invalid_field("status", e))
        })
        .collect::<Result<BTreeSet<String>, ApiError>>()?;
    let flow = p.parsed("flow", |v: &str| FlowName::new(v))?.map(String::from);
    let since = p.time("since", false)?;
    let until = p.time("until", true)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(ApiError::invalid_field("until", "must be later than since"));
    }
    let before = p.parsed("cursor", |c| {
        ReleaseId::from_str(c)
            .map(|id| id.to_string())
            .map_err(|_| format!("{c:?} is not a cursor returned by this API"))
    })?;
    let limit = p.int("limit", RELEASES_DEFAULT, 1, RELEASES_MAX)?;
    let filter = ReleaseFilter {
        product,
        statuses: statuses.into_iter().collect(),
        flow,
        since,
        until,
        before,
        limit: u32::try_from(limit).unwrap_or(50),
    };
    let page = st.store.list_releases(filter).await?;
    let items = page.items.into_iter().map(release_item).collect::<Result<_, _>>()?;
    Ok(Json(ReleasePage { items, next: page.next }))
}

pub(crate) async fn release<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
) -> Result<Json<std::sync::Arc<ReleaseView>>, ApiError> {
    match release_view(&st, &id).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiError::not_found(format!("no release with id {id}"))),
    }
}

pub(crate) async fn release_events<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
) -> Result<Json<wire::EventList>, ApiError> {
    let events = st.store.release_events(&id).await?;
    if events.is_empty() && st.store.release_view(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no release with id {id}")));
    }
    Ok(Json(wire::EventList { items: events.iter().map(dto::event_item).collect() }))
}

/// Run id → where it belongs, from the runs projection.
fn run_contexts(runs: &[ferry_store::RunRow]) -> BTreeMap<RunId, RunContext> {
    runs.iter()
        .map(|r| {
            let target = &r.run.target;
            let stage = match target {
                RunTarget::Trigger { .. } => "trigger",
                RunTarget::PreAction { .. } => "preAction",
                RunTarget::PostAction { .. } => "postAction",
                RunTarget::EnvironmentHook { .. } => "environmentHook",
                RunTarget::ReleaseHook { .. } => "releaseHook",
            };
            (
                r.run.id,
                RunContext {
                    stage: Some(stage.to_owned()),
                    environment: target.env().map(ToString::to_string),
                    application: target.app().map(ToString::to_string),
                    workflow: Some(r.run.workflow.to_string()),
                },
            )
        })
        .collect()
}

pub(crate) async fn release_logs<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
    RawQuery(query): RawQuery,
) -> Result<Json<wire::LogPage>, ApiError> {
    let p = Params::parse(query.as_deref(), &["run", "step", "env", "app", "after", "limit"])?;
    let run =
        p.parsed("run", |v: &str| RunId::from_str(v).map_err(|_| format!("{v:?} is not a workflow run id (a UUID)")))?;
    let step = p.one("step")?.map(str::to_owned);
    let env = p.parsed("env", |v: &str| EnvName::new(v))?;
    let app = p.parsed("app", |v: &str| AppName::new(v))?;
    let after = p.int("after", 0, 0, i64::MAX)?;
    let limit = p.int("limit", LOGS_DEFAULT, 1, LOGS_MAX)?;
    let limit = u32::try_from(limit).unwrap_or(1000);
    let contexts = run_contexts(&st.store.runs(&id).await?);
    // A release with runs exists; one without is looked up.
    if contexts.is_empty() && st.store.release_view(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no release with id {id}")));
    }
    // Runs of that environment / application (and run), read in one query.
    let runs = if env.is_some() || app.is_some() {
        let runs = contexts.iter().filter(|(r, c)| {
            env.as_ref().is_none_or(|e| c.environment.as_deref() == Some(e.as_str()))
                && app.as_ref().is_none_or(|a| c.application.as_deref() == Some(a.as_str()))
                && run.as_ref().is_none_or(|want| want == *r)
        });
        Some(runs.map(|(r, _)| *r).collect())
    } else {
        run.map(|r| vec![r])
    };
    let mut lines = st.store.logs(LogQuery { release_id: id, runs, step, after, limit }).await?;
    let next = lines.last().map_or(after, |l| l.id);
    let items = lines
        .drain(..)
        .map(|l| {
            let context =
                l.line.run_id.parse::<RunId>().ok().and_then(|r| contexts.get(&r)).cloned().unwrap_or_default();
            dto::log_line(l, context)
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(wire::LogPage { items, next }))
}

pub(crate) async fn events<S: Store>(
    State(st): State<AppState<S>>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(query.as_deref(), &["product", "release", "after"])?;
    let product = p.parsed("product", |v: &str| ProductName::new(v))?;
    let release = p.parsed("release", |v: &str| {
        ReleaseId::from_str(v).map_err(|_| format!("{v:?} is not a release id (a UUID)"))
    })?;
    let filter = match (product, release) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field("release", "give either product or release, not both"));
        }
        (Some(p), None) => EventFilter::Product(p.to_string()),
        (None, Some(r)) => EventFilter::Release(r.to_string()),
        (None, None) => EventFilter::All,
    };
    // A scoped promoter's stream carries only its products.
    let outside = |product: &str| {
        ApiError::forbidden(format!("the token {:?} may not watch product {product:?}", principal.actor()))
    };
    match &filter {
        EventFilter::Product(p) if !principal.sees_product(p) => return Err(outside(p)),
        EventFilter::Release(_) => {
            if let Some(r) = release
                && let Some(view) = release_view(&st, &r).await?
                && !principal.sees_product(&view.product)
            {
                return Err(outside(&view.product));
            }
        }
        _ => {}
    }
    let after = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::invalid_field("Last-Event-ID", "must be an event id (a whole number)"))?,
        ),
        None if p.one("after")?.is_some() => Some(p.int("after", 0, 0, i64::MAX)?),
        None => None,
    };
    let guard = st.metrics.subscriber();
    let keep_alive = st.settings.keep_alive;
    let visible = principal.visible_products();
    Ok(sse::stream(st.store.clone(), filter, after, st.shutdown.clone(), guard, keep_alive, visible).into_response())
}

// ---------------------------------------------------------------------------------------------------
// Status reports and webhooks
// ---------------------------------------------------------------------------------------------------

pub(crate) async fn push_status<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(app): PathParam<AppName>,
    principal: Principal,
    JsonBody(body): JsonBody<wire::StatusReport>,
) -> Result<Response, ApiError> {
    let sync = SyncStatus::from_str(&body.sync).map_err(|e| ApiError::invalid_field("sync", e))?;
    let health = HealthStatus::from_str(&body.health).map_err(|e| ApiError::invalid_field("health", e))?;
    if let Some(r) = &body.revision
        && (r.is_empty() || r.len() > 256)
    {
        return Err(ApiError::invalid_field("revision", "must be 1 to 256 characters"));
    }
    if body.message.as_ref().is_some_and(|m| m.len() > 4096) {
        return Err(ApiError::invalid_field("message", "must be at most 4096 bytes"));
    }
    let c = st.engine.catalog();
    let Some(application) = c.applications.get(&app) else {
        return Err(ApiError::not_found(format!(
            "unknown application {:?} (known applications: {})",
            app.as_str(),
            known(c.applications.keys().map(AppName::as_str))
        )));
    };
    let env_type = c.environments.get(&application.environment).map(|e| e.env_type);
    principal.check_scope(application.product.as_str(), env_type)?;
    let status = PushedStatus { sync, revision: body.revision, health, message: body.message };
    st.engine.push_status(app.clone(), status).await?;
    let accepted = wire::StatusAccepted { application: app.to_string(), accepted: true };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

pub(crate) async fn git_hook<S: Store>(
    State(st): State<AppState<S>>,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    // The server's secret, or a GitProvider's for its repositories.
    let secrets: Vec<crate::auth::signature::WebhookSecret> = st
        .settings
        .webhook_secret
        .iter()
        .cloned()
        .chain(
            st.engine.forge_webhook_secrets().iter().filter_map(|s| crate::auth::signature::WebhookSecret::new(s).ok()),
        )
        .collect();
    let signed = if secrets.is_empty() {
        if st.settings.auth {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "webhooks are refused: this server requires authentication and has no webhook secret \
                 (start it with --webhook-secret-file)",
            ));
        }
        false
    } else {
        let mut results = secrets.iter().map(|s| crate::auth::signature::verify(s, &headers, &bytes));
        let first = results.next();
        if !matches!(first, Some(Ok(()))) && !results.any(|r| r.is_ok()) {
            let message = match first {
                Some(Err(e)) => e.to_string(),
                _ => "the delivery is not signed".to_owned(),
            };
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message));
        }
        true
    };
    // An authentic delivery is audited whatever becomes of it.
    let provider = hooks::provider_of(&headers);
    let actor = if signed { format!("webhook:{provider}") } else { format!("webhook:{provider} (unsigned)") };
    let mut response = git_hook_inner(&st, &headers, &bytes).await.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(crate::auth::AuditActor(actor));
    Ok(response)
}

async fn git_hook_inner<S: Store>(st: &AppState<S>, headers: &HeaderMap, bytes: &[u8]) -> Result<Response, ApiError> {
    if let Some(event) = hooks::pull_request(headers, bytes)? {
        let provider = hooks::wire_provider(hooks::provider_of(headers));
        let (repo, number) = (event.repo.clone(), event.number);
        let ours = st.engine.pull_request_hook(event).await?;
        let message = if ours {
            format!("pull request {repo}#{number}: recorded")
        } else {
            format!("pull request {repo}#{number} is not one Ferry waits for; nothing to do")
        };
        let body = wire::WebhookResponse { ignored: !ours, message, provider: Some(provider), applications: None };
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    match hooks::parse(headers, bytes)? {
        hooks::Hook::Ignored(message) => {
            let body = wire::WebhookResponse { ignored: true, message, provider: None, applications: None };
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        hooks::Hook::Push { provider, push } => {
            let branch = push.branch.clone();
            let accepted = st.engine.git_push(push).await?;
            let n = accepted.applications.len();
            let message =
                format!("push to {branch:?}: {n} application{} will be checked", if n == 1 { "" } else { "s" });
            let body = wire::WebhookResponse {
                ignored: false,
                message,
                provider: Some(hooks::wire_provider(provider)),
                applications: Some(accepted.applications.iter().map(ToString::to_string).collect()),
            };
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn run_contexts_come_from_the_runs_projection() {
        use ferry_model::release::{HookKind, RunId, RunTarget, WorkflowRun};
        let row = |run: u128, workflow: &str, target: RunTarget| ferry_store::RunRow {
            release_id: "r".into(),
            run: WorkflowRun {
                id: RunId(uuid::Uuid::from_u128(run)),
                target,
                workflow: ferry_model::names::WorkflowName::new(workflow).unwrap(),
                steps: vec![],
                error: None,
                started_at: jiff::Timestamp::UNIX_EPOCH,
                retired: false,
            },
            detailed: true,
        };
        let qa = ferry_model::names::EnvName::new("qa").unwrap();
        let app = ferry_model::names::AppName::new("shop-api-qa").unwrap();
        let targets = [
            RunTarget::Trigger { env: qa.clone(), app: app.clone() },
            RunTarget::PreAction { env: qa.clone(), app: app.clone() },
            RunTarget::EnvironmentHook { env: qa.clone(), hook: HookKind::OnFail },
        ];
        let mut events: Vec<_> = vec![
            row(1, "e2e", RunTarget::PostAction { env: qa, app }),
            row(2, "notify", RunTarget::ReleaseHook { hook: HookKind::OnStart }),
        ];
        events.extend(targets.iter().enumerate().map(|(i, t)| row(10 + i as u128, "w", t.clone())));
        // The stage is the target's `kind` as the event log spells it.
        for r in &events {
            let kind = serde_json::to_value(&r.run.target).unwrap()["kind"].as_str().unwrap().to_owned();
            assert_eq!(run_contexts(std::slice::from_ref(r))[&r.run.id].stage, Some(kind));
        }
        let runs = run_contexts(&events);
        assert_eq!(runs.len(), 5);
        let first = RunId(uuid::Uuid::from_u128(1));
        let second = RunId(uuid::Uuid::from_u128(2));
        assert_eq!(runs[&first].environment.as_deref(), Some("qa"));
        assert_eq!(runs[&first].application.as_deref(), Some("shop-api-qa"));
        assert_eq!(runs[&first].stage.as_deref(), Some("postAction"));
        assert_eq!(runs[&second].stage.as_deref(), Some("releaseHook"));
        assert_eq!(runs[&second].environment, None);
    }
}
