//! The command line's habits end to end: completion scripts, `apply -f -`, `apply --dry-run` and
//! `diff`, `-o yaml` beside `-o json`, `-o wide`, `--timeout`, the progress while waiting, `version`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::e2e_releases::Product;
use super::{Server, examples, path, run, run_with};

#[test]
fn completion_scripts_are_generated_for_every_shell_and_bash_accepts_its_own() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = run(&["completion", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("ferry") && r.stdout.contains("promote"), "{shell}: {}", r.stdout);
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ferry.bash");
    std::fs::write(&script, run(&["completion", "bash"]).stdout).unwrap();
    let checked = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let r = run(&["completion", "tcsh"]);
    assert_eq!(r.code, 2, "an unknown shell is bad usage");
    assert!(r.stderr.contains("tcsh"), "{}", r.stderr);
}

/// The example configuration as one YAML stream (what a generator would pipe in).
fn example_stream(dir: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(examples()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let text: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let stream = dir.join("all.yaml");
    std::fs::write(&stream, text.join("\n---\n")).unwrap();
    stream
}

#[test]
fn diff_dry_run_and_apply_from_standard_input() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let shop = examples();

    // Nothing applied yet: everything is new.
    let r = server.ferry(&["diff", "-f", path(&shop)]);
    assert_eq!(r.code, 1, "differences exit 1: {}", r.stderr);
    assert!(r.stdout.contains("--- /dev/null\n+++ files/Environment/dev\n"), "{}", r.stdout);

    // A dry run validates and lists, and applies nothing.
    let r = server.ferry(&["apply", "-f", path(&shop), "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("would add Environment/dev"), "{}", r.stdout);
    assert!(r.stdout.contains("nothing applied"), "{}", r.stdout);
    let envs = server.ferry(&["get", "environments", "-o", "json"]).json();
    assert_eq!(envs["items"].as_array().unwrap().len(), 0, "the dry run applied nothing");

    // The same files through standard input.
    let stream = example_stream(dir.path());
    let r = run_with(&["--server", &server.url, "apply", "-f", "-"], &[], Some(&stream));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("applied configuration version 1"), "{}", r.stdout);

    // Up to date: no output, exit 0 (from files and from standard input alike).
    let r = server.ferry(&["diff", "-f", path(&shop)]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    let r = run_with(&["--server", &server.url, "diff", "-f", "-"], &[], Some(&stream));
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    let r = server.ferry(&["apply", "-f", path(&shop), "--dry-run", "-o", "json"]);
    assert_eq!(r.json(), serde_json::json!({"dryRun": true, "changes": []}));

    // One environment changed: one resource's diff.
    let changed = dir.path().join("changed");
    std::fs::create_dir_all(&changed).unwrap();
    for entry in std::fs::read_dir(&shop).unwrap() {
        let file = entry.unwrap().path();
        std::fs::copy(&file, changed.join(file.file_name().unwrap())).unwrap();
    }
    let envs = std::fs::read_to_string(changed.join("environments.yaml")).unwrap();
    assert!(envs.contains("  order: 20\n"), "{envs}");
    std::fs::write(changed.join("environments.yaml"), envs.replacen("  order: 20\n", "  order: 25\n", 1)).unwrap();
    let r = server.ferry(&["diff", "-f", path(&changed)]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let headers: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("+++ ")).collect();
    assert_eq!(headers, ["+++ files/Environment/qa"], "{}", r.stdout);
    assert!(r.stdout.contains("\n-order: 20\n+order: 25\n"), "{}", r.stdout);
    let r = server.ferry(&["apply", "-f", path(&changed), "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("would change Environment/qa"), "{}", r.stdout);

    // Invalid files: exit 2 with the problem, nothing compared.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: ferry/v1\nkind: Environment\nmetadata: {name: dev}\nspec: {tyep: x}\n").unwrap();
    let r = server.ferry(&["diff", "-f", path(&bad)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad.yaml"), "{}", r.stderr);
    let r = run_with(&["--server", &server.url, "apply", "-f", "-", "-f", "-"], &[], Some(&stream));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("can be given once"), "{}", r.stderr);
}

/// `ferry ARGS -o json` and `-o yaml` print the same data.
fn same_in_json_and_yaml(server: &Server, args: &[&str]) -> Value {
    let json = server.ferry(&[args, &["-o", "json"]].concat());
    assert_eq!(json.code, 0, "{args:?}: {}", json.stderr);
    let yaml = server.ferry(&[args, &["-o", "yaml"]].concat());
    assert_eq!(yaml.code, 0, "{args:?}: {}", yaml.stderr);
    let from_yaml: Value =
        serde_saphyr::from_str(&yaml.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", yaml.stdout));
    assert_eq!(from_yaml, json.json(), "{args:?}");
    from_yaml
}

#[test]
fn reading_commands_print_json_and_yaml_alike_and_waits_show_progress() {
    let product = Product::new("echo gate passed");
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    // Not a terminal: the progress is one line per change.
    let run = server.ferry(&["promote", "shop", "--flow", "standard", "--wait"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("progress: 4/4 environments done"), "{}", run.stdout);
    assert!(run.stdout.lines().any(|l| l.starts_with("progress: ") && l.contains("qa: ")), "{}", run.stdout);
    assert!(!run.stdout.contains('\r'), "no redrawing off a terminal");
    let progress: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("progress: ")).collect();
    assert!(progress.windows(2).all(|w| w[0] != w[1]), "a line only when it changes: {progress:?}");

    let list = same_in_json_and_yaml(&server, &["release", "list", "shop"]);
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let view = same_in_json_and_yaml(&server, &["release", "show", &id]);
    assert_eq!(view["status"], "Succeeded");
    let logs = same_in_json_and_yaml(&server, &["release", "logs", &id, "--env", "qa"]);
    assert!(logs["items"].as_array().unwrap().iter().any(|l| l["text"] == "gate passed"), "{logs}");
    same_in_json_and_yaml(&server, &["release", "notes", &id]);
    same_in_json_and_yaml(&server, &["pr", "list"]);
    same_in_json_and_yaml(&server, &["token", "list"]);
    let audit = same_in_json_and_yaml(&server, &["audit"]);
    assert!(!audit["items"].as_array().unwrap().is_empty(), "the promotion is audited");

    // Wide lists have more columns.
    let narrow = server.ferry(&["release", "list", "shop"]);
    let wide = server.ferry(&["release", "list", "shop", "-o", "wide"]);
    assert_eq!(wide.code, 0, "{}", wide.stderr);
    let header = |text: &str| text.lines().next().unwrap_or_default().to_owned();
    assert!(!header(&narrow.stdout).contains("PRODUCT"), "{}", narrow.stdout);
    assert!(header(&wide.stdout).contains("PRODUCT") && header(&wide.stdout).contains("REASON"), "{}", wide.stdout);
    let r = server.ferry(&["audit", "-o", "wide"]);
    assert!(header(&r.stdout).contains("DETAIL"), "{}", r.stdout);
    let r = server.ferry(&["release", "show", &id, "-o", "wide"]);
    assert_eq!(r.code, 2, "wide is for lists only");

    // Versions of both sides.
    let r = server.ferry(&["version"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let version = env!("CARGO_PKG_VERSION");
    assert!(r.stdout.contains(&format!("client: ferry {version} (commit ")), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("server: ferry {version} (commit ")), "{}", r.stdout);
    let both = server.ferry(&["version", "-o", "json"]).json();
    assert_eq!(both["client"], both["server"], "one build: {both}");
}

#[test]
fn version_without_a_server_names_it_and_client_only_needs_none() {
    // A port nothing listens on: bind one, then free it.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{free}");
    let r = run(&["--server", &url, "version"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.starts_with("client: ferry "), "the client's version comes first: {}", r.stdout);
    assert!(r.stderr.contains(&url), "{}", r.stderr);
    let r = run(&["--server", &url, "version", "--client"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("server"), "{}", r.stdout);
}

#[test]
fn timeouts_end_a_wait_with_exit_1_and_the_release_goes_on() {
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let product = Product::new(&super::wait_for_file(&go));
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    let r = server.ferry(&["promote", "shop", "--flow", "standard", "--wait", "--timeout", "1s", "-o", "json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("timed out after 1s waiting for release"), "{}", r.stderr);
    let list = server.ferry(&["release", "list", "shop", "-o", "json"]).json();
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["items"][0]["status"], "Running", "the release goes on");
    let r = server.ferry(&["release", "watch", &id, "--timeout", "1s"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("timed out after 1s"), "{}", r.stderr);
    let r = server.ferry(&["promote", "shop", "--timeout", "1s"]);
    assert_eq!(r.code, 2, "--timeout needs --wait: {}", r.stderr);
    // Let it finish, so no step is left waiting.
    std::fs::write(&go, "go").unwrap();
    let r = server.ferry(&["release", "watch", &id]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn server_flags_come_from_the_environment_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r = run_with(&["server", "--data", path(&data)], &[("FERRY_LISTEN", "not-an-address")], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--listen \"not-an-address\""), "{}", r.stderr);
    let r = run_with(&["server", "--data", path(&data)], &[("FERRY_POLL_INTERVAL", "soon")], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("soon") && r.stderr.contains("--poll-interval"), "{}", r.stderr);
}
