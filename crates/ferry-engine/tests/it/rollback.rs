//! Rollback (SPEC §10) on the fakes with a pinned clock: a rollback release of flow `rollback`
//! promotes into one environment the versions an earlier release put there, as one normal promotion
//! commit; bad requests are refused with errors naming what is wrong; the product's concurrency rule
//! applies to it like to any release.

use ferry_engine::testing::Fakes;
use ferry_engine::{EngineError, PromoteRequest, PromoteScope};
use ferry_store::Store;

use crate::fakes::{PINNED, URL, config, seed};
use crate::fixture::*;

async fn start(prod_policy: &str) -> (Harness, Fakes) {
    let fakes = Fakes::new(PINNED.parse().unwrap());
    seed(&fakes);
    let h = Harness::start_faked(tempfile::tempdir().unwrap(), &fakes).await;
    h.apply(&config(prod_policy, "")).await;
    (h, fakes)
}

/// A new version in dev (a commit touching its path).
fn bump_dev(fakes: &Fakes, version: &str) {
    let (values, chart) = (values(version, "dev"), chart(version));
    let files = [("apps/api/dev/values.yaml", values.as_str()), ("apps/api/dev/Chart.yaml", chart.as_str())];
    fakes.git.commit(URL, "main", &files, &format!("release {version}")).unwrap();
}

fn prod_files(fakes: &Fakes) -> (String, String) {
    let read = |f: &str| fakes.git.file(URL, "main", &format!("apps/api/prod/{f}")).unwrap();
    (read("values.yaml"), read("Chart.yaml"))
}

fn commits_into(fakes: &Fakes, env: &str) -> usize {
    let trailer = format!("Ferry-Environment: {env}");
    fakes.git.log(URL, "main").into_iter().filter(|c| c.message.contains(&trailer)).count()
}

async fn rollback(h: &Harness, env: &str, to: Option<&str>) -> Result<String, EngineError> {
    let scope = PromoteScope::Rollback {
        env: env.parse().unwrap(),
        to: to.map(|t| t.parse().unwrap()),
        reason: Some("errors after 3.0.0".into()),
    };
    let request = PromoteRequest { product: "shop".parse().unwrap(), scope };
    h.engine.promote(request, "bob".into()).await.map(|p| p.release.to_string())
}

/// Releases 2.0.0 and then 3.0.0 through dev → qa → prod; answers their ids and prod's files after
/// the first.
async fn two_releases(h: &Harness, fakes: &Fakes) -> (String, String, (String, String)) {
    let first = h.promote(None, None, None).await;
    assert_eq!(h.wait_final(&first).await["status"], "Succeeded");
    let after_first = prod_files(fakes);
    bump_dev(fakes, "3.0.0");
    let second = h.promote(None, None, None).await;
    assert_eq!(h.wait_final(&second).await["status"], "Succeeded");
    assert_ne!(prod_files(fakes), after_first, "the second release changed prod");
    (first, second, after_first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_restores_the_previous_release_in_prod_with_one_commit() {
    let (h, fakes) = start("{ action: commit }").await;
    let (first, second, after_first) = two_releases(&h, &fakes).await;
    let (prod_before, qa_before) = (commits_into(&fakes, "prod"), commits_into(&fakes, "qa"));
    let qa_values = fakes.git.file(URL, "main", "apps/api/qa/values.yaml").unwrap();

    let id = rollback(&h, "prod", None).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["flow"], "rollback");
    assert_eq!(view["version"], "2.0.0", "the restored release's version");
    assert_eq!(view["initiator"], "bob");
    assert_eq!(view["rollback"]["environment"], "prod");
    assert_eq!(view["rollback"]["target"], first.as_str());
    assert_eq!(view["rollback"]["replaces"], second.as_str());
    assert_eq!(view["rollback"]["reason"], "errors after 3.0.0");
    assert_eq!(view["rollback"]["automatic"], false);
    let names: Vec<&str> =
        view["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev", "prod"], "only prod is promoted into");
    assert_eq!(prod_files(&fakes), after_first, "prod's files are byte for byte as the first release left them");
    assert_eq!(commits_into(&fakes, "prod"), prod_before + 1, "exactly one new commit into prod");
    assert_eq!(commits_into(&fakes, "qa"), qa_before, "qa is not touched");
    assert_eq!(fakes.git.file(URL, "main", "apps/api/qa/values.yaml").unwrap(), qa_values);
    let last = fakes.git.log(URL, "main").into_iter().next().unwrap();
    assert!(last.message.contains(&format!("Ferry-Release: {id}")), "{}", last.message);

    // The rollback is now what prod runs: by default, rolling back again restores the second release.
    let again = rollback(&h, "prod", None).await.unwrap();
    let view = h.wait_final(&again).await;
    assert_eq!(view["rollback"]["target"], second.as_str(), "{view:#}");
    assert_eq!(view["version"], "3.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_to_a_named_release_restores_that_one() {
    let (h, fakes) = start("{ action: commit }").await;
    let (first, _second, after_first) = two_releases(&h, &fakes).await;
    bump_dev(&fakes, "4.0.0");
    let third = h.promote(None, None, None).await;
    assert_eq!(h.wait_final(&third).await["status"], "Succeeded");
    let id = rollback(&h, "prod", Some(&first)).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["rollback"]["target"], first.as_str());
    assert_eq!(prod_files(&fakes), after_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollback_requests_are_refused_naming_what_is_wrong() {
    let (h, fakes) = start("{ action: commit }").await;
    // Nothing ever reached prod.
    let none = rollback(&h, "prod", None).await;
    assert!(
        matches!(&none, Err(EngineError::Invalid { message, .. }) if message == "no release was Successful in environment prod"),
        "{none:?}"
    );
    let first = h.promote(None, None, None).await;
    assert_eq!(h.wait_final(&first).await["status"], "Succeeded");
    // One success: nothing earlier to restore.
    let only = rollback(&h, "prod", None).await;
    assert!(
        matches!(&only, Err(EngineError::Invalid { message, .. })
            if *message == format!("no release was Successful in environment prod before release {first}")),
        "{only:?}"
    );
    // A release that only reached qa never was Successful in prod.
    bump_dev(&fakes, "3.0.0");
    let to_qa = h.promote(None, Some("dev"), Some("qa")).await;
    assert_eq!(h.wait_final(&to_qa).await["status"], "Succeeded");
    let never = rollback(&h, "prod", Some(&to_qa)).await;
    assert!(
        matches!(&never, Err(EngineError::Invalid { message, .. })
            if *message == format!("to: release {to_qa} was never Successful in environment prod")),
        "{never:?}"
    );
    // The release prod runs now is no target.
    let current = rollback(&h, "prod", Some(&first)).await;
    assert!(matches!(&current, Err(EngineError::Invalid { message, .. }) if message.contains("nothing to roll back")));
    let unknown_env = rollback(&h, "moon", None).await;
    assert!(
        matches!(&unknown_env, Err(EngineError::NotFound(m)) if m == "environment \"moon\" is not configured"),
        "{unknown_env:?}"
    );
    let request = PromoteRequest {
        product: "cart".parse().unwrap(),
        scope: PromoteScope::Rollback { env: "prod".parse().unwrap(), to: None, reason: None },
    };
    let unknown_product = h.engine.promote(request, "bob".into()).await;
    assert!(
        matches!(&unknown_product, Err(EngineError::NotFound(m)) if m == "product \"cart\" is not configured"),
        "{unknown_product:?}"
    );
}

/// Two releases, then a third one waiting for approval in prod (the product runs in `mode`).
async fn third_waiting_in_prod(mode: &str) -> (Harness, Fakes, String) {
    let (h, fakes) = start("{ action: commit }").await;
    let with_mode = |policy: &str| {
        config(policy, "").replace(
            "promotionFlows: [ { name: standard } ]",
            &format!("promotionFlows: [ {{ name: standard }} ]\n  concurrency: {mode}"),
        )
    };
    h.apply(&with_mode("{ action: commit }")).await;
    two_releases(&h, &fakes).await;
    h.apply(&with_mode("{ action: commit, approval: { required: 1, roles: [admin] } }")).await;
    bump_dev(&fakes, "4.0.0");
    let waiting = h.next_event(|e| e.body["type"] == "EnvironmentStarted" && e.body["env"] == "prod");
    let third = h.promote(None, None, None).await;
    waiting.await;
    assert_eq!(h.view(&third).await["status"], "Suspended");
    (h, fakes, third)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_queue_mode_a_rollback_waits_for_the_running_release() {
    let (h, _fakes, third) = third_waiting_in_prod("queue").await;
    let id = rollback(&h, "prod", None).await.unwrap();
    let view = h.view(&id).await;
    assert_eq!(view["status"], "Queued", "{view:#}");
    assert_eq!(h.view(&third).await["status"], "Suspended", "the running release is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_terminate_mode_a_rollback_supersedes_the_running_release() {
    let (h, _fakes, third) = third_waiting_in_prod("terminate").await;
    let other = third.clone();
    let started = h.next_event(move |e| {
        e.body["type"] == "EnvironmentStarted" && e.body["env"] == "prod" && e.release_id != other
    });
    let id = rollback(&h, "prod", None).await.unwrap();
    started.await;
    let view = h.wait_final(&third).await;
    assert_eq!(view["status"], "Terminated", "{view:#}");
    assert_eq!(view["reason"], format!("superseded by release {id}"));
    let view = h.view(&id).await;
    assert_eq!(view["status"], "Suspended", "the rollback waits for its own approval: {view:#}");
    assert_eq!(view["reason"], "awaiting approval in prod (0 of 1)");
}

const AUTO: &str = "{ action: commit, autoRollback: true, approval: { required: 1, roles: [admin] } }";

/// Approves prod of release `id` (its environment must have started) as carol, an admin.
async fn approve_prod(h: &Harness, id: &str) {
    let approver = ferry_engine::Approver { actor: "carol".into(), role: Some("admin".into()), comment: None };
    h.engine.approve_as(id.parse().unwrap(), "prod".parse().unwrap(), approver).await.unwrap();
}

/// Promotes, approves prod once it started, and answers the release id.
async fn promote_approved(h: &Harness) -> String {
    let started = h.next_event(|e| e.body["type"] == "EnvironmentStarted" && e.body["env"] == "prod");
    let id = h.promote(None, None, None).await;
    assert_eq!(started.await.release_id, id);
    approve_prod(h, &id).await;
    id
}

/// Release 2.0.0 succeeds in prod (policy [`AUTO`]); 3.0.0 then fails there after its commit (the
/// application turns Degraded). Answers both ids, prod's files after the first and the id of the
/// rollback started for the second, once that rollback waits for its approval in prod.
async fn failed_after_the_action() -> (Harness, Fakes, [String; 3], (String, String)) {
    let (h, fakes) = start(AUTO).await;
    let first = promote_approved(&h).await;
    assert_eq!(h.wait_final(&first).await["status"], "Succeeded");
    let after_first = prod_files(&fakes);
    bump_dev(&fakes, "3.0.0");
    fakes.status.script("shop-api-prod", ferry_engine::testing::FakeHealth::Degraded("CrashLoopBackOff".into()));
    let started = h.next_event(|e| e.body["type"] == "EnvironmentStarted" && e.body["env"] == "prod");
    let second = h.promote(None, None, None).await;
    assert_eq!(started.await.release_id, second);
    let known = [first.clone(), second.clone()];
    let rollback_waits = h.next_event(move |e| {
        e.body["type"] == "EnvironmentStarted" && e.body["env"] == "prod" && !known.contains(&e.release_id)
    });
    let recorded = h.next_event(|e| e.body["type"] == "RollbackStarted");
    approve_prod(&h, &second).await;
    let recorded = recorded.await;
    assert_eq!(recorded.release_id, second, "recorded in the failed release's log");
    let rollback = recorded.body["release"].as_str().unwrap().to_owned();
    assert_eq!(rollback_waits.await.release_id, rollback);
    (h, fakes, [first, second, rollback], after_first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_action_starts_a_rollback_to_the_previous_release() {
    let (h, fakes, [first, second, rollback], after_first) = failed_after_the_action().await;
    let failed = h.wait_final(&second).await;
    assert_eq!(failed["status"], "Failed", "{failed:#}");
    assert_eq!(env_of(&failed, "prod")["rolledBackBy"], rollback.as_str(), "{failed:#}");
    let view = h.view(&rollback).await;
    assert_eq!(view["flow"], "rollback");
    assert_eq!(view["initiator"], "ferry (auto-rollback)");
    assert_eq!(view["rollback"]["automatic"], true);
    assert_eq!(view["rollback"]["target"], first.as_str());
    assert_eq!(view["rollback"]["replaces"], second.as_str());
    assert_eq!(view["rollback"]["reason"], format!("prod failed after the promotion of release {second}"));
    // The application recovers; the rollback passes its approval like any promotion into prod.
    fakes.status.script("shop-api-prod", ferry_engine::testing::FakeHealth::Ready);
    approve_prod(&h, &rollback).await;
    let view = h.wait_final(&rollback).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(prod_files(&fakes), after_first, "prod is back to the first release's files");
    // Recorded once in the failed release's log.
    let events = h.store.release_events(&second.parse().unwrap()).await.unwrap();
    let started: Vec<_> = events.iter().filter(|e| e.body["type"] == "RollbackStarted").collect();
    assert_eq!(started.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_that_fails_is_not_rolled_back() {
    let (h, _fakes, [_, _, rollback], _) = failed_after_the_action().await;
    // Still Degraded: the rollback fails after its own commit.
    approve_prod(&h, &rollback).await;
    let view = h.wait_final(&rollback).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    assert!(env_of(&view, "prod").get("rolledBackBy").is_none(), "{view:#}");
    let events = h.store.release_events(&rollback.parse().unwrap()).await.unwrap();
    assert!(events.iter().all(|e| e.body["type"] != "RollbackStarted"), "a rollback is never rolled back");
    let page = h.store.list_releases(ferry_store::ReleaseFilter { limit: 50, ..Default::default() }).await.unwrap();
    assert_eq!(page.items.len(), 3, "no further release was created");
}
