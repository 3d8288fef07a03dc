//! Rollback over HTTP (SPEC §10): `POST /api/v1/products/{name}/rollback` creates a release of flow
//! `rollback` restoring the previous release's versions in one environment; bad requests are refused
//! naming the field, the environment or the release; a promoter's environment-type scope applies.

use ferry_server::ServerSettings;
use ferry_server::auth::tokens::{self, NewToken};
use serde_json::json;

use crate::Server;
use crate::gitops::{Gitops, dev_and_prod, shop_flow, values};

/// dev → prod over `server`, after two releases: api 1.0.0 and then api 2.0.0 in prod. Answers
/// the ids of both releases.
async fn two_releases(server: &Server, token: Option<&str>) -> (String, String) {
    let gitops = Gitops::new(server.dir.path());
    let mut yaml = dev_and_prod(&gitops.url(), |_| Some("exec: {}"));
    yaml.push_str(&shop_flow("\"$.image.tag\"", "", "policy: { action: commit }"));
    let post = |path: String, body: serde_json::Value| async move {
        match token {
            Some(t) => server.post_as(t, &path, &body).await,
            None => server.post(&path, &body).await,
        }
    };
    let (status, body) = post("/api/v1/apply".into(), json!({"sources": [{"name": "shop.yaml", "text": yaml}]})).await;
    assert_eq!(status, 200, "{body}");
    let mut ids = Vec::new();
    for tag in ["1.0.0", "2.0.0"] {
        gitops.write(&[("envs/dev/api/values.yaml", values("api", tag, 2))]);
        gitops.commit(&format!("api {tag}"));
        let (status, view) = post("/api/v1/products/shop/promote".into(), json!({})).await;
        assert_eq!(status, 201, "{view}");
        let id = view["id"].as_str().unwrap().to_owned();
        assert_eq!(server.wait_final(&id).await["status"], "Succeeded");
        ids.push(id);
    }
    (ids.remove(0), ids.remove(0))
}

fn prod_api_version(view: &serde_json::Value) -> String {
    let prod = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "prod").unwrap();
    let api = prod["applications"].as_array().unwrap().iter().find(|a| a["component"] == "api").unwrap();
    api["version"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_rollback_restores_the_previous_release_in_prod() {
    let server = Server::start().await;
    let (first, second) = two_releases(&server, None).await;
    let body = json!({"env": "prod", "reason": "checkout errors"});
    let (status, view) = server.post("/api/v1/products/shop/rollback", &body).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["flow"], "rollback");
    assert_eq!(
        view["rollback"],
        json!({
            "environment": "prod", "target": first, "replaces": second, "reason": "checkout errors", "automatic": false
        })
    );
    let id = view["id"].as_str().unwrap().to_owned();
    let view = server.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view}");
    assert_eq!(view["version"], "1.0.0");
    assert_eq!(prod_api_version(&view), "1.0.0", "{view}");
    // Listed with the product's releases under its flow.
    let (_, page) = server.get("/api/v1/releases?product=shop&flow=rollback").await;
    let listed: Vec<&str> = page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [id.as_str()]);
}

#[tokio::test]
async fn bad_rollback_requests_name_what_is_wrong() {
    let server = Server::start().await;
    let (first, second) = two_releases(&server, None).await;
    let cases = [
        (json!({}), 400, "env: required"),
        (json!({"env": "prod", "to": "yesterday"}), 400, "to: not a release id"),
        (json!({"env": "prod", "colour": "red"}), 400, "colour"),
        (json!({"env": "moon"}), 404, "unknown environment \"moon\""),
        (json!({"env": "dev"}), 422, "did not promote into environment dev"),
        (json!({"env": "prod", "to": second}), 422, "nothing to roll back"),
        (
            json!({"env": "prod", "to": "01890000-0000-7000-8000-000000000000"}),
            422,
            "to: release 01890000-0000-7000-8000-000000000000 was never Successful in environment prod",
        ),
    ];
    for (body, want, text) in cases {
        let (status, error) = server.post("/api/v1/products/shop/rollback", &body).await;
        assert_eq!(status, want, "{body}: {error}");
        let message =
            format!("{} {}", error["error"]["message"].as_str().unwrap_or_default(), error["error"]["details"]);
        assert!(message.contains(text), "{body}: {message}");
    }
    let (status, error) = server.post("/api/v1/products/cart/rollback", &json!({"env": "prod"})).await;
    assert_eq!(status, 404, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("unknown product \"cart\""), "{error}");
    // Nothing was created by the refusals.
    let (_, page) = server.get("/api/v1/releases?product=shop&flow=rollback").await;
    assert_eq!(page["items"], json!([]), "{first}");
}

#[tokio::test]
async fn a_promoter_scoped_to_non_production_may_not_roll_prod_back() {
    let server = Server::start_with(ServerSettings { auth: true, ..ServerSettings::default() }).await;
    let new = |name: &str, role: &str, env_types: Vec<String>| NewToken {
        name: name.into(),
        role: role.into(),
        products: vec![],
        env_types,
        expires: None,
    };
    let admin = tokens::create(&server.store, &new("root", "admin", vec![]), "test").await.unwrap().token;
    let scoped = new("nonprod", "promoter", vec!["non-production".into()]);
    let nonprod = tokens::create(&server.store, &scoped, "test").await.unwrap().token;
    two_releases(&server, Some(&admin)).await;
    let (status, error) = server.post_as(&nonprod, "/api/v1/products/shop/rollback", &json!({"env": "prod"})).await;
    assert_eq!(status, 403, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("production"), "{error}");
    let (status, view) = server.post_as(&admin, "/api/v1/products/shop/rollback", &json!({"env": "prod"})).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["initiator"], "root");
}
