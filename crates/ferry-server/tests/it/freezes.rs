//! Freeze windows over HTTP (SPEC §10): runtime freezes made, listed and deleted; bad input answered
//! with the field at fault; the override of a release's environment checked before the engine.

use serde_json::{Value, json};

use crate::Server;

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn bad_windows_are_refused_naming_the_field() {
    let server = Server::start().await;
    let cases = [
        (json!({"name": "f", "cron": "0 16 * FRI", "duration": "1h"}), "cron: \"0 16 * FRI\" has 4 fields"),
        (
            json!({"name": "f", "cron": "0 16 * * FRI", "duration": "64h", "timeZone": "Europe/Berlinn"}),
            "timeZone: unknown time zone",
        ),
        (
            json!({"name": "f", "cron": "0 * * * *", "duration": "2h"}),
            "duration: 2h is longer than the time between two occurrences",
        ),
        (json!({"name": "f", "cron": "0 * * * *", "duration": "soon"}), "duration: invalid duration"),
        (
            json!({"name": "f", "from": "2026-12-27T00:00:00Z", "until": "2026-12-24T00:00:00Z"}),
            "until: 2026-12-24T00:00:00Z is not after from",
        ),
        (json!({"name": "f", "from": "2026-12-27T00:00:00Z"}), "until: required with from"),
        (json!({"name": "f", "cron": "0 16 * * FRI"}), "duration: required with cron"),
        (json!({"name": "f"}), "a freeze needs a window"),
        (
            json!({"name": "f", "from": "2026-12-24T00:00:00Z", "until": "2026-12-27T00:00:00Z", "cron": "0 0 * * *"}),
            "a freeze has either from/until or cron/duration/timeZone, not both",
        ),
        (json!({"name": "Bad Name", "from": "2026-12-24T00:00:00Z", "until": "2026-12-27T00:00:00Z"}), "name: "),
        (
            json!({"name": "f", "environments": [""], "from": "2026-12-24T00:00:00Z", "until": "2026-12-27T00:00:00Z"}),
            "environments: globs must not be empty",
        ),
    ];
    for (body, expect) in cases {
        let (status, answer) = server.post("/api/v1/freezes", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(message(&answer).starts_with(expect), "{body}: {answer}");
    }
    let (_, list) = server.get("/api/v1/freezes").await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn runtime_freezes_are_created_listed_with_their_windows_and_deleted() {
    let server = Server::start().await;
    let weekend = json!({"name": "weekend", "environments": ["prod*"], "cron": "0 16 * * FRI", "duration": "64h",
                         "timeZone": "Europe/Berlin", "reason": "no weekend deploys"});
    let (status, created) = server.post("/api/v1/freezes", &weekend).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["source"], "runtime");
    assert_eq!(created["window"], json!({"cron": "0 16 * * FRI", "duration": "2d16h", "timeZone": "Europe/Berlin"}));
    assert!(created["next"]["from"].is_string(), "{created}");
    let (status, again) = server.post("/api/v1/freezes", &weekend).await;
    assert_eq!(status, 409, "{again}");
    let xmas = json!({"name": "xmas", "from": "2099-12-24T00:00:00Z", "until": "2099-12-27T00:00:00Z"});
    assert_eq!(server.post("/api/v1/freezes", &xmas).await.0, 201);
    let (_, list) = server.get("/api/v1/freezes").await;
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["weekend", "xmas"]);
    assert_eq!(list["items"][1]["next"], json!({"from": "2099-12-24T00:00:00Z", "until": "2099-12-27T00:00:00Z"}));
    assert_eq!(list["items"][1]["active"], Value::Null);
    let (status, left) = server.post("/api/v1/freezes/weekend/delete", &json!({})).await;
    assert_eq!(status, 200, "{left}");
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    let (status, gone) = server.post("/api/v1/freezes/weekend/delete", &json!({})).await;
    assert_eq!(status, 404, "{gone}");
}

#[tokio::test]
async fn unfreeze_checks_its_input_and_needs_a_frozen_environment() {
    let server = Server::start().await;
    let unknown = uuid::Uuid::now_v7();
    let path = format!("/api/v1/releases/{unknown}/unfreeze");
    for (body, expect) in [
        (json!({}), "environment: required"),
        (json!({"environment": "prod"}), "reason: required"),
        (json!({"environment": "prod", "reason": " "}), "reason: must not be empty"),
    ] {
        let (status, answer) = server.post(&path, &body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(message(&answer).starts_with(expect), "{answer}");
    }
    let (status, answer) = server.post(&path, &json!({"environment": "prod", "reason": "hotfix"})).await;
    assert_eq!(status, 404, "{answer}");
}

/// dev → prod with a freeze on prod from the configuration.
fn frozen_config(url: &str) -> String {
    let mut yaml = crate::gitops::dev_and_prod(url, |_| None);
    yaml.push_str(&crate::gitops::shop_flow(r#""$.image.tag""#, "", ""));
    yaml.push_str(
        r#"---
apiVersion: ferry/v1
kind: Freeze
metadata: { name: year-end }
spec:
  environments: [prod]
  from: 2000-01-01T00:00:00Z
  until: 2999-01-01T00:00:00Z
  reason: year-end close
"#,
    );
    yaml
}

async fn html(server: &Server, path: &str) -> String {
    let answer = reqwest::Client::new().get(server.url(path)).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{path}");
    answer.text().await.unwrap()
}

#[tokio::test]
async fn a_frozen_release_shows_its_hold_on_the_card_and_the_product_page_shows_the_window() {
    let server = Server::start().await;
    let gitops = crate::gitops::Gitops::new(server.dir.path());
    gitops.write(&[
        ("envs/dev/api/values.yaml", crate::gitops::values("api", "1.0.0", 2)),
        ("envs/dev/web/values.yaml", crate::gitops::values("web", "1.0.0", 2)),
        ("envs/prod/api/values.yaml", crate::gitops::values("api", "0.9.0", 2)),
        ("envs/prod/web/values.yaml", crate::gitops::values("web", "0.9.0", 2)),
    ]);
    gitops.commit("api and web 1.0.0");
    let sources = json!({"sources": [{"name": "shop.yaml", "text": frozen_config(&gitops.url())}]});
    let (status, body) = server.post("/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{body}");
    let frozen = server.events(1, |e| e.body["type"] == "EnvironmentFrozen");
    let (status, view) = server.post("/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    frozen.await;
    let (_, view) = server.get(&format!("/api/v1/releases/{id}")).await;
    assert_eq!(view["status"], "Suspended", "{view}");
    assert_eq!(view["reason"], "frozen until 2999-01-01T00:00:00Z (prod: year-end)");
    let page = html(&server, &format!("/releases/{id}")).await;
    assert!(page.contains("data-frozen") && page.contains("(year-end)"), "the prod card shows the hold");
    let product = html(&server, "/products/shop").await;
    assert!(product.contains("Freeze windows") && product.contains("year-end close"), "the product page lists it");
    // The configuration's freeze is listed with its source; the override lets prod through.
    let (_, list) = server.get("/api/v1/freezes").await;
    assert_eq!(list["items"][0]["source"], "config");
    let (status, view) = server
        .post(&format!("/api/v1/releases/{id}/unfreeze"), &json!({"environment": "prod", "reason": "signed off"}))
        .await;
    assert_eq!(status, 202, "{view}");
    let done = server.wait_final(&id).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let prod = done["environments"].as_array().unwrap().iter().find(|e| e["name"] == "prod").unwrap();
    assert_eq!(prod["freezeOverride"]["reason"], "signed off");
    let (_, audit) = server.get("/api/v1/audit").await;
    assert!(audit["items"].as_array().unwrap().iter().any(|a| a["action"] == "release.unfreeze"), "{audit}");
}
