//! Release list, view, logs and event log over rows written directly through the store.

use ferry_store::{LogLine, Write};
use serde_json::{Value, json};

use crate::{Server, made_up_view, release_id, release_write, t, write};

/// Seven releases: five of `shop` (one day apart), two of `other`.
async fn seed(server: &Server) -> Vec<String> {
    let rows = [
        ("shop", "standard", "Succeeded", "2026-01-01T10:00:00Z"),
        ("shop", "standard", "Failed", "2026-01-02T10:00:00Z"),
        ("other", "standard", "Running", "2026-01-02T12:00:00Z"),
        ("shop", "hotfix", "Succeeded", "2026-01-03T10:00:00Z"),
        ("shop", "standard", "Failed", "2026-01-04T10:00:00Z"),
        ("other", "standard", "Queued", "2026-01-04T12:00:00Z"),
        ("shop", "manual", "Running", "2026-01-05T10:00:00Z"),
    ];
    let mut ids = Vec::new();
    for (product, flow, status, created) in rows {
        let id = release_id(created);
        write(&server.store, release_write(&id, product, flow, status, created, 0, 1)).await;
        ids.push(id);
    }
    ids
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn release_list_pages_and_filters() {
    let server = Server::start().await;
    let all = seed(&server).await;
    let shop: Vec<String> = [6, 4, 3, 1, 0].iter().map(|&i| all[i].clone()).collect();

    // Pages of two, newest first, following the cursor.
    let mut seen = Vec::new();
    let mut path = "/api/v1/releases?product=shop&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = server.get(&path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/releases?product=shop&limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, shop);

    // The item shape of SPEC §7.4.
    let (_, page) = server.get("/api/v1/releases?product=shop&limit=1").await;
    let item = &page["items"][0];
    for field in ["id", "product", "flow", "status", "initiator", "createdAt", "reason", "environments"] {
        assert!(item.get(field).is_some(), "missing {field}: {item}");
    }
    assert_eq!(item["createdAt"], "2026-01-05T10:00:00Z");
    assert_eq!(item["environments"]["dev"], "Successful");

    let check = |query: &'static str, expect: Vec<usize>| {
        let server = &server;
        let all = &all;
        async move {
            let (status, page) = server.get(&format!("/api/v1/releases?{query}")).await;
            assert_eq!(status, 200, "{query}: {page}");
            let want: Vec<String> = expect.iter().map(|&i| all[i].clone()).collect();
            assert_eq!(ids(&page), want, "{query}");
        }
    };
    check("product=shop&status=Failed", vec![4, 1]).await;
    check("product=shop&status=failed,running", vec![6, 4, 1]).await;
    check("product=shop&status=Failed&status=Succeeded", vec![4, 3, 1, 0]).await;
    check("flow=standard", vec![5, 4, 2, 1, 0]).await;
    check("product=shop&flow=hotfix", vec![3]).await;
    check("since=2026-01-03&until=2026-01-04", vec![5, 4, 3]).await;
    check("since=2026-01-02T11:00:00Z&until=2026-01-03T10:00:00Z", vec![2]).await;
    check("product=nobody", vec![]).await;
    check("", vec![6, 5, 4, 3, 2, 1, 0]).await;

    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("status=Bogus", "status"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-01-05&until=2026-01-01", "until"),
        ("cursor=abc", "cursor"),
        ("product=Not_Valid", "product"),
        ("prodcut=shop", "prodcut"),
    ] {
        let (status, error) = server.get(&format!("/api/v1/releases?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(error["error"]["code"], "bad_request");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{param}: ")), "{query}: {message}");
    }
}

#[tokio::test]
async fn release_view_and_event_log() {
    let server = Server::start().await;
    let all = seed(&server).await;
    let (status, view) = server.get(&format!("/api/v1/releases/{}", all[0])).await;
    assert_eq!(status, 200);
    let expected = made_up_view(&all[0], "shop", "standard", "Succeeded", "2026-01-01T10:00:00Z");
    assert_eq!(view, serde_json::to_value(&expected).unwrap(), "the view as stored");
    let typed: ferry_api::ReleaseView = serde_json::from_value(view).unwrap();
    assert_eq!(typed, expected);

    let unknown = uuid::Uuid::now_v7().to_string();
    let (status, error) = server.get(&format!("/api/v1/releases/{unknown}")).await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["message"], format!("no release with id {unknown}"));
    let (status, error) = server.get("/api/v1/releases/not-a-uuid").await;
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().contains("is not a release id"));

    write(&server.store, release_write(&all[0], "shop", "standard", "Succeeded", "2026-01-01T10:00:00Z", 1, 2)).await;
    let (status, events) = server.get(&format!("/api/v1/releases/{}/events", all[0])).await;
    assert_eq!(status, 200);
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|e| e["seq"].as_i64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(items[2]["releaseId"], all[0]);
    assert_eq!(items[2]["body"], json!({"type": "Test", "n": 2}));
    let (status, _) = server.get(&format!("/api/v1/releases/{unknown}/events")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn release_logs_filter_by_run_environment_and_application() {
    let server = Server::start().await;
    let id = release_id("2026-02-01T00:00:00Z");
    // Runs as the engine records them with the release (the runs projection).
    let run_qa = "0194f000-0000-7000-8000-0000000000a1";
    let run_st = "0194f000-0000-7000-8000-0000000000a2";
    let run = |run: &str, env: &str, app: &str| -> ferry_model::release::WorkflowRun {
        serde_json::from_value(json!({"id": run, "workflow": "e2e", "target": {"kind": "postAction", "env": env, "app": app},
                                     "steps": [], "error": null, "startedAt": "2026-02-01T00:00:00Z", "retired": false}))
        .unwrap()
    };
    let Write::Release(mut w) = release_write(&id, "shop", "standard", "Running", "2026-02-01T00:00:00Z", 0, 1) else {
        unreachable!()
    };
    w.runs = vec![run(run_qa, "qa", "shop-api-qa"), run(run_st, "staging", "shop-api-staging")];
    write(&server.store, Write::Release(w)).await;
    let line = |run: &str, step: &str, text: &str| LogLine {
        release_id: id.clone(),
        run_id: run.into(),
        step: step.into(),
        at: t("2026-02-01T00:00:01Z"),
        stream: "stdout".into(),
        text: text.into(),
    };
    write(
        &server.store,
        Write::Logs(vec![
            line(run_qa, "tests", "qa 1"),
            line(run_st, "tests", "staging 1"),
            line(run_qa, "report", "qa 2"),
            line(run_st, "tests", "staging 2"),
        ]),
    )
    .await;
    let texts = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap().to_owned()).collect()
    };
    let logs = |query: String| {
        let server = &server;
        let id = &id;
        async move { server.get(&format!("/api/v1/releases/{id}/logs{query}")).await }
    };
    let (status, page) = logs(String::new()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(texts(&page), ["qa 1", "staging 1", "qa 2", "staging 2"]);
    assert_eq!(page["items"][0]["environment"], "qa");
    assert_eq!(page["items"][0]["application"], "shop-api-qa");
    assert_eq!(page["items"][0]["stage"], "postAction");
    let (_, page) = logs("?env=staging".into()).await;
    assert_eq!(texts(&page), ["staging 1", "staging 2"]);
    let (_, page) = logs("?app=shop-api-qa&step=tests".into()).await;
    assert_eq!(texts(&page), ["qa 1"]);
    let (_, page) = logs(format!("?run={run_qa}")).await;
    assert_eq!(texts(&page), ["qa 1", "qa 2"]);
    let (_, page) = logs(format!("?run={run_qa}&env=staging")).await;
    assert!(texts(&page).is_empty(), "that run is not in staging");
    // Reading on from a cursor.
    let (_, first) = logs("?limit=2".into()).await;
    assert_eq!(texts(&first), ["qa 1", "staging 1"]);
    let (_, rest) = logs(format!("?after={}", first["next"])).await;
    assert_eq!(texts(&rest), ["qa 2", "staging 2"]);
    let (_, none) = logs(format!("?after={}", rest["next"])).await;
    assert_eq!((texts(&none).len(), &none["next"]), (0, &rest["next"]));

    let (status, error) = logs("?after=-1".into()).await;
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().starts_with("after:"));
    let unknown = uuid::Uuid::now_v7();
    let (status, _) = server.get(&format!("/api/v1/releases/{unknown}/logs")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn product_detail_shows_live_state_and_latest_release() {
    let server = Server::start().await;
    let (status, _) = server.post("/api/v1/apply", &server.shop_sources()).await;
    assert_eq!(status, 200);
    let id = release_id("2026-03-01T00:00:00Z");
    let Write::Release(mut w) = release_write(&id, "shop", "standard", "Running", "2026-03-01T00:00:00Z", 0, 1) else {
        unreachable!()
    };
    w.app_states = vec![ferry_store::AppStateRow {
        application: "shop-api-qa".into(),
        product: "shop".into(),
        environment: "qa".into(),
        component: "api".into(),
        version: Some("1.4.2".into()),
        revision: Some("abc".into()),
        sync: "Synced".into(),
        health: "Healthy".into(),
        message: None,
        release_id: Some(id.clone()),
        updated_at: t("2026-03-01T00:00:00Z"),
    }];
    write(&server.store, Write::Release(w)).await;
    let event = Write::ProductEvent {
        product: "shop".into(),
        kind: "no-flow-matched".into(),
        message: "no flow matched branch x".into(),
        at: t("2026-03-01T00:00:00Z"),
    };
    write(&server.store, event).await;
    let (_, detail) = server.get("/api/v1/products/shop").await;
    assert_eq!(detail["latestRelease"]["id"], id);
    assert_eq!(detail["live"][0]["application"], "shop-api-qa");
    assert_eq!(detail["live"][0]["version"], "1.4.2");
    assert_eq!(detail["live"][0]["updatedAt"], "2026-03-01T00:00:00Z");
    assert_eq!(detail["events"][0]["kind"], "no-flow-matched");
}
