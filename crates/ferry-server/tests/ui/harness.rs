//! The browser-test harness: a product in local bare git repositories, the real engine on a temporary
//! SQLite store, the real server on 127.0.0.1:0, and Debian's Chromium driven through chromedriver.
//!
//! Nothing waits on time: the server side follows committed events, the browser side waits for
//! elements with the driver's own polling (`wait().for_element`), and chromedriver is ready when it
//! says so on its standard output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use ferry_engine::{EngineConfig, EngineHandle, PromoteRequest};
use ferry_server::ServerSettings;
use ferry_store::{SqliteStore, Store};
use ferry_testkit::shop::ShopYaml;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

/// How long the browser waits for something to appear.
pub const UI_WAIT: Duration = Duration::from_secs(60);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DATE: &str = "2026-03-02T09:30:00Z";

fn git(dir: &Path, args: &[&str]) -> String {
    ferry_testkit::Git::alice().at(DATE).run(dir, args)
}

const ENVS: [(&str, &str); 4] =
    [("dev", "non-production"), ("qa", "non-production"), ("staging", "non-production"), ("prod", "production")];
const COMPONENTS: [&str; 2] = ["api", "web"];

fn values(tag: &str, env: &str) -> String {
    format!("# values for {env}\nreplicas: 2\nimage:\n  repository: registry.example.com/shop\n  tag: \"{tag}\"\n")
}

/// A GitOps repository with the shop product's values: dev carries the change to promote.
fn gitops(root: &Path) -> String {
    let bare = root.join("gitops.git");
    let work = root.join("gitops-work");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "-q", "-b", "main"]);
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let write = |tag_dev: &str| {
        for comp in COMPONENTS {
            for (env, _) in ENVS {
                let tag = if env == "dev" { tag_dev } else { "1.0.0" };
                let path = work.join(format!("apps/{comp}/{env}/values.yaml"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, values(tag, env)).unwrap();
            }
        }
    };
    write("1.0.0");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial layout"]);
    write("2.0.0");
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "commit",
            "-q",
            "-m",
            "feat(checkout): one-click checkout (SHOP-142)\n\nAdds a one-click checkout for returning customers.\nThe old flow stays behind a flag for a week.",
        ],
    );
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    git(&work, &["push", "-q", "origin", "main"]);
    format!("file://{}", bare.display())
}

/// The configuration: dev → {qa, staging} → prod, each application checked by an exec health command,
/// with the qa and prod policies and the workflows given by the test (`{S}` = the scratch directory).
fn config(url: &str, qa: &str, prod: &str, workflows: &str, scratch: &Path) -> String {
    let mut shop = ShopYaml::new(url).components(&COMPONENTS).status("exec: { health: \"true\", healthTimeout: 5s }");
    for (env, ty) in ENVS {
        shop = shop.environment(env, ty == "production");
    }
    shop = shop.flow_version("2.1").step("qa", &["dev"], Some(qa)).step("staging", &["dev"], None).step(
        "prod",
        &["qa", "staging"],
        Some(prod),
    );
    if !workflows.trim().is_empty() {
        shop = shop.document(workflows);
    }
    shop.yaml().replace("{S}", &scratch.display().to_string())
}

/// What a test configures.
pub struct Spec<'a> {
    /// Inline policy of the qa step.
    pub qa: &'a str,
    /// Inline policy of the prod step.
    pub prod: &'a str,
    /// Workflow documents.
    pub workflows: &'a str,
}

/// A running Ferry: store, engine and server.
pub struct Ferry {
    pub base: String,
    pub store: SqliteStore,
    pub engine: EngineHandle,
    pub scratch: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    engine_task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Ferry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.engine_task.abort();
    }
}

impl Ferry {
    pub async fn start(spec: Spec<'_>) -> Ferry {
        Ferry::start_with(spec, ServerSettings::default()).await
    }

    /// A Ferry whose server has these settings.
    pub async fn start_with(spec: Spec<'_>, settings: ServerSettings) -> Ferry {
        Ferry::start_config(|url, scratch| config(url, spec.qa, spec.prod, spec.workflows, scratch), settings).await
    }

    /// A Ferry configured by `yaml(gitops URL, scratch directory)`.
    pub async fn start_config(yaml: impl FnOnce(&str, &Path) -> String, settings: ServerSettings) -> Ferry {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let url = gitops(dir.path());
        let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut engine_config = EngineConfig::new(dir.path().join("data"), base.clone());
        engine_config.health_poll_interval = Duration::from_millis(50);
        engine_config.kill_grace = Duration::from_secs(2);
        let (engine, engine_task) = ferry_engine::start(store.clone(), engine_config).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(ferry_server::serve_with_shutdown(
            listener,
            store.clone(),
            engine.clone(),
            settings,
            async move {
                let _ = stopped.await;
            },
        ));
        let yaml = yaml(&url, &scratch);
        let loaded = ferry_config::load_sources(&[ferry_config::Source { name: "shop.yaml".into(), text: yaml }])
            .unwrap_or_else(|d| {
                panic!("invalid test config: {}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
            });
        engine.apply_config(loaded.catalog, "test".into()).await.unwrap();
        Ferry { base, store, engine, scratch, stop: Some(stop), engine_task, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    /// Commits version `tag` of every component to dev (on top of what Ferry pushed) and pushes it.
    pub fn bump_dev(&self, tag: &str) {
        let work = self._dir.path().join("gitops-work");
        git(&work, &["pull", "-q", "--rebase", "origin", "main"]);
        for comp in COMPONENTS {
            std::fs::write(work.join(format!("apps/{comp}/dev/values.yaml")), values(tag, "dev")).unwrap();
        }
        git(&work, &["commit", "-q", "-am", &format!("release {tag}")]);
        git(&work, &["push", "-q", "origin", "main"]);
    }

    /// prod's `values.yaml` of `component` on main.
    pub fn prod_values(&self, component: &str) -> String {
        let bare = self._dir.path().join("gitops.git");
        git(&bare, &["show", &format!("main:apps/{component}/prod/values.yaml")])
    }

    /// Starts a release of the standard flow; returns its id.
    pub async fn promote(&self, actor: &str) -> String {
        let request = PromoteRequest {
            product: "shop".parse().unwrap(),
            scope: ferry_engine::PromoteScope::Flow("standard".parse().unwrap()),
        };
        self.engine.promote(request, actor.into()).await.unwrap().release.to_string()
    }

    /// Starts a release of `product`'s first flow; returns its id.
    pub async fn promote_product(&self, product: &str, actor: &str) -> String {
        let request = PromoteRequest::first_flow(product.parse().unwrap());
        self.engine.promote(request, actor.into()).await.unwrap().release.to_string()
    }

    /// The release view (SPEC §7.4) as the API answers it.
    pub async fn api_view(&self, id: &str) -> Value {
        let response = reqwest::get(self.url(&format!("/api/v1/releases/{id}"))).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    /// Waits, following committed events, until the release's view satisfies `done`.
    pub async fn wait_view(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut events = self.store.subscribe();
        let wait = async {
            loop {
                let view = self.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap_or(Value::Null);
                if done(&view) {
                    return view;
                }
                loop {
                    match events.recv().await {
                        Ok(e) if e.release_id == id => break,
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(e) => panic!("event stream closed: {e}"),
                    }
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(120), wait).await {
            Ok(view) => view,
            Err(_) => panic!(
                "release {id}: {what} never happened; view: {:#}",
                self.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap_or(Value::Null)
            ),
        }
    }

    /// Waits until the release is final (status and finish time recorded).
    pub async fn wait_final(&self, id: &str) -> Value {
        self.wait_view(id, "a final status", |v| {
            matches!(v["status"].as_str(), Some("Succeeded" | "Failed" | "Terminated")) && !v["finishedAt"].is_null()
        })
        .await
    }
}

/// Statuses of the environments of a view, by name.
pub fn env_statuses(view: &Value) -> Vec<(String, String)> {
    view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// A browser session (chromedriver and Chromium are ended by [`with_browser`]).
pub struct Browser {
    pub client: Client,
}

impl Browser {
    /// Starts chromedriver on a free loopback port, waits until it reports that it listens, and opens
    /// a headless Chromium session.
    async fn start() -> (Browser, tokio::process::Child) {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does it)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = driver.stdout.take().unwrap();
        let ready = async {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("started successfully") {
                    // Keep draining its output so chromedriver never blocks on a full pipe.
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                    return;
                }
            }
            panic!("chromedriver exited before it was ready");
        };
        tokio::time::timeout(Duration::from_secs(30), ready).await.expect("chromedriver did not start");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800", "--hide-scrollbars",
                ],
            }),
        );
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"));
        // `--window-size` sizes the window; make the page itself (the viewport) 1280 × 800.
        let (w, h) = client.get_window_size().await.unwrap();
        let inner = client.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.unwrap();
        let (iw, ih) = (inner[0].as_u64().unwrap_or(w), inner[1].as_u64().unwrap_or(h));
        let width = u32::try_from(w + 1280_u64.saturating_sub(iw)).unwrap();
        let height = u32::try_from(h + 800_u64.saturating_sub(ih)).unwrap();
        client.set_window_size(width, height).await.unwrap();
        (Browser { client }, driver)
    }

    /// Waits for an element (the driver polls the DOM), with a message naming what was expected.
    pub async fn wait_for(&self, what: &str, locator: Locator<'_>) -> fantoccini::elements::Element {
        match self.client.wait().at_most(UI_WAIT).for_element(locator).await {
            Ok(element) => element,
            Err(e) => {
                let html = self.client.source().await.unwrap_or_default();
                panic!("the page never showed {what}: {e}\n--- page source ---\n{html}")
            }
        }
    }

    /// Runs a script and returns its JSON result.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Saves a screenshot of the viewport under `target/ui-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// `target/ui-screenshots` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ui-screenshots")
}

/// Runs a test body with a browser and always closes the browser, also when the body panics.
pub async fn with_browser<F, Fut>(body: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures_util::FutureExt;
    let (browser, mut driver) = Browser::start().await;
    let client = browser.client.clone();
    let outcome = std::panic::AssertUnwindSafe(body(browser)).catch_unwind().await;
    // Close the session first (chromedriver ends Chromium), then chromedriver itself.
    let _ = client.close().await;
    let _ = driver.kill().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A wide flow: trigger `w00`, then `fan` environments waiting for it, then `wz` waiting for all of
/// them; product `wide` with one application per environment (exec status without commands) and
/// action `none`.
pub fn wide_config(url: &str, fan: usize) -> String {
    let names: Vec<String> = (0..=fan).map(|i| format!("w{i:02}")).chain(["wz".to_owned()]).collect();
    let mut yaml = String::new();
    for name in &names {
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {name} }}\nspec: {{ type: non-production }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: wide-{name} }}\nspec:\n  product: wide\n  environment: {name}\n  component: api\n  source: {{ repoURL: \"{url}\", path: apps/api/dev, targetRevision: main }}\n---\n"
        ));
    }
    yaml.push_str("apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: wide }\nspec:\n  triggerEnvironment: w00\n  steps:\n");
    for name in &names[1..=fan] {
        yaml.push_str(&format!("    - {{ environment: {name}, dependsOn: [w00], policy: {{ action: none }} }}\n"));
    }
    yaml.push_str(&format!(
        "    - {{ environment: wz, dependsOn: [{}], policy: {{ action: none }} }}\n---\n",
        names[1..=fan].join(", ")
    ));
    yaml.push_str(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: { name: wide }\nspec:\n  promotionFlows: [ { name: wide } ]\n",
    );
    yaml
}
