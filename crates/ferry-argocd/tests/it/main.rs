//! Tests of the Argo CD client: the swagger excerpt, the trust rule, the stream parser (fuzzed) and
//! the HTTP client against a loopback server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assess;
mod client;
mod fuzz;
mod swagger;

use ferry_argocd::Application;

/// The application fixture (Synced, Healthy at `1111…`, reconciled after its operation).
pub fn fixture() -> Application {
    serde_json::from_str(include_str!("../fixtures/application.json")).unwrap()
}
