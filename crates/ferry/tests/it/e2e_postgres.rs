//! PostgreSQL end to end: an embedded installation that ran a release is copied with `ferry db copy`,
//! and a server started on the copy (`--database postgres://…`) answers the same release, events, logs
//! and audit log. Needs the tests' PostgreSQL server (`FERRY_TEST_POSTGRES`, see `.ci/postgres`).

use ferry_store::test_support;
use serde_json::Value;

use super::e2e_releases::Product;
use super::{Server, path, run};

/// The JSON answer of `GET path` with a bearer token.
pub(super) fn get(server: &Server, token: &str, path: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new().get(format!("{}{path}", server.url)).bearer_auth(token).send().await.unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    })
}

/// What the API answers about a release and the installation: view, events, logs, audit log.
fn answers(server: &Server, token: &str, id: &str) -> [Value; 4] {
    [
        get(server, token, &format!("/api/v1/releases/{id}")),
        get(server, token, &format!("/api/v1/releases/{id}/events")),
        get(server, token, &format!("/api/v1/releases/{id}/logs")),
        get(server, token, "/api/v1/audit?limit=1000"),
    ]
}

/// A new database on the tests' server, dropped at the end of the test.
pub(super) struct Database {
    pub(super) server: String,
    pub(super) name: String,
    pub(super) url: String,
}

impl Database {
    pub(super) fn create() -> Option<Database> {
        let server = test_support::postgres_server()?;
        let name = test_support::unique_name("ferry_e2e");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let url = rt.block_on(test_support::create_database(&server, &name)).unwrap();
        Some(Database { server, name, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _ = rt.block_on(test_support::drop_database(&self.server, &self.name));
    }
}

#[test]
fn an_embedded_installation_moves_to_postgresql_with_nothing_lost() {
    let Some(target) = Database::create() else { return };
    let product = Product::new("echo gate passed");
    let data = product.dir.path().join("data");
    let config = ["--config", path(&product.config), "--health-poll-interval", "50ms"];
    let (id, before, token) = {
        let server = Server::start_auth(&data, &config);
        let token = server.admin_token();
        let promoted = server.ferry_as(&token, &["promote", "shop", "--flow", "standard", "--wait", "-o", "json"]);
        assert_eq!(promoted.code, 0, "{}\n{}", promoted.stdout, promoted.stderr);
        let id = promoted.json()["id"].as_str().unwrap().to_owned();
        (id.clone(), answers(&server, &token, &id), token)
    };
    let [view, events, logs, audit] = &before;
    assert_eq!(view["status"], "Succeeded");
    assert!(events["items"].as_array().is_some_and(|e| e.len() > 10), "the release's events are listed");
    assert!(logs.to_string().contains("gate passed"), "the gate's output is logged");
    assert!(audit.to_string().contains("product.promote"), "the promotion is audited");

    let from = format!("sqlite:{}", data.join("ferry.db").display());
    let copied = run(&["db", "copy", "--from", &from, "--to", &target.url, "-o", "json"]);
    assert_eq!(copied.code, 0, "{}\n{}", copied.stdout, copied.stderr);
    assert!(copied.json()["tables"]["events"].as_u64().unwrap() > 0);
    // Copied once: the target now holds data and is refused.
    let again = run(&["db", "copy", "--from", &from, "--to", &target.url]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let migrated = run(&["db", "migrate", "--database", &target.url]);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    assert!(migrated.stdout.contains("up to date"), "{}", migrated.stdout);

    // A replica on the copy: its own data directory (git mirrors), the copied tokens, no migration.
    let replica_data = product.dir.path().join("replica");
    let token_file = data.with_extension("token");
    let server = Server::start_in(
        &replica_data,
        &[
            "--database",
            &target.url,
            "--no-migrate",
            "--auth",
            "--bootstrap-token-file",
            path(&token_file),
            "--config",
            path(&product.config),
        ],
    );
    let after = answers(&server, &token, &id);
    // The same release, events (ids included), logs and audit log.
    for (what, (after, before)) in ["view", "events", "logs", "audit"].into_iter().zip(after.iter().zip(&before)) {
        assert!(after == before, "the {what} differ after the copy");
    }
    let log = Server::log_of(&replica_data);
    assert!(log.contains("database: postgres://"), "{log}");
    assert!(log.contains("is already applied"), "the copied configuration is the one in use: {log}");
}

#[test]
fn a_server_that_must_not_migrate_refuses_a_database_without_the_schema() {
    let Some(target) = Database::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let r =
        run(&["server", "--data", path(&data), "--listen", "127.0.0.1:0", "--database", &target.url, "--no-migrate"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ferry db migrate"), "{}", r.stderr);
    let bad = run(&["server", "--data", path(&data), "--database", "mysql://db/ferry"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--database") && bad.stderr.contains("unknown database scheme"), "{}", bad.stderr);
    // Offline tokens on the database, without a server.
    let created = run(&["token", "create", "first", "--role", "admin", "--database", &target.url, "-o", "json"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let listed = run(&["token", "list", "--database", &target.url, "-o", "json"]);
    assert_eq!(listed.json()["items"][0]["name"], "first");
}

/// The live stream of `server` (filter e.g. `product=shop`, `release=ID&after=N`), read until a
/// `Finished` event, while `act` runs once the stream is open.
fn stream_until_finished(server: &Server, token: &str, filter: &str, act: impl FnOnce()) -> Vec<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let stream = reqwest::Client::new()
            .get(format!("{}/api/v1/events?{filter}", server.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(stream.status().is_success(), "{}", stream.status());
        act();
        super::read_events(stream, |events| events.last().is_some_and(|e| e["body"]["type"] == "Finished")).await
    })
}

#[test]
fn two_servers_on_one_database_stream_each_others_events_in_order_with_resume() {
    let Some(target) = Database::create() else { return };
    let product = Product::new("echo gate passed");
    let token_file = product.dir.path().join("admin.token");
    let start = |name: &str, extra: &[&str]| {
        let args =
            [&["--database", target.url.as_str(), "--auth", "--bootstrap-token-file", path(&token_file)][..], extra]
                .concat();
        let mut server = Server::start_in(&product.dir.path().join(name), &args);
        server.token_file = Some(token_file.clone());
        server
    };
    let a = start("a", &["--config", path(&product.config), "--health-poll-interval", "50ms"]);
    let b = start("b", &[]);
    let token = a.admin_token();
    // A client of b sees the release a runs, live, every event once and in id order.
    let live = stream_until_finished(&b, &token, "product=shop", || {
        let promoted = a.ferry_as(&token, &["promote", "shop", "--flow", "standard"]);
        assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    });
    let ids: Vec<i64> = live.iter().map(|e| e["gid"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order: {ids:?}");
    let release = live[0]["releaseId"].as_str().unwrap().to_owned();
    let stored = get(&a, &token, &format!("/api/v1/releases/{release}/events"));
    let stored: Vec<i64> = stored["items"].as_array().unwrap().iter().map(|e| e["gid"].as_i64().unwrap()).collect();
    assert_eq!(ids, stored, "the stream on b is the log a wrote");
    // A client that saw the first five resumes on either server from the fifth id.
    for server in [&a, &b] {
        let resumed = stream_until_finished(server, &token, &format!("release={release}&after={}", ids[4]), || {});
        let resumed: Vec<i64> = resumed.iter().map(|e| e["gid"].as_i64().unwrap()).collect();
        assert_eq!(resumed, ids[5..]);
    }
}
