//! Human output: aligned tables, status labels (symbol + word, never colour alone), and the release tree.
//!
//! Release views are read as JSON (SPEC §7.4) and every field is optional here, so that a view written by
//! a newer server still prints.

use std::str::FromStr;

use ferry_model::status::{EnvStatus, HealthStatus, ReleaseStatus, StepStatus, SyncStatus};
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

/// Whether a release status is final (Succeeded, Failed, Terminated).
pub fn is_final(status: &str) -> bool {
    ReleaseStatus::from_str(status).is_ok_and(ReleaseStatus::is_final)
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

/// `2026-01-05 10:00Z` from an RFC 3339 time (UTC, minutes).
pub fn time(rfc3339: &str) -> String {
    match jiff::Timestamp::from_str(rfc3339) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%MZ").to_string(),
        Err(_) if rfc3339.is_empty() => "-".to_owned(),
        Err(_) => rfc3339.to_owned(),
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The release as a tree: header, then each environment with its applications, workflows and issues.
pub fn release_tree(view: &Value) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(text.trim_end());
        out.push('\n');
    };
    let flow = match (s(view, "flow"), s(view, "flowVersion")) {
        ("", _) => "-".to_owned(),
        (f, "") => f.to_owned(),
        (f, v) => format!("{f} {v}"),
    };
    let version = s(view, "version");
    line(format!(
        "Release {} · product {} · flow {flow}{}",
        s(view, "id"),
        s(view, "product"),
        if version.is_empty() { String::new() } else { format!(" · version {version}") }
    ));
    let c = &view["counters"];
    let count = |k: &str| c.get(k).and_then(Value::as_i64).unwrap_or(0);
    line(format!(
        "Status:    {}   ({} successful, {} running, {} failed, {} pending)",
        label(s(view, "status")),
        count("successful"),
        count("running"),
        count("failed"),
        count("pending")
    ));
    let t = &view["trigger"];
    if t.is_object() {
        let subject = s(t, "message").lines().next().unwrap_or_default();
        line(format!(
            "Trigger:   {} {} {:?} by {} ({} {})",
            s(t, "environment"),
            if s(t, "shortSha").is_empty() { short(s(t, "sha")) } else { s(t, "shortSha") },
            subject,
            s(t, "author"),
            s(t, "repo"),
            s(t, "branch")
        ));
    }
    let retries = view.get("retries").and_then(Value::as_i64).unwrap_or(0);
    line(format!(
        "Initiator: {} · created {} · finished {}{}",
        s(view, "initiator"),
        time(s(view, "createdAt")),
        time(s(view, "finishedAt")),
        if retries > 0 { format!(" · {retries} retries") } else { String::new() }
    ));
    if !s(view, "reason").is_empty() {
        line(format!("Reason:    {}", s(view, "reason")));
    }
    let envs = view["environments"].as_array().map(Vec::as_slice).unwrap_or_default();
    for env in envs {
        line(String::new());
        let deps: Vec<&str> =
            env["dependsOn"].as_array().map(|d| d.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let action = s(&env["policy"], "action");
        line(format!(
            "{} {} ({}){}{}",
            label(s(env, "status")),
            s(env, "name"),
            s(env, "type"),
            if deps.is_empty() { String::new() } else { format!(" after {}", deps.join(", ")) },
            if action.is_empty() { String::new() } else { format!(" · action {action}") },
        ));
        let mut children: Vec<Vec<String>> = Vec::new();
        for app in env["applications"].as_array().map(Vec::as_slice).unwrap_or_default() {
            children.push(app_lines(app));
        }
        for wf in env["workflows"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let mut lines = vec![format!("{} workflow {} ({})", label(s(wf, "status")), s(wf, "name"), s(wf, "stage"))];
            for step in wf["steps"].as_array().map(Vec::as_slice).unwrap_or_default() {
                lines.push(format!("{} step {}", label(s(step, "status")), s(step, "name")));
            }
            children.push(lines);
        }
        for issue in env["issues"].as_array().map(Vec::as_slice).unwrap_or_default() {
            children.push(vec![format!("⚠ issue ({}): {}", s(issue, "kind"), s(issue, "summary"))]);
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

fn app_lines(app: &Value) -> Vec<String> {
    let mut first = format!("app {}", s(app, "name"));
    if !s(app, "component").is_empty() {
        first.push_str(&format!(" [{}]", s(app, "component")));
    }
    if !s(app, "phase").is_empty() {
        first.push_str(&format!(" · phase {}", s(app, "phase")));
    }
    if !s(app, "version").is_empty() {
        first.push_str(&format!(" · version {}", s(app, "version")));
    }
    let mut lines = vec![first];
    let action = &app["action"];
    if action.is_object() {
        let mut text = format!("action {}", label(s(action, "status")));
        if !s(action, "commit").is_empty() {
            text.push_str(&format!(" · commit {}", short(s(action, "commit"))));
        }
        match &action["pullRequest"] {
            Value::Null => {}
            Value::String(url) => text.push_str(&format!(" · PR {url}")),
            pr => {
                let id = pr.get("url").or_else(|| pr.get("number")).map(|v| v.to_string().replace('"', ""));
                text.push_str(&format!(" · PR {}", id.unwrap_or_default()));
            }
        }
        lines.push(text);
    }
    let live = &app["app"];
    if live.is_object() {
        let mut text = format!("{} · {}", label(s(live, "sync")), label(s(live, "health")));
        if !s(live, "revision").is_empty() {
            text.push_str(&format!(" at {}", short(s(live, "revision"))));
        }
        lines.push(text);
    }
    lines
}

/// What changed between two views of a release, one line each (for `--wait` and `watch`).
pub fn changes(old: Option<&Value>, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let old_status = old.map(|o| s(o, "status"));
    if old_status != Some(s(new, "status")) {
        out.push(format!("release {}", label(s(new, "status"))));
    }
    let find = |view: Option<&Value>, name: &str| -> Option<Value> {
        view?["environments"].as_array()?.iter().find(|e| s(e, "name") == name).cloned()
    };
    for env in new["environments"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = s(env, "name");
        let before = find(old, name);
        if before.as_ref().map(|b| s(b, "status").to_owned()).as_deref() != Some(s(env, "status")) {
            out.push(format!("  {} {}", label(s(env, "status")), name));
        }
        let seen = |id: &str| {
            before.as_ref().and_then(|b| b["issues"].as_array()).is_some_and(|i| i.iter().any(|x| s(x, "id") == id))
        };
        for issue in env["issues"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if !seen(s(issue, "id")) {
                out.push(format!("    ⚠ {name}: {}", s(issue, "summary")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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

    fn view() -> Value {
        json!({
            "id": "0190", "product": "shop", "flow": "standard", "flowVersion": "3.0", "version": "1.4.2",
            "status": "Running", "initiator": "alice", "createdAt": "2026-01-05T10:00:00Z", "finishedAt": null,
            "reason": null, "retries": 0,
            "trigger": {"environment": "dev", "sha": "abcdef0123", "shortSha": "abcdef0", "message": "fix: login\n\nbody",
                        "author": "Bob", "repo": "https://git.example.com/shop.git", "branch": "main"},
            "counters": {"successful": 1, "running": 1, "failed": 0, "pending": 2},
            "environments": [
                {"name": "dev", "type": "non-production", "dependsOn": [], "status": "Successful", "applications": [],
                 "workflows": [], "issues": []},
                {"name": "qa", "type": "non-production", "dependsOn": ["dev"], "status": "Running",
                 "policy": {"action": "commit"},
                 "applications": [{"name": "shop-api-qa", "component": "api", "phase": "postAction",
                                   "action": {"status": "Succeeded", "commit": "1234567890", "pullRequest": null},
                                   "app": {"sync": "Synced", "health": "Healthy", "revision": "1234567890"},
                                   "version": "1.4.2"}],
                 "workflows": [{"stage": "postAction", "name": "e2e", "status": "Running",
                                "steps": [{"name": "tests", "status": "Running"}]}],
                 "issues": [{"id": "i1", "kind": "workflow", "summary": "flaky", "at": "2026-01-05T10:01:00Z"}]}
            ]
        })
    }

    #[test]
    fn the_release_tree() {
        let tree = release_tree(&view());
        let expected = "\
Release 0190 · product shop · flow standard 3.0 · version 1.4.2
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
        new["status"] = json!("Failed");
        new["environments"][1]["status"] = json!("Failed");
        new["environments"][1]["issues"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "i2", "kind": "app", "summary": "Degraded"}));
        assert_eq!(changes(Some(&old), &new), ["release ✗ Failed", "  ✗ Failed qa", "    ⚠ qa: Degraded"]);
        assert_eq!(changes(None, &old).len(), 4, "first view: release, both environments, the issue");
    }
}
