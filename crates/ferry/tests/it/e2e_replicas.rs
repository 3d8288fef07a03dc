//! Replicas sharing one PostgreSQL (SPEC §8.1): releases started through different `ferry server`
//! processes, one of them killed with SIGKILL mid-workflow and its releases taken over, control
//! requests reaching the owner from another replica, and one push seen by two replicas. Needs the
//! tests' PostgreSQL server (`FERRY_TEST_POSTGRES`, see `.ci/postgres`).
//!
//! Waiting is done on conditions read from the database, each with a deadline, never by sleeping a
//! fixed time; leases expire after 2 s here so takeovers happen quickly.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_store::{PgStore, ReleaseFilter, Store};
use serde_json::Value;

use super::e2e_postgres::Database;
use super::e2e_releases::{Product, git, values};
use super::{Server, path};

/// The secret webhook deliveries are signed with.
const WEBHOOK_SECRET: &str = "a shared webhook secret";

/// How long any one condition may take.
const DEADLINE: Duration = Duration::from_secs(120);

/// Replicas of one installation: their servers, the admin token, and a store to look at the database.
struct Replicas {
    servers: Vec<Option<Server>>,
    names: Vec<String>,
    token: String,
    store: PgStore,
    rt: tokio::runtime::Runtime,
}

impl Replicas {
    /// Starts `names.len()` replicas on `db`, the first applying the product's configuration.
    fn start(db: &Database, product: &Product, names: &[&str]) -> Replicas {
        Replicas::start_on(&db.url, product, names, "2s")
    }

    /// [`Replicas::start`] on the database at `url`, with leases lasting `lease_expiry`.
    fn start_on(url: &str, product: &Product, names: &[&str], lease_expiry: &str) -> Replicas {
        let token_file = product.dir.path().join("admin.token");
        let secret_file = product.dir.path().join("webhook.secret");
        std::fs::write(&secret_file, WEBHOOK_SECRET).unwrap();
        let mut servers = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut args = vec![
                "--database",
                url,
                "--auth",
                "--bootstrap-token-file",
                path(&token_file),
                "--replica-id",
                name,
                "--lease-expiry",
                lease_expiry,
                "--lease-renew-interval",
                "200ms",
                "--health-poll-interval",
                "50ms",
                "--webhook-secret-file",
                path(&secret_file),
            ];
            if i == 0 {
                args.extend(["--config", path(&product.config)]);
            }
            let mut server = Server::start_in(&product.dir.path().join(name), &args);
            server.token_file = Some(token_file.clone());
            servers.push(Some(server));
        }
        let token = servers[0].as_ref().unwrap().admin_token();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = rt.block_on(PgStore::open_with(url, false)).unwrap();
        Replicas { servers, names: names.iter().map(|n| (*n).to_owned()).collect(), token, store, rt }
    }

    fn server(&self, i: usize) -> &Server {
        self.servers[i].as_ref().expect("a replica still running")
    }

    /// Starts a release of the shop's standard flow through replica `i`; returns its id.
    fn promote(&self, i: usize) -> String {
        let r = self.server(i).ferry_as(&self.token, &["promote", "shop", "--flow", "standard", "-o", "json"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Whether the replica named `name` still runs.
    fn alive(&self, name: &str) -> bool {
        self.names.iter().position(|n| n == name).is_some_and(|i| self.servers[i].is_some())
    }

    /// Kills replica `i` with SIGKILL.
    fn kill(&mut self, i: usize) {
        let mut server = self.servers[i].take().expect("a replica still running");
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }

    /// The event types of a release, in order.
    fn event_types(&self, id: &str) -> Vec<Value> {
        let events = self.rt.block_on(self.store.release_events(&id.parse().unwrap())).unwrap();
        events.into_iter().map(|e| e.body).collect()
    }

    /// The lease owner of a release.
    fn owner(&self, id: &str) -> Option<String> {
        self.rt.block_on(self.store.lease(id)).unwrap().and_then(|l| l.owner)
    }

    /// Release id → status of the shop's releases.
    fn statuses(&self) -> BTreeMap<String, String> {
        let filter = ReleaseFilter { product: Some("shop".into()), limit: 100, ..ReleaseFilter::default() };
        let page = self.rt.block_on(self.store.list_releases(filter)).unwrap();
        page.items.into_iter().map(|r| (r.id, r.status)).collect()
    }

    /// Waits until every release in `ids` ended; returns their statuses.
    fn wait_finished(&self, ids: &[String]) -> BTreeMap<String, String> {
        wait_for("every release to end", || {
            let statuses = self.statuses();
            let done = ids.iter().all(|id| {
                statuses.get(id).is_some_and(|s| ["Succeeded", "Failed", "Terminated"].contains(&s.as_str()))
            });
            done.then_some(statuses)
        })
    }

    /// Checks from the event log that no release was ever driven by two replicas at once: every
    /// event carries its writer's lease epoch, and epochs never go back; and that no event is
    /// missing (numbers follow each other). Returns the epochs seen.
    fn assert_fenced(&self, id: &str) -> Vec<i64> {
        let epochs = self.rt.block_on(self.store.event_epochs(id)).unwrap();
        let seqs: Vec<i64> = epochs.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (0..seqs.len() as i64).collect::<Vec<_>>(), "events of {id} are missing");
        let epochs: Vec<i64> =
            epochs.iter().map(|(seq, e)| e.unwrap_or_else(|| panic!("event {seq} of {id} has no epoch"))).collect();
        assert!(epochs.windows(2).all(|w| w[0] <= w[1]), "epochs of {id} go back: {epochs:?}");
        epochs
    }
}

/// Polls `check` until it answers, failing the test after [`DEADLINE`].
fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_showing(what, String::new, check)
}

/// [`wait_for`], showing what `describe` says at the deadline.
fn wait_showing<T>(what: &str, describe: impl Fn() -> String, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(start.elapsed() < DEADLINE, "waited {DEADLINE:?} for {what}; {}", describe());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Follows `GET /api/v1/events?{filter}` on `url` (with `headers`) until `until` holds for the events
/// received, the stream ends (its server was killed) or the deadline passes; returns the events.
/// `opened` is called once the stream is open.
fn follow(
    url: &str,
    token: &str,
    filter: &str,
    headers: &[(&str, String)],
    opened: impl FnOnce(),
    until: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut request = reqwest::Client::new().get(format!("{url}/api/v1/events?{filter}")).bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut resp = request.send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        opened();
        let mut events: Vec<Value> = Vec::new();
        let mut buffer = String::new();
        let read = async {
            while let Ok(Some(chunk)) = resp.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    for line in block.lines() {
                        if let Some(data) = line.strip_prefix("data:") {
                            events.push(serde_json::from_str(data.trim()).unwrap());
                        }
                    }
                    if until(&events) {
                        return;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(DEADLINE, read).await;
        events
    })
}

/// Whether `count` releases have finished among the streamed events.
fn finished(events: &[Value], count: usize) -> bool {
    events.iter().filter(|e| e["body"]["type"] == "Finished").count() >= count
}

/// A pre-action step that waits until the file `gate` exists.
fn gated(gate: &Path) -> String {
    format!("{}; echo gate passed", super::wait_for_file(gate))
}

fn has_event(events: &[Value], kind: &str, step: Option<&str>) -> bool {
    events.iter().any(|e| e["type"] == kind && step.is_none_or(|s| e["step"] == s))
}

/// Promotion commits on main as (release, environment), one entry per commit.
fn promotion_commits(bare: &Path) -> Vec<(String, String)> {
    let format = "--format=%(trailers:key=Ferry-Release,valueonly,separator=) %(trailers:key=Ferry-Environment,valueonly,separator=)";
    let log = git(bare, &["log", format, "main"]);
    log.lines()
        .filter_map(|l| l.trim().split_once(' '))
        .map(|(r, e)| (r.to_owned(), e.to_owned()))
        .filter(|(r, _)| !r.is_empty())
        .collect()
}

#[test]
fn releases_survive_a_replica_killed_mid_workflow() {
    let Some(db) = Database::create() else { return };
    let gates = tempfile::tempdir().unwrap();
    let gate = gates.path().join("open");
    let product = Product::new(&gated(&gate));
    let mut replicas = Replicas::start(&db, &product, &["a", "b", "c"]);
    // A live event stream on each replica, open before anything happens.
    let streams: Vec<_> = (0..3)
        .map(|i| {
            let (url, token) = (replicas.server(i).url.clone(), replicas.token.clone());
            let opened = std::sync::mpsc::channel();
            let stream = std::thread::spawn(move || {
                let open = move || {
                    let _ = opened.0.send(());
                };
                follow(&url, &token, "product=shop", &[], open, |events| finished(events, 3))
            });
            opened.1.recv().unwrap();
            stream
        })
        .collect();
    // One release through each replica; each is owned by the replica that created it.
    let ids: Vec<String> = (0..3).map(|i| replicas.promote(i)).collect();
    for (id, name) in ids.iter().zip(&replicas.names) {
        let owner = replicas.owner(id);
        assert!(owner.as_deref() == Some(name.as_str()) || owner.is_none(), "{id} is owned by {owner:?}");
    }
    // The owner of a release waiting at its gate is killed, and then the replica that took it over:
    // each time another replica takes the release over once the lease expires, records the gate step
    // as lost and runs it again, where it waits at the gate again.
    let mut victim: Option<String> = None;
    for round in 1..=2 {
        let (id, owner) = wait_for("a gate step to run on a live replica", || {
            ids.iter().filter(|id| victim.as_ref().is_none_or(|v| v == *id)).find_map(|id| {
                let events = replicas.event_types(id);
                let owner = replicas.owner(id).filter(|o| replicas.alive(o))?;
                let since_lost = events.iter().rposition(|e| e["type"] == "StepLost").map_or(0, |i| i + 1);
                has_event(&events[since_lost..], "StepStarted", Some("gate")).then(|| (id.clone(), owner))
            })
        });
        victim = Some(id.clone());
        let killed = replicas.names.iter().position(|n| *n == owner).unwrap();
        replicas.kill(killed);
        let next = wait_for("the release to be taken over", || replicas.owner(&id).filter(|o| replicas.alive(o)));
        assert_ne!(next, owner);
        let describe = || {
            let types: Vec<String> =
                replicas.event_types(&id).iter().map(|e| format!("{} {}", e["type"], e["step"])).collect();
            format!("round {round}, owner {:?}: {types:?}", replicas.owner(&id))
        };
        wait_showing("the lost step to be recorded", describe, || {
            let events = replicas.event_types(&id);
            (events.iter().filter(|e| e["type"] == "StepLost" && e["step"] == "gate").count() >= round).then_some(())
        });
    }
    let victim = victim.unwrap();
    std::fs::write(&gate, "").unwrap();
    let statuses = replicas.wait_finished(&ids);
    for id in &ids {
        assert_eq!(statuses[id], "Succeeded", "{id}: {:?}", replicas.event_types(id));
        replicas.assert_fenced(id);
    }
    // Queue mode across replicas: the three releases, created at once on three replicas, ran one
    // after another in the order they were created.
    let spans: Vec<(jiff::Timestamp, jiff::Timestamp)> = ids
        .iter()
        .map(|id| {
            let events = replicas.event_types(id);
            let at = |kind: &str| {
                let e = events.iter().find(|e| e["type"] == kind).unwrap_or_else(|| panic!("{id} has no {kind}"));
                e["at"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap()
            };
            (at("Started"), at("Finished"))
        })
        .collect();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "a release started before the one created before it finished: {spans:?}");
    }
    let epochs = replicas.assert_fenced(&victim);
    eprintln!("epochs of the release taken over twice: {epochs:?}");
    let mut distinct = epochs.clone();
    distinct.dedup();
    assert!(distinct.len() >= 3, "three owners drove the victim one after another: {epochs:?}");
    // The gate step ran again from its start on each new owner, and passed on the last one.
    let events = replicas.event_types(&victim);
    let lost_at = events.iter().rposition(|e| e["type"] == "StepLost").unwrap();
    assert!(has_event(&events[lost_at..], "StepStarted", Some("gate")), "the gate step started again");
    assert!(has_event(&events[lost_at..], "StepFinished", Some("gate")), "the gate step passed");
    // A client of the surviving replica saw every event of every release live, once and in order,
    // whichever replica wrote it; one that resumes there with Last-Event-ID gets the rest.
    let stored: Vec<i64> = replicas
        .rt
        .block_on(replicas.store.release_events(&victim.parse().unwrap()))
        .unwrap()
        .iter()
        .map(|e| e.gid)
        .collect();
    let survivor = replicas.servers.iter().position(Option::is_some).unwrap();
    for (i, stream) in streams.into_iter().enumerate() {
        let events = stream.join().unwrap();
        if i != survivor {
            continue;
        }
        let seen: Vec<i64> =
            events.iter().filter(|e| e["releaseId"] == victim.as_str()).map(|e| e["gid"].as_i64().unwrap()).collect();
        assert_eq!(seen, stored, "the live stream on the survivor carries the whole log");
    }
    let server = replicas.server(survivor);
    let resumed = follow(
        &server.url,
        &replicas.token,
        &format!("release={victim}"),
        &[("Last-Event-ID", stored[4].to_string())],
        || {},
        |events| finished(events, 1),
    );
    let resumed: Vec<i64> = resumed.iter().map(|e| e["gid"].as_i64().unwrap()).collect();
    assert_eq!(resumed, stored[5..]);
    // No promotion commit twice: at most one per release and environment.
    let commits = promotion_commits(&product.bare);
    let mut seen = std::collections::BTreeSet::new();
    for commit in &commits {
        assert!(seen.insert(commit.clone()), "promotion commit {commit:?} duplicated in {commits:?}");
    }
    for env in ["qa", "staging", "prod"] {
        assert!(commits.iter().any(|(_, e)| e == env), "{env} was promoted: {commits:?}");
    }
}

#[test]
fn a_control_request_to_another_replica_reaches_the_owner() {
    let Some(db) = Database::create() else { return };
    let gates = tempfile::tempdir().unwrap();
    let product = Product::new(&gated(&gates.path().join("never")));
    let replicas = Replicas::start(&db, &product, &["a", "b"]);
    let id = replicas.promote(0);
    wait_for("the gate step to run", || {
        has_event(&replicas.event_types(&id), "StepStarted", Some("gate")).then_some(())
    });
    assert_eq!(replicas.owner(&id).as_deref(), Some("a"));
    // Asked through b, carried out by a.
    let r = replicas.server(1).ferry_as(&replicas.token, &["release", "terminate", &id, "--reason", "wrong build"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let statuses = replicas.wait_finished(std::slice::from_ref(&id));
    assert_eq!(statuses[&id], "Terminated");
    let events = replicas.event_types(&id);
    assert!(events.iter().any(|e| e["type"] == "TerminateRequested" && e["reason"] == "wrong build"), "{events:?}");
    let epochs = replicas.assert_fenced(&id);
    assert_eq!(epochs.first(), epochs.last(), "one owner drove the release throughout");
    // Answers from the owner come back through the asking replica: a conflict stays a conflict.
    let again = replicas.server(1).ferry_as(&replicas.token, &["release", "terminate", &id, "--reason", "again"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("Terminated"), "{}", again.stderr);
}

#[test]
fn one_push_seen_by_two_replicas_starts_one_release() {
    let Some(db) = Database::create() else { return };
    let product = Product::new("true");
    let replicas = Replicas::start(&db, &product, &["a", "b"]);
    std::fs::write(product.work.join("apps/api/dev/values.yaml"), values("2.1.0", "dev")).unwrap();
    git(&product.work, &["commit", "-qam", "feat: faster search"]);
    git(&product.work, &["push", "-q", "origin", "main"]);
    let sha = git(&product.work, &["rev-parse", "HEAD"]);
    let payload = serde_json::json!({"repoURL": product.url(), "branch": "main", "after": sha});
    // The webhook reaches both replicas at the same moment.
    std::thread::scope(|scope| {
        for i in 0..2 {
            let server = replicas.server(i);
            let body = payload.to_string();
            let secret = ferry_server::WebhookSecret::new(WEBHOOK_SECRET).unwrap();
            let signature = ferry_server::auth::signature::sign(&secret, body.as_bytes());
            scope.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let resp = reqwest::Client::new()
                        .post(format!("{}/api/v1/hooks/git", server.url))
                        .header("X-Hub-Signature-256", signature)
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert!(resp.status().is_success(), "{}", resp.status());
                });
            });
        }
    });
    let id = wait_for("a release of the commit", || replicas.statuses().into_keys().next());
    replicas.wait_finished(std::slice::from_ref(&id));
    let statuses = replicas.statuses();
    assert_eq!(statuses.len(), 1, "one release: {statuses:?}");
    let view = super::e2e_postgres::get(replicas.server(1), &replicas.token, &format!("/api/v1/releases/{id}"));
    assert_eq!(view["trigger"]["sha"], sha.as_str());
}

#[test]
fn a_status_report_sent_to_another_replica_reaches_the_waiting_release() {
    let Some(db) = Database::create() else { return };
    let product = Product::new("true");
    // shop-api-qa takes status reports from an agent.
    let file = product.config.join("shop.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let anchor = "path: apps/api/qa, targetRevision: main }\n";
    assert!(yaml.contains(anchor));
    std::fs::write(&file, yaml.replace(anchor, &format!("{anchor}  status: {{ push: {{}} }}\n"))).unwrap();
    let replicas = Replicas::start(&db, &product, &["a", "b"]);
    let id = replicas.promote(0);
    // The release waits for the report on a, where it runs.
    let commit = wait_for("the promotion to qa", || {
        replicas.event_types(&id).into_iter().find_map(|e| {
            (e["type"] == "ActionCommitted" && e["env"] == "qa").then(|| e["commit"].as_str().unwrap().to_owned())
        })
    });
    assert_eq!(replicas.owner(&id).as_deref(), Some("a"));
    let report = serde_json::json!({"sync": "Synced", "health": "Healthy", "revision": commit});
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/apps/shop-api-qa/status", replicas.server(1).url))
            .bearer_auth(&replicas.token)
            .json(&report)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    });
    let statuses = replicas.wait_finished(std::slice::from_ref(&id));
    assert_eq!(statuses[&id], "Succeeded", "{:?}", replicas.event_types(&id));
    let passed = replicas.event_types(&id);
    assert!(passed.iter().any(|e| e["type"] == "AppGatePassed" && e["app"] == "shop-api-qa"), "{passed:?}");
}

#[test]
fn a_paused_owner_never_writes_for_a_release_taken_over_meanwhile() {
    let Some(db) = Database::create() else { return };
    let gates = tempfile::tempdir().unwrap();
    let gate = gates.path().join("open");
    let product = Product::new(&gated(&gate));
    let replicas = Replicas::start(&db, &product, &["a", "b"]);
    let id = replicas.promote(0);
    wait_for("the gate step to run on a", || {
        has_event(&replicas.event_types(&id), "StepStarted", Some("gate")).then_some(())
    });
    assert_eq!(replicas.owner(&id).as_deref(), Some("a"));
    // a stops answering (a long pause, as under a stalled machine): b takes the release over.
    let pid = replicas.server(0).child.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill").args([name, &pid]).status().unwrap();
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    wait_for("b to take the release over", || (replicas.owner(&id).as_deref() == Some("b")).then_some(()));
    wait_for("the lost step to be recorded", || {
        has_event(&replicas.event_types(&id), "StepLost", Some("gate")).then_some(())
    });
    // a resumes, with the gate step it started still running: its own process finishes now too, and
    // a must not record anything for the release any more.
    signal("-CONT");
    std::fs::write(&gate, "").unwrap();
    let statuses = replicas.wait_finished(std::slice::from_ref(&id));
    assert_eq!(statuses[&id], "Succeeded", "{:?}", replicas.event_types(&id));
    let epochs = replicas.assert_fenced(&id);
    assert_eq!(epochs.first(), Some(&1));
    let taken = epochs.iter().position(|e| *e > 1).unwrap();
    assert!(epochs[taken..].iter().all(|e| *e == epochs[taken]), "only b wrote after the takeover: {epochs:?}");
    // a still serves, and what it serves of the release is b's.
    let view = super::e2e_postgres::get(replicas.server(0), &replicas.token, &format!("/api/v1/releases/{id}"));
    assert_eq!(view["status"], "Succeeded");
}

#[test]
fn a_replica_is_not_ready_while_its_database_is_unreachable() {
    let Some(db) = Database::create() else { return };
    let product = Product::new("true");
    let replicas = Replicas::start(&db, &product, &["a"]);
    let readyz = || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let resp = reqwest::get(format!("{}/readyz", replicas.server(0).url)).await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
    };
    assert_eq!(readyz().0, 200);
    // The database goes away under the running replica (its sessions are ended too).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(ferry_store::test_support::drop_database(&db.server, &db.name)).unwrap();
    let (status, body) = readyz();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the store is not reachable"), "{body}");
    // Liveness is not readiness: the process still answers.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let health =
        rt.block_on(async { reqwest::get(format!("{}/healthz", replicas.server(0).url)).await.unwrap().status() });
    assert_eq!(health.as_u16(), 200);
}

#[test]
fn a_configuration_applied_through_one_replica_is_used_by_the_others() {
    let Some(db) = Database::create() else { return };
    let product = Product::new("true");
    let replicas = Replicas::start(&db, &product, &["a", "b"]);
    let extra = product.dir.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::copy(product.config.join("shop.yaml"), extra.join("shop.yaml")).unwrap();
    std::fs::write(
        extra.join("perf.yaml"),
        "apiVersion: ferry/v1\nkind: Environment\nmetadata: { name: perf }\nspec: { type: non-production }\n",
    )
    .unwrap();
    let applied = replicas.server(1).ferry_as(&replicas.token, &["apply", "-f", path(&extra)]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    // a picks the new version up at its next lease round.
    wait_for("a to use the configuration b applied", || {
        let r = replicas.server(0).ferry_as(&replicas.token, &["get", "environments", "-o", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let names: Vec<String> =
            r.json()["items"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect();
        names.contains(&"perf".to_owned()).then_some(())
    });
}

/// `GET /readyz` of `server`: status and body.
fn readyz(server: &Server) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let resp = reqwest::get(format!("{}/readyz", server.url)).await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

#[test]
fn releases_continue_after_postgresql_restarts_mid_release() {
    // A server of the test's own, since it is stopped and started (the tests' shared one never is).
    if ferry_store::test_support::postgres_server().is_none() {
        return;
    }
    let cluster = super::pg_cluster::Cluster::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = rt.block_on(ferry_store::test_support::create_database(&cluster.url(), "ferry_restart")).unwrap();
    let gates = tempfile::tempdir().unwrap();
    let (gate, passed) = (gates.path().join("open"), gates.path().join("passed"));
    let product = Product::new(&format!("{} && echo x >> '{}'", gated(&gate), passed.display()));
    // Leases outlast the restart: the replica keeps its release throughout.
    let mut replicas = Replicas::start_on(&url, &product, &["a"], "60s");
    let server = replicas.server(0);
    let id = replicas.promote(0);
    wait_for("the gate steps of qa and staging to run", || {
        let events = replicas.event_types(&id);
        (events.iter().filter(|e| e["type"] == "StepStarted" && e["step"] == "gate").count() == 4).then_some(())
    });
    assert_eq!(readyz(server).0, 200);

    cluster.stop();
    wait_for("the replica to report itself not ready", || {
        let (status, body) = readyz(server);
        (status == 503).then_some(body)
    });
    // The gate steps finish while nothing can be recorded: their results wait in the engine, and
    // nothing is acted on (no promotion commit) until they are durable.
    std::fs::write(&gate, "").unwrap();
    let passes = || std::fs::read_to_string(&passed).unwrap_or_default().lines().count();
    wait_for("the gate steps to pass and their results to fail to be recorded", || {
        let log = Server::log_of(&server.data);
        (passes() >= 4 && log.contains("cannot record release events")).then_some(())
    });
    assert_eq!(promotion_commits(&product.bare), [], "nothing promoted while the database was down");
    assert_eq!(passes(), 4, "no gate step ran again while its result waited to be recorded");

    cluster.restart();
    wait_for("the replica to be ready again", || (readyz(server).0 == 200).then_some(()));
    // The test's own connections were ended with the server: it connects again.
    replicas.store = replicas.rt.block_on(PgStore::open_with(&url, false)).unwrap();
    let statuses = replicas.wait_finished(std::slice::from_ref(&id));
    let events = replicas.event_types(&id);
    assert_eq!(statuses[&id], "Succeeded", "{events:?}");
    // Every result was recorded once, in order, by the same owner; no step was lost or run again.
    assert!(!has_event(&events, "StepLost", None), "{events:?}");
    let finished = events.iter().filter(|e| e["type"] == "StepFinished" && e["step"] == "gate").count();
    assert_eq!(finished, 6, "qa, staging and prod, two applications each: {events:?}");
    let epochs = replicas.assert_fenced(&id);
    assert!(epochs.iter().all(|e| *e == 1), "one owner throughout: {epochs:?}");
    let commits = promotion_commits(&product.bare);
    for env in ["qa", "staging", "prod"] {
        assert_eq!(commits.iter().filter(|(_, e)| e == env).count(), 1, "{env} promoted once: {commits:?}");
    }
}

#[test]
fn a_release_created_on_one_replica_supersedes_an_older_one_another_replica_drives() {
    let Some(db) = Database::create() else { return };
    let gates = tempfile::tempdir().unwrap();
    let product = Product::new(&gated(&gates.path().join("never")));
    // The product runs in terminate mode: a new release supersedes older unfinished ones.
    let file = product.config.join("shop.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let anchor = "  promotionFlows: [ { name: standard } ]\n";
    assert!(yaml.contains(anchor), "{yaml}");
    std::fs::write(&file, yaml.replace(anchor, &format!("{anchor}  concurrency: terminate\n"))).unwrap();
    let replicas = Replicas::start(&db, &product, &["a", "b"]);
    let old = replicas.promote(0);
    wait_for("the older release to wait at its gate on a", || {
        has_event(&replicas.event_types(&old), "StepStarted", Some("gate")).then_some(())
    });
    assert_eq!(replicas.owner(&old).as_deref(), Some("a"));
    // Created on b at once, before any lease round of b could have listed the older release.
    let new = replicas.promote(1);
    assert_eq!(replicas.owner(&new).as_deref(), Some("b"));
    let statuses = replicas.wait_finished(std::slice::from_ref(&old));
    let events = replicas.event_types(&old);
    assert_eq!(statuses[&old], "Terminated", "{events:?}");
    let reason = format!("superseded by release {new}");
    assert!(events.iter().any(|e| e["type"] == "TerminateRequested" && e["reason"] == reason.as_str()), "{events:?}");
    let epochs = replicas.assert_fenced(&old);
    assert_eq!(epochs.first(), epochs.last(), "the owner carried the termination out: {epochs:?}");
    // The new release goes on.
    wait_for("the new release to reach its gate", || {
        has_event(&replicas.event_types(&new), "StepStarted", Some("gate")).then_some(())
    });
    assert_eq!(replicas.statuses()[&new], "Running");
}

#[test]
fn queued_releases_created_on_two_replicas_run_one_at_a_time_in_creation_order() {
    let Some(db) = Database::create() else { return };
    let gates = tempfile::tempdir().unwrap();
    let open = gates.path().join("open");
    let product = Product::new(&gated(&open));
    let replicas = Replicas::start(&db, &product, &["a", "b"]);
    // The first release waits at its gate; five more queue behind it, created on both replicas (a's
    // next two start in the writes where their predecessors end).
    let ids: Vec<String> = [0, 0, 0, 1, 1, 0].into_iter().map(|i| replicas.promote(i)).collect();
    wait_for("the first release to wait at its gate", || {
        has_event(&replicas.event_types(&ids[0]), "StepStarted", Some("gate")).then_some(())
    });
    assert!(ids[1..].iter().all(|id| replicas.statuses()[id] == "Queued"), "{:?}", replicas.statuses());
    // Open the gate: each release that ends hands the product's turn on in the write that ends it,
    // to the oldest queued release whichever replica created it.
    std::fs::write(&open, "").unwrap();
    let statuses = replicas.wait_finished(&ids);
    assert!(ids.iter().all(|id| statuses[id] == "Succeeded"), "{statuses:?}");
    let spans: Vec<(i64, i64)> = ids
        .iter()
        .map(|id| {
            let events = replicas.rt.block_on(replicas.store.release_events(&id.parse().unwrap())).unwrap();
            let gid = |kind: &str| events.iter().find(|e| e.body["type"] == kind).map(|e| e.gid).unwrap();
            (gid("Started"), gid("Finished"))
        })
        .collect();
    for (i, pair) in spans.windows(2).enumerate() {
        assert!(pair[0].1 < pair[1].0, "release {} started before release {} ended: {spans:?}", i + 1, i);
    }
    for id in &ids {
        replicas.assert_fenced(id);
    }
}
