//! Through the binary with the GitHub stand-in of the test kit (SPEC §6.2): prod promotes by pull
//! request on the forge a `GitProvider` names; the trigger commit's status is pending while prod
//! waits; the forge merges (really moving `main`) and its webhook — once correctly signed — lets prod
//! continue; the status turns success.

use ferry_testkit::Repo;
use ferry_testkit::forges::{Flavor, ForgeStandIn};

use super::*;

const SECRET: &str = "hook-secret-for-the-test";

fn values(tag: &str) -> String {
    format!("image:\n  tag: \"{tag}\"\n")
}

fn config(url: &str, api: &str, token_file: &Path, secret_file: &Path) -> String {
    let mut yaml = String::new();
    for (env, ty) in [("dev", "non-production"), ("prod", "production")] {
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty} }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-api-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: api\n  source: {{ repoURL: \"{url}\", path: apps/api/{env}, targetRevision: main }}\n  status:\n    exec: {{ health: \"true\", healthTimeout: 1s }}\n---\n"
        ));
    }
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
    - {{ environment: prod, dependsOn: [dev] }}
---
apiVersion: ferry/v1
kind: PromotionPolicy
metadata: {{ name: prod-by-pr }}
spec:
  selector: {{ targetEnvironment: {{ types: [PROD] }} }}
  policy: {{ action: pr, pullRequest: {{ labels: [promotion] }} }}
---
apiVersion: ferry/v1
kind: GitProvider
metadata: {{ name: acme-github }}
spec:
  type: github
  apiURL: {api}
  token: {{ file: "{token}" }}
  webhookSecret: {{ file: "{secret}" }}
  repositories:
    - {{ url: "{url}", name: acme/gitops }}
"#,
        token = token_file.display(),
        secret = secret_file.display(),
    ));
    yaml
}

fn post_hook(runtime: &tokio::runtime::Runtime, url: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let client = reqwest::Client::new();
    let mut request = client.post(format!("{url}/api/v1/hooks/git")).body(body.to_vec());
    for (k, v) in headers {
        request = request.header(k, v);
    }
    runtime.block_on(request.send()).unwrap().status().as_u16()
}

#[test]
fn prod_promoted_by_a_pull_request_merged_on_github_continues_and_its_status_turns_success() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::new(
        dir.path(),
        "gitops",
        &[("apps/api/dev/values.yaml", &values("2.0.0")), ("apps/api/prod/values.yaml", &values("1.0.0"))],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let forge = runtime.block_on(ForgeStandIn::start(Flavor::Github, &[("acme/gitops", repo.bare.clone())]));
    forge.require_token("ghp_e2e-token");
    let (token_file, secret_file) = (dir.path().join("token"), dir.path().join("hook-secret"));
    std::fs::write(&token_file, "ghp_e2e-token\n").unwrap();
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("shop.yaml"), config(&repo.url(), &forge.url, &token_file, &secret_file)).unwrap();
    let server = Server::start_in(&dir.path().join("data"), &["--config", path(&config_dir)]);

    // The release runs until prod waits for its pull request; the CLI waits for its end meanwhile.
    let (url, ferry) = (server.url.clone(), ferry_bin().to_owned());
    let waiting = std::thread::spawn(move || {
        Command::new(ferry)
            .args(["--server", &url, "promote", "shop", "--wait", "-o", "json"])
            .env("XDG_CONFIG_HOME", no_config_home())
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_TOKEN")
            .output()
            .unwrap()
    });
    runtime.block_on(forge.wait_until(|statuses, pulls| {
        // Ferry's comment comes last when it opens a pull request.
        pulls.len() == 1
            && !pulls[0].comments.is_empty()
            && statuses.iter().any(|s| s.context == "ferry/shop/prod" && s.state == "pending")
    }));
    let pull = forge.pulls().remove(0);
    assert!(pull.title.starts_with("Promote shop 2.0.0 to prod"), "{}", pull.title);
    assert_eq!(pull.labels, ["promotion"]);
    let trigger = repo.rev("main");
    let pending = forge.statuses().into_iter().find(|s| s.context == "ferry/shop/prod").unwrap();
    assert_eq!(pending.sha, trigger, "the status is on the trigger commit");
    assert!(pending.target_url.contains("/releases/"), "{}", pending.target_url);

    // Merged on the forge: a real merge commit on main.
    let merge_commit = forge.merge(pull.number, "alice");
    assert_eq!(repo.rev("main"), merge_commit);
    let (headers, body) = forge.webhook(pull.number, SECRET);
    // A delivery signed with another secret is refused and changes nothing.
    let (forged, _) = forge.webhook(pull.number, "not-the-secret");
    assert_eq!(post_hook(&runtime, &server.url, &forged, &body), 401);
    assert_eq!(post_hook(&runtime, &server.url, &headers, &body), 202);

    let done = waiting.join().unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&done.stderr),
        Server::log_of(&server.data)
    );
    let id = serde_json::from_str::<Value>(&stdout).unwrap()["id"].as_str().unwrap().to_owned();
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let prod = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "prod").unwrap();
    let action = &prod["applications"][0]["action"];
    assert_eq!(action["commit"], merge_commit.as_str(), "{action:#}");
    assert!(
        action["pullRequest"]["url"].as_str().unwrap().contains("/acme/gitops/pull/"),
        "the card links the forge's PR: {action:#}"
    );
    runtime.block_on(forge.wait_until(|statuses, _| {
        statuses.iter().rfind(|s| s.context == "ferry/shop/prod").is_some_and(|s| s.state == "success")
    }));
    let log = Server::log_of(&server.data);
    assert!(!log.contains("ghp_e2e-token") && !log.contains(SECRET), "secrets are never logged");
}
