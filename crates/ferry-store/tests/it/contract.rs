//! The store contract: what every backend does, written once against [`Store`] and run for each
//! backend by [`contract_tests!`].

use std::str::FromStr;

use ferry_store::*;
use jiff::Timestamp;
use serde_json::json;

use crate::backend::Backend;

/// Release ids of the contract tests.
pub const R1: &str = "0190f000-0000-7000-8000-000000000001";
pub const R2: &str = "0190f000-0000-7000-8000-000000000002";
pub const R3: &str = "0190f000-0000-7000-8000-000000000003";
pub const R4: &str = "0190f000-0000-7000-8000-000000000004";

/// Release id number `n` (as the store writes ids: text).
pub fn rid(n: usize) -> String {
    format!("0190f000-0000-7000-8000-{n:012}")
}

/// A release id as the store's reads take it.
pub fn id_of(s: &str) -> ferry_model::ReleaseId {
    s.parse().unwrap()
}

/// A product name.
pub fn product(s: &str) -> ferry_model::ProductName {
    ferry_model::ProductName::new(s).unwrap()
}

pub fn t(s: &str) -> Timestamp {
    Timestamp::from_str(s).unwrap()
}

pub fn row(id: &str, product: &str, status: &str, created: &str) -> ReleaseRow {
    ReleaseRow {
        id: id.into(),
        product: product.into(),
        flow: "standard".into(),
        flow_version: Some("3.0".into()),
        status: status.into(),
        initiator: "alice".into(),
        created_at: t(created),
        finished_at: None,
        reason: None,
        retries: 0,
        version: Some("1.0.0".into()),
        environments: json!({"dev": "Successful", "qa": "Pending"}),
    }
}

pub fn release_write(id: &str, first_seq: i64, n: usize, status: &str) -> Write {
    Write::Release(Box::new(ReleaseWrite {
        release_id: id.into(),
        product: "shop".into(),
        first_seq,
        events: (0..n)
            .map(|i| NewEvent { at: t("2026-01-01T00:00:00Z"), body: json!({"type": "e", "n": i}) })
            .collect(),
        row: row(id, "shop", status, "2026-01-01T00:00:00Z"),
        view: Some(json!({"id": id, "status": status})),
        app_states: vec![],
        runs: Vec::new(),
        outcomes: Vec::new(),
        turn: None,
    }))
}

pub fn one(outcomes: Vec<Result<WriteOutcome, StoreError>>) -> Result<WriteOutcome, StoreError> {
    assert_eq!(outcomes.len(), 1);
    outcomes.into_iter().next().unwrap()
}

pub async fn events_append_in_sequence_and_project(db: impl Backend) {
    let store = db.open().await;
    let mut sub = store.subscribe();
    let out = one(store.write(vec![release_write(R1, 0, 3, "Running")]).await.unwrap()).unwrap();
    let WriteOutcome::Events(gids) = out else { panic!("expected events, got {out:?}") };
    assert_eq!(gids.len(), 3);
    assert!(gids.windows(2).all(|w| w[0] < w[1]));
    // Subscribers see the committed events in order.
    for (i, gid) in gids.iter().enumerate() {
        let e = sub.recv().await.unwrap();
        assert_eq!((e.gid, e.seq), (*gid, i as i64));
    }
    one(store.write(vec![release_write(R1, 3, 2, "Succeeded")]).await.unwrap()).unwrap();
    let events = store.release_events(&id_of(R1)).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(events[4].body, json!({"type": "e", "n": 1}));
    assert_eq!(store.release_view(&id_of(R1)).await.unwrap(), Some(json!({"id": R1, "status": "Succeeded"})));
    assert_eq!(store.release_view(&id_of(R4)).await.unwrap(), None);
    assert!(store.active_releases().await.unwrap().is_empty());
}

pub async fn out_of_sequence_append_is_rejected_without_touching_others(db: impl Backend) {
    let store = db.open().await;
    one(store.write(vec![release_write(R1, 0, 2, "Running")]).await.unwrap()).unwrap();
    let outcomes =
        store.write(vec![release_write(R1, 1, 1, "Failed"), release_write(R2, 0, 1, "Running")]).await.unwrap();
    match &outcomes[0] {
        Err(StoreError::SequenceConflict { expected: 1, actual: 2, .. }) => {}
        other => panic!("expected a sequence conflict, got {other:?}"),
    }
    assert!(outcomes[1].is_ok());
    // The rejected write changed nothing.
    assert_eq!(store.release_events(&id_of(R1)).await.unwrap().len(), 2);
    assert_eq!(store.release_view(&id_of(R1)).await.unwrap().unwrap()["status"], "Running");
    assert_eq!(store.active_releases().await.unwrap(), [id_of(R1), id_of(R2)]);
    // Alone in its transaction, a rejected write changes nothing either, and the next one lands.
    let lone = one(store.write(vec![release_write(R2, 0, 3, "Failed")]).await.unwrap());
    assert!(matches!(lone, Err(StoreError::SequenceConflict { expected: 0, actual: 1, .. })), "{lone:?}");
    assert_eq!(store.release_events(&id_of(R2)).await.unwrap().len(), 1);
    assert_eq!(store.release_view(&id_of(R2)).await.unwrap().unwrap()["status"], "Running");
    one(store.write(vec![release_write(R2, 1, 2, "Succeeded")]).await.unwrap()).unwrap();
    assert_eq!(store.release_events(&id_of(R2)).await.unwrap().len(), 3);
    assert_eq!(store.release_view(&id_of(R2)).await.unwrap().unwrap()["status"], "Succeeded");
}

pub async fn concurrent_writers_are_group_committed_and_all_durable(db: impl Backend) {
    let store = db.open().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = rid(i);
            for seq in 0..4 {
                one(store.write(vec![release_write(&id, seq, 1, "Running")]).await.unwrap()).unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    drop(store);
    // Reopen: everything committed is there.
    let store = db.open().await;
    let all = store.events_after(0, EventFilter::All, 10_000).await.unwrap();
    assert_eq!(all.len(), 200);
    assert!(all.windows(2).all(|w| w[0].gid < w[1].gid));
    let r7 = store.events_after(0, EventFilter::Release(rid(7)), 100).await.unwrap();
    assert_eq!(r7.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let after = store.events_after(all[99].gid, EventFilter::All, 10_000).await.unwrap();
    assert_eq!(after.len(), 100);
}

pub async fn release_list_filters_and_pages_newest_first(db: impl Backend) {
    let store = db.open().await;
    let mut writes = Vec::new();
    for i in 0..25 {
        let status = if i % 3 == 0 { "Failed" } else { "Succeeded" };
        let product = if i % 5 == 0 { "cart" } else { "shop" };
        let mut r = row(&format!("id{i:02}"), product, status, &format!("2026-01-{:02}T00:00:00Z", i + 1));
        if i == 24 {
            r.flow = "hotfix".into();
        }
        writes.push(Write::Release(Box::new(ReleaseWrite {
            release_id: r.id.clone(),
            product: product.into(),
            first_seq: 0,
            events: vec![],
            view: Some(json!({})),
            app_states: vec![],
            runs: Vec::new(),
            outcomes: Vec::new(),
            turn: None,
            row: r,
        })));
    }
    for outcome in store.write(writes).await.unwrap() {
        outcome.unwrap();
    }
    let page = |filter: ReleaseFilter| {
        let store = store.clone();
        async move { store.list_releases(filter).await.unwrap() }
    };
    let shop = |limit| ReleaseFilter { product: Some("shop".into()), limit, ..Default::default() };
    let first = page(shop(7)).await;
    let ids: Vec<_> = first.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["id24", "id23", "id22", "id21", "id19", "id18", "id17"]);
    assert_eq!(first.next.as_deref(), Some("id17"));
    let mut seen = ids.len();
    let mut cursor = first.next;
    while let Some(before) = cursor {
        let p = page(ReleaseFilter { before: Some(before), ..shop(7) }).await;
        seen += p.items.len();
        cursor = p.next;
    }
    assert_eq!(seen, 20);
    let failed = page(ReleaseFilter { statuses: vec!["Failed".into()], ..shop(100) }).await;
    assert_eq!(
        failed.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["id24", "id21", "id18", "id12", "id09", "id06", "id03"]
    );
    assert_eq!(failed.next, None);
    let hotfix = page(ReleaseFilter { flow: Some("hotfix".into()), ..shop(100) }).await;
    assert_eq!(hotfix.items.len(), 1);
    let since = page(ReleaseFilter { since: Some(t("2026-01-20T00:00:00Z")), ..shop(100) }).await;
    assert_eq!(since.items.len(), 5, "ids 19, 21..24 were created on or after Jan 20");
    let latest = store.latest_releases().await.unwrap();
    assert_eq!(
        latest.iter().map(|r| (r.product.as_str(), r.id.as_str())).collect::<Vec<_>>(),
        [("cart", "id20"), ("shop", "id24")]
    );
}

pub async fn logs_config_product_events_app_state_and_kv(db: impl Backend) {
    let store = db.open().await;
    let line = |step: &str, text: &str| LogLine {
        release_id: R1.into(),
        run_id: "run1".into(),
        step: step.into(),
        at: t("2026-01-01T00:00:00Z"),
        stream: "stdout".into(),
        text: text.into(),
    };
    let app = AppStateRow {
        application: "shop-api-qa".into(),
        product: "shop".into(),
        environment: "qa".into(),
        component: "api".into(),
        version: Some("1.2.3".into()),
        revision: Some("abc".into()),
        sync: "Synced".into(),
        health: "Healthy".into(),
        message: None,
        release_id: Some(R1.into()),
        updated_at: t("2026-01-01T00:00:00Z"),
    };
    let outcomes = store
        .write(vec![
            Write::Logs(vec![line("build", "one"), line("test", "two"), line("build", "three")]),
            Write::Config {
                applied_by: "alice".into(),
                catalog: json!({"products": {}}),
                at: t("2026-01-01T00:00:00Z"),
            },
            Write::Config {
                applied_by: "bob".into(),
                catalog: json!({"products": {"shop": {}}}),
                at: t("2026-01-02T00:00:00Z"),
            },
            Write::ProductEvent {
                product: "shop".into(),
                kind: "no-flow-matched".into(),
                message: "no flow".into(),
                at: t("2026-01-01T00:00:00Z"),
            },
            Write::AppStates(vec![app.clone()]),
            Write::AppStates(vec![AppStateRow { health: "Degraded".into(), ..app.clone() }]),
            Write::Kv { key: "k".into(), value: "v1".into() },
            Write::Kv { key: "k".into(), value: "v2".into() },
        ])
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| o.is_ok()));
    assert_eq!(outcomes[2].as_ref().unwrap(), &WriteOutcome::ConfigVersion(2));
    let build = store.logs(LogQuery { step: Some("build".into()), ..LogQuery::release(id_of(R1), 100) }).await.unwrap();
    assert_eq!(build.iter().map(|l| l.line.text.as_str()).collect::<Vec<_>>(), ["one", "three"]);
    let tail = store.logs(LogQuery { after: build[0].id, ..LogQuery::release(id_of(R1), 100) }).await.unwrap();
    assert_eq!(tail.len(), 2);
    let config = store.latest_config().await.unwrap().unwrap();
    assert_eq!((config.version, config.applied_by.as_str()), (2, "bob"));
    assert_eq!(store.product_events(&product("shop"), 10).await.unwrap()[0].kind, "no-flow-matched");
    let states = store.app_states(&product("shop")).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].health, "Degraded");
    assert_eq!(store.kv_get("k").await.unwrap().as_deref(), Some("v2"));
    assert_eq!(store.kv_get("missing").await.unwrap(), None);
}

fn pull_request(release: &str, product: &str, env: &str, at: &str) -> PullRequestRow {
    PullRequestRow {
        number: None,
        release_id: release.into(),
        product: product.into(),
        environment: env.into(),
        applications: vec![format!("{product}-api-{env}"), format!("{product}-web-{env}")],
        repo: "https://git.example.com/shop/gitops.git".into(),
        branch: format!("ferry/{product}/{env}/{release}"),
        target: "main".into(),
        state: "open".into(),
        head: "0123456789abcdef0123456789abcdef01234567".into(),
        merge_commit: None,
        comment: None,
        title: format!("promote {product} 1.4.2: qa -> {env}"),
        created_at: t(at),
        updated_at: t(at),
    }
}

async fn create(store: &impl Store, row: PullRequestRow) -> i64 {
    match one(store.write(vec![Write::PullRequest(row)]).await.unwrap()).unwrap() {
        WriteOutcome::PullRequest(number) => number,
        other => panic!("expected a pull request number, got {other:?}"),
    }
}

pub async fn pull_requests_are_numbered_updated_and_listed_newest_first(db: impl Backend) {
    let store = db.open().await;
    let first = create(&store, pull_request(R1, "shop", "prod", "2026-01-01T00:00:00Z")).await;
    let second = create(&store, pull_request(R1, "shop", "staging", "2026-01-02T00:00:00Z")).await;
    let third = create(&store, pull_request(R2, "cart", "prod", "2026-01-03T00:00:00Z")).await;
    assert_eq!([first, second, third], [1, 2, 3]);

    let stored = store.pull_request(first).await.unwrap().unwrap();
    assert_eq!(stored, PullRequestRow { number: Some(1), ..pull_request(R1, "shop", "prod", "2026-01-01T00:00:00Z") });
    assert_eq!(store.pull_request(99).await.unwrap(), None);

    // Merge the first, close the second: state, merge commit, comment and update time change, nothing else.
    let merged = PullRequestRow {
        number: Some(first),
        state: "merged".into(),
        merge_commit: Some("fedcba9876543210fedcba9876543210fedcba98".into()),
        updated_at: t("2026-01-04T00:00:00Z"),
        title: "ignored on update".into(),
        ..stored.clone()
    };
    let closed = PullRequestRow {
        number: Some(second),
        state: "closed".into(),
        comment: Some("release terminated: bad build".into()),
        updated_at: t("2026-01-04T00:00:00Z"),
        ..pull_request(R1, "shop", "staging", "2026-01-02T00:00:00Z")
    };
    let outcomes = store.write(vec![Write::PullRequest(merged), Write::PullRequest(closed)]).await.unwrap();
    assert_eq!(
        outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [WriteOutcome::PullRequest(first), WriteOutcome::PullRequest(second)]
    );
    let after = store.pull_request(first).await.unwrap().unwrap();
    assert_eq!(after.state, "merged");
    assert_eq!(after.merge_commit.as_deref(), Some("fedcba9876543210fedcba9876543210fedcba98"));
    assert_eq!(after.updated_at, t("2026-01-04T00:00:00Z"));
    assert_eq!((after.title.as_str(), after.created_at), (stored.title.as_str(), stored.created_at));

    // Updating an unknown number fails on its own; the other write of the batch still lands.
    let outcomes = store
        .write(vec![
            Write::PullRequest(PullRequestRow { number: Some(42), ..stored.clone() }),
            Write::Kv { key: "k".into(), value: "v".into() },
        ])
        .await
        .unwrap();
    assert!(outcomes[0].is_err(), "{outcomes:?}");
    assert!(outcomes[1].is_ok());

    let numbers = |rows: Vec<PullRequestRow>| rows.into_iter().map(|r| r.number.unwrap()).collect::<Vec<_>>();
    let list = |filter: PullRequestFilter| {
        let store = store.clone();
        async move { numbers(store.pull_requests(filter).await.unwrap()) }
    };
    assert_eq!(list(PullRequestFilter::default()).await, [3, 2, 1]);
    assert_eq!(list(PullRequestFilter { product: Some("shop".into()), ..Default::default() }).await, [2, 1]);
    assert_eq!(list(PullRequestFilter { state: Some("open".into()), ..Default::default() }).await, [3]);
    assert_eq!(list(PullRequestFilter { release: Some(R1.into()), ..Default::default() }).await, [2, 1]);
    let shop_closed = PullRequestFilter { product: Some("shop".into()), state: Some("closed".into()), release: None };
    assert_eq!(list(shop_closed).await, [2]);
    assert!(list(PullRequestFilter { product: Some("nope".into()), ..Default::default() }).await.is_empty());

    // Durable, and numbers are never reused.
    drop(store);
    let store = db.open().await;
    assert_eq!(store.pull_requests(PullRequestFilter::default()).await.unwrap().len(), 3);
    assert_eq!(create(&store, pull_request(R3, "shop", "prod", "2026-01-05T00:00:00Z")).await, 4);
}

fn image(image: &str, repository: &str, tag: Option<&str>, digest: Option<&str>, revision: &str) -> ImageRow {
    ImageRow {
        id: None,
        image: image.into(),
        repository: repository.into(),
        tag: tag.map(Into::into),
        digest: digest.map(Into::into),
        git_repo: "https://git.example/shop/api.git".into(),
        git_revision: revision.into(),
        git_branch: Some("main".into()),
        annotations: [("org.opencontainers.image.revision".to_owned(), revision.to_owned())].into(),
        issues: Some("ABC-1".into()),
        reported_by: "ci".into(),
        reported_at: t("2026-01-02T00:00:00Z"),
    }
}

pub async fn image_reports_are_looked_up_by_tag_digest_and_repository_newest_first(db: impl Backend) {
    let store = db.open().await;
    let writes = vec![
        Write::ImageReport(Box::new(image("reg/shop/api:1.0", "reg/shop/api", Some("1.0"), Some("sha256:aa"), R1))),
        Write::ImageReport(Box::new(image("reg/shop/web:1.0", "reg/shop/web", Some("1.0"), None, R2))),
        Write::ImageReport(Box::new(image("reg/shop/api:1.1", "reg/shop/api", Some("1.1"), Some("sha256:bb"), R3))),
        Write::ImageReport(Box::new(image("reg/shop/api:1.0", "reg/shop/api", Some("1.0"), Some("sha256:aa"), R4))),
    ];
    let ids: Vec<i64> = store
        .write(writes)
        .await
        .unwrap()
        .into_iter()
        .map(|o| match o.unwrap() {
            WriteOutcome::Image(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), 4);
    let revisions = |rows: Vec<ImageRow>| rows.into_iter().map(|r| r.git_revision).collect::<Vec<_>>();
    let q = |repository: Option<&str>, tag: Option<&str>, digest: Option<&str>| ImageQuery {
        repository: repository.map(Into::into),
        tag: tag.map(Into::into),
        digest: digest.map(Into::into),
        limit: 50,
    };
    assert_eq!(revisions(store.images_for(q(None, Some("1.0"), None)).await.unwrap()), [R4, R2, R1]);
    assert_eq!(revisions(store.images_for(q(Some("reg/shop/api"), Some("1.0"), None)).await.unwrap()), [R4, R1]);
    assert_eq!(revisions(store.images_for(q(None, None, Some("sha256:bb"))).await.unwrap()), [R3]);
    assert_eq!(revisions(store.images_for(q(Some("reg/shop/web"), None, None)).await.unwrap()), [R2]);
    assert!(store.images_for(q(None, Some("9.9"), None)).await.unwrap().is_empty());
    let newest = store.images_for(ImageQuery { limit: 1, ..q(None, None, None) }).await.unwrap();
    assert_eq!(newest.len(), 1);
    let row = &newest[0];
    assert_eq!(row.id, Some(ids[3]));
    assert_eq!(row.annotations["org.opencontainers.image.revision"], R4);
    assert_eq!((row.issues.as_deref(), row.reported_at), (Some("ABC-1"), t("2026-01-02T00:00:00Z")));
}

pub async fn release_notes_are_stored_and_replaced(db: impl Backend) {
    let store = db.open().await;
    assert_eq!(store.release_notes(&id_of(R1)).await.unwrap(), None);
    let write = |n: i64| Write::ReleaseNotes {
        release_id: R1.into(),
        notes: json!({"commits": n}),
        at: t("2026-01-03T00:00:00Z"),
    };
    one(store.write(vec![write(1)]).await.unwrap()).unwrap();
    one(store.write(vec![write(2)]).await.unwrap()).unwrap();
    assert_eq!(store.release_notes(&id_of(R1)).await.unwrap(), Some(json!({"commits": 2})));
}

fn token(name: &str, hash: &str) -> TokenRow {
    TokenRow {
        name: name.into(),
        hash: hash.into(),
        role: "promoter".into(),
        products: vec!["shop*".into()],
        env_types: vec!["non-production".into()],
        created_at: t("2026-01-01T00:00:00Z"),
        created_by: "admin".into(),
        expires_at: Some(t("2026-04-01T00:00:00Z")),
        revoked_at: None,
    }
}

pub async fn tokens_are_created_once_found_by_hash_and_revoked_with_their_sessions(db: impl Backend) {
    let store = db.open().await;
    one(store.write(vec![Write::Token(Box::new(token("ci", "h1")))]).await.unwrap()).unwrap();
    // The same name (or the same secret) again is a conflict, and changes nothing.
    for again in [token("ci", "h2"), token("other", "h1")] {
        let e = one(store.write(vec![Write::Token(Box::new(again))]).await.unwrap()).unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    }
    assert_eq!(store.tokens().await.unwrap(), vec![token("ci", "h1")]);
    assert_eq!(store.token_by_hash("h1").await.unwrap(), Some(token("ci", "h1")));
    assert_eq!(store.token_by_hash("h2").await.unwrap(), None);

    let session = SessionRow {
        hash: "s1".into(),
        token: "ci".into(),
        created_at: t("2026-01-02T00:00:00Z"),
        expires_at: t("2026-01-02T12:00:00Z"),
    };
    one(store.write(vec![Write::Session(session.clone())]).await.unwrap()).unwrap();
    let (found, owner) = store.session("s1").await.unwrap().unwrap();
    assert_eq!((found, owner.name.as_str()), (session.clone(), "ci"));

    let revoke = || Write::RevokeToken { name: "ci".into(), at: t("2026-01-03T00:00:00Z") };
    one(store.write(vec![revoke()]).await.unwrap()).unwrap();
    let revoked = store.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(t("2026-01-03T00:00:00Z")));
    assert_eq!(store.session("s1").await.unwrap(), None, "revoking ends the token's sessions");
    assert!(matches!(one(store.write(vec![revoke()]).await.unwrap()), Err(StoreError::Conflict(_))));
    let unknown = Write::RevokeToken { name: "nope".into(), at: t("2026-01-03T00:00:00Z") };
    assert!(matches!(one(store.write(vec![unknown]).await.unwrap()), Err(StoreError::NotFound(_))));
    // A revoked name is never reused.
    let e = one(store.write(vec![Write::Token(Box::new(token("ci", "h3")))]).await.unwrap()).unwrap_err();
    assert!(e.to_string().contains("never reused"), "{e}");
}

fn freeze_row(name: &str, by: &str) -> FreezeRow {
    FreezeRow {
        name: name.into(),
        spec: json!({"name": name, "environments": ["prod*"], "window": {"once": {"from": "2026-12-24T00:00:00Z", "until": "2026-12-27T00:00:00Z"}}}),
        created_by: by.into(),
        created_at: t("2026-01-01T00:00:00Z"),
    }
}

pub async fn runtime_freezes_are_created_once_listed_by_name_and_deleted(db: impl Backend) {
    let store = db.open().await;
    assert_eq!(store.freezes().await.unwrap(), vec![]);
    for name in ["xmas", "incident"] {
        one(store.write(vec![Write::Freeze(Box::new(freeze_row(name, "root")))]).await.unwrap()).unwrap();
    }
    // A name in use is a conflict and changes nothing.
    let e = one(store.write(vec![Write::Freeze(Box::new(freeze_row("xmas", "other")))]).await.unwrap()).unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)) && e.to_string().contains("\"xmas\""), "{e}");
    assert_eq!(store.freezes().await.unwrap(), vec![freeze_row("incident", "root"), freeze_row("xmas", "root")]);
    let delete = |name: &str| Write::DeleteFreeze { name: name.into() };
    one(store.write(vec![delete("incident")]).await.unwrap()).unwrap();
    assert_eq!(store.freezes().await.unwrap(), vec![freeze_row("xmas", "root")]);
    assert!(matches!(one(store.write(vec![delete("incident")]).await.unwrap()), Err(StoreError::NotFound(_))));
    // Applying a configuration leaves runtime freezes alone.
    let config = Write::Config { applied_by: "root".into(), catalog: json!({}), at: t("2026-01-02T00:00:00Z") };
    one(store.write(vec![config]).await.unwrap()).unwrap();
    assert_eq!(store.freezes().await.unwrap().len(), 1);
}

fn audit(at: &str, actor: &str) -> AuditRow {
    AuditRow {
        id: None,
        at: t(at),
        actor: actor.into(),
        action: "release.terminate".into(),
        target: "/api/v1/releases/x/terminate".into(),
        status: 202,
        outcome: "ok".into(),
        source: "127.0.0.1:5000".into(),
        detail: None,
    }
}

pub async fn the_audit_log_pages_newest_first_and_is_pruned_by_age(db: impl Backend) {
    let store = db.open().await;
    let mut ids = Vec::new();
    for (at, actor) in [("2026-01-01T00:00:00Z", "a"), ("2026-02-01T00:00:00Z", "b"), ("2026-03-01T00:00:00Z", "c")] {
        match one(store.write(vec![Write::Audit(Box::new(audit(at, actor)))]).await.unwrap()).unwrap() {
            WriteOutcome::Audit(id) => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    let actors = |rows: Vec<AuditRow>| rows.into_iter().map(|r| r.actor).collect::<Vec<_>>();
    let all = store.audit(AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(all[0], AuditRow { id: Some(ids[2]), ..audit("2026-03-01T00:00:00Z", "c") });
    assert_eq!(actors(all), ["c", "b", "a"]);
    let page = store.audit(AuditQuery { limit: 1, before: Some(ids[2]), ..AuditQuery::default() }).await.unwrap();
    assert_eq!(actors(page), ["b"]);
    let since = AuditQuery { since: Some(t("2026-02-01T00:00:00Z")), limit: 10, ..AuditQuery::default() };
    assert_eq!(actors(store.audit(since).await.unwrap()), ["c", "b"]);

    one(store.write(vec![Write::Token(Box::new(token("ci", "h1")))]).await.unwrap()).unwrap();
    let ended = SessionRow {
        hash: "old".into(),
        token: "ci".into(),
        created_at: t("2026-01-01T00:00:00Z"),
        expires_at: t("2026-01-01T12:00:00Z"),
    };
    let live = SessionRow { hash: "new".into(), expires_at: t("2026-09-01T00:00:00Z"), ..ended.clone() };
    store.write(vec![Write::Session(ended), Write::Session(live)]).await.unwrap();
    let prune = Write::Prune { before: t("2026-01-15T00:00:00Z"), now: t("2026-03-02T00:00:00Z") };
    one(store.write(vec![prune]).await.unwrap()).unwrap();
    assert_eq!(actors(store.audit(AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap()), ["c", "b"]);
    assert!(store.session("old").await.unwrap().is_none());
    assert!(store.session("new").await.unwrap().is_some());
}

pub fn notification_failure(at: &str, notification: Option<&str>) -> NotificationFailureRow {
    NotificationFailureRow {
        id: None,
        notification: notification.map(str::to_owned),
        outcome: if notification.is_some() { "failed" } else { "dropped" }.into(),
        attempts: if notification.is_some() { 5 } else { 0 },
        error: "the webhook answered 500 Internal Server Error".into(),
        change: json!({"releaseId": R1, "product": "shop", "environment": "qa", "status": "Failed"}),
        failed_at: t(at),
        redelivered_at: None,
        redelivered_by: None,
    }
}

pub async fn failed_notifications_are_kept_redelivered_once_and_pruned_by_age(db: impl Backend) {
    let store = db.open().await;
    let mut ids = Vec::new();
    for (at, name) in [("2026-01-01T00:00:00Z", Some("ops")), ("2026-02-01T00:00:00Z", None)] {
        let write = Write::NotificationFailure(Box::new(notification_failure(at, name)));
        match one(store.write(vec![write]).await.unwrap()).unwrap() {
            WriteOutcome::NotificationFailure(id) => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    let failed =
        NotificationFailureRow { id: Some(ids[0]), ..notification_failure("2026-01-01T00:00:00Z", Some("ops")) };
    let dropped = NotificationFailureRow { id: Some(ids[1]), ..notification_failure("2026-02-01T00:00:00Z", None) };
    assert_eq!(store.notification_failures(10).await.unwrap(), [dropped.clone(), failed.clone()], "newest first");
    assert_eq!(store.notification_failures(1).await.unwrap(), std::slice::from_ref(&dropped));
    // Kept across a restart.
    drop(store);
    let store = db.open().await;
    assert_eq!(store.notification_failure(ids[0]).await.unwrap(), Some(failed.clone()));
    assert_eq!(store.notification_failure(ids[1] + 100).await.unwrap(), None);

    // Redelivered once: a second redelivery is a conflict naming who did it, an unknown id is not found.
    let redeliver =
        |id: i64, by: &str| Write::NotificationRedelivered { id, by: by.into(), at: t("2026-02-02T00:00:00Z") };
    assert_eq!(one(store.write(vec![redeliver(ids[0], "alice")]).await.unwrap()).unwrap(), WriteOutcome::Done);
    let again = one(store.write(vec![redeliver(ids[0], "bob")]).await.unwrap()).unwrap_err();
    assert!(matches!(&again, StoreError::Conflict(m) if m.contains("already redelivered by alice")), "{again}");
    let unknown = one(store.write(vec![redeliver(ids[1] + 100, "bob")]).await.unwrap()).unwrap_err();
    assert!(matches!(&unknown, StoreError::NotFound(m) if m.contains("no failed notification")), "{unknown}");
    let marked = store.notification_failure(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (marked.redelivered_by.as_deref(), marked.redelivered_at),
        (Some("alice"), Some(t("2026-02-02T00:00:00Z")))
    );

    // Pruned with the audit log.
    let prune = Write::Prune { before: t("2026-01-15T00:00:00Z"), now: t("2026-03-02T00:00:00Z") };
    one(store.write(vec![prune]).await.unwrap()).unwrap();
    assert_eq!(store.notification_failures(10).await.unwrap(), [dropped]);
}

/// Every write of a concurrent group gets its own outcome: failing writes (wrong sequence numbers) leave
/// the others of their transaction in place.
pub async fn failing_writes_in_a_group_fail_alone(db: impl Backend) {
    let store = db.open().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = rid(100 + i);
            // Every other release is written with a wrong first sequence number.
            let first_seq = if i % 2 == 0 { 0 } else { 5 };
            let outcomes = store.write(vec![release_write(&id, first_seq, 2, "Running")]).await.unwrap();
            (id, one(outcomes))
        }));
    }
    for task in tasks {
        let (id, outcome) = task.await.unwrap();
        let n: usize = id[24..].parse::<usize>().unwrap() - 100;
        let events = store.release_events(&id_of(&id)).await.unwrap();
        if n.is_multiple_of(2) {
            let WriteOutcome::Events(gids) = outcome.unwrap() else { panic!("expected events") };
            assert_eq!(events.iter().map(|e| e.gid).collect::<Vec<_>>(), gids);
        } else {
            assert!(matches!(outcome, Err(StoreError::SequenceConflict { expected: 5, actual: 0, .. })), "{outcome:?}");
            assert!(events.is_empty());
            assert_eq!(store.release_view(&id_of(&id)).await.unwrap(), None);
        }
    }
    assert_eq!(store.active_releases().await.unwrap().len(), 20);
}

/// Subscribers receive every committed event once, in global id order, across concurrent writers.
pub async fn subscribers_see_every_commit_once_in_order(db: impl Backend) {
    let store = db.open().await;
    let mut sub = store.subscribe();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..5 {
                one(store.write(vec![release_write(&format!("s{i:02}"), seq * 2, 2, "Running")]).await.unwrap())
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut received = Vec::new();
    for _ in 0..200 {
        let e = sub.recv().await.unwrap();
        received.push((e.gid, e.release_id.clone(), e.seq));
    }
    assert!(sub.try_recv().is_err(), "no event is broadcast twice");
    assert!(received.windows(2).all(|w| w[0].0 < w[1].0), "in global id order");
    let stored = store.events_after(0, EventFilter::All, 1000).await.unwrap();
    assert_eq!(stored.into_iter().map(|e| (e.gid, e.release_id, e.seq)).collect::<Vec<_>>(), received);
}

/// A claimed key keeps its first value: later claims (concurrent ones included) find it.
pub async fn a_claimed_key_keeps_the_first_value(db: impl Backend) {
    let store = db.open().await;
    let claim = |value: &str| Write::KvClaim { key: "released/shop/standard/abc".into(), value: value.into() };
    let first = one(store.write(vec![claim(R1)]).await.unwrap()).unwrap();
    assert_eq!(first, WriteOutcome::KvValue(R1.into()));
    let again = store.write(vec![claim(R2), claim(R3)]).await.unwrap();
    assert_eq!(
        again.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [WriteOutcome::KvValue(R1.into()), WriteOutcome::KvValue(R1.into())]
    );
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let claim = Write::KvClaim { key: "released/shop/standard/def".into(), value: format!("c{i}") };
            match one(store.write(vec![claim]).await.unwrap()).unwrap() {
                WriteOutcome::KvValue(value) => value,
                other => panic!("expected a value, got {other:?}"),
            }
        }));
    }
    let mut seen = std::collections::BTreeSet::new();
    for task in tasks {
        seen.insert(task.await.unwrap());
    }
    assert_eq!(seen.len(), 1, "every claim finds the one winner: {seen:?}");
    let winner = seen.into_iter().next().unwrap();
    assert_eq!(store.kv_get("released/shop/standard/def").await.unwrap(), Some(winner));
}

/// Everything written to every table reads back (the data of the upgrade fixture, on a fresh database).
pub async fn every_table_reads_back_what_was_written(db: impl Backend) {
    let store = db.open().await;
    crate::fixture::write_all(&store).await;
    crate::fixture::check(&store).await;
}

/// An environment outcome of release `id` in `env` (DORA projection).
pub fn outcome(id: &str, product: &str, env: &str, status: &str, attempt: i64, at: &str) -> OutcomeRow {
    OutcomeRow {
        release_id: id.into(),
        product: product.into(),
        environment: env.into(),
        flow: "standard".into(),
        attempt,
        status: status.into(),
        after_action: status == "Successful",
        committed_at: t("2026-01-01T00:00:00.5Z"),
        at: t(at),
    }
}

pub async fn environment_outcomes_are_recorded_once_and_read_by_window(db: impl Backend) {
    let store = db.open().await;
    let with = |id: &str, product: &str, first_seq, outcomes: Vec<OutcomeRow>| {
        let Write::Release(mut w) = release_write(id, first_seq, 1, "Running") else { unreachable!() };
        w.product = product.into();
        w.row.product = product.into();
        w.outcomes = outcomes;
        Write::Release(w)
    };
    let qa_failed = outcome(R1, "shop", "qa", "Failed", 0, "2026-01-02T00:00:00Z");
    let qa_ok = outcome(R1, "shop", "qa", "Successful", 1, "2026-01-03T00:00:00.250Z");
    let dev_ok = outcome(R1, "shop", "dev", "Successful", 0, "2026-01-01T12:00:00Z");
    let other = outcome(R2, "bank", "qa", "Successful", 0, "2026-01-02T12:00:00Z");
    one(store.write(vec![with(R1, "shop", 0, vec![dev_ok.clone(), qa_failed.clone()])]).await.unwrap()).unwrap();
    one(store.write(vec![with(R2, "bank", 0, vec![other.clone()])]).await.unwrap()).unwrap();
    // A second outcome of the same release, environment and attempt is ignored; a retry's is kept.
    let again = OutcomeRow { status: "Successful".into(), ..qa_failed.clone() };
    one(store.write(vec![with(R1, "shop", 1, vec![again, qa_ok.clone()])]).await.unwrap()).unwrap();

    let read = |product: Option<&str>, environment: Option<&str>, since: Option<&str>, until: Option<&str>| {
        store.outcomes(OutcomeQuery {
            product: product.map(Into::into),
            environment: environment.map(Into::into),
            since: since.map(t),
            until: until.map(t),
        })
    };
    assert_eq!(read(Some("shop"), None, None, None).await.unwrap(), [dev_ok.clone(), qa_failed.clone(), qa_ok.clone()]);
    assert_eq!(read(Some("shop"), Some("qa"), None, None).await.unwrap(), [qa_failed.clone(), qa_ok.clone()]);
    assert_eq!(
        read(Some("shop"), None, Some("2026-01-02T00:00:00Z"), Some("2026-01-03T00:00:00.250Z")).await.unwrap(),
        std::slice::from_ref(&qa_failed)
    );
    assert_eq!(read(None, Some("qa"), None, None).await.unwrap(), [qa_failed, other, qa_ok]);
    assert!(read(Some("nothing"), None, None, None).await.unwrap().is_empty());
}

/// Writes four outcomes of shop/prod over two weeks (see the test below); returns the first two
/// deployments.
pub async fn dora_history(store: &impl Store) -> (OutcomeRow, OutcomeRow) {
    let with = |id: &str, outcomes: Vec<OutcomeRow>| {
        let Write::Release(mut w) = release_write(id, 0, 1, "Running") else { unreachable!() };
        w.outcomes = outcomes;
        Write::Release(w)
    };
    // Monday 2026-01-05 starts the first week, Monday 2026-01-12 the second.
    let deployed = outcome(R1, "shop", "prod", "Successful", 0, "2026-01-09T00:00:00Z");
    let failed = OutcomeRow { after_action: true, ..outcome(R2, "shop", "prod", "Failed", 0, "2026-01-11T23:00:00Z") };
    let restored = outcome(R3, "shop", "prod", "Successful", 0, "2026-01-12T01:00:00Z");
    let rollback =
        OutcomeRow { flow: "rollback".into(), ..outcome(R4, "shop", "prod", "Successful", 0, "2026-01-13T01:00:00Z") };
    one(store.write(vec![with(R1, vec![deployed.clone()])]).await.unwrap()).unwrap();
    let mixed =
        store.write(vec![with(R2, vec![failed.clone()]), Write::Audit(Box::new(audit("2026-01-11T23:00:00Z", "a")))]);
    assert!(mixed.await.unwrap().iter().all(Result::is_ok));
    let batch = store.write(vec![with(R3, vec![restored.clone()]), with(R4, vec![rollback.clone()])]).await.unwrap();
    assert!(batch.iter().all(Result::is_ok), "{batch:?}");
    // An outcome recorded again changes nothing.
    let Write::Release(mut again) = with(R1, vec![deployed.clone()]) else { unreachable!() };
    again.first_seq = 1;
    one(store.write(vec![Write::Release(again)]).await.unwrap()).unwrap();
    (deployed, restored)
}

/// The DORA week rollups follow each outcome recorded, through every write path (one release, a
/// mixed batch, a batch of releases): a restore and a rollback update the week of the earlier outcome.
pub async fn dora_weeks_roll_up_outcomes_as_they_are_recorded(db: impl Backend) {
    let store = db.open().await;
    let (deployed, restored) = dora_history(&store).await;
    let weeks = store.dora_weeks(OutcomeQuery { product: Some("shop".into()), ..Default::default() }).await.unwrap();
    let summary: Vec<_> = weeks
        .iter()
        .map(|w| {
            let r = &w.rollup;
            (w.environment.as_str(), w.week, r.deployments, r.changes, r.change_failures, r.unrestored)
        })
        .collect();
    assert_eq!(
        summary,
        [
            // The failure of the first week, restored in the second, counts in the first.
            ("prod", t("2026-01-05T00:00:00Z"), 1, 2, 1, 0),
            // The deployment rolled back is a change failure of its own week; the rollback is a deployment.
            ("prod", t("2026-01-12T00:00:00Z"), 2, 2, 1, 0),
        ]
    );
    let lead = |o: &OutcomeRow| o.at.duration_since(o.committed_at).as_secs();
    assert_eq!(weeks[0].rollup.lead.exact, Some(vec![lead(&deployed)]));
    assert_eq!(weeks[0].rollup.restore.exact, Some(vec![7_200]));
    assert_eq!(weeks[1].rollup.lead.exact, Some(vec![lead(&restored)]), "a rollback has no lead time");
    assert_eq!(weeks[1].rollup.restore.exact, Some(vec![86_400]));
    // Each outcome says what it counts for, for the first, partial week of a window.
    let decided = store.decided_outcomes(OutcomeQuery { environment: Some("prod".into()), ..Default::default() });
    let decided: Vec<_> =
        decided.await.unwrap().into_iter().map(|d| (d.outcome.release_id, d.failure, d.restore_secs)).collect();
    assert_eq!(
        decided,
        [
            (R1.into(), false, None),
            (R2.into(), true, Some(7_200)),
            (R3.into(), true, Some(86_400)),
            (R4.into(), false, None)
        ]
    );
    // Weeks are read by their start.
    let later = OutcomeQuery { since: Some(t("2026-01-06T00:00:00Z")), ..Default::default() };
    assert_eq!(store.dora_weeks(later).await.unwrap().len(), 1);
    let other = OutcomeQuery { environment: Some("qa".into()), ..Default::default() };
    assert!(store.dora_weeks(other).await.unwrap().is_empty());
}

/// Acknowledged writes survive the writing process being killed with SIGKILL mid-stream.
pub async fn acknowledged_writes_survive_sigkill<B: Backend>(db: B, child_test: &str) {
    crate::crash::acknowledged_writes_survive_sigkill(db, child_test).await;
}

/// A workflow run of release `r1` as the engine models it, with one step of `status`.
fn run(id: &str, target: serde_json::Value, started: &str, status: &str) -> ferry_model::release::WorkflowRun {
    serde_json::from_value(json!({
        "id": id, "target": target, "workflow": "smoke", "startedAt": started, "error": null, "retired": false,
        "steps": [{"name": "check", "dependsOn": [], "status": status, "attempts": 1, "startedAt": started,
                   "finishedAt": null, "exitCode": null, "error": null, "outputs": {}, "awaitingApproval": null}],
    }))
    .unwrap()
}

pub async fn runs_are_projected_with_the_release_and_select_logs(db: impl Backend) {
    let store = db.open().await;
    let a = "0194f000-0000-7000-8000-00000000000a";
    let b = "0194f000-0000-7000-8000-00000000000b";
    let pre =
        run(a, json!({"kind": "preAction", "env": "qa", "app": "shop-api-qa"}), "2026-01-01T00:01:00Z", "Running");
    let hook = run(b, json!({"kind": "releaseHook", "hook": "onSuccess"}), "2026-01-01T00:02:00Z", "Pending");
    let with_runs = |first_seq, runs| {
        let Write::Release(mut w) = release_write(R1, first_seq, 1, "Running") else { unreachable!() };
        w.runs = runs;
        Write::Release(w)
    };
    one(store.write(vec![with_runs(0, vec![hook.clone(), pre.clone()])]).await.unwrap()).unwrap();
    assert!(store.runs(&id_of(R2)).await.unwrap().is_empty());
    let runs = store.runs(&id_of(R1)).await.unwrap();
    assert_eq!(runs.iter().map(|r| (&r.run, r.detailed)).collect::<Vec<_>>(), [(&pre, true), (&hook, true)]);
    assert!(runs.iter().all(|r| r.release_id == R1));
    // A later write of the release replaces the run's state; its place stays.
    let mut done = pre.clone();
    done.steps[0].status = ferry_model::status::StepStatus::Success;
    one(store.write(vec![with_runs(1, vec![done.clone()])]).await.unwrap()).unwrap();
    let runs = store.runs(&id_of(R1)).await.unwrap();
    assert_eq!(runs.iter().map(|r| &r.run).collect::<Vec<_>>(), [&done, &hook]);

    let line = |run: &str, text: &str| LogLine {
        release_id: R1.into(),
        run_id: run.into(),
        step: "check".into(),
        at: t("2026-01-01T00:03:00Z"),
        stream: "stdout".into(),
        text: text.into(),
    };
    one(store
        .write(vec![Write::Logs(vec![
            line(a, "a1"),
            line(b, "b1"),
            line("0194f000-0000-7000-8000-0000000000ff", "o1"),
            line(a, "a2"),
        ])])
        .await
        .unwrap())
    .unwrap();
    let texts = |runs: Option<Vec<&str>>| {
        let store = store.clone();
        let runs = runs.map(|runs| runs.iter().map(|r| r.parse().unwrap()).collect());
        async move {
            let query = LogQuery { runs, ..LogQuery::release(id_of(R1), 100) };
            store.logs(query).await.unwrap().into_iter().map(|l| l.line.text).collect::<Vec<_>>()
        }
    };
    assert_eq!(texts(Some(vec![a])).await, ["a1", "a2"]);
    assert_eq!(texts(Some(vec![b, a])).await, ["a1", "b1", "a2"]);
    assert!(texts(Some(vec![])).await.is_empty());
    assert_eq!(texts(None).await.len(), 4);
}

/// Runs the whole contract against a backend, in a module of its own:
/// `contract_tests!(sqlite, backend::Sqlite);` — one line per backend.
#[macro_export]
macro_rules! contract_tests {
    ($module:ident, $backend:ty) => {
        mod $module {
            use $crate::backend::Backend as _;

            $crate::contract_tests!(@each $backend;
                events_append_in_sequence_and_project,
                out_of_sequence_append_is_rejected_without_touching_others,
                concurrent_writers_are_group_committed_and_all_durable,
                failing_writes_in_a_group_fail_alone,
                subscribers_see_every_commit_once_in_order,
                release_list_filters_and_pages_newest_first,
                logs_config_product_events_app_state_and_kv,
                pull_requests_are_numbered_updated_and_listed_newest_first,
                image_reports_are_looked_up_by_tag_digest_and_repository_newest_first,
                release_notes_are_stored_and_replaced,
                tokens_are_created_once_found_by_hash_and_revoked_with_their_sessions,
                runtime_freezes_are_created_once_listed_by_name_and_deleted,
                the_audit_log_pages_newest_first_and_is_pruned_by_age,
                failed_notifications_are_kept_redelivered_once_and_pruned_by_age,
                a_claimed_key_keeps_the_first_value,
                every_table_reads_back_what_was_written,
                runs_are_projected_with_the_release_and_select_logs,
                environment_outcomes_are_recorded_once_and_read_by_window,
                dora_weeks_roll_up_outcomes_as_they_are_recorded,
            );

            /// Started by itself: run with `FERRY_STORE_CRASH_CHILD` set, this test is the writing process
            /// that the parent run kills.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn acknowledged_writes_survive_sigkill() {
                if $crate::crash::is_child() {
                    $crate::crash::child(<$backend>::at(&$crate::crash::child_location())).await;
                    return;
                }
                let name = concat!(module_path!(), "::acknowledged_writes_survive_sigkill");
                // Test names leave out the crate's name.
                let name = name.split_once("::").map_or(name, |(_, name)| name);
                let Some(db) = <$backend>::create().await else { return };
                $crate::contract::acknowledged_writes_survive_sigkill(db, name).await;
            }
        }
    };
    (@each $backend:ty; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let Some(db) = <$backend>::create().await else { return };
                $crate::contract::$test(db).await;
            }
        )*
    };
}
