//! Applying configuration and reading it back.

use serde_json::{Value, json};

use crate::Server;

fn names(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn apply_the_example_then_read_the_catalog() {
    let server = Server::start().await;
    let (status, products) = server.get("/api/v1/products").await;
    assert_eq!((status, products), (200, json!({"items": []})));

    let (status, applied) = server.post("/api/v1/apply", &server.shop_sources()).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["version"], 1);
    assert_eq!(applied["resources"]["environments"], 5);
    assert_eq!(applied["resources"]["applications"], 15);
    assert_eq!(applied["resources"]["products"], 1);
    assert_eq!(applied["resources"]["promotionFlows"], 2);
    assert!(applied["warnings"].is_array());

    let (_, products) = server.get("/api/v1/products").await;
    assert_eq!(names(&products), ["shop"]);
    let shop = &products["items"][0];
    assert_eq!(shop["promotionTemplateRef"], "helm-images");
    assert_eq!(shop["concurrency"], "queue");
    assert_eq!(shop["applications"], 15);
    assert_eq!(shop["promotionFlows"][0]["name"], "hotfix");
    assert_eq!(shop["promotionFlows"][0]["gitTriggerSelectors"][0]["key"], "gitRevision");

    let (_, envs) = server.get("/api/v1/environments").await;
    assert_eq!(names(&envs), ["dev", "qa", "staging", "prod-eu", "prod-us"], "dashboard order");
    assert_eq!(envs["items"][3]["type"], "production");

    let (_, flows) = server.get("/api/v1/flows").await;
    assert_eq!(names(&flows), ["hotfix", "standard"]);
    let standard = &flows["items"][1];
    assert_eq!(standard["triggerEnvironment"], "dev");
    assert_eq!(standard["version"], "3.0");
    assert_eq!(standard["timeout"], "6h");
    assert_eq!(standard["steps"][2]["dependsOn"], json!(["qa", "staging"]));
    assert_eq!(standard["steps"][1]["policy"]["postAction"], "e2e");
    assert_eq!(standard["steps"][2]["hooks"]["onStart"], "page-oncall");

    let (_, policies) = server.get("/api/v1/policies").await;
    assert_eq!(names(&policies), ["production-guard", "test-envs", "baseline"], "strongest first");
    assert_eq!(policies["items"][0]["environmentTypes"], json!(["production"]));
    assert_eq!(policies["items"][0]["policy"]["action"], "pr");

    let (_, workflows) = server.get("/api/v1/workflows").await;
    assert_eq!(workflows["items"].as_array().unwrap().len(), 6);
    let (_, apps) = server.get("/api/v1/applications").await;
    assert_eq!(apps["items"][0]["environment"], "dev");

    let (status, detail) = server.get("/api/v1/products/shop").await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["product"]["name"], "shop");
    assert_eq!(detail["flows"].as_array().unwrap().len(), 2);
    assert_eq!(detail["environments"], json!(["dev", "qa", "staging", "prod-eu", "prod-us"]));
    assert_eq!(detail["applications"].as_array().unwrap().len(), 15);
    assert_eq!(detail["live"], json!([]));
    assert_eq!(detail["latestRelease"], Value::Null);
    assert!(detail["events"].is_array(), "product events (the engine may already have written some)");

    let (status, missing) = server.get("/api/v1/products/nope").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "not_found");
    assert!(missing["error"]["message"].as_str().unwrap().contains("known products: shop"), "{missing}");

    // A second apply is a new version.
    let (_, again) = server.post("/api/v1/apply", &server.shop_sources()).await;
    assert_eq!(again["version"], 2);
}

#[tokio::test]
async fn an_invalid_configuration_is_rejected_with_every_diagnostic() {
    let server = Server::start().await;
    let envs = "apiVersion: ferry/v1\nkind: Environment\nmetadata: {name: dev}\nspec: {tyep: production}\n";
    let flows = "apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: {name: f}\nspec:\n  triggerEnvironment: dev\n  steps:\n    - environment: qa2\n";
    let sources = [
        ferry_config::Source { name: "envs.yaml".into(), text: envs.into() },
        ferry_config::Source { name: "flows.yaml".into(), text: flows.into() },
    ];
    let expected = ferry_config::load_sources(&sources).unwrap_err();
    assert!(expected.len() >= 2, "the fixture has several problems: {expected:?}");
    let body = json!({"sources": sources.iter().map(|s| json!({"name": s.name, "text": s.text})).collect::<Vec<_>>()});
    let (status, error) = server.post("/api/v1/apply", &body).await;
    assert_eq!(status, 400);
    let error = &error["error"];
    assert_eq!(error["code"], "invalid_configuration");
    let details: Vec<String> =
        error["details"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
    assert_eq!(details, expected.iter().map(ToString::to_string).collect::<Vec<_>>());
    assert_eq!(error["diagnostics"], serde_json::to_value(&expected).unwrap());
    assert!(details[0].starts_with("envs.yaml#1:4:"), "{details:?}");
    // Nothing was stored.
    let (_, products) = server.get("/api/v1/environments").await;
    assert_eq!(products, json!({"items": []}));

    // Malformed requests name the field.
    let (status, error) = server.post("/api/v1/apply", &json!({"sources": [{"name": "a.yaml"}]})).await;
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().starts_with("sources[0]: missing field `text`"), "{error}");
    let (status, error) = server.post("/api/v1/apply", &json!({"sources": []})).await;
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().starts_with("sources:"), "{error}");
}

#[tokio::test]
async fn apply_warns_when_an_argocd_application_lacks_a_server_or_token() {
    let server = Server::start().await;
    let mut sources = server.shop_sources();
    let url = server.shop_repo_url();
    let extra = format!(
        "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-extra-qa }}\nspec:\n  product: shop\n  environment: qa\n  component: extra\n  source: {{ repoURL: \"{url}\", path: apps/extra/qa, targetRevision: main }}\n  status:\n    argocd: {{ tokenSecret: FERRY_TEST_TOKEN_NOT_SET }}\n"
    );
    sources["sources"].as_array_mut().unwrap().push(json!({ "name": "argo.yaml", "text": extra }));
    let (status, applied) = server.post("/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{applied}");
    let warnings: Vec<&Value> =
        applied["warnings"].as_array().unwrap().iter().filter(|w| w["file"] == "Application shop-extra-qa").collect();
    assert_eq!(warnings.len(), 1, "{applied:#}");
    let message = warnings[0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "Argo CD application shop-extra-qa needs an Argo CD server (set status.argocd.server, or start the server \
         with --argocd-server URL or FERRY_ARGOCD_SERVER) and an Argo CD token (the environment variable \
         FERRY_TEST_TOKEN_NOT_SET is not set on the server)"
    );
    assert_eq!(warnings[0]["severity"], "warning");
    // Exec applications need nothing: no other application is warned about.
    assert!(!applied["warnings"].as_array().unwrap().iter().any(|w| w["file"] == "Application shop-api-qa"));
}

#[tokio::test]
async fn apply_warns_when_an_argo_workflow_lacks_a_server_or_token() {
    let server = Server::start().await;
    let mut sources = server.shop_sources();
    let workflow = "apiVersion: ferry/v1\nkind: Workflow\nmetadata: { name: e2e-argo }\nspec:\n  argo: { template: e2e, namespace: ci, tokenSecret: FERRY_TEST_ARGO_TOKEN_NOT_SET }\n";
    sources["sources"].as_array_mut().unwrap().push(json!({ "name": "argowf.yaml", "text": workflow }));
    let (status, applied) = server.post("/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{applied}");
    let warnings: Vec<&Value> =
        applied["warnings"].as_array().unwrap().iter().filter(|w| w["file"] == "Workflow e2e-argo").collect();
    assert_eq!(warnings.len(), 1, "{applied:#}");
    assert_eq!(
        warnings[0]["message"],
        "Argo WorkflowTemplate ci/e2e needs an Argo Server (set spec.argo.server, or start the server with \
         --argo-server URL or FERRY_ARGO_SERVER) and an Argo Server token (the environment variable \
         FERRY_TEST_ARGO_TOKEN_NOT_SET is not set on the server)"
    );
    assert_eq!(warnings[0]["field"], "spec.argo");
    // Local workflows need nothing.
    assert!(
        !applied["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["file"].as_str().unwrap().starts_with("Workflow e2e "))
    );
    assert_eq!(
        applied["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["file"].as_str().unwrap().starts_with("Workflow"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_configuration_in_use_is_one_document_per_resource_with_credentials_masked() {
    let server = Server::start().await;
    let (status, empty) = server.get("/api/v1/config").await;
    assert_eq!((status, empty), (200, json!({"version": null, "appliedAt": null, "appliedBy": null, "resources": []})));

    // Applying reads no repository: a URL with a password that leads nowhere is fine here.
    let sources = crate::gitops::shop_sources("https://ferry-bot:s3cret-pass@forge.invalid/shop/gitops.git");
    let (status, applied) = server.post("/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{applied}");
    let (status, config) = server.get("/api/v1/config").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["version"], 1);
    assert!(config["appliedAt"].is_string());
    let resources = config["resources"].as_array().unwrap();
    let counted: u64 = applied["resources"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(resources.len() as u64, counted, "every resource once: {config:#}");
    let kinds: Vec<&str> = resources.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted, "sorted by kind");
    let dev = resources.iter().find(|r| r["kind"] == "Environment" && r["name"] == "dev").unwrap();
    assert_eq!(dev["spec"]["env_type"], "non-production", "{dev}");
    let text = config.to_string();
    assert!(!text.contains("s3cret-pass"), "credentials are masked: {text}");
    assert!(text.contains("forge.invalid/shop/gitops"), "the URL is still there: {text}");
}

#[tokio::test]
async fn the_version_is_the_build_s() {
    let server = Server::start().await;
    let (status, version) = server.get("/api/v1/version").await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version["commit"], ferry_server::BUILD_COMMIT);
}

#[tokio::test]
async fn git_providers_and_notifications_are_listed_without_their_secrets() {
    let server = Server::start().await;
    let (_, empty) = server.get("/api/v1/gitproviders").await;
    assert_eq!(empty, json!({"items": []}));
    let mut sources = server.shop_sources();
    let extra = "apiVersion: ferry/v1\nkind: GitProvider\nmetadata: { name: acme-github }\nspec:\n  type: github\n  apiURL: https://bot:hunter2@ghe.example.com/api/v3\n  token: { file: /etc/ferry/github-token }\n  webhookSecret: { env: FERRY_HOOK_SECRET }\n  repositories:\n    - { url: \"https://github.com/acme/*\" }\n    - { url: \"https://x:tok@github.com/acme/gitops.git\", name: acme/gitops }\n---\n\
                 apiVersion: ferry/v1\nkind: GitProvider\nmetadata: { name: acme-app }\nspec:\n  type: github\n  app: { id: 4242, privateKeyFile: /etc/ferry/app.pem }\n  repositories: [ { url: \"https://github.com/other/*\" } ]\n---\n\
                 apiVersion: ferry/v1\nkind: Notification\nmetadata: { name: slack }\nspec:\n  url: https://hooks.slack.com/services/T0/B0/sekrit-path\n  format: slack\n  secret: { env: FERRY_SLACK_SECRET }\n  on: { products: [shop], statuses: [Failed] }\n";
    sources["sources"].as_array_mut().unwrap().push(json!({"name": "integrations.yaml", "text": extra}));
    let (status, body) = server.post("/api/v1/apply", &sources).await;
    assert_eq!(status, 200, "{body}");

    let (status, providers) = server.get("/api/v1/gitproviders").await;
    assert_eq!(status, 200, "{providers}");
    assert_eq!(names(&providers), ["acme-app", "acme-github"]);
    let github = &providers["items"][1];
    assert_eq!(github["type"], "github");
    assert_eq!(github["apiURL"], "https://***@ghe.example.com/api/v3");
    assert_eq!(github["token"], json!({"env": null, "file": "/etc/ferry/github-token"}));
    assert_eq!(github["webhookSecret"]["env"], "FERRY_HOOK_SECRET");
    assert_eq!(
        github["repositories"][1],
        json!({"url": "https://***@github.com/acme/gitops.git", "name": "acme/gitops"})
    );
    let app = &providers["items"][0];
    assert_eq!((&app["appId"], &app["appPrivateKeyFile"]), (&json!(4242), &json!("/etc/ferry/app.pem")));
    assert!(!providers.to_string().contains("hunter2") && !providers.to_string().contains(":tok@"), "{providers}");

    let (status, notifications) = server.get("/api/v1/notifications").await;
    assert_eq!(status, 200, "{notifications}");
    let slack = &notifications["items"][0];
    assert_eq!(slack["name"], "slack");
    assert_eq!(slack["url"], "https://hooks.slack.com/…", "the path of a webhook URL may be its credential");
    assert_eq!((&slack["format"], &slack["secret"]["env"]), (&json!("slack"), &json!("FERRY_SLACK_SECRET")));
    assert_eq!((&slack["products"], &slack["statuses"]), (&json!(["shop"]), &json!(["Failed"])));
    assert!(!notifications.to_string().contains("sekrit"));
}
