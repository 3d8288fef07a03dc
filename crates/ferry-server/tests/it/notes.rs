//! Release notes and image reports end to end: the real server and engine, a GitOps repository and an
//! application source repository built with pinned dates, image reports over the API, two releases in
//! a row, and a fake Jira on 127.0.0.1.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_store::Store;
use serde_json::{Value, json};

use crate::Server;
use crate::gitops::{Gitops, git, values};

fn config(url: &str) -> String {
    let mut yaml = crate::gitops::dev_and_prod(url, |_| None);
    yaml.push_str(&crate::gitops::shop_flow(
        r#""$.image.tag", "$.replicas""#,
        "  releaseNotes:\n    jiraProjects: [SHOP, OPS]\n    issueUrl: { JIRA: \"https://jira.example/browse/{id}\" }\n",
        "policy: { action: commit }",
    ));
    yaml
}

async fn release(server: &Server) -> String {
    let (status, body) = server.post("/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let view = server.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view}");
    id
}

fn subjects(commits: &Value) -> Vec<String> {
    commits.as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap().to_owned()).collect()
}

fn component<'a>(notes: &'a Value, name: &str) -> &'a Value {
    notes["components"].as_array().unwrap().iter().find(|c| c["component"] == name).unwrap()
}

fn set(items: &Value, key: &str) -> BTreeSet<String> {
    items.as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_owned()).collect()
}

/// A fake Jira whose behaviour is switched by the test: 0 = answers, 1 = 401, 2 = never answers.
async fn fake_jira(mode: Arc<AtomicU8>) -> String {
    async fn issue(State(mode): State<Arc<AtomicU8>>, UrlPath(key): UrlPath<String>) -> Response {
        match mode.load(Ordering::SeqCst) {
            1 => (StatusCode::UNAUTHORIZED, "").into_response(),
            2 => std::future::pending::<Response>().await,
            _ => axum::Json(json!({
                "id": "1", "self": "http://127.0.0.1/rest/api/2/issue/1", "key": key,
                "fields": {
                    "summary": format!("Summary of {key}"),
                    "status": {"name": "Done", "id": "10001", "statusCategory": {"key": "done", "name": "Done"}},
                    "assignee": {"displayName": "Ada Lovelace", "accountId": "5b10a", "active": true},
                }
            }))
            .into_response(),
        }
    }
    let app = axum::Router::new().route("/rest/api/2/issue/{key}", axum::routing::get(issue)).with_state(mode);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn two_releases_in_a_row_with_image_reports_and_jira() {
    let root = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ferry-notes/tests/fixtures/source-repo.sh");
    let out = Command::new("sh").arg(&script).arg(root.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let source_git = root.path().join("source.git");
    let source_url = format!("file://{}", source_git.display());
    let image_rev = |tag: &str| git(&source_git, &["rev-parse", &format!("{tag}^{{commit}}")], None);

    let mode = Arc::new(AtomicU8::new(1));
    let jira_url = fake_jira(mode.clone()).await;
    let server = Server::start_tuned(|c| {
        let config = ferry_notes::jira::JiraConfig {
            url: jira_url.clone(),
            token: "jira-token-for-tests".into(),
            user: None,
            // Only a bound against hangs: this fake Jira answers at once.
            timeout: Duration::from_secs(60),
        };
        c.jira = Some(Arc::new(ferry_notes::jira::Jira::new(config).unwrap()));
    })
    .await;

    // The GitOps repository, the configuration, and the images CI reported.
    let gitops = Gitops::new(root.path());
    gitops.write(&[("envs/dev/api/values.yaml", values("api", "1.0.0", 2))]);
    gitops.commit("api: first release SHOP-90");
    gitops.write(&[("envs/dev/web/values.yaml", values("web", "2.0.0", 2))]);
    gitops.commit("web: first release (#30)");
    let (status, body) =
        server.post("/api/v1/apply", &json!({"sources": [{"name": "shop.yaml", "text": config(&gitops.url())}]})).await;
    assert_eq!(status, 200, "{body}");
    for (tag, rev, extra) in [
        ("1.0.0", image_rev("image-1.0.0"), json!({})),
        (
            "1.1.0",
            image_rev("image-1.1.0"),
            json!({"issues": "SHOP-105", "annotations": {"ferry/pull-request": "#13"}}),
        ),
    ] {
        let mut report = json!({
            "image": format!("registry.example/shop/api:{tag}"), "gitRepo": source_url, "gitRevision": rev, "gitBranch": "main",
        });
        report.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, stored) = server.post("/api/v1/images", &report).await;
        assert_eq!(status, 201, "{stored}");
        assert_eq!(stored["annotations"]["org.opencontainers.image.revision"], rev);
        assert_eq!(stored["annotations"]["org.opencontainers.image.version"], tag);
        assert_eq!(stored["annotations"]["org.opencontainers.image.source"], source_url);
        assert!(stored["annotations"]["org.opencontainers.image.created"].is_string());
    }
    let (status, listed) = server.get("/api/v1/images?image=registry.example/shop/api:1.1.0").await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["issues"], "SHOP-105");
    let (status, bad) =
        server.post("/api/v1/images", &json!({"image": "api:1", "gitRepo": "r", "gitRevision": "abc"})).await;
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().starts_with("gitRevision:"), "{bad}");

    // Release 1: prod had 0.9.0, which no Ferry promotion made: the start is found by version.
    let first = release(&server).await;
    let (status, notes1) = server.get(&format!("/api/v1/releases/{first}/notes")).await;
    assert_eq!(status, 200, "{notes1}");
    let api1 = component(&notes1, "api");
    assert_eq!(api1["gitops"]["from"][0]["foundBy"], "version");
    assert_eq!(subjects(&api1["gitops"]["commits"]), ["api: first release SHOP-90"]);
    assert_eq!(api1["sourceRange"], "unknown", "{api1}");
    assert_eq!(api1["sourceRangeReason"], "no image report carries 0.9.0, the value live before");
    assert_eq!(notes1["settled"], true);

    // Work after release 1, across both components.
    gitops.write(&[("envs/dev/api/values.yaml", values("api", "1.1.0", 2))]);
    gitops.commit("Bump api to 1.1.0 (#31)\n\nRefs: SHOP-104");
    // A pull request for web's tag while main raises web's replicas: the merge combines both.
    git(&gitops.work, &["checkout", "-q", "-b", "web-tag"], None);
    gitops.write(&[("envs/dev/web/values.yaml", values("web", "2.1.0", 2))]);
    git(&gitops.work, &["commit", "-q", "-am", "web 2.1.0 for SHOP-106"], Some(gitops.next()));
    git(&gitops.work, &["checkout", "-q", "main"], None);
    gitops.write(&[("envs/dev/web/values.yaml", values("web", "2.0.0", 3))]);
    gitops.commit("web: raise replicas\n\nFixes acme/gitops#2");
    git(
        &gitops.work,
        &["merge", "-q", "--no-ff", "-m", "Merge pull request #32 from acme/web-tag\n\nWeb 2.1.0", "web-tag"],
        Some(gitops.next()),
    );
    // Up to date already: push as is (a rebase would flatten the merge).
    git(&gitops.work, &["push", "-q", "origin", "HEAD:main"], None);

    // Release 2: exactly what came since release 1.
    let second = release(&server).await;
    // Jira refuses the token: the notes are complete, with a warning.
    let (status, notes) = server.get(&format!("/api/v1/releases/{second}/notes")).await;
    assert_eq!(status, 200, "{notes}");
    assert_eq!(notes["finalEnvironments"], json!(["prod"]));
    let api = component(&notes, "api");
    assert_eq!(api["gitops"]["from"][0]["foundBy"], "promotion");
    assert_eq!(subjects(&api["gitops"]["commits"]), ["Bump api to 1.1.0 (#31)"]);
    assert_eq!(api["sourceRange"], "known");
    assert_eq!(
        subjects(&api["source"]["commits"]),
        [
            "Merge branch 'perf' into 'main'",
            "Speed up search (OPS-3)",
            "Docs: mention acme/other#7 and #15 without keywords; see ISO-8601 and PAY-7",
            "Fix crash on empty cart",
            "Merge pull request #13 from acme/feature/SHOP-102-cart",
            "Handle UTF-8 names, SHA-256 ids, FOO_BAR-1 and XSHOP-9 in the cart",
            "Cart model for SHOP-102",
            "Add login page (#12)",
        ]
    );
    let web = component(&notes, "web");
    assert_eq!(
        subjects(&web["gitops"]["commits"]),
        ["Merge pull request #32 from acme/web-tag", "web: raise replicas", "web 2.1.0 for SHOP-106"]
    );
    assert_eq!(web["sourceRange"], "unknown");
    assert_eq!(web["sourceRangeReason"], "no image report carries 2.1.0");
    assert_eq!(
        set(&notes["pullRequests"], "reference"),
        ["#12", "#13", "#31", "#32", "acme/shop!21"].map(String::from).into()
    );
    assert_eq!(
        set(&notes["issues"], "key"),
        [
            "#14",
            "#15",
            "OPS-3",
            "SHOP-101",
            "SHOP-102",
            "SHOP-103",
            "SHOP-104",
            "SHOP-105",
            "SHOP-106",
            "acme/gitops#2",
            "acme/other#7",
        ]
        .map(String::from)
        .into()
    );
    let warnings: Vec<&str> = notes["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("refused the credentials (401)") && !warnings[0].contains("jira-token-for-tests"));
    assert!(notes["issues"].as_array().unwrap().iter().all(|i| i.get("summary").is_none()));
    // Settled notes are stored.
    assert!(server.store.release_notes(&second.parse().unwrap()).await.unwrap().is_some());

    // Jira answers: summary, status and assignee of the Jira issues only.
    mode.store(0, Ordering::SeqCst);
    let (_, rich) = server.get(&format!("/api/v1/releases/{second}/notes")).await;
    assert_eq!(rich["warnings"], json!([]));
    let issue = rich["issues"].as_array().unwrap().iter().find(|i| i["key"] == "SHOP-104").unwrap();
    assert_eq!(issue["summary"], "Summary of SHOP-104");
    assert_eq!(issue["status"], "Done");
    assert_eq!(issue["assignee"], "Ada Lovelace");
    assert_eq!(issue["url"], "https://jira.example/browse/SHOP-104");
    let github = rich["issues"].as_array().unwrap().iter().find(|i| i["key"] == "#14").unwrap();
    assert!(github.get("summary").is_none());

    // The web UI's notes panel shows the same data.
    let response =
        server.http.get(server.url(&format!("/releases/{second}/notes?fragment=panel"))).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    for pr in set(&rich["pullRequests"], "reference") {
        assert!(html.contains(&format!(">{pr}<")), "pull request {pr} missing from the notes panel:\n{html}");
    }
    for key in set(&rich["issues"], "key") {
        let shown = html.contains(&format!(">{key}<")) || html.contains(&format!(">{key} <span class=\"chip\""));
        assert!(shown, "issue {key} missing from the notes panel:\n{html}");
    }
    for part in [
        "Summary of SHOP-104",
        "Ada Lovelace",
        "Speed up search (OPS-3)",
        "Bump api to 1.1.0 (#31)",
        "web 2.1.0 for SHOP-106",
        "unknown: no image report carries 2.1.0",
        "Source commits (8)",
        "Image promoted: <code>registry.example/shop/api:1.1.0</code>",
        "org.opencontainers.image.revision",
        "GitOps commits (3)",
    ] {
        assert!(html.contains(part), "{part:?} missing from the notes panel:\n{html}");
    }
    let fp_html =
        server.http.get(server.url(&format!("/releases/{second}/notes?firstParent=true"))).send().await.unwrap();
    let fp_html = fp_html.text().await.unwrap();
    assert!(fp_html.starts_with("<!doctype html>") && fp_html.contains("Source commits (5)"), "{fp_html}");
    let bad = server.http.get(server.url(&format!("/releases/{second}/notes?firstParent=maybe"))).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // First-parent notes are computed on request.
    let (status, fp) = server.get(&format!("/api/v1/releases/{second}/notes?firstParent=true")).await;
    assert_eq!(status, 200);
    assert_eq!(component(&fp, "api")["source"]["commits"].as_array().unwrap().len(), 5);

    // Errors.
    let (status, _) = server.get("/api/v1/releases/01900000-0000-7000-8000-000000000009/notes").await;
    assert_eq!(status, 404);
    let (status, body) = server.get(&format!("/api/v1/releases/{second}/notes?firstParent=maybe")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = server.get("/api/v1/releases/nope/notes").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_jira_that_never_answers_times_out_and_the_notes_are_complete() {
    let jira_url = fake_jira(Arc::new(AtomicU8::new(2))).await;
    let server = Server::start_tuned(|c| {
        let config = ferry_notes::jira::JiraConfig {
            url: jira_url.clone(),
            token: "jira-token-for-tests".into(),
            user: None,
            // This Jira never answers, so the timeout always expires, however slow the machine.
            timeout: Duration::from_millis(200),
        };
        c.jira = Some(Arc::new(ferry_notes::jira::Jira::new(config).unwrap()));
    })
    .await;
    let gitops = Gitops::new(server.dir.path());
    gitops.write(&[("envs/dev/api/values.yaml", values("api", "1.0.0", 2))]);
    gitops.commit("api: first release SHOP-90");
    let (status, body) =
        server.post("/api/v1/apply", &json!({"sources": [{"name": "shop.yaml", "text": config(&gitops.url())}]})).await;
    assert_eq!(status, 200, "{body}");
    let id = release(&server).await;
    let (status, notes) = server.get(&format!("/api/v1/releases/{id}/notes")).await;
    assert_eq!(status, 200, "{notes}");
    assert_eq!(notes["warnings"].as_array().unwrap().len(), 1, "{}", notes["warnings"]);
    let warning = notes["warnings"][0].as_str().unwrap();
    assert!(warning.contains("did not answer within 200ms") && !warning.contains("jira-token-for-tests"), "{warning}");
    assert_eq!(subjects(&component(&notes, "api")["gitops"]["commits"]), ["api: first release SHOP-90"]);
    let issue = notes["issues"].as_array().unwrap().iter().find(|i| i["key"] == "SHOP-90").unwrap();
    assert!(issue.get("summary").is_none(), "{issue}");
    assert_eq!(issue["url"], "https://jira.example/browse/SHOP-90");
}
