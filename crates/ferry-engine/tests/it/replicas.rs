//! Two engines on one store, each driving its own releases (replicas as far as the engine knows;
//! the store is SQLite, so no leases are involved): the concurrency rules across replicas.

use std::sync::Arc;
use std::time::Duration;

use ferry_engine::ports::{
    BoxFuture, Control, ControlResult, HeldLock, Notice, Owner, Replicas, SoleReplica, TakenControl,
};
use ferry_engine::testing::{FakeStep, Fakes};
use ferry_engine::{EngineConfig, EngineHandle, PromoteRequest, PromoteScope};
use ferry_model::names::{AppName, ReleaseId};
use ferry_store::{SqliteStore, Store, StoredEvent};
use tokio::sync::mpsc;

use crate::fakes::{PINNED, config, seed};

/// One of several replicas: drives the releases it created, claims none, forwards nothing.
struct Peer;

impl Replicas for Peer {
    fn is_sole(&self) -> bool {
        false
    }
    fn claim(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>> {
        SoleReplica.claim(limit)
    }
    fn renew(&self) -> BoxFuture<'_, Result<Vec<ReleaseId>, String>> {
        SoleReplica.renew()
    }
    fn give_up(&self, release: ReleaseId) -> BoxFuture<'_, Result<(), String>> {
        SoleReplica.give_up(release)
    }
    fn owner(&self, release: ReleaseId) -> BoxFuture<'_, Result<Owner, String>> {
        SoleReplica.owner(release)
    }
    fn try_lock(&self, name: &'static str) -> BoxFuture<'_, Result<Option<Box<dyn HeldLock>>, String>> {
        SoleReplica.try_lock(name)
    }
    fn forward(&self, release: ReleaseId, control: Control) -> BoxFuture<'_, ControlResult> {
        SoleReplica.forward(release, control)
    }
    fn notices(&self) -> mpsc::UnboundedReceiver<Notice> {
        SoleReplica.notices()
    }
    fn announce_pushed(&self, app: AppName) -> BoxFuture<'_, Result<(), String>> {
        SoleReplica.announce_pushed(app)
    }
    fn take(&self, releases: Vec<ReleaseId>) -> BoxFuture<'_, Result<Vec<TakenControl>, String>> {
        SoleReplica.take(releases)
    }
    fn answer(&self, id: i64, answer: ControlResult) -> BoxFuture<'_, Result<(), String>> {
        SoleReplica.answer(id, answer)
    }
}

/// An engine on `store` and `fakes` (its GitOps repository seeded), as a [`Peer`].
async fn peer(store: &SqliteStore, dir: &std::path::Path, fakes: &Fakes) -> EngineHandle {
    seed(fakes);
    let config = EngineConfig::new(dir.to_path_buf(), "http://127.0.0.1:7878".into());
    let (engine, _task) =
        ferry_engine::start_replica(store.clone(), config, fakes.ports(), Arc::new(Peer)).await.unwrap();
    engine
}

async fn promote(engine: &EngineHandle) -> String {
    let req = PromoteRequest { product: "shop".parse().unwrap(), scope: PromoteScope::FirstFlow };
    engine.promote(req, "alice".into()).await.unwrap().release.to_string()
}

/// The first committed event after this call matching `pred`.
fn next_event(
    store: &SqliteStore,
    pred: impl Fn(&StoredEvent) -> bool + Send + 'static,
) -> impl std::future::Future<Output = StoredEvent> {
    let mut events = store.subscribe();
    async move {
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(e) if pred(&e) => return (*e).clone(),
                    Ok(_) => {}
                    Err(e) => panic!("event stream: {e}"),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait).await.expect("the expected event never came")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_terminate_mode_an_older_release_stored_after_a_newer_one_looked_gives_way_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
    let flows = "  promotionFlows: [ { name: standard } ]\n";
    let yaml = config("{ action: commit }", "").replacen(flows, &format!("{flows}  concurrency: terminate\n"), 1);
    assert!(yaml.contains("concurrency: terminate"), "{yaml}");
    // Replica a hands out the newer ids; its release waits in qa's post-action.
    let (fakes_a, fakes_b) = (Fakes::new(PINNED.parse().unwrap()), Fakes::new(PINNED.parse().unwrap()));
    fakes_a.clock.ids_after(1000);
    fakes_a.runner.script("smoke", FakeStep::Hang);
    let a = peer(&store, &dir.path().join("a"), &fakes_a).await;
    let loaded = ferry_config::load_sources(&[ferry_config::Source { name: "test.yaml".into(), text: yaml }]).unwrap();
    a.apply_config(loaded.catalog, "test".into()).await.unwrap();
    let b = peer(&store, &dir.path().join("b"), &fakes_b).await;
    let waiting = next_event(&store, |e| e.body["type"] == "StepStarted" && e.body["step"] == "smoke");
    let newer = promote(&a).await;
    assert_eq!(waiting.await.release_id, newer);
    // Replica b creates an older release only now, as when it was stored after the newer one read the
    // product's releases (and so never saw it).
    let ended = next_event(&store, |e| e.body["type"] == "Terminated");
    let older = promote(&b).await;
    assert!(older < newer, "{older} is the older id");
    assert_eq!(ended.await.release_id, older, "the older release gave way");
    let events = store.release_events(&older.parse().unwrap()).await.unwrap();
    let reason = format!("superseded by release {newer}");
    assert!(
        events.iter().any(|e| e.body["type"] == "TerminateRequested" && e.body["reason"] == reason.as_str()),
        "{events:?}"
    );
    let row = store.release_view(&newer.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(row["status"], "Running", "the newer release goes on");
}
