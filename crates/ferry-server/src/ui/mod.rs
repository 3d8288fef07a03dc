//! The web UI (SPEC §7.3): server-rendered pages that read without JavaScript, and one small script
//! that follows the live event stream and swaps in fresh page fragments, and opens step, issue and
//! release-notes panels.
//!
//! | route | page |
//! |---|---|
//! | `GET /` | products, each with its latest release |
//! | `GET /products/{name}` | environment × component matrix and the releases table (filters, cursor pages) |
//! | `GET /flows/{name}` | a promotion flow drawn as a graph |
//! | `GET /releases/{id}` | a release: header, counters, actions, issues, environment graph, environment cards |
//! | `GET /releases/{id}/steps` | `run=…&step=…` a step's runs, logs and definition; `issue=…` an issue |
//! | `GET /releases/{id}/notes[?firstParent=true]` | release notes: promotion commits, and the commits, pull requests, issues and images since the previous revisions (SPEC §5) |
//! | `POST /releases/{id}/terminate` | form `reason` (+ `confirm=yes` on the confirmation page) → 303 |
//! | `POST /releases/{id}/retry` | → 303 |
//! | `GET /notifications/failed` | admins: failed notifications, each with a redeliver button |
//! | `POST /notifications/failed/{id}/redeliver` | admins: redeliver one → 303 |
//! | `GET /signin`, `POST /signin` | sign in with a token (form `token`) → session cookie, 303 |
//! | `POST /signout` | ends the session → 303 |
//! | `GET /assets/{file}` | the stylesheet and the script, compiled in |
//!
//! Every form post carries the CSRF token (see [`session`]).
//!
//! Pages that update live take `fragment=body` (`fragment=panel` for panels) and answer only the part
//! the script replaces. These routes are not part of the API: they are not in `ROUTES` nor in the
//! OpenAPI document.

mod assets;
mod format;
mod graph;
mod notifications;
mod pages;
pub(crate) mod session;
mod status;
mod view;

use std::collections::VecDeque;
use std::str::FromStr;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_model::release::{ReleaseState, RunId, WorkflowRun};
use ferry_model::{FlowName, ProductName, ReleaseId, WorkflowName};
use ferry_store::{LogQuery, ReleaseFilter, Store};
use jiff::Timestamp;

use crate::AppState;
use crate::auth::{Access, Principal};
use crate::control::MAX_REASON;
use crate::error::ApiError;
use crate::params::{Params, parse_time};
use crate::routes::{Route, Table};
use ferry_api::{IssueKind, ReleaseView};
use pages::{Crumb, PageMeta};
use view::{ReleaseViewExt, issue_text};

/// Rows of the releases table per page.
const PAGE_SIZE: u32 = 25;
/// Log lines shown per step (the tail); the full log is one link away.
const LOG_TAIL: usize = 200;
/// Log lines read per store query while looking for the tail, and the most queries per step.
const LOG_PAGE: u32 = 10_000;
const LOG_PAGES: usize = 100;

/// The UI's routes and who may use them (not API routes: not in the OpenAPI document).
pub const ROUTES: &[Route] = &[
    ui_route("GET", "/", Access::Read, "ui.products"),
    ui_route("GET", "/products/{name}", Access::Read, "ui.product"),
    ui_route("GET", "/products/{name}/dora", Access::Read, "ui.dora"),
    ui_route("GET", "/flows/{name}", Access::Read, "ui.flow"),
    ui_route("GET", "/releases/{id}", Access::Read, "ui.release"),
    ui_route("GET", "/releases/{id}/steps", Access::Read, "ui.step"),
    ui_route("GET", "/releases/{id}/notes", Access::Read, "ui.notes"),
    ui_route("POST", "/releases/{id}/terminate", Access::Promote, "release.terminate"),
    ui_route("POST", "/releases/{id}/retry", Access::Promote, "release.retry"),
    ui_route("POST", "/products/{name}/rollback", Access::Promote, "product.rollback"),
    ui_route("GET", "/notifications/failed", Access::Admin, "ui.notifications"),
    ui_route("POST", "/notifications/failed/{id}/redeliver", Access::Admin, "notification.redeliver"),
    ui_route("GET", "/signin", Access::Public, "ui.signin"),
    ui_route("POST", "/signin", Access::Public, "session.signin"),
    ui_route("POST", "/signout", Access::Public, "session.signout"),
    ui_route("GET", "/assets/{name}", Access::Public, "ui.assets"),
];

const fn ui_route(method: &'static str, path: &'static str, access: Access, action: &'static str) -> Route {
    Route { method, path, access, action }
}

/// The UI's router (merged into the server's router).
pub(crate) fn table<S: Store>() -> Table<S> {
    let (get, post) = (Method::GET, Method::POST);
    Table::new()
        .add(get.clone(), "/", products::<S>)
        .add(get.clone(), "/products/{name}", product::<S>)
        .add(get.clone(), "/products/{name}/dora", dora::<S>)
        .add(get.clone(), "/flows/{name}", flow::<S>)
        .add(get.clone(), "/releases/{id}", release::<S>)
        .add(get.clone(), "/releases/{id}/steps", step::<S>)
        .add(get.clone(), "/releases/{id}/notes", notes::<S>)
        .add(post.clone(), "/releases/{id}/terminate", terminate::<S>)
        .add(post.clone(), "/releases/{id}/retry", retry::<S>)
        .add(post.clone(), "/products/{name}/rollback", rollback::<S>)
        .add(get.clone(), "/notifications/failed", notifications::failed::<S>)
        .add(post.clone(), "/notifications/failed/{id}/redeliver", notifications::redeliver::<S>)
        .add(get.clone(), "/signin", session::sign_in_form::<S>)
        .add(post.clone(), "/signin", session::sign_in::<S>)
        .add(post, "/signout", session::sign_out::<S>)
        .add(get, "/assets/{name}", assets::serve)
}

/// An HTML error page (for refusals made before a UI handler runs).
pub(crate) fn error_page(status: StatusCode, message: impl Into<String>) -> Response {
    UiError::new(status, message).into_response()
}

pub(crate) use session::to_sign_in;

/// Whether a request path belongs to the UI (for HTML error pages on unknown routes).
pub(crate) fn is_ui_path(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics" || path == "/healthz" || path == "/readyz")
}

/// The HTML 404 page of an unknown route that a browser asked for.
pub(crate) fn not_found_page(path: &str) -> Response {
    UiError::not_found(format!("There is no page at {path}.")).into_response()
}

/// Content-Security-Policy of every UI response: no inline script or style, nothing from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the Content-Security-Policy and the other protective headers to every response (pages, error
/// pages written before routing, and API answers alike).
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

// ---------------------------------------------------------------------------------------------------
// Responses and errors
// ---------------------------------------------------------------------------------------------------

/// An error answered as an HTML page.
#[derive(Debug)]
pub(crate) struct UiError {
    status: StatusCode,
    message: String,
    details: Vec<String>,
}

impl UiError {
    fn new(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError { status, message: message.into(), details: Vec::new() }
    }

    fn not_found(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::NOT_FOUND, message)
    }

    fn bad_request(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> UiError {
        let details = if e.details.len() == 1 && e.details[0] == e.message { Vec::new() } else { e.details };
        UiError { status: e.status, message: e.message, details }
    }
}

impl From<ferry_store::StoreError> for UiError {
    fn from(e: ferry_store::StoreError) -> UiError {
        ApiError::from(e).into()
    }
}

impl From<ferry_engine::EngineError> for UiError {
    fn from(e: ferry_engine::EngineError) -> UiError {
        ApiError::from(e).into()
    }
}

fn reason_phrase(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), message = %self.message, "page failed");
        }
        let title = format!("{} {}", self.status.as_u16(), reason_phrase(self.status));
        let page = pages::ErrorPage {
            page: PageMeta::new(title.clone(), vec![crumb("Products", "/"), here(title)]),
            message: self.message,
            details: self.details,
        };
        html(self.status, &page)
    }
}

/// Answered when a template cannot be rendered (a bug): a fixed page, no template involved.
fn render_failed(e: &askama::Error) -> Response {
    tracing::warn!(error = %e, "a page template failed to render");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>500 Internal Server Error</title>\
         <h1>500 Internal Server Error</h1><p>The page could not be rendered. The server log has the details.</p>\
         <p><a href=\"/\">Products</a></p></html>",
    )
        .into_response()
}

/// Renders a template as an HTML response (never cached: pages show live state).
fn html<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(body) => {
            (status, [(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-store")], body).into_response()
        }
        Err(e) => render_failed(&e),
    }
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, location.to_owned())]).into_response()
}

fn crumb(label: impl Into<String>, href: impl Into<String>) -> Crumb {
    Crumb { label: label.into(), href: Some(href.into()) }
}

fn here(label: impl Into<String>) -> Crumb {
    Crumb { label: label.into(), href: None }
}

/// `fragment=` value, checked against what the page offers.
fn fragment(p: &Params, offered: &str) -> Result<bool, UiError> {
    match p.one("fragment")? {
        None => Ok(false),
        Some(f) if f == offered => Ok(true),
        Some(f) => Err(UiError::bad_request(format!("fragment: {f:?} is not a part of this page (try {offered:?})"))),
    }
}

/// The release id of a path, and its text (for links).
fn parse_release(raw: &str) -> Result<(ReleaseId, String), UiError> {
    ReleaseId::from_str(raw)
        .map(|id| (id, id.to_string()))
        .map_err(|_| UiError::bad_request(format!("{raw:?} is not a release id")))
}

async fn load_release<S: Store>(st: &AppState<S>, id: &ReleaseId) -> Result<std::sync::Arc<ReleaseView>, UiError> {
    match crate::dto::release_view(st, id).await? {
        Some(view) => Ok(view),
        None => Err(UiError::not_found(format!("There is no release with id {id}."))),
    }
}

// ---------------------------------------------------------------------------------------------------
// Products, product, flow
// ---------------------------------------------------------------------------------------------------

async fn products<S: Store>(State(st): State<AppState<S>>, RawQuery(q): RawQuery) -> Result<Response, UiError> {
    let p = Params::parse(q.as_deref(), &["fragment"])?;
    let catalog = st.engine.catalog();
    let latest = st.store.latest_releases().await?;
    let d = pages::products(&catalog, &latest);
    if fragment(&p, "body")? {
        return Ok(html(StatusCode::OK, &pages::ProductsFragment { d }));
    }
    let page = PageMeta::new("Products", vec![here("Products")]).live(
        "/api/v1/events".to_owned(),
        "/?fragment=body".to_owned(),
        "products-body",
    );
    Ok(html(StatusCode::OK, &pages::ProductsPage { page, d }))
}

/// Reads the filter form; problems are reported on the page, not as an error page.
fn read_filters(p: &Params, name: &str) -> (pages::Filters, Result<ReleaseFilter, String>) {
    let text = |k: &str| p.one(k).ok().flatten().unwrap_or("").trim().to_owned();
    let filters = pages::Filters {
        since: text("since"),
        until: text("until"),
        status: text("status"),
        flow: text("flow"),
        cursor: text("cursor"),
        columns: text("columns"),
    };
    let check = || -> Result<ReleaseFilter, String> {
        for k in ["since", "until", "status", "flow", "cursor"] {
            p.one(k).map_err(|e| e.message)?;
        }
        let since = (!filters.since.is_empty())
            .then(|| parse_time(&filters.since, false).map_err(|e| format!("From: {e}")))
            .transpose()?;
        let until = (!filters.until.is_empty())
            .then(|| parse_time(&filters.until, true).map_err(|e| format!("To: {e}")))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err("To must be later than From".to_owned());
        }
        let statuses = if filters.status.is_empty() {
            Vec::new()
        } else {
            let s =
                ferry_model::status::ReleaseStatus::from_str(&filters.status).map_err(|e| format!("Status: {e}"))?;
            vec![s.as_str().to_owned()]
        };
        let flow = (!filters.flow.is_empty())
            .then(|| FlowName::new(filters.flow.clone()).map(String::from).map_err(|e| format!("Flow: {e}")))
            .transpose()?;
        let before = (!filters.cursor.is_empty())
            .then(|| {
                ReleaseId::from_str(&filters.cursor)
                    .map(|id| id.to_string())
                    .map_err(|_| format!("{:?} is not a page cursor", filters.cursor))
            })
            .transpose()?;
        Ok(ReleaseFilter { product: Some(name.to_owned()), statuses, flow, since, until, before, limit: PAGE_SIZE })
    };
    let result = check();
    (filters, result)
}

async fn product<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    let name = ProductName::new(raw.clone()).map_err(|e| UiError::bad_request(format!("product {raw:?}: {e}")))?;
    let p = Params::parse(q.as_deref(), &["since", "until", "status", "flow", "cursor", "fragment", "columns"])?;
    let as_fragment = fragment(&p, "body")?;
    let column_group = usize::try_from(p.int("columns", 1, 1, 1_000_000)?).unwrap_or(1);
    let catalog = st.engine.catalog();
    let (filters, filter) = read_filters(&p, name.as_str());
    let (rows, next, error, status) = match filter {
        Ok(filter) => {
            let page = st.store.list_releases(filter).await?;
            (page.items, page.next, None, StatusCode::OK)
        }
        Err(message) => (Vec::new(), None, Some(message), StatusCode::BAD_REQUEST),
    };
    let live = st.store.app_states(&name).await?;
    if !catalog.products.contains_key(&name) && rows.is_empty() && live.is_empty() && !filters.active() {
        return Err(UiError::not_found(format!("There is no product {:?}.", name.as_str())));
    }
    let mut pairs: Vec<(&str, &str)> = vec![
        ("since", &filters.since),
        ("until", &filters.until),
        ("status", &filters.status),
        ("flow", &filters.flow),
        ("cursor", &filters.cursor),
        ("columns", &filters.columns),
    ];
    pairs.push(("fragment", "body"));
    let fragment_url = format!("{}{}", pages::product_href(name.as_str()), format::query(&pairs));
    let freezes = pages::freeze_lines(&st.engine.freeze_set(), name.as_str(), None, jiff::Timestamp::now());
    let d = pages::product(pages::ProductInput {
        catalog: &catalog,
        name: name.as_str(),
        live: &live,
        rows: &rows,
        next: next.as_deref(),
        filters,
        error,
        column_group,
        freezes,
    });
    if as_fragment {
        return Ok(html(status, &pages::ProductFragment { d }));
    }
    let page = PageMeta::new(
        format!("{} · Releases", name.as_str()),
        vec![crumb("Products", "/"), here(name.as_str())],
    )
    .live(format!("/api/v1/events{}", format::query(&[("product", name.as_str())])), fragment_url, "product-body");
    Ok(html(status, &pages::ProductPage { page, d }))
}

/// `/products/{name}/dora[?env=E][&since=DATE]`: the product's DORA metrics, charts per week.
async fn dora<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    let product = ProductName::new(raw.clone()).map_err(|e| UiError::bad_request(format!("product {raw:?}: {e}")))?;
    let p = Params::parse(q.as_deref(), &["env", "since"])?;
    let env = p.parsed("env", |v: &str| ferry_model::EnvName::new(v))?;
    let since = p.time("since", false)?;
    let query = crate::dora::DoraQuery { product, env: env.clone(), since };
    let report = crate::dora::report(&st, query, Timestamp::now()).await?;
    Ok(html(StatusCode::OK, &pages::dora_page(&report, env.as_ref().map(|e| e.as_str()))))
}

async fn flow<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    Params::parse(q.as_deref(), &[])?;
    let name = FlowName::new(raw.clone()).map_err(|e| UiError::bad_request(format!("flow {raw:?}: {e}")))?;
    let catalog = st.engine.catalog();
    let Some(flow) = catalog.flows.get(&name) else {
        return Err(UiError::not_found(format!(
            "There is no promotion flow {:?} in the configuration.",
            name.as_str()
        )));
    };
    Ok(html(StatusCode::OK, &pages::flow_page(&catalog, flow)))
}

// ---------------------------------------------------------------------------------------------------
// Release
// ---------------------------------------------------------------------------------------------------

fn release_meta(v: &ReleaseView, options: pages::ReleaseOptions) -> PageMeta {
    let id = v.id.to_string();
    let short = pages::short_id(&id);
    PageMeta::new(
        format!("Release {short} · {}", v.product),
        vec![
            crumb("Products", "/"),
            crumb(v.product.clone(), pages::product_href(&v.product)),
            here(format!("Release {short}")),
        ],
    )
    .live(
        format!("/api/v1/events{}", format::query(&[("release", &id)])),
        options.href(&id, &[("fragment", "body")]),
        "release-body",
    )
}

/// The release page, optionally with an error from an action that failed.
fn release_response(v: &ReleaseView, status: StatusCode, error: Option<String>, show_hooks: bool) -> Response {
    release_page(v, status, error, show_hooks, pages::ReleaseOptions::default(), &Default::default())
}

fn release_page(
    v: &ReleaseView,
    status: StatusCode,
    error: Option<String>,
    show_hooks: bool,
    options: pages::ReleaseOptions,
    freezes: &ferry_model::freeze::FreezeSet,
) -> Response {
    let mut d = pages::release(v, Timestamp::now(), options);
    pages::add_card_freezes(&mut d, freezes, &v.product, Timestamp::now());
    d.error = error;
    d.show_hooks = show_hooks;
    html(status, &pages::ReleasePage { page: release_meta(v, options), d })
}

async fn release<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    let p = Params::parse(q.as_deref(), &["fragment", "hooks", "cards", "expand"])?;
    let (rid, _) = parse_release(&raw)?;
    let as_fragment = fragment(&p, "body")?;
    let show_hooks = matches!(p.one("hooks")?, Some("1" | "show" | "true"));
    let all_cards = match p.one("cards")? {
        None => false,
        Some("all") => true,
        Some(other) => {
            return Err(UiError::bad_request(format!("cards={other:?} is not known; use cards=all for every card")));
        }
    };
    let expand = graph::Expand::parse(p.one("expand")?).map_err(UiError::bad_request)?;
    let options = pages::ReleaseOptions { all_cards, expand };
    let v = load_release(&st, &rid).await?;
    let freezes = st.engine.freeze_set();
    if as_fragment {
        let mut d = pages::release(&v, Timestamp::now(), options);
        pages::add_card_freezes(&mut d, &freezes, &v.product, Timestamp::now());
        d.show_hooks = show_hooks;
        return Ok(html(StatusCode::OK, &pages::ReleaseFragment { d }));
    }
    Ok(release_page(&v, StatusCode::OK, None, show_hooks, options, &freezes))
}

async fn notes<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    let p = Params::parse(q.as_deref(), &["fragment", "firstParent"])?;
    let (rid, id) = parse_release(&raw)?;
    let as_fragment = fragment(&p, "panel")?;
    let first_parent = match p.one("firstParent")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(UiError::bad_request(format!("firstParent: {other:?} is not true or false"))),
    };
    let v = load_release(&st, &rid).await?;
    let release_id =
        ReleaseId::from_str(&id).map_err(|_| UiError::bad_request(format!("{id:?} is not a release id (a UUID)")))?;
    let computed = st.engine.notes(release_id, first_parent).await.map_err(|e| e.to_string());
    let d = pages::notes(&v, computed.as_ref().map_err(Clone::clone), first_parent);
    if as_fragment {
        return Ok(html(StatusCode::OK, &pages::NotesFragment { d }));
    }
    let short = pages::short_id(&id);
    let page = PageMeta::new(
        format!("Release notes {short}"),
        vec![
            crumb("Products", "/"),
            crumb(v.product.clone(), pages::product_href(&v.product)),
            crumb(format!("Release {short}"), pages::release_href(&id)),
            here("Release notes"),
        ],
    );
    Ok(html(StatusCode::OK, &pages::NotesPage { page, d }))
}

// ---------------------------------------------------------------------------------------------------
// Steps and issues
// ---------------------------------------------------------------------------------------------------

/// The last [`LOG_TAIL`] lines of a step of a run, the number of lines and the last line id.
async fn log_tail<S: Store>(
    store: &S,
    release: &ReleaseId,
    run: &RunId,
    step: &str,
) -> Result<(Vec<pages::LogItem>, usize, i64), UiError> {
    let mut tail = VecDeque::with_capacity(LOG_TAIL + 1);
    let (mut after, mut total) = (0_i64, 0_usize);
    for _ in 0..LOG_PAGES {
        let query = LogQuery {
            release_id: *release,
            runs: Some(vec![*run]),
            step: Some(step.to_owned()),
            after,
            limit: LOG_PAGE,
        };
        let lines = store.logs(query).await?;
        let n = lines.len();
        for l in lines {
            after = l.id;
            total += 1;
            tail.push_back(pages::LogItem { stderr: l.line.stream == "stderr", text: l.line.text });
            if tail.len() > LOG_TAIL {
                tail.pop_front();
            }
        }
        if n < LOG_PAGE as usize {
            break;
        }
    }
    Ok((tail.into_iter().collect(), total, after))
}

/// Every workflow run of the release (applications' runs, environment hooks, release hooks).
fn all_runs(state: &ReleaseState) -> Vec<&WorkflowRun> {
    let mut runs: Vec<&WorkflowRun> = Vec::new();
    for env in state.environments() {
        for app in &env.apps {
            runs.extend(app.runs.iter());
        }
        runs.extend(env.hook_runs.iter());
    }
    runs.extend(state.hook_runs().iter());
    runs
}

/// The runs named in `wanted` with their steps: from the engine's live state while this server runs
/// the release, else from the runs projection (runs recorded before it kept steps are left out, and
/// their steps show the workflow line's status).
async fn step_runs<S: Store>(st: &AppState<S>, id: &ReleaseId, wanted: &[RunId]) -> Result<Vec<WorkflowRun>, UiError> {
    let wanted = |run: &WorkflowRun| wanted.contains(&run.id);
    if let Some(state) = st.engine.live_state(*id) {
        return Ok(all_runs(&state).into_iter().filter(|r| wanted(r)).cloned().collect());
    }
    let stored = st.store.runs(id).await?;
    Ok(stored.into_iter().filter(|r| r.detailed && wanted(&r.run)).map(|r| r.run).collect())
}

/// A workflow's current definition, as text.
fn catalog_definition<S: Store>(st: &AppState<S>, workflow: &str) -> Option<String> {
    let name = WorkflowName::new(workflow.to_owned()).ok()?;
    st.engine.catalog().workflows.get(&name).map(|w| pages::definition_text(&crate::dto::workflow(w)))
}

/// An issue's definition as it ran: the stored workflow, shown like the configuration.
fn issue_definition(text: &str) -> String {
    match serde_json::from_str::<ferry_model::resources::Workflow>(text) {
        Ok(w) => pages::definition_text(&crate::dto::workflow(&w)),
        Err(_) => text.to_owned(),
    }
}

/// Sections of one step in each of `runs`.
async fn run_items<S: Store>(
    st: &AppState<S>,
    v: &ReleaseView,
    known: &[WorkflowRun],
    runs: &[RunId],
    step: &str,
    line_status: &str,
) -> Result<Vec<pages::RunItem>, UiError> {
    let now = Timestamp::now();
    let mut items = Vec::new();
    for run_id in runs {
        let run = known.iter().find(|r| r.id == *run_id);
        let step_state = run.and_then(|r| r.steps.iter().find(|s| s.name.as_str() == step));
        let status = match (run, step_state) {
            (_, Some(s)) => s.status.as_str().to_owned(),
            (Some(r), None) if r.error.is_some() => "Error".to_owned(),
            _ => line_status.to_owned(),
        };
        let application = run
            .and_then(|r| {
                r.target.app().map(ToString::to_string).or_else(|| r.target.hook().map(|h| h.as_str().to_owned()))
            })
            .unwrap_or_default();
        let (log, log_total, log_after) = log_tail(&st.store, &v.id, run_id, step).await?;
        let run_id = run_id.to_string();
        let live = v.is_active() && matches!(status.as_str(), "Running" | "Pending");
        items.push(pages::RunItem {
            run: run_id.clone(),
            step: step.to_owned(),
            application,
            badge: status::Badge::sized(&status, status::Size::Inline),
            started: format::time(step_state.and_then(|s| s.started_at)),
            duration: format::duration(
                step_state.and_then(|s| s.started_at),
                step_state.and_then(|s| s.finished_at),
                now,
            ),
            attempts: step_state.map_or(0, |s| s.attempts),
            exit_code: step_state.and_then(|s| s.exit_code),
            error: step_state
                .and_then(|s| s.error.clone())
                .or_else(|| run.and_then(|r| r.error.clone()))
                .unwrap_or_default(),
            approval: step_state.and_then(|s| s.awaiting_approval.clone()).unwrap_or_default(),
            log,
            log_total,
            log_after,
            log_href: format!(
                "/api/v1/releases/{}/logs{}",
                format::segment(&v.id.to_string()),
                format::query(&[("run", &run_id), ("step", step), ("limit", "10000")])
            ),
            live,
        });
    }
    // Failures first, then what runs, then the rest; by application within.
    let rank = |s: &str| match s {
        "Failed" | "Error" => 0,
        "Terminated" => 1,
        "Running" => 2,
        "Pending" => 3,
        _ => 4,
    };
    items.sort_by(|a, b| (rank(&a.badge.text), &a.application).cmp(&(rank(&b.badge.text), &b.application)));
    Ok(items)
}

async fn step<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UiError> {
    let p = Params::parse(q.as_deref(), &["run", "step", "issue", "fragment"])?;
    let (rid, id) = parse_release(&raw)?;
    let as_fragment = fragment(&p, "panel")?;
    let v = load_release(&st, &rid).await?;
    let release_href = pages::release_href(&id);
    let d = if let Some(issue_id) = p.one("issue")? {
        let Some(issue) = v.issues.iter().find(|i| i.id == issue_id) else {
            return Err(UiError::not_found(format!("Release {id} has no issue {issue_id:?}.")));
        };
        // The issue carries its log tail; the step's own page has the full, live log.
        let step_href = match (issue_text(issue, "runId"), issue_text(issue, "step")) {
            (Some(run), Some(step)) if v.line_of_run(&run).is_some() => {
                Some(pages::step_href(&id, std::slice::from_ref(&run), &step))
            }
            _ => None,
        };
        let (definition, definition_source) = match issue_text(issue, "definition") {
            Some(text) => (issue_definition(&text), "as it ran".to_owned()),
            None => match issue_text(issue, "workflow").and_then(|w| catalog_definition(&st, &w)) {
                Some(text) => (text, "from the configuration in use now".to_owned()),
                None => (String::new(), String::new()),
            },
        };
        pages::StepData {
            release: id.clone(),
            release_href: release_href.clone(),
            title: issue.summary.clone(),
            subtitle: format!("{} issue", issue.kind()),
            badge: None,
            issue: Some(pages::IssueItem {
                href: String::new(),
                kind: issue.kind().as_str().to_owned(),
                icon: match issue.kind() {
                    IssueKind::Application => status::Icon("i-app"),
                    IssueKind::Git => status::Icon("i-git"),
                    IssueKind::Workflow => status::Icon("i-error"),
                },
                summary: issue.summary.clone(),
                place: issue.env.clone().unwrap_or_default(),
                at: format::time(Some(issue.at)),
            }),
            fields: pages::issue_fields(issue),
            tail: pages::issue_tail(issue),
            runs: Vec::new(),
            definition,
            definition_source,
            step_href,
            refresh: format!("{release_href}/steps{}", format::query(&[("issue", issue_id), ("fragment", "panel")])),
            live: false,
        }
    } else {
        let step = p.one("step")?.ok_or_else(|| UiError::bad_request("step: required (with run, or give issue)"))?;
        let runs: Vec<String> = p.all("run").into_iter().map(str::to_owned).collect();
        if runs.is_empty() {
            return Err(UiError::bad_request("run: required (one or more workflow runs of the step)"));
        }
        let Some((env, line)) = runs.iter().find_map(|r| v.line_of_run(r)) else {
            return Err(UiError::not_found(format!("Release {id} has no workflow run {:?}.", runs[0])));
        };
        let Some(step_line) = line.steps.iter().find(|s| s.name == step) else {
            return Err(UiError::not_found(format!("Workflow {:?} has no step {step:?} in this release.", line.name)));
        };
        let runs: Vec<String> =
            runs.into_iter().filter(|r| line.runs.iter().any(|run| run.to_string() == *r)).collect();
        let run_ids: Vec<RunId> = line.runs.iter().filter(|run| runs.contains(&run.to_string())).copied().collect();
        let known = step_runs(&st, &rid, &run_ids).await?;
        let items = run_items(&st, &v, &known, &run_ids, step, step_line.status.as_str()).await?;
        // A failed run's issue carries the definition as it ran.
        let from_issue = v
            .issues
            .iter()
            .find(|i| {
                issue_text(i, "runId").is_some_and(|r| runs.contains(&r)) && issue_text(i, "definition").is_some()
            })
            .and_then(|i| issue_text(i, "definition"));
        let (definition, definition_source) = match from_issue {
            Some(text) => (issue_definition(&text), "as it ran".to_owned()),
            None => match catalog_definition(&st, &line.name) {
                Some(text) => (text, "from the configuration in use now".to_owned()),
                None => (String::new(), String::new()),
            },
        };
        let place = env.map_or_else(|| "release".to_owned(), |e| e.name.clone());
        let mut pairs: Vec<(&str, &str)> = runs.iter().map(|r| ("run", r.as_str())).collect();
        pairs.push(("step", step));
        pairs.push(("fragment", "panel"));
        pages::StepData {
            release: id.clone(),
            release_href: release_href.clone(),
            title: step.to_owned(),
            subtitle: format!(
                "{} {} · {place}",
                format::stage(line.stage.as_str(), line.hook.map(ferry_api::HookKind::as_str)),
                line.name
            ),
            badge: Some(status::Badge::new(step_line.status.as_str())),
            issue: None,
            fields: Vec::new(),
            tail: Vec::new(),
            live: items.iter().any(|r| r.live),
            runs: items,
            definition,
            definition_source,
            step_href: None,
            refresh: format!("{release_href}/steps{}", format::query(&pairs)),
        }
    };
    if as_fragment {
        return Ok(html(StatusCode::OK, &pages::StepFragment { d }));
    }
    let short = pages::short_id(&id);
    let mut page = PageMeta::new(
        d.title.clone(),
        vec![
            crumb("Products", "/"),
            crumb(v.product.clone(), pages::product_href(&v.product)),
            crumb(format!("Release {short}"), release_href),
            here(d.title.clone()),
        ],
    );
    if d.live {
        page =
            page.live(format!("/api/v1/events{}", format::query(&[("release", &id)])), d.refresh.clone(), "step-body");
    }
    Ok(html(StatusCode::OK, &pages::StepPage { page, d }))
}

// ---------------------------------------------------------------------------------------------------
// Terminate and retry (plain forms)
// ---------------------------------------------------------------------------------------------------

pub(crate) fn form(body: &Bytes) -> Result<Vec<(String, String)>, UiError> {
    serde_urlencoded::from_bytes(body).map_err(|e| UiError::bad_request(format!("the form cannot be read: {e}")))
}

pub(crate) fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// 403 unless the viewer may change this release (its product and environment types).
fn check_scope(principal: &Principal, v: &ReleaseView) -> Result<(), UiError> {
    let types = v.environments.iter().map(|e| e.env_type.into());
    principal.check_scope(&v.product, types).map_err(UiError::from)
}

async fn terminate<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    principal: Principal,
    body: Bytes,
) -> Result<Response, UiError> {
    let (rid, id) = parse_release(&raw)?;
    let form = form(&body)?;
    let v = load_release(&st, &rid).await?;
    check_scope(&principal, &v)?;
    let reason = field(&form, "reason").unwrap_or("").trim().to_owned();
    if reason.is_empty() {
        return Ok(release_response(
            &v,
            StatusCode::BAD_REQUEST,
            Some("Terminate: give a reason (it is recorded with the release).".to_owned()),
            false,
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Ok(release_response(
            &v,
            StatusCode::BAD_REQUEST,
            Some(format!("Terminate: the reason must be at most {MAX_REASON} characters.")),
            false,
        ));
    }
    if field(&form, "confirm") != Some("yes") {
        let running: Vec<&str> = v
            .environments
            .iter()
            .filter(|e| matches!(e.status.as_str(), "Running" | "Suspended"))
            .map(|e| e.name.as_str())
            .collect();
        let short = pages::short_id(&id);
        let page = pages::TerminatePage {
            page: PageMeta::new(
                format!("Terminate release {short}?"),
                vec![
                    crumb("Products", "/"),
                    crumb(v.product.clone(), pages::product_href(&v.product)),
                    crumb(format!("Release {short}"), pages::release_href(&id)),
                    here("Terminate"),
                ],
            ),
            href: pages::release_href(&id),
            product: v.product.clone(),
            status: status::Badge::new(v.status.as_str()),
            running: running.join(", "),
            reason,
            id,
        };
        return Ok(html(StatusCode::OK, &page));
    }
    let release = ReleaseId::from_str(&id).map_err(|_| UiError::bad_request("not a release id"))?;
    match st.engine.terminate(release, reason, principal.actor()).await {
        Ok(()) => Ok(see_other(&pages::release_href(&id))),
        Err(e) => {
            let e = ApiError::from(e);
            let v = load_release(&st, &rid).await?;
            Ok(release_response(&v, e.status, Some(format!("Terminate failed: {}", e.message)), false))
        }
    }
}

async fn retry<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    principal: Principal,
) -> Result<Response, UiError> {
    let (rid, id) = parse_release(&raw)?;
    let v = load_release(&st, &rid).await?;
    check_scope(&principal, &v)?;
    let release = ReleaseId::from_str(&id).map_err(|_| UiError::bad_request("not a release id"))?;
    match st.engine.retry(release, principal.actor()).await {
        Ok(()) => Ok(see_other(&pages::release_href(&id))),
        Err(e) => {
            let e = ApiError::from(e);
            let v = load_release(&st, &rid).await?;
            Ok(release_response(&v, e.status, Some(format!("Retry failed: {}", e.message)), false))
        }
    }
}

/// `POST /products/{name}/rollback` (form `env`, optional `to` and `reason`): creates the rollback
/// (SPEC §10) and shows its release page; a refusal is an error page naming what is wrong.
async fn rollback<S: Store>(
    State(st): State<AppState<S>>,
    Path(raw): Path<String>,
    principal: Principal,
    body: Bytes,
) -> Result<Response, UiError> {
    let product = ProductName::from_str(&raw).map_err(|e| UiError::bad_request(format!("product: {e}")))?;
    let form = form(&body)?;
    let env = field(&form, "env").map(str::trim).unwrap_or_default();
    let env = ferry_model::EnvName::from_str(env).map_err(|e| UiError::bad_request(format!("env: {e}")))?;
    let to = match field(&form, "to").map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => {
            Some(ReleaseId::from_str(t).map_err(|_| UiError::bad_request(format!("to: {t:?} is not a release id")))?)
        }
        None => None,
    };
    let reason = field(&form, "reason").map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
    if let Some(r) = &reason {
        crate::control::check_length("reason", r)?;
    }
    let catalog = st.engine.catalog();
    let env_type = catalog.environments.get(&env).map(|e| e.env_type);
    principal.check_scope(product.as_str(), env_type)?;
    let scope = ferry_engine::PromoteScope::Rollback { env, to, reason };
    let request = ferry_engine::PromoteRequest { product, scope };
    match st.engine.promote(request, principal.actor()).await {
        Ok(created) => Ok(see_other(&pages::release_href(&created.release.to_string()))),
        Err(e) => {
            let e = ApiError::from(e);
            Err(UiError::new(e.status, format!("Roll back failed: {}", e.message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_paths_exclude_the_api() {
        assert!(is_ui_path("/releases/x") && is_ui_path("/"));
        assert!(!is_ui_path("/api/v1/releases") && !is_ui_path("/metrics"));
    }
}
