//! Through the binary with the Argo CD stand-in of the test kit: `ferry server --argocd-server` and
//! the token from `FERRY_ARGOCD_TOKEN`; `ferry apply` warns when neither is there.

use std::time::Duration;

use ferry_testkit::Repo;
use ferry_testkit::argocd::StandInApp;

use super::*;

const TOKEN: &str = "argocd-token-for-tests";

fn values(tag: &str) -> String {
    format!("image:\n  tag: \"{tag}\"\n")
}

fn chart(version: &str) -> String {
    format!("apiVersion: v2\nname: shop\nversion: 0.1.0\nappVersion: \"{version}\"\n")
}

/// dev (exec) promotes to qa, deployed by Argo CD on the server's default Argo CD server.
fn config(url: &str) -> String {
    format!(
        r#"apiVersion: ferry/v1
kind: Environment
metadata: {{ name: dev }}
spec: {{ type: non-production, order: 0 }}
---
apiVersion: ferry/v1
kind: Environment
metadata: {{ name: qa }}
spec: {{ type: non-production, order: 1 }}
---
apiVersion: ferry/v1
kind: Application
metadata: {{ name: shop-api-dev }}
spec:
  product: shop
  environment: dev
  component: api
  source: {{ repoURL: "{url}", path: apps/api/dev, targetRevision: main }}
---
apiVersion: ferry/v1
kind: Application
metadata: {{ name: shop-api-qa }}
spec:
  product: shop
  environment: qa
  component: api
  source: {{ repoURL: "{url}", path: apps/api/qa, targetRevision: main }}
  status:
    argocd: {{ healthTimeout: 60s }}
---
apiVersion: ferry/v1
kind: Product
metadata: {{ name: shop }}
spec:
  promotionTemplate:
    versionSource: {{ file: Chart.yaml, jsonPath: $.appVersion }}
    promotion:
      values.yaml: {{ jsonPaths: ["$.image.tag"] }}
      Chart.yaml: {{ jsonPaths: [$.appVersion] }}
  promotionFlows: [ {{ name: standard }} ]
---
apiVersion: ferry/v1
kind: PromotionFlow
metadata: {{ name: standard }}
spec:
  triggerEnvironment: dev
  steps:
    - {{ environment: qa, dependsOn: [dev], policy: {{ action: commit }} }}
"#
    )
}

fn repo(dir: &Path) -> Repo {
    let files = [
        ("apps/api/dev/values.yaml", values("1.4.2")),
        ("apps/api/dev/Chart.yaml", chart("1.4.2")),
        ("apps/api/qa/values.yaml", values("1.3.0")),
        ("apps/api/qa/Chart.yaml", chart("1.3.0")),
    ];
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    Repo::new(dir, "gitops", &refs)
}

#[test]
fn a_release_passes_an_argo_cd_application_only_at_its_promotion_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("shop.yaml"), config(&repo.url())).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let apps = vec![StandInApp { name: "shop-api-qa".into(), path: "apps/api/qa".into(), auto_sync: true }];
    let argo = runtime.block_on(ferry_testkit::argocd::start(
        repo.bare.clone(),
        "main",
        apps,
        Some(TOKEN),
        Duration::from_millis(300),
    ));
    let server = Server::start_in_env(
        &dir.path().join("data"),
        &["--config", path(&config_dir), "--argocd-server", argo.url()],
        &[("FERRY_ARGOCD_TOKEN", TOKEN)],
    );
    let run = server.ferry(&["promote", "shop", "--wait", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}\n{}", run.stdout, run.stderr, Server::log_of(&server.data));
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let show = server.ferry(&["release", "show", &id, "-o", "json"]);
    let view = show.json();
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let commit = repo.rev("main");
    let qa = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "qa").unwrap();
    let app = &qa["applications"][0];
    assert_eq!((&app["app"]["sync"], &app["app"]["health"]), (&json!("Synced"), &json!("Healthy")), "{app:#}");
    assert_eq!(app["app"]["revision"], commit.as_str(), "{app:#}");
    // Argo CD reported the commit itself: Ferry waited for it, through its token.
    assert_eq!(argo.application("shop-api-qa").unwrap()["status"]["sync"]["revision"], commit.as_str());
    assert!(argo.requests().iter().any(|r| r == "GET /api/v1/applications/shop-api-qa?refresh=normal"));
    assert!(!Server::log_of(&server.data).contains(TOKEN), "the token is never logged");
}

#[test]
fn apply_warns_when_the_server_has_no_argo_cd_server_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let file = dir.path().join("shop.yaml");
    std::fs::write(&file, config(&repo.url())).unwrap();
    let server = Server::start();
    let run = server.ferry(&["apply", "-f", path(&file)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(out.contains("Argo CD application shop-api-qa needs an Argo CD server"), "{out}");
    assert!(out.contains("the environment variable FERRY_ARGOCD_TOKEN is not set on the server"), "{out}");
}
