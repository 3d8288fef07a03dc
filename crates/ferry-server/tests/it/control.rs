//! Release control (terminate, retry, approve) and promotion pull requests: input checks, unknown ids,
//! and the routing to the engine. What the engine does with a request is tested with the engine.

use ferry_store::Store;
use serde_json::{Value, json};

use crate::gitops::{Gitops, values};
use crate::{Server, release_id, release_write, write};

/// A release id nobody created (a fresh UUID v7).
fn unknown_release() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["details"].is_array(), "{body}");
}

/// A 400 whose message starts with the field's name.
fn assert_field(status: u16, body: &Value, field: &str) {
    assert_error(status, body, 400, "bad_request");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(field), "expected a message about {field}: {message}");
}

#[tokio::test]
async fn terminate_retry_and_approve_check_their_input_first() {
    let server = Server::start().await;
    let id = unknown_release();
    let terminate = format!("/api/v1/releases/{id}/terminate");
    for (body, field) in [
        ("", "reason: required"),
        ("{}", "reason: required"),
        (r#"{"reason": "  "}"#, "reason: must not be empty"),
        (r#"{"reason": 3}"#, "reason: invalid type"),
        (r#"{"reasn": "x"}"#, "reasn: unknown field"),
    ] {
        let (status, error) = server.post_raw(&terminate, body, &[]).await;
        assert_field(status, &error, field);
    }
    let (status, error) = server.post(&terminate, &json!({"reason": "x".repeat(1001)})).await;
    assert_field(status, &error, "reason: must be at most 1000 characters");
    let (status, error) = server.post("/api/v1/releases/not-a-uuid/terminate", &json!({"reason": "x"})).await;
    assert_field(status, &error, "id: \"not-a-uuid\" is not a release id");
    let (status, error) = server.post_raw(&terminate, r#"{"reason": "x"}"#, &[("Ferry-Actor", &"a".repeat(200))]).await;
    assert_field(status, &error, "Ferry-Actor");

    let (status, error) = server.post("/api/v1/releases/nope/retry", &json!({})).await;
    assert_field(status, &error, "id: ");

    let approve = format!("/api/v1/releases/{id}/approve");
    for (body, field) in [
        ("", "environment: required"),
        (r#"{"environment": "Not An Env"}"#, "environment: "),
        (r#"{"env": "qa"}"#, "env: unknown field"),
    ] {
        let (status, error) = server.post_raw(&approve, body, &[]).await;
        assert_field(status, &error, field);
    }
}

#[tokio::test]
async fn unknown_releases_are_not_found_and_known_ones_reach_the_engine() {
    let mut server = Server::start().await;
    let unknown = unknown_release();
    let (status, error) = server.post(&format!("/api/v1/releases/{unknown}/terminate"), &json!({"reason": "x"})).await;
    assert_error(status, &error, 404, "not_found");
    assert!(error["error"]["message"].as_str().unwrap().contains(&unknown), "{error}");
    let (status, error) = server.post_raw(&format!("/api/v1/releases/{unknown}/retry"), "", &[]).await;
    assert_error(status, &error, 404, "not_found");
    let (status, error) =
        server.post(&format!("/api/v1/releases/{unknown}/approve"), &json!({"environment": "qa"})).await;
    assert_error(status, &error, 404, "not_found");

    // A stored release goes to the engine, whose answer comes back in the error shape.
    let id = release_id("2026-02-01T00:00:00Z");
    write(&server.store, release_write(&id, "shop", "standard", "Failed", "2026-02-01T00:00:00Z", 0, 1)).await;
    let requests = [
        (format!("/api/v1/releases/{id}/terminate"), json!({"reason": "bad build"})),
        (format!("/api/v1/releases/{id}/retry"), json!({})),
        (format!("/api/v1/releases/{id}/approve"), json!({"environment": "qa"})),
    ];
    // Its event log is made up: the engine cannot replay it to terminate or retry it (500), and a
    // release the engine does not run has nothing waiting for approval (409).
    for ((path, body), (want_status, code, message)) in requests.iter().zip([
        (500, "internal", "stored event is not readable: unknown variant `Test`"),
        (500, "internal", "stored event is not readable: unknown variant `Test`"),
        (409, "conflict", "is not running; nothing waits for approval"),
    ]) {
        let (status, answer) = server.post(path, body).await;
        assert_error(status, &answer, want_status, code);
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.starts_with(&format!("release {id}")) && text.contains(message), "{path}: {answer}");
    }

    // Without an engine every one of them answers 503, so they did reach it.
    server.stop_engine().await;
    for (path, body) in &requests {
        let (status, answer) = server.post(path, body).await;
        assert_error(status, &answer, 503, "unavailable");
    }
    let (status, answer) = server.get("/api/v1/pulls").await;
    assert_error(status, &answer, 503, "unavailable");
    let (status, answer) = server.post("/api/v1/pulls/1/merge", &json!({})).await;
    assert_error(status, &answer, 503, "unavailable");
    let (status, answer) = server.post("/api/v1/pulls/1/close", &json!({"comment": "no"})).await;
    assert_error(status, &answer, 503, "unavailable");
}

#[tokio::test]
async fn pull_requests_are_listed_merged_and_closed_through_the_engine() {
    let server = Server::start().await;
    for query in ["", "?product=shop", "?state=open", "?state=Merged&product=shop", "?state=&product="] {
        let (status, body) = server.get(&format!("/api/v1/pulls{query}")).await;
        assert_eq!((status, &body), (200, &json!({"items": []})), "{query}");
    }
    for (query, field) in [
        ("?state=draft", "state: \"draft\" is not a pull-request state"),
        ("?product=Not%20A%20Product", "product: "),
        ("?prodct=shop", "prodct: unknown query parameter"),
        ("?state=open&state=closed", "state: given more than once"),
    ] {
        let (status, error) = server.get(&format!("/api/v1/pulls{query}")).await;
        assert_field(status, &error, field);
    }

    for number in ["0", "-3", "abc", "1.5"] {
        let (status, error) = server.post_raw(&format!("/api/v1/pulls/{number}/merge"), "", &[]).await;
        assert_field(status, &error, "number: ");
        let (status, error) = server.post_raw(&format!("/api/v1/pulls/{number}/close"), "", &[]).await;
        assert_field(status, &error, "number: ");
    }
    let (status, error) = server.post("/api/v1/pulls/7/close", &json!({"comment": "x".repeat(1001)})).await;
    assert_field(status, &error, "comment: must be at most 1000 characters");
    let (status, error) = server.post("/api/v1/pulls/7/close", &json!({"coment": "x"})).await;
    assert_field(status, &error, "coment: unknown field");

    // No pull request has been opened: the engine does not know number 7.
    let (status, error) = server.post_raw("/api/v1/pulls/7/merge", "", &[("Ferry-Actor", "alice")]).await;
    assert_error(status, &error, 404, "not_found");
    let (status, error) = server.post("/api/v1/pulls/7/close", &json!({"comment": "not needed"})).await;
    assert_error(status, &error, 404, "not_found");
    let (status, error) = server.post_raw("/api/v1/pulls/7/close", "", &[]).await;
    assert_error(status, &error, 404, "not_found");
}

/// dev → prod in a local repository; prod's applications take pushed status reports and wait for a
/// sign-off first.
fn approval_config(url: &str) -> String {
    let mut yaml = crate::gitops::dev_and_prod(url, |env| {
        Some(if env == "prod" { "push: { healthTimeout: 60s }" } else { "exec: {}" })
    });
    yaml.push_str(&crate::gitops::shop_flow(r#""$.image.tag""#, "", "policy: { action: commit, preAction: sign-off }"));
    yaml.push_str(
        r#"---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: sign-off }
spec:
  steps:
    - name: approve
      approval: { message: "Release manager sign-off" }
"#,
    );
    yaml
}

#[tokio::test]
async fn approvals_and_pushed_statuses_over_http_and_conflicts_with_the_release_state() {
    let server = Server::start().await;
    let gitops = Gitops::new(server.dir.path());
    gitops.write(&[
        ("envs/dev/api/values.yaml", values("api", "1.0.0", 2)),
        ("envs/dev/web/values.yaml", values("web", "1.0.0", 2)),
    ]);
    gitops.commit("api and web 1.0.0");
    let sources = json!({"sources": [{"name": "shop.yaml", "text": approval_config(&gitops.url())}]});
    let (status, body) = server.post("/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{body}");

    let waiting = server.events(2, |e| e.body["type"] == "StepAwaitingApproval");
    let (status, view) = server.post("/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    waiting.await;
    let (_, view) = server.get(&format!("/api/v1/releases/{id}")).await;
    assert_eq!(view["status"], "Suspended", "{view}");

    // Nothing in dev waits; a running release cannot be retried; an unknown environment is not found.
    let approve = format!("/api/v1/releases/{id}/approve");
    let (status, error) = server.post(&approve, &json!({"environment": "dev"})).await;
    assert_error(status, &error, 409, "conflict");
    assert!(error["error"]["message"].as_str().unwrap().contains("nothing in dev"), "{error}");
    let (status, error) = server.post(&approve, &json!({"environment": "staging"})).await;
    assert_error(status, &error, 404, "not_found");
    let (status, error) = server.post_raw(&format!("/api/v1/releases/{id}/retry"), "", &[]).await;
    assert_error(status, &error, 409, "conflict");
    assert!(error["error"]["message"].as_str().unwrap().contains("only Failed releases can be retried"), "{error}");

    // The sign-off, over HTTP.
    let committed = server.event(|e| e.body["type"] == "ActionCommitted" && e.body["env"] == "prod");
    let (status, body) = server.post_raw(&approve, r#"{"environment": "prod"}"#, &[("Ferry-Actor", "carol")]).await;
    assert_eq!(status, 200, "{body}");
    let approved: Vec<&str> = body["approved"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(approved.len(), 2, "one sign-off per application: {body}");
    assert!(approved.iter().all(|a| a.ends_with("/approve")), "{body}");

    // Both prod applications are promoted; their agents report them over HTTP.
    let committed = committed.await;
    assert_eq!(committed.release_id, id);
    let revision = committed.body["commit"].as_str().unwrap();
    for app in ["shop-api-prod", "shop-web-prod"] {
        let report = json!({"sync": "Synced", "health": "Healthy", "revision": revision, "message": "rolled out"});
        let (status, body) = server.post(&format!("/api/v1/apps/{app}/status"), &report).await;
        assert_eq!((status, &body), (202, &json!({"application": app, "accepted": true})));
    }
    let view = server.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view}");
    let prod = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "prod").unwrap();
    for app in prod["applications"].as_array().unwrap() {
        assert_eq!((&app["app"]["sync"], &app["app"]["health"]), (&json!("Synced"), &json!("Healthy")), "{app}");
        assert_eq!(app["app"]["message"], "rolled out", "{app}");
    }
    // The sign-off step's page of the finished release: one section per run, each with its step's own
    // record (read from the runs projection once the engine let the release go).
    let runs: Vec<String> = server
        .store
        .runs(&id.parse().unwrap())
        .await
        .unwrap()
        .iter()
        .filter(|r| r.run.workflow.as_str() == "sign-off")
        .map(|r| {
            assert!(r.detailed);
            assert_eq!(
                r.run.steps.iter().map(|s| (s.name.as_str(), s.status.as_str())).collect::<Vec<_>>(),
                [("approve", "Success")]
            );
            r.run.id.to_string()
        })
        .collect();
    assert_eq!(runs.len(), 2, "one sign-off run per prod application");
    let query: String = runs.iter().map(|r| format!("run={r}&")).collect();
    let page = server.http.get(server.url(&format!("/releases/{id}/steps?{query}step=approve"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for run in &runs {
        let section = html
            .split(&format!("<section class=\"run\" data-run=\"{run}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("run {run}: {html}"));
        let section = section.split("</section>").next().unwrap();
        assert!(!section.contains("<dd>—</dd>"), "the step's start and duration are known: {section}");
        assert!(section.contains("data-status=\"Success\""), "{section}");
    }
    let events = server.store.release_events(&id.parse().unwrap()).await.unwrap();
    let approvals: Vec<&Value> = events
        .iter()
        .filter(|e| e.body["type"] == "StepFinished" && e.body["step"] == "approve")
        .map(|e| &e.body["outputs"]["APPROVED_BY"])
        .collect();
    assert_eq!(approvals, [&json!("carol"), &json!("carol")]);

    // An exec application takes no reports; a finished release takes no control requests.
    let (status, error) =
        server.post("/api/v1/apps/shop-api-dev/status", &json!({"sync": "Synced", "health": "Healthy"})).await;
    assert_error(status, &error, 409, "conflict");
    for (path, body) in [
        (format!("/api/v1/releases/{id}/terminate"), json!({"reason": "late"})),
        (format!("/api/v1/releases/{id}/retry"), json!({})),
        (approve.clone(), json!({"environment": "prod"})),
    ] {
        let (status, error) = server.post(&path, &body).await;
        assert_error(status, &error, 409, "conflict");
        assert!(error["error"]["message"].as_str().unwrap().contains(&id), "{path}: {error}");
    }
}
