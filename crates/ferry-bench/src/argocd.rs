//! Scenario 11: Argo CD status through the watch stream. Releases promote `shop` from dev to qa one
//! after another (action `commit`); qa's application is deployed by the in-process Argo CD stand-in, which syncs a
//! fixed delay after it sees the promotion commit and records the precise moment it turns the
//! application Synced and Healthy. The figures: how long after that moment Ferry recorded the
//! observation (the watch stream, not a poll), and the whole promotion commit → Synced+Healthy
//! observed, both beside the stand-in's own delay.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ferry_argocd::standin::{ArgoCdStandIn, Revisions, StandInApp};
use ferry_store::Store;
use jiff::Timestamp;

use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::{Rig, micros, release_id};
use crate::stats::Stat;
use crate::util::{bare_repo, git};

/// qa's application, deployed by the stand-in.
const QA_APP: &str = "shop-qa";

/// How long the stand-in's sync operations take.
const DELAY: Duration = Duration::from_millis(200);

/// What one release's events and the stand-in say, ms.
struct Sample {
    /// The stand-in reported Synced+Healthy at the promotion commit → Ferry recorded it.
    after_report: f64,
    /// The promotion commit recorded → Synced+Healthy at it recorded.
    commit_to_observed: f64,
}

/// The configuration: dev promotes to qa with action `commit` (every file of dev's path); qa's
/// application reports through Argo CD on the server's default Argo CD server.
fn config(url: &str) -> String {
    let mut out = String::new();
    for (i, env) in ["dev", "qa"].into_iter().enumerate() {
        let status = if env == "qa" { "\n  status: { argocd: { healthTimeout: 60s } }" } else { "" };
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: non-production, order: {i} }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: app\n  source: {{ repoURL: \"{url}\", path: apps/{env}, targetRevision: main }}{status}\n---\n"
        ));
    }
    out.push_str(
        "apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: standard }\nspec:\n  triggerEnvironment: dev\n  steps:\n\
         \x20   - { environment: qa, dependsOn: [dev], policy: { action: commit } }\n---\n\
         apiVersion: ferry/v1\nkind: Product\nmetadata: { name: shop }\nspec: { promotionFlows: [ { name: standard } ] }\n",
    );
    out
}

fn values(tag: &str) -> String {
    format!("image:\n  tag: \"{tag}\"\n")
}

/// Scenario 11: `releases` releases (after one warm-up).
pub async fn argocd(dir: &Path, releases: usize) -> Result<Vec<Row>> {
    let files =
        vec![("apps/dev/values.yaml".to_owned(), values("1.0.0")), ("apps/qa/values.yaml".to_owned(), values("0.9.0"))];
    let (bare, work) = bare_repo(dir, "gitops", &files)?;
    let url = format!("file://{}", bare.display());
    // The stand-in reads the bare repository with `git log` (it looks every 50 ms, and at once after
    // a refresh request).
    let revisions: Revisions = Arc::new(move |branch: &str, paths: &[String]| {
        let bare = bare.clone();
        paths
            .iter()
            .map(|p| {
                git(&bare, &["log", "-1", "--format=%H", branch, "--", p])
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
            })
            .collect()
    });
    let apps = vec![StandInApp { name: QA_APP.into(), path: "apps/qa".into(), auto_sync: true }];
    // No token: the engine's provider reads its token from the process environment.
    let argo =
        ArgoCdStandIn::start(revisions, "main", apps, None, DELAY).await.context("starting the Argo CD stand-in")?;
    let server = argo.url().to_owned();
    let rig = Rig::start_tuned(dir, vec![config(&url)], |c| c.argocd_server = Some(server)).await?;
    let mut samples = Vec::with_capacity(releases);
    for i in 0..=releases {
        let version = format!("1.5.{i}");
        // Ferry's promotion commits are on the remote: start from them.
        git(&work, &["pull", "-q", "--rebase", "origin", "main"])?;
        std::fs::write(work.join("apps/dev/values.yaml"), values(&version))?;
        git(&work, &["commit", "-q", "-am", &format!("dev {version}")])?;
        git(&work, &["push", "-q", "origin", "main"])?;
        let id = rig.promote("shop").await?;
        rig.wait_all(std::slice::from_ref(&id), Duration::from_secs(120)).await?;
        let sample = sample(&rig, &argo, &id).await?;
        if i > 0 {
            samples.push(sample);
        }
    }
    rig.stop();
    let after: Vec<f64> = samples.iter().map(|s| s.after_report).collect();
    let whole: Vec<f64> = samples.iter().map(|s| s.commit_to_observed).collect();
    let delay_ms = DELAY.as_secs_f64() * 1000.0;
    let limit = Limit { primitive: "the stand-in's own sync delay".into(), stat: Stat::single(delay_ms) };
    Ok(vec![
        Row::new(
            "11 Argo CD status",
            "stand-in reports Synced+Healthy at the promotion commit → Ferry records it (watch stream)",
            Unit::Ms,
            Stat::of_latencies(&after),
            Some(limit.clone()),
        )
        .target("≤ 1 s", Goal::P99AtMost(1000.0))
        .note(&format!(
            "{} releases one at a time, dev → qa with action commit; from the stand-in's own record of the \
             moment it turned the application Synced+Healthy (µs precision, before it told watchers) to the \
             AppObserved event Ferry recorded; Ferry reads the application again only after 60 s of silence",
            samples.len()
        )),
        Row::new(
            "11 Argo CD status",
            "… promotion commit recorded → Synced+Healthy recorded (refresh, sync, delay, watch)",
            Unit::Ms,
            Stat::of_latencies(&whole),
            Some(limit),
        ),
    ])
}

/// The figures of release `id`.
async fn sample(rig: &Rig, argo: &ArgoCdStandIn, id: &str) -> Result<Sample> {
    let events = rig.store.release_events(&release_id(id)?).await?;
    let text = |e: &ferry_store::StoredEvent, k: &str| e.body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let Some((committed_at, commit)) = events
        .iter()
        .find(|e| text(e, "type").as_deref() == Some("ActionCommitted"))
        .and_then(|e| Some((e.at, text(e, "commit")?)))
    else {
        bail!("release {id}: no promotion commit");
    };
    let observed_at = events
        .iter()
        .find(|e| {
            text(e, "type").as_deref() == Some("AppObserved")
                && text(e, "sync").as_deref() == Some("Synced")
                && text(e, "health").as_deref() == Some("Healthy")
                && text(e, "revision").as_deref() == Some(commit.as_str())
        })
        .map(|e| e.at)
        .with_context(|| format!("release {id}: Synced+Healthy at {commit} was never observed"))?;
    let reported: Timestamp = argo
        .synced_healthy(QA_APP)
        .into_iter()
        .find(|r| r.revision == commit)
        .map(|r| r.at)
        .with_context(|| format!("release {id}: the stand-in never reported {commit} Synced+Healthy"))?;
    let ms = |a: Timestamp, b: Timestamp| micros(a, b) as f64 / 1000.0;
    Ok(Sample { after_report: ms(reported, observed_at), commit_to_observed: ms(committed_at, observed_at) })
}
