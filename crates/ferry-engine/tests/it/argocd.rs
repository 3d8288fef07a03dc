//! Argo CD applications against the in-process Argo CD stand-in of the test kit: the release waits
//! for Synced + Healthy at the promotion commit under the trust rule.

use std::sync::Arc;
use std::time::Duration;

use ferry_engine::EngineConfig;
use ferry_engine::ports::{ArgoCdStatusProvider, Ports};
use ferry_store::{SqliteStore, Store};
use ferry_testkit::argo_shop::{self, ARGOCD_TOKEN, QA_APP, ShopConfig};
use ferry_testkit::argocd::{ArgoCdStandIn, Behaviour};
use serde_json::Value;

use crate::fixture::*;

const TOKEN_VAR: &str = "TEST_ARGOCD_TOKEN";
const TOKEN: &str = ARGOCD_TOKEN;
const APP: &str = QA_APP;

struct Rig {
    h: Harness,
    repo: Repo,
    argo: ArgoCdStandIn,
}

/// A repository, the stand-in watching it (sync operations take `delay`), and the engine whose
/// Argo CD provider reads the token from a fake environment.
async fn rig(auto_sync: bool, delay: Duration, argocd: impl FnOnce(&str) -> String) -> Rig {
    rig_with(auto_sync, delay, Duration::from_secs(180), argocd).await
}

/// [`rig`] with the provider reading the application again after `resync` of silence.
async fn rig_with(auto_sync: bool, delay: Duration, resync: Duration, argocd: impl FnOnce(&str) -> String) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let repo = argo_shop::repo(dir.path());
    let argo = argo_shop::argocd(&repo, auto_sync, delay).await;
    let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
    let config = EngineConfig::new(dir.path().join("data"), "http://127.0.0.1:7878".into());
    let mut ports = Ports::default_for(&config, &store).unwrap();
    let tokens = Arc::new(|name: &str| (name == TOKEN_VAR).then(|| TOKEN.to_owned()));
    let provider = ArgoCdStatusProvider::new(ports.git.clone(), None, tokens)
        .with_retry(Duration::from_millis(20), Duration::from_millis(200))
        .with_resync(resync);
    ports.status.argocd = Some(Arc::new(provider));
    let (engine, task) = ferry_engine::start_with(store.clone(), config, ports).await.unwrap();
    let h = Harness { _dir: dir, store, engine, _task: task };
    h.apply(&config_for(&repo, &argo, argocd)).await;
    Rig { h, repo, argo }
}

fn config_for(repo: &Repo, argo: &ArgoCdStandIn, argocd: impl FnOnce(&str) -> String) -> String {
    ShopConfig::new().argocd(argocd(argo.url())).yaml(&repo.url())
}

fn standard(url: &str) -> String {
    format!("server: \"{url}\", tokenSecret: {TOKEN_VAR}, healthTimeout: 60s")
}

fn observations(events: &[ferry_store::StoredEvent]) -> Vec<&Value> {
    events.iter().filter(|e| e.body["type"] == "AppObserved" && e.body["app"] == APP).map(|e| &e.body).collect()
}

fn app_issue(view: &Value) -> &Value {
    view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "application").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_succeeds_only_after_synced_and_healthy_at_the_promotion_commit() {
    let r = rig(true, Duration::from_millis(300), standard).await;
    // The commit is noticed only when Ferry asks for a refresh after its push, so what Ferry sees
    // first never depends on how fast this machine is.
    r.argo.poll_repository(false);
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let commit = r.repo.rev("main");
    let qa = env_of(&view, "qa");
    let app = qa["applications"].as_array().unwrap().iter().find(|a| a["name"] == APP).unwrap();
    assert_eq!(app["app"]["revision"], commit.as_str(), "{app:#}");
    let events = r.h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let seen = observations(&events);
    let last = seen.last().unwrap();
    assert_eq!(
        (&last["sync"], &last["health"], &last["revision"]),
        (&"Synced".into(), &"Healthy".into(), &commit.as_str().into())
    );
    // Before that: the previous revision, the operation running, or OutOfSync at the commit — never
    // a Synced that would have opened the gate early.
    assert!(seen.len() >= 2, "{seen:#?}");
    // Only changes are recorded, although Argo CD sends an event for every change of the application.
    let shown = |o: &Value| (o["sync"].clone(), o["health"].clone(), o["revision"].clone(), o["message"].clone());
    assert!(seen.windows(2).all(|w| shown(w[0]) != shown(w[1])), "{seen:#?}");
    assert!(seen[..seen.len() - 1].iter().all(|o| o["sync"] != "Synced"), "{seen:#?}");
    // Ferry asked Argo CD to refresh after its commit, and followed the watch stream.
    let requests = r.argo.requests();
    assert!(requests.iter().any(|q| q == &format!("GET /api/v1/applications/{APP}?refresh=normal")), "{requests:#?}");
    assert!(requests.iter().any(|q| q == &format!("GET /api/v1/stream/applications?name={APP}")), "{requests:#?}");
    assert!(!requests.iter().any(|q| q.starts_with("POST")), "auto-sync: no sync request: {requests:#?}");
    // The changes came through the watch stream: the application was read once, not polled.
    let reads = requests.iter().filter(|q| *q == &format!("GET /api/v1/applications/{APP}?")).count();
    assert_eq!(reads, 1, "{requests:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_assessed_before_the_operation_finished_does_not_count() {
    let r = rig(true, Duration::from_millis(100), standard).await;
    r.argo.set_behaviour(APP, Behaviour::AssessedBeforeFinish);
    let early = r.h.next_event(|e| {
        e.body["type"] == "AppObserved"
            && e.body["app"] == APP
            && e.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("assessed before the last sync operation finished"))
    });
    let id = r.h.promote(None, None, None).await;
    let early = early.await;
    assert_eq!(
        (&early.body["sync"], &early.body["health"]),
        (&"Syncing".into(), &"Healthy".into()),
        "{:?}",
        early.body
    );
    // Argo CD claims Synced and Healthy at the commit, but assessed before the operation finished:
    // the gate stays shut.
    let state = r.argo.application(APP).unwrap();
    assert_eq!(state["status"]["sync"]["status"], "Synced", "{state:#}");
    assert_eq!(state["status"]["sync"]["revision"], r.repo.rev("main").as_str());
    let events = r.h.store.release_events(&id.parse().unwrap()).await.unwrap();
    assert!(!events.iter().any(|e| e.body["type"] == "AppGatePassed"), "the gate opened on a stale assessment");
    assert_eq!(
        env_of(&r.h.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap(), "qa")["status"],
        "Running"
    );
    // Once Argo CD assesses the application again, it counts.
    r.argo.reconcile(APP);
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_becomes_an_application_issue_with_argos_message() {
    let r = rig(true, Duration::from_millis(50), standard).await;
    r.argo.set_behaviour(APP, Behaviour::Degraded("Deployment \"shop-api-qa\" exceeded its progress deadline".into()));
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let issue = app_issue(&view);
    assert_eq!(issue["app"], APP);
    let summary = issue["summary"].as_str().unwrap();
    assert!(
        summary.contains("Deployment/shop-api-qa Degraded: Deployment \"shop-api-qa\" exceeded its progress deadline"),
        "{issue:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_fails_the_application_with_argos_message() {
    let r = rig(true, Duration::from_millis(50), standard).await;
    r.argo.set_behaviour(
        APP,
        Behaviour::SyncFailed("one or more objects failed to apply: admission webhook denied".into()),
    );
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let summary = app_issue(&view)["summary"].as_str().unwrap().to_owned();
    assert!(
        summary.contains("sync failed: one or more objects failed to apply: admission webhook denied"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_sync_ferry_requests_the_sync_of_its_commit() {
    let r = rig(false, Duration::from_millis(50), |url| format!("{}, requestSync: true", standard(url))).await;
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let commit = r.repo.rev("main");
    let requests = r.argo.requests();
    let body = format!("POST /api/v1/applications/{APP}/sync {{\"name\":\"{APP}\",\"revision\":\"{commit}\"}}");
    assert!(requests.contains(&body), "{requests:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_argo_cd_is_unknown_with_an_issue_never_healthy() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let r = rig(true, Duration::from_millis(50), |_| {
        format!("server: \"{closed}\", tokenSecret: {TOKEN_VAR}, healthTimeout: 2s")
    })
    .await;
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let summary = app_issue(&view)["summary"].as_str().unwrap().to_owned();
    assert!(summary.contains(&format!("Argo CD at {closed} is unreachable")), "{summary}");
    let events = r.h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let seen = observations(&events);
    assert!(!seen.is_empty() && seen.iter().all(|o| o["health"] == "Unknown" && o["sync"] == "Unknown"), "{seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_fails_at_once_naming_the_variable_and_never_the_token() {
    let r = rig(true, Duration::from_millis(50), |url| {
        format!("server: \"{url}\", tokenSecret: OTHER_TOKEN, healthTimeout: 60s")
    })
    .await;
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let summary = app_issue(&view)["summary"].as_str().unwrap().to_owned();
    assert!(summary.contains("401 Unauthorized") && summary.contains("OTHER_TOKEN"), "{summary}");
    assert!(!view.to_string().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_watch_stream_is_unknown_with_the_cause_then_resumed() {
    let r = rig(true, Duration::from_millis(200), standard).await;
    r.argo.cut_streams(true);
    // The sync is held until Ferry has seen the cut: a plain read after the backoff could otherwise
    // find the application healthy before any stream was cut.
    r.argo.set_behaviour(APP, Behaviour::Stuck);
    let cut = r.h.next_event(|e| {
        e.body["type"] == "AppObserved"
            && e.body["app"] == APP
            && e.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("watch stream for application shop-api-qa was cut"))
    });
    let id = r.h.promote(None, None, None).await;
    let cut = cut.await;
    assert_eq!((&cut.body["sync"], &cut.body["health"]), (&"Unknown".into(), &"Unknown".into()), "{:?}", cut.body);
    // The connection comes back: the watch resumes and the release passes at the promotion commit.
    r.argo.cut_streams(false);
    r.argo.set_behaviour(APP, Behaviour::Healthy);
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let streams = r.argo.requests().iter().filter(|q| q.starts_with("GET /api/v1/stream/applications")).count();
    assert!(streams >= 2, "the watch was opened again: {streams}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_watch_stream_is_read_again_after_the_resync_interval() {
    let r = rig_with(true, Duration::from_millis(100), Duration::from_millis(150), standard).await;
    // Streams pass their first event on and then nothing: only reading again finds the new state. The
    // sync operation is held until Ferry has seen it unfinished, so the new state comes after every
    // stream's first event.
    r.argo.silent_streams(true);
    r.argo.set_behaviour(APP, Behaviour::Stuck);
    let waiting =
        r.h.next_event(|e| e.body["type"] == "AppObserved" && e.body["app"] == APP && e.body["sync"] != "Synced");
    let id = r.h.promote(None, None, None).await;
    waiting.await;
    // Ferry reads the application, then watches it: the change comes after the watch's first event.
    r.argo.streams_answered(1).await;
    r.argo.set_behaviour(APP, Behaviour::Healthy);
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let reads = r.argo.requests().iter().filter(|q| *q == &format!("GET /api/v1/applications/{APP}?")).count();
    assert!(reads >= 2, "the application was read again: {reads}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_turning_degraded_inside_the_soak_time_fails_the_environment() {
    let r = rig(true, Duration::from_millis(100), standard).await;
    // qa soaks for an hour after its application is Synced and Healthy at the promotion commit.
    r.h.apply(&ShopConfig::new().argocd(standard(r.argo.url())).soak_time("1h").yaml(&r.repo.url())).await;
    let soaking = r.h.next_event(|e| e.body["type"] == "SoakStarted" && e.body["env"] == "qa");
    let id = r.h.promote(None, None, None).await;
    soaking.await;
    let view = r.h.view(&id).await;
    assert_eq!(env_of(&view, "qa")["status"], "Running", "soaking: {view:#}");
    // Later, without a new sync, its pods fail: Argo CD reports the application Degraded.
    r.argo.degrade(APP, "Back-off restarting failed container");
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let qa = env_of(&view, "qa");
    assert_eq!(qa["status"], "Failed", "{qa:#}");
    let relapse = qa["soak"]["relapse"].as_str().unwrap_or_default();
    assert!(relapse.contains("Degraded") && relapse.contains(APP), "{qa:#}");
    assert!(qa["soak"]["passedAt"].is_null(), "{qa:#}");
    let issue = app_issue(&view);
    assert_eq!(issue["env"], "qa", "{issue:#}");
    assert_eq!(issue["detail"]["health"], "Degraded", "{issue:#}");
    let summary = issue["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("relapsed during the soak time") && summary.contains("Back-off"), "{issue:#}");
    // The relapse came through the watch stream, not a poll.
    let requests = r.argo.requests();
    let reads = requests.iter().filter(|q| *q == &format!("GET /api/v1/applications/{APP}?")).count();
    assert!(reads <= 2, "{requests:#?}");
}
