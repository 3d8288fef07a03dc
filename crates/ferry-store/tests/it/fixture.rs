//! A database written by an earlier build of the store must open and read back unchanged.
//!
//! `tests/fixtures/sqlx-0005.db` was written by the sqlx-based SQLite store (migrations 0001–0005
//! applied and recorded by sqlx in `_sqlx_migrations`) with [`write_all`], on that build (commit
//! 13584e5), then `sqlite3 PATH 'PRAGMA wal_checkpoint(TRUNCATE)'` to fold its WAL into the one file
//! (still in WAL mode). It stands for databases in the field and is not regenerated. [`check`] reads every table back through the [`Store`] trait and then writes on.

use std::str::FromStr;

use ferry_store::*;
use jiff::Timestamp;
use serde_json::json;

fn t(s: &str) -> Timestamp {
    Timestamp::from_str(s).expect("a valid timestamp")
}

/// Release ids of the fixture.
pub const R1: &str = "019b0000-0000-7000-8000-000000000001";
/// A running release.
pub const R2: &str = "019b0000-0000-7000-8000-000000000002";
/// A queued release of another product.
pub const R3: &str = "019b0000-0000-7000-8000-000000000003";

fn event(at: &str, n: i64) -> NewEvent {
    NewEvent { at: t(at), body: json!({"type": "FixtureEvent", "n": n, "text": "ünïcödé ✓"}) }
}

fn release_row(id: &str, product: &str, status: &str, created: &str, finished: Option<&str>) -> ReleaseRow {
    ReleaseRow {
        id: id.into(),
        product: product.into(),
        flow: "standard".into(),
        flow_version: Some("3.0".into()),
        status: status.into(),
        initiator: "alice".into(),
        created_at: t(created),
        finished_at: finished.map(t),
        reason: (status == "Failed").then(|| "qa failed".into()),
        retries: 1,
        version: Some("1.4.2".into()),
        environments: json!({"dev": "Successful", "qa": status}),
    }
}

fn app(application: &str, env: &str, health: &str, release: Option<&str>) -> AppStateRow {
    AppStateRow {
        application: application.into(),
        product: "shop".into(),
        environment: env.into(),
        component: application.split('-').nth(1).unwrap_or_default().into(),
        version: Some("1.4.2".into()),
        revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
        sync: "Synced".into(),
        health: health.into(),
        message: (health != "Healthy").then(|| "probe failed".into()),
        release_id: release.map(Into::into),
        updated_at: t("2026-01-01T00:05:00.123456Z"),
    }
}

fn release(
    row: ReleaseRow,
    first_seq: i64,
    events: Vec<NewEvent>,
    view: serde_json::Value,
    apps: Vec<AppStateRow>,
) -> Write {
    Write::Release(Box::new(ReleaseWrite {
        release_id: row.id.clone(),
        product: row.product.clone(),
        first_seq,
        events,
        row,
        view: Some(view),
        app_states: apps,
        runs: Vec::new(),
        outcomes: Vec::new(),
        turn: None,
    }))
}

fn r1_row() -> ReleaseRow {
    release_row(R1, "shop", "Failed", "2026-01-01T00:00:00Z", Some("2026-01-01T00:10:00Z"))
}

fn view(id: &str, status: &str) -> serde_json::Value {
    json!({"id": id, "status": status, "environments": [{"name": "dev"}, {"name": "qa"}], "big": "v".repeat(2500)})
}

fn pull_request(environment: &str, at: &str) -> PullRequestRow {
    PullRequestRow {
        number: None,
        release_id: R1.into(),
        product: "shop".into(),
        environment: environment.into(),
        applications: vec![format!("shop-api-{environment}")],
        repo: "https://git.example.com/shop/gitops.git".into(),
        branch: format!("ferry/shop/{environment}/{R1}"),
        target: "main".into(),
        state: "open".into(),
        head: "89abcdef0123456789abcdef0123456789abcdef".into(),
        merge_commit: None,
        comment: None,
        title: format!("promote shop 1.4.2 to {environment}"),
        created_at: t(at),
        updated_at: t(at),
    }
}

fn image(tag: &str, revision: &str) -> ImageRow {
    ImageRow {
        id: None,
        image: format!("reg.example/shop/api:{tag}"),
        repository: "reg.example/shop/api".into(),
        tag: Some(tag.into()),
        digest: Some(format!("sha256:{revision}")),
        git_repo: "https://git.example.com/shop/api.git".into(),
        git_revision: revision.into(),
        git_branch: Some("main".into()),
        annotations: [("org.opencontainers.image.revision".to_owned(), revision.to_owned())].into(),
        issues: Some("SHOP-1".into()),
        reported_by: "ci".into(),
        reported_at: t("2026-01-01T00:00:30Z"),
    }
}

fn token(name: &str, hash: &str, role: &str) -> TokenRow {
    TokenRow {
        name: name.into(),
        hash: hash.into(),
        role: role.into(),
        products: if role == "admin" { vec![] } else { vec!["shop*".into()] },
        env_types: if role == "admin" { vec![] } else { vec!["non-production".into()] },
        created_at: t("2026-01-01T00:00:00Z"),
        created_by: "bootstrap".into(),
        expires_at: (role != "admin").then(|| t("2026-06-01T00:00:00Z")),
        revoked_at: None,
    }
}

fn session() -> SessionRow {
    SessionRow {
        hash: "5e55".into(),
        token: "root".into(),
        created_at: t("2026-01-01T01:00:00Z"),
        expires_at: t("2026-01-01T13:00:00Z"),
    }
}

fn audit(at: &str, action: &str) -> AuditRow {
    AuditRow {
        id: None,
        at: t(at),
        actor: "root".into(),
        action: action.into(),
        target: format!("/api/v1/releases/{R1}/terminate"),
        status: 202,
        outcome: "ok".into(),
        source: "127.0.0.1:40000".into(),
        detail: None,
    }
}

fn log_line(step: &str, text: &str) -> LogLine {
    LogLine {
        release_id: R1.into(),
        run_id: "run-1".into(),
        step: step.into(),
        at: t("2026-01-01T00:01:00.000001Z"),
        stream: if step == "test" { "stderr".into() } else { "stdout".into() },
        text: text.into(),
    }
}

/// The writes the fixture holds, in the order they were made (one store write each).
pub fn writes() -> Vec<Vec<Write>> {
    vec![
        vec![
            Write::Token(Box::new(token("root", "aa11", "admin"))),
            Write::Token(Box::new(token("ci", "bb22", "promoter"))),
        ],
        vec![Write::Config {
            applied_by: "root".into(),
            catalog: json!({"products": {"shop": {}}}),
            at: t("2026-01-01T00:00:00Z"),
        }],
        vec![release(
            release_row(R1, "shop", "Running", "2026-01-01T00:00:00Z", None),
            0,
            vec![event("2026-01-01T00:00:00Z", 0), event("2026-01-01T00:00:01Z", 1), event("2026-01-01T00:00:02Z", 2)],
            view(R1, "Running"),
            vec![app("shop-api-dev", "dev", "Healthy", Some(R1))],
        )],
        vec![
            release(
                release_row(R2, "shop", "Running", "2026-01-02T00:00:00Z", None),
                0,
                vec![event("2026-01-02T00:00:00Z", 0), event("2026-01-02T00:00:01Z", 1)],
                view(R2, "Running"),
                vec![],
            ),
            release(
                release_row(R3, "cart", "Queued", "2026-01-03T00:00:00Z", None),
                0,
                vec![event("2026-01-03T00:00:00Z", 0)],
                view(R3, "Queued"),
                vec![],
            ),
        ],
        vec![Write::Logs(vec![
            log_line("build", "compiling"),
            log_line("test", "1 failed"),
            log_line("build", "done"),
        ])],
        vec![Write::ProductEvent {
            product: "shop".into(),
            kind: "no-flow-matched".into(),
            message: "commit abc matched no flow".into(),
            at: t("2026-01-01T00:02:00Z"),
        }],
        vec![release(
            r1_row(),
            3,
            vec![event("2026-01-01T00:10:00Z", 3)],
            view(R1, "Failed"),
            vec![app("shop-api-qa", "qa", "Degraded", Some(R1))],
        )],
        vec![Write::AppStates(vec![app("shop-web-dev", "dev", "Healthy", None)])],
        vec![Write::PullRequest(pull_request("qa", "2026-01-01T00:03:00Z"))],
        vec![Write::PullRequest(pull_request("prod", "2026-01-01T00:04:00Z"))],
        vec![Write::PullRequest(PullRequestRow {
            number: Some(1),
            state: "merged".into(),
            merge_commit: Some("fedcba9876543210fedcba9876543210fedcba98".into()),
            updated_at: t("2026-01-01T00:06:00Z"),
            ..pull_request("qa", "2026-01-01T00:03:00Z")
        })],
        vec![
            Write::ImageReport(Box::new(image("1.4.1", "r141"))),
            Write::ImageReport(Box::new(image("1.4.2", "r142"))),
        ],
        vec![Write::ReleaseNotes {
            release_id: R1.into(),
            notes: json!({"commits": [{"sha": "abc", "subject": "fix (#12)"}], "issues": ["SHOP-1"]}),
            at: t("2026-01-01T00:11:00Z"),
        }],
        vec![Write::Kv { key: "cursor/shop".into(), value: "abc".into() }],
        vec![Write::Kv { key: "cursor/cart".into(), value: "def".into() }],
        vec![Write::Session(session())],
        vec![Write::RevokeToken { name: "ci".into(), at: t("2026-01-01T02:00:00Z") }],
        vec![Write::Audit(Box::new(audit("2026-01-01T00:10:00Z", "release.terminate")))],
        vec![Write::Audit(Box::new(audit("2026-01-01T02:00:00Z", "token.revoke")))],
        vec![Write::Config {
            applied_by: "root".into(),
            catalog: json!({"products": {"shop": {}, "cart": {}}}),
            at: t("2026-01-01T03:00:00Z"),
        }],
    ]
}

/// Writes [`writes`] to a store (how the fixture was made).
pub async fn write_all(store: &impl Store) {
    for batch in writes() {
        for outcome in store.write(batch).await.expect("the store takes the write") {
            outcome.expect("each fixture write succeeds");
        }
    }
}

/// Reads everything the fixture holds back through the store, then writes on where it left off.
pub async fn check(store: &impl Store) {
    let seqs = |events: &[StoredEvent]| events.iter().map(|e| (e.seq, e.at, e.body.clone())).collect::<Vec<_>>();
    let r1 = store.release_events(&crate::contract::id_of(R1)).await.unwrap();
    assert_eq!(
        seqs(&r1),
        (0..4)
            .map(|n| {
                let e = event(
                    ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:10:00Z"]
                        [n as usize],
                    n,
                );
                (n, e.at, e.body)
            })
            .collect::<Vec<_>>()
    );
    assert!(r1.iter().all(|e| e.release_id == R1 && e.product == "shop"));
    assert_eq!(store.release_events(&crate::contract::id_of(R2)).await.unwrap().len(), 2);
    assert_eq!(store.release_events(&crate::contract::id_of(R3)).await.unwrap().len(), 1);
    let all = store.events_after(0, EventFilter::All, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.gid).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    let cart = store.events_after(0, EventFilter::Product("cart".into()), 100).await.unwrap();
    assert_eq!(cart.iter().map(|e| e.release_id.as_str()).collect::<Vec<_>>(), [R3]);

    assert_eq!(store.active_releases().await.unwrap(), [R2, R3].map(crate::contract::id_of));
    let page = store.list_releases(ReleaseFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(
        page.items,
        [
            release_row(R3, "cart", "Queued", "2026-01-03T00:00:00Z", None),
            release_row(R2, "shop", "Running", "2026-01-02T00:00:00Z", None),
            r1_row(),
        ]
    );
    assert_eq!(page.next, None);
    let failed = ReleaseFilter {
        product: Some("shop".into()),
        statuses: vec!["Failed".into()],
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.list_releases(failed).await.unwrap().items, [r1_row()]);
    let latest = store.latest_releases().await.unwrap();
    assert_eq!(latest.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [R3, R2]);
    assert_eq!(store.release_view(&crate::contract::id_of(R1)).await.unwrap(), Some(view(R1, "Failed")));
    assert_eq!(store.release_view(&crate::contract::id_of(R3)).await.unwrap(), Some(view(R3, "Queued")));

    assert_eq!(
        store.app_states(&crate::contract::product("shop")).await.unwrap(),
        [
            app("shop-api-dev", "dev", "Healthy", Some(R1)),
            app("shop-web-dev", "dev", "Healthy", None),
            app("shop-api-qa", "qa", "Degraded", Some(R1)),
        ]
    );
    let logs = store.logs(LogQuery::release(crate::contract::id_of(R1), 100)).await.unwrap();
    assert_eq!(
        logs.iter().map(|l| (l.id, l.line.clone())).collect::<Vec<_>>(),
        [(1, log_line("build", "compiling")), (2, log_line("test", "1 failed")), (3, log_line("build", "done"))]
    );
    let config = store.latest_config().await.unwrap().unwrap();
    assert_eq!(
        config,
        ConfigVersion {
            version: 2,
            applied_at: t("2026-01-01T03:00:00Z"),
            applied_by: "root".into(),
            catalog: json!({"products": {"shop": {}, "cart": {}}}),
        }
    );
    let product_events = store.product_events(&crate::contract::product("shop"), 10).await.unwrap();
    assert_eq!(
        product_events,
        [ProductEvent {
            id: 7,
            product: "shop".into(),
            at: t("2026-01-01T00:02:00Z"),
            kind: "no-flow-matched".into(),
            message: "commit abc matched no flow".into(),
        }]
    );
    assert_eq!(store.kv_get("cursor/shop").await.unwrap().as_deref(), Some("abc"));
    assert_eq!(store.kv_get("cursor/cart").await.unwrap().as_deref(), Some("def"));

    let prs = store.pull_requests(PullRequestFilter::default()).await.unwrap();
    let merged = PullRequestRow {
        number: Some(1),
        state: "merged".into(),
        merge_commit: Some("fedcba9876543210fedcba9876543210fedcba98".into()),
        updated_at: t("2026-01-01T00:06:00Z"),
        ..pull_request("qa", "2026-01-01T00:03:00Z")
    };
    assert_eq!(
        prs,
        [PullRequestRow { number: Some(2), ..pull_request("prod", "2026-01-01T00:04:00Z") }, merged.clone()]
    );
    assert_eq!(store.pull_request(1).await.unwrap(), Some(merged));

    let images = store.images_for(ImageQuery {
        repository: Some("reg.example/shop/api".into()),
        limit: 10,
        ..Default::default()
    });
    assert_eq!(
        images.await.unwrap(),
        [ImageRow { id: Some(2), ..image("1.4.2", "r142") }, ImageRow { id: Some(1), ..image("1.4.1", "r141") }]
    );
    assert_eq!(
        store.release_notes(&crate::contract::id_of(R1)).await.unwrap(),
        Some(json!({"commits": [{"sha": "abc", "subject": "fix (#12)"}], "issues": ["SHOP-1"]}))
    );

    let revoked = TokenRow { revoked_at: Some(t("2026-01-01T02:00:00Z")), ..token("ci", "bb22", "promoter") };
    assert_eq!(store.tokens().await.unwrap(), [revoked.clone(), token("root", "aa11", "admin")]);
    assert_eq!(store.token_by_hash("bb22").await.unwrap(), Some(revoked));
    assert_eq!(store.session("5e55").await.unwrap(), Some((session(), token("root", "aa11", "admin"))));
    let audit_rows = store.audit(AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(
        audit_rows,
        [
            AuditRow { id: Some(2), ..audit("2026-01-01T02:00:00Z", "token.revoke") },
            AuditRow { id: Some(1), ..audit("2026-01-01T00:10:00Z", "release.terminate") }
        ]
    );

    // Writes go on where the earlier build left off: sequences, numbers and versions continue.
    let stale = store.write(vec![release(
        release_row(R2, "shop", "Running", "2026-01-02T00:00:00Z", None),
        0,
        vec![],
        view(R2, "Running"),
        vec![],
    )]);
    let stale = stale.await.unwrap().into_iter().next().unwrap();
    assert!(matches!(stale, Err(StoreError::SequenceConflict { expected: 0, actual: 2, .. })), "{stale:?}");
    let outcomes = store
        .write(vec![
            release(
                release_row(R2, "shop", "Succeeded", "2026-01-02T00:00:00Z", Some("2026-01-02T01:00:00Z")),
                2,
                vec![event("2026-01-02T01:00:00Z", 2)],
                view(R2, "Succeeded"),
                vec![],
            ),
            Write::PullRequest(pull_request("staging", "2026-01-02T00:00:00Z")),
            Write::Config { applied_by: "root".into(), catalog: json!({}), at: t("2026-01-02T00:00:00Z") },
            Write::Audit(Box::new(audit("2026-01-02T00:00:00Z", "config.apply"))),
        ])
        .await
        .unwrap();
    let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        outcomes,
        [
            WriteOutcome::Events(vec![9]),
            WriteOutcome::PullRequest(3),
            WriteOutcome::ConfigVersion(3),
            WriteOutcome::Audit(3)
        ]
    );
    assert_eq!(store.active_releases().await.unwrap(), [R3].map(crate::contract::id_of));
}
