//! Through the binary with the GitHub stand-in of the test kit (SPEC §6.2): prod promotes by pull
//! request on the forge a `GitProvider` names; the trigger commit's status is pending while prod
//! waits; the forge merges (really moving `main`) and its webhook — once correctly signed — lets prod
//! continue; the status turns success.

use ferry_testkit::Repo;
use ferry_testkit::forges::{Flavor, ForgeStandIn, provider_yaml};
use ferry_testkit::shop::ShopYaml;

use super::*;

const SECRET: &str = "hook-secret-for-the-test";

fn values(tag: &str) -> String {
    format!("image:\n  tag: \"{tag}\"\n")
}

fn config(url: &str, api: &str, token_file: &Path, secret_file: &Path) -> String {
    let credentials = format!(
        "  token: {{ file: \"{}\" }}\n  webhookSecret: {{ file: \"{}\" }}\n",
        token_file.display(),
        secret_file.display()
    );
    ShopYaml::new(url)
        .environment("dev", false)
        .environment("prod", true)
        .status("exec: { health: \"true\", healthTimeout: 1s }")
        .step("prod", &["dev"], None)
        .document(
            "apiVersion: ferry/v1\nkind: PromotionPolicy\nmetadata: { name: prod-by-pr }\nspec:\n  selector: { targetEnvironment: { types: [PROD] } }\n  policy: { action: pr, pullRequest: { labels: [promotion] } }\n",
        )
        .document(&provider_yaml("acme-github", Flavor::Github, api, url, "acme/gitops", &credentials))
        .yaml()
}

fn post_hook(runtime: &tokio::runtime::Runtime, url: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let client = reqwest::Client::new();
    let mut request = client.post(format!("{url}/api/v1/hooks/git")).body(body.to_vec());
    for (k, v) in headers {
        request = request.header(k, v);
    }
    runtime.block_on(request.send()).unwrap().status().as_u16()
}

/// The GitHub stand-in serving `acme/gitops` and a server configured with the shop product and
/// `extra` YAML documents.
struct Setup {
    // Dropped in this order: the server stops before its directory goes.
    server: Server,
    forge: ForgeStandIn,
    runtime: tokio::runtime::Runtime,
    repo: Repo,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start(extra: &str) -> Setup {
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
        let yaml = config(&repo.url(), &forge.url, &token_file, &secret_file) + extra;
        std::fs::write(config_dir.join("shop.yaml"), yaml).unwrap();
        let server = Server::start_in(&dir.path().join("data"), &["--config", path(&config_dir)]);
        Setup { server, forge, runtime, repo, dir }
    }

    /// Delivers the forge's webhook about pull request `number`, correctly signed.
    fn hook(&self, number: u64) {
        let (headers, body) = self.forge.webhook(number, SECRET);
        assert_eq!(post_hook(&self.runtime, &self.server.url, &headers, &body), 202);
    }
}

#[test]
fn prod_promoted_by_a_pull_request_merged_on_github_continues_and_its_status_turns_success() {
    let Setup { server, forge, runtime, repo, dir: _dir } = Setup::start("");
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

#[test]
fn a_pull_request_closed_on_the_forge_is_reopened_by_a_retry_and_ferry_get_lists_the_integrations() {
    let notification = "---\napiVersion: ferry/v1\nkind: Notification\nmetadata: { name: chat }\nspec:\n  url: http://127.0.0.1:9/services/T0/B0/sekrit-path\n  format: slack\n  secret: { env: FERRY_CHAT_SECRET }\n";
    let s = Setup::start(notification);
    let promoted = s.server.ferry(&["promote", "shop", "-o", "json"]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    let id = promoted.json()["id"].as_str().unwrap().to_owned();
    s.runtime.block_on(s.forge.wait_until(|_, pulls| pulls.len() == 1 && !pulls[0].comments.is_empty()));
    let number = s.forge.pulls()[0].number;

    // Closed on the forge: prod fails naming the closer.
    s.forge.close(number, "bob");
    s.hook(number);
    let watch = s.server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 1, "{}\n{}", watch.stdout, watch.stderr);
    let view = s.server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Failed");
    assert!(view["reason"].as_str().unwrap().contains("closed without merge by bob"), "{view:#}");

    // The retry reopens the same pull request; its merge ends the release.
    let retry = s.server.ferry(&["release", "retry", &id]);
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    s.runtime.block_on(s.forge.wait_until(|_, pulls| pulls[0].state == "open"));
    assert_eq!(s.forge.pulls().len(), 1, "reopened, not opened twice");
    let merge_commit = s.forge.merge(number, "alice");
    s.hook(number);
    let watch = s.server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 0, "{}\n{}\n{}", watch.stdout, watch.stderr, Server::log_of(&s.server.data));
    assert_eq!(s.repo.rev("main"), merge_commit);

    // The git provider and the notification, listed without their secrets.
    let get = s.server.ferry(&["get", "git-providers"]);
    assert_eq!(get.code, 0, "{}", get.stderr);
    let token_file = s.dir.path().join("token");
    for part in ["acme-github", "github", &format!("file {}", token_file.display()), "acme/gitops"] {
        assert!(get.stdout.contains(part), "{part:?} in:\n{}", get.stdout);
    }
    assert!(!get.stdout.contains("ghp_e2e-token") && !get.stdout.contains(SECRET), "{}", get.stdout);
    let json = s.server.ferry(&["get", "gitproviders", "acme-github", "-o", "json"]).json();
    assert_eq!(json["items"][0]["webhookSecret"]["file"], path(&s.dir.path().join("hook-secret")));
    let get = s.server.ferry(&["get", "notifications"]);
    assert_eq!(get.code, 0, "{}", get.stderr);
    for part in ["chat", "http://127.0.0.1:9/…", "slack", "env FERRY_CHAT_SECRET"] {
        assert!(get.stdout.contains(part), "{part:?} in:\n{}", get.stdout);
    }
    assert!(!get.stdout.contains("sekrit"), "{}", get.stdout);
    let missing = s.server.ferry(&["get", "notifications", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no notification named \"nope\""), "{}", missing.stderr);
}
