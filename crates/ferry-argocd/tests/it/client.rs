//! The HTTP client against a loopback server speaking Argo CD's shapes.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use ferry_argocd::{AppRef, ArgoError, Client, Refresh};

#[derive(Default)]
struct Seen {
    queries: Vec<String>,
    auth: Vec<String>,
    syncs: Vec<serde_json::Value>,
}

type Shared = Arc<Mutex<Seen>>;

fn error(code: StatusCode, message: &str) -> (StatusCode, String) {
    (code, serde_json::json!({ "error": message, "code": 7, "message": message }).to_string())
}

async fn one(
    State(seen): State<Shared>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    {
        let mut s = seen.lock().unwrap();
        s.queries.push(q.unwrap_or_default());
        s.auth.push(auth.clone());
    }
    if auth != "Bearer t0ken" {
        return error(StatusCode::UNAUTHORIZED, "no session information");
    }
    match name.as_str() {
        "shop-api-qa" => (StatusCode::OK, include_str!("../fixtures/application.json").to_owned()),
        "secret" => error(StatusCode::FORBIDDEN, "permission denied: applications, get, default/secret"),
        "garbled" => (StatusCode::OK, "{\"status\": {\"sync\": ".to_owned()),
        _ => error(StatusCode::NOT_FOUND, &format!("applications.argoproj.io \"{name}\" not found")),
    }
}

async fn stream(RawQuery(q): RawQuery) -> String {
    let name = q.unwrap_or_default();
    let event = |rv: &str| {
        format!(
            "{{\"result\":{{\"type\":\"MODIFIED\",\"application\":{{\"metadata\":{{\"name\":\"shop-api-qa\",\"resourceVersion\":\"{rv}\"}}}}}}}}\n"
        )
    };
    if name.contains("cut") {
        format!("{}{}", event("1"), &event("2")[..40])
    } else {
        format!("{}\n{}{{\"result\":{{\"type\":\"DELETED\",\"application\":{{}}}}}}\n", event("1"), event("2"))
    }
}

async fn sync(State(seen): State<Shared>, body: String) -> (StatusCode, String) {
    seen.lock().unwrap().syncs.push(serde_json::from_str(&body).unwrap());
    (StatusCode::OK, include_str!("../fixtures/application.json").to_owned())
}

async fn server() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route("/api/v1/applications/{name}", get(one))
        .route("/api/v1/applications/{name}/sync", post(sync))
        .route("/api/v1/stream/applications", get(stream))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), seen)
}

#[tokio::test]
async fn reads_an_application_with_refresh_namespace_and_project() {
    let (url, seen) = server().await;
    let client = Client::new(&url, Some("t0ken".into()), "FERRY_ARGOCD_TOKEN").unwrap();
    let app = AppRef { name: "shop-api-qa".into(), app_namespace: Some("teams".into()), project: Some("shop".into()) };
    let got = client.application(&app, Some(Refresh::Normal)).await.unwrap();
    assert_eq!(got.status.sync.unwrap().status.as_deref(), Some("Synced"));
    client.application(&AppRef::named("shop-api-qa"), None).await.unwrap();
    let s = seen.lock().unwrap();
    assert_eq!(s.queries, ["appNamespace=teams&project=shop&refresh=normal", ""]);
    assert_eq!(s.auth[0], "Bearer t0ken");
}

#[tokio::test]
async fn errors_name_their_cause_and_never_the_token() {
    let (url, _) = server().await;
    let client = Client::new(&url, Some("t0ken".into()), "ARGOCD_TOKEN").unwrap();
    let forbidden = client.application(&AppRef::named("secret"), None).await.unwrap_err();
    assert!(matches!(forbidden, ArgoError::Forbidden { .. }), "{forbidden:?}");
    assert!(forbidden.to_string().contains("permission denied: applications, get"), "{forbidden}");
    let missing = client.application(&AppRef::named("nope"), None).await.unwrap_err();
    assert_eq!(
        missing.to_string(),
        "Argo CD has no application nope (404 Not Found): applications.argoproj.io \"nope\" not found"
    );
    let garbled = client.application(&AppRef::named("garbled"), None).await.unwrap_err();
    assert!(matches!(garbled, ArgoError::Malformed { .. }), "{garbled:?}");
    assert!(garbled.is_transient() && !missing.is_transient() && !forbidden.is_transient());

    let wrong = Client::new(&url, Some("wrong-secret".into()), "ARGOCD_TOKEN").unwrap();
    let e = wrong.application(&AppRef::named("shop-api-qa"), None).await.unwrap_err();
    assert_eq!(e.to_string(), "Argo CD refused the token (401 Unauthorized): check the token in ARGOCD_TOKEN");
    assert!(!format!("{e:?}{wrong:?}").contains("wrong-secret"));
    let none = Client::new(&url, None, "ARGOCD_TOKEN").unwrap();
    let e = none.application(&AppRef::named("shop-api-qa"), None).await.unwrap_err();
    assert!(e.to_string().contains("no token is set; put an Argo CD API token in ARGOCD_TOKEN"), "{e}");
}

#[tokio::test]
async fn an_unreachable_server_and_a_bad_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new(&format!("http://{addr}"), None, "T").unwrap();
    let e = client.application(&AppRef::named("a"), None).await.unwrap_err();
    assert!(matches!(e, ArgoError::Unreachable { .. }) && e.is_transient(), "{e:?}");
    assert!(e.to_string().starts_with(&format!("Argo CD at http://{addr} is unreachable")), "{e}");
    let bad = Client::new("argocd.example", None, "T").unwrap_err();
    assert_eq!(bad.to_string(), "invalid Argo CD server URL \"argocd.example\": expected http:// or https://");
}

#[tokio::test]
async fn the_watch_stream_gives_events_then_deleted() {
    let (url, _) = server().await;
    let client = Client::new(&url, Some("t0ken".into()), "T").unwrap();
    let mut watch = client.watch(&AppRef::named("shop-api-qa")).await.unwrap();
    let rv = |a: ferry_argocd::Application| a.metadata.resource_version.unwrap();
    assert_eq!(rv(watch.next().await.unwrap().unwrap()), "1");
    assert_eq!(rv(watch.next().await.unwrap().unwrap()), "2");
    assert!(matches!(watch.next().await.unwrap(), Err(ArgoError::NotFound { .. })));
    assert!(watch.next().await.is_none());
}

#[tokio::test]
async fn a_cut_watch_stream_ends_with_stream_cut() {
    let (url, _) = server().await;
    let client = Client::new(&url, Some("t0ken".into()), "T").unwrap();
    let mut watch = client.watch(&AppRef::named("cut")).await.unwrap();
    assert!(watch.next().await.unwrap().is_ok());
    let e = watch.next().await.unwrap().unwrap_err();
    assert!(matches!(e, ArgoError::StreamCut { .. }), "{e:?}");
}

#[tokio::test]
async fn a_sync_request_names_the_revision() {
    let (url, seen) = server().await;
    let client = Client::new(&url, Some("t0ken".into()), "T").unwrap();
    let app = AppRef { name: "shop-api-qa".into(), app_namespace: None, project: Some("shop".into()) };
    client.sync(&app, Some("abc")).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().syncs,
        [serde_json::json!({ "name": "shop-api-qa", "revision": "abc", "project": "shop" })]
    );
}

#[test]
fn backoff_grows_with_jitter_and_stays_bounded() {
    use std::time::Duration;
    let mut b = ferry_argocd::Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
    for (i, d) in delays.iter().enumerate() {
        let step = (Duration::from_millis(100) * (1 << i)).min(Duration::from_secs(2));
        assert!(*d >= step / 2 && *d <= step, "{i}: {d:?} within [{:?}, {step:?}]", step / 2);
    }
    b.reset();
    assert!(b.next_delay() <= Duration::from_millis(100));
}
