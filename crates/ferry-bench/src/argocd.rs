//! Scenario 11: Argo CD status through the watch stream. Releases promote `shop` from dev to qa one
//! after another; qa's application is deployed by the in-process Argo CD stand-in, which syncs a
//! fixed delay after it sees the promotion commit and records the precise moment it turns the
//! application Synced and Healthy. The figures: how long after that moment Ferry recorded the
//! observation (the watch stream, not a poll), and the whole promotion commit → Synced+Healthy
//! observed, both beside the stand-in's own delay.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferry_store::Store;
use ferry_testkit::argo_shop::{QA_APP, QA_PATH, ShopConfig, chart, repo, values};
use ferry_testkit::argocd::StandInApp;
use jiff::Timestamp;

use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::{Rig, micros, release_id};
use crate::stats::Stat;

/// How long the stand-in's sync operations take.
const DELAY: Duration = Duration::from_millis(200);

/// What one release's events and the stand-in say, ms.
struct Sample {
    /// The stand-in reported Synced+Healthy at the promotion commit → Ferry recorded it.
    after_report: f64,
    /// The promotion commit recorded → Synced+Healthy at it recorded.
    commit_to_observed: f64,
}

/// Scenario 11: `releases` releases (after one warm-up).
pub async fn argocd(dir: &Path, releases: usize) -> Result<Vec<Row>> {
    let repo = repo(dir);
    let apps = vec![StandInApp { name: QA_APP.into(), path: QA_PATH.into(), auto_sync: true }];
    // No token: the engine's provider reads its token from the process environment.
    let argo = ferry_testkit::argocd::start(repo.bare.clone(), "main", apps, None, DELAY).await;
    let yaml = ShopConfig::new().argocd("healthTimeout: 60s").yaml(&repo.url());
    let server = argo.url().to_owned();
    let rig = Rig::start_tuned(dir, vec![yaml], |c| c.argocd_server = Some(server)).await?;
    let mut samples = Vec::with_capacity(releases);
    for i in 0..=releases {
        let version = format!("1.5.{i}");
        let dev = [("apps/api/dev/values.yaml", values(&version, "dev")), ("apps/api/dev/Chart.yaml", chart(&version))];
        repo.commit_and_push(&dev, &format!("dev {version}"));
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
async fn sample(rig: &Rig, argo: &ferry_testkit::argocd::ArgoCdStandIn, id: &str) -> Result<Sample> {
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
