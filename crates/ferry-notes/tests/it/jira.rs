//! Jira enrichment against a fake Jira on 127.0.0.1 that answers with the documented shapes of
//! `GET /rest/api/2/issue/{key}`: found, not found, a refused token, and no answer at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_notes::jira::{Jira, JiraConfig};
use ferry_notes::{ComponentNotes, GitopsRange, ImageChange, Issue, Notes};
use serde_json::json;

const TOKEN: &str = "jira-secret-token";

#[derive(Default)]
struct Fake {
    requests: AtomicUsize,
}

/// The issue answer as Jira REST API v2 documents it (fields narrowed by `fields=`, plus the
/// envelope Jira always sends).
fn issue_body(key: &str, summary: &str, status: &str, assignee: Option<&str>) -> serde_json::Value {
    json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": "10234",
        "self": format!("http://127.0.0.1/rest/api/2/issue/10234"),
        "key": key,
        "fields": {
            "summary": summary,
            "status": {
                "self": "http://127.0.0.1/rest/api/2/status/3",
                "description": "This issue is being actively worked on at the moment by the assignee.",
                "iconUrl": "http://127.0.0.1/images/icons/statuses/inprogress.png",
                "name": status,
                "id": "3",
                "statusCategory": {"self": "http://127.0.0.1/rest/api/2/statuscategory/4", "id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"}
            },
            "assignee": assignee.map(|name| json!({
                "self": "http://127.0.0.1/rest/api/2/user?accountId=5b10a2844c20165700ede21g",
                "accountId": "5b10a2844c20165700ede21g",
                "emailAddress": "ada@example.com",
                "avatarUrls": {"48x48": "http://127.0.0.1/avatar/48"},
                "displayName": name,
                "active": true,
                "timeZone": "Europe/Berlin"
            })),
        }
    })
}

async fn get_issue(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    assert_eq!(query.get("fields").map(String::as_str), Some("summary,assignee,status"));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") {
        // Jira answers an unauthenticated request with 401 and an empty-ish body.
        return (StatusCode::UNAUTHORIZED, "").into_response();
    }
    match key.as_str() {
        "SHOP-1" => Json(issue_body("SHOP-1", "Checkout fails for empty carts", "In Progress", Some("Ada Lovelace")))
            .into_response(),
        "SHOP-2" => Json(issue_body("SHOP-2", "Faster search", "Done", None)).into_response(),
        "SHOP-3" => std::future::pending::<Response>().await,
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})),
        )
            .into_response(),
    }
}

/// Starts the fake; returns its base URL and request counter.
async fn fake_jira() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app =
        axum::Router::new().route("/rest/api/2/issue/{key}", axum::routing::get(get_issue)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, fake)
}

fn jira(base: &str, token: &str, timeout: Duration) -> Jira {
    Jira::new(JiraConfig { url: base.to_owned(), token: token.to_owned(), user: None, timeout }).unwrap()
}

fn issue(key: &str, kind: &str) -> Issue {
    Issue {
        kind: kind.into(),
        key: key.into(),
        repository: None,
        url: None,
        closes: false,
        commits: vec!["abc1234".into()],
        components: vec!["api".into()],
        summary: None,
        status: None,
        assignee: None,
    }
}

fn notes(keys: &[&str]) -> Notes {
    let issues: Vec<Issue> = keys.iter().map(|k| issue(k, "JIRA")).chain([issue("#5", "GITHUB")]).collect();
    Notes {
        rollback: false,
        release: "r".into(),
        product: "shop".into(),
        version: None,
        final_environments: vec!["prod".into()],
        components: vec![ComponentNotes {
            component: "api".into(),
            source_application: "api-dev".into(),
            gitops: GitopsRange {
                repository: "file:///x.git".into(),
                branch: "main".into(),
                path: "api".into(),
                from: vec![],
                to: "0".repeat(40),
                commits: vec![],
                truncated: false,
            },
            images: ImageChange::default(),
            source_range: "unknown".into(),
            source_range_reason: None,
            source: None,
            pull_requests: vec![],
            issues: issues.clone(),
            warnings: vec![],
        }],
        pull_requests: vec![],
        issues,
        warnings: vec![],
        settled: true,
    }
}

#[tokio::test]
async fn issues_get_summary_status_and_assignee_and_answers_are_cached() {
    let (base, fake) = fake_jira().await;
    let client = jira(&base, TOKEN, Duration::from_secs(10));
    let mut n = notes(&["SHOP-1", "SHOP-2", "SHOP-404"]);
    client.enrich(&mut n).await;
    let one = &n.issues[0];
    assert_eq!(one.summary.as_deref(), Some("Checkout fails for empty carts"));
    assert_eq!(one.status.as_deref(), Some("In Progress"));
    assert_eq!(one.assignee.as_deref(), Some("Ada Lovelace"));
    assert_eq!(one.url.as_deref(), Some(format!("{base}/browse/SHOP-1").as_str()));
    let two = &n.issues[1];
    assert_eq!(
        (two.summary.as_deref(), two.status.as_deref(), two.assignee.as_deref()),
        (Some("Faster search"), Some("Done"), None)
    );
    assert_eq!(n.components[0].issues[0].summary, one.summary, "component lists are enriched too");
    assert_eq!(n.issues[3].summary, None, "GitHub issues are left alone");
    assert_eq!(n.warnings, ["Jira has no issue SHOP-404 (or the token cannot see it)"]);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);

    // Cached per process: the same keys again cost no request.
    let mut again = notes(&["SHOP-1", "SHOP-2", "SHOP-404"]);
    client.enrich(&mut again).await;
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);
    assert_eq!(again.issues, n.issues);
    assert_eq!(again.warnings, n.warnings);
}

#[tokio::test]
async fn a_refused_token_leaves_the_notes_intact_with_a_warning() {
    let (base, _fake) = fake_jira().await;
    let client = jira(&base, "wrong-token-value", Duration::from_secs(10));
    let mut n = notes(&["SHOP-1", "SHOP-2"]);
    let before = n.issues.clone();
    client.enrich(&mut n).await;
    assert_eq!(n.warnings.len(), 1, "{:?}", n.warnings);
    let warning = &n.warnings[0];
    assert!(warning.contains("refused the credentials (401)"), "{warning}");
    assert!(warning.contains("2 issues are shown without Jira details"), "{warning}");
    assert!(!warning.contains("wrong-token-value") && !format!("{client:?}").contains("wrong-token-value"));
    for (after, before) in n.issues.iter().zip(&before) {
        assert_eq!((after.key.as_str(), after.summary.as_deref()), (before.key.as_str(), None));
    }
}

#[tokio::test]
async fn a_jira_that_does_not_answer_times_out_into_a_warning() {
    let (base, _fake) = fake_jira().await;
    let client = jira(&base, TOKEN, Duration::from_millis(300));
    let mut n = notes(&["SHOP-3"]);
    client.enrich(&mut n).await;
    assert_eq!(n.warnings.len(), 1, "{:?}", n.warnings);
    assert!(n.warnings[0].contains("did not answer within 300ms"), "{}", n.warnings[0]);
    assert!(n.warnings[0].contains("1 issue is shown without Jira details"), "{}", n.warnings[0]);
    assert_eq!(n.issues[0].summary, None);
    assert_eq!(n.issues[0].key, "SHOP-3");
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let config = JiraConfig {
        url: "https://jira.example".into(),
        token: TOKEN.into(),
        user: None,
        timeout: Duration::from_secs(1),
    };
    assert!(!format!("{config:?}").contains(TOKEN));
}
