//! Page builders rendered with plain data.

use std::str::FromStr;

use serde_json::{Value, json};

use super::*;

/// A release view of `envs` environments (a trigger, a fan-out, a join) with `apps` applications
/// each, every application with a post-action workflow of three steps.
fn big_view(envs: usize, apps: usize) -> Value {
    let statuses = ["Successful", "Running", "Failed", "Pending", "Suspended", "Terminated"];
    let environments: Vec<Value> = (0..envs)
        .map(|i| {
            let name = format!("env-{i:02}");
            let depends: Vec<String> = match i {
                0 => vec![],
                i if i == envs - 1 => (1..envs - 1).map(|j| format!("env-{j:02}")).collect(),
                _ => vec!["env-00".to_owned()],
            };
            json!({
                "name": name, "type": if i == envs - 1 { "production" } else { "non-production" },
                "isTrigger": i == 0, "dependsOn": depends, "status": statuses[i % statuses.len()],
                "startedAt": "2026-03-01T10:00:00Z", "finishedAt": null,
                "policy": {"action": "commit", "preAction": null, "postAction": "e2e", "source": {"action": "flow"}},
                "hooks": {"onStart": null, "onSuccess": null, "onFail": null},
                "applications": (0..apps).map(|a| json!({
                    "name": format!("app-{a}-{name}"), "component": format!("c{a}"), "phase": "postAction",
                    "action": {"action": "commit", "status": "Succeeded", "commit": "0123456789abcdef",
                               "repo": "https://u:t@git.example.com/x.git", "unchanged": false, "pullRequest": null, "error": null},
                    "app": {"sync": "Synced", "health": "Healthy", "revision": null, "message": null,
                            "observedAt": "2026-03-01T10:01:00Z"},
                    "version": "1.2.3", "failed": false, "gateFailure": null,
                })).collect::<Vec<_>>(),
                "workflows": [{"stage": "postAction", "hook": null, "name": "e2e", "status": "Running",
                    "steps": [{"name": "a", "status": "Success"}, {"name": "b", "status": "Running"}, {"name": "c", "status": "Pending"}],
                    "runs": (0..apps).map(|a| format!("01a219a2-582c-7416-{i:04x}-{a:012x}")).collect::<Vec<_>>()}],
                "issues": [{"id": format!("{name}:workflow:1"), "kind": "workflow", "summary": "step <b> failed",
                            "at": "2026-03-01T10:01:00Z", "app": null}],
            })
        })
        .collect();
    json!({
        "id": "01a219a2-582c-7416-a783-c74bd3b3c656", "product": "shop", "flow": "standard", "flowVersion": "3.0",
        "version": "1.4.2", "status": "Running", "initiator": "alice", "createdAt": "2026-03-01T10:00:00Z",
        "startedAt": "2026-03-01T10:00:00Z", "finishedAt": null, "reason": null, "retries": 0, "terminate": null,
        "lastRetry": null,
        "trigger": {"environment": "env-00", "sha": "00e81fed5f2da0ab8310f4d032695b9ec0548e06", "shortSha": "00e81fe",
                    "message": "feat: x <script>\n\nbody", "author": "Dana", "authorEmail": "dana@example.com",
                    "date": "2026-03-01T09:00:00Z", "repo": "https://user:secret@git.example.com/r.git", "branch": "main",
                    "webUrl": null},
        "counters": {"successful": 5, "running": 5, "failed": 5, "pending": 15},
        "environments": environments, "hooks": [], "context": {},
        "issues": [{"id": "env-01:workflow:1", "env": "env-01", "app": null, "summary": "step <b> failed",
                    "at": "2026-03-01T10:01:00Z",
                    "detail": {"kind": "workflow", "runId": "01a219a2-582c-7416-0001-000000000000", "workflow": "e2e",
                               "stage": "postAction", "step": "b", "exitCode": 1, "error": null, "logTail": [],
                               "definition": null}}],
    })
}

#[test]
fn a_release_of_30_environments_and_10_applications_renders_escaped_and_complete() {
    let view: ReleaseView = serde_json::from_value(big_view(30, 10)).expect("reads");
    let now = Timestamp::from_str("2026-03-01T10:05:00Z").expect("time");
    let started = std::time::Instant::now();
    let d = crate::ui::session::as_local(|| release(&view, now, ReleaseOptions::default()));
    let page = ReleasePage { page: PageMeta::new("t", vec![]), d };
    let html = page.render().expect("renders");
    let elapsed = started.elapsed();
    eprintln!("rendered a 30 × 10 release page ({} KiB) in {elapsed:?}", html.len() / 1024);
    assert_eq!(html.matches("<a class=\"node ").count(), 30, "one graph node per environment");
    assert_eq!(html.matches("class=\"card env ").count(), 30);
    assert!(html.contains("feat: x &#60;script&#62;") || html.contains("feat: x &lt;script&gt;"), "escaped");
    assert!(!html.contains("<script>") && !html.contains("<b>"), "nothing unescaped");
    assert!(!html.contains("secret") && !html.contains("u:t@"), "credentials are redacted");
    assert!(html.contains("id=\"terminate\""), "a running release can be terminated");
    assert!(!html.contains("id=\"retry\""), "a running release cannot be retried");
}

#[test]
fn product_columns_follow_the_flow_and_missing_environments_read_as_not_included() {
    let catalog = Catalog::default();
    let row = ReleaseRow {
        id: "01a219a2-582c-7416-a783-c74bd3b3c656".into(),
        product: "shop".into(),
        flow: "manual".into(),
        flow_version: None,
        status: "Failed".into(),
        initiator: "bob".into(),
        created_at: Timestamp::UNIX_EPOCH,
        finished_at: None,
        reason: Some("qa failed".into()),
        retries: 0,
        version: None,
        environments: json!({"qa": "Failed", "dev": "Successful"}),
    };
    let d = product(ProductInput {
        catalog: &catalog,
        name: "shop",
        live: &[],
        rows: std::slice::from_ref(&row),
        next: Some("01a219a2-0000-7416-a783-c74bd3b3c656"),
        filters: Filters { status: "Failed".into(), ..Filters::default() },
        error: None,
        column_group: 1,
        freezes: Vec::new(),
    });
    assert_eq!(d.releases[0].flow_href, None, "manual releases have no flow link");
    assert_eq!(d.releases[0].line.flow, "Manual");
    assert_eq!(d.older.as_deref(), Some("/products/shop?status=Failed&cursor=01a219a2-0000-7416-a783-c74bd3b3c656"));
    let html = ProductFragment { d }.render().expect("renders");
    assert!(html.contains(r#"title="qa failed""#), "the date's tooltip is the reason");
    assert!(html.contains("<em>Manual</em>"));
}

#[test]
fn a_release_of_more_than_card_limit_environments_gives_cards_to_those_that_need_attention() {
    let n = super::release::CARD_LIMIT * 4;
    let view: ReleaseView = serde_json::from_value(big_view(n, 1)).expect("reads");
    let now = Timestamp::from_str("2026-03-01T10:05:00Z").expect("time");
    let quiet = |e: &&ferry_api::EnvironmentView| {
        matches!(e.status, ferry_model::status::EnvStatus::Successful | ferry_model::status::EnvStatus::Pending)
    };
    let hidden = view.environments.iter().filter(quiet).count();
    assert!(hidden > 0 && hidden < n, "the fixture mixes statuses");
    let d = crate::ui::session::as_local(|| release(&view, now, ReleaseOptions::default()));
    assert_eq!((d.envs.len(), d.hidden_cards), (n - hidden, hidden));
    let html = ReleasePage { page: PageMeta::new("t", vec![]), d }.render().expect("renders");
    assert!(html.contains("class=\"node node-group "), "the large level is one group node");
    assert_eq!(html.matches("class=\"card env ").count(), n - hidden);
    assert!(html.contains("?cards=all\">Show all"), "a link brings every card back");
    let shown: Vec<&str> = view.environments.iter().filter(|e| !quiet(e)).map(|e| e.name.as_str()).collect();
    assert!(shown.iter().all(|name| html.contains(&format!("data-env=\"{name}\" aria-labelledby"))));
    // Every card on request; a small flow always has every card.
    let all = crate::ui::session::as_local(|| {
        release(&view, now, ReleaseOptions { all_cards: true, ..ReleaseOptions::default() })
    });
    assert_eq!((all.envs.len(), all.hidden_cards), (n, 0));
    let small: ReleaseView = serde_json::from_value(big_view(super::release::CARD_LIMIT, 1)).expect("reads");
    let d = crate::ui::session::as_local(|| release(&small, now, ReleaseOptions::default()));
    assert_eq!((d.envs.len(), d.hidden_cards), (super::release::CARD_LIMIT, 0));
}

#[test]
fn a_large_graph_is_collapsed_into_level_nodes_with_counts_and_expands_on_request() {
    let n = 200;
    let view: ReleaseView = serde_json::from_value(big_view(n, 1)).expect("reads");
    let now = Timestamp::from_str("2026-03-01T10:05:00Z").expect("time");
    let render = |options: ReleaseOptions| {
        let d = crate::ui::session::as_local(|| release(&view, now, options));
        ReleasePage { page: PageMeta::new("t", vec![]), d }.render().expect("renders")
    };
    // Collapsed: the trigger, the fan-out level as one group node beside the three failed
    // environments that need attention most, and the join.
    let html = render(ReleaseOptions::default());
    assert_eq!(html.matches("<a class=\"node st-").count(), 1 + 3 + 1, "single nodes");
    assert_eq!(html.matches("class=\"node node-group ").count(), 1);
    assert!(html.contains("data-level=\"2\" data-count=\"195\""), "the group counts the rest of level 2");
    let failed: Vec<&str> =
        view.environments.iter().filter(|e| e.status.as_str() == "Failed").map(|e| e.name.as_str()).take(3).collect();
    for name in &failed {
        assert!(html.contains(&format!("data-env=\"{name}\" aria-label")), "{name} needs attention and is drawn");
    }
    let expected_counts = ["Failed", "Terminated", "Suspended", "Running", "Pending", "Successful"].map(|s| {
        let all = view.environments[1..n - 1].iter().filter(|e| e.status.as_str() == s).count();
        (s, if s == "Failed" { all - 3 } else { all })
    });
    let text: Vec<String> = expected_counts.iter().filter(|(_, c)| *c > 0).map(|(s, c)| format!("{c} {s}")).collect();
    assert!(html.contains(&text.join(", ")), "the group's tooltip counts by status: {}", text.join(", "));
    assert!(html.contains("href=\"/releases/01a219a2-582c-7416-a783-c74bd3b3c656?expand=2#graph-h\""));
    // Level 2 expanded: every environment is drawn.
    let expanded = render(ReleaseOptions { expand: graph::Expand::Level(2), ..ReleaseOptions::default() });
    assert_eq!(expanded.matches("<a class=\"node st-").count(), n);
    assert!(!expanded.contains("node-group"));
    assert!(html.len() + 195 * 512 < expanded.len(), "the collapsed graph leaves out ~0.5 KiB per environment");
    let all = render(ReleaseOptions { expand: graph::Expand::All, ..ReleaseOptions::default() });
    assert_eq!(all.matches("<a class=\"node st-").count(), n);
    assert!(all.contains("Collapse large levels"));
    // A flow under the limit is drawn in full, without the level summary.
    let small: ReleaseView = serde_json::from_value(big_view(graph::GRAPH_LIMIT, 1)).expect("reads");
    let d = crate::ui::session::as_local(|| release(&small, now, ReleaseOptions::default()));
    assert!(d.levels.is_empty() && d.graph_toggle.is_none());
    let html = ReleasePage { page: PageMeta::new("t", vec![]), d }.render().expect("renders");
    assert_eq!(html.matches("<a class=\"node st-").count(), graph::GRAPH_LIMIT);
    assert!(!html.contains("graph-levels"));
}

#[test]
fn expand_reads_a_level_or_all_and_names_itself_when_wrong() {
    assert_eq!(graph::Expand::parse(None), Ok(graph::Expand::None));
    assert_eq!(graph::Expand::parse(Some("all")), Ok(graph::Expand::All));
    assert_eq!(graph::Expand::parse(Some("3")), Ok(graph::Expand::Level(3)));
    for bad in ["0", "-1", "x"] {
        let e = graph::Expand::parse(Some(bad)).expect_err(bad);
        assert!(e.starts_with("expand="), "{e}");
    }
}

#[test]
fn a_product_with_many_environments_shows_its_columns_in_groups_with_the_others_counted() {
    let catalog = Catalog::default();
    let n = COLUMN_LIMIT * 3 + 5;
    let names: Vec<String> = (0..n).map(|i| format!("e{i:03}")).collect();
    let statuses: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, e)| (e.clone(), json!(if i == n - 1 { "Failed" } else { "Successful" })))
        .collect();
    let row = ReleaseRow {
        id: "01a219a2-582c-7416-a783-c74bd3b3c656".into(),
        product: "wide".into(),
        flow: "manual".into(),
        flow_version: None,
        status: "Failed".into(),
        initiator: "bob".into(),
        created_at: Timestamp::UNIX_EPOCH,
        finished_at: None,
        reason: None,
        retries: 0,
        version: None,
        environments: Value::Object(statuses),
    };
    let page = |group: usize, filters: Filters| {
        product(ProductInput {
            catalog: &catalog,
            name: "wide",
            live: &[],
            rows: std::slice::from_ref(&row),
            next: None,
            filters,
            error: None,
            column_group: group,
            freezes: Vec::new(),
        })
    };
    let first = page(1, Filters::default());
    assert_eq!(first.environments.len(), COLUMN_LIMIT);
    let c = first.columns.as_ref().expect("grouped");
    assert_eq!((c.first, c.last, c.total, c.groups.len()), (1, COLUMN_LIMIT, n, 4));
    assert_eq!(c.previous, None);
    assert_eq!(c.next.as_deref(), Some("/products/wide?columns=2"));
    assert_eq!(first.releases[0].cells.len(), COLUMN_LIMIT);
    let others: Vec<(usize, String)> =
        first.releases[0].others.iter().map(|o| (o.count, o.badge.text.clone())).collect();
    assert_eq!(others, vec![(1, "Failed".to_owned()), (n - COLUMN_LIMIT - 1, "Successful".to_owned())]);
    // The last group keeps the filters in its links and holds the rest of the columns.
    let filters = Filters { status: "Failed".into(), columns: "4".into(), ..Filters::default() };
    let last = page(4, filters);
    let c = last.columns.as_ref().expect("grouped");
    assert_eq!((c.first, c.last), (COLUMN_LIMIT * 3 + 1, n));
    assert_eq!(last.environments.first(), Some(&names[COLUMN_LIMIT * 3]));
    assert_eq!(c.previous.as_deref(), Some("/products/wide?status=Failed&columns=3"));
    assert_eq!(c.next, None);
    assert!(c.groups[3].current && c.groups[3].label.starts_with("61–65: e060"));
    let html = ProductFragment { d: last }.render().expect("renders");
    assert!(html.contains("id=\"column-groups\"") && html.contains("Other environments"));
    assert!(html.contains(r#"<input type="hidden" name="status" value="Failed">"#), "the group form keeps the filters");
    // Asking beyond the last group shows the last; a small product has no groups.
    assert_eq!(page(99, Filters::default()).columns.map(|c| c.first), Some(COLUMN_LIMIT * 3 + 1));
    let few = ReleaseRow { environments: json!({"dev": "Successful"}), ..row.clone() };
    let d = product(ProductInput {
        catalog: &catalog,
        name: "wide",
        live: &[],
        rows: std::slice::from_ref(&few),
        next: None,
        filters: Filters::default(),
        error: None,
        column_group: 1,
        freezes: Vec::new(),
    });
    assert!(d.columns.is_none() && d.releases[0].others.is_empty());
}
