//! The error shape, limits, operations endpoints, and the write endpoints' input checks.

use serde_json::{Value, json};

use crate::Server;

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
    let (status, body) = crate::checked("DELETE", "/api/v1/releases", response).await;
    assert_eq!(status, 405);
    assert_error(&body, "method_not_allowed");

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
    let (status, body) = crate::checked("POST", "/api/v1/apply", response).await;
    assert_eq!(status, 400);
    assert_error(&body, "bad_request");

    // A body without `Content-Type: application/json` never reaches the handler.
    let response = server.http.post(server.url("/api/v1/apply")).body("{not json").send().await.unwrap();
    let (status, body) = crate::checked("POST", "/api/v1/apply", response).await;
    assert_eq!(status, 415);
    assert_error(&body, "unsupported_media_type");
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
    assert_eq!(server.post("/api/v1/apply", &server.shop_sources()).await.0, 200);
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
    // Well-formed requests the engine refuses: environments or a flow the product does not have.
    for (body, status, code, message) in [
        (json!({"from": "dev", "to": "prod"}), 422, "unprocessable", "environment prod is not configured"),
        (
            json!({"from": "nowhere", "to": "qa"}),
            422,
            "unprocessable",
            "product shop has no application in environment nowhere",
        ),
        (json!({"from": "qa", "to": "qa"}), 422, "unprocessable", "--from and --to name the same environment"),
        (json!({"flow": "express"}), 404, "not_found", "flow \"express\" is not configured"),
    ] {
        let (got, error) = server.post("/api/v1/products/shop/promote", &body).await;
        assert_eq!((got, &error["error"]["code"]), (status, &json!(code)), "{body}: {error}");
        assert_error(&error, code);
        assert!(error["error"]["message"].as_str().unwrap().contains(message), "{body}: {error}");
    }
    // A valid request creates the release: 201 with its view and where to find it.
    let response = server
        .http
        .post(server.url("/api/v1/products/shop/promote"))
        .json(&json!({"flow": "standard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let view: Value = response.json().await.unwrap();
    let id = view["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/releases/{id}"));
    assert_eq!(
        (&view["product"], &view["flow"], &view["version"]),
        (&json!("shop"), &json!("standard"), &json!("1.5.0"))
    );
    let envs: Vec<&str> =
        view["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(envs, ["dev", "qa", "staging", "prod-eu", "prod-us"], "{view}");
}

#[tokio::test]
async fn status_reports_and_webhooks_check_their_input() {
    let server = Server::start().await;
    assert_eq!(server.post("/api/v1/apply", &server.shop_sources()).await.0, 200);
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
            crate::checked("POST", "/api/v1/hooks/git", request.send().await.unwrap()).await
        }
    };
    let (status, body) = hook(Some(("X-GitHub-Event", "ping")), json!({"zen": "x"})).await;
    assert_eq!((status, &body["ignored"]), (202, &json!(true)), "{body}");
    let (status, body) = hook(Some(("X-Gitlab-Event", "Push Hook")), json!({"ref": "refs/heads/main"})).await;
    assert_eq!(status, 400, "{body}");
    let repo = server.shop_repo_url();
    let (status, body) = hook(None, json!({"repoURL": repo, "branch": "main"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("after"));
    // A push to the repository of every application of the product, on their branch.
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let (status, body) = hook(None, json!({"repoURL": format!("{repo}/"), "branch": "main", "after": sha})).await;
    assert_eq!((status, &body["ignored"]), (202, &json!(false)), "{body}");
    let mut apps: Vec<&str> = body["applications"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    apps.sort_unstable();
    let mut want: Vec<String> = crate::gitops::SHOP_COMPONENTS
        .iter()
        .flat_map(|c| crate::gitops::SHOP_ENVIRONMENTS.iter().map(move |e| format!("shop-{c}-{e}")))
        .collect();
    want.sort_unstable();
    assert_eq!(apps, want, "{body}");
    assert_eq!(body["message"], "push to \"main\": 15 applications will be checked");
    // Another branch, or another repository: nothing to check.
    for (url, branch) in [(repo.as_str(), "feature"), ("file:///nonexistent/other.git", "main")] {
        let (status, body) = hook(None, json!({"repoURL": url, "branch": branch, "after": sha})).await;
        assert_eq!((status, &body["applications"]), (202, &json!([])), "{body}");
    }
}

#[tokio::test]
async fn readiness_fails_while_the_store_cannot_answer() {
    let server = Server::start().await;
    assert_eq!(server.get("/readyz").await, (200, json!({"status": "ready"})));
    // Another connection takes away the table the readiness check reads: the store cannot answer it.
    let db = server.dir.path().join("ferry.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("ALTER TABLE kv RENAME TO kv_away", []).unwrap();
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "unavailable");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("the store is not reachable: "), "{body}");
    // Liveness does not depend on the store.
    assert_eq!(server.get("/healthz").await, (200, json!({"status": "ok"})));
    conn.execute("ALTER TABLE kv_away RENAME TO kv", []).unwrap();
    assert_eq!(server.get("/readyz").await, (200, json!({"status": "ready"})));
}

#[tokio::test]
async fn a_view_stored_by_an_earlier_version_is_rebuilt_from_the_event_log() {
    let mut server = Server::start().await;
    assert_eq!(server.post("/api/v1/apply", &server.shop_sources()).await.0, 200);
    let (status, created) = server.post("/api/v1/products/shop/promote", &json!({"flow": "standard"})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // No engine writes the view again meanwhile.
    server.stop_engine().await;
    // The stored view lacks what later versions added (here: almost everything).
    let db = server.dir.path().join("ferry.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let old = json!({"id": id, "product": "shop"}).to_string();
    assert_eq!(conn.execute("UPDATE release_views SET view = ?1 WHERE id = ?2", [&old, &id]).unwrap(), 1);
    let (status, view) = server.get(&format!("/api/v1/releases/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!((&view["id"], &view["flow"]), (&json!(id), &json!("standard")));
    let envs: Vec<&str> =
        view["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(envs, ["dev", "qa", "staging", "prod-eu", "prod-us"], "{view}");
}

/// Path parameters are parsed into domain types before a handler runs: bad input is a 400 in the error
/// envelope naming the parameter as the route spells it and what was expected.
#[tokio::test]
async fn bad_path_parameters_name_the_parameter_and_what_was_expected() {
    let server = Server::start().await;
    let cases = [
        ("GET", "/api/v1/releases/not-a-uuid", "id: \"not-a-uuid\" is not a release id (a UUID)"),
        ("GET", "/api/v1/releases/12345/logs", "id: \"12345\" is not a release id (a UUID)"),
        ("GET", "/api/v1/releases/x/notes", "id: \"x\" is not a release id (a UUID)"),
        ("POST", "/api/v1/releases/x/retry", "id: \"x\" is not a release id (a UUID)"),
        ("GET", "/api/v1/products/Shop_Front", "name: "),
        ("POST", "/api/v1/products/-shop/promote", "name: "),
        ("POST", "/api/v1/apps/API%20QA/status", "name: "),
        ("POST", "/api/v1/pulls/0/merge", "number: \"0\" is not a pull-request number (1, 2, ...)"),
        ("POST", "/api/v1/tokens/CI/revoke", "name: \"CI\" is not a token name"),
    ];
    for (method, path, want) in cases {
        let (status, body) = if method == "GET" {
            server.get(path).await
        } else {
            server.post(path, &json!({"sync": "Synced", "health": "Healthy"})).await
        };
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{method} {path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(want), "{method} {path}: {message}");
        assert_eq!(body["error"]["details"][0], message, "{method} {path}: the details name the parameter too");
    }
    // A product name is checked before the product is looked up: a well-formed unknown one is 404.
    let (status, body) = server.get("/api/v1/products/no-such-product").await;
    assert_eq!(status, 404, "{body}");
}
