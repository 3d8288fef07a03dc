//! The route table. The router is built from it, and a test checks it against the OpenAPI document
//! (`openapi.json` beside `Cargo.toml`) in both directions, so the two cannot drift apart.

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
use crate::body::BodyLimit;
use crate::control;
use crate::error::ApiError;
use crate::metrics;
use crate::notes;

/// The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route: method and path (axum and OpenAPI share the `{param}` syntax).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/apply"),
    ("GET", "/api/v1/products"),
    ("GET", "/api/v1/products/{name}"),
    ("POST", "/api/v1/products/{name}/promote"),
    ("GET", "/api/v1/environments"),
    ("GET", "/api/v1/applications"),
    ("GET", "/api/v1/flows"),
    ("GET", "/api/v1/policies"),
    ("GET", "/api/v1/workflows"),
    ("GET", "/api/v1/releases"),
    ("GET", "/api/v1/releases/{id}"),
    ("GET", "/api/v1/releases/{id}/logs"),
    ("GET", "/api/v1/releases/{id}/events"),
    ("GET", "/api/v1/releases/{id}/notes"),
    ("POST", "/api/v1/releases/{id}/terminate"),
    ("POST", "/api/v1/releases/{id}/retry"),
    ("POST", "/api/v1/releases/{id}/approve"),
    ("GET", "/api/v1/pulls"),
    ("POST", "/api/v1/pulls/{number}/merge"),
    ("POST", "/api/v1/pulls/{number}/close"),
    ("GET", "/api/v1/events"),
    ("POST", "/api/v1/apps/{name}/status"),
    ("POST", "/api/v1/hooks/git"),
    ("POST", "/api/v1/images"),
    ("GET", "/api/v1/images"),
];

/// Collects routes while building the router, so the table above can be checked against what is served.
struct Table<S> {
    router: Router<AppState<S>>,
    added: Vec<(&'static str, &'static str)>,
}

impl<S: Store> Table<S> {
    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
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
    Table { router: Router::new(), added: Vec::new() }
        .add(get.clone(), "/healthz", api::healthz)
        .add(get.clone(), "/readyz", api::readyz::<S>)
        .add(get.clone(), "/metrics", api::metrics::<S>)
        .add(get.clone(), "/api/v1/openapi.json", api::openapi)
        .add(post.clone(), "/api/v1/apply", api::apply::<S>)
        .add(get.clone(), "/api/v1/products", api::products::<S>)
        .add(get.clone(), "/api/v1/products/{name}", api::product::<S>)
        .add(post.clone(), "/api/v1/products/{name}/promote", api::promote::<S>)
        .add(get.clone(), "/api/v1/environments", api::environments::<S>)
        .add(get.clone(), "/api/v1/applications", api::applications::<S>)
        .add(get.clone(), "/api/v1/flows", api::flows::<S>)
        .add(get.clone(), "/api/v1/policies", api::policies::<S>)
        .add(get.clone(), "/api/v1/workflows", api::workflows::<S>)
        .add(get.clone(), "/api/v1/releases", api::releases::<S>)
        .add(get.clone(), "/api/v1/releases/{id}", api::release::<S>)
        .add(get.clone(), "/api/v1/releases/{id}/logs", api::release_logs::<S>)
        .add(get.clone(), "/api/v1/releases/{id}/events", api::release_events::<S>)
        .add(get.clone(), "/api/v1/releases/{id}/notes", notes::release_notes::<S>)
        .add(post.clone(), "/api/v1/releases/{id}/terminate", control::terminate::<S>)
        .add(post.clone(), "/api/v1/releases/{id}/retry", control::retry::<S>)
        .add(post.clone(), "/api/v1/releases/{id}/approve", control::approve::<S>)
        .add(get.clone(), "/api/v1/pulls", control::pulls::<S>)
        .add(post.clone(), "/api/v1/pulls/{number}/merge", control::merge_pull::<S>)
        .add(post.clone(), "/api/v1/pulls/{number}/close", control::close_pull::<S>)
        .add(get.clone(), "/api/v1/events", api::events::<S>)
        .add(post.clone(), "/api/v1/apps/{name}/status", api::push_status::<S>)
        .add(post.clone(), "/api/v1/hooks/git", api::git_hook::<S>)
        .add(post, "/api/v1/images", notes::report_image::<S>)
        .add(get, "/api/v1/images", notes::images::<S>)
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
    let limit = state.settings.body_limit;
    let metrics = state.metrics.clone();
    table::<S>()
        .router
        .merge(crate::ui::router::<S>())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(Extension(BodyLimit(limit)))
        .layer(axum::middleware::from_fn(move |request, next| metrics::track(metrics.clone(), request, next)))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_route_table_is_what_the_router_serves() {
        let added: BTreeSet<_> = table::<ferry_store::SqliteStore>().added.into_iter().collect();
        let declared: BTreeSet<_> = ROUTES.iter().copied().collect();
        assert_eq!(added, declared);
        assert_eq!(ROUTES.len(), declared.len(), "a route is listed twice");
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
        let served: BTreeSet<_> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
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
