//! Freeze windows (SPEC §10) on the fakes with a pinned clock: a held environment is Suspended with
//! "frozen until …" and starts by itself when the clock passes the window's end (the engine's timer, no
//! input); runtime freezes survive an apply; deleting one or an admin's override lets it through.

use std::time::Duration;

use ferry_engine::EngineError;
use ferry_engine::testing::Fakes;
use ferry_model::freeze::{Freeze, FreezeSource, Window};
use ferry_model::names::FreezeName;

use crate::fakes::{PINNED, config, seed};
use crate::fixture::*;

/// The configuration with `freezes` (YAML documents) added.
fn with_freezes(freezes: &str) -> String {
    format!("{}---\n{freezes}", config("{ action: commit }", ""))
}

async fn start(freezes: &str) -> (Harness, Fakes) {
    let fakes = Fakes::new(PINNED.parse().unwrap());
    seed(&fakes);
    let h = Harness::start_faked(tempfile::tempdir().unwrap(), &fakes).await;
    h.apply(&with_freezes(freezes)).await;
    (h, fakes)
}

/// Promotes and waits until prod is recorded frozen; answers the release id.
async fn promote_until_frozen(h: &Harness) -> String {
    let frozen = h.next_event(|e| e.body["type"] == "EnvironmentFrozen" && e.body["env"] == "prod");
    let id = h.promote(None, None, None).await;
    frozen.await;
    id
}

// The pinned clock is Sunday 2026-03-01 09:00Z; Berlin is UTC+1 then.
const WEEKEND: &str = "apiVersion: ferry/v1\nkind: Freeze\nmetadata: { name: weekend }\nspec:\n  environments: [prod*]\n  cron: \"0 16 * * FRI\"\n  duration: 64h\n  timeZone: Europe/Berlin\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_environment_waits_suspended_and_starts_when_the_window_ends() {
    let (h, fakes) = start(WEEKEND).await;
    let id = promote_until_frozen(&h).await;
    let view = h.view(&id).await;
    assert_eq!(view["status"], "Suspended", "{view:#}");
    // Friday 16:00 Berlin + 64 h = Monday 08:00 Berlin = 07:00Z.
    assert_eq!(view["reason"], "frozen until 2026-03-02T07:00:00Z (prod: weekend)");
    let prod = env_of(&view, "prod");
    assert_eq!(prod["status"], "Suspended");
    assert_eq!(prod["frozen"]["until"], "2026-03-02T07:00:00Z");
    assert_eq!(prod["frozen"]["freezes"], serde_json::json!(["weekend"]));
    assert_eq!(env_of(&view, "qa")["status"], "Successful", "qa is not covered by prod*");
    assert_eq!(view, h.replayed_view(&id).await);
    // A second before the end nothing moves (a request through the engine task first).
    fakes.clock.advance(Duration::from_secs(22 * 3600 - 1));
    h.engine.pull_requests().await.unwrap();
    assert_eq!(h.view(&id).await["status"], "Suspended");
    // At the end the timer plans the release again: prod starts and the release succeeds.
    fakes.clock.advance(Duration::from_secs(1));
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(env_of(&view, "prod")["startedAt"], "2026-03-02T07:00:00Z");
    assert!(env_of(&view, "prod").get("frozen").is_none(), "{view:#}");
    h.assert_projection_matches_replay(&id, &view).await;
}

fn runtime(name: &str, env: &str) -> Freeze {
    Freeze {
        name: FreezeName::new(name).unwrap(),
        environments: vec![env.into()],
        products: vec!["shop".into()],
        window: Window::once("2026-03-01T00:00:00Z".parse().unwrap(), "2026-03-10T00:00:00Z".parse().unwrap()).unwrap(),
        reason: Some("incident INC-7".into()),
        source: FreezeSource::Runtime,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_freeze_survives_an_apply_and_deleting_it_lets_the_release_through() {
    let (h, _fakes) = start("").await;
    h.engine.create_freeze(runtime("incident", "prod"), "root".into()).await.unwrap();
    let again = h.engine.create_freeze(runtime("incident", "qa"), "root".into()).await;
    assert!(matches!(again, Err(EngineError::Conflict(_))), "{again:?}");
    // An apply does not remove it.
    h.apply(&with_freezes(WEEKEND)).await;
    let listed: Vec<(String, FreezeSource)> =
        h.engine.freezes().await.unwrap().into_iter().map(|f| (f.name.to_string(), f.source)).collect();
    assert_eq!(listed, [("weekend".into(), FreezeSource::Config), ("incident".into(), FreezeSource::Runtime)]);
    let id = promote_until_frozen(&h).await;
    let reason = h.view(&id).await["reason"].as_str().unwrap().to_owned();
    assert_eq!(reason, "frozen until 2026-03-10T00:00:00Z (prod: weekend, incident)", "both hold; the later end");
    // A Freeze resource is removed by applying without it, not by delete.
    let refused = h.engine.delete_freeze(FreezeName::new("weekend").unwrap()).await;
    assert!(matches!(refused, Err(EngineError::Conflict(_))), "{refused:?}");
    h.apply(&with_freezes("")).await;
    let view = h.view(&id).await;
    assert_eq!(view["status"], "Suspended", "the runtime freeze still holds: {view:#}");
    assert_eq!(env_of(&view, "prod")["frozen"]["freezes"], serde_json::json!(["incident"]));
    h.engine.delete_freeze(FreezeName::new("incident").unwrap()).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let unknown = h.engine.delete_freeze(FreezeName::new("incident").unwrap()).await;
    assert!(matches!(unknown, Err(EngineError::NotFound(_))), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_lets_one_environment_of_one_release_through() {
    let (h, _fakes) = start(WEEKEND).await;
    let id = promote_until_frozen(&h).await;
    let release = id.parse().unwrap();
    let env = "prod".parse().unwrap();
    let qa = h.engine.unfreeze(release, "qa".parse().unwrap(), "hotfix".into(), "root".into()).await;
    assert!(matches!(&qa, Err(EngineError::Conflict(m)) if m.contains("not frozen")), "{qa:?}");
    let blank = h.engine.unfreeze(release, env, " ".into(), "root".into()).await;
    assert!(matches!(blank, Err(EngineError::Invalid { .. })), "{blank:?}");
    h.engine.unfreeze(release, "prod".parse().unwrap(), "hotfix for INC-7".into(), "root".into()).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let prod = env_of(&view, "prod");
    assert_eq!(prod["freezeOverride"]["actor"], "root");
    assert_eq!(prod["freezeOverride"]["reason"], "hotfix for INC-7");
    // The next release is held again: the override was for that release only.
    let next = promote_until_frozen(&h).await;
    assert_eq!(h.view(&next).await["status"], "Suspended");
}
