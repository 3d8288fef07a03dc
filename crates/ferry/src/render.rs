//! Human output: aligned tables, status labels (symbol + word, never colour alone), and the release tree.
//!
//! Release views and list rows are read as the API's types (`ferry_api`, SPEC §7.4); other answers as
//! JSON.

use std::str::FromStr;

use ferry_api::{AppView, ReleaseView};
use ferry_model::status::{EnvStatus, HealthStatus, ReleaseStatus, StepStatus, SyncStatus};
use jiff::Timestamp;
use serde_json::Value;

/// A string field, or `""`.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The symbol of any status word (release, environment, step, sync or health), or `?`.
pub fn symbol(status: &str) -> &'static str {
    if let Ok(s) = ReleaseStatus::from_str(status) {
        return s.symbol();
    }
    if let Ok(s) = EnvStatus::from_str(status) {
        return s.symbol();
    }
    if let Ok(s) = StepStatus::from_str(status) {
        return s.symbol();
    }
    if let Ok(s) = SyncStatus::from_str(status) {
        return s.symbol();
    }
    if let Ok(s) = HealthStatus::from_str(status) {
        return s.symbol();
    }
    "?"
}

/// `✓ Succeeded`.
pub fn label(status: &str) -> String {
    if status.is_empty() { "-".to_owned() } else { format!("{} {status}", symbol(status)) }
}

/// The legend of environment symbols printed under release tables.
pub fn env_legend() -> String {
    let parts: Vec<String> = EnvStatus::ALL.iter().map(|s| format!("{} {}", s.symbol(), s.as_str())).collect();
    format!("{}  - not in the release", parts.join("  "))
}

/// Display width of a cell in terminal columns (wide characters such as CJK count two).
fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// Renders rows as columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// `2026-01-05 10:00Z` from a time, or `-`.
pub fn time_of(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.strftime("%Y-%m-%d %H:%MZ").to_string())
}

/// The release as a tree: header, then each environment with its applications, workflows and issues.
pub fn release_tree(view: &ReleaseView) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(text.trim_end());
        out.push('\n');
    };
    let flow = match (view.flow.as_str(), view.flow_version.as_deref().unwrap_or_default()) {
        ("", _) => "-".to_owned(),
        (f, "") => f.to_owned(),
        (f, v) => format!("{f} {v}"),
    };
    let version = view.version.as_deref().unwrap_or_default();
    line(format!(
        "Release {} · product {} · flow {flow}{}",
        view.id,
        view.product,
        if version.is_empty() { String::new() } else { format!(" · version {version}") }
    ));
    let c = &view.counters;
    line(format!(
        "Status:    {}   ({} successful, {} running, {} failed, {} pending)",
        label(view.status.as_str()),
        c.successful,
        c.running,
        c.failed,
        c.pending
    ));
    let t = &view.trigger;
    let subject = t.message.lines().next().unwrap_or_default();
    line(format!(
        "Trigger:   {} {} {:?} by {} ({} {})",
        t.environment,
        if t.short_sha.is_empty() { short(&t.sha) } else { t.short_sha.as_str() },
        subject,
        t.author,
        t.repo,
        t.branch
    ));
    line(format!(
        "Initiator: {} · created {} · finished {}{}",
        view.initiator,
        time_of(Some(view.created_at)),
        time_of(view.finished_at),
        if view.retries > 0 { format!(" · {} retries", view.retries) } else { String::new() }
    ));
    if let Some(reason) = view.reason.as_deref().filter(|r| !r.is_empty()) {
        line(format!("Reason:    {reason}"));
    }
    for env in &view.environments {
        line(String::new());
        let action = env.policy.as_ref().map(|p| p.action.as_str()).unwrap_or_default();
        line(format!(
            "{} {} ({}){}{}",
            label(env.status.as_str()),
            env.name,
            env.env_type,
            if env.depends_on.is_empty() { String::new() } else { format!(" after {}", env.depends_on.join(", ")) },
            if action.is_empty() { String::new() } else { format!(" · action {action}") },
        ));
        let mut children: Vec<Vec<String>> = Vec::new();
        for app in &env.applications {
            children.push(app_lines(app));
        }
        for wf in &env.workflows {
            let mut lines = vec![format!("{} workflow {} ({})", label(wf.status.as_str()), wf.name, wf.stage)];
            for step in &wf.steps {
                lines.push(format!("{} step {}", label(step.status.as_str()), step.name));
            }
            children.push(lines);
        }
        if let Some(a) = &env.approval {
            let who: Vec<String> = a.approvals.iter().map(|g| g.actor.clone()).collect();
            let mut text = format!("approvals {} of {}", a.approvals.len(), a.required);
            if !who.is_empty() {
                text.push_str(&format!(" · by {}", who.join(", ")));
            }
            if a.waiting {
                text.push_str(" · waiting");
            }
            children.push(vec![text]);
        }
        if let Some(soak) = &env.soak {
            let text = match (&soak.relapse, soak.passed_at, soak.until) {
                (Some(r), _, _) => format!("soak {} failed: {r}", soak.time),
                (None, Some(at), _) => format!("soak {} passed {}", soak.time, time_of(Some(at))),
                (None, None, Some(until)) => {
                    let left =
                        std::time::Duration::try_from(until.duration_since(jiff::Timestamp::now())).unwrap_or_default();
                    let left = ferry_model::format_duration(std::time::Duration::from_secs(left.as_secs()));
                    format!("soaking {} · {left} left (until {})", soak.time, time_of(Some(until)))
                }
                (None, None, None) => format!("soak {} after the Post-Action", soak.time),
            };
            children.push(vec![text]);
        }
        for issue in &env.issues {
            children.push(vec![format!("⚠ issue ({}): {}", issue.kind, issue.summary)]);
        }
        let n = children.len();
        for (i, lines) in children.into_iter().enumerate() {
            let last = i + 1 == n;
            for (j, text) in lines.into_iter().enumerate() {
                let prefix = match (j, last) {
                    (0, false) => "├─ ",
                    (0, true) => "└─ ",
                    (_, false) => "│    ",
                    (_, true) => "     ",
                };
                line(format!("{prefix}{text}"));
            }
        }
    }
    out
}

fn app_lines(app: &AppView) -> Vec<String> {
    let mut first = format!("app {}", app.name);
    if !app.component.is_empty() {
        first.push_str(&format!(" [{}]", app.component));
    }
    first.push_str(&format!(" · phase {}", app.phase));
    if let Some(version) = app.version.as_deref().filter(|v| !v.is_empty()) {
        first.push_str(&format!(" · version {version}"));
    }
    let mut lines = vec![first];
    if let Some(action) = &app.action {
        let mut text = format!("action {}", label(action.status.as_str()));
        if let Some(commit) = action.commit.as_deref().filter(|c| !c.is_empty()) {
            text.push_str(&format!(" · commit {}", short(commit)));
        }
        if let Some(pr) = &action.pull_request {
            let id = if pr.url.is_empty() { pr.number.to_string() } else { pr.url.clone() };
            text.push_str(&format!(" · PR {id}"));
        }
        lines.push(text);
    }
    if let Some(live) = &app.app {
        let mut text = format!("{} · {}", label(live.sync.as_str()), label(live.health.as_str()));
        if let Some(revision) = live.revision.as_deref().filter(|r| !r.is_empty()) {
            text.push_str(&format!(" at {}", short(revision)));
        }
        lines.push(text);
    }
    lines
}

/// What changed between two views of a release, one line each (for `--wait` and `watch`).
pub fn changes(old: Option<&ReleaseView>, new: &ReleaseView) -> Vec<String> {
    let mut out = Vec::new();
    if old.map(|o| o.status) != Some(new.status) {
        out.push(format!("release {}", label(new.status.as_str())));
    }
    for env in &new.environments {
        let before = old.and_then(|o| o.environment(&env.name));
        if before.map(|b| b.status) != Some(env.status) {
            out.push(format!("  {} {}", label(env.status.as_str()), env.name));
        }
        let seen = |id: &str| before.is_some_and(|b| b.issues.iter().any(|x| x.id == id));
        for issue in &env.issues {
            if !seen(&issue.id) {
                out.push(format!("    ⚠ {}: {}", env.name, issue.summary));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_wide_characters_by_their_display_width() {
        // 商品 is two characters but four columns wide.
        let rows = vec![vec!["商品".to_owned(), "x".to_owned()], vec!["ab".to_owned(), "y".to_owned()]];
        assert_eq!(table(&["N", "V"], &rows), "N     V\n商品  x\nab    y\n");
    }

    #[test]
    fn labels_carry_a_symbol_and_a_word() {
        assert_eq!(label("Succeeded"), "✓ Succeeded");
        assert_eq!(label("Failed"), "✗ Failed");
        assert_eq!(label("Pending"), "◌ Pending");
        assert_eq!(label("Synced"), "✓ Synced");
        assert_eq!(label("Whatever"), "? Whatever");
        assert_eq!(label(""), "-");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "LONG"], &[vec!["xxx".into(), "1".into()], vec!["✓ y".into(), "2".into()]]);
        assert_eq!(t, "A    LONG\nxxx  1\n✓ y  2\n");
    }

    fn view() -> ReleaseView {
        let view = r#"{
            "id": "01940000-0000-7000-8000-000000000190", "product": "shop", "flow": "standard", "flowVersion": "3.0",
            "version": "1.4.2", "status": "Running", "initiator": "alice", "createdAt": "2026-01-05T10:00:00Z",
            "startedAt": "2026-01-05T10:00:00Z", "finishedAt": null, "reason": null, "retries": 0,
            "terminate": null, "lastRetry": null,
            "trigger": {"environment": "dev", "sha": "abcdef0123", "shortSha": "abcdef0", "message": "fix: login\n\nbody",
                        "author": "Bob", "authorEmail": "bob@example.com", "date": "2026-01-05T09:00:00Z",
                        "repo": "https://git.example.com/shop.git", "branch": "main", "webUrl": null},
            "counters": {"successful": 1, "running": 1, "failed": 0, "pending": 2},
            "environments": [
                {"name": "dev", "type": "non-production", "isTrigger": true, "dependsOn": [], "status": "Successful",
                 "startedAt": null, "finishedAt": null, "policy": null,
                 "hooks": {"onStart": null, "onSuccess": null, "onFail": null},
                 "applications": [], "workflows": [], "issues": []},
                {"name": "qa", "type": "non-production", "isTrigger": false, "dependsOn": ["dev"], "status": "Running",
                 "startedAt": null, "finishedAt": null,
                 "policy": {"action": "commit", "preAction": null, "postAction": "e2e", "source": {"action": "flow"}},
                 "hooks": {"onStart": null, "onSuccess": null, "onFail": null},
                 "applications": [{"name": "shop-api-qa", "component": "api", "phase": "postAction",
                                   "action": {"action": "commit", "status": "Succeeded", "commit": "1234567890",
                                              "repo": null, "unchanged": false, "pullRequest": null, "error": null},
                                   "app": {"sync": "Synced", "health": "Healthy", "revision": "1234567890",
                                           "message": null, "observedAt": "2026-01-05T10:01:00Z"},
                                   "version": "1.4.2", "failed": false, "gateFailure": null}],
                 "workflows": [{"stage": "postAction", "hook": null, "name": "e2e", "status": "Running",
                                "steps": [{"name": "tests", "status": "Running"}], "runs": []}],
                 "issues": [{"id": "i1", "kind": "workflow", "summary": "flaky", "at": "2026-01-05T10:01:00Z", "app": null}]}
            ],
            "hooks": [], "context": {}, "issues": []
        }"#;
        serde_json::from_str(view).expect("a release view")
    }

    #[test]
    fn the_release_tree() {
        let tree = release_tree(&view());
        let expected = "\
Release 01940000-0000-7000-8000-000000000190 · product shop · flow standard 3.0 · version 1.4.2
Status:    ● Running   (1 successful, 1 running, 0 failed, 2 pending)
Trigger:   dev abcdef0 \"fix: login\" by Bob (https://git.example.com/shop.git main)
Initiator: alice · created 2026-01-05 10:00Z · finished -

✓ Successful dev (non-production)

● Running qa (non-production) after dev · action commit
├─ app shop-api-qa [api] · phase postAction · version 1.4.2
│    action ✓ Succeeded · commit 1234567
│    ✓ Synced · ♥ Healthy at 1234567
├─ ● Running workflow e2e (postAction)
│    ● Running step tests
└─ ⚠ issue (workflow): flaky
";
        assert_eq!(tree, expected);
    }

    #[test]
    fn changes_between_views() {
        let old = view();
        let mut new = view();
        new.status = ReleaseStatus::Failed;
        new.environments[1].status = EnvStatus::Failed;
        let mut issue = new.environments[1].issues[0].clone();
        issue.id = "i2".into();
        issue.summary = "Degraded".into();
        new.environments[1].issues.push(issue);
        assert_eq!(changes(Some(&old), &new), ["release ✗ Failed", "  ✗ Failed qa", "    ⚠ qa: Degraded"]);
        assert_eq!(changes(None, &old).len(), 4, "first view: release, both environments, the issue");
    }
}
