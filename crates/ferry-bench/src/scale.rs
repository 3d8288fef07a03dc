//! Scenario 8 (scale of one installation): a flow of 1,000 environments — fan-out, joins, depth 10 —
//! run end to end by the real engine; the planner timed on every state of that release; its release
//! page, its product page and its view over HTTP.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferry_engine::plan::{PlanInput, plan};
use ferry_model::release::{ReleaseEvent, ReleaseState};
use ferry_server::ServerSettings;
use ferry_store::Store;

use crate::limits::Limits;
use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::Rig;
use crate::stats::{Stat, ms};
use crate::util::bare_repo;

/// Layers after the trigger environment.
const DEPTH: usize = 10;

/// The environments of the wide flow, by layer: layer 0 is the trigger environment, layer 1 has
/// 9 environments, the other layers share the rest evenly (110 each for 1,000 environments).
pub fn layers(total: usize) -> Vec<Vec<String>> {
    let total = total.max(DEPTH + 10);
    let first = 9;
    let rest = total - 1 - first;
    let mut sizes = vec![1, first];
    for layer in 0..DEPTH - 1 {
        sizes.push(rest / (DEPTH - 1) + usize::from(layer < rest % (DEPTH - 1)));
    }
    let mut next = 0usize;
    sizes
        .into_iter()
        .map(|n| {
            (0..n)
                .map(|_| {
                    next += 1;
                    format!("w{:04}", next - 1)
                })
                .collect()
        })
        .collect()
}

/// What environment `i` of a layer depends on: the environment of the previous layer at the same
/// position and, where the previous layer has more than one, its neighbour (a join).
fn depends_on(previous: &[String], i: usize) -> Vec<String> {
    let a = &previous[i % previous.len()];
    let b = &previous[(i + 1) % previous.len()];
    if a == b { vec![a.clone()] } else { vec![a.clone(), b.clone()] }
}

/// The configuration files (environments; flow, policy and product; applications — at most 500
/// documents a file): flow `wide`, policy
/// `action: none`, product `wide` with one application per environment (exec status without commands)
/// in the GitOps repository `url`.
pub fn config_yaml(layers: &[Vec<String>], url: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut out = String::new();
    for (order, env) in layers.iter().flatten().enumerate() {
        if order > 0 && order % 500 == 0 {
            files.push(std::mem::take(&mut out));
        }
        let _ = write!(
            out,
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: non-production, order: {order} }}\n---\n"
        );
    }
    files.push(std::mem::take(&mut out));
    let _ = write!(
        out,
        "apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: {{ name: wide }}\nspec:\n  triggerEnvironment: {}\n  steps:\n",
        layers[0][0]
    );
    for pair in layers.windows(2) {
        for (i, env) in pair[1].iter().enumerate() {
            let deps = depends_on(&pair[0], i).join(", ");
            let _ = writeln!(out, "    - {{ environment: {env}, dependsOn: [{deps}] }}");
        }
    }
    out.push_str(
        "---\napiVersion: ferry/v1\nkind: PromotionPolicy\nmetadata: { name: all }\nspec: { priority: 100, policy: { action: none } }\n---\n\
         apiVersion: ferry/v1\nkind: Product\nmetadata: { name: wide }\nspec:\n  promotionFlows: [ { name: wide } ]\n  concurrency: queue\n---\n",
    );
    files.push(std::mem::take(&mut out));
    for (i, env) in layers.iter().flatten().enumerate() {
        if i > 0 && i % 500 == 0 {
            files.push(std::mem::take(&mut out));
        }
        let _ = write!(
            out,
            "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: wide-{env} }}\nspec:\n  product: wide\n  environment: {env}\n  component: app\n  source: {{ repoURL: \"{url}\", path: apps/{env}, targetRevision: main }}\n---\n"
        );
    }
    files.push(out);
    files
}

/// Every state of release `id`, rebuilt from its stored events, one after each event.
async fn states(store: &impl Store, id: &str) -> Result<Vec<ReleaseState>> {
    let stored = store.release_events(&crate::rig::release_id(id)?).await?;
    let events: Vec<ReleaseEvent> = stored
        .iter()
        .map(|e| serde_json::from_value(e.body.clone()).context("decoding a stored event"))
        .collect::<Result<_>>()?;
    let Some(ReleaseEvent::Created { id, snapshot, at }) = events.first() else {
        bail!("release {id} has no Created event")
    };
    let mut state = ReleaseState::new(*id, (**snapshot).clone(), *at)?;
    let mut out = Vec::with_capacity(events.len());
    for event in &events[1..] {
        state.apply(event)?;
        out.push(state.clone());
    }
    Ok(out)
}

async fn timed_get(client: &reqwest::Client, url: &str, html: bool) -> Result<(f64, usize)> {
    let t = Instant::now();
    let mut req = client.get(url);
    if html {
        req = req.header("accept", "text/html");
    }
    let resp = req.send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let elapsed = ms(t.elapsed());
    if !status.is_success() {
        bail!("GET {url}: {status}");
    }
    Ok((elapsed, body.len()))
}

/// Scenario 8.
pub async fn wide(dir: &Path, limits: &Limits, environments: usize, requests: usize) -> Result<Vec<Row>> {
    let layers = layers(environments);
    let n = layers.iter().map(Vec::len).sum::<usize>();
    let files: Vec<(String, String)> = layers
        .iter()
        .flatten()
        .map(|env| (format!("apps/{env}/values.yaml"), format!("image:\n  tag: \"1.0.0\"\nenv: {env}\n")))
        .collect();
    let (bare, _work) = bare_repo(dir, "wide-gitops", &files)?;
    let rig = Rig::start_yaml(dir, config_yaml(&layers, &format!("file://{}", bare.display()))).await?;

    // One release through every environment, end to end.
    let t = Instant::now();
    let id = rig.promote("wide").await?;
    rig.wait_all(std::slice::from_ref(&id), Duration::from_secs(900)).await?;
    let run_s = t.elapsed().as_secs_f64();
    let row = rig.store.list_releases(ferry_store::ReleaseFilter { limit: 1, ..Default::default() }).await?;
    match row.items.first() {
        Some(r) if r.id == id && r.status == "Succeeded" => {}
        other => bail!("the wide release did not succeed: {:?}", other.map(|r| &r.status)),
    }

    // The planner on every state of that release.
    let states = states(&rig.store, &id).await?;
    let workflows = BTreeMap::new();
    let in_flight: HashSet<String> = HashSet::new();
    let mut plan_ms = Vec::with_capacity(states.len());
    for state in &states {
        let input = PlanInput {
            now: jiff::Timestamp::now(),
            may_start: true,
            in_flight: &in_flight,
            workflows: &workflows,
            freezes: &ferry_model::freeze::FreezeSet::default(),
        };
        let t = Instant::now();
        let steps = plan(state, &input, &mut uuid::Uuid::now_v7);
        plan_ms.push(ms(t.elapsed()));
        std::hint::black_box(steps);
    }

    // Its pages and its view over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ferry_server::serve_with_shutdown(
        listener,
        rig.store.clone(),
        rig.engine.clone(),
        ServerSettings::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let (mut release_page, mut product_page, mut view) = (Vec::new(), Vec::new(), Vec::new());
    let mut sizes = (0, 0, 0);
    for _ in 0..requests {
        let (t, a) = timed_get(&client, &format!("{base}/releases/{id}"), true).await?;
        release_page.push(t);
        let (t, b) = timed_get(&client, &format!("{base}/products/wide"), true).await?;
        product_page.push(t);
        let (t, c) = timed_get(&client, &format!("{base}/api/v1/releases/{id}"), false).await?;
        view.push(t);
        sizes = (a, b, c);
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    rig.stop();

    let http = limits.http().await?;
    let http_limit =
        || Some(Limit { primitive: "minimal axum JSON round trip (reqwest)".into(), stat: http.latency_ms });
    let scenario = "8 scale";
    let kib = |b: usize| b as f64 / 1024.0;
    Ok(vec![
        Row::new(
            scenario,
            &format!("plan step, flow of {n} environments (every state of a real release)"),
            Unit::Ms,
            Stat::of_latencies(&plan_ms),
            None,
        )
        .target("≤ 1 ms", Goal::P99AtMost(1.0))
        .note(&format!(
            "{} states planned; flow: the trigger environment, then {} layers ({}), each environment depending on \
             two of the layer before; one release through all of them took {run_s:.1} s",
            states.len(),
            layers.len() - 1,
            layers[1..].iter().map(|l| l.len().to_string()).collect::<Vec<_>>().join(", ")
        )),
        Row::new(
            scenario,
            &format!("HTML page /releases/{{id}}, {n} environments"),
            Unit::Ms,
            Stat::of_latencies(&release_page),
            http_limit(),
        )
        .target("p99 ≤ 50 ms", Goal::P99AtMost(50.0))
        .note(&format!(
            "{requests} requests each; pages of {:.0} KiB (release) and {:.0} KiB (product), view {:.0} KiB",
            kib(sizes.0),
            kib(sizes.1),
            kib(sizes.2)
        )),
        Row::new(
            scenario,
            &format!("HTML page /products/{{name}}, {n} environments"),
            Unit::Ms,
            Stat::of_latencies(&product_page),
            http_limit(),
        ),
        Row::new(
            scenario,
            &format!("release view API, {n} environments"),
            Unit::Ms,
            Stat::of_latencies(&view),
            http_limit(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wide_flow_has_the_asked_size_depth_and_joins() {
        let l = layers(1_000);
        assert_eq!(l.iter().map(Vec::len).sum::<usize>(), 1_000);
        assert_eq!(l.len(), DEPTH + 1);
        assert_eq!(l[0].len(), 1);
        assert!(l[2..].iter().all(|x| x.len() >= 100), "{:?}", l.iter().map(Vec::len).collect::<Vec<_>>());
        assert_eq!(depends_on(&l[1], 0).len(), 2);
        assert_eq!(depends_on(&l[0], 3), vec![l[0][0].clone()]);
        let names: HashSet<&String> = l.iter().flatten().collect();
        assert_eq!(names.len(), 1_000);
    }

    #[test]
    fn the_wide_configuration_is_valid() {
        let l = layers(1_000);
        let catalog = crate::rig::load_catalog_files(config_yaml(&l, "file:///tmp/wide.git")).expect("valid");
        assert_eq!(catalog.environments.len(), 1_000);
    }
}
