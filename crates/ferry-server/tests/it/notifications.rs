//! Outgoing notifications (SPEC §6.6): a webhook that never answers leaves dead letters, kept in the
//! store and visible through `GET /api/v1/notifications/failed`; an admin redelivers one; a full
//! delivery queue drops changes (recorded) without holding up the release.

use std::time::Duration;

use ferry_store::Store;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Server;

#[tokio::test]
async fn deliveries_to_an_unreachable_webhook_are_dead_letters_in_the_api() {
    let server = Server::start_tuned(|c| {
        c.notify.attempts = 2;
        c.notify.backoff = Duration::from_millis(1);
        c.notify.max_backoff = Duration::from_millis(2);
    })
    .await;
    // A loopback port nobody listens on: bound, then released.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut sources = server.shop_sources();
    let notification = format!(
        "apiVersion: ferry/v1\nkind: Notification\nmetadata: {{ name: ops }}\nspec:\n  url: http://{closed}/hook\n  on: {{ products: [shop] }}\n"
    );
    sources["sources"].as_array_mut().unwrap().push(json!({"name": "notify.yaml", "text": notification}));
    let (status, body) = server.post("/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{body}");

    let (status, view) = server.post("/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    // The release's first environment starts: a status change, delivered (and given up) on its own.
    stored(&server, 1).await;

    let (status, page) = server.get("/api/v1/notifications/failed").await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let dead = items.iter().find(|d| d["change"]["releaseId"] == id.as_str()).expect("a dead letter of the release");
    assert_eq!(
        (&dead["notification"], &dead["outcome"], &dead["attempts"]),
        (&json!("ops"), &json!("failed"), &json!(2))
    );
    assert_eq!(dead["change"]["product"], "shop");
    assert!(!dead["error"].as_str().unwrap().contains(&closed.to_string()), "the webhook URL stays out of errors");
}

/// Waits until the store has taken at least `n` failed notifications.
async fn stored(server: &Server, n: u64) {
    let mut stored = server.engine.failures_stored();
    tokio::time::timeout(Duration::from_secs(60), stored.wait_for(|s| *s >= n)).await.unwrap().unwrap();
}

/// The configuration of the example product plus the notification `ops` posting to `url`.
fn with_notification(server: &Server, url: &str) -> Value {
    let mut sources = server.shop_sources();
    let notification = format!(
        "apiVersion: ferry/v1\nkind: Notification\nmetadata: {{ name: ops }}\nspec:\n  url: {url}\n  on: {{ products: [shop] }}\n"
    );
    sources["sources"].as_array_mut().unwrap().push(json!({"name": "notify.yaml", "text": notification}));
    sources
}

/// A webhook on 127.0.0.1 that accepts every delivery and hands its JSON body over.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn an_admin_redelivers_a_dead_letter_once_to_the_notification_as_configured_now() {
    let server = Server::start_tuned(|c| c.notify.attempts = 1).await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let (status, body) =
        server.post("/api/v1/apply", &with_notification(&server, &format!("http://{closed}/hook"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, view) = server.post("/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    stored(&server, 2).await;
    let (_, page) = server.get("/api/v1/notifications/failed").await;
    let items = page["items"].as_array().unwrap().clone();
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let dead = items[0].clone();
    assert_eq!((&dead["outcome"], &dead["redeliveredBy"]), (&json!("failed"), &Value::Null));

    // The webhook is fixed in the configuration, then the dead letter is redelivered there.
    let (url, mut seen) = receiver().await;
    let (status, body) = server.post("/api/v1/apply", &with_notification(&server, &url)).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/api/v1/notifications/failed/{}/redeliver", dead["id"]);
    let (status, answer) = server.post(&path, &json!({})).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer["redeliveredBy"].is_string() && answer["redeliveredAt"].is_string(), "{answer}");
    let delivered = async {
        loop {
            if seen.recv().await.unwrap() == dead["change"] {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), delivered).await.expect("the redelivered change arrived");
    let (_, page) = server.get("/api/v1/notifications/failed").await;
    let marked = page["items"].as_array().unwrap().iter().find(|i| i["id"] == dead["id"]).unwrap().clone();
    assert_eq!(marked["redeliveredBy"], answer["redeliveredBy"]);

    // Once only; unknown and malformed ids are refused naming them.
    let (status, again) = server.post(&path, &json!({})).await;
    assert_eq!(status, 409, "{again}");
    assert!(again["error"]["message"].as_str().unwrap().contains("already redelivered"), "{again}");
    let (status, unknown) = server.post("/api/v1/notifications/failed/999999/redeliver", &json!({})).await;
    assert_eq!(status, 404, "{unknown}");
    let (status, bad) = server.post("/api/v1/notifications/failed/abc/redeliver", &json!({})).await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().contains("id"), "{bad}");

    // A notification no longer configured: refused, and the failure stays as it was.
    let other = items[1].clone();
    let (status, body) = server.post("/api/v1/apply", &server.shop_sources()).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/api/v1/notifications/failed/{}/redeliver", other["id"]);
    let (status, refused) = server.post(&path, &json!({})).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("no longer configured"), "{refused}");
    let still = server.store.notification_failure(other["id"].as_i64().unwrap()).await.unwrap().unwrap();
    assert_eq!(still.redelivered_by, None);
}

#[tokio::test]
async fn a_full_delivery_queue_drops_changes_and_records_them_without_holding_up_the_engine() {
    // One delivery at a time, one change waiting: a webhook that never answers holds the delivery,
    // the next change waits for it, one more fills the queue, and the rest are dropped.
    let server = Server::start_tuned(|c| {
        c.notify.queue = 1;
        c.notify.concurrency = 1;
        c.notify.attempts = 1;
        c.notify.timeout = Duration::from_secs(600);
    })
    .await;
    // Connections complete in the kernel's backlog; nothing ever reads or answers them.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let (status, body) = server.post("/api/v1/apply", &with_notification(&server, &url)).await;
    assert_eq!(status, 200, "{body}");
    let (status, view) = server.post("/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    // Terminated to its end while the webhook holds its first delivery: the engine never waits for
    // it (and the terminate's own changes are more than the queue and the held delivery can take).
    let (status, body) = server.post(&format!("/api/v1/releases/{id}/terminate"), &json!({"reason": "enough"})).await;
    assert_eq!(status, 202, "{body}");
    let view = server.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated", "{view}");
    stored(&server, 1).await;
    let (status, page) = server.get("/api/v1/notifications/failed").await;
    assert_eq!(status, 200, "{page}");
    let dropped: Vec<&Value> = page["items"].as_array().unwrap().iter().filter(|i| i["outcome"] == "dropped").collect();
    assert!(!dropped.is_empty(), "{page}");
    for d in &dropped {
        assert_eq!((&d["notification"], &d["attempts"]), (&Value::Null, &json!(0)), "{d}");
        assert_eq!(d["error"], "the notification queue is full");
        assert_eq!(d["change"]["releaseId"], id.as_str());
    }
    drop(silent);
}

/// A browser session of `token`: its cookies (session and CSRF) and the CSRF value its forms carry.
async fn signed_in(server: &Server, token: &str) -> (String, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(server.url("/signin")).send().await.unwrap();
    let csrf = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let value = csrf.strip_prefix("ferry_csrf=").unwrap().to_owned();
    let body = serde_urlencoded::to_string([("csrf", value.as_str()), ("token", token), ("next", "/")]).unwrap();
    let signed = http
        .post(server.url("/signin"))
        .header("cookie", &csrf)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status().as_u16(), 303);
    let session = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    (format!("{session}; {csrf}"), value)
}

#[tokio::test]
async fn the_admin_page_lists_failed_notifications_and_redelivers_one_for_admins_only() {
    let settings = ferry_server::ServerSettings { auth: true, ..Default::default() };
    let server = Server::start_full(|c| c.notify.attempts = 1, settings).await;
    let new = |name: &str, role: &str| ferry_server::auth::tokens::NewToken {
        name: name.into(),
        role: role.into(),
        products: Vec::new(),
        env_types: Vec::new(),
        expires: None,
    };
    let store = &server.store;
    let create = |t| async move { ferry_server::auth::tokens::create(store, &t, "test").await.unwrap().token };
    let (admin, promoter) = (create(new("root", "admin")).await, create(new("rita", "promoter")).await);
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let config = with_notification(&server, &format!("http://{closed}/hook"));
    let (status, body) = server.post_as(&admin, "/api/v1/apply", &config).await;
    assert_eq!(status, 200, "{body}");
    let (status, view) = server.post_as(&admin, "/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    stored(&server, 1).await;
    let failure = server.store.notification_failures(10).await.unwrap().remove(0);
    let number = failure.id.unwrap();

    // Admins see the list; the header links it for them only.
    let (admin_cookies, csrf) = signed_in(&server, &admin).await;
    let (promoter_cookies, promoter_csrf) = signed_in(&server, &promoter).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |cookies: &str| http.get(server.url("/notifications/failed")).header("cookie", cookies).send();
    let page = get(&admin_cookies).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    for part in [
        format!("data-failure=\"{number}\""),
        "ops".to_owned(),
        format!("href=\"/releases/{id}\""),
        format!("action=\"/notifications/failed/{number}/redeliver\""),
        format!("name=\"csrf\" value=\"{csrf}\""),
        failure.error.clone(),
    ] {
        assert!(html.contains(&part), "the page shows {part:?}:\n{html}");
    }
    assert!(!html.contains(&closed.to_string()), "the webhook URL stays off the page");
    assert!(html.contains("id=\"failed-notifications-link\""));
    let home = http.get(server.url("/")).header("cookie", &promoter_cookies).send().await.unwrap();
    assert!(!home.text().await.unwrap().contains("failed-notifications-link"), "not offered to a promoter");
    assert_eq!(get(&promoter_cookies).await.unwrap().status().as_u16(), 403);

    // A promoter's redelivery is refused and changes nothing.
    let path = format!("/notifications/failed/{number}/redeliver");
    let post = |cookies: &str, csrf: &str| {
        http.post(server.url(&path))
            .header("cookie", cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
    };
    assert_eq!(post(&promoter_cookies, &promoter_csrf).await.unwrap().status().as_u16(), 403);
    assert_eq!(server.store.notification_failure(number).await.unwrap().unwrap().redelivered_by, None);

    // The webhook fixed, the admin redelivers from the page: back to the list, the change delivered.
    let (url, mut seen) = receiver().await;
    let (status, body) = server.post_as(&admin, "/api/v1/apply", &with_notification(&server, &url)).await;
    assert_eq!(status, 200, "{body}");
    let done = post(&admin_cookies, &csrf).await.unwrap();
    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(done.headers()["location"], "/notifications/failed");
    let delivered = async {
        loop {
            if seen.recv().await.unwrap() == failure.change {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), delivered).await.expect("the redelivered change arrived");
    let html = get(&admin_cookies).await.unwrap().text().await.unwrap();
    assert!(html.contains("Redelivered by root"), "{html}");
    assert!(!html.contains(&format!("id=\"redeliver-{number}\"")), "no second button");
    // Once only: the page says why.
    let again = post(&admin_cookies, &csrf).await.unwrap();
    assert_eq!(again.status().as_u16(), 409);
    assert!(again.text().await.unwrap().contains("already redelivered by root"));
    let bad = http
        .post(server.url("/notifications/failed/abc/redeliver"))
        .header("cookie", &admin_cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let bad = bad.text().await.unwrap();
    assert!(
        bad.contains("id: ") && bad.contains("abc") && bad.contains("is not the number of a failed notification"),
        "{bad}"
    );
    let audit = server.store.audit(ferry_store::AuditQuery { limit: 50, ..Default::default() }).await.unwrap();
    let redeliveries: Vec<_> =
        audit.iter().filter(|e| e.action == "notification.redeliver").map(|e| (e.actor.as_str(), e.status)).collect();
    assert_eq!(redeliveries, [("root", 400), ("root", 409), ("root", 303), ("rita", 403)], "newest first");
}
