//! What is particular to the SQLite backend: databases of earlier builds and layouts open and keep
//! their data, and the record of applied migrations stays the one sqlx keeps.

use std::path::{Path, PathBuf};

use ferry_store::*;
use serde_json::json;
use sha2::{Digest, Sha384};

use crate::contract::{one, release_write};

/// The table of applied migrations, as sqlx creates it.
const MIGRATIONS_TABLE: &str = "CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);";

fn migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite")
}

/// A copy of the fixture written by the sqlx-based store (see `fixture.rs`), in a temporary directory.
fn sqlx_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlx-0005.db"), &path).unwrap();
    (dir, path)
}

/// `_sqlx_migrations` without the columns that differ from one run to the next.
fn applied(path: &Path) -> Vec<(i64, String, bool, Vec<u8>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt =
        conn.prepare("SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY version").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
}

#[tokio::test]
async fn a_database_written_by_the_sqlx_based_store_opens_and_reads_back() {
    let (_dir, path) = sqlx_fixture();
    let before = applied(&path);
    assert_eq!(before.len(), 5);
    let store = SqliteStore::open(&path).await.unwrap();
    crate::fixture::check(&store).await;
    drop(store);
    let after = applied(&path);
    assert_eq!(after[..5], before[..], "the earlier records are kept as they were");
    assert_eq!(
        after[5..].iter().map(|m| (m.0, m.1.as_str(), m.2)).collect::<Vec<_>>(),
        [
            (6, "runs", true),
            (7, "notification failures", true),
            (8, "freezes", true),
            (9, "env outcomes", true),
            (10, "dora rollups", true)
        ]
    );
}

#[tokio::test]
async fn runs_started_before_the_runs_projection_are_filled_in_from_their_events() {
    let (_dir, path) = sqlx_fixture();
    let release = "019b0000-0000-7000-8000-00000000000f";
    let run = "019b0000-0000-7000-8000-0000000000aa";
    let conn = rusqlite::Connection::open(&path).unwrap();
    let body = serde_json::json!({
        "type": "WorkflowRunStarted", "runId": run, "workflow": "smoke",
        "target": {"kind": "postAction", "env": "qa", "app": "shop-api-qa"},
        "steps": [{"name": "check", "dependsOn": []}], "at": "2026-01-01T00:01:00Z",
    });
    conn.execute(
        "INSERT INTO events (release_id, product, seq, at, body) VALUES (?, 'shop', 0, '2026-01-01T00:01:00.000000Z', ?)",
        rusqlite::params![release, body.to_string()],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).await.unwrap();
    let runs = store.runs(&crate::contract::id_of(release)).await.unwrap();
    assert_eq!(runs.len(), 1);
    let row = &runs[0];
    assert!(!row.detailed, "only the run's place is known");
    assert_eq!(row.run.id.to_string(), run);
    assert_eq!(row.run.workflow.as_str(), "smoke");
    assert_eq!(row.run.target.env().map(|e| e.as_str()), Some("qa"));
    assert_eq!(row.run.target.app().map(|a| a.as_str()), Some("shop-api-qa"));
    assert_eq!(row.run.started_at.to_string(), "2026-01-01T00:01:00Z");
    assert!(row.run.steps.is_empty());
}

#[tokio::test]
async fn a_new_database_records_its_migrations_as_sqlx_does() {
    let (_fixture_dir, fixture) = sqlx_fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let recorded = applied(&path);
    assert_eq!(recorded[..5], applied(&fixture)[..]);
    for (version, description, success, checksum) in &recorded {
        let file = std::fs::read_dir(migrations())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{version:04}_")))
            .unwrap();
        let expected = file.file_stem().unwrap().to_str().unwrap().split_once('_').unwrap().1.replace('_', " ");
        assert_eq!((description, *success), (&expected, true));
        assert_eq!(*checksum, Sha384::digest(std::fs::read(&file).unwrap()).to_vec());
    }
}

#[tokio::test]
async fn a_database_whose_migrations_differ_from_this_build_is_refused() {
    for (change, expect) in [
        ("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2", "migration 2 (pull requests) differs"),
        ("INSERT INTO _sqlx_migrations VALUES (9999, 'later', '2026-01-01', TRUE, x'00', 1)", "migration 9999"),
        ("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 5", "migration 5 was left half-applied"),
    ] {
        let (_dir, path) = sqlx_fixture();
        rusqlite::Connection::open(&path).unwrap().execute(change, []).unwrap();
        let err = SqliteStore::open(&path).await.err().unwrap();
        assert!(matches!(err, StoreError::Migrate { .. }), "{err:?}");
        assert!(err.to_string().contains(expect), "{change}: {err}");
    }
}

#[tokio::test]
async fn a_database_of_the_former_release_layout_keeps_its_releases_and_views() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    // The schema as it was before the views moved out (migrations 0001–0003, recorded as sqlx records
    // them), with two releases.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS_TABLE).unwrap();
        for (version, description) in [(1, "init"), (2, "pull_requests"), (3, "images")] {
            let sql = std::fs::read_to_string(migrations().join(format!("{version:04}_{description}.sql"))).unwrap();
            conn.execute_batch(&sql).unwrap();
            conn.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?, ?, TRUE, ?, 1)",
                rusqlite::params![version, description.replace('_', " "), Sha384::digest(sql.as_bytes()).to_vec()],
            )
            .unwrap();
        }
        for (id, status, finished) in
            [(crate::contract::R1, "Succeeded", Some("2026-01-01T01:00:00Z")), (crate::contract::R2, "Running", None)]
        {
            conn.execute(
                "INSERT INTO releases (id, product, flow, flow_version, status, initiator, created_at, finished_at, \
                 reason, retries, version, environments, next_seq, view) \
                 VALUES (?, 'shop', 'standard', '3.0', ?, 'ana', '2026-01-01T00:00:00Z', ?, NULL, 1, '1.4.2', '[]', 2, ?)",
                rusqlite::params![id, status, finished, json!({"id": id, "status": status, "big": "x".repeat(3000)}).to_string()],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let page = store.list_releases(ReleaseFilter { product: Some("shop".into()), limit: 10, ..Default::default() });
    let page = page.await.unwrap();
    let listed: Vec<_> =
        page.items.iter().map(|r| (r.id.as_str(), r.status.as_str(), r.retries, r.version.as_deref())).collect();
    assert_eq!(
        listed,
        [(crate::contract::R2, "Running", 1, Some("1.4.2")), (crate::contract::R1, "Succeeded", 1, Some("1.4.2"))]
    );
    assert_eq!(store.active_releases().await.unwrap(), [crate::contract::id_of(crate::contract::R2)]);
    let view = store.release_view(&crate::contract::id_of(crate::contract::R1)).await.unwrap().unwrap();
    assert_eq!(view["status"], "Succeeded");
    assert_eq!(view["big"].as_str().map(str::len), Some(3000));
    // The release goes on where it was: its sequence is kept, and a write replaces the view.
    let mut write = release_write(crate::contract::R2, 2, 1, "Succeeded");
    if let Write::Release(w) = &mut write {
        w.view = Some(json!({"id": crate::contract::R2, "status": "Succeeded"}));
    }
    one(store.write(vec![write]).await.unwrap()).unwrap();
    assert_eq!(
        store.release_view(&crate::contract::id_of(crate::contract::R2)).await.unwrap().unwrap()["status"],
        "Succeeded"
    );
    let stale = one(store.write(vec![release_write(crate::contract::R1, 0, 1, "Running")]).await.unwrap());
    assert!(matches!(stale, Err(StoreError::SequenceConflict { actual: 2, .. })), "{stale:?}");
}

/// The view of a release with environments (what the backfill of the outcomes reads).
pub(crate) fn view_with_environments(id: &str, retries: u32) -> serde_json::Value {
    json!({
        "id": id, "status": "Failed", "retries": retries,
        "trigger": {"date": "2026-01-01T00:00:00Z"},
        "environments": [
            {"name": "dev", "status": "Successful", "finishedAt": "2026-01-01T00:10:00.123456Z", "applications": []},
            {"name": "qa", "status": "Failed", "finishedAt": "2026-01-01T00:20:00Z",
             "applications": [{"action": {"status": "Succeeded"}}, {"action": null}]},
            {"name": "uat", "status": "Failed", "finishedAt": "2026-01-01T00:30:00Z",
             "applications": [{"action": {"status": "Failed"}}]},
            {"name": "prod", "status": "Pending", "finishedAt": null, "applications": []},
        ],
    })
}

#[tokio::test]
async fn a_database_before_the_outcomes_projection_gets_it_from_its_release_views() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    // Migrations 0001–0008 as sqlx records them, then one release written by that build.
    {
        drop(SqliteStore::open(&path).await.unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE env_outcomes; DROP TABLE dora_weeks; DROP TABLE dora_tracks;
             DELETE FROM _sqlx_migrations WHERE version >= 9",
        )
        .unwrap();
    }
    {
        let store = SqliteStore::open_with(&path, false).await;
        assert!(store.is_err(), "a store that lacks a migration is refused when it may not migrate");
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO releases (id, product, flow, flow_version, status, initiator, created_at, finished_at, \
             reason, retries, version, environments, next_seq) \
             VALUES (?, 'shop', 'standard', '3.0', 'Failed', 'ana', '2026-01-01T00:00:00Z', NULL, NULL, 2, '1.4.2', '{}', 2)",
            [crate::contract::R1],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO release_views (id, view) VALUES (?, ?)",
            rusqlite::params![crate::contract::R1, view_with_environments(crate::contract::R1, 2).to_string()],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let outcomes = store.outcomes(OutcomeQuery { product: Some("shop".into()), ..Default::default() }).await.unwrap();
    let t = crate::contract::t;
    let expect = |env: &str, status: &str, after_action, at| OutcomeRow {
        release_id: crate::contract::R1.into(),
        product: "shop".into(),
        environment: env.into(),
        flow: "standard".into(),
        attempt: 2,
        status: status.into(),
        after_action,
        committed_at: t("2026-01-01T00:00:00Z"),
        at: t(at),
    };
    assert_eq!(
        outcomes,
        [
            // Backfilled times keep milliseconds.
            expect("dev", "Successful", true, "2026-01-01T00:10:00.123Z"),
            expect("qa", "Failed", true, "2026-01-01T00:20:00Z"),
            expect("uat", "Failed", false, "2026-01-01T00:30:00Z"),
        ]
    );
    // Times compare as the store writes them.
    let since = store.outcomes(OutcomeQuery { since: Some(t("2026-01-01T00:20:00Z")), ..Default::default() });
    assert_eq!(since.await.unwrap().len(), 2); // Then migration 0010 rolls them up: dev's deployment, qa's failure (not restored), uat's nothing.
    let weeks = store.dora_weeks(OutcomeQuery::default()).await.unwrap();
    let seen: Vec<_> =
        weeks.iter().map(|w| (w.environment.as_str(), w.week, w.rollup.deployments, w.rollup.unrestored)).collect();
    let monday = t("2025-12-29T00:00:00Z");
    assert_eq!(seen, [("dev", monday, 1, 0), ("qa", monday, 0, 1), ("uat", monday, 0, 0)]);
}

/// What a database has once outcomes are recorded, for comparing before and after a migration.
async fn dora_state(store: &impl Store) -> (Vec<DoraWeekRow>, Vec<DecidedOutcomeRow>) {
    (
        store.dora_weeks(OutcomeQuery::default()).await.unwrap(),
        store.decided_outcomes(OutcomeQuery::default()).await.unwrap(),
    )
}

#[tokio::test]
async fn a_database_before_the_dora_rollups_gets_them_from_its_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let live = {
        let store = SqliteStore::open(&path).await.unwrap();
        crate::contract::dora_history(&store).await;
        dora_state(&store).await
    };
    assert_eq!(live.0.len(), 2);
    // The schema of migrations 0001–0009, with its outcomes.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE dora_weeks; DROP TABLE dora_tracks; ALTER TABLE env_outcomes DROP COLUMN failure;
             ALTER TABLE env_outcomes DROP COLUMN restore_secs; DELETE FROM _sqlx_migrations WHERE version = 10",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(dora_state(&store).await, live, "the backfill builds what recording built");
    // And recording goes on from the tracks it built: a rollback of the last deployment.
    let mut rollback =
        crate::contract::outcome(crate::contract::R1, "shop", "prod", "Successful", 1, "2026-01-14T01:00:00Z");
    rollback.flow = "rollback".into();
    let Write::Release(mut w) = release_write(crate::contract::R1, 2, 1, "Running") else { unreachable!() };
    w.outcomes = vec![rollback];
    one(store.write(vec![Write::Release(w)]).await.unwrap()).unwrap();
    let weeks = store.dora_weeks(OutcomeQuery::default()).await.unwrap();
    assert_eq!((weeks[1].rollup.deployments, weeks[1].rollup.change_failures), (3, 2), "the rollback is rolled back");
}
