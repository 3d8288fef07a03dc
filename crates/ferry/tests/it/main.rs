//! End-to-end tests: the real `ferry` binary, as a server on port 0 and as a client.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::str::FromStr;

use ferry_store::{ReleaseRow, ReleaseWrite, SqliteStore, Store, Write};
use serde_json::{Value, json};

fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop")
}

/// A `ferry server` process, killed when dropped.
struct Server {
    child: Child,
    url: String,
    data: PathBuf,
    /// The first line the server printed on stdout.
    first_line: String,
    /// `--bootstrap-token-file`, when given.
    token_file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

/// Where a test's CLI finds its contexts: a directory that holds none (the developer's own
/// `~/.config/ferry` must never be read by a test).
fn no_config_home() -> PathBuf {
    std::env::temp_dir().join("ferry-it-without-contexts")
}

impl Server {
    /// Starts `ferry server --data DATA --listen 127.0.0.1:0 --auth --bootstrap-token-file DATA.token
    /// [extra]`: a server that requires tokens, with its admin token in a file.
    fn start_auth(data: &Path, extra: &[&str]) -> Server {
        let file = data.with_extension("token");
        let args = [&["--auth", "--bootstrap-token-file", file.to_str().unwrap()], extra].concat();
        let mut server = Server::start_in(data, &args);
        server.token_file = Some(file);
        server
    }

    /// The admin token of `--bootstrap-token-file` (never printed by the tests).
    fn admin_token(&self) -> String {
        let file = self.token_file.as_ref().expect("a server started with start_auth");
        std::fs::read_to_string(file).unwrap().trim().to_owned()
    }

    /// Runs `ferry --server URL ARGS` with `FERRY_TOKEN=token`.
    fn ferry_as(&self, token: &str, args: &[&str]) -> Run {
        run_with(&[&["--server", &self.url], args].concat(), &[("FERRY_TOKEN", token)], None)
    }

    /// Starts `ferry server --data DATA --listen 127.0.0.1:0 [extra]` and reads the URL from its first line.
    fn start_in(data: &Path, extra: &[&str]) -> Server {
        Server::start_in_env(data, extra, &[])
    }

    /// [`start_in`](Server::start_in) with extra environment variables.
    fn start_in_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let mut child = Command::new(ferry_bin())
            .args(["server", "--data"])
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_TOKEN")
            .env_remove("FERRY_ARGOCD_SERVER")
            .env_remove("FERRY_ARGOCD_TOKEN")
            .env_remove("FERRY_ARGO_SERVER")
            .env_remove("FERRY_ARGO_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let url = first
            .trim()
            .strip_prefix("ferry server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}; log: {}", Server::log_of(data)))
            .to_owned();
        Server { child, url, data: data.to_path_buf(), first_line: first, token_file: None, _dir: None }
    }

    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start_in(&dir.path().join("data"), &[]);
        server._dir = Some(dir);
        server
    }

    fn log_of(data: &Path) -> String {
        std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
    }

    /// Runs `ferry --server URL ARGS`.
    fn ferry(&self, args: &[&str]) -> Run {
        run(&[&["--server", &self.url], args].concat())
    }
}

/// A shell loop that waits until `file` exists, and gives up once the file's directory is gone: a
/// test's temporary directory is deleted when the test ends, so a step left running by a server
/// the test killed with SIGKILL does not outlive the test.
fn wait_for_file(file: &Path) -> String {
    let dir = file.parent().unwrap_or(Path::new("/"));
    format!("while [ ! -f '{}' ]; do [ -d '{}' ] || exit 1; sleep 0.05; done", file.display(), dir.display())
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of one CLI run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

fn run(args: &[&str]) -> Run {
    run_with(args, &[], None)
}

/// Runs `ferry ARGS` with extra environment variables and standard input from a file; without
/// `XDG_CONFIG_HOME` among them, no contexts are read.
fn run_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&Path>) -> Run {
    let mut command = Command::new(ferry_bin());
    command
        .args(args)
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .env_remove("FERRY_CA_CERT")
        .env("XDG_CONFIG_HOME", no_config_home())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    command.stdin(match stdin {
        Some(file) => Stdio::from(std::fs::File::open(file).unwrap()),
        None => Stdio::null(),
    });
    let Output { status, stdout, stderr } = command.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn apply_get_and_release_commands_against_a_real_server() {
    let server = Server::start();
    let shop = examples();

    let r = server.ferry(&["apply", "-f", path(&shop)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("applied configuration version 1: 5 environments, 15 applications"), "{}", r.stdout);

    let r = server.ferry(&["get", "products", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let products = r.json();
    assert_eq!(products["items"][0]["name"], "shop");
    assert_eq!(products["items"].as_array().unwrap().len(), 1);

    let r = server.ferry(&["get", "flows"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("TRIGGER"), "{}", r.stdout);
    assert!(lines[1].starts_with("hotfix ") && lines[2].starts_with("standard "), "{}", r.stdout);
    assert!(lines[2].contains("prod-eu←qa+staging"), "{}", r.stdout);

    let r = server.ferry(&["get", "environments", "-o", "yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("items:"), "{}", r.stdout);
    assert!(r.stdout.contains("name: prod-eu"), "{}", r.stdout);

    // An invalid file: every diagnostic on stderr, exit 2, nothing applied.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: ferry/v1\nkind: Environment\nmetadata: {name: dev}\nspec: {tyep: production}\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: {name: f}\nspec:\n  triggerEnvironment: dev\n  \
         steps:\n    - environment: qa2\n",
    )
    .unwrap();
    let expected = ferry_config::load_paths(&[&bad]).unwrap_err();
    let r = server.ferry(&["apply", "-f", path(&bad)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for d in &expected {
        assert!(r.stderr.contains(&format!("✗ error: {d}")), "missing {d} in:\n{}", r.stderr);
    }
    assert!(r.stderr.contains(&format!("{} errors; nothing was applied", expected.len())), "{}", r.stderr);
    assert_eq!(server.ferry(&["get", "environments", "-o", "json"]).json()["items"].as_array().unwrap().len(), 5);

    let r = server.ferry(&["release", "list", "shop", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), json!({"items": [], "next": null}));

    let unknown = "01900000-0000-7000-8000-000000000000";
    let r = server.ferry(&["release", "show", unknown]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.trim(), format!("✗ error: no release with id {unknown}"));
    let r = server.ferry(&["release", "show", "not-an-id"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not a release id"), "{}", r.stderr);
}

#[test]
fn validate_and_policy_explain_work_offline() {
    let shop = examples();
    let r = run(&["validate", "-f", path(&shop)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("valid: 5 environments"), "{}", r.stdout);

    let r = run(&["policy", "explain", "shop", "prod-eu", "-f", path(&shop)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let action = r.stdout.lines().find(|l| l.starts_with("action")).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(action.contains("pr") && action.contains("production-guard"), "{action}");

    // The commercial product's format loads unchanged.
    let codefresh = examples().join("../codefresh");
    let r = run(&["validate", "-f", path(&codefresh)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("valid: 4 environments, 4 applications, 1 product, 2 flows, 2 policies"), "{}", r.stdout);
    let r = run(&[
        "policy",
        "explain",
        "trioapp",
        "prod",
        "--flow",
        "multi-env-flow",
        "-f",
        path(&codefresh),
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fields = r.json()["fields"].clone();
    assert_eq!(fields[0], json!({"field": "action", "value": "pr", "source": "flow"}));
    assert_eq!(fields[1], json!({"field": "preAction", "value": "change-freeze-check", "source": "policy prod-gate"}));
    assert_eq!(fields[2], json!({"field": "postAction", "value": "smoke-tests", "source": "policy prod-gate"}));

    // Invalid configuration: exit 2, every problem on stderr, machine-readable with -o json.
    let bad = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ferry-config/tests/invalid/33-several-errors-in-one-file.yaml");
    let r = run(&["validate", "-f", path(&bad)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.lines().filter(|l| l.contains("error:")).count() >= 3, "{}", r.stderr);
    let r = run(&["validate", "-f", path(&bad), "-o", "json"]);
    assert_eq!(r.code, 2);
    let doc = r.json();
    assert_eq!(doc["valid"], false);
    let first = &doc["errors"][0];
    for key in ["file", "document", "line", "column", "field", "message"] {
        assert!(first.get(key).is_some(), "diagnostic without {key}: {first}");
    }
}

#[test]
fn an_unreachable_server_is_named_with_a_hint() {
    let r = run(&["--server", "http://127.0.0.1:1", "get", "products"]);
    assert_eq!(r.code, 1);
    let message = r.stderr.trim();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("http://127.0.0.1:1") && message.contains("`ferry server`"), "{message}");
}

#[test]
fn server_applies_its_config_at_start_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shop = examples();
    let mut server = Server::start_in(&data, &["--config", path(&shop)]);
    assert!(data.join("ferry.db").exists());
    let products = server.ferry(&["get", "products", "-o", "json"]).json();
    assert_eq!(products["items"][0]["name"], "shop");

    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}; log: {}", Server::log_of(&server.data));
    assert!(Server::log_of(&data).contains("ferry server stopped"));
    drop(server);

    // Starting again with the same configuration does not apply a new version.
    let server = Server::start_in(&data, &["--config", path(&shop)]);
    assert!(Server::log_of(&data).contains("the configuration is already applied"), "{}", Server::log_of(&data));
    drop(server);

    // An invalid configuration stops the start with the diagnostics.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: ferry/v1\nkind: Nope\nmetadata: {name: x}\n").unwrap();
    let r = run(&["server", "--data", path(&data), "--listen", "127.0.0.1:0", "--config", path(&bad)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bad.yaml#1"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

fn ts(s: &str) -> jiff::Timestamp {
    jiff::Timestamp::from_str(s).unwrap()
}

/// A release in the §7.4 shape, written to the database before the server starts.
fn stored_release(id: &str, status: &str, qa: &str) -> Write {
    let hooks = json!({"onStart": null, "onSuccess": null, "onFail": null});
    let app = json!({
        "name": "shop-api-qa", "component": "api", "phase": "done",
        "action": {"action": "commit", "status": "Succeeded", "commit": "1234567890abcdef", "repo": null,
                   "unchanged": false, "pullRequest": null, "error": null},
        "app": {"sync": "Synced", "health": "Healthy", "revision": "1234567890abcdef", "message": null,
                "observedAt": "2026-01-05T10:04:00Z"},
        "version": "1.4.2", "failed": qa == "Failed", "gateFailure": null
    });
    let dev = json!({
        "name": "dev", "type": "non-production", "isTrigger": true, "dependsOn": [], "status": "Successful",
        "startedAt": null, "finishedAt": null, "policy": null, "hooks": hooks,
        "applications": [], "workflows": [], "issues": []
    });
    let trigger = json!({
        "environment": "dev", "sha": "abcdef0123456789abcdef0123456789abcdef01", "shortSha": "abcdef0",
        "message": "fix: login", "author": "Bob", "authorEmail": "bob@example.com",
        "date": "2026-01-05T09:00:00Z", "repo": "https://git.example.com/shop/gitops.git",
        "branch": "main", "webUrl": null
    });
    let step = if qa == "Failed" { "Failed" } else { "Success" };
    let issues = if qa == "Failed" {
        json!([{"id": "i1", "kind": "workflow", "summary": "step tests failed", "at": "2026-01-05T10:05:00Z", "app": null}])
    } else {
        json!([])
    };
    let qa_env = json!({
        "name": "qa", "type": "non-production", "isTrigger": false, "dependsOn": ["dev"], "status": qa,
        "startedAt": null, "finishedAt": null, "hooks": hooks,
        "policy": {"action": "commit", "preAction": null, "postAction": "e2e", "source": {"action": "flow"}},
        "applications": [app],
        "workflows": [{"stage": "postAction", "hook": null, "name": "e2e", "runs": [], "status": step,
                       "steps": [{"name": "tests", "status": step}]}],
        "issues": issues
    });
    let view = json!({
        "id": id, "product": "shop", "flow": "standard", "flowVersion": "3.0", "version": "1.4.2",
        "status": status, "initiator": "alice", "createdAt": "2026-01-05T10:00:00Z",
        "finishedAt": if matches!(status, "Succeeded" | "Failed" | "Terminated") { json!("2026-01-05T10:10:00Z") } else { Value::Null },
        "reason": if status == "Failed" { json!("qa failed") } else { Value::Null }, "retries": 0,
        "startedAt": "2026-01-05T10:00:00Z", "terminate": null, "lastRetry": null, "hooks": [], "context": {},
        "issues": [],
        "trigger": trigger,
        "counters": {"successful": 1, "running": 0, "failed": if status == "Failed" { 1 } else { 0 }, "pending": 0},
        "environments": [
            dev,
            qa_env
        ]
    });
    let base = ferry_store::test_support::release_write(id, "shop", status, ts("2026-01-05T10:00:00Z"), 0, 1);
    Write::Release(Box::new(ReleaseWrite {
        row: ReleaseRow {
            flow_version: Some("3.0".into()),
            finished_at: Some(ts("2026-01-05T10:10:00Z")),
            version: Some("1.4.2".into()),
            environments: json!({"dev": "Successful", "qa": qa}),
            ..base.row.clone()
        },
        view: Some(view),
        ..base
    }))
}

/// `stored_release` with the outcome of its environment `env` at `at` (trigger commit at 09:00).
fn with_outcome(write: Write, env: &str, status: &str, at: &str) -> Write {
    let Write::Release(mut w) = write else { unreachable!() };
    w.outcomes = vec![ferry_store::OutcomeRow {
        release_id: w.release_id.clone(),
        product: "shop".into(),
        environment: env.into(),
        flow: "standard".into(),
        attempt: 0,
        status: status.into(),
        after_action: true,
        committed_at: ts("2026-01-05T09:00:00Z"),
        at: ts(at),
    }];
    Write::Release(w)
}

/// A server over the example configuration whose store already holds `writes` (each accepted).
fn server_with(writes: Vec<Write>) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&data.join("ferry.db")).await.unwrap();
        assert!(store.write(writes).await.unwrap().iter().all(Result::is_ok));
    });
    let server = Server::start_in(&data, &["--config", path(&examples())]);
    (dir, server)
}

#[test]
fn dora_prints_the_figures_of_stored_outcomes() {
    let (ok, failed) = ("01940000-0000-7000-8000-000000000001", "01940000-0000-7000-8000-000000000002");
    let (_dir, server) = server_with(vec![
        with_outcome(stored_release(ok, "Succeeded", "Successful"), "qa", "Successful", "2026-01-05T10:00:00Z"),
        with_outcome(stored_release(failed, "Failed", "Failed"), "qa", "Failed", "2026-01-05T11:00:00Z"),
    ]);
    // One deployment an hour after its commit, one failure after it, not restored.
    let r = server.ferry(&["dora", "shop", "--since", "2026-01-01", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let qa = &r.json()["environments"][0];
    assert_eq!(qa["environment"], "qa");
    assert_eq!(qa["total"]["deployments"], 1);
    assert_eq!(qa["total"]["leadTimeSeconds"]["median"], 3600);
    assert_eq!(qa["total"]["changeFailureRate"], 0.5);
    assert_eq!(qa["total"]["unrestored"], 1);
    let r = server.ferry(&["dora", "shop", "--env", "qa", "--since", "2026-01-01"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("DORA metrics of shop from 2026-01-01 00:00 UTC"), "{}", r.stdout);
    assert!(r.stdout.contains("1h 0m") && r.stdout.contains("50% (1/2)"), "{}", r.stdout);
    let r = server.ferry(&["dora", "shop", "--since", "soon"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("since"), "{}", r.stderr);
}

#[test]
fn release_show_list_and_watch_of_stored_releases() {
    let (ok, failed) = ("01940000-0000-7000-8000-000000000001", "01940000-0000-7000-8000-000000000002");
    let (_dir, server) =
        server_with(vec![stored_release(ok, "Succeeded", "Successful"), stored_release(failed, "Failed", "Failed")]);

    let r = server.ferry(&["release", "show", ok, "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["trigger"]["shortSha"], "abcdef0");
    assert_eq!(r.json()["environments"][1]["applications"][0]["action"]["commit"], "1234567890abcdef");

    let r = server.ferry(&["release", "show", failed]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for expected in [
        "Release 01940000-0000-7000-8000-000000000002 · product shop · flow standard 3.0 · version 1.4.2",
        "Status:    ✗ Failed",
        "Reason:    qa failed",
        "✗ Failed qa (non-production) after dev · action commit",
        "app shop-api-qa [api] · phase done · version 1.4.2",
        "action ✓ Succeeded · commit 1234567",
        "✓ Synced · ♥ Healthy at 1234567",
        "✗ Failed step tests",
        "⚠ issue (workflow): step tests failed",
    ] {
        assert!(r.stdout.contains(expected), "missing {expected:?} in:\n{}", r.stdout);
    }

    let r = server.ferry(&["release", "list", "shop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("CREATED") && lines[0].contains("dev") && lines[0].contains("qa"), "{}", r.stdout);
    assert!(
        lines[1].contains("✗ Failed") && lines[1].contains("alice") && lines[1].contains("standard 3.0"),
        "{}",
        r.stdout
    );
    assert!(lines[1].contains("qa failed"), "the reason is shown: {}", r.stdout);
    assert!(lines[2].contains("✓ Succeeded"), "{}", r.stdout);
    assert!(r.stdout.contains("✓ Successful"), "a legend explains the symbols: {}", r.stdout);

    let r = server.ferry(&["release", "list", "shop", "--status", "failed", "-o", "json"]);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = server.ferry(&["release", "list", "shop", "--status", "bogus"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("status: unknown release status"), "{}", r.stderr);

    // Watching a finished release returns its outcome at once.
    let r = server.ferry(&["release", "watch", ok]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("finished: ✓ Succeeded"), "{}", r.stdout);
    let r = server.ferry(&["release", "watch", failed]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("finished: ✗ Failed"), "{}", r.stdout);

    let r = server.ferry(&["release", "logs", ok]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
}

#[test]
fn release_control_and_pr_commands_report_usage_errors_and_unknown_ids() {
    // Usage errors: exit 2 before any request (no server needed).
    let id = "01900000-0000-7000-8000-000000000000";
    for args in [
        vec!["release", "terminate", id],
        vec!["release", "terminate", "--reason", "x"],
        vec!["release", "approve", id],
        vec!["release", "retry"],
        vec!["pr", "list", "--state", "draft"],
        vec!["pr", "merge", "abc"],
        vec!["pr", "merge", "0"],
        vec!["pr", "close"],
        vec!["pr", "frobnicate"],
    ] {
        let r = run(&[&["--server", "http://127.0.0.1:1"], args.as_slice()].concat());
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }

    let server = Server::start();
    // An unknown release: exit 1 with the server's message.
    for args in [
        vec!["release", "terminate", id, "--reason", "bad build"],
        vec!["release", "retry", id],
        vec!["release", "retry", id, "--wait"],
        vec!["release", "approve", id, "--env", "qa"],
    ] {
        let r = server.ferry(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim(), format!("✗ error: no release with id {id}"), "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    // Invalid input the server rejects: exit 2 naming the field.
    let r = server.ferry(&["release", "terminate", "not-an-id", "--reason", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not a release id"), "{}", r.stderr);
    let r = server.ferry(&["release", "terminate", id, "--reason", "  "]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("reason: must not be empty"), "{}", r.stderr);
    let r = server.ferry(&["release", "approve", id, "--env", "Not An Env"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("environment: "), "{}", r.stderr);

    // No pull request was opened.
    let r = server.ferry(&["pr", "list"]);
    assert_eq!((r.code, r.stdout.trim()), (0, "No pull requests match."), "{}", r.stderr);
    let r = server.ferry(&["pr", "list", "--product", "shop", "--state", "open", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), json!({"items": []}));
    for args in [vec!["pr", "merge", "7"], vec!["pr", "close", "7", "--comment", "not needed"]] {
        let r = server.ferry(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("✗ error: "), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    let r = server.ferry(&["pr", "close", "7", "--comment", &"x".repeat(1001)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("comment: must be at most 1000 characters"), "{}", r.stderr);
}

mod e2e_argocd;
mod e2e_argowf;
mod e2e_auth;
mod e2e_cli;
mod e2e_forges;
mod e2e_governance;
mod e2e_notes;
mod e2e_ops;
mod e2e_postgres;
mod e2e_releases;
mod e2e_replicas;
mod e2e_rollback;
mod e2e_service;
mod e2e_tls;
mod pg_cluster;

/// Reads the server's live event stream (from the beginning) until `until` holds for the events
/// received so far; returns them. Fails the test after two minutes instead of hanging.
fn follow_events(url: &str, release: &str, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let resp = client.get(format!("{url}/api/v1/events?release={release}&after=0")).send().await.unwrap();
        read_events(resp, until).await
    })
}

/// Subscribes to the live event stream (`filter`, e.g. `product=shop`), then posts `payload` to
/// `path`, then reads events until `until` holds.
fn post_and_follow(
    url: &str,
    path: &str,
    payload: &Value,
    filter: &str,
    until: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let stream = client.get(format!("{url}/api/v1/events?{filter}")).send().await.unwrap();
        assert!(stream.status().is_success());
        let posted = client.post(format!("{url}{path}")).json(payload).send().await.unwrap();
        assert!(posted.status().is_success(), "POST {path}: {}", posted.text().await.unwrap());
        read_events(stream, until).await
    })
}

async fn read_events(mut resp: reqwest::Response, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let read = async {
        let mut events: Vec<Value> = Vec::new();
        let mut buffer = String::new();
        while let Some(chunk) = resp.chunk().await.unwrap() {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        events.push(serde_json::from_str(data.trim()).unwrap());
                    }
                }
                if until(&events) {
                    return events;
                }
            }
        }
        panic!("the event stream ended early after {} events", events.len());
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), read).await.expect("the expected events never came")
}

#[test]
fn colour_follows_the_color_option_and_the_stream() {
    let shop = examples();
    // Standard output is a pipe here: no colour by default, even without NO_COLOR.
    let plain = run_with(&["validate", "-f", path(&shop)], &[("NO_COLOR", "")], None);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(!plain.stdout.contains('\x1b') && plain.stdout.contains('✓'), "{:?}", plain.stdout);
    let always = run_with(&["--color", "always", "validate", "-f", path(&shop)], &[("NO_COLOR", "")], None);
    assert!(always.stdout.contains("\x1b[32m✓"), "{:?}", always.stdout);
    let never = run_with(&["--color", "never", "validate", "-f", path(&shop)], &[], None);
    assert!(!never.stdout.contains('\x1b'), "{:?}", never.stdout);
    let bad = run(&["--color", "sometimes", "validate", "-f", path(&shop)]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--color"), "{}", bad.stderr);
}

#[test]
fn an_argo_server_that_is_not_a_url_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = run(&["server", "--data", path(&data), "--listen", "127.0.0.1:0", "--argo-server", "argo.example"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--argo-server: invalid Argo Server URL \"argo.example\": expected http:// or https://"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_argocd_server_that_is_not_a_url_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = run(&["server", "--data", path(&data), "--listen", "127.0.0.1:0", "--argocd-server", "argocd.example"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--argocd-server: invalid Argo CD server URL \"argocd.example\": expected http:// or https://"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_git_token_file_that_cannot_be_used_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let empty = dir.path().join("git-token");
    std::fs::write(&empty, "\n").unwrap();
    for (file, problem) in [(dir.path().join("missing"), "cannot read"), (empty, "is empty")] {
        let r = run(&["server", "--data", path(&data), "--listen", "127.0.0.1:0", "--git-token-file", path(&file)]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("--git-token-file") && r.stderr.contains(problem), "{}", r.stderr);
        assert!(r.stderr.contains(path(&file)), "{}", r.stderr);
    }
}
