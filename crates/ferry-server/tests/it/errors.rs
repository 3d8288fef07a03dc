//! The error shape, limits, operations endpoints, and the write endpoints' input checks.

use serde_json::{Value, json};

use crate::{Server, shop_sources};

fn assert_error(body: &Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(error["details"].is_array(), "{body}");
}

#[tokio::test]
async fn unknown_routes_methods_and_oversized_bodies_answer_in_the_error_shape() {
    let server = Server::start().await;
    let (status, body) = server.get("/api/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("/api/v1/openapi.json"));

    let response = server.http.delete(server.url("/api/v1/releases")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_error(&response.json().await.unwrap(), "method_not_allowed");

    // 9 MiB against the default limit of 8 MiB.
    let big = json!({"sources": [{"name": "big.yaml", "text": "#".repeat(9 * 1024 * 1024)}]});
    let (status, body) = server.post("/api/v1/apply", &big).await;
    assert_eq!(status, 413);
    assert_error(&body, "payload_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("8 MiB"));

    let response = server
        .http
        .post(server.url("/api/v1/apply"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_error(&response.json().await.unwrap(), "bad_request");

    // A body without `Content-Type: application/json` never reaches the handler.
    let response = server.http.post(server.url("/api/v1/apply")).body("{not json").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert_error(&response.json().await.unwrap(), "unsupported_media_type");
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let server = Server::start().await;
    assert_eq!(server.get("/healthz").await, (200, json!({"status": "ok"})));
    assert_eq!(server.get("/readyz").await, (200, json!({"status": "ready"})));
    let (status, doc) = server.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/releases"]["get"].is_object());

    let response = server.http.get(server.url("/metrics")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for metric in ["ferry_events_committed_total 0", "ferry_sse_subscribers 0", "ferry_active_releases 0"] {
        assert!(text.contains(metric), "{metric} in {text}");
    }
    assert!(text.contains("ferry_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"), "{text}");
}

#[tokio::test]
async fn promote_checks_its_input_before_asking_the_engine() {
    let server = Server::start().await;
    let (status, body) = server.post("/api/v1/products/shop/promote", &json!({"flow": "standard"})).await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("apply a configuration first"), "{body}");
    assert_eq!(server.post("/api/v1/apply", &shop_sources()).await.0, 200);
    for (body, field) in [
        (json!({"flow": "standard", "from": "dev", "to": "qa"}), "flow"),
        (json!({"from": "dev"}), "to"),
        (json!({"to": "qa"}), "from"),
        (json!({"flow": "Bad Name"}), "flow"),
        (json!({"flw": "standard"}), "flw: unknown field"),
    ] {
        let (status, error) = server.post("/api/v1/products/shop/promote", &body).await;
        assert_eq!(status, 400, "{body}");
        assert!(error["error"]["message"].as_str().unwrap().starts_with(field), "{body}: {error}");
    }
    let response = server
        .http
        .post(server.url("/api/v1/products/shop/promote"))
        .header("Ferry-Actor", "x".repeat(200))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // A valid request reaches the engine; whatever it answers comes back in the error shape or as 201.
    let (status, body) = server.post("/api/v1/products/shop/promote", &json!({"flow": "standard"})).await;
    if status == 201 {
        assert!(body["id"].is_string(), "{body}");
    } else {
        assert!(body["error"]["code"].is_string(), "{status}: {body}");
    }
}

#[tokio::test]
async fn status_reports_and_webhooks_check_their_input() {
    let server = Server::start().await;
    assert_eq!(server.post("/api/v1/apply", &shop_sources()).await.0, 200);
    for (body, field) in [
        (json!({"sync": "InSync", "health": "Healthy"}), "sync"),
        (json!({"sync": "Synced", "health": "Fine"}), "health"),
        (json!({"sync": "Synced"}), "invalid request body"),
        (json!({"sync": "Synced", "health": "Healthy", "revision": ""}), "revision"),
    ] {
        let (status, error) = server.post("/api/v1/apps/shop-api-qa/status", &body).await;
        assert_eq!(status, 400, "{body}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let (status, error) =
        server.post("/api/v1/apps/nope/status", &json!({"sync": "Synced", "health": "Healthy"})).await;
    assert_eq!(status, 404, "{error}");

    let hook = |event: Option<(&'static str, &'static str)>, body: Value| {
        let server = &server;
        async move {
            let mut request = server.http.post(server.url("/api/v1/hooks/git")).json(&body);
            if let Some((name, value)) = event {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = hook(Some(("X-GitHub-Event", "ping")), json!({"zen": "x"})).await;
    assert_eq!((status, &body["ignored"]), (202, &json!(true)), "{body}");
    let (status, body) = hook(Some(("X-Gitlab-Event", "Push Hook")), json!({"ref": "refs/heads/main"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        hook(None, json!({"repoURL": "https://git.example.com/shop/gitops.git", "branch": "main"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("after"));
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let (status, body) =
        hook(None, json!({"repoURL": "https://git.example.com/shop/gitops.git", "branch": "main", "after": sha})).await;
    if status == 202 {
        assert_eq!(body["ignored"], false);
    } else {
        assert!(body["error"]["code"].is_string(), "{status}: {body}");
    }
}
