//! Authentication and authorisation over HTTP (SPEC §8.2): every route of both route tables with every
//! role, browser safety, scopes, sessions, webhook signatures and the audit log.

use ferry_server::auth::tokens::{self, NewToken};
use ferry_server::auth::{Access, Role};
use ferry_server::{ROUTES, ServerSettings, UI_ROUTES, WebhookSecret};
use ferry_store::{AuditQuery, Store};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::{Server, release_id, release_write, write};

fn auth_on() -> ServerSettings {
    ServerSettings { auth: true, ..ServerSettings::default() }
}

/// Creates a token in the server's store and returns its secret.
async fn token(server: &Server, name: &str, role: &str, products: &[&str], env_types: &[&str]) -> String {
    let new = NewToken {
        name: name.into(),
        role: role.into(),
        products: products.iter().map(|p| (*p).to_owned()).collect(),
        env_types: env_types.iter().map(|t| (*t).to_owned()).collect(),
        expires: None,
    };
    tokens::create(&server.store, &new, "test").await.unwrap().token
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// What came back: status, `Location`, and the body when it is a refusal (other bodies may be streams).
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

const CSRF: &str = "abcdefghijabcdefghijabcdefghijabcdefghij123";

async fn send(server: &Server, method: &str, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> Answer {
    let http = no_redirects();
    let url = server.url(path);
    let mut request = if method == "POST" { http.post(url) } else { http.get(url) };
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if method == "POST" {
        if path.starts_with("/api/") {
            request = request.header("content-type", "application/json").body("{}");
        } else {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("ferry_csrf={CSRF}"))
                .body(format!("csrf={CSRF}&reason=x"));
        }
    }
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let body = if matches!(status, 401 | 403 | 421 | 415) { response.text().await.unwrap() } else { String::new() };
    if !body.is_empty() && (path.starts_with("/api/") || path == "/metrics") {
        // The refusals of the guards are documented for every API route, in the error envelope.
        crate::contract::check(method, path, status, &serde_json::from_str(&body).unwrap());
    }
    Answer { status, location, body }
}

/// Fills a route's path parameters with values that exist or are at least well formed.
fn fill(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::now_v7().to_string()).replace("{name}", "shop").replace("{number}", "1")
}

#[tokio::test]
async fn every_route_of_both_tables_answers_each_role_as_its_rule_says() {
    let server = Server::start_with(auth_on()).await;
    let viewer = token(&server, "viewer", "viewer", &[], &[]).await;
    let promoter = token(&server, "promoter", "promoter", &[], &[]).await;
    let admin = token(&server, "admin", "admin", &[], &[]).await;
    let callers = [
        (None, None),
        (Some(viewer), Some(Role::Viewer)),
        (Some(promoter), Some(Role::Promoter)),
        (Some(admin), Some(Role::Admin)),
    ];
    let mut checked = 0;
    for route in ROUTES.iter().chain(UI_ROUTES) {
        let path = fill(route.path);
        for (secret, role) in &callers {
            let a = send(&server, route.method, &path, secret.as_deref(), &[]).await;
            let what = format!("{} {} as {role:?}: {} {:?} {}", route.method, route.path, a.status, a.location, a.body);
            let asked_to_sign_in = (a.status == 401 && a.body.contains("requires a token"))
                || (a.status == 303 && a.location.as_deref().is_some_and(|l| l.starts_with("/signin?next=")));
            let role_refused = a.status == 403 && a.body.contains("role is needed");
            match (route.access, role) {
                (Access::Webhook, _) => {
                    // No webhook secret on a server that requires auth: refused whoever asks.
                    assert_eq!(a.status, 401, "{what}");
                    assert!(a.body.contains("--webhook-secret-file"), "{what}");
                }
                // (A failed sign-in is the handler's own 401, not a refusal by the rule.)
                (Access::Public, _) => assert!(!asked_to_sign_in && !role_refused, "{what}"),
                (_, None) => assert!(asked_to_sign_in, "{what}"),
                (access, Some(role)) if access.allows(*role) => {
                    assert!(!asked_to_sign_in && !role_refused && a.status != 401 && a.status != 403, "{what}")
                }
                (_, Some(_)) => assert!(role_refused, "{what}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, (ROUTES.len() + UI_ROUTES.len()) * 4);
}

#[tokio::test]
async fn bad_tokens_get_a_one_line_reason_and_nothing_else() {
    let server = Server::start_with(auth_on()).await;
    let revoked = token(&server, "gone", "admin", &[], &[]).await;
    let (status, _) = server.post_as(&revoked, "/api/v1/tokens/gone/revoke", &json!({})).await;
    assert_eq!(status, 200);
    let unknown = tokens::generate_secret().unwrap();
    let cases: [(String, &str); 4] = [
        (format!("Bearer {revoked}"), "the token has been revoked"),
        (format!("Bearer {unknown}"), "unknown token"),
        ("Bearer not-a-token".to_owned(), "malformed token"),
        (format!("Basic {unknown}"), "unsupported Authorization scheme"),
    ];
    for (header, reason) in cases {
        let response =
            server.http.get(server.url("/api/v1/products")).header("authorization", &header).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, body) = crate::checked("GET", "/api/v1/products", response).await;
        assert_eq!(status, 401, "{reason}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(reason), "{message}");
        assert!(!message.contains('\n') && !message.contains(&unknown) && !message.contains(&revoked), "{message}");
    }
}

#[tokio::test]
async fn browsers_on_other_sites_cannot_drive_the_server() {
    // Auth off: the loopback default, where only browser safety stands between a page and the API.
    let server = Server::start().await;
    let sources = server.shop_sources().to_string();
    let refused = [
        // The report's form: text/plain from a page elsewhere.
        vec![("content-type", "text/plain"), ("origin", "http://evil.example")],
        vec![("content-type", "application/json"), ("origin", "http://evil.example")],
        vec![("content-type", "application/json"), ("sec-fetch-site", "cross-site")],
        vec![("content-type", "text/plain")],
        vec![("content-type", "application/x-www-form-urlencoded")],
    ];
    for headers in refused {
        let (status, body) = server.post_raw("/api/v1/apply", &sources, &headers).await;
        assert!(status == 403 || status == 415, "{headers:?}: {status} {body}");
    }
    let (_, products) = server.get("/api/v1/products").await;
    assert_eq!(products["items"], json!([]), "nothing was applied");
    assert_eq!(server.store.latest_config().await.unwrap(), None);

    let response =
        server.http.get(server.url("/api/v1/products")).header("host", "rebind.example:7878").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 421);
    let response = server.http.get(server.url("/")).header("host", "rebind.example").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 421, "UI pages too");
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'"), "refusals carry the page policy too: {csp}");

    // What the CLI and curl send still works, same-origin browser requests too.
    let (status, body) = server.post_raw("/api/v1/apply", &sources, &[("origin", &server.base.clone())]).await;
    assert_eq!(status, 200, "{body}");
    let (status, products) = server.get("/api/v1/products").await;
    assert_eq!((status, products["items"][0]["name"].as_str()), (200, Some("shop")));
}

#[tokio::test]
async fn ui_forms_need_their_csrf_token() {
    let server = Server::start().await;
    let id = release_id("2026-03-01T10:00:00Z");
    write(&server.store, release_write(&id, "shop", "standard", "Failed", "2026-03-01T10:00:00Z", 0, 1)).await;
    let http = no_redirects();
    // The first page sets the CSRF cookie and puts the same value in its forms.
    let page = http.get(server.url(&format!("/releases/{id}"))).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let value = cookie.split(';').next().unwrap().strip_prefix("ferry_csrf=").unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("name=\"csrf\" value=\"{value}\"")), "the forms carry the token");

    let post = |body: String, cookie: Option<String>| {
        let mut request = http
            .post(server.url(&format!("/releases/{id}/retry")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        request.send()
    };
    let without = post(String::new(), Some(format!("ferry_csrf={value}"))).await.unwrap();
    assert_eq!(without.status().as_u16(), 403);
    assert!(without.text().await.unwrap().contains("reload the page"));
    let wrong = post(format!("csrf={CSRF}"), Some(format!("ferry_csrf={value}"))).await.unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let no_cookie = post(format!("csrf={value}"), None).await.unwrap();
    assert_eq!(no_cookie.status().as_u16(), 403);
    // With both: the form reaches the handler (the made-up release has no engine state to retry).
    let both = post(format!("csrf={value}"), Some(format!("ferry_csrf={value}"))).await.unwrap();
    assert_ne!(both.status().as_u16(), 403);
}

#[tokio::test]
async fn promoters_act_within_their_products_and_environment_types() {
    let server = Server::start_with(auth_on()).await;
    let admin = token(&server, "admin", "admin", &[], &[]).await;
    let (status, body) = server.post_as(&admin, "/api/v1/apply", &server.shop_sources()).await;
    assert_eq!(status, 200, "{body}");
    let other = token(&server, "other", "promoter", &["other-*"], &[]).await;
    let nonprod = token(&server, "nonprod", "promoter", &["shop"], &["non-production"]).await;

    let (status, body) = server.post_as(&other, "/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("product \"shop\"") && message.contains("other-*"), "{message}");
    // The standard flow ends in production environments.
    let (status, body) = server.post_as(&nonprod, "/api/v1/products/shop/promote", &json!({"flow": "standard"})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("production environments"), "{body}");
    // Pushed status of a production application is out of its scope too.
    let prod_app = server.get_as(&admin, "/api/v1/applications").await.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["environment"].as_str().is_some_and(|e| e.starts_with("prod")))
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .unwrap();
    let status_body = json!({"sync": "Synced", "health": "Healthy"});
    let (status, body) = server.post_as(&nonprod, &format!("/api/v1/apps/{prod_app}/status"), &status_body).await;
    assert_eq!(status, 403, "{body}");
    // Every refusal by scope is in the audit log, under the token's name.
    let audit = server.store.audit(AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    let denied: Vec<_> =
        audit.iter().filter(|e| e.outcome == "denied").map(|e| (e.actor.as_str(), e.action.as_str())).collect();
    assert_eq!(denied, [("nonprod", "app.status"), ("nonprod", "product.promote"), ("other", "product.promote")]);
}

#[tokio::test]
async fn a_scoped_promoters_event_stream_carries_only_its_products() {
    let server = Server::start_with(auth_on()).await;
    let scoped = token(&server, "scoped", "promoter", &["shop"], &[]).await;
    let hidden = release_id("2026-03-01T10:00:00Z");
    let shown = release_id("2026-03-01T11:00:00Z");
    write(&server.store, release_write(&hidden, "billing", "standard", "Running", "2026-03-01T10:00:00Z", 0, 2)).await;
    let last =
        write(&server.store, release_write(&shown, "shop", "standard", "Running", "2026-03-01T11:00:00Z", 0, 2)).await;

    let (status, body) = server.get_as(&scoped, "/api/v1/events?product=billing").await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = server.get_as(&scoped, &format!("/api/v1/events?release={hidden}")).await;
    assert_eq!(status, 403);

    // The whole stream from the start: only shop's events, up to the last one written.
    let mut response = server.http.get(server.url("/api/v1/events?after=0")).bearer_auth(&scoped).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut text = String::new();
    let want = format!("id: {}", last.last().unwrap());
    while !text.contains(&want) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(60), response.chunk()).await.unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(text.contains(&shown) && !text.contains(&hidden), "{text}");
}

#[tokio::test]
async fn the_actor_is_the_tokens_name_and_state_changes_are_audited() {
    let server = Server::start_with(auth_on()).await;
    let admin = token(&server, "ops-admin", "admin", &[], &[]).await;
    let response = server
        .http
        .post(server.url("/api/v1/apply"))
        .bearer_auth(&admin)
        .header("ferry-actor", "mallory")
        .json(&server.shop_sources())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(server.store.latest_config().await.unwrap().unwrap().applied_by, "ops-admin");
    let (status, created) = server
        .post_as(&admin, "/api/v1/tokens", &json!({"name": "ci", "role": "promoter", "products": ["shop"]}))
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(tokens::looks_like_secret(created["token"].as_str().unwrap()));
    let (status, _) = server.post_as(&admin, "/api/v1/tokens", &json!({"name": "ci", "role": "viewer"})).await;
    assert_eq!(status, 409);
    // Unauthenticated attempts are not recorded; reads are not recorded.
    let (status, _) = server.post("/api/v1/tokens", &json!({"name": "x", "role": "admin"})).await;
    assert_eq!(status, 401);
    let (status, page) = server.get_as(&admin, "/api/v1/audit").await;
    assert_eq!(status, 200);
    let entries: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        entries,
        [("ops-admin", "token.create", 409), ("ops-admin", "token.create", 201), ("ops-admin", "config.apply", 200)]
    );
    let first = &page["items"][2];
    assert!(first["source"].as_str().unwrap().starts_with("127.0.0.1:"), "{first}");
    assert_eq!(first["target"], "/api/v1/apply");
    assert_eq!(page["items"][0]["outcome"], "failed");
    assert!(page["items"][0]["detail"].as_str().unwrap().contains("never reused"));
    // No secret anywhere in the listing.
    let (_, listed) = server.get_as(&admin, "/api/v1/tokens").await;
    let text = listed.to_string();
    assert!(
        !text.contains(&admin) && !text.contains(created["token"].as_str().unwrap()) && !text.contains("hash"),
        "{text}"
    );
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_browser_signs_in_with_a_token_and_out_again() {
    let server = Server::start_with(auth_on()).await;
    let secret = token(&server, "alice", "viewer", &[], &[]).await;
    let http = no_redirects();
    let page = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 303);
    assert_eq!(page.headers()["location"], "/signin?next=%2F");
    let form = http.get(server.url("/signin?next=/flows/x")).send().await.unwrap();
    let csrf = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let value = csrf.strip_prefix("ferry_csrf=").unwrap().to_owned();
    let sign_in = |token: &str| {
        http.post(server.url("/signin"))
            .header("cookie", &csrf)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([("csrf", value.as_str()), ("token", token), ("next", "/flows/x")])
                    .unwrap(),
            )
            .send()
    };
    let wrong = sign_in(&tokens::generate_secret().unwrap()).await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.text().await.unwrap().contains("unknown token"));
    let ok = sign_in(&secret).await.unwrap();
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(ok.headers()["location"], "/flows/x");
    let session = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(session.starts_with("ferry_session=ferrys_") && session.contains("HttpOnly; SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "no Secure flag without TLS");
    let session = session.split(';').next().unwrap().to_owned();
    let cookies = format!("{session}; {csrf}");

    let home = http.get(server.url("/")).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(home.status().as_u16(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("Signed in as <strong>alice</strong>"), "{html}");
    // The session is a viewer's: it cannot act.
    let retry = http
        .post(server.url(&format!("/releases/{}/retry", uuid::Uuid::now_v7())))
        .header("cookie", &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status().as_u16(), 403);

    let out = http
        .post(server.url("/signout"))
        .header("cookie", &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let after = http.get(server.url("/")).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(after.status().as_u16(), 303, "the ended session no longer works");
    let audit = server.store.audit(AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.status)).collect();
    assert_eq!(
        actions,
        [("alice", "session.signout", 303), ("alice", "release.retry", 403), ("alice", "session.signin", 303)]
    );
}

fn github_push(secret: Option<&WebhookSecret>) -> (HeaderMap, String) {
    let body = json!({
        "ref": "refs/heads/main",
        "after": "0123456789abcdef0123456789abcdef01234567",
        "repository": {"clone_url": "https://forge.invalid/o/r.git"}
    })
    .to_string();
    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", HeaderValue::from_static("push"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(s) = secret {
        let signature = ferry_server::auth::signature::sign(s, body.as_bytes());
        headers.insert("x-hub-signature-256", HeaderValue::from_str(&signature).unwrap());
    }
    (headers, body)
}

#[tokio::test]
async fn webhooks_are_authenticated_by_their_signature() {
    let secret = WebhookSecret::new("hook-secret").unwrap();
    let settings = ServerSettings { webhook_secret: Some(secret.clone()), ..auth_on() };
    let server = Server::start_with(settings).await;
    let hook = |(headers, body): (HeaderMap, String)| {
        server.http.post(server.url("/api/v1/hooks/git")).headers(headers).body(body).send()
    };
    let signed = hook(github_push(Some(&secret))).await.unwrap();
    assert_eq!(signed.status().as_u16(), 202);
    let unsigned = hook(github_push(None)).await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    assert!(unsigned.text().await.unwrap().contains("not signed"));
    let wrong = hook(github_push(Some(&WebhookSecret::new("other").unwrap()))).await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let (mut headers, body) = github_push(None);
    headers.insert("x-gitlab-token", HeaderValue::from_static("hook-secret"));
    headers.insert("x-gitlab-event", HeaderValue::from_static("Push Hook"));
    headers.remove("x-github-event");
    let gitlab = hook((headers, body)).await.unwrap();
    assert_ne!(gitlab.status().as_u16(), 401, "a GitLab token that matches is accepted");
    let audit = server.store.audit(AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    let actors: Vec<_> = audit.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["webhook:gitlab", "webhook:github"], "refused deliveries leave no trace");

    // Without a secret, only an auth-less server accepts deliveries (unsigned).
    let open = Server::start().await;
    let (headers, body) = github_push(None);
    let response = open.http.post(open.url("/api/v1/hooks/git")).headers(headers).body(body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 202);
}

#[tokio::test]
async fn whoami_names_the_caller() {
    let server = Server::start_with(auth_on()).await;
    let secret = token(&server, "ci", "promoter", &["shop-*"], &["NON_PROD"]).await;
    let (status, me) = server.get_as(&secret, "/api/v1/whoami").await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"name": "ci", "role": "promoter", "products": ["shop-*"], "envTypes": ["non-production"], "auth": true})
    );
    let open = Server::start().await;
    let response = open.http.get(open.url("/api/v1/whoami")).header("ferry-actor", "bob").send().await.unwrap();
    let me: Value = response.json().await.unwrap();
    assert_eq!(me, json!({"name": "bob", "role": "admin", "products": [], "envTypes": [], "auth": false}));
}
