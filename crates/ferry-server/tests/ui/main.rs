//! Browser tests of the web UI: headless Debian Chromium, driven through chromedriver with
//! fantoccini, against the real server (real engine, SQLite store, git repositories, workflow
//! processes) on a random loopback port. Screenshots land in `target/ui-screenshots/`.
#![allow(clippy::unwrap_used)]

mod harness;

use fantoccini::Locator;
use fantoccini::error::CmdError;
use ferry_store::Store;
use harness::{Browser, Ferry, Spec, env_statuses, with_browser};
use serde_json::Value;

/// Clicks an element of a live page, finding it again if a live update replaced it meanwhile.
async fn click(b: &Browser, what: &str, css: &str) {
    for _ in 0..20 {
        let element = b.wait_for(what, Locator::Css(css)).await;
        // Centre it first: at the top edge the sticky header would receive the click.
        let arg = serde_json::to_value(&element).unwrap();
        let centred = b.client.execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg]).await;
        if centred.is_err() {
            continue;
        }
        match element.click().await {
            Ok(()) => return,
            Err(CmdError::Standard(e)) if e.error == fantoccini::error::ErrorStatus::StaleElementReference => continue,
            Err(e) => panic!("cannot click {what}: {e}"),
        }
    }
    panic!("{what} kept being replaced while clicking it");
}

/// `[env, status text]` of every node of the environment graph.
async fn graph_nodes(b: &Browser) -> Vec<(String, String)> {
    let nodes = b
        .js("return Array.from(document.querySelectorAll('svg.graph a.node[data-env]')).map(n => \
             [n.dataset.env, n.querySelector('.node-status').textContent]);")
        .await;
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n[0].as_str().unwrap().to_owned(), n[1].as_str().unwrap().to_owned()))
        .collect()
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

/// The releases table as rows of column name → cell text (visually hidden text included).
async fn releases_table(b: &Browser) -> Vec<Value> {
    let rows = b
        .js(r#"
            const heads = Array.from(document.querySelectorAll('#releases thead th')).map(th => th.textContent.trim());
            return Array.from(document.querySelectorAll('#releases tbody tr')).map(tr => {
              const row = { href: tr.dataset.release, title: tr.querySelector('td.date a').getAttribute('title') };
              Array.from(tr.children).forEach((td, i) => { row[heads[i]] = td.textContent.replace(/\s+/g, ' ').trim(); });
              return row;
            });"#)
        .await;
    rows.as_array().unwrap().clone()
}

const CHECKS: &str = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: checks }
spec:
  steps:
    - name: prepare
      run: echo "preparing $APP_NAME"
    - name: verify
      run: |
        echo "verifying $APP_NAME $VERSION"
        if [ -f "{S}/broken" ]; then echo "verification failed: the broken flag is set" >&2; exit 1; fi
        echo "verified"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_list_graph_failed_step_log_and_retry() {
    let ferry = Ferry::start(Spec { qa: "{ postAction: checks }", prod: "{}", workflows: CHECKS }).await;
    let good = ferry.promote("alice").await;
    let good_view = ferry.wait_final(&good).await;
    assert_eq!(good_view["status"], "Succeeded", "{good_view:#}");
    std::fs::write(ferry.file("broken"), "").unwrap();
    let bad = ferry.promote("bob").await;
    let bad_view = ferry.wait_final(&bad).await;
    assert_eq!(bad_view["status"], "Failed", "{bad_view:#}");
    let bad_envs = sorted(env_statuses(&bad_view));
    assert_eq!(
        bad_envs,
        sorted(vec![
            ("dev".into(), "Successful".into()),
            ("qa".into(), "Failed".into()),
            ("staging".into(), "Successful".into()),
            ("prod".into(), "Pending".into()),
        ])
    );
    let reason = bad_view["reason"].as_str().unwrap().to_owned();

    with_browser(|b| async move {
        // Products: shop with its latest release.
        b.client.goto(&ferry.url("/")).await.unwrap();
        let badge =
            b.wait_for("the shop product's latest release", Locator::Css("tr[data-product='shop'] .badge")).await;
        assert_eq!(badge.attr("data-status").await.unwrap().as_deref(), Some("Failed"));
        assert_eq!(badge.text().await.unwrap(), "Failed");
        b.screenshot("products").await;

        // Releases list: one column per environment, status as icon + hidden text.
        b.client.goto(&ferry.url("/products/shop")).await.unwrap();
        b.wait_for("the releases table", Locator::Css("#releases tbody tr")).await;
        let rows = releases_table(&b).await;
        assert_eq!(rows.len(), 2, "{rows:#?}");
        let (newest, oldest) = (&rows[0], &rows[1]);
        assert!(newest["href"].as_str().unwrap().ends_with(&bad), "{newest}");
        assert_eq!(newest["Status"], "Failed");
        assert_eq!(newest["Initiator"], "bob");
        assert_eq!(newest["Promotion flow"], "standard");
        assert_eq!(newest["Flow version"], "2.1");
        assert_eq!(newest["title"], reason.as_str(), "the date's tooltip is the failure reason");
        for (env, status) in &bad_envs {
            assert_eq!(newest[env.as_str()], status.as_str(), "{env} of the failed release: {newest}");
        }
        assert!(oldest["href"].as_str().unwrap().ends_with(&good));
        assert_eq!(oldest["Status"], "Succeeded");
        for env in ["dev", "qa", "staging", "prod"] {
            assert_eq!(oldest[env], "Successful", "{env} of the succeeded release: {oldest}");
        }
        b.screenshot("releases-list").await;

        // The succeeded release: one graph node per environment with its status.
        b.client.goto(&ferry.url(&format!("/releases/{good}"))).await.unwrap();
        b.wait_for("the environment graph", Locator::Css("svg.graph a.node")).await;
        assert_eq!(sorted(graph_nodes(&b).await), sorted(env_statuses(&good_view)));
        let collapsed = b.js("return document.querySelectorAll('svg.graph a.node-group, #graph-levels').length;").await;
        assert_eq!(collapsed, serde_json::json!(0), "a small graph is drawn in full, without a level summary");
        b.screenshot("release-succeeded").await;

        // The failed release: the graph, the issues, and the failed step's log in the side panel.
        b.client.goto(&ferry.url(&format!("/releases/{bad}"))).await.unwrap();
        b.wait_for("the environment graph", Locator::Css("svg.graph a.node")).await;
        assert_eq!(sorted(graph_nodes(&b).await), bad_envs);
        let issues = b.client.find_all(Locator::Css(".issues-top .issue")).await.unwrap();
        assert!(!issues.is_empty(), "the failed release lists its issues");
        assert!(b.client.find(Locator::Css("#retry")).await.is_ok(), "a failed release offers Retry");
        assert!(b.client.find(Locator::Css("#terminate")).await.is_err(), "a failed release cannot be terminated");
        b.screenshot("release-failed").await;
        let failed_step = "#env-qa a.step[data-step='verify']";
        let status = b.wait_for("the failed step", Locator::Css(&format!("{failed_step} .step-status"))).await;
        assert_eq!(status.text().await.unwrap(), "Failed");
        click(&b, "the failed step", failed_step).await;
        b.wait_for(
            "the failed step's log tail in the panel",
            Locator::XPath(
                "//aside[@id='panel']//pre[@data-log][contains(., 'verification failed: the broken flag is set')]",
            ),
        )
        .await;
        let title = b.client.find(Locator::Css("#panel-title")).await.unwrap().text().await.unwrap();
        assert_eq!(title, "verify");
        b.screenshot("release-failed-step").await;
        // Escape closes the panel and gives the focus back to the step.
        b.client.active_element().await.unwrap().send_keys("\u{e00c}").await.unwrap();
        let closed = b
            .js("return [document.getElementById('panel').hidden, document.activeElement.dataset.step || null];")
            .await;
        assert_eq!(closed, serde_json::json!([true, "verify"]));

        // Retry after the cause is gone: the same release runs again and succeeds, seen without reload.
        std::fs::remove_file(ferry.file("broken")).unwrap();
        click(&b, "the Retry button", "#retry").await;
        b.wait_for("the retried release to succeed", Locator::Css("#release-status .badge[data-status='Succeeded']"))
            .await;
        b.wait_for("the retried step to succeed", Locator::Css(&format!("{failed_step}.st-ok"))).await;
        assert!(b.client.find(Locator::Css("#retry")).await.is_err(), "Retry is gone once the release succeeded");
        let api = ferry.api_view(&bad).await;
        assert_eq!(api["status"], "Succeeded", "{api:#}");
        assert_eq!(api["retries"], 1);
    })
    .await;
}

const GATED: &str = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: gate }
spec:
  steps:
    - name: smoke
      run: echo "smoke tests of $APP_NAME passed"
    - name: wait
      run: |
        echo "waiting for the go signal"
        while [ ! -f "{S}/go" ]; do [ -d "{S}" ] || exit 1; sleep 0.05; done
        echo "go"
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: hold }
spec:
  steps:
    - name: hold
      run: |
        echo "holding until someone decides"
        while [ ! -f "{S}/never" ]; do [ -d "{S}" ] || exit 1; sleep 0.05; done
"#;

fn step_status(env: &str, step: &str, status: &str) -> String {
    format!("//article[@id='env-{env}']//a[@data-step='{step}']//span[@class='step-status'][text()='{status}']")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_release_updates_live_and_terminates_from_the_browser() {
    let ferry = Ferry::start(Spec { qa: "{ postAction: gate }", prod: "{ preAction: hold }", workflows: GATED }).await;
    let id = ferry.promote("carol").await;

    with_browser(|b| async move {
        b.client.goto(&ferry.url(&format!("/releases/{id}"))).await.unwrap();
        b.wait_for("qa's wait step running", Locator::XPath(&step_status("qa", "wait", "Running"))).await;
        b.js("window.ferrySamePage = true; return true;").await;
        b.wait_for("staging done", Locator::Css("svg.graph a.node.st-ok[data-env='staging']")).await;
        b.screenshot("release-running").await;

        // The running step's log in the panel, live.
        click(&b, "the running step", "#env-qa a.step[data-step='wait']").await;
        b.wait_for(
            "the running step's log",
            Locator::XPath("//aside[@id='panel']//pre[@data-log][contains(., 'waiting for the go signal')]"),
        )
        .await;

        // The script the step waits for goes on: the step turns Success without a reload.
        std::fs::write(ferry.file("go"), "").unwrap();
        b.wait_for(
            "the new log line in the panel",
            Locator::XPath("//aside[@id='panel']//pre[@data-log]/span[text()='go']"),
        )
        .await;
        b.wait_for("the step's success in the panel", Locator::Css("#panel .sv-badge .badge[data-status='Success']"))
            .await;
        b.client.active_element().await.unwrap().send_keys("\u{e00c}").await.unwrap();
        b.wait_for("qa's wait step succeeded", Locator::XPath(&step_status("qa", "wait", "Success"))).await;
        b.wait_for("qa successful in the graph", Locator::Css("svg.graph a.node.st-ok[data-env='qa']")).await;
        assert_eq!(b.js("return window.ferrySamePage === true;").await, Value::Bool(true), "the page was reloaded");

        // prod holds in its pre-action; terminate it from the browser, with a reason and a confirmation.
        b.wait_for("prod's hold step running", Locator::XPath(&step_status("prod", "hold", "Running"))).await;
        click(&b, "the Terminate button", "#terminate > summary").await;
        let reason = b.wait_for("the reason field", Locator::Css("#terminate-reason")).await;
        reason.send_keys("bad build").await.unwrap();
        click(&b, "the Terminate submit button", "#terminate-submit").await;
        let confirm = b.wait_for("the confirmation", Locator::Css("#confirm-terminate")).await;
        let page = b.client.find(Locator::Css(".confirm")).await.unwrap().text().await.unwrap();
        assert!(page.contains("bad build"), "the confirmation repeats the reason: {page}");
        confirm.click().await.unwrap();
        b.wait_for("the release terminated", Locator::Css("#release-status .badge[data-status='Terminated']")).await;
        b.wait_for("prod terminated in the graph", Locator::Css("svg.graph a.node.st-stop[data-env='prod']")).await;
        assert!(b.client.find(Locator::Css("#terminate")).await.is_err(), "Terminate is gone once terminated");
        let reason_text = b.client.find(Locator::Css(".reason")).await.unwrap().text().await.unwrap();
        assert!(reason_text.contains("bad build"), "{reason_text}");

        let view = ferry.wait_final(&id).await;
        assert_eq!(view["status"], "Terminated", "{view:#}");
        let api = ferry.api_view(&id).await;
        assert_eq!(api["status"], "Terminated");
        assert_eq!(api["reason"], "bad build");
        let envs = env_statuses(&api);
        assert!(envs.contains(&("prod".into(), "Terminated".into())), "{envs:?}");
        assert!(envs.contains(&("qa".into(), "Successful".into())), "{envs:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_without_javascript_and_refuse_cross_site_forms() {
    let ferry = Ferry::start(Spec { qa: "{}", prod: "{}", workflows: "" }).await;
    let id = ferry.promote("dave").await;
    ferry.wait_final(&id).await;
    let http = reqwest::Client::new();
    for path in ["/", "/products/shop", &format!("/releases/{id}"), "/flows/standard", &format!("/releases/{id}/notes")]
    {
        let response = http.get(ferry.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let html = response.text().await.unwrap();
        assert!(html.starts_with("<!doctype html>"), "{path}");
        assert!(!html.contains("onclick=") && !html.contains("<script>"), "{path}: no inline script");
    }
    let page = http.get(ferry.url(&format!("/releases/{id}"))).send().await.unwrap().text().await.unwrap();
    for env in ["dev", "qa", "staging", "prod"] {
        assert!(page.contains(&format!("data-env=\"{env}\"")), "{env} has a graph node");
    }
    let fragment = http.get(ferry.url(&format!("/releases/{id}?fragment=body"))).send().await.unwrap();
    let fragment = fragment.text().await.unwrap();
    assert!(fragment.starts_with("<div id=\"release-body\""), "{}", &fragment[..80.min(fragment.len())]);
    // A form posted from another site is refused; unknown pages and releases are HTML errors.
    let forged = http
        .post(ferry.url(&format!("/releases/{id}/retry")))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let missing = http.get(ferry.url("/releases/00000000-0000-7000-8000-000000000000")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert!(missing.text().await.unwrap().contains("There is no release"));
    // A same-origin form without its CSRF token is refused too.
    let no_token = http
        .post(ferry.url(&format!("/releases/{id}/retry")))
        .header("origin", ferry.base.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 403);
    // Retrying a succeeded release is refused by the engine and shown on the page.
    let page = http.get(ferry.url(&format!("/releases/{id}"))).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = cookie.strip_prefix("ferry_csrf=").unwrap().to_owned();
    let refused = http
        .post(ferry.url(&format!("/releases/{id}/retry")))
        .header("origin", ferry.base.as_str())
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 409);
    assert!(refused.text().await.unwrap().contains("Retry failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_member_signs_in_terminates_a_release_and_signs_out() {
    let settings = ferry_server::ServerSettings { auth: true, ..ferry_server::ServerSettings::default() };
    let ferry = Ferry::start_with(Spec { qa: "{}", prod: "{ preAction: hold }", workflows: GATED }, settings).await;
    let new = ferry_server::auth::NewToken {
        name: "release-manager".into(),
        role: "promoter".into(),
        products: vec!["shop".into()],
        ..ferry_server::auth::NewToken::default()
    };
    let secret = ferry_server::auth::tokens::create(&ferry.store, &new, "test").await.unwrap().token;
    let id = ferry.promote("release-manager").await;
    std::fs::write(ferry.file("go"), "").unwrap();

    with_browser(|b| async move {
        // Not signed in: the page sends the browser to the sign-in page, and back afterwards.
        b.client.goto(&ferry.url(&format!("/releases/{id}"))).await.unwrap();
        let field = b.wait_for("the token field", Locator::Css("#signin-token")).await;
        field.send_keys(&secret).await.unwrap();
        b.screenshot("sign-in").await;
        click(&b, "the Sign in button", "#signin-submit").await;
        let who = b.wait_for("who is signed in", Locator::Css("#who")).await;
        assert_eq!(who.text().await.unwrap(), "Signed in as release-manager (promoter)");
        assert!(b.client.current_url().await.unwrap().path().ends_with(&id), "back on the release page");
        b.screenshot("signed-in").await;

        b.wait_for("prod's hold step running", Locator::XPath(&step_status("prod", "hold", "Running"))).await;
        click(&b, "the Terminate button", "#terminate > summary").await;
        let reason = b.wait_for("the reason field", Locator::Css("#terminate-reason")).await;
        reason.send_keys("signed-in stop").await.unwrap();
        click(&b, "the Terminate submit button", "#terminate-submit").await;
        b.wait_for("the confirmation", Locator::Css("#confirm-terminate")).await.click().await.unwrap();
        b.wait_for("the release terminated", Locator::Css("#release-status .badge[data-status='Terminated']")).await;

        click(&b, "the Sign out button", "#sign-out").await;
        b.wait_for("the sign-in page again", Locator::Css("#signin-token")).await;
        b.client.goto(&ferry.url(&format!("/releases/{id}"))).await.unwrap();
        b.wait_for("signed out: the sign-in page", Locator::Css("#signin-token")).await;

        let view = ferry.wait_final(&id).await;
        assert_eq!(view["status"], "Terminated");
        let audit =
            ferry_store::Store::audit(&ferry.store, ferry_store::AuditQuery { limit: 20, ..Default::default() })
                .await
                .unwrap();
        let entries: Vec<_> = audit.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.outcome.as_str())).collect();
        assert!(entries.contains(&("release-manager", "release.terminate", "ok")), "{entries:?}");
        assert!(entries.contains(&("release-manager", "session.signin", "ok")), "{entries:?}");
        assert!(entries.contains(&("release-manager", "session.signout", "ok")), "{entries:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_release_draws_its_large_level_as_one_node_and_the_product_pages_its_columns() {
    let fan = 64;
    let ferry = Ferry::start_config(|url, _| harness::wide_config(url, fan), Default::default()).await;
    let id = ferry.promote_product("wide", "erin").await;
    let view = ferry.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let total = fan + 2;

    // Over HTTP: the parameters are checked and named.
    let http = reqwest::Client::new();
    for (path, name) in
        [(format!("/releases/{id}?expand=0"), "expand"), ("/products/wide?columns=x".to_owned(), "columns")]
    {
        let response = http.get(ferry.url(&path)).header("accept", "text/html").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        assert!(response.text().await.unwrap().contains(name), "{path}: the error names {name}");
    }

    with_browser(|b| async move {
        // Collapsed: the trigger, one node for the 64 environments of level 2, the join.
        b.client.goto(&ferry.url(&format!("/releases/{id}"))).await.unwrap();
        b.wait_for("the level node", Locator::Css("svg.graph a.node-group")).await;
        let group = b
            .js("const g = document.querySelector('svg.graph a.node-group'); \
                 return [g.dataset.level, g.dataset.count, g.getAttribute('aria-label')];")
            .await;
        assert_eq!(group[0], "2");
        assert_eq!(group[1], "64");
        let label = group[2].as_str().unwrap_or_default();
        assert!(label.contains("64 environments, 64 Successful"), "{label}");
        let singles = graph_nodes(&b).await;
        assert_eq!(
            sorted(singles),
            vec![("w00".to_owned(), "Successful".to_owned()), ("wz".to_owned(), "Successful".to_owned())]
        );
        let size = b.js("const r = document.querySelector('svg.graph').getBoundingClientRect(); return [r.width, r.height];").await;
        assert!(size[1].as_f64().unwrap() < 200.0, "the collapsed graph is short: {size}");
        let levels = b.js("return Array.from(document.querySelectorAll('#graph-levels a[data-level]')).map(a => a.textContent.trim());").await;
        assert_eq!(levels, serde_json::json!(["Level 1: 1", "Level 2: 64", "Level 3: 1"]));
        b.screenshot("release-wide-collapsed").await;

        // Selecting the level node draws its environments; the summary says how to collapse it again.
        click(&b, "the level node", "svg.graph a.node-group").await;
        b.wait_for("an environment of level 2", Locator::Css("svg.graph a.node[data-env='w33']")).await;
        assert_eq!(graph_nodes(&b).await.len(), total);
        assert!(b.client.current_url().await.unwrap().as_str().contains("expand=2"));
        b.wait_for("the expanded level", Locator::Css("#graph-levels a[aria-current]")).await;
        // Read in one script: a live update may swap the page body in between two driver calls.
        let current = b.js("return document.querySelector('#graph-levels a[aria-current]').textContent.trim();").await;
        assert_eq!(current, serde_json::json!("Level 2: 64 (collapse)"));
        b.screenshot("release-wide-expanded").await;

        // The product page: 20 environment columns at a time, the rest counted.
        b.client.goto(&ferry.url("/products/wide")).await.unwrap();
        b.wait_for("the releases table", Locator::Css("#releases tbody tr")).await;
        b.wait_for("the column range", Locator::Css("#columns-shown")).await;
        let shown = b.js("return document.querySelector('#columns-shown').textContent;").await;
        assert_eq!(shown, serde_json::json!("1–20"));
        let rows = releases_table(&b).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["w00"], "Successful");
        assert!(rows[0].get("w20").is_none(), "w20 is in the next group: {}", rows[0]);
        let others = rows[0]["Other environments"].as_str().unwrap().to_owned();
        assert!(others.contains(&(total - 20).to_string()), "the other environments are counted: {others}");
        click(&b, "the next columns", "#columns-next").await;
        b.wait_for("the next column range", Locator::Css("#columns-previous")).await;
        let shown = b.js("return document.querySelector('#columns-shown').textContent;").await;
        assert_eq!(shown, serde_json::json!("21–40"));
        let rows = releases_table(&b).await;
        assert_eq!(rows[0]["w20"], "Successful", "{}", rows[0]);
        assert!(rows[0].get("w00").is_none());
        b.screenshot("product-wide-columns").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roll_back_button_of_an_environment_card_restores_the_previous_release() {
    let ferry = Ferry::start(Spec { qa: "{}", prod: "{}", workflows: "" }).await;
    let first = ferry.promote("alice").await;
    assert_eq!(ferry.wait_final(&first).await["status"], "Succeeded");
    let after_first = ferry.prod_values("api");
    ferry.bump_dev("3.0.0");
    let second = ferry.promote("bob").await;
    assert_eq!(ferry.wait_final(&second).await["status"], "Succeeded");
    assert!(ferry.prod_values("api").contains("3.0.0"));

    with_browser(|b| async move {
        b.client.goto(&ferry.url(&format!("/releases/{second}"))).await.unwrap();
        b.wait_for("prod's card", Locator::Css("#env-prod")).await;
        assert!(b.client.find(Locator::Css("#rollback-prod")).await.is_ok(), "prod's card offers Roll back");
        assert!(b.client.find(Locator::Css("#rollback-dev")).await.is_err(), "the trigger environment does not");
        b.screenshot("release-roll-back").await;
        click(&b, "prod's Roll back button", "#rollback-prod").await;
        // The browser lands on the rollback's page, which follows it live to its end.
        b.wait_for("the rollback release's page", Locator::XPath("//dd/em[text()='Rollback']")).await;
        let restores = b.client.find(Locator::Css("dd[data-rollback]")).await.unwrap().text().await.unwrap();
        assert!(restores.starts_with("rollback of prod to release "), "{restores}");
        b.wait_for("the rollback to succeed", Locator::Css("#release-status .badge[data-status='Succeeded']")).await;
        let id = b.js("return document.getElementById('release-body').dataset.release;").await;
        let id = id.as_str().unwrap().to_owned();
        assert!(id != first && id != second, "a new release: {id}");
        let api = ferry.api_view(&id).await;
        assert_eq!(api["flow"], "rollback");
        assert_eq!(api["rollback"]["target"], first.as_str(), "{api:#}");
        assert_eq!(api["rollback"]["environment"], "prod");
        assert_eq!(ferry.prod_values("api"), after_first, "prod is back to the first release's values");
        b.screenshot("rollback-succeeded").await;

        // The rollback replaced the second release: rolling prod back again from the first release's
        // page restores the second.
        b.client.goto(&ferry.url(&format!("/releases/{first}"))).await.unwrap();
        click(&b, "prod's Roll back button", "#rollback-prod").await;
        // The first release's page shows Succeeded too: wait for the new rollback's page first.
        b.wait_for("the second rollback's page", Locator::XPath("//dd/em[text()='Rollback']")).await;
        let again = b.js("return document.getElementById('release-body').dataset.release;").await;
        let again = again.as_str().unwrap().to_owned();
        assert!(![&first, &second, &id].contains(&&again), "another new release: {again}");
        assert_eq!(ferry.wait_final(&again).await["status"], "Succeeded");
        b.wait_for("the second rollback to succeed", Locator::Css("#release-status .badge[data-status='Succeeded']"))
            .await;
        assert!(ferry.prod_values("api").contains("3.0.0"));
    })
    .await;
}

/// Records an outcome of its own release in `env`, `hours_ago` before `now`, its trigger commit `lead`
/// seconds earlier.
async fn record_outcome(ferry: &Ferry, now: jiff::Timestamp, made: (&str, &str, &str, bool, i64, i64)) {
    let (env, flow, status, after_action, hours_ago, lead) = made;
    let at = now - jiff::SignedDuration::from_hours(hours_ago);
    let created = at - jiff::SignedDuration::from_secs(lead + 1);
    let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, created.as_second() as u64, 0)).to_string();
    let mut w = ferry_store::test_support::release_write(&id, "shop", "Succeeded", created, 0, 1);
    w.outcomes = vec![ferry_store::OutcomeRow {
        release_id: id.clone(),
        product: "shop".into(),
        environment: env.into(),
        flow: flow.into(),
        attempt: 0,
        status: status.into(),
        after_action,
        committed_at: at - jiff::SignedDuration::from_secs(lead),
        at,
    }];
    let written = ferry.store.write(vec![ferry_store::Write::Release(Box::new(w))]).await.unwrap();
    assert!(written.iter().all(Result::is_ok), "{written:?}");
}

/// The DORA page of a history whose figures are worked out by hand: prod deploys at 240 h (lead 2 h),
/// fails after its action at 216 h (restored 3 h later), deploys at 213 h (lead 4 h, rolled back at
/// 120 h: restored after 93 h); dev deploys at 48 h (lead 1 min) and 480 h ago (before the window).
/// prod: 3 deployments, lead median 2 h and p90 4 h, 2 failures of 4 changes, restore median 3 h.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dora_page_draws_the_figures_of_a_known_history() {
    let ferry = Ferry::start(Spec { qa: "{}", prod: "{}", workflows: "" }).await;
    let now = jiff::Timestamp::now();
    for made in [
        ("prod", "standard", "Successful", true, 240, 7_200),
        ("prod", "standard", "Failed", true, 216, 3_600),
        ("prod", "standard", "Successful", true, 213, 14_400),
        ("prod", "rollback", "Successful", true, 120, 900_000),
        ("dev", "standard", "Successful", true, 48, 60),
        ("dev", "standard", "Successful", true, 480, 60),
    ] {
        record_outcome(&ferry, now, made).await;
    }
    let since = (now - jiff::SignedDuration::from_hours(14 * 24)).strftime("%Y-%m-%d").to_string();
    with_browser(|b| async move {
        b.client.goto(&ferry.url(&format!("/products/shop/dora?since={since}"))).await.unwrap();
        b.wait_for("the deployments chart", Locator::Css("svg#chart-deployments g.bar")).await;
        // Every chart is drawn with a size, one bar per week of the window (3 or 4 by the weekday).
        let charts = b
            .js("return ['deployments', 'lead-time', 'failure-rate', 'restore'].map(id => { \
                   const svg = document.getElementById('chart-' + id); const r = svg.getBoundingClientRect(); \
                   return [r.width > 100 && r.height > 50, svg.querySelectorAll('g.bar').length]; });")
            .await;
        let charts = charts.as_array().unwrap();
        let weeks = charts[0][1].as_u64().unwrap();
        assert!((3..=4).contains(&weeks), "{charts:?}");
        for chart in charts {
            assert_eq!(chart, &serde_json::json!([true, weeks]), "{charts:?}");
        }
        // The deployment bars say their week and value; together they are the window's 4 deployments,
        // and a bar's drawn height follows its value.
        let bars = b
            .js("return Array.from(document.querySelectorAll('#chart-deployments g.bar')).map(g => \
                   [g.querySelector('title').textContent, g.querySelector('rect').getBoundingClientRect().height]);")
            .await;
        let bars = bars.as_array().unwrap();
        let value = |bar: &Value| -> f64 {
            let title = bar[0].as_str().unwrap();
            assert!(title.starts_with("Week of "), "{title}");
            title.rsplit(": ").next().unwrap().parse().unwrap()
        };
        assert_eq!(bars.iter().map(value).sum::<f64>(), 4.0, "{bars:?}");
        for bar in bars {
            assert_eq!(value(bar) > 0.0, bar[1].as_f64().unwrap() > 0.0, "{bars:?}");
        }
        // The table: every figure of prod, and the rate of all environments together.
        let row = |name: &'static str| {
            let b = &b;
            async move {
                let script = format!(
                    "const a = Array.from(document.querySelectorAll('table.dora th a')).find(a => a.textContent === '{name}'); \
                     return Array.from(a.closest('tr').querySelectorAll('td')).map(td => td.textContent);"
                );
                b.js(&script).await
            }
        };
        let prod = row("prod").await;
        let prod: Vec<&str> = prod.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(prod[0], "3", "{prod:?}");
        assert!(prod[1] == "1.4" || prod[1] == "1.5", "{prod:?}");
        assert_eq!(prod[2..], ["2h 0m", "4h 0m", "50%", "3h 0m", "0"], "{prod:?}");
        let all = row("All environments").await;
        assert_eq!(all[0], "4", "{all}");
        assert_eq!(all[4], "40%", "{all}");
        assert_eq!(row("dev").await[2], "1m");
        b.screenshot("dora").await;
    })
    .await;
}
