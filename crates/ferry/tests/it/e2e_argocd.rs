//! Through the binary with the Argo CD stand-in of the test kit: `ferry server --argocd-server` and
//! the token from `FERRY_ARGOCD_TOKEN`; `ferry apply` warns when neither is there.

use std::time::Duration;

use ferry_testkit::argo_shop::{ARGOCD_TOKEN, ShopConfig, repo};

use super::*;

const TOKEN: &str = ARGOCD_TOKEN;

/// dev (exec) promotes to qa, deployed by Argo CD on the server's default Argo CD server.
fn config(url: &str) -> String {
    ShopConfig::new().argocd("healthTimeout: 60s").yaml(url)
}

#[test]
fn a_release_passes_an_argo_cd_application_only_at_its_promotion_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("shop.yaml"), config(&repo.url())).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let argo = runtime.block_on(ferry_testkit::argo_shop::argocd(&repo, true, Duration::from_millis(300)));
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
