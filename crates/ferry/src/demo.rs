//! `ferry demo`: a self-contained tour. Creates local git repositories with a sample product, starts
//! the server on 127.0.0.1, applies the product's configuration and runs two releases: one that
//! succeeds through parallel environments and joins, and one whose post-action step fails. Keeps
//! serving until Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use ferry_argocd::standin::{ArgoCdStandIn, Revisions, StandInApp};
use ferry_engine::{EngineConfig, EngineHandle, GitPush, PromoteRequest};
use ferry_model::{FlowName, ProductName, ReleaseId};
use ferry_server::ServerSettings;
use ferry_store::{SqliteStore, Store};

use crate::style;

const COMPONENTS: [(&str, &str); 3] = [("api", "REST API"), ("web", "storefront"), ("worker", "order worker")];
const ENVIRONMENTS: [(&str, &str); 5] = [
    ("dev", "non-production"),
    ("qa", "non-production"),
    ("staging", "non-production"),
    ("prod-eu", "production"),
    ("prod-us", "production"),
];
const AUTHOR: (&str, &str) = ("Dana Developer", "dana@example.com");

fn values(component: &str, env: &str, tag: &str) -> String {
    format!(
        "# {component} in {env}: values read by the deploy script\nreplicaCount: {replicas}   # scaled per environment\nimage:\n  repository: registry.example.com/shop/{component}\n  tag: \"{tag}\"\nresources:\n  limits: {{ cpu: 500m, memory: 256Mi }}\n",
        replicas = if env.starts_with("prod") { 3 } else { 1 }
    )
}

fn chart(component: &str, version: &str) -> String {
    format!("apiVersion: v2\nname: shop-{component}\nversion: 0.1.0\nappVersion: \"{version}\"\n")
}

/// Single-quotes a path for a shell command.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The variable the demo's Argo CD token is looked up by (never set in the environment: the demo hands
/// it to the status provider itself).
const ARGOCD_TOKEN_VARIABLE: &str = "FERRY_DEMO_ARGOCD_TOKEN";

/// Sync delay of the demo's Argo CD stand-in.
const ARGOCD_DELAY: Duration = Duration::from_secs(1);

/// The `status` block of an application: exec commands, or the Argo CD stand-in at `argocd` for the
/// target environments.
fn status_block(component: &str, env: &str, deployed: &Path, argocd: Option<&str>) -> String {
    if let Some(server) = argocd.filter(|_| env != "dev") {
        return format!(
            "    argocd: {{ server: \"{server}\", application: shop-{component}-{env}, tokenSecret: {ARGOCD_TOKEN_VARIABLE}, healthTimeout: 1m }}\n"
        );
    }
    let target = deployed.join(env).join(format!("shop-{component}-{env}.yaml"));
    let dir = sh_quote(&deployed.join(env));
    let file = sh_quote(&target);
    format!(
        "    exec:\n      sync: mkdir -p {dir} && cp values.yaml {file}\n      health: grep -q 'tag:' {file}\n      healthTimeout: 1m\n"
    )
}

fn configuration(repo_url: &str, deployed: &Path, argocd: Option<&str>) -> String {
    let mut out = String::new();
    for (i, (env, ty)) in ENVIRONMENTS.iter().enumerate() {
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty}, order: {} }}\n---\n",
            (i + 1) * 10
        ));
    }
    for (component, _) in COMPONENTS {
        for (env, _) in ENVIRONMENTS {
            let status = status_block(component, env, deployed, argocd);
            out.push_str(&format!(
                r#"apiVersion: ferry/v1
kind: Application
metadata: {{ name: shop-{component}-{env} }}
spec:
  product: shop
  environment: {env}
  component: {component}
  source: {{ repoURL: "{repo_url}", path: apps/{component}/{env}, targetRevision: main }}
  status:
{status}---
"#
            ));
        }
    }
    out.push_str(
        r#"apiVersion: ferry/v1
kind: Product
metadata: { name: shop, labels: { team: payments } }
spec:
  promotionTemplateRef: helm-images
  promotionFlows: [ { name: standard } ]
---
apiVersion: ferry/v1
kind: PromotionTemplate
metadata: { name: helm-images }
spec:
  applicationSourceSelector: { matchLabels: { ferry/product: shop } }
  versionSource: { file: Chart.yaml, jsonPath: $.appVersion }
  promotion:
    values.yaml: { jsonPaths: ["$.image.tag"] }
    Chart.yaml: { jsonPaths: [$.appVersion] }
---
apiVersion: ferry/v1
kind: PromotionFlow
metadata:
  name: standard
  annotations: { description: "dev, then qa and staging in parallel, then both production regions", version: "3.0" }
spec:
  triggerEnvironment: dev
  steps:
    - { environment: qa, dependsOn: [dev], policy: { postAction: qa-checks } }
    - { environment: staging, dependsOn: [dev], policy: { postAction: e2e } }
    - { environment: prod-eu, dependsOn: [qa, staging] }
    - { environment: prod-us, dependsOn: [qa, staging] }
---
apiVersion: ferry/v1
kind: PromotionPolicy
metadata: { name: production-guard }
spec:
  priority: 10
  selector: { targetEnvironment: { types: [PROD] } }
  policy: { preAction: change-freeze-check, postAction: smoke }
---
apiVersion: ferry/v1
kind: PromotionPolicy
metadata: { name: baseline }
spec:
  priority: 100
  policy: { action: commit, postAction: smoke }
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: smoke }
spec:
  steps:
    - name: smoke-tests
      run: |
        echo "smoke tests of $APP_NAME $VERSION in $ENVIRONMENT"
        echo "commit $COMMIT_SHA"
        echo "all 12 checks passed"
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: qa-checks }
spec:
  steps:
    - name: api-contract
      run: echo "contract tests of $APP_NAME $VERSION passed"
    - name: checkout-flow
      run: |
        echo "running the checkout journey against $APP_NAME $VERSION"
        case "$VERSION" in
          *-broken) echo "POST /cart/checkout returned HTTP 500" >&2; exit 1;;
        esac
        echo "checkout journey passed"
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: e2e }
spec:
  params: [ { name: SUITE, default: checkout } ]
  steps:
    - name: wait-ready
      run: echo "waiting for $APP_NAME"; sleep 1; echo ready
    - name: browser-tests
      dependsOn: [wait-ready]
      run: |
        echo "suite $SUITE against $APP_NAME $VERSION"
        echo "REPORT_URL=https://ci.example.com/reports/$RELEASE_ID" >> "$FERRY_OUTPUT"
    - name: api-tests
      dependsOn: [wait-ready]
      run: echo "api suite against $APP_NAME passed"
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: change-freeze-check }
spec:
  steps:
    - name: calendar
      run: echo "no change freeze for $ENVIRONMENT today"
"#,
    );
    out
}

/// Options of the demo.
pub struct DemoOptions {
    /// Address to serve on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Exit once both releases finished (0 when they ended as expected) instead of serving until Ctrl-C.
    pub exit_when_done: bool,
    /// Target environments' applications report through an Argo CD stand-in.
    pub argocd: bool,
}

/// Runs the demo.
pub fn run(options: DemoOptions) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(demo(options))
}

async fn demo(options: DemoOptions) -> anyhow::Result<ExitCode> {
    let root = tempfile::Builder::new().prefix("ferry-demo-").tempdir().context("creating a temporary directory")?;
    let dir = root.path().to_path_buf();
    println!("ferry demo: working in {}", dir.display());

    // 1. A GitOps repository with the sample product.
    let bare = dir.join("gitops.git");
    ferry_git::init_bare(&bare, "main")?;
    let repo_url = format!("file://{}", bare.display());
    let mut files = Vec::new();
    for (component, _) in COMPONENTS {
        for (env, _) in ENVIRONMENTS {
            let version = if env == "dev" { "1.4.2" } else { "1.3.0" };
            files.push((format!("apps/{component}/{env}/values.yaml"), values(component, env, version)));
            files.push((format!("apps/{component}/{env}/Chart.yaml"), chart(component, version)));
        }
    }
    let refs: Vec<(&str, Option<&[u8]>)> = files.iter().map(|(p, t)| (p.as_str(), Some(t.as_bytes()))).collect();
    ferry_git::commit_files(&repo_url, "main", &refs, "shop 1.4.2 in dev, 1.3.0 everywhere else", AUTHOR)?;
    println!("{}", style::ok(&format!("created the GitOps repository {repo_url}")));

    // 2. The server.
    let store = SqliteStore::open(&dir.join("ferry.db")).await?;
    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?,
    };
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let mut config = EngineConfig::new(dir.join("data"), base.clone());
    config.health_poll_interval = Duration::from_millis(200);
    let mut ports = ferry_engine::ports::Ports::default_for(&config, &store)?;
    let argocd = if options.argocd {
        let (standin, token) = argocd_standin(&dir, &repo_url).await?;
        let tokens: ferry_engine::ports::TokenLookup =
            Arc::new(move |name: &str| (name == ARGOCD_TOKEN_VARIABLE).then(|| token.clone()));
        let provider = ferry_engine::ports::ArgoCdStatusProvider::new(ports.git.clone(), None, tokens);
        ports.status.argocd = Some(Arc::new(provider));
        println!(
            "{}",
            style::ok(&format!(
                "Argo CD stand-in at {} deploys the target environments from the repository ({} s sync)",
                standin.url(),
                ARGOCD_DELAY.as_secs()
            ))
        );
        Some(standin)
    } else {
        None
    };
    let (engine, _engine_task) = ferry_engine::start_with(store.clone(), config, ports).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ferry_server::serve_with_shutdown(
        listener,
        store.clone(),
        engine.clone(),
        ServerSettings { default_actor: "demo".into(), ..ServerSettings::default() },
        async move {
            let _ = stop_rx.await;
        },
    ));
    println!("{}", style::ok(&format!("ferry server listening on {base}")));

    // 3. Configuration.
    let text = configuration(&repo_url, &dir.join("deployed"), argocd.as_ref().map(ArgoCdStandIn::url));
    let loaded = ferry_config::load_sources(&[ferry_config::Source { name: "demo.yaml".into(), text }])
        .map_err(|d| anyhow::anyhow!("the demo configuration is invalid: {}", d[0]))?;
    engine.apply_config(loaded.catalog, "demo".into()).await?;
    println!(
        "{}",
        style::ok(
            "applied the shop product: 5 environments, 3 components, flow dev → {qa, staging} → {prod-eu, prod-us}"
        )
    );

    // 4. Release 1: a manual promotion that succeeds.
    let first = promote(&engine).await?;
    println!("{}", style::ok(&format!("release {first} started (manual promotion of shop 1.4.2)")));

    // 5. Release 2: a new commit in dev, picked up automatically; its qa checks fail.
    let files = [
        ("apps/api/dev/values.yaml", values("api", "dev", "1.5.0-broken")),
        ("apps/api/dev/Chart.yaml", chart("api", "1.5.0-broken")),
    ];
    let refs: Vec<(&str, Option<&[u8]>)> = files.iter().map(|(p, t)| (*p, Some(t.as_bytes()))).collect();
    let mut events = store.subscribe();
    ferry_git::commit_files(&repo_url, "main", &refs, "feat(api): one-click checkout (SHOP-142)", AUTHOR)?;
    engine.git_push(GitPush { repo_urls: vec![repo_url.clone()], branch: "main".into(), after: String::new() }).await?;
    let second = loop {
        let event = events.recv().await.context("waiting for the automatic release")?;
        if event.body["type"] == "Created" {
            break ReleaseId::from_str(&event.release_id)
                .with_context(|| format!("the store named release {:?}", event.release_id))?;
        }
        if event.body["type"] == "ProductEvent" && event.body["kind"] != "waiting-for-trigger-environment" {
            bail!("the automatic trigger did not create a release: {}", event.body["message"]);
        }
    };
    println!(
        "{}",
        style::ok(&format!("release {second} created automatically from a new commit in dev (shop 1.5.0-broken)"))
    );

    println!();
    println!("Watch them:");
    println!("  {base}/api/v1/releases?product=shop");
    println!("  {base}/api/v1/releases/{first}");
    println!("  ferry --server {base} release list shop");
    println!("  ferry --server {base} release watch {first}");
    println!("  ferry --server {base} release show {second}");
    println!("  ferry --server {base} release logs {second} --env qa");
    println!("  ferry --server {base} release notes {second}");
    println!("  {base}/releases/{first}   (web UI)");
    println!();

    let outcome = wait_for(&store, &[first, second]).await?;
    for (id, status) in &outcome {
        println!("release {id}: {status}");
    }
    if let Some(standin) = &argocd {
        let requests = standin.requests();
        let reads = requests.iter().filter(|r| r.starts_with("GET /api/v1/applications/")).count();
        let watches = requests.iter().filter(|r| r.starts_with("GET /api/v1/stream/applications")).count();
        println!("Argo CD stand-in: {reads} application reads and {watches} watch streams from Ferry");
    }
    let expected =
        outcome.first().is_some_and(|(_, s)| s == "Succeeded") && outcome.get(1).is_some_and(|(_, s)| s == "Failed");
    // What the second release brought: its release notes.
    match engine.notes(second, false).await {
        Ok(notes) => {
            println!();
            println!("Release notes of {second}:");
            print!("{}", ferry_notes::render::text(&notes));
        }
        Err(e) => println!("release notes of {second}: {e}"),
    }
    if options.exit_when_done {
        let _ = stop_tx.send(());
        let _ = server.await;
        return Ok(if expected { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::FAILED) });
    }
    println!("Serving until Ctrl-C ({} is removed then).", dir.display());
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(ExitCode::SUCCESS)
}

/// Starts the Argo CD stand-in on the demo's repository (read from a mirror of its own, fetched at most
/// every 200 ms) with one auto-synced application per component and target environment; returns it
/// and the bearer token it requires.
async fn argocd_standin(dir: &Path, repo_url: &str) -> anyhow::Result<(ArgoCdStandIn, String)> {
    let cache = ferry_git::GitCache::new(dir.join("argocd"));
    let url = repo_url.to_owned();
    let fetched = std::sync::Mutex::new(None::<std::time::Instant>);
    let revisions: Revisions = Arc::new(move |branch: &str, paths: &[String]| {
        let mut last = fetched.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= Duration::from_millis(200)) {
            if cache.fetch(&url).is_err() {
                return vec![None; paths.len()];
            }
            *last = Some(std::time::Instant::now());
        }
        paths
            .iter()
            .map(|path| cache.last_commit_touching(&url, branch, path).ok().flatten().map(|c| c.sha.to_string()))
            .collect()
    });
    let apps = COMPONENTS
        .iter()
        .flat_map(|(component, _)| {
            ENVIRONMENTS.iter().filter(|(env, _)| *env != "dev").map(move |(env, _)| StandInApp {
                name: format!("shop-{component}-{env}"),
                path: format!("apps/{component}/{env}"),
                auto_sync: true,
            })
        })
        .collect();
    let token = ferry_server::auth::tokens::generate_secret().context("making the stand-in's token")?;
    let standin = ArgoCdStandIn::start(revisions, "main", apps, Some(&token), ARGOCD_DELAY)
        .await
        .context("starting the Argo CD stand-in")?;
    Ok((standin, token))
}

async fn promote(engine: &EngineHandle) -> anyhow::Result<ReleaseId> {
    let request = PromoteRequest {
        product: ProductName::new("shop")?,
        scope: ferry_engine::PromoteScope::Flow(FlowName::new("standard")?),
    };
    Ok(engine.promote(request, "demo".into()).await?.release)
}

/// Waits until every release is final; returns (id, status) in order.
async fn wait_for(store: &SqliteStore, ids: &[ReleaseId]) -> anyhow::Result<Vec<(ReleaseId, String)>> {
    let mut events = store.subscribe();
    loop {
        let mut done = Vec::new();
        for id in ids {
            let Some(stored) = store.release_view(id).await? else { continue };
            let view: ferry_api::ReleaseView =
                serde_json::from_value(stored).with_context(|| format!("reading the view of release {id}"))?;
            if view.status.is_final() && view.finished_at.is_some() {
                done.push((*id, view.status.as_str().to_owned()));
            }
        }
        if done.len() == ids.len() {
            return Ok(done);
        }
        loop {
            match events.recv().await {
                Ok(e) if ids.iter().any(|id| id.to_string() == e.release_id) => break,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                Err(e) => bail!("the event stream closed: {e}"),
            }
        }
    }
}
