//! Takeover time (SPEC §9, second wave): three `ferry server` replicas on one PostgreSQL database, with
//! the default lease expiry (15 s) and renewal interval (5 s). A release waits in a step that never
//! ends; its owner is killed with SIGKILL, and the time until another replica has taken it over (its
//! first event at a new lease epoch: the lost step recorded) is one sample. A replica is started in
//! place of each one killed, so three run at every kill.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferry_store::{PgStore, Store};

use crate::rig::gitops_files;
use crate::util::bare_repo;

/// The replicas' lease expiry (`ferry server`'s default).
pub const LEASE_EXPIRY: Duration = Duration::from_secs(15);
/// Replicas running at each kill.
const REPLICAS: usize = 3;
/// Longest a takeover may take before the run gives up (far above the limit measured).
const GIVE_UP: Duration = Duration::from_secs(120);
/// How often the database is read while waiting.
const POLL: Duration = Duration::from_millis(10);

/// The `ferry` binary beside the harness's own (`cargo build --release -p ferry` puts it there).
pub fn ferry_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the harness")?;
    let bin = exe.with_file_name(format!("ferry{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!(
            "no ferry binary at {} (build it first: cargo build --release -p ferry, or without --release for a debug run)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running `ferry server` replica.
struct Replica {
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration: one product whose releases wait in a pre-action step that never ends.
fn config_yaml(url: &str) -> String {
    let mut out = String::new();
    for env in ["dev", "qa"] {
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: non-production }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: held-{env} }}\nspec:\n  product: held\n  \
             environment: {env}\n  component: app\n  source: {{ repoURL: \"{url}\", path: apps/{env}, targetRevision: main }}\n---\n"
        ));
    }
    out.push_str(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: { name: held }\nspec:\n  promotionFlows: [ { name: standard } ]\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: standard }\nspec:\n  triggerEnvironment: dev\n  steps:\n\
         \x20   - { environment: qa, dependsOn: [dev] }\n---\n\
         apiVersion: ferry/v1\nkind: PromotionPolicy\nmetadata: { name: hold }\nspec: { priority: 100, policy: { action: none, preAction: hold } }\n---\n\
         apiVersion: ferry/v1\nkind: Workflow\nmetadata: { name: hold }\nspec:\n  steps:\n    - { name: wait, run: sleep 86400 }\n",
    );
    out
}

/// The replicas, by name.
struct Fleet<'a> {
    bin: &'a Path,
    dir: &'a Path,
    url: &'a str,
    running: BTreeMap<String, Replica>,
    /// Replicas started so far (names are never reused).
    started: usize,
}

impl Fleet<'_> {
    /// Starts one more replica; the first applies the configuration in `config`. Returns its URL.
    fn start(&mut self, config: Option<&Path>) -> Result<String> {
        self.started += 1;
        let name = format!("r{}", self.started);
        let data = self.dir.join(&name);
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        let mut command = Command::new(self.bin);
        command
            .args(["server", "--listen", "127.0.0.1:0", "--database", self.url, "--replica-id", &name, "--data"])
            .arg(&data)
            .env_remove("FERRY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command.spawn().with_context(|| format!("starting {}", self.bin.display()))?;
        let mut first = String::new();
        let stdout = child.stdout.take().context("the replica's output")?;
        BufReader::new(stdout).read_line(&mut first)?;
        let replica = Replica { child };
        let Some(listening) = first.trim().strip_prefix("ferry server listening on ") else {
            bail!("replica {name} did not start: {first:?} (see {}.log)", data.display());
        };
        let listening = listening.to_owned();
        self.running.insert(name, replica);
        Ok(listening)
    }
}

/// Takeover times (s) after `kills` SIGKILLs of the owner of a running release.
pub async fn takeover_times(dir: &Path, url: &str, kills: usize) -> Result<Vec<f64>> {
    let bin = ferry_binary()?;
    let dir = dir.join("takeover");
    std::fs::create_dir_all(&dir)?;
    let (bare, _work) = bare_repo(&dir, "held-gitops", &gitops_files())?;
    let config = dir.join("config");
    std::fs::create_dir_all(&config)?;
    std::fs::write(config.join("held.yaml"), config_yaml(&format!("file://{}", bare.display())))?;
    let mut fleet = Fleet { bin: &bin, dir: &dir, url, running: BTreeMap::new(), started: 0 };
    let first = fleet.start(Some(&config))?;
    for _ in 1..REPLICAS {
        fleet.start(None)?;
    }
    let store = PgStore::open_with(url, false).await?;
    let id = promote(&first).await?;
    // Running: the step that never ends has started on the owner.
    let release = crate::rig::release_id(&id)?;
    wait(&format!("release {id} to reach its waiting step"), || async {
        let events = store.release_events(&release).await?;
        Ok(events.iter().any(|e| e.body["type"] == "StepStarted" && e.body["step"] == "wait").then_some(()))
    })
    .await?;
    let mut times = Vec::with_capacity(kills);
    for _ in 0..kills {
        let lease = store.lease(&id).await?.context("the release has no lease")?;
        let owner = lease.owner.context("nobody owns the release")?;
        let mut victim = fleet.running.remove(&owner).with_context(|| format!("the owner {owner} is not running"))?;
        victim.child.kill()?;
        let killed = Instant::now();
        victim.child.wait()?;
        // Taken over: another replica wrote the release at a later epoch.
        wait("another replica to take the release over", || async {
            let last = store.event_epochs(&id).await?.last().and_then(|(_, e)| *e).unwrap_or(0);
            Ok((last > lease.epoch).then_some(()))
        })
        .await?;
        times.push(killed.elapsed().as_secs_f64());
        fleet.start(None)?;
    }
    Ok(times)
}

/// Starts a release of product `held` through the server at `url`; returns its id.
async fn promote(url: &str) -> Result<String> {
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/v1/products/held/promote"))
        .json(&serde_json::json!({"flow": "standard"}))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    if !status.is_success() {
        bail!("promoting failed ({status}): {body}");
    }
    body["id"].as_str().map(str::to_owned).context("the promotion answered no id")
}

/// Polls `check` every [`POLL`] until it answers, at most [`GIVE_UP`].
async fn wait<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<()>>>,
{
    let start = Instant::now();
    loop {
        if check().await?.is_some() {
            return Ok(());
        }
        if start.elapsed() > GIVE_UP {
            bail!("waited {GIVE_UP:?} for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}
