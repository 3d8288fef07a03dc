//! Releases end to end: the real binary as server and client, real bare repositories, real workflow
//! processes. Waiting is done by following the server's event stream (`ferry release watch`,
//! `promote --wait`), never by sleeping.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_testkit::shop::ShopYaml;
use serde_json::Value;

use super::{Server, path};

pub(super) fn git(dir: &Path, args: &[&str]) -> String {
    ferry_testkit::git(dir, args)
}

/// values.yaml with a comment and quoting that the promotion must keep.
pub(super) fn values(tag: &str, env: &str) -> String {
    format!("# {env}\nimage:\n  repository: 'registry.example.com/shop'   # keep\n  tag: \"{tag}\"\nreplicas: 2\n")
}

/// A product in a local bare repository, its configuration directory and a scratch directory.
pub(super) struct Product {
    pub(super) dir: tempfile::TempDir,
    pub(super) bare: PathBuf,
    pub(super) work: PathBuf,
    pub(super) config: PathBuf,
}

const ENVS: [&str; 4] = ["dev", "qa", "staging", "prod"];

impl Product {
    /// `pre_action` is the script of the qa/staging/prod pre-action step.
    pub(super) fn new(pre_action: &str) -> Product {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("gitops.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        for comp in ["api", "web"] {
            for env in ENVS {
                let tag = if env == "dev" { "2.0.0" } else { "1.0.0" };
                let d = work.join(format!("apps/{comp}/{env}"));
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("values.yaml"), values(tag, env)).unwrap();
            }
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "layout"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        git(&work, &["push", "-q", "origin", "main"]);
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        let product = Product { dir, bare, work, config };
        std::fs::write(product.config.join("shop.yaml"), product.yaml(pre_action)).unwrap();
        product
    }

    pub(super) fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    fn yaml(&self, pre_action: &str) -> String {
        let scratch = self.scratch();
        std::fs::create_dir_all(&scratch).unwrap();
        let scratch = scratch.display();
        let mut shop = ShopYaml::new(&self.url()).components(&["api", "web"]).flow_version("3.0");
        for env in ENVS {
            shop = shop.environment(env, env == "prod");
        }
        shop.step("qa", &["dev"], None)
            .step("staging", &["dev"], None)
            .step("prod", &["qa", "staging"], None)
            .document(&format!(
                r#"apiVersion: ferry/v1
kind: PromotionPolicy
metadata: {{ name: checks }}
spec:
  priority: 10
  policy: {{ action: commit, preAction: pre-checks, postAction: smoke }}
---
apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: pre-checks }}
spec:
  steps:
    - name: first
      run: echo "first $APP_NAME" && echo x >> "{scratch}/first-$APP_NAME-$ENVIRONMENT"
    - name: gate
      run: |
        {pre_action}
---
apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: smoke }}
spec:
  steps:
    - name: smoke
      run: echo "smoke of $APP_NAME $VERSION at $COMMIT_SHA"
"#
            ))
            .yaml()
    }

    /// Promotion commits on main for `env`.
    pub(super) fn promotion_commits(&self, env: &str) -> Vec<String> {
        let log =
            git(&self.bare, &["log", "--format=%H %(trailers:key=Ferry-Environment,valueonly,separator=)", "main"]);
        log.lines().filter(|l| l.ends_with(&format!(" {env}"))).map(|l| l[..40].to_owned()).collect()
    }
}

fn release_id(created: &Value) -> String {
    created["id"].as_str().unwrap_or_else(|| panic!("no id in {created}")).to_owned()
}

#[test]
fn a_flow_with_parallel_branches_and_a_join_runs_to_success() {
    let product = Product::new("echo gate passed");
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    let run = server.ferry(&["promote", "shop", "--flow", "standard", "--wait", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let id = release_id(&run.json());
    let show = server.ferry(&["release", "show", &id, "-o", "json"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let view = show.json();
    // SPEC §7.4 field names and status spellings.
    for key in [
        "id",
        "product",
        "flow",
        "flowVersion",
        "version",
        "status",
        "initiator",
        "createdAt",
        "finishedAt",
        "reason",
        "retries",
        "trigger",
        "counters",
        "environments",
    ] {
        assert!(view.get(key).is_some(), "missing {key} in {view:#}");
    }
    assert_eq!(view["status"], "Succeeded");
    assert_eq!(view["version"], "2.0.0");
    assert_eq!(view["flowVersion"], "3.0");
    for key in ["environment", "sha", "shortSha", "message", "author", "repo", "branch"] {
        assert!(view["trigger"].get(key).is_some(), "missing trigger.{key}");
    }
    assert_eq!(view["counters"], serde_json::json!({"successful": 4, "running": 0, "failed": 0, "pending": 0}));
    for env in view["environments"].as_array().unwrap() {
        for key in [
            "name",
            "type",
            "dependsOn",
            "status",
            "startedAt",
            "finishedAt",
            "policy",
            "applications",
            "workflows",
            "issues",
        ] {
            assert!(env.get(key).is_some(), "missing environments[].{key}");
        }
        assert_eq!(env["status"], "Successful");
        for app in env["applications"].as_array().unwrap() {
            for key in ["name", "component", "phase", "action", "app", "version"] {
                assert!(app.get(key).is_some(), "missing applications[].{key}");
            }
            assert_eq!(app["version"], "2.0.0");
        }
        if env["name"] != "dev" {
            assert_eq!(env["policy"]["source"]["action"], "policy checks");
            let stages: Vec<&str> =
                env["workflows"].as_array().unwrap().iter().map(|w| w["stage"].as_str().unwrap()).collect();
            assert_eq!(stages, ["preAction", "postAction"]);
            let commits = product.promotion_commits(env["name"].as_str().unwrap());
            assert_eq!(commits.len(), 1, "one promotion commit for {}", env["name"]);
            let diff = git(&product.bare, &["show", "--format=", "--unified=0", &commits[0]]);
            let added: Vec<&str> = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
            assert_eq!(added, ["+  tag: \"2.0.0\"", "+  tag: \"2.0.0\""], "only the tag lines change:\n{diff}");
        }
    }
    let list = server.ferry(&["release", "list", "shop", "-o", "json"]);
    let items = list.json();
    assert_eq!(items["next"], Value::Null);
    let item = &items["items"][0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(
        item["environments"],
        serde_json::json!({"dev": "Successful", "qa": "Successful", "staging": "Successful", "prod": "Successful"})
    );
    let human = server.ferry(&["release", "show", &id]);
    assert!(human.stdout.contains("✓ Successful prod"), "{}", human.stdout);
}

#[test]
fn killing_the_server_mid_release_loses_and_duplicates_nothing() {
    // qa's gate step waits for a file the test creates after the restart.
    let product = Product::new("");
    let go = product.scratch().join("go");
    let script = format!("{}; echo released", super::wait_for_file(&go));
    std::fs::write(product.config.join("shop.yaml"), product.yaml(&script)).unwrap();
    let data = product.dir.path().join("data");
    let mut server = Server::start_in(&data, &["--config", path(&product.config), "--health-poll-interval", "50ms"]);
    let created = server.ferry(&["promote", "shop", "--flow", "standard", "-o", "json"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let id = release_id(&created.json());
    // Follow the live stream until both pre-action gates run (qa and staging, two apps each).
    let events = super::follow_events(&server.url, &id, |events: &[Value]| {
        events.iter().filter(|e| e["body"]["type"] == "StepStarted" && e["body"]["step"] == "gate").count() >= 4
    });
    let before = events.len();
    // kill -9: no chance to clean up.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    std::fs::write(&go, "go").unwrap();
    let server = Server::start_in(&data, &["--health-poll-interval", "50ms"]);
    let watch = server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 0, "release did not succeed after restart:\n{}\n{}", watch.stdout, watch.stderr);
    // No promotion commit duplicated.
    for env in ["qa", "staging", "prod"] {
        assert_eq!(product.promotion_commits(env).len(), 1, "{env}");
    }
    // No event lost: the log is gap-free and begins with what was streamed before the kill.
    let log = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(log["status"], "Succeeded");
    let all = super::follow_events(&server.url, &id, |events: &[Value]| {
        events.iter().any(|e| e["body"]["type"] == "Finished")
    });
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (0..seqs.len() as i64).collect::<Vec<_>>());
    assert!(all.len() > before);
    assert_eq!(all[..before], events[..], "events committed before the kill are kept as they were");
    // Succeeded first steps did not run again after the restart: one marker line per app and env.
    for env in ["qa", "staging"] {
        for comp in ["api", "web"] {
            let marker =
                std::fs::read_to_string(product.scratch().join(format!("first-shop-{comp}-{env}-{env}"))).unwrap();
            assert_eq!(marker.lines().count(), 1, "first step of shop-{comp}-{env} ran once");
        }
    }
}

#[test]
fn a_push_webhook_triggers_a_release_from_the_new_commit() {
    let product = Product::new("true");
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    std::fs::write(product.work.join("apps/api/dev/values.yaml"), values("2.1.0", "dev")).unwrap();
    git(&product.work, &["commit", "-qam", "feat: faster search"]);
    git(&product.work, &["push", "-q", "origin", "main"]);
    let sha = git(&product.work, &["rev-parse", "HEAD"]);
    let payload = serde_json::json!({"repoURL": product.url(), "branch": "main", "after": sha});
    let events =
        super::post_and_follow(&server.url, "/api/v1/hooks/git", &payload, "product=shop", |events: &[Value]| {
            events.iter().any(|e| e["body"]["type"] == "Created")
        });
    let created = events.iter().find(|e| e["body"]["type"] == "Created").unwrap();
    let id = created["releaseId"].as_str().unwrap().to_owned();
    let watch = server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 0, "{}\n{}", watch.stdout, watch.stderr);
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["trigger"]["sha"], sha.as_str());
    assert_eq!(view["version"], "2.1.0");
    assert_eq!(view["initiator"], "Alice Dev · ferry (auto)");
    let prod = git(&product.bare, &["show", "main:apps/api/prod/values.yaml"]);
    assert!(prod.contains("tag: \"2.1.0\""), "{prod}");
}

#[test]
fn the_demo_runs_one_successful_and_one_failed_release() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["demo", "--listen", "127.0.0.1:0", "--exit-when-done"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let finals: Vec<&str> = stdout.lines().filter(|l| l.starts_with("release ") && l.contains(": ")).collect();
    assert_eq!(finals.len(), 2, "{stdout}");
    assert!(finals[0].ends_with(": Succeeded"), "{stdout}");
    assert!(finals[1].ends_with(": Failed"), "{stdout}");
    assert!(stdout.contains("ferry --server http://127.0.0.1:"), "{stdout}");
    // The notes of the second release: the commit in dev that triggered it, and its Jira key.
    let notes = stdout.split_once("Release notes of ").map(|(_, n)| n).unwrap_or_default();
    assert!(notes.contains("feat(api): one-click checkout (SHOP-142)"), "{stdout}");
    assert!(notes.contains("SHOP-142"), "{stdout}");
    let web = notes.lines().find(|l| l.starts_with("web ")).unwrap_or_default();
    assert!(web.ends_with("1.4.2 → 1.4.2         unchanged"), "{stdout}");
    let api = notes.lines().find(|l| l.starts_with("api ")).unwrap_or_default();
    assert!(api.contains("unknown: no image report carries 1.5.0-broken"), "{stdout}");
    assert_eq!(api.split_whitespace().nth(1).unwrap().matches("..").count(), 1, "{stdout}");
    assert!(!api.split_whitespace().nth(1).unwrap().contains(','), "one start for prod-eu and prod-us: {stdout}");
}

#[test]
fn the_demo_runs_against_the_argocd_stand_in() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["demo", "--listen", "127.0.0.1:0", "--exit-when-done", "--argocd"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Argo CD stand-in at http://127.0.0.1:"), "{stdout}");
    let finals: Vec<&str> = stdout.lines().filter(|l| l.starts_with("release ") && l.contains(": ")).collect();
    assert_eq!(finals.len(), 2, "{stdout}");
    assert!(finals[0].ends_with(": Succeeded") && finals[1].ends_with(": Failed"), "{stdout}");
    // Ferry read the target environments' applications from Argo CD and watched them.
    let line = stdout.lines().find(|l| l.starts_with("Argo CD stand-in: ")).unwrap_or_else(|| panic!("{stdout}"));
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert!(numbers[0] >= 12 && numbers[1] >= 12, "every target application read and watched: {line}");
}

#[test]
fn a_running_release_is_terminated_from_the_cli() {
    // The gates wait for a file that never comes.
    let product = Product::new("");
    let never = product.scratch().join("never");
    let script = super::wait_for_file(&never);
    std::fs::write(product.config.join("shop.yaml"), product.yaml(&script)).unwrap();
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    let created = server.ferry(&["promote", "shop", "--flow", "standard", "-o", "json"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let id = release_id(&created.json());
    super::follow_events(&server.url, &id, |events: &[Value]| {
        events.iter().any(|e| e["body"]["type"] == "StepStarted" && e["body"]["step"] == "gate")
    });

    let run = server.ferry(&["release", "terminate", &id, "--reason", "bad build"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("termination of release {id} requested")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("release {id}: ")) && run.stdout.contains("Terminat"), "{}", run.stdout);
    let watch = server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 1, "{}\n{}", watch.stdout, watch.stderr);
    assert!(watch.stdout.contains("finished: ") && watch.stdout.contains("Terminated"), "{}", watch.stdout);
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Terminated");
    assert!(view.to_string().contains("bad build"), "the reason is kept: {view}");

    // It has ended: terminating again or retrying is refused with the server's message.
    for args in [vec!["release", "terminate", &id, "--reason", "again"], vec!["release", "retry", &id]] {
        let run = server.ferry(&args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("✗ error: ") && run.stderr.contains(&id), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_failed_release_is_retried_from_the_cli_until_it_succeeds() {
    // The gates fail until the file `go` exists.
    let product = Product::new("");
    let go = product.scratch().join("go");
    let script = format!("[ -f '{}' ] || {{ echo 'not yet' >&2; exit 1; }}", go.display());
    std::fs::write(product.config.join("shop.yaml"), product.yaml(&script)).unwrap();
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    let run = server.ferry(&["promote", "shop", "--flow", "standard", "--wait", "-o", "json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let id = release_id(&run.json());
    assert_eq!(run.json()["status"], "Failed");

    std::fs::write(&go, "go").unwrap();
    let retry = server.ferry(&["release", "retry", &id, "--wait"]);
    assert_eq!(retry.code, 0, "{}\n{}", retry.stdout, retry.stderr);
    assert!(retry.stdout.contains(&format!("retry of release {id} requested")), "{}", retry.stdout);
    assert!(retry.stdout.contains(&format!("release {id} finished: ✓ Succeeded")), "{}", retry.stdout);
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!((view["status"].as_str(), view["retries"].as_i64()), (Some("Succeeded"), Some(1)), "{view}");
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Blocks until a script writes to the named pipe.
fn read_signal(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn a_restart_while_terminating_finishes_the_termination() {
    let product = Product::new("");
    let ready = product.scratch().join("ready");
    mkfifo(&ready);
    // The gate ignores SIGTERM, so the release stays Terminating until SIGKILL (grace: 30 s).
    let script = format!(
        "trap '' TERM\n        if [ \"$APP_NAME\" = shop-api-qa ]; then echo $$ > '{pid}'; echo ready > '{ready}'; fi\n        while [ -d '{scratch}' ]; do sleep 0.05; done",
        pid = product.scratch().join("pid").display(),
        ready = ready.display(),
        scratch = product.scratch().display()
    );
    std::fs::write(product.config.join("shop.yaml"), product.yaml(&script)).unwrap();
    let data = product.dir.path().join("data");
    let args = ["--config", path(&product.config), "--health-poll-interval", "50ms", "--kill-grace", "30s"];
    let mut server = Server::start_in(&data, &args);
    let id = release_id(&server.ferry(&["promote", "shop", "--flow", "standard", "-o", "json"]).json());
    read_signal(&ready);
    let pid: i32 = std::fs::read_to_string(product.scratch().join("pid")).unwrap().trim().parse().unwrap();
    let terminate = server.ferry(&["release", "terminate", &id, "--reason", "rollback requested"]);
    assert_eq!(terminate.code, 0, "{}\n{}", terminate.stdout, terminate.stderr);
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Terminating");
    assert!(pid_alive(pid), "the step ignores SIGTERM and is still running");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    // The new process stops the leftover step and completes the termination.
    let server = Server::start_in(&data, &["--health-poll-interval", "50ms", "--kill-grace", "1s"]);
    let watch = server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 1, "a terminated release watches as failed: {}", watch.stdout);
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Terminated");
    assert_eq!(view["reason"], "rollback requested");
    assert!(!pid_alive(pid), "the orphaned step was stopped after the restart");
}

#[test]
fn a_queued_release_survives_a_restart_and_starts_in_order() {
    let product = Product::new("");
    let go = product.scratch().join("go");
    let script = super::wait_for_file(&go);
    std::fs::write(product.config.join("shop.yaml"), product.yaml(&script)).unwrap();
    let data = product.dir.path().join("data");
    let mut server = Server::start_in(&data, &["--config", path(&product.config), "--health-poll-interval", "50ms"]);
    let first = release_id(&server.ferry(&["promote", "shop", "--flow", "standard", "-o", "json"]).json());
    let second = release_id(&server.ferry(&["promote", "shop", "--flow", "standard", "-o", "json"]).json());
    assert_eq!(server.ferry(&["release", "show", &second, "-o", "json"]).json()["status"], "Queued");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = Server::start_in(&data, &["--health-poll-interval", "50ms"]);
    assert_eq!(server.ferry(&["release", "show", &second, "-o", "json"]).json()["status"], "Queued");
    std::fs::write(&go, "go").unwrap();
    assert_eq!(server.ferry(&["release", "watch", &second]).code, 0);
    let a = server.ferry(&["release", "show", &first, "-o", "json"]).json();
    let b = server.ferry(&["release", "show", &second, "-o", "json"]).json();
    assert_eq!(a["status"], "Succeeded");
    assert!(b["startedAt"].as_str().unwrap() >= a["finishedAt"].as_str().unwrap(), "started in order");
}

#[test]
fn a_release_suspended_on_a_pull_request_survives_a_restart() {
    let product = Product::new("true");
    let yaml = product.yaml("true").replace(
        "    - { environment: prod, dependsOn: [qa, staging] }",
        "    - { environment: prod, dependsOn: [qa, staging], policy: { action: pr } }",
    );
    assert!(yaml.contains("action: pr"));
    std::fs::write(product.config.join("shop.yaml"), yaml).unwrap();
    let data = product.dir.path().join("data");
    let mut server = Server::start_in(&data, &["--config", path(&product.config), "--health-poll-interval", "50ms"]);
    let id = release_id(&server.ferry(&["promote", "shop", "--flow", "standard", "-o", "json"]).json());
    super::follow_events(&server.url, &id, |events: &[Value]| {
        events.iter().any(|e| e["body"]["type"] == "PullRequestOpened")
    });
    assert_eq!(server.ferry(&["release", "show", &id, "-o", "json"]).json()["status"], "Suspended");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = Server::start_in(&data, &["--health-poll-interval", "50ms"]);
    let prs = server.ferry(&["pr", "list", "-o", "json"]).json();
    let pr = &prs["items"][0];
    assert_eq!(pr["state"], "open", "{prs}");
    let number = pr["number"].to_string();
    let merge = server.ferry(&["pr", "merge", &number]);
    assert_eq!(merge.code, 0, "{}\n{}", merge.stdout, merge.stderr);
    let watch = server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 0, "{}", watch.stdout);
    let parents = git(&product.bare, &["rev-list", "--parents", "-n", "1", "main"]);
    assert_eq!(parents.split_whitespace().count(), 3, "main ends with the merge commit: {parents}");
    assert!(git(&product.bare, &["show", "main:apps/web/prod/values.yaml"]).contains("tag: \"2.0.0\""));
}
