//! Renderings of [`Notes`]: Markdown ready for a GitHub release body, and plain-text tables for the
//! terminal. Pure functions of the notes.

use std::fmt::Write as _;

use crate::types::{Commit, ComponentNotes, Issue, Notes, PullRequest};

/// Markdown for a GitHub (or GitLab) release body.
pub fn markdown(notes: &Notes) -> String {
    let mut out = String::new();
    let title = match &notes.version {
        Some(v) => format!("{} {v}", notes.product),
        None => notes.product.clone(),
    };
    let _ = writeln!(out, "## {}\n", md(&title));
    let envs = list_words(&notes.final_environments);
    let release = short_id(&notes.release);
    if notes.rollback {
        let _ = writeln!(out, "Rollback `{release}`: the changes below, live in {envs} before it, are taken out.\n");
    } else {
        let _ = writeln!(out, "Changes since the revisions live in {envs} before release `{release}`.\n");
    }
    if !notes.pull_requests.is_empty() {
        out.push_str("### Pull requests\n\n");
        for pr in &notes.pull_requests {
            let _ = writeln!(out, "- {}", md_pr(pr));
        }
        out.push('\n');
    }
    if !notes.issues.is_empty() {
        out.push_str("### Issues\n\n");
        for issue in &notes.issues {
            let _ = writeln!(out, "- {}", md_issue(issue));
        }
        out.push('\n');
    }
    out.push_str("### Components\n\n");
    for c in &notes.components {
        md_component(&mut out, c);
    }
    let warnings = all_warnings(notes);
    if !warnings.is_empty() {
        out.push_str("### Warnings\n\n");
        for w in warnings {
            let _ = writeln!(out, "- {}", md(&w));
        }
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

fn md_component(out: &mut String, c: &ComponentNotes) {
    let _ = writeln!(out, "#### {}\n", md(&c.component));
    if let Some(to) = &c.images.to {
        let from = c.images.from.as_ref().map_or("(none)".to_owned(), |f| format!("`{}`", f.value));
        let _ = writeln!(out, "- Image: {from} → `{}`", to.value);
        for (side, image) in [("before", &c.images.from), ("promoted", &c.images.to)] {
            let Some(r) = image.as_ref().and_then(|i| i.report.as_ref()) else { continue };
            let digest = r.digest.as_ref().map_or(String::new(), |d| format!(" (`{d}`)"));
            let _ = writeln!(out, "  - {side}: `{}`{digest} built from `{}`", r.image, short(&r.git_revision));
        }
    }
    let starts: Vec<String> = c
        .gitops
        .from
        .iter()
        .map(|s| match &s.revision {
            Some(r) => format!("{} `{}`", s.environment, short(r)),
            None => format!("{} ({})", s.environment, s.found_by),
        })
        .collect();
    let _ = writeln!(
        out,
        "- GitOps: {} commit{} in `{}` from {} to `{}`{}",
        c.gitops.commits.len(),
        plural(c.gitops.commits.len()),
        md(&c.gitops.path),
        if starts.is_empty() { "the start".to_owned() } else { starts.join(", ") },
        short(&c.gitops.to),
        if c.gitops.truncated { " (more not shown)" } else { "" }
    );
    match (&c.source, c.source_range.as_str()) {
        (Some(s), "known") => {
            let _ = writeln!(
                out,
                "- Source: {} commit{} in {} `{}..{}`{}",
                s.commits.len(),
                plural(s.commits.len()),
                md(&s.repository),
                short(&s.from),
                short(&s.to),
                if s.truncated { " (more not shown)" } else { "" }
            );
        }
        (Some(s), "unchanged") => {
            let _ = writeln!(out, "- Source: unchanged (`{}`)", short(&s.to));
        }
        _ => {
            let _ = writeln!(
                out,
                "- Source range unknown{}",
                c.source_range_reason.as_ref().map(|r| format!(": {}", md(r))).unwrap_or_default()
            );
        }
    }
    out.push('\n');
    if let Some(s) = c.source.as_ref().filter(|s| !s.commits.is_empty()) {
        let _ = writeln!(out, "<details><summary>Source commits ({})</summary>\n", s.commits.len());
        for commit in &s.commits {
            let _ = writeln!(out, "- {}", md_commit(commit));
        }
        out.push_str("\n</details>\n\n");
    }
    if !c.gitops.commits.is_empty() {
        let _ = writeln!(out, "<details><summary>GitOps commits ({})</summary>\n", c.gitops.commits.len());
        for commit in &c.gitops.commits {
            let _ = writeln!(out, "- {}", md_commit(commit));
        }
        out.push_str("\n</details>\n\n");
    }
}

fn md_pr(pr: &PullRequest) -> String {
    let reference = match &pr.url {
        Some(u) => format!("[{}]({u})", pr.reference),
        None => pr.reference.clone(),
    };
    let title = pr.title.as_deref().map(|t| format!(" {}", md(t))).unwrap_or_default();
    format!("{reference}{title} ({})", pr.components.join(", "))
}

fn md_issue(issue: &Issue) -> String {
    let key = match &issue.url {
        Some(u) => format!("[{}]({u})", issue.key),
        None => issue.key.clone(),
    };
    let mut text = key;
    if let Some(summary) = &issue.summary {
        let _ = write!(text, " {}", md(summary));
    }
    let mut facts: Vec<String> = Vec::new();
    if let Some(status) = &issue.status {
        facts.push(md(status));
    }
    if let Some(assignee) = &issue.assignee {
        facts.push(md(assignee));
    }
    if issue.closes {
        facts.push("closed by this release".into());
    }
    if !facts.is_empty() {
        let _ = write!(text, " — {}", facts.join(", "));
    }
    text
}

fn md_commit(c: &Commit) -> String {
    let sha = match &c.url {
        Some(u) => format!("[`{}`]({u})", c.short_sha),
        None => format!("`{}`", c.short_sha),
    };
    format!("{sha} {} ({})", md(&c.subject), md(&c.author))
}

/// Escapes the characters that Markdown (and the HTML inside it) would interpret.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Plain text for the terminal: a summary per component, then pull requests, issues, commits and
/// warnings as aligned tables.
pub fn text(notes: &Notes) -> String {
    let mut out = String::new();
    let version = notes.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
    let what = if notes.rollback { "taking out what was live in" } else { "since what was live in" };
    let _ = writeln!(
        out,
        "Release {} of {}{version} · {what} {}\n",
        short_id(&notes.release),
        notes.product,
        list_words(&notes.final_environments)
    );
    let rows: Vec<Vec<String>> = notes
        .components
        .iter()
        .map(|c| {
            let mut starts: Vec<String> = Vec::new();
            for s in &c.gitops.from {
                let start = s.revision.as_deref().map_or_else(|| format!("({})", s.found_by), |r| short(r).to_owned());
                // Final environments that had the same revision live share one start.
                if !starts.contains(&start) {
                    starts.push(start);
                }
            }
            let image = match (&c.images.from, &c.images.to) {
                (Some(f), Some(t)) => format!("{} → {}", f.value, t.value),
                (None, Some(t)) => format!("→ {}", t.value),
                _ => "-".into(),
            };
            let source = match (&c.source, c.source_range.as_str()) {
                (Some(s), "known") => format!("{} commit{}", s.commits.len(), plural(s.commits.len())),
                (_, "unchanged") => "unchanged".into(),
                _ => format!("unknown: {}", c.source_range_reason.as_deref().unwrap_or("-")),
            };
            vec![
                c.component.clone(),
                format!("{}..{}", starts.join(","), short(&c.gitops.to)),
                c.gitops.commits.len().to_string(),
                image,
                source,
            ]
        })
        .collect();
    out.push_str(&table(&["COMPONENT", "GITOPS RANGE", "COMMITS", "IMAGE", "SOURCE COMMITS"], &rows));
    if !notes.pull_requests.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = notes
            .pull_requests
            .iter()
            .map(|p| {
                vec![
                    p.reference.clone(),
                    p.title.clone().unwrap_or_default(),
                    p.components.join(","),
                    p.url.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(&["PULL REQUEST", "TITLE", "COMPONENTS", "LINK"], &rows));
    }
    if !notes.issues.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = notes
            .issues
            .iter()
            .map(|i| {
                vec![
                    i.key.clone(),
                    i.summary.clone().unwrap_or_default(),
                    i.status.clone().unwrap_or_default(),
                    i.assignee.clone().unwrap_or_default(),
                    if i.closes { "closes".into() } else { String::new() },
                    i.components.join(","),
                    i.url.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(&["ISSUE", "SUMMARY", "STATUS", "ASSIGNEE", "", "COMPONENTS", "LINK"], &rows));
    }
    for c in &notes.components {
        for (label, commits) in [
            ("GitOps", &c.gitops.commits),
            ("source", &c.source.as_ref().map(|s| s.commits.clone()).unwrap_or_default()),
        ] {
            if commits.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{} · {label} commits", c.component);
            let rows: Vec<Vec<String>> = commits
                .iter()
                .map(|m| {
                    vec![
                        m.short_sha.clone(),
                        format!("{:.10}", m.date.to_string()),
                        m.author.clone(),
                        format!("{}{}", if m.merge { "(merge) " } else { "" }, m.subject),
                    ]
                })
                .collect();
            out.push_str(&indent(&table(&["COMMIT", "DATE", "AUTHOR", "SUBJECT"], &rows)));
        }
    }
    let warnings = all_warnings(notes);
    if !warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for w in warnings {
            let _ = writeln!(out, "  ! {w}");
        }
    }
    out
}

/// The release's warnings, then each component's, prefixed with the component.
fn all_warnings(notes: &Notes) -> Vec<String> {
    let components =
        notes.components.iter().flat_map(|c| c.warnings.iter().map(move |w| format!("{}: {w}", c.component)));
    notes.warnings.iter().cloned().chain(components).collect()
}

/// Columns padded to the widest cell (by characters); the last column is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 < columns {
                let pad = widths[i] - cell.chars().count();
                let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn short_id(id: &str) -> String {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    if hex.len() == 8 { hex } else { id.to_owned() }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list_words(items: &[String]) -> String {
    match items {
        [] => "the final environments".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
