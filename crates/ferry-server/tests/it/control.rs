//! Release control (terminate, retry, approve) and promotion pull requests: input checks, unknown ids,
//! and the routing to the engine. What the engine does with a request is tested with the engine.

use serde_json::{Value, json};

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

    // A stored release goes to the engine, whose answer comes back as the view or in the error shape.
    let id = release_id("2026-02-01T00:00:00Z");
    write(&server.store, release_write(&id, "shop", "standard", "Failed", "2026-02-01T00:00:00Z", 0, 1)).await;
    let requests = [
        (format!("/api/v1/releases/{id}/terminate"), json!({"reason": "bad build"})),
        (format!("/api/v1/releases/{id}/retry"), json!({})),
        (format!("/api/v1/releases/{id}/approve"), json!({"environment": "qa"})),
    ];
    for (path, body) in &requests {
        let (status, answer) = server.post(path, body).await;
        match status {
            202 => assert_eq!(answer["id"], id.as_str(), "{path}: {answer}"),
            200 => assert!(answer["approved"].is_array(), "{path}: {answer}"),
            _ => assert!(answer["error"]["code"].is_string() && status >= 400, "{path}: {status} {answer}"),
        }
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
