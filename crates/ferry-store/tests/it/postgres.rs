//! What is particular to PostgreSQL: replicas sharing one database. Each test opens two (or three)
//! stores on one database, as separate replicas would.

use std::collections::BTreeSet;

use ferry_store::*;

use crate::backend::{Backend, Postgres};
use crate::contract::{R1, R2, one, release_write};

/// Two stores on one new database, or `None` when no server is configured (see `test_support::postgres_server`).
async fn two() -> Option<(Postgres, PgStore, PgStore)> {
    let db = Postgres::create().await?;
    let (a, b) = (db.open().await, db.open().await);
    Some((db, a, b))
}

fn replica(store: &PgStore, owner: &str, ttl_ms: u64) -> PgStore {
    store.replica(ReplicaOptions { owner: owner.into(), lease_ttl: std::time::Duration::from_millis(ttl_ms) })
}

/// A release write of `id` with a status.
fn write(id: &str, first_seq: i64, status: &str) -> Write {
    release_write(id, first_seq, 1, status)
}

#[tokio::test]
async fn every_replica_sees_every_replicas_events_in_order_and_can_resume() {
    let Some((_db, a, b)) = two().await else { return };
    let (mut sub_a, mut sub_b) = (a.subscribe(), b.subscribe());
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone(), a.clone(), b.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for seq in 0..10 {
                one(store.write(vec![write(&format!("x{i}"), seq, "Running")]).await.unwrap()).unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored: Vec<i64> = a.events_after(0, EventFilter::All, 1000).await.unwrap().iter().map(|e| e.gid).collect();
    assert_eq!(stored.len(), 40);
    for sub in [&mut sub_a, &mut sub_b] {
        let mut received = Vec::new();
        for _ in 0..40 {
            received.push(sub.recv().await.unwrap().gid);
        }
        assert_eq!(received, stored, "every event once, in id order, whichever replica wrote it");
    }
    // A stream that saw the first 15 resumes from the 15th id (Last-Event-ID) on either replica.
    let rest = b.events_after(stored[14], EventFilter::All, 1000).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.gid).collect::<Vec<_>>(), stored[15..]);
    // Product events of one replica reach the other's subscribers too.
    let product = Write::ProductEvent {
        product: "shop".into(),
        kind: "no-flow-matched".into(),
        message: "no flow".into(),
        at: crate::contract::t("2026-01-01T00:00:00Z"),
    };
    one(a.write(vec![product]).await.unwrap()).unwrap();
    assert_eq!(sub_b.recv().await.unwrap().release_id, "product:shop");
}

#[tokio::test]
async fn live_events_survive_the_listening_connection_being_cut() {
    let Some((db, a, b)) = two().await else { return };
    let mut sub = a.subscribe();
    one(b.write(vec![write(crate::contract::R1, 0, "Running")]).await.unwrap()).unwrap();
    let first = sub.recv().await.unwrap().gid;
    // The server ends a's (and b's) listening connections, as a failover or an idle timeout would.
    let (client, connection) = tokio_postgres::connect(&db.location(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let cut = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'ferry-listen' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cut.len(), 2, "one listening connection per store");
    // Written while nobody listens: delivered once the listener is back, in order, nothing twice.
    for seq in 1..4 {
        one(b.write(vec![write(crate::contract::R1, seq, "Running")]).await.unwrap()).unwrap();
    }
    let stored: Vec<i64> =
        b.release_events(&crate::contract::id_of(crate::contract::R1)).await.unwrap().iter().map(|e| e.gid).collect();
    let mut received = vec![first];
    for _ in 1..4 {
        received.push(sub.recv().await.unwrap().gid);
    }
    assert_eq!(received, stored);
    assert!(sub.try_recv().is_err());
}

#[tokio::test]
async fn a_replica_owns_the_releases_it_creates() {
    let Some((_db, a, b)) = two().await else { return };
    let (a, b) = (replica(&a, "a", 60_000), replica(&b, "b", 60_000));
    one(a.write(vec![write(crate::contract::R1, 0, "Running")]).await.unwrap()).unwrap();
    let lease = a.lease(crate::contract::R1).await.unwrap().unwrap();
    assert_eq!((lease.owner.as_deref(), lease.epoch), (Some("a"), 1));
    // The other replica can neither claim it (the lease is live) nor write it.
    assert!(b.claim(10).await.unwrap().is_empty());
    let fenced = one(b.write(vec![write(crate::contract::R1, 1, "Running")]).await.unwrap());
    assert!(
        matches!(&fenced, Err(StoreError::Fenced { epoch: 0, owner: Some(o), current_epoch: Some(1), .. }) if o == "a"),
        "{fenced:?}"
    );
    assert_eq!(
        b.release_events(&crate::contract::id_of(crate::contract::R1)).await.unwrap().len(),
        1,
        "the fenced write stored nothing"
    );
    // The owner goes on, renews, and lets go once the release is final.
    one(a.write(vec![write(crate::contract::R1, 1, "Running")]).await.unwrap()).unwrap();
    assert!(a.renew().await.unwrap().is_empty());
    one(a.write(vec![write(crate::contract::R1, 2, "Succeeded")]).await.unwrap()).unwrap();
    assert_eq!(a.lease(crate::contract::R1).await.unwrap().unwrap().owner, None);
    assert!(b.claim(10).await.unwrap().is_empty(), "a final release is nobody's to claim");
    // Written again (a retry), its free lease goes to the replica that writes it, fencing the other.
    one(b.write(vec![write(crate::contract::R1, 3, "Running")]).await.unwrap()).unwrap();
    let lease = b.lease(crate::contract::R1).await.unwrap().unwrap();
    assert_eq!((lease.owner.as_deref(), lease.epoch), (Some("b"), 2));
    assert!(matches!(
        one(a.write(vec![write(crate::contract::R1, 4, "Failed")]).await.unwrap()),
        Err(StoreError::Fenced { .. })
    ));
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_old_owner_is_fenced_off() {
    let Some((_db, a, b)) = two().await else { return };
    // The first owner's leases expire at once (as if it had paused past its expiry).
    let (a, b) = (replica(&a, "a", 0), replica(&b, "b", 60_000));
    one(a.write(vec![write(crate::contract::R1, 0, "Running")]).await.unwrap()).unwrap();
    let taken = b.claim(10).await.unwrap();
    assert_eq!(
        taken.iter().map(|l| (l.release_id.as_str(), l.owner.as_deref(), l.epoch)).collect::<Vec<_>>(),
        [(crate::contract::R1, Some("b"), 2)]
    );
    // The old owner wakes up: its write fails and stores nothing; renewing tells it what it lost.
    let late = one(a.write(vec![write(crate::contract::R1, 1, "Failed")]).await.unwrap());
    assert!(
        matches!(&late, Err(StoreError::Fenced { epoch: 1, owner: Some(o), current_epoch: Some(2), .. }) if o == "b"),
        "{late:?}"
    );
    assert!(late.unwrap_err().to_string().contains("owned by b at epoch 2"));
    assert_eq!(a.release_events(&crate::contract::id_of(crate::contract::R1)).await.unwrap().len(), 1);
    assert_eq!(
        a.release_view(&crate::contract::id_of(crate::contract::R1)).await.unwrap().unwrap()["status"],
        "Running"
    );
    assert_eq!(a.renew().await.unwrap(), [crate::contract::R1]);
    // The new owner writes where the log is.
    one(b.write(vec![write(crate::contract::R1, 1, "Running")]).await.unwrap()).unwrap();
    assert_eq!(b.release_events(&crate::contract::id_of(crate::contract::R1)).await.unwrap().len(), 2);
    // Given back, the lease is free for the next claim, which moves the epoch on again.
    b.release_lease(crate::contract::R1).await.unwrap();
    assert_eq!(a.claim(10).await.unwrap().iter().map(|l| l.epoch).collect::<Vec<_>>(), [3]);
    assert!(matches!(one(b.write(vec![write(R1, 2, "Running")]).await.unwrap()), Err(StoreError::Fenced { .. })));
    // Each event carries the epoch it was written at: the log shows who drove the release when.
    assert_eq!(a.event_epochs(R1).await.unwrap(), [(0, Some(1)), (1, Some(2))]);
}

#[tokio::test]
async fn a_lease_that_expired_before_its_renewal_is_lost_and_claimable_again() {
    let Some((_db, a, _)) = two().await else { return };
    // Renewals could not reach the database for longer than the lease lasts (here: at once).
    let late = replica(&a, "a", 0);
    one(late.write(vec![write(R1, 0, "Running")]).await.unwrap()).unwrap();
    assert_eq!(late.renew().await.unwrap(), [R1], "an expired lease is not renewed: another may hold it");
    assert!(matches!(one(late.write(vec![write(R1, 1, "Running")]).await.unwrap()), Err(StoreError::Fenced { .. })));
    // Nobody claimed it meanwhile: the replica claims it again, as a takeover (epoch + 1).
    let again = replica(&a, "a", 60_000);
    assert_eq!(again.claim(10).await.unwrap().iter().map(|l| l.epoch).collect::<Vec<_>>(), [2]);
    assert!(again.renew().await.unwrap().is_empty());
    one(again.write(vec![write(R1, 1, "Running")]).await.unwrap()).unwrap();
}

#[tokio::test]
async fn a_control_request_is_taken_by_the_owner_once_and_answered() {
    let Some((_db, a, b)) = two().await else { return };
    let (a, b) = (replica(&a, "a", 60_000), replica(&b, "b", 60_000));
    assert_eq!(a.replica_name(), Some("a"));
    one(a.write(vec![write(R1, 0, "Running")]).await.unwrap()).unwrap();
    let (mut notices_a, mut notices_b) = (a.control_notices(), b.control_notices());
    let body = serde_json::json!({"type": "terminate", "reason": "bad build", "actor": "bob"});
    let id = b.request_control(R1, &body).await.unwrap();
    assert_eq!(notices_a.recv().await.unwrap(), ControlNotice::Requested(R1.into()));
    // Only the owner takes it, and only once.
    assert!(b.take_controls(&[R1.into()]).await.unwrap().is_empty(), "b does not hold r1");
    let taken = a.take_controls(&[R1.into(), R2.into()]).await.unwrap();
    assert_eq!(taken, [ControlRequest { id, release_id: R1.into(), body }]);
    assert!(a.take_controls(&[R1.into()]).await.unwrap().is_empty(), "taken once");
    assert_eq!(b.control_answer(id).await.unwrap(), None);
    a.answer_control(id, &serde_json::json!({"Ok": "done"})).await.unwrap();
    loop {
        if notices_b.recv().await.unwrap() == ControlNotice::Answered(id) {
            break;
        }
    }
    assert_eq!(b.control_answer(id).await.unwrap(), Some(serde_json::json!({"Ok": "done"})));
}

#[tokio::test]
async fn concurrent_claims_hand_each_release_to_one_replica_and_skip_locked_leases() {
    let Some((db, plain, _)) = two().await else { return };
    // Releases written before any replica leased them (a single server, or a copied database).
    let writes = (0..30).map(|i| write(&format!("q{i:02}"), 0, "Running")).collect();
    for outcome in plain.write(writes).await.unwrap() {
        outcome.unwrap();
    }
    let mut stores = Vec::new();
    for name in ["a", "b", "c"] {
        stores.push(replica(&db.open().await, name, 60_000));
    }
    // One lease is being claimed (row-locked) elsewhere: claims skip it instead of waiting.
    let (mut locker, connection) = tokio_postgres::connect(&db.location(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    assert!(stores[0].claim(0).await.unwrap().is_empty(), "seeds the free leases, claims none");
    let tx = locker.transaction().await.unwrap();
    tx.execute("SELECT 1 FROM leases WHERE release_id = 'q07' FOR UPDATE", &[]).await.unwrap();
    let claims = futures_util::future::join_all(stores.iter().map(|s| s.claim(30))).await;
    let mut owners = std::collections::BTreeMap::new();
    for (store, claimed) in ["a", "b", "c"].into_iter().zip(claims) {
        for lease in claimed.unwrap() {
            assert_eq!((lease.owner.as_deref(), lease.epoch), (Some(store), 1));
            assert!(owners.insert(lease.release_id.clone(), store).is_none(), "{} claimed twice", lease.release_id);
        }
    }
    let expected: BTreeSet<String> = (0..30).filter(|i| *i != 7).map(|i| format!("q{i:02}")).collect();
    assert_eq!(owners.keys().cloned().collect::<BTreeSet<_>>(), expected);
    tx.rollback().await.unwrap();
    // Once free, the skipped one goes to the next claim; the rest stay with their owners.
    let late = stores[2].claim(30).await.unwrap();
    assert_eq!(late.iter().map(|l| l.release_id.as_str()).collect::<Vec<_>>(), ["q07"]);
    // Each owner writes its own releases and no other.
    let (id, owner) = owners.iter().next().unwrap();
    let index = ["a", "b", "c"].iter().position(|n| n == owner).unwrap();
    one(stores[index].write(vec![write(id, 1, "Running")]).await.unwrap()).unwrap();
    let other = &stores[(index + 1) % 3];
    assert!(matches!(one(other.write(vec![write(id, 2, "Running")]).await.unwrap()), Err(StoreError::Fenced { .. })));
}

#[tokio::test]
async fn one_replica_at_a_time_holds_the_poll_lock() {
    let Some((_db, a, b)) = two().await else { return };
    let held = a.try_poll_lock("trigger-polling").await.unwrap().expect("free at first");
    assert!(b.try_poll_lock("trigger-polling").await.unwrap().is_none(), "held by the other replica");
    let retention = b.try_poll_lock("retention").await.unwrap().expect("another lock is free");
    held.release().await.unwrap();
    let taken = b.try_poll_lock("trigger-polling").await.unwrap().expect("free once released");
    assert!(a.try_poll_lock("retention").await.unwrap().is_none());
    taken.release().await.unwrap();
    retention.release().await.unwrap();
}

#[tokio::test]
async fn a_commit_claimed_on_two_replicas_creates_one_release() {
    let Some((_db, a, b)) = two().await else { return };
    let key = "released/shop/standard/0123abc";
    let claim = |store: PgStore, id: &'static str| async move {
        let outcome = one(store.write(vec![Write::KvClaim { key: key.into(), value: id.into() }]).await.unwrap());
        match outcome.unwrap() {
            WriteOutcome::KvValue(winner) => winner,
            other => panic!("expected a value, got {other:?}"),
        }
    };
    let (on_a, on_b) = tokio::join!(claim(a.clone(), "release-a"), claim(b.clone(), "release-b"));
    assert_eq!(on_a, on_b, "both replicas find the same release");
    assert!(["release-a", "release-b"].contains(&on_a.as_str()));
    assert_eq!(b.kv_get(key).await.unwrap(), Some(on_a));
}

#[tokio::test]
async fn migrations_are_recorded_once_and_a_store_that_must_not_migrate_refuses_a_new_database() {
    let Some(db) = Postgres::create().await else { return };
    let err = PgStore::open_with(&db.location(), false).await.err().unwrap();
    assert!(matches!(err, StoreError::Migrate { .. }), "{err:?}");
    assert!(err.to_string().contains("ferry db migrate"), "{err}");
    // Replicas starting together migrate once.
    let url = db.location();
    let (a, b) = tokio::join!(PgStore::open(&url), PgStore::open(&url));
    let (a, _b) = (a.unwrap(), b.unwrap());
    let reopened = PgStore::open_with(&db.location(), false).await.unwrap();
    one(reopened.write(vec![Write::Kv { key: "k".into(), value: "v".into() }]).await.unwrap()).unwrap();
    assert_eq!(a.kv_get("k").await.unwrap().as_deref(), Some("v"));
    let (client, connection) = tokio_postgres::connect(&db.location(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let recorded: Vec<i64> = client
        .query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[tokio::test]
async fn an_embedded_installation_is_copied_with_nothing_lost() {
    let Some(db) = Postgres::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("ferry.db");
    let with_run = "019b0000-0000-7000-8000-00000000000e";
    let runs = {
        let sqlite = SqliteStore::open(&source).await.unwrap();
        crate::fixture::write_all(&sqlite).await;
        // A failed notification beside the fixture's tables (the upgrade fixture predates them).
        let failure = crate::contract::notification_failure("2026-01-01T00:12:00Z", Some("ops"));
        one(sqlite.write(vec![Write::NotificationFailure(Box::new(failure))]).await.unwrap()).unwrap();
        drop(sqlite);
        // A run row beside the fixture's tables (its release is not part of the fixture's check).
        let state = serde_json::json!({
            "id": "019b0000-0000-7000-8000-0000000000ab", "workflow": "smoke", "startedAt": "2026-01-01T00:01:00Z",
            "target": {"kind": "environmentHook", "env": "qa", "hook": "onFail"}, "steps": [], "error": "no such workflow",
            "retired": false,
        });
        let conn = rusqlite::Connection::open(&source).unwrap();
        conn.execute(
            "INSERT INTO runs (run_id, release_id, started_at, workflow, target, state) VALUES (?, ?, ?, 'smoke', ?, ?)",
            rusqlite::params![state["id"].as_str(), with_run, "2026-01-01T00:01:00.000000Z", state["target"].to_string(), state.to_string()],
        )
        .unwrap();
        drop(conn);
        SqliteStore::open(&source).await.unwrap().runs(&crate::contract::id_of(with_run)).await.unwrap()
    };
    assert_eq!(runs.len(), 1);
    let report = ferry_store::copy::sqlite_to_postgres(&source, &db.location(), false).await.unwrap();
    let count = |table: &str| report.tables.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
    assert_eq!((count("events"), count("audit"), count("runs")), (Some(8), Some(2), Some(1)), "{report:?}");
    // The same ids, events, logs, versions, tokens and audit entries; new ids go on after the copied ones.
    let store = db.open().await;
    assert_eq!(store.runs(&crate::contract::id_of(with_run)).await.unwrap(), runs);
    let failures = store.notification_failures(10).await.unwrap();
    let copied = NotificationFailureRow {
        id: Some(1),
        ..crate::contract::notification_failure("2026-01-01T00:12:00Z", Some("ops"))
    };
    assert_eq!(failures, [copied]);
    crate::fixture::check(&store).await;
    drop(store);
    // A database holding data is refused, and left as it was; --force replaces what it holds.
    let refused = ferry_store::copy::sqlite_to_postgres(&source, &db.location(), false).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)) && refused.to_string().contains("--force"), "{refused}");
    ferry_store::copy::sqlite_to_postgres(&source, &db.location(), true).await.unwrap();
    crate::fixture::check(&db.open().await).await;
    let missing = ferry_store::copy::sqlite_to_postgres(&dir.path().join("nope.db"), &db.location(), false).await;
    assert!(missing.unwrap_err().to_string().contains("no SQLite database at"));
}

#[tokio::test]
async fn a_queue_mode_product_gives_its_turn_to_one_release_at_a_time() {
    let Some((_db, a, b)) = two().await else { return };
    let (a, b) = (replica(&a, "a", 60_000), replica(&b, "b", 60_000));
    let [r1, r2, r3, r4, r5] = [1, 2, 3, 4, 5].map(crate::contract::rid);
    let turn_taken = |outcome: &Result<WriteOutcome>| matches!(outcome, Err(StoreError::TurnTaken { .. }));
    let start = |r: &String, seq| claiming(write(r, seq, "Running"), &[]);
    // The first release of a product that never had a turn gets it.
    one(a.write(vec![write(&r2, 0, "Queued")]).await.unwrap()).unwrap();
    one(a.write(vec![start(&r2, 1)]).await.unwrap()).unwrap();
    // An older release created on another replica meanwhile waits for the one holding the turn, and
    // nothing of its refused write is stored.
    one(b.write(vec![write(&r1, 0, "Queued")]).await.unwrap()).unwrap();
    assert!(turn_taken(&b.write(vec![start(&r1, 1)]).await.unwrap()[0]), "r2 runs");
    assert_eq!(b.release_events(&crate::contract::id_of(&r1)).await.unwrap().len(), 1);
    // A newer release waits for the older ones, queued or running.
    one(a.write(vec![write(&r3, 0, "Queued")]).await.unwrap()).unwrap();
    assert!(turn_taken(&b.write(vec![start(&r3, 1)]).await.unwrap()[0]));
    // Once the running one ended, the oldest waiting release gets the turn, the newer still waits.
    one(a.write(vec![write(&r2, 2, "Succeeded")]).await.unwrap()).unwrap();
    assert!(turn_taken(&a.write(vec![start(&r3, 1)]).await.unwrap()[0]), "an older release is still queued");
    one(b.write(vec![start(&r1, 1)]).await.unwrap()).unwrap();
    // Another product's turn is its own.
    let other = |r: &String, seq, status| {
        let Write::Release(mut w) = claiming(write(r, seq, status), &[]) else { unreachable!() };
        w.product = "other".into();
        w.row.product = "other".into();
        Write::Release(w)
    };
    one(b.write(vec![other(&r4, 0, "Queued")]).await.unwrap()).unwrap();
    one(b.write(vec![other(&r4, 1, "Running")]).await.unwrap()).unwrap();
    // Claimed at the same moment on both replicas, exactly one of two releases gets the turn: the
    // older one, whichever commits first.
    one(b.write(vec![write(&r1, 2, "Terminated")]).await.unwrap()).unwrap();
    one(b.write(vec![write(&r5, 0, "Queued")]).await.unwrap()).unwrap();
    let (three, five) = tokio::join!(a.write(vec![start(&r3, 1)]), b.write(vec![start(&r5, 1)]));
    assert!(three.unwrap()[0].is_ok(), "the older of two queued releases gets the turn");
    assert!(turn_taken(&five.unwrap()[0]), "the newer one waits");
}

/// `write` starting a queued release, taking its product's turn with `ending` counted as ended.
fn claiming(write: Write, ending: &[&String]) -> Write {
    let Write::Release(mut w) = write else { unreachable!() };
    w.turn = Some(TurnClaim { ending: ending.iter().map(|e| e.to_string()).collect() });
    Write::Release(w)
}

#[tokio::test]
async fn a_queue_drains_in_one_write_taking_the_turn_where_the_predecessor_ends() {
    let Some((_db, a, b)) = two().await else { return };
    let (a, b) = (replica(&a, "a", 60_000), replica(&b, "b", 60_000));
    let [r1, r2, r3, r4, r5] = [1, 2, 3, 4, 5].map(crate::contract::rid);
    for r in [&r1, &r2, &r3] {
        one(a.write(vec![write(r, 0, "Queued")]).await.unwrap()).unwrap();
    }
    one(a.write(vec![claiming(write(&r1, 1, "Running"), &[])]).await.unwrap()).unwrap();
    let turn_taken = |outcome: &Result<WriteOutcome>| matches!(outcome, Err(StoreError::TurnTaken { .. }));
    // Alone, a claim finds its predecessor still running: refused, nothing written.
    let alone = a.write(vec![claiming(write(&r2, 1, "Running"), &[&r1])]).await.unwrap();
    assert!(turn_taken(&alone[0]), "{alone:?}");
    // A predecessor whose own write is refused does not end: its successor is refused too.
    let refused = a.write(vec![write(&r1, 7, "Succeeded"), claiming(write(&r2, 1, "Succeeded"), &[&r1])]).await;
    let refused = refused.unwrap();
    assert!(matches!(refused[0], Err(StoreError::SequenceConflict { .. })) && turn_taken(&refused[1]), "{refused:?}");
    // One write: r1 ends, r2 starts and ends, r3 starts and keeps the turn.
    let drained = a
        .write(vec![
            write(&r1, 2, "Succeeded"),
            claiming(write(&r2, 1, "Succeeded"), &[&r1]),
            claiming(write(&r3, 1, "Running"), &[&r1, &r2]),
        ])
        .await
        .unwrap();
    assert!(drained.iter().all(Result::is_ok), "{drained:?}");
    one(b.write(vec![write(&r4, 0, "Queued")]).await.unwrap()).unwrap();
    let waits = b.write(vec![claiming(write(&r4, 1, "Running"), &[])]).await.unwrap();
    assert!(turn_taken(&waits[0]), "r3 holds the turn and runs: {waits:?}");
    // Another replica's older queued release goes first: r5's claim after r3 is refused.
    one(a.write(vec![write(&r5, 0, "Queued")]).await.unwrap()).unwrap();
    let skipped = a.write(vec![write(&r3, 2, "Succeeded"), claiming(write(&r5, 1, "Running"), &[&r3])]).await.unwrap();
    assert!(skipped[0].is_ok() && turn_taken(&skipped[1]), "{skipped:?}");
    let four = b.write(vec![claiming(write(&r4, 1, "Running"), &[])]).await.unwrap();
    assert!(four[0].is_ok(), "the older queued release gets the turn: {four:?}");
    let events = a.release_events(&crate::contract::id_of(&r5)).await.unwrap();
    assert_eq!(events.len(), 1, "nothing of a refused write is stored");
}

#[tokio::test]
async fn a_turn_claim_mixed_with_other_writes_is_refused_not_written_unchecked() {
    let Some((_db, a, _b)) = two().await else { return };
    let a = replica(&a, "a", 60_000);
    let [r1, r2] = [1, 2].map(crate::contract::rid);
    for r in [&r1, &r2] {
        one(a.write(vec![write(r, 0, "Queued")]).await.unwrap()).unwrap();
    }
    one(a.write(vec![write(&r1, 1, "Running")]).await.unwrap()).unwrap();
    // Beside a product event the batch takes the general path, which cannot check a turn.
    let event = Write::ProductEvent {
        product: "shop".into(),
        kind: "note".into(),
        message: "beside a claim".into(),
        at: jiff::Timestamp::now(),
    };
    let mixed = a.write(vec![claiming(write(&r2, 1, "Running"), &[]), event]).await.unwrap();
    assert!(matches!(&mixed[0], Err(StoreError::Internal { .. })), "{mixed:?}");
    assert!(mixed[1].is_ok(), "the other write commits: {mixed:?}");
    assert_eq!(a.release_events(&crate::contract::id_of(&r2)).await.unwrap().len(), 1, "r2 did not start");
}

#[tokio::test]
async fn a_batch_of_release_writes_commits_those_whose_checks_pass() {
    let Some((_db, a, b)) = two().await else { return };
    let (a, b) = (replica(&a, "a", 60_000), replica(&b, "b", 60_000));
    let [r1, r2, r3] = [1, 2, 3].map(crate::contract::rid);
    for r in [&r1, &r2] {
        one(a.write(vec![write(r, 0, "Running")]).await.unwrap()).unwrap();
    }
    one(b.write(vec![write(&r3, 0, "Running")]).await.unwrap()).unwrap();
    let mut sub = a.subscribe();
    // r1 in sequence, r2 out of sequence, r3 another replica's: only r1 is written.
    let outcomes = a.write(vec![write(&r1, 1, "Running"), write(&r2, 5, "Running"), write(&r3, 1, "Running")]).await;
    let outcomes = outcomes.unwrap();
    assert_eq!(outcomes.len(), 3);
    assert!(matches!(&outcomes[0], Ok(WriteOutcome::Events(gids)) if gids.len() == 1), "{outcomes:?}");
    assert!(matches!(&outcomes[1], Err(StoreError::SequenceConflict { expected: 5, actual: 1, .. })), "{outcomes:?}");
    assert!(matches!(&outcomes[2], Err(StoreError::Fenced { .. })), "{outcomes:?}");
    let seqs = |r: &str| {
        let (a, r) = (a.clone(), r.to_owned());
        async move { a.release_events(&crate::contract::id_of(&r)).await.unwrap().len() }
    };
    assert_eq!((seqs(&r1).await, seqs(&r2).await, seqs(&r3).await), (2, 1, 1));
    let Ok(WriteOutcome::Events(gids)) = &outcomes[0] else { unreachable!() };
    // The committed event reaches subscribers (after earlier ones still on their way).
    loop {
        let gid = sub.recv().await.unwrap().gid;
        assert!(gid <= gids[0], "nothing after the batch's event: {gid}");
        if gid == gids[0] {
            break;
        }
    }
    // Two in sequence: both written, their events in order.
    let outcomes = a.write(vec![write(&r1, 2, "Running"), write(&r2, 1, "Succeeded")]).await.unwrap();
    let gids: Vec<i64> = outcomes
        .into_iter()
        .flat_map(|o| match o.unwrap() {
            WriteOutcome::Events(g) => g,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(gids.len(), 2);
    assert!(gids[0] < gids[1]);
    let page = a.list_releases(ReleaseFilter { statuses: vec!["Succeeded".into()], ..Default::default() }).await;
    assert_eq!(page.unwrap().items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), [r2]);
}

#[tokio::test]
async fn a_database_before_the_outcomes_projection_gets_it_from_its_release_views() {
    let Some(db) = Postgres::create().await else { return };
    drop(db.open().await);
    let (client, connection) = tokio_postgres::connect(&db.location(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // The schema of migrations 0001–0007, then one release written by that build.
    client
        .batch_execute(
            "DROP TABLE env_outcomes; DROP TABLE dora_weeks; DROP TABLE dora_tracks;
             DELETE FROM _sqlx_migrations WHERE version >= 8",
        )
        .await
        .unwrap();
    let view = crate::sqlite::view_with_environments(R1, 2);
    client
        .execute(
            "INSERT INTO releases (id, product, flow, flow_version, status, initiator, created_at, finished_at, \
             reason, retries, version, environments, next_seq) \
             VALUES ($1, 'shop', 'standard', '3.0', 'Failed', 'ana', now(), NULL, NULL, 2, '1.4.2', '{}', 2)",
            &[&R1],
        )
        .await
        .unwrap();
    client.execute("INSERT INTO release_views (id, view) VALUES ($1, $2)", &[&R1, &view]).await.unwrap();
    let store = db.open().await;
    let outcomes = store.outcomes(OutcomeQuery { product: Some("shop".into()), ..Default::default() }).await.unwrap();
    let seen: Vec<_> =
        outcomes.iter().map(|o| (o.environment.as_str(), o.status.as_str(), o.after_action, o.attempt)).collect();
    assert_eq!(seen, [("dev", "Successful", true, 2), ("qa", "Failed", true, 2), ("uat", "Failed", false, 2)]);
    assert_eq!(outcomes[0].at, crate::contract::t("2026-01-01T00:10:00.123456Z"));
    assert_eq!(outcomes[0].committed_at, crate::contract::t("2026-01-01T00:00:00Z")); // Then migration 0009 rolls them up: dev's deployment, qa's failure (not restored), uat's nothing.
    let weeks = store.dora_weeks(OutcomeQuery::default()).await.unwrap();
    let seen: Vec<_> =
        weeks.iter().map(|w| (w.environment.as_str(), w.rollup.deployments, w.rollup.unrestored)).collect();
    assert_eq!(seen, [("dev", 1, 0), ("qa", 0, 1), ("uat", 0, 0)]);
}

#[tokio::test]
async fn a_database_before_the_dora_rollups_gets_them_from_its_outcomes() {
    let Some(db) = Postgres::create().await else { return };
    let live = {
        let store = db.open().await;
        crate::contract::dora_history(&store).await;
        (
            store.dora_weeks(OutcomeQuery::default()).await.unwrap(),
            store.decided_outcomes(OutcomeQuery::default()).await.unwrap(),
        )
    };
    assert_eq!(live.0.len(), 2);
    let (client, connection) = tokio_postgres::connect(&db.location(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // The schema of migrations 0001–0008, with its outcomes.
    client
        .batch_execute(
            "DROP TABLE dora_weeks; DROP TABLE dora_tracks; ALTER TABLE env_outcomes DROP COLUMN failure;
             ALTER TABLE env_outcomes DROP COLUMN restore_secs; DELETE FROM _sqlx_migrations WHERE version = 9",
        )
        .await
        .unwrap();
    let store = db.open().await;
    let rebuilt = (
        store.dora_weeks(OutcomeQuery::default()).await.unwrap(),
        store.decided_outcomes(OutcomeQuery::default()).await.unwrap(),
    );
    assert_eq!(rebuilt, live, "the backfill builds what recording built");
}
