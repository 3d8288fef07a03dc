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
    let d = crate::ui::session::as_local(|| release(&view, now, false));
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
    let d = crate::ui::session::as_local(|| release(&view, now, false));
    assert_eq!((d.envs.len(), d.hidden_cards), (n - hidden, hidden));
    let html = ReleasePage { page: PageMeta::new("t", vec![]), d }.render().expect("renders");
    assert_eq!(html.matches("<a class=\"node ").count(), n, "the graph still shows every environment");
    assert_eq!(html.matches("class=\"card env ").count(), n - hidden);
    assert!(html.contains("?cards=all\">Show all"), "a link brings every card back");
    let shown: Vec<&str> = view.environments.iter().filter(|e| !quiet(e)).map(|e| e.name.as_str()).collect();
    assert!(shown.iter().all(|name| html.contains(&format!("data-env=\"{name}\" aria-labelledby"))));
    // Every card on request; a small flow always has every card.
    let all = crate::ui::session::as_local(|| release(&view, now, true));
    assert_eq!((all.envs.len(), all.hidden_cards), (n, 0));
    let small: ReleaseView = serde_json::from_value(big_view(super::release::CARD_LIMIT, 1)).expect("reads");
    let d = crate::ui::session::as_local(|| release(&small, now, false));
    assert_eq!((d.envs.len(), d.hidden_cards), (super::release::CARD_LIMIT, 0));
}
