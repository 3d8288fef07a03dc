//! Authentication end to end (SPEC §8.2): the real binary as a server that requires tokens and as its
//! client — browser safety, roles and scopes, identity, the audit log, contexts, signed webhooks.
//! Secrets are never part of a failure message.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use ferry_server::auth::signature::{WebhookSecret, sign};
use serde_json::{Value, json};

use super::e2e_releases::{Product, git};
use super::{Server, examples, path, run, run_with};

/// One HTTP/1.1 request written byte for byte as given (the test controls `Host`, `Origin` and
/// `Content-Type` exactly, as a browser or a rebinding page would send them): the status and the body.
fn raw(url: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// A request with reqwest: the status and the JSON answer (`null` when not JSON).
pub(super) fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut r = client.request(method.parse().unwrap(), url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(body) = body {
            r = r.body(body.to_vec());
        }
        let answer = r.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The configuration of examples/shop as the body of `POST /api/v1/apply`.
fn shop_apply_body() -> String {
    let sources = ferry_config::read_paths(&[examples()]).unwrap();
    json!({"sources": sources.iter().map(|s| json!({"name": s.name, "text": s.text})).collect::<Vec<_>>()}).to_string()
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_else(|| panic!("no items in {v}"))
}

/// Creates a token through the CLI as `admin`; returns its secret.
fn create_token(server: &Server, admin: &str, args: &[&str]) -> String {
    let r = server.ferry_as(admin, &[&["token", "create"], args, &["-o", "json"]].concat());
    // stdout holds a secret: only stderr is shown.
    assert_eq!(r.code, 0, "token create {args:?}: {}", r.stderr);
    let created: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    created["token"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("token create {args:?}: no token"))
}

/// Fails, without showing it, when the secret is in `text`.
fn assert_hidden(secret: &str, text: &str, what: &str) {
    assert!(!secret.is_empty() && !text.contains(secret), "a secret appears in {what}");
}

#[test]
fn browser_requests_cannot_drive_a_loopback_server_and_curl_and_the_cli_can() {
    let server = Server::start();
    let url = server.url.clone();
    let body = shop_apply_body();
    let evil = ("Origin", "http://evil.example");

    // The cross-site form a page can send without a preflight: refused, nothing applied.
    let (status, answer) = raw(&url, "POST", "/api/v1/apply", &[("Content-Type", "text/plain"), evil], &body);
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("cross-origin"), "{answer}");
    // The same content type without an Origin: not JSON, refused.
    let (status, answer) = raw(&url, "POST", "/api/v1/apply", &[("Content-Type", "text/plain")], &body);
    assert_eq!(status, 415, "{answer}");
    // JSON from another origin, or marked cross-site by the browser: refused.
    let json_type = ("Content-Type", "application/json");
    let (status, answer) = raw(&url, "POST", "/api/v1/apply", &[json_type, evil], &body);
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = raw(&url, "POST", "/api/v1/apply", &[json_type, ("Sec-Fetch-Site", "cross-site")], &body);
    assert_eq!(status, 403, "{answer}");
    let (status, _) = raw(&url, "POST", "/api/v1/products/shop/promote", &[json_type, evil], "{}");
    assert_eq!(status, 403);
    // DNS rebinding: another host name is not answered, reads included.
    let (status, answer) = raw(&url, "GET", "/api/v1/products", &[("Host", "rebind.example")], "");
    assert_eq!(status, 421, "{answer}");
    let (status, _) = raw(&url, "POST", "/api/v1/apply", &[("Host", "rebind.example:80"), json_type], &body);
    assert_eq!(status, 421);

    // Nothing was applied.
    for kind in ["products", "environments"] {
        let r = server.ferry(&["get", kind, "-o", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.json()["items"], json!([]), "{kind}");
    }

    // curl: JSON without an Origin, from the server's own origin, or with a loopback name.
    let own = server.url.clone();
    let (status, answer) = raw(&url, "POST", "/api/v1/apply", &[json_type, ("Origin", &own)], &body);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"version\":1"), "the first version applied is 1: {answer}");
    let port = url.rsplit(':').next().unwrap();
    let (status, _) = raw(&url, "GET", "/api/v1/products", &[("Host", &format!("localhost:{port}"))], "");
    assert_eq!(status, 200);
    // The CLI.
    let r = server.ferry(&["apply", "-f", path(&examples())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = server.ferry(&["get", "products", "-o", "json"]);
    assert_eq!((r.code, r.json()["items"][0]["name"].as_str()), (0, Some("shop")), "{}", r.stderr);
}

#[test]
fn roles_scopes_identity_and_the_audit_log_through_the_cli() {
    let product = Product::new("true");
    let data = product.dir.path().join("data");
    let server = Server::start_auth(&data, &["--health-poll-interval", "50ms"]);
    let admin = server.admin_token();
    let token_file = data.with_extension("token");
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_hidden(&admin, &server.first_line, "the server's stdout");

    // Without a token: 401 with the hint, exit 1.
    let r = server.ferry(&["get", "products"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("requires a token"), "{}", r.stderr);
    let hint = format!("pass --token, set FERRY_TOKEN or run `ferry login --server {} --token-stdin`", server.url);
    assert!(r.stderr.contains(&hint), "{}", r.stderr);
    let r = run_with(&["--server", &server.url, "--token", "ferry_not-a-token", "get", "products"], &[], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("malformed token") && r.stderr.contains(&hint), "{}", r.stderr);

    // admin: apply and create tokens.
    let r = server.ferry_as(&admin, &["apply", "-f", path(&product.config)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let viewer = create_token(&server, &admin, &["view", "--role", "viewer"]);
    let promoter = create_token(&server, &admin, &["ship", "--role", "promoter", "--expires", "90d"]);
    let other = create_token(&server, &admin, &["other", "--role", "promoter", "--products", "other-*"]);
    let nonprod = create_token(&server, &admin, &["nonprod", "--role", "promoter", "--env-types", "non-production"]);
    // Text output: the secret alone on stdout, the rest on stderr.
    let r = server.ferry_as(&admin, &["token", "create", "plain", "--role", "viewer"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines.len() == 1 && ferry_server::auth::tokens::looks_like_secret(lines[0]), "stdout is the secret alone");
    assert!(
        r.stderr.contains("token \"plain\" created: role viewer") && r.stderr.contains("only time"),
        "{}",
        r.stderr
    );
    let r = server.ferry_as(&admin, &["token", "create", "view", "--role", "viewer"]);
    assert_eq!(r.code, 1, "a name is never reused: {}", r.stderr);
    let r = server.ferry_as(&admin, &["token", "create", "bad", "--role", "viewer", "--products", "shop"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("role: a viewer reads everything"), "{}", r.stderr);

    // viewer: reads, nothing else.
    let r = server.ferry_as(&viewer, &["get", "products", "-o", "json"]);
    assert_eq!((r.code, r.json()["items"][0]["name"].as_str()), (0, Some("shop")), "{}", r.stderr);
    let r = server.ferry_as(&viewer, &["promote", "shop", "--flow", "standard"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("the promoter role is needed"), "{}", r.stderr);

    // promoter: promotes, as itself whatever the actor header says.
    let r = run_with(
        &["--server", &server.url, "promote", "shop", "--flow", "standard", "--wait", "-o", "json"],
        &[("FERRY_TOKEN", &promoter), ("USER", "mallory")],
        None,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let (status, view) =
        request("GET", &format!("{}/api/v1/releases/{id}", server.url), &[("Authorization", &bearer(&viewer))], None);
    assert_eq!((status, view["initiator"].as_str()), (200, Some("ship")), "{view}");
    let (status, created) = request(
        "POST",
        &format!("{}/api/v1/products/shop/promote", server.url),
        &[("Authorization", &bearer(&promoter)), ("Ferry-Actor", "mallory"), ("Content-Type", "application/json")],
        Some(br#"{"from": "dev", "to": "qa"}"#),
    );
    assert_eq!((status, created["initiator"].as_str()), (201, Some("ship")), "{created}");
    let second = created["id"].as_str().unwrap().to_owned();
    let r = server.ferry_as(&promoter, &["release", "watch", &second]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for args in [vec!["apply", "-f", path(&product.config)], vec!["token", "list"], vec!["audit"]] {
        let r = server.ferry_as(&promoter, &args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("the admin role is needed"), "{args:?}: {}", r.stderr);
    }
    // The release has ended: terminate, retry and approve are answered (and audited) as failed.
    for args in [
        vec!["release", "terminate", &id, "--reason", "too late"],
        vec!["release", "retry", &id],
        vec!["release", "approve", &id, "--env", "prod"],
    ] {
        let r = server.ferry_as(&promoter, &args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
    }

    // Scopes: products and environment types.
    let r = server.ferry_as(&other, &["promote", "shop", "--flow", "standard"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("may not act on product \"shop\"") && r.stderr.contains("other-*"), "{}", r.stderr);
    let r = server.ferry_as(&nonprod, &["promote", "shop", "--flow", "standard"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("may not act on production environments"), "{}", r.stderr);
    let r = server.ferry_as(&nonprod, &["promote", "shop", "--from", "dev", "--to", "qa", "--wait"]);
    assert_eq!(r.code, 0, "a non-production promotion is in scope: {}\n{}", r.stdout, r.stderr);

    // Token list never shows secrets; revoking stops a token at once.
    let r = server.ferry_as(&admin, &["token", "list", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for secret in [&admin, &viewer, &promoter, &other, &nonprod] {
        assert_hidden(secret, &r.stdout, "token list");
    }
    let names: Vec<String> = items(&r.json()).iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["bootstrap", "nonprod", "other", "plain", "ship", "view"]);
    let r = server.ferry_as(&admin, &["token", "list"]);
    assert!(r.stdout.lines().any(|l| l.starts_with("other ") && l.contains("other-*")), "{}", r.stdout);
    let r = server.ferry_as(&admin, &["token", "revoke", "view"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = server.ferry_as(&viewer, &["get", "products"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("revoked"), "{}", r.stderr);
    let r = server.ferry_as(&admin, &["token", "revoke", "view"]);
    assert_eq!(r.code, 1, "already revoked: {}", r.stderr);
    let r = server.ferry_as(&admin, &["token", "revoke", "nobody"]);
    assert_eq!(r.code, 1, "unknown: {}", r.stderr);

    // The audit log: every change, with the token's name as the actor.
    let r = server.ferry_as(&admin, &["audit", "--limit", "1000", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries = items(&r.json());
    let has = |actor: &str, action: &str, outcome: &str| {
        entries.iter().any(|e| e["actor"] == actor && e["action"] == action && e["outcome"] == outcome)
    };
    for (actor, action, outcome) in [
        ("bootstrap", "config.apply", "ok"),
        ("bootstrap", "token.create", "ok"),
        ("bootstrap", "token.revoke", "ok"),
        ("bootstrap", "token.revoke", "failed"),
        ("ship", "product.promote", "ok"),
        ("ship", "release.terminate", "failed"),
        ("ship", "release.retry", "failed"),
        ("ship", "release.approve", "failed"),
        ("ship", "config.apply", "denied"),
        ("other", "product.promote", "denied"),
        ("nonprod", "product.promote", "denied"),
        ("nonprod", "product.promote", "ok"),
        ("view", "product.promote", "denied"),
    ] {
        assert!(has(actor, action, outcome), "no audit entry {actor} {action} {outcome} in {entries:#?}");
    }
    assert!(entries.iter().all(|e| e["actor"] != "mallory" && e["actor"] != "anonymous"), "{entries:#?}");
    let r = server.ferry_as(&admin, &["audit"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("TIME") && r.stdout.contains("release.terminate"), "{}", r.stdout);
    let r = server.ferry_as(&admin, &["audit", "--since", "2999-01-01", "-o", "json"]);
    assert_eq!((r.code, r.json()["items"].clone()), (0, json!([])), "{}", r.stderr);

    // No secret was ever logged.
    let log = Server::log_of(&data);
    assert!(log.contains("admin token \"bootstrap\" written to"), "the bootstrap is reported");
    for secret in [&admin, &viewer, &promoter, &other, &nonprod] {
        assert_hidden(secret, &log, "the server's log");
    }
}

#[test]
fn an_expired_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_auth(&data, &[]);
    let admin = server.admin_token();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    // Offline, on the stopped server's data directory.
    let r =
        run(&["token", "create", "brief", "--role", "viewer", "--expires", "1s", "--data", path(&data), "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let created: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    let brief = created["token"].as_str().unwrap_or_else(|| panic!("no token created")).to_owned();
    let r = run(&["token", "list", "--data", path(&data), "-o", "json"]);
    let listed = r.json();
    let row = items(&listed).into_iter().find(|t| t["name"] == "brief").unwrap();
    assert_eq!(row["createdBy"], "offline");

    let server = Server::start_auth(&data, &[]);
    assert_eq!(server.admin_token(), admin);
    assert!(Server::log_of(&data).contains("admin token \"bootstrap\" read from"), "{}", Server::log_of(&data));
    // Wait for the expiry by asking the server, a bounded number of times.
    let whoami = format!("{}/api/v1/whoami", server.url);
    let mut last = (0, Value::Null);
    for _ in 0..300 {
        last = request("GET", &whoami, &[("Authorization", &bearer(&brief))], None);
        if last.0 != 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(last.0, 401, "the token never expired: {}", last.1);
    assert!(last.1["error"]["message"].as_str().unwrap_or_default().contains("expired"), "{}", last.1);
    let r = server.ferry_as(&brief, &["get", "products"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("expired"), "{}", r.stderr);
    let r = server.ferry_as(&admin, &["token", "list", "-o", "json"]);
    let row = items(&r.json()).into_iter().find(|t| t["name"] == "brief").unwrap();
    assert_eq!(row["status"], "expired");
    let (status, me) = request("GET", &whoami, &[("Authorization", &bearer(&admin))], None);
    assert_eq!(
        (status, me),
        (200, json!({"name": "bootstrap", "role": "admin", "products": [], "envTypes": [], "auth": true}))
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_saves_a_context_that_later_commands_use_and_logout_forgets_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_auth(&dir.path().join("data"), &[]);
    let admin = server.admin_token();
    let home = dir.path().join("home");
    let xdg = home.join(".config");
    let xdg = xdg.to_str().unwrap();
    let env = [("XDG_CONFIG_HOME", xdg), ("HOME", home.to_str().unwrap())];
    let file = home.join(".config/ferry/config.toml");
    let token_file = dir.path().join("data.token");

    // A refused token saves nothing.
    let bogus = dir.path().join("bogus");
    std::fs::write(&bogus, format!("ferry_{}\n", "x".repeat(43))).unwrap();
    let r = run_with(&["login", "--server", &server.url, "--token-stdin"], &env, Some(&bogus));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("unknown token"), "{}", r.stderr);
    assert!(!file.exists());

    let r = run_with(&["login", "--server", &server.url, "--token-stdin"], &env, Some(&token_file));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with(&format!("✓ logged in to {} as bootstrap (admin)", server.url)), "{}", r.stdout);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    // Later commands need neither --server nor --token.
    let r = run_with(&["get", "products", "-o", "json"], &env, None);
    assert_eq!((r.code, r.json()), (0, json!({"items": []})), "{}", r.stderr);
    let r = run_with(&["token", "list", "-o", "json"], &env, None);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let r = run_with(&["context", "list", "-o", "json"], &env, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_hidden(&admin, &r.stdout, "context list");
    let port = server.url.rsplit(':').next().unwrap();
    let name = format!("127.0.0.1:{port}");
    let list = r.json();
    assert_eq!(list["current"], name.as_str());
    assert_eq!(list["items"][0]["server"], server.url.as_str());
    assert_eq!(list["items"][0]["loggedIn"], true);
    let r = run_with(&["context", "list"], &env, None);
    assert!(r.stdout.lines().nth(1).is_some_and(|l| l.starts_with('*') && l.contains(&name)), "{}", r.stdout);
    assert_hidden(&admin, &r.stdout, "context list");

    let r = run_with(&["context", "use", "staging"], &env, None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("no context named \"staging\" (known: {name})")), "{}", r.stderr);

    // A token from the environment wins over the context's; a server other than the context's gets none.
    let r = run_with(&["get", "products"], &[env[0], env[1], ("FERRY_TOKEN", "ferry_bad")], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let other = format!("http://localhost:{port}");
    let r = run_with(&["--server", &other, "get", "products"], &env, None);
    assert_eq!(r.code, 1, "the context's token goes to its own server only: {}", r.stderr);

    let r = run_with(&["logout"], &env, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_hidden(&admin, &std::fs::read_to_string(&file).unwrap(), "the file after logout");
    let r = run_with(&["get", "products"], &env, None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("requires a token") && r.stderr.contains("ferry login"), "{}", r.stderr);

    // Others may read the file: a warning. A malformed file: exit 2 naming the file and the line.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run_with(&["context", "list"], &env, None);
    assert!(r.stderr.contains("may be read by others (mode 0644)"), "{}", r.stderr);
    std::fs::write(&file, "current = \"x\"\n[contexts.x]\nserver = 42\n").unwrap();
    let r = run_with(&["get", "products"], &env, None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{}:3:10: invalid type", file.display())), "{}", r.stderr);
}

#[test]
fn a_server_that_requires_tokens_nobody_has_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Only the refusal is checked: the process exits before it binds the address.
    for listen in [vec!["--listen", "0.0.0.0:0"], vec!["--listen", "127.0.0.1:0", "--auth"]] {
        let r = run(&[&["server", "--data", path(&data)], listen.as_slice()].concat());
        assert_eq!(r.code, 2, "{listen:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{listen:?}: {}", r.stdout);
        assert!(
            r.stderr.contains("--bootstrap-token-file FILE") && r.stderr.contains("ferry token create"),
            "both ways are named: {}",
            r.stderr
        );
    }
    let r = run(&["server", "--data", path(&data), "--listen", "127.0.0.1:0", "--public-url", "ferry.example.com"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--public-url \"ferry.example.com\""), "{}", r.stderr);
    let missing = dir.path().join("missing-secret");
    let r = run(&["server", "--data", path(&data), "--listen", "127.0.0.1:0", "--webhook-secret-file", path(&missing)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("--webhook-secret-file {}", missing.display())), "{}", r.stderr);
    // An admin token made offline is enough.
    let r = run(&["token", "create", "root", "--role", "admin", "--data", path(&data), "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let server = Server::start_in(&data, &["--auth"]);
    assert!(Server::log_of(&data).contains("auth: tokens required"), "{}", Server::log_of(&data));
    drop(server);
    let server = Server::start_in(&data, &[]);
    assert!(Server::log_of(&data).contains("auth: off (loopback only)"), "{}", Server::log_of(&data));
    drop(server);
}

/// A GitHub push delivery of the product's repository.
fn github_push(product: &Product, sha: &str) -> Vec<u8> {
    json!({"ref": "refs/heads/main", "after": sha, "repository": {"clone_url": product.url()}}).to_string().into_bytes()
}

/// A GitLab push delivery of the product's repository.
fn gitlab_push(product: &Product, sha: &str) -> Vec<u8> {
    json!({"object_kind": "push", "ref": "refs/heads/main", "after": sha, "project": {"git_http_url": product.url()}})
        .to_string()
        .into_bytes()
}

fn hook_entries(server: &Server, admin: Option<&str>) -> Vec<Value> {
    let r = match admin {
        Some(token) => server.ferry_as(token, &["audit", "--limit", "1000", "-o", "json"]),
        None => server.ferry(&["audit", "--limit", "1000", "-o", "json"]),
    };
    assert_eq!(r.code, 0, "{}", r.stderr);
    items(&r.json()).into_iter().filter(|e| e["action"] == "hook.git").collect()
}

#[test]
fn webhooks_are_authenticated_by_their_signature() {
    let product = Product::new("true");
    let sha = git(&product.work, &["rev-parse", "HEAD"]);
    let secret_file = product.dir.path().join("webhook-secret");
    std::fs::write(&secret_file, "s3cret-for-hooks\n").unwrap();
    let secret = WebhookSecret::new("s3cret-for-hooks").unwrap();
    let wrong = WebhookSecret::new("not-the-secret").unwrap();
    let data = product.dir.path().join("data");
    let args = ["--config", path(&product.config), "--webhook-secret-file", path(&secret_file)];
    let server = Server::start_auth(&data, &args);
    let admin = server.admin_token();
    let hook = format!("{}/api/v1/hooks/git", server.url);
    let json_type = ("Content-Type", "application/json");
    let github = github_push(&product, &sha);
    let gitlab = gitlab_push(&product, &sha);
    let signature = sign(&secret, &github);
    let bad_signature = sign(&wrong, &github);

    let accepted = |(status, answer): (u16, Value)| {
        assert_eq!(status, 202, "{answer}");
        let apps = answer["applications"].as_array().cloned().unwrap_or_default();
        assert!(!apps.is_empty(), "a push to the product's branch names its applications: {answer}");
    };
    let refused = |(status, answer): (u16, Value), why: &str| {
        assert_eq!(status, 401, "{why}: {answer}");
        assert!(answer.get("applications").is_none(), "{why}: {answer}");
        assert_eq!(answer["error"]["code"], "unauthorized", "{why}: {answer}");
    };
    let gh = ("X-GitHub-Event", "push");
    accepted(request("POST", &hook, &[json_type, gh, ("X-Hub-Signature-256", &signature)], Some(&github)));
    refused(request("POST", &hook, &[json_type, gh], Some(&github)), "unsigned");
    refused(request("POST", &hook, &[json_type, gh, ("X-Hub-Signature-256", &bad_signature)], Some(&github)), "wrong");
    // Signed, but not this body.
    let other_body = github_push(&product, &"1".repeat(40));
    refused(request("POST", &hook, &[json_type, gh, ("X-Hub-Signature-256", &signature)], Some(&other_body)), "body");
    let gl = ("X-Gitlab-Event", "Push Hook");
    accepted(request("POST", &hook, &[json_type, gl, ("X-Gitlab-Token", "s3cret-for-hooks")], Some(&gitlab)));
    refused(request("POST", &hook, &[json_type, gl, ("X-Gitlab-Token", "s3cret")], Some(&gitlab)), "gitlab wrong");
    refused(request("POST", &hook, &[json_type, gl], Some(&gitlab)), "gitlab unsigned");

    // Only the authentic deliveries were recorded.
    let entries = hook_entries(&server, Some(&admin));
    let actors: Vec<&str> = entries.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["webhook:gitlab", "webhook:github"], "{entries:#?}");
    assert!(entries.iter().all(|e| e["status"] == 202 && e["outcome"] == "ok"), "{entries:#?}");
    let log = Server::log_of(&data);
    assert!(!log.contains("s3cret-for-hooks"), "the webhook secret is never logged");
    drop(server);

    // Tokens required and no webhook secret: every delivery is refused, signed or not.
    let server = Server::start_auth(&data, &[]);
    let admin = server.admin_token();
    let hook = format!("{}/api/v1/hooks/git", server.url);
    refused(request("POST", &hook, &[json_type, gh, ("X-Hub-Signature-256", &signature)], Some(&github)), "no secret");
    refused(request("POST", &hook, &[json_type, gh], Some(&github)), "no secret, unsigned");
    assert_eq!(hook_entries(&server, Some(&admin)).len(), 2, "no new entry");
    drop(server);

    // A loopback server without tokens but with a secret still wants signed deliveries.
    let server = Server::start_in(&data, &["--webhook-secret-file", path(&secret_file)]);
    let hook = format!("{}/api/v1/hooks/git", server.url);
    refused(request("POST", &hook, &[json_type, gh], Some(&github)), "loopback, unsigned");
    accepted(request("POST", &hook, &[json_type, gh, ("X-Hub-Signature-256", &signature)], Some(&github)));
    let entries = hook_entries(&server, None);
    assert_eq!(entries.len(), 3, "only the signed delivery was added: {entries:#?}");
    assert!(entries.iter().all(|e| e["status"] == 202), "{entries:#?}");
}
