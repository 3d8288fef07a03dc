//! Outgoing notifications (SPEC §6.6): a webhook that never answers leaves dead letters visible
//! through `GET /api/v1/notifications/failed`.

use std::time::Duration;

use serde_json::json;

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
    let mut counts = server.engine.notifier().counts();
    tokio::time::timeout(Duration::from_secs(60), counts.wait_for(|c| c.failed >= 1)).await.unwrap().unwrap();

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
