//! Request handlers.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use axum::Json;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_api::{ReleaseItem, ReleasePage, ReleaseView};
use ferry_engine::{PromoteRequest, PushedStatus};
use ferry_model::resources::Catalog;
use ferry_model::status::{HealthStatus, ReleaseStatus, SyncStatus};
use ferry_model::{AppName, EnvName, FlowName, ProductName, ReleaseId};
use ferry_store::{EventFilter, LogQuery, ReleaseFilter, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Principal;
use crate::body::{JsonBody, RawBody, parse_json};
use crate::dto::*;
use crate::error::ApiError;
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

/// One path parameter, with a JSON error when it cannot be decoded.
pub(crate) struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

fn product_name(raw: &str, field: &str) -> Result<ProductName, ApiError> {
    ProductName::new(raw).map_err(|e| ApiError::invalid_field(field, e))
}

fn release_id(raw: &str) -> Result<String, ApiError> {
    ReleaseId::from_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::invalid_field("id", format!("{raw:?} is not a release id (a UUID)")))
}

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

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn readyz<S: Store>(State(st): State<AppState<S>>) -> Result<Json<Value>, ApiError> {
    st.store
        .kv_get("ferry.readyz")
        .await
        .map_err(|e| ApiError::unavailable(format!("the store is not reachable: {e}")))?;
    Ok(Json(json!({"status": "ready"})))
}

pub(crate) async fn metrics<S: Store>(State(st): State<AppState<S>>) -> Response {
    let active = st.store.active_releases().await.ok().map(|ids| ids.len());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.metrics.render(active)).into_response()
}

pub(crate) async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyBody {
    sources: Vec<SourceBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceBody {
    name: String,
    text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Applied {
    version: i64,
    warnings: Vec<ferry_config::Diagnostic>,
    resources: BTreeMap<&'static str, usize>,
}

/// Number of resources of each kind.
pub(crate) fn counts(c: &Catalog) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("environments", c.environments.len()),
        ("applications", c.applications.len()),
        ("products", c.products.len()),
        ("promotionTemplates", c.templates.len()),
        ("promotionFlows", c.flows.len()),
        ("promotionPolicies", c.policies.len()),
        ("workflows", c.workflows.len()),
    ])
}

pub(crate) async fn apply<S: Store>(
    State(st): State<AppState<S>>,
    principal: Principal,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Result<Json<Value>, ApiError> {
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
    let resources = counts(&loaded.catalog);
    let mut warnings = loaded.warnings;
    // Applications whose status source lacks a setting on this server (an Argo CD server or token).
    for (app, missing) in st.engine.status_warnings(&loaded.catalog) {
        warnings.push(ferry_config::Diagnostic {
            severity: ferry_config::Severity::Warning,
            file: format!("Application {app}"),
            document: 0,
            line: 0,
            column: 0,
            field: "spec.status".to_owned(),
            message: missing,
            hint: None,
        });
    }
    let version = st.engine.apply_config(loaded.catalog, actor).await?;
    let applied = Applied { version, warnings, resources };
    Ok(Json(serde_json::to_value(applied).map_err(|e| ApiError::internal(e.to_string()))?))
}

pub(crate) async fn products<S: Store>(State(st): State<AppState<S>>) -> Json<List<ProductDto>> {
    let c = st.engine.catalog();
    Json(List { items: c.products.values().map(|p| ProductDto::new(p, &c)).collect() })
}

pub(crate) async fn environments<S: Store>(State(st): State<AppState<S>>) -> Json<List<EnvironmentDto>> {
    let c = st.engine.catalog();
    Json(List { items: c.environments_in_order().into_iter().map(EnvironmentDto::from).collect() })
}

/// Applications ordered by product, environment (dashboard order) and component.
fn ordered_apps<'a>(c: &'a Catalog, product: Option<&ProductName>) -> Vec<&'a ferry_model::resources::Application> {
    let order: BTreeMap<&EnvName, usize> =
        c.environments_in_order().iter().enumerate().map(|(i, e)| (&e.name, i)).collect();
    let mut apps: Vec<_> = c.applications.values().filter(|a| product.is_none_or(|p| a.product == *p)).collect();
    apps.sort_by_key(|a| (&a.product, order.get(&a.environment).copied().unwrap_or(usize::MAX), &a.component, &a.name));
    apps
}

pub(crate) async fn applications<S: Store>(State(st): State<AppState<S>>) -> Json<List<ApplicationDto>> {
    let c = st.engine.catalog();
    Json(List { items: ordered_apps(&c, None).into_iter().map(ApplicationDto::from).collect() })
}

pub(crate) async fn flows<S: Store>(State(st): State<AppState<S>>) -> Json<List<FlowDto>> {
    let c = st.engine.catalog();
    Json(List { items: c.flows.values().map(FlowDto::from).collect() })
}

pub(crate) async fn policies<S: Store>(State(st): State<AppState<S>>) -> Json<List<PolicyDto>> {
    let c = st.engine.catalog();
    let mut policies: Vec<_> = c.policies.values().collect();
    policies.sort_by_key(|p| (p.priority, &p.name));
    Json(List { items: policies.into_iter().map(PolicyDto::from).collect() })
}

pub(crate) async fn workflows<S: Store>(State(st): State<AppState<S>>) -> Json<List<WorkflowDto>> {
    let c = st.engine.catalog();
    Json(List { items: c.workflows.values().map(WorkflowDto::from).collect() })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductDetail {
    product: ProductDto,
    flows: Vec<FlowDto>,
    environments: Vec<String>,
    applications: Vec<ApplicationDto>,
    live: Vec<AppStateDto>,
    latest_release: Option<ReleaseItem>,
    events: Vec<ProductEventDto>,
}

pub(crate) async fn product<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, ApiError> {
    let name = product_name(&raw, "name")?;
    let c = st.engine.catalog();
    let p = c.products.get(&name).ok_or_else(|| unknown_product(&name, &c))?;
    let flows: Vec<_> = p.promotion_flows.iter().filter_map(|s| c.flows.get(&s.flow)).collect();
    let apps = ordered_apps(&c, Some(&name));
    let used: BTreeSet<&EnvName> =
        flows.iter().flat_map(|f| f.environments()).chain(apps.iter().map(|a| &a.environment)).collect();
    let environments =
        c.environments_in_order().into_iter().filter(|e| used.contains(&e.name)).map(|e| e.name.to_string()).collect();
    let (live, latest, events) = tokio::try_join!(
        st.store.app_states(name.as_str()),
        st.store.list_releases(ReleaseFilter { product: Some(name.to_string()), limit: 1, ..ReleaseFilter::default() }),
        st.store.product_events(name.as_str(), PRODUCT_EVENTS),
    )?;
    let detail = ProductDetail {
        product: ProductDto::new(p, &c),
        flows: flows.into_iter().map(FlowDto::from).collect(),
        environments,
        applications: apps.into_iter().map(ApplicationDto::from).collect(),
        live: live.into_iter().map(AppStateDto::from).collect(),
        latest_release: latest.items.into_iter().next().map(release_item).transpose()?,
        events: events.into_iter().map(ProductEventDto::from).collect(),
    };
    Ok(Json(serde_json::to_value(detail).map_err(|e| ApiError::internal(e.to_string()))?))
}

// ---------------------------------------------------------------------------------------------------
// Releases
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

pub(crate) async fn promote<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(raw): PathParam,
    principal: Principal,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let name = product_name(&raw, "name")?;
    principal.check_scope(name.as_str(), [])?;
    let body: PromoteBody =
        if bytes.iter().all(u8::is_ascii_whitespace) { PromoteBody::default() } else { parse_json(&bytes)? };
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
    let request = PromoteRequest {
        product: name.to_string(),
        flow: flow.map(String::from),
        from: from.map(String::from),
        to: to.map(String::from),
    };
    let promoted = st.engine.promote(request, actor).await?;
    let id = promoted.release.to_string();
    let body = stored_view(&st.store, &id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("release {id} was created but its view cannot be found")))?;
    let location = format!("/api/v1/releases/{id}");
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(body)).into_response())
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
    PathParam(raw): PathParam,
) -> Result<Json<ReleaseView>, ApiError> {
    let id = release_id(&raw)?;
    match stored_view(&st.store, &id).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiError::not_found(format!("no release with id {id}"))),
    }
}

pub(crate) async fn release_events<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, ApiError> {
    let id = release_id(&raw)?;
    let events = st.store.release_events(&id).await?;
    if events.is_empty() && st.store.release_view(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no release with id {id}")));
    }
    let items: Vec<EventDto<'_>> = events.iter().map(EventDto::from).collect();
    Ok(Json(json!({ "items": items })))
}

/// Run id → where it belongs, from the release's `WorkflowRunStarted` events.
fn run_contexts(events: &[ferry_store::StoredEvent]) -> BTreeMap<String, RunContext> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    events
        .iter()
        .filter(|e| e.body.get("type").and_then(Value::as_str) == Some("WorkflowRunStarted"))
        .filter_map(|e| {
            let run = text(&e.body, "runId")?;
            let target = e.body.get("target").cloned().unwrap_or(Value::Null);
            Some((
                run,
                RunContext {
                    stage: text(&target, "kind"),
                    environment: text(&target, "env"),
                    application: text(&target, "app"),
                    workflow: text(&e.body, "workflow"),
                },
            ))
        })
        .collect()
}

pub(crate) async fn release_logs<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(raw): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id = release_id(&raw)?;
    let p = Params::parse(query.as_deref(), &["run", "step", "env", "app", "after", "limit"])?;
    let run = p.one("run")?.map(str::to_owned);
    let step = p.one("step")?.map(str::to_owned);
    let env = p.parsed("env", |v: &str| EnvName::new(v))?;
    let app = p.parsed("app", |v: &str| AppName::new(v))?;
    let after = p.int("after", 0, 0, i64::MAX)?;
    let limit = p.int("limit", LOGS_DEFAULT, 1, LOGS_MAX)?;
    let limit = u32::try_from(limit).unwrap_or(1000);
    if st.store.release_view(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no release with id {id}")));
    }
    let contexts = run_contexts(&st.store.release_events(&id).await?);
    let query = |run_id: Option<String>| LogQuery { release_id: id.clone(), run_id, step: step.clone(), after, limit };
    let mut lines = if env.is_some() || app.is_some() {
        // Runs of that environment / application; each queried on its own, then merged in id order.
        let runs: Vec<String> = contexts
            .iter()
            .filter(|(r, c)| {
                env.as_ref().is_none_or(|e| c.environment.as_deref() == Some(e.as_str()))
                    && app.as_ref().is_none_or(|a| c.application.as_deref() == Some(a.as_str()))
                    && run.as_ref().is_none_or(|want| want == *r)
            })
            .map(|(r, _)| r.clone())
            .collect();
        let mut lines = Vec::new();
        for r in runs {
            lines.extend(st.store.logs(query(Some(r))).await?);
        }
        lines.sort_by_key(|l| l.id);
        lines.truncate(limit as usize);
        lines
    } else {
        st.store.logs(query(run.clone())).await?
    };
    let next = lines.last().map_or(after, |l| l.id);
    let items: Vec<LogLineDto> = lines
        .drain(..)
        .map(|l| {
            let context = contexts.get(&l.line.run_id).cloned().unwrap_or_default();
            LogLineDto::new(l, context)
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": next })))
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
        ReleaseId::from_str(v).map(|id| id.to_string()).map_err(|_| format!("{v:?} is not a release id (a UUID)"))
    })?;
    let filter = match (product, release) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field("release", "give either product or release, not both"));
        }
        (Some(p), None) => EventFilter::Product(p.to_string()),
        (None, Some(r)) => EventFilter::Release(r),
        (None, None) => EventFilter::All,
    };
    // A scoped promoter's stream carries only its products.
    let outside = |product: &str| {
        ApiError::forbidden(format!("the token {:?} may not watch product {product:?}", principal.actor()))
    };
    match &filter {
        EventFilter::Product(p) if !principal.sees_product(p) => return Err(outside(p)),
        EventFilter::Release(r) => {
            if let Some(view) = stored_view(&st.store, r).await?
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    sync: String,
    #[serde(default)]
    revision: Option<String>,
    health: String,
    #[serde(default)]
    message: Option<String>,
}

pub(crate) async fn push_status<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(raw): PathParam,
    principal: Principal,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Response, ApiError> {
    let app = AppName::new(raw).map_err(|e| ApiError::invalid_field("name", e))?;
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
    let status = PushedStatus {
        sync: sync.as_str().to_owned(),
        revision: body.revision,
        health: health.as_str().to_owned(),
        message: body.message,
    };
    st.engine.push_status(app.to_string(), status).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "application": app, "accepted": true }))).into_response())
}

pub(crate) async fn git_hook<S: Store>(
    State(st): State<AppState<S>>,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let signed = match &st.settings.webhook_secret {
        Some(secret) => {
            crate::auth::signature::verify(secret, &headers, &bytes)
                .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))?;
            true
        }
        None if st.settings.auth => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "webhooks are refused: this server requires authentication and has no webhook secret \
                 (start it with --webhook-secret-file)",
            ));
        }
        None => false,
    };
    // An authentic delivery is audited whatever becomes of it.
    let provider = hooks::provider_of(&headers);
    let actor = if signed { format!("webhook:{provider}") } else { format!("webhook:{provider} (unsigned)") };
    let mut response = git_hook_inner(&st, &headers, &bytes).await.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(crate::auth::AuditActor(actor));
    Ok(response)
}

async fn git_hook_inner<S: Store>(st: &AppState<S>, headers: &HeaderMap, bytes: &[u8]) -> Result<Response, ApiError> {
    match hooks::parse(headers, bytes)? {
        hooks::Hook::Ignored(message) => {
            Ok((StatusCode::ACCEPTED, Json(json!({ "ignored": true, "message": message }))).into_response())
        }
        hooks::Hook::Push { provider, push } => {
            let branch = push.branch.clone();
            let accepted = st.engine.git_push(push).await?;
            let n = accepted.applications.len();
            let message =
                format!("push to {branch:?}: {n} application{} will be checked", if n == 1 { "" } else { "s" });
            let body = json!({
                "ignored": false, "provider": provider, "message": message, "applications": accepted.applications,
            });
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_contexts_come_from_run_started_events() {
        let event = |seq: i64, body: Value| ferry_store::StoredEvent {
            gid: seq + 1,
            release_id: "r".into(),
            product: "shop".into(),
            seq,
            at: jiff::Timestamp::UNIX_EPOCH,
            body,
        };
        // The events as the engine stores them: serialised model events.
        use ferry_model::release::{HookKind, ReleaseEvent, RunId, RunTarget};
        let started = |run: u128, workflow: &str, target: RunTarget| {
            serde_json::to_value(ReleaseEvent::WorkflowRunStarted {
                run_id: RunId(uuid::Uuid::from_u128(run)),
                target,
                workflow: ferry_model::names::WorkflowName::new(workflow).unwrap(),
                steps: vec![],
                at: jiff::Timestamp::UNIX_EPOCH,
            })
            .unwrap()
        };
        let qa = ferry_model::names::EnvName::new("qa").unwrap();
        let app = ferry_model::names::AppName::new("shop-api-qa").unwrap();
        let events = [
            event(0, json!({"type": "Created"})),
            event(1, started(1, "e2e", RunTarget::PostAction { env: qa, app })),
            event(2, started(2, "notify", RunTarget::ReleaseHook { hook: HookKind::OnStart })),
        ];
        let runs = run_contexts(&events);
        assert_eq!(runs.len(), 2);
        let first = uuid::Uuid::from_u128(1).to_string();
        let second = uuid::Uuid::from_u128(2).to_string();
        assert_eq!(runs[&first].environment.as_deref(), Some("qa"));
        assert_eq!(runs[&first].application.as_deref(), Some("shop-api-qa"));
        assert_eq!(runs[&first].stage.as_deref(), Some("postAction"));
        assert_eq!(runs[&second].stage.as_deref(), Some("releaseHook"));
        assert_eq!(runs[&second].environment, None);
    }
}
