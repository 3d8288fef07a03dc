//! Soak time and approvals as policy (SPEC §10) on the fakes with a pinned clock: the soak is recorded
//! with its end (durable across a restart), passes when the clock reaches it and fails on a relapse;
//! approvals before the action count once per eligible actor.

use std::time::Duration;

use ferry_engine::testing::{FakeHealth, Fakes};
use ferry_engine::{Approver, EngineError};

use crate::fakes::{PINNED, config, seed};
use crate::fixture::*;

async fn start(prod_policy: &str) -> (Harness, Fakes) {
    let fakes = Fakes::new(PINNED.parse().unwrap());
    seed(&fakes);
    let h = Harness::start_faked(tempfile::tempdir().unwrap(), &fakes).await;
    h.apply(&config(prod_policy, "")).await;
    (h, fakes)
}

const SOAK: &str = "{ action: commit, soakTime: 30m }";

/// Promotes and waits until prod's soak is recorded; answers the release id.
async fn promote_until_soaking(h: &Harness) -> String {
    let soaking = h.next_event(|e| e.body["type"] == "SoakStarted" && e.body["env"] == "prod");
    let id = h.promote(None, None, None).await;
    soaking.await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_is_successful_only_after_its_soak_time() {
    let (h, fakes) = start(SOAK).await;
    let id = promote_until_soaking(&h).await;
    let view = h.view(&id).await;
    assert_eq!(view["status"], "Running", "{view:#}");
    let prod = env_of(&view, "prod");
    assert_eq!(prod["status"], "Running");
    assert_eq!(prod["soak"]["time"], "30m");
    assert_eq!(prod["soak"]["until"], "2026-03-01T09:30:00Z");
    assert_eq!(view, h.replayed_view(&id).await);
    fakes.clock.advance(Duration::from_secs(30 * 60 - 1));
    h.engine.pull_requests().await.unwrap();
    assert_eq!(env_of(&h.view(&id).await, "prod")["status"], "Running", "a second before the end");
    fakes.clock.advance(Duration::from_secs(1));
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(env_of(&view, "prod")["soak"]["passedAt"], "2026-03-01T09:30:00Z");
    assert_eq!(env_of(&view, "prod")["finishedAt"], "2026-03-01T09:30:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relapse_inside_the_soak_fails_prod_with_an_application_issue() {
    let (h, fakes) = start(SOAK).await;
    let id = promote_until_soaking(&h).await;
    fakes.clock.advance(Duration::from_secs(60));
    fakes.status.script("shop-api-prod", FakeHealth::Degraded("CrashLoopBackOff".into()));
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let prod = env_of(&view, "prod");
    assert_eq!(prod["status"], "Failed");
    assert!(prod["soak"]["relapse"].as_str().unwrap().contains("CrashLoopBackOff"), "{prod:#}");
    let issue = &prod["issues"][0];
    assert_eq!(issue["kind"], "application", "{prod:#}");
    assert!(issue["summary"].as_str().unwrap().contains("relapsed during the soak time"), "{issue}");
}

async fn stop(h: Harness) -> (tempfile::TempDir, ferry_store::SqliteStore) {
    use ferry_store::Store;
    let Harness { _dir: dir, store, engine: old, _task: task } = h;
    task.abort();
    let _ = task.await;
    drop(old);
    // The writer takes writes in order: once this one is answered, no write of the stopped engine
    // is still to come.
    let barrier = ferry_store::Write::Kv { key: "test/stopped".into(), value: "1".into() };
    for outcome in store.write(vec![barrier]).await.unwrap() {
        outcome.unwrap();
    }
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_soak_keeps_its_deadline() {
    let (h, fakes) = start(SOAK).await;
    let id = promote_until_soaking(&h).await;
    fakes.clock.advance(Duration::from_secs(10 * 60));
    let (dir, store) = stop(h).await;
    drop(store);
    let h = Harness::start_faked(dir, &fakes).await;
    let view = h.view(&id).await;
    assert_eq!(env_of(&view, "prod")["soak"]["until"], "2026-03-01T09:30:00Z", "not restarted at 09:10: {view:#}");
    assert_eq!(env_of(&view, "prod")["status"], "Running");
    fakes.clock.advance(Duration::from_secs(20 * 60));
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(env_of(&view, "prod")["soak"]["passedAt"], "2026-03-01T09:30:00Z");
}

fn approver(actor: &str, role: &str, comment: &str) -> Approver {
    Approver { actor: actor.into(), role: Some(role.into()), comment: Some(comment.into()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_distinct_eligible_approvals_let_the_action_into_prod() {
    let (h, _fakes) = start("{ action: commit, approval: { required: 2, roles: [admin], tokens: [carol] } }").await;
    let prod_started = h.next_event(|e| e.body["type"] == "EnvironmentStarted" && e.body["env"] == "prod");
    let id = h.promote(None, None, None).await;
    prod_started.await;
    let release = id.parse().unwrap();
    let prod = || "prod".parse().unwrap();
    let view = h.view(&id).await;
    assert_eq!(view["status"], "Suspended", "{view:#}");
    assert_eq!(view["reason"], "awaiting approval in prod (0 of 2)");
    assert_eq!(env_of(&view, "prod")["approval"]["waiting"], true);
    // alice initiated the release; bob is a promoter not named.
    let own = h.engine.approve_as(release, prod(), approver("alice", "admin", "mine")).await;
    assert!(matches!(&own, Err(EngineError::Conflict(m)) if m.contains("initiated this release")), "{own:?}");
    let stranger = h.engine.approve_as(release, prod(), approver("bob", "promoter", "me")).await;
    assert!(matches!(&stranger, Err(EngineError::Conflict(m)) if m.contains("may not approve")), "{stranger:?}");
    let first = h.engine.approve_as(release, prod(), approver("carol", "promoter", "tested in qa")).await.unwrap();
    assert_eq!(first, ["prod: approval 1 of 2"]);
    let again = h.engine.approve_as(release, prod(), approver("carol", "promoter", "again")).await;
    assert!(matches!(&again, Err(EngineError::Conflict(m)) if m.contains("already approved")), "{again:?}");
    let view = h.view(&id).await;
    assert_eq!(view["status"], "Suspended", "one approval of two: {view:#}");
    assert_eq!(view["reason"], "awaiting approval in prod (1 of 2)");
    h.engine.approve_as(release, prod(), approver("dave", "admin", "go")).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let given = &env_of(&view, "prod")["approval"]["approvals"];
    assert_eq!(given[0]["actor"], "carol");
    assert_eq!(given[0]["comment"], "tested in qa");
    assert_eq!(given[1]["actor"], "dave");
    assert_eq!(given.as_array().unwrap().len(), 2, "{given:#}");
    // Nothing waits any more.
    let late = h.engine.approve_as(release, prod(), approver("erin", "admin", "late")).await;
    assert!(matches!(late, Err(EngineError::Conflict(_))), "{late:?}");
}
