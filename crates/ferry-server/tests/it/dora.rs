//! DORA metrics over HTTP (SPEC §10): `GET /api/v1/dora`, the page `/products/{name}/dora` and the
//! gauges on `/metrics`, checked against a history whose figures are worked out by hand below.

use ferry_store::{OutcomeRow, Write};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::{Server, release_id, release_write, write};

/// An outcome `hours` before `now`, its trigger commit `lead` seconds earlier.
struct Made {
    env: &'static str,
    flow: &'static str,
    status: &'static str,
    after_action: bool,
    hours_ago: i64,
    lead: i64,
}

async fn record(server: &Server, now: Timestamp, made: &[Made]) {
    for (i, m) in made.iter().enumerate() {
        let at = now - SignedDuration::from_hours(m.hours_ago);
        let created = (at - SignedDuration::from_secs(m.lead + 1)).to_string();
        let id = release_id(&created);
        let Write::Release(mut w) = release_write(&id, "shop", m.flow, "Succeeded", &created, 0, 1) else {
            unreachable!()
        };
        w.outcomes = vec![OutcomeRow {
            release_id: id.clone(),
            product: "shop".into(),
            environment: m.env.into(),
            flow: m.flow.into(),
            attempt: i as i64,
            status: m.status.into(),
            after_action: m.after_action,
            committed_at: at - SignedDuration::from_secs(m.lead),
            at,
        }];
        write(&server.store, Write::Release(w)).await;
    }
}

/// The history, 14 days back from `now`:
/// * prod A: Successful 240 h ago, lead 2 h.
/// * prod B: Failed after its action 216 h ago — a change failure, restored by C 3 h later.
/// * prod C: Successful 213 h ago, lead 4 h — rolled back by D: a change failure restored 93 h later.
/// * prod D: Successful, flow `rollback`, 120 h ago — a deployment without lead time.
/// * dev E: Successful 48 h ago, lead 60 s. dev F: Successful 480 h ago, outside the window.
///
/// prod: 3 deployments (1.5 a week), lead times 2 h and 4 h (median 2 h, p90 4 h), 4 changes of
/// which 2 failed (50%), restores 3 h and 93 h (median 3 h, p90 93 h).
/// dev: 1 deployment, lead 60 s. Together: 4 deployments, lead median 2 h, 5 changes, 40%.
fn history() -> Vec<Made> {
    let m =
        |env, flow, status, after_action, hours_ago, lead| Made { env, flow, status, after_action, hours_ago, lead };
    vec![
        m("prod", "standard", "Successful", true, 240, 7_200),
        m("prod", "standard", "Failed", true, 216, 3_600),
        m("prod", "standard", "Successful", true, 213, 14_400),
        m("prod", "rollback", "Successful", true, 120, 900_000),
        m("dev", "standard", "Successful", true, 48, 60),
        m("dev", "standard", "Successful", true, 480, 60),
    ]
}

async fn setup() -> (Server, Timestamp) {
    let server = Server::start().await;
    let (status, body) = server.post("/api/v1/apply", &server.shop_sources()).await;
    assert_eq!(status, 200, "{body}");
    let now = Timestamp::now();
    record(&server, now, &history()).await;
    (server, now)
}

fn since(now: Timestamp) -> String {
    (now - SignedDuration::from_hours(14 * 24)).to_string()
}

fn total<'a>(report: &'a Value, env: Option<&str>) -> &'a Value {
    match env {
        None => &report["all"]["total"],
        Some(e) => {
            let series = report["environments"].as_array().unwrap().iter().find(|s| s["environment"] == e);
            &series.unwrap_or_else(|| panic!("no {e} in {report:#}"))["total"]
        }
    }
}

#[tokio::test]
async fn the_figures_match_the_hand_computed_history() {
    let (server, now) = setup().await;
    let (status, report) = server.get(&format!("/api/v1/dora?product=shop&since={}", since(now))).await;
    assert_eq!(status, 200, "{report}");
    let order: Vec<&str> =
        report["environments"].as_array().unwrap().iter().map(|s| s["environment"].as_str().unwrap()).collect();
    assert_eq!(order, ["dev", "prod"], "flow order");
    let prod = total(&report, Some("prod"));
    assert_eq!(prod["deployments"], 3);
    // The window ends when the server answered, a moment after `now`.
    let per_week = |v: &Value| v["deploymentsPerWeek"].as_f64().unwrap();
    assert!((per_week(prod) - 1.5).abs() < 0.001, "{prod}");
    assert_eq!(prod["leadTimeSeconds"], json!({"count": 2, "median": 7_200, "p90": 14_400}));
    assert_eq!((prod["changes"].as_u64(), prod["changeFailures"].as_u64()), (Some(4), Some(2)));
    assert_eq!(prod["changeFailureRate"], 0.5);
    assert_eq!(prod["timeToRestoreSeconds"], json!({"count": 2, "median": 10_800, "p90": 334_800}));
    assert_eq!(prod["unrestored"], 0);
    let dev = total(&report, Some("dev"));
    assert_eq!((dev["deployments"].as_u64(), dev["leadTimeSeconds"]["median"].as_i64()), (Some(1), Some(60)));
    let all = total(&report, None);
    assert_eq!(all["deployments"], 4);
    assert!((per_week(all) - 2.0).abs() < 0.001, "{all}");
    assert_eq!(all["leadTimeSeconds"], json!({"count": 3, "median": 7_200, "p90": 14_400}));
    assert_eq!(all["changeFailureRate"], 0.4);
    // The weeks cover the window and add up to it.
    let weeks = report["all"]["weeks"].as_array().unwrap();
    assert!((3..=4).contains(&weeks.len()), "{weeks:?}");
    let summed: u64 = weeks.iter().map(|w| w["figures"]["deployments"].as_u64().unwrap()).sum();
    assert_eq!(summed, 4);

    // One environment: only its series.
    let (status, report) = server.get(&format!("/api/v1/dora?product=shop&env=prod&since={}", since(now))).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["environments"].as_array().unwrap().len(), 1);
    assert_eq!(total(&report, None), total(&report, Some("prod")));

    // The default window (90 days) includes dev's older deployment.
    let (_, report) = server.get("/api/v1/dora?product=shop").await;
    assert_eq!(total(&report, Some("dev"))["deployments"], 2);
}

#[tokio::test]
async fn bad_requests_name_the_parameter() {
    let server = Server::start().await;
    let (status, body) = server.post("/api/v1/apply", &server.shop_sources()).await;
    assert_eq!(status, 200, "{body}");
    for (path, status, needle) in [
        ("/api/v1/dora", 400, "product"),
        ("/api/v1/dora?product=Bad%20Name", 400, "product"),
        ("/api/v1/dora?product=shop&env=Not%20One", 400, "env"),
        ("/api/v1/dora?product=shop&since=yesterday", 400, "since"),
        ("/api/v1/dora?product=shop&since=2999-01-01", 400, "since"),
        ("/api/v1/dora?product=shop&flow=x", 400, "flow"),
        ("/api/v1/dora?product=bank", 404, "unknown product"),
    ] {
        let (got, body) = server.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.to_string().contains(needle), "{path}: {body}");
    }
}

async fn html(server: &Server, path: &str) -> String {
    let answer = reqwest::Client::new().get(server.url(path)).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{path}");
    answer.text().await.unwrap()
}

#[tokio::test]
async fn the_page_draws_a_chart_per_figure_and_a_row_per_environment() {
    let (server, now) = setup().await;
    let product = html(&server, "/products/shop").await;
    assert!(product.contains("href=\"/products/shop/dora\""), "the product page links the metrics");
    let since = (now - SignedDuration::from_hours(14 * 24)).strftime("%Y-%m-%d").to_string();
    let page = html(&server, &format!("/products/shop/dora?since={since}")).await;
    for id in ["deployments", "lead-time", "failure-rate", "restore"] {
        assert!(page.contains(&format!("<svg class=\"chart\" id=\"chart-{id}\" role=\"img\"")), "{id}: {page}");
    }
    assert!(!page.contains("<script>"), "no inline script");
    // The table: all environments, dev, prod, with the figures worked out above.
    let row = |name: &str| {
        let start = page.find(&format!(">{name}</a></th>")).unwrap_or_else(|| panic!("no row {name}: {page}"));
        page[start..].split("</tr>").next().unwrap().to_owned()
    };
    let prod = row("prod");
    // (The window starts at midnight of `since`, so the weekly rate is 1.4 or 1.5 by the time of day.)
    assert!(prod.contains("</th><td>3</td><td>1.4</td>") || prod.contains("</th><td>3</td><td>1.5</td>"), "{prod}");
    assert!(prod.ends_with("<td>2h 0m</td><td>4h 0m</td><td>50%</td><td>3h 0m</td><td>0</td>"), "{prod}");
    assert!(row("All environments").contains("<td>40%</td>"));
    assert!(row("dev").contains("<td>1m</td>"));
    // Each bar says its week and value in words.
    assert!(page.contains("<title>Week of "), "{page}");
    // One environment's charts.
    let page = html(&server, &format!("/products/shop/dora?env=prod&since={since}")).await;
    assert!(page.contains("environment prod"), "{page}");
    let missing = reqwest::get(server.url("/products/bank/dora")).await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn metrics_carry_the_gauges_per_product_and_environment() {
    let (server, _) = setup().await;
    let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    // Over the last 30 days: prod 3 deployments (0.7 a week), dev 1 (its older one is 20 days ago: 2).
    assert!(text.contains("# TYPE ferry_dora_deployments_per_week gauge\n"), "{text}");
    assert!(text.contains("ferry_dora_deployments_per_week{product=\"shop\",environment=\"prod\"} 0.7\n"), "{text}");
    assert!(text.contains("ferry_dora_change_failure_rate{product=\"shop\",environment=\"prod\"} 0.5\n"));
    assert!(text.contains("ferry_dora_lead_time_median_seconds{product=\"shop\",environment=\"dev\"} 60\n"));
    assert!(text.contains("ferry_dora_time_to_restore_median_seconds{product=\"shop\",environment=\"prod\"} 10800\n"));
}
