//! The route table. The router is built from it, the OpenAPI document (`openapi.json` beside
//! `Cargo.toml`) is generated from it ([`crate::openapi`]), and tests check both in both directions.

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Extension, Router};
use ferry_store::Store;
use tower_http::catch_panic::CatchPanicLayer;

use crate::AppState;
use crate::api;
pub use crate::auth::Access;
use crate::auth::handlers;
use crate::body::BodyLimit;
use crate::control;
use crate::dora;
use crate::error::ApiError;
use crate::freezes;
use crate::metrics;
use crate::notes;

/// The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// A route: method, path (axum and OpenAPI share the `{param}` syntax), who may use it, and the name
/// of the action it performs in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path.
    pub path: &'static str,
    /// Who may use it.
    pub access: Access,
    /// The action recorded in the audit log, e.g. `release.terminate`.
    pub action: &'static str,
}

const fn r(method: &'static str, path: &'static str, access: Access, action: &'static str) -> Route {
    Route { method, path, access, action }
}

use Access::{Admin, Promote, Public, Read, Webhook};

/// Every API route. A route cannot be added without a rule; a test drives each one with every role.
pub const ROUTES: &[Route] = &[
    r("GET", "/healthz", Public, "health"),
    r("GET", "/readyz", Public, "health"),
    r("GET", "/metrics", Read, "metrics"),
    r("GET", "/api/v1/openapi.json", Public, "openapi"),
    r("GET", "/api/v1/whoami", Read, "whoami"),
    r("GET", "/api/v1/version", Read, "version"),
    r("POST", "/api/v1/apply", Admin, "config.apply"),
    r("GET", "/api/v1/config", Read, "config.get"),
    r("GET", "/api/v1/products", Read, "products.list"),
    r("GET", "/api/v1/products/{name}", Read, "product.get"),
    r("POST", "/api/v1/products/{name}/promote", Promote, "product.promote"),
    r("POST", "/api/v1/products/{name}/rollback", Promote, "product.rollback"),
    r("GET", "/api/v1/environments", Read, "environments.list"),
    r("GET", "/api/v1/applications", Read, "applications.list"),
    r("GET", "/api/v1/flows", Read, "flows.list"),
    r("GET", "/api/v1/policies", Read, "policies.list"),
    r("GET", "/api/v1/workflows", Read, "workflows.list"),
    r("GET", "/api/v1/gitproviders", Read, "gitproviders.list"),
    r("GET", "/api/v1/notifications", Read, "notifications.list"),
    r("GET", "/api/v1/releases", Read, "releases.list"),
    r("GET", "/api/v1/releases/{id}", Read, "release.get"),
    r("GET", "/api/v1/releases/{id}/logs", Read, "release.logs"),
    r("GET", "/api/v1/releases/{id}/events", Read, "release.events"),
    r("GET", "/api/v1/releases/{id}/notes", Read, "release.notes"),
    r("POST", "/api/v1/releases/{id}/terminate", Promote, "release.terminate"),
    r("POST", "/api/v1/releases/{id}/retry", Promote, "release.retry"),
    r("POST", "/api/v1/releases/{id}/approve", Promote, "release.approve"),
    r("POST", "/api/v1/releases/{id}/unfreeze", Admin, "release.unfreeze"),
    r("GET", "/api/v1/dora", Read, "dora.get"),
    r("GET", "/api/v1/freezes", Read, "freezes.list"),
    r("POST", "/api/v1/freezes", Admin, "freeze.create"),
    r("POST", "/api/v1/freezes/{name}/delete", Admin, "freeze.delete"),
    r("GET", "/api/v1/pulls", Read, "pulls.list"),
    r("POST", "/api/v1/pulls/{number}/merge", Promote, "pull.merge"),
    r("POST", "/api/v1/pulls/{number}/close", Promote, "pull.close"),
    r("GET", "/api/v1/events", Read, "events.stream"),
    r("POST", "/api/v1/apps/{name}/status", Promote, "app.status"),
    r("POST", "/api/v1/hooks/git", Webhook, "hook.git"),
    r("POST", "/api/v1/images", Promote, "image.report"),
    r("GET", "/api/v1/images", Read, "images.list"),
    r("GET", "/api/v1/tokens", Admin, "tokens.list"),
    r("POST", "/api/v1/tokens", Admin, "token.create"),
    r("POST", "/api/v1/tokens/{name}/revoke", Admin, "token.revoke"),
    r("GET", "/api/v1/audit", Admin, "audit.list"),
    r("GET", "/api/v1/notifications/failed", Admin, "notifications.failed"),
    r("POST", "/api/v1/notifications/failed/{id}/redeliver", Admin, "notification.redeliver"),
];

/// Collects routes while building the router, so the tables can be checked against what is served.
pub(crate) struct Table<S> {
    pub(crate) router: Router<AppState<S>>,
    pub(crate) added: Vec<(&'static str, &'static str)>,
}

impl<S: Store> Table<S> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Table { router: Router::new(), added: Vec::new() }
    }

    /// Adds a route.
    pub(crate) fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState<S>>,
        T: 'static,
    {
        let (filter, name) =
            if method == Method::POST { (MethodFilter::POST, "POST") } else { (MethodFilter::GET, "GET") };
        self.router = self.router.route(path, on(filter, handler));
        self.added.push((name, path));
        self
    }
}

fn table<S: Store>() -> Table<S> {
    let get = Method::GET;
    let post = Method::POST;
    Table::new()
        .add(get.clone(), "/healthz", api::healthz)
        .add(get.clone(), "/readyz", api::readyz::<S>)
        .add(get.clone(), "/metrics", api::metrics::<S>)
        .add(get.clone(), "/api/v1/openapi.json", api::openapi)
        .add(get.clone(), "/api/v1/whoami", handlers::whoami::<S>)
        .add(get.clone(), "/api/v1/version", api::version)
        .add(post.clone(), "/api/v1/apply", api::apply::<S>)
        .add(get.clone(), "/api/v1/config", api::config::<S>)
        .add(get.clone(), "/api/v1/products", api::products::<S>)
        .add(get.clone(), "/api/v1/products/{name}", api::product::<S>)
        .add(post.clone(), "/api/v1/products/{name}/promote", api::promote::<S>)
        .add(post.clone(), "/api/v1/products/{name}/rollback", api::rollback::<S>)
        .add(get.clone(), "/api/v1/environments", api::environments::<S>)
        .add(get.clone(), "/api/v1/applications", api::applications::<S>)
        .add(get.clone(), "/api/v1/flows", api::flows::<S>)
        .add(get.clone(), "/api/v1/policies", api::policies::<S>)
        .add(get.clone(), "/api/v1/workflows", api::workflows::<S>)
        .add(get.clone(), "/api/v1/gitproviders", api::git_providers::<S>)
        .add(get.clone(), "/api/v1/notifications", api::notifications::<S>)
        .add(get.clone(), "/api/v1/releases", api::releases::<S>)
        .add(get.clone(), "/api/v1/releases/{id}", api::release::<S>)
        .add(get.clone(), "/api/v1/releases/{id}/logs", api::release_logs::<S>)
        .add(get.clone(), "/api/v1/releases/{id}/events", api::release_events::<S>)
        .add(get.clone(), "/api/v1/releases/{id}/notes", notes::release_notes::<S>)
        .add(post.clone(), "/api/v1/releases/{id}/terminate", control::terminate::<S>)
        .add(post.clone(), "/api/v1/releases/{id}/retry", control::retry::<S>)
        .add(post.clone(), "/api/v1/releases/{id}/approve", control::approve::<S>)
        .add(post.clone(), "/api/v1/releases/{id}/unfreeze", freezes::unfreeze::<S>)
        .add(get.clone(), "/api/v1/dora", dora::get::<S>)
        .add(get.clone(), "/api/v1/freezes", freezes::list::<S>)
        .add(post.clone(), "/api/v1/freezes", freezes::create::<S>)
        .add(post.clone(), "/api/v1/freezes/{name}/delete", freezes::delete::<S>)
        .add(get.clone(), "/api/v1/pulls", control::pulls::<S>)
        .add(post.clone(), "/api/v1/pulls/{number}/merge", control::merge_pull::<S>)
        .add(post.clone(), "/api/v1/pulls/{number}/close", control::close_pull::<S>)
        .add(get.clone(), "/api/v1/events", api::events::<S>)
        .add(post.clone(), "/api/v1/apps/{name}/status", api::push_status::<S>)
        .add(post.clone(), "/api/v1/hooks/git", api::git_hook::<S>)
        .add(post.clone(), "/api/v1/images", notes::report_image::<S>)
        .add(get.clone(), "/api/v1/images", notes::images::<S>)
        .add(get.clone(), "/api/v1/tokens", handlers::list::<S>)
        .add(post.clone(), "/api/v1/tokens", handlers::create::<S>)
        .add(post.clone(), "/api/v1/tokens/{name}/revoke", handlers::revoke::<S>)
        .add(get.clone(), "/api/v1/audit", handlers::audit::<S>)
        .add(get, "/api/v1/notifications/failed", crate::notify::failed::<S>)
        .add(post.clone(), "/api/v1/notifications/failed/{id}/redeliver", crate::notify::redeliver::<S>)
}

async fn not_found(request: Request) -> Response {
    let path = request.uri().path();
    let wants_html = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && crate::ui::is_ui_path(path) {
        return crate::ui::not_found_page(path);
    }
    ApiError::not_found(format!(
        "no route {} {}; the API is described at /api/v1/openapi.json",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", request.method(), request.uri().path()),
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("the server hit a bug while answering; the request was not completed").into_response()
}

/// The complete application.
pub(crate) fn router<S: Store>(state: AppState<S>) -> Router {
    let routes = table::<S>()
        .router
        .merge(
            crate::ui::table::<S>()
                .router
                .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::ui::session::layer::<S>)),
        )
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard::<S>));
    with_layers(routes, state)
}

/// The fallbacks and the layers every request goes through, around `routes`.
fn with_layers<S: Store>(routes: Router<AppState<S>>, state: AppState<S>) -> Router {
    let limit = state.settings.body_limit;
    let metrics = state.metrics.clone();
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(Extension(BodyLimit(limit)))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::browser::guard::<S>))
        .layer(axum::middleware::from_fn(crate::ui::security_headers))
        .layer(axum::middleware::from_fn(move |request, next| metrics::track(metrics.clone(), request, next)))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_handler_that_panics_answers_500_in_the_error_shape_and_the_server_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ferry_store::SqliteStore::open(&dir.path().join("ferry.db")).await.expect("store");
        let config = ferry_engine::EngineConfig::new(dir.path().to_path_buf(), "http://127.0.0.1".into());
        let (engine, _task) = ferry_engine::start(store.clone(), config).await.expect("engine");
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let state = AppState {
            store,
            engine,
            settings: Arc::new(crate::ServerSettings::default()),
            metrics: Arc::new(metrics::Metrics::default()),
            shutdown,
            views: Arc::default(),
        };
        async fn boom() -> StatusCode {
            panic!("a bug in a handler")
        }
        let routes = table::<ferry_store::SqliteStore>().router.route("/api/v1/boom", axum::routing::get(boom));
        let app = with_layers(routes, state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
        });
        let http = reqwest::Client::new();
        let response = http.get(format!("{base}/api/v1/boom")).send().await.expect("answer");
        assert_eq!(response.status().as_u16(), 500);
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"error": {
                "code": "internal",
                "message": "the server hit a bug while answering; the request was not completed",
                "details": [],
            }})
        );
        // The server goes on answering.
        let response = http.get(format!("{base}/healthz")).send().await.expect("answer");
        assert_eq!(response.status().as_u16(), 200);
        server.abort();
    }

    #[test]
    fn the_route_table_is_what_the_router_serves() {
        let added: BTreeSet<_> = table::<ferry_store::SqliteStore>().added.into_iter().collect();
        let declared: BTreeSet<_> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(added, declared);
        assert_eq!(ROUTES.len(), declared.len(), "a route is listed twice");
        let ui_added: BTreeSet<_> = crate::ui::table::<ferry_store::SqliteStore>().added.into_iter().collect();
        let ui_declared: BTreeSet<_> = crate::ui::ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(ui_added, ui_declared, "the UI's route table and its router differ");
        assert_eq!(crate::ui::ROUTES.len(), ui_declared.len(), "a UI route is listed twice");
    }

    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: no responses");
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let served: BTreeSet<_> = ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(undocumented.is_empty(), "routes missing from openapi.json: {undocumented:?}");
        assert!(unserved.is_empty(), "openapi.json documents routes that are not served: {unserved:?}");
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
            assert!(doc.pointer(pointer).is_some(), "unresolved reference {r}");
        }
    }

    fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        out.extend(v.as_str().map(str::to_owned));
                    } else {
                        collect_refs(v, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
