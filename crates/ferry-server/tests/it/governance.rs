//! Soak time and approvals as policy over HTTP (SPEC §10): with authentication on, prod needs two
//! approvals from the named tokens (the initiator cannot approve, one token's second approval does not
//! count, each approval is recorded with its actor, role and comment); a pushed Degraded report inside
//! prod's soak time fails it.

use ferry_server::ServerSettings;
use ferry_server::auth::tokens::{self, NewToken};
use ferry_store::Store;
use serde_json::json;

use crate::Server;
use crate::gitops::{Gitops, values};

async fn token(server: &Server, name: &str, role: &str) -> String {
    let new = NewToken { name: name.into(), role: role.into(), products: vec![], env_types: vec![], expires: None };
    tokens::create(&server.store, &new, "test").await.unwrap().token
}

fn config(url: &str) -> String {
    config_with(
        url,
        |_| Some("exec: {}"),
        "{ action: commit, approval: { required: 2, tokens: [carol, dave, alice] } }",
    )
}

/// dev → prod with the applications' `status` and prod's policy.
fn config_with(url: &str, status: impl Fn(&str) -> Option<&'static str>, prod_policy: &str) -> String {
    let mut yaml = crate::gitops::dev_and_prod(url, status);
    yaml.push_str(&format!(
        r#"apiVersion: ferry/v1
kind: Product
metadata: {{ name: shop }}
spec:
  promotionTemplate:
    versionSource: {{ file: values.yaml, jsonPath: $.image.tag }}
    promotion:
      values.yaml: {{ jsonPaths: ["$.image.tag"] }}
  promotionFlows: [ {{ name: standard }} ]
---
apiVersion: ferry/v1
kind: PromotionFlow
metadata: {{ name: standard }}
spec:
  triggerEnvironment: dev
  steps:
    - environment: prod
      dependsOn: [dev]
      policy: {prod_policy}
"#,
    ));
    yaml
}

#[tokio::test]
async fn two_tokens_approve_prod_and_one_tokens_second_approval_does_not_count() {
    let server = Server::start_with(ServerSettings { auth: true, ..ServerSettings::default() }).await;
    let (admin, alice) = (token(&server, "root", "admin").await, token(&server, "alice", "promoter").await);
    let (carol, dave) = (token(&server, "carol", "promoter").await, token(&server, "dave", "promoter").await);
    let gitops = Gitops::new(server.dir.path());
    gitops.write(&[
        ("envs/dev/api/values.yaml", values("api", "1.0.0", 2)),
        ("envs/dev/web/values.yaml", values("web", "1.0.0", 2)),
    ]);
    gitops.commit("api and web 1.0.0");
    let sources = json!({"sources": [{"name": "shop.yaml", "text": config(&gitops.url())}]});
    let (status, body) = server.post_as(&admin, "/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{body}");

    let started = server.event(|e| e.body["type"] == "EnvironmentStarted" && e.body["env"] == "prod");
    let (status, view) = server.post_as(&alice, "/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    started.await;
    let path = format!("/api/v1/releases/{id}");
    let (_, view) = server.get_as(&admin, &path).await;
    assert_eq!(view["status"], "Suspended", "{view}");
    assert_eq!(view["reason"], "awaiting approval in prod (0 of 2)");

    let approve = format!("{path}/approve");
    let prod = |comment: &str| json!({"environment": "prod", "comment": comment});
    // alice promoted it: named, but the initiator.
    let (status, error) = server.post_as(&alice, &approve, &prod("mine")).await;
    assert_eq!(status, 409, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("initiated this release"), "{error}");
    let (status, body) = server.post_as(&carol, &approve, &prod("checked the dashboards")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approved"], json!(["prod: approval 1 of 2"]));
    let (status, error) = server.post_as(&carol, &approve, &prod("really")).await;
    assert_eq!(status, 409, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("carol already approved prod"), "{error}");
    let (_, view) = server.get_as(&admin, &path).await;
    assert_eq!(view["status"], "Suspended", "one token's approvals count once: {view}");
    assert_eq!(view["reason"], "awaiting approval in prod (1 of 2)");

    // The release page's prod card: who approved, who may still approve.
    let page = server.http.get(server.url(&format!("/releases/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(
            "approvals 1 of 2: approved by carol (checked the dashboards); may still approve: token dave \
             (not alice, who initiated it)"
        ),
        "{html}"
    );

    let (status, body) = server.post_as(&dave, &approve, &prod("go")).await;
    assert_eq!(status, 200, "{body}");
    let view = server.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view}");
    let prod_view = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "prod").unwrap().clone();
    let given: Vec<(&str, &str, &str)> = prod_view["approval"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["actor"].as_str().unwrap(), a["role"].as_str().unwrap(), a["comment"].as_str().unwrap()))
        .collect();
    assert_eq!(given, [("carol", "promoter", "checked the dashboards"), ("dave", "promoter", "go")]);
    // The release's event log keeps who, when and why.
    let events = server.store.release_events(&id.parse().unwrap()).await.unwrap();
    let approvals: Vec<&str> = events
        .iter()
        .filter(|e| e.body["type"] == "ApprovalGiven")
        .map(|e| e.body["actor"].as_str().unwrap())
        .collect();
    assert_eq!(approvals, ["carol", "dave"]);
}

#[tokio::test]
async fn a_pushed_degraded_report_inside_the_soak_time_fails_prod() {
    let server = Server::start().await;
    let gitops = Gitops::new(server.dir.path());
    gitops.write(&[
        ("envs/dev/api/values.yaml", values("api", "1.0.0", 2)),
        ("envs/dev/web/values.yaml", values("web", "1.0.0", 2)),
    ]);
    gitops.commit("api and web 1.0.0");
    let yaml = config_with(
        &gitops.url(),
        |env| Some(if env == "prod" { "push: { healthTimeout: 60s }" } else { "exec: {}" }),
        "{ action: commit, soakTime: 1h }",
    );
    let (status, body) = server.post("/api/v1/apply", &json!({"sources": [{"name": "shop.yaml", "text": yaml}]})).await;
    assert_eq!(status, 200, "{body}");
    let committed = server.event(|e| e.body["type"] == "ActionCommitted" && e.body["env"] == "prod");
    let (status, view) = server.post("/api/v1/products/shop/promote", &json!({})).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    let revision = committed.await.body["commit"].as_str().unwrap().to_owned();
    let soaking = server.event(|e| e.body["type"] == "SoakStarted" && e.body["env"] == "prod");
    for app in ["shop-api-prod", "shop-web-prod"] {
        let report = json!({"sync": "Synced", "health": "Healthy", "revision": revision});
        assert_eq!(server.post(&format!("/api/v1/apps/{app}/status"), &report).await.0, 202);
    }
    soaking.await;
    let (_, view) = server.get(&format!("/api/v1/releases/{id}")).await;
    assert_eq!(view["status"], "Running", "soaking: {view}");
    let report = json!({"sync": "Synced", "health": "Degraded", "revision": revision, "message": "OOMKilled"});
    assert_eq!(server.post("/api/v1/apps/shop-web-prod/status", &report).await.0, 202);
    let view = server.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view}");
    let prod = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "prod").unwrap().clone();
    let relapse = prod["soak"]["relapse"].as_str().unwrap();
    assert!(relapse.starts_with("shop-web-prod: reported Synced and Degraded: OOMKilled"), "{relapse}");
    assert_eq!(prod["issues"][0]["kind"], "application", "{prod}");
}
