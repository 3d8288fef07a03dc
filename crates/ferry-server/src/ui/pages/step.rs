//! The step and issue panel.

use super::*;

/// A log line.
#[derive(Debug, Clone)]
pub(crate) struct LogItem {
    pub(crate) text: String,
    pub(crate) stderr: bool,
}

/// One run's view of the step.
#[derive(Debug, Clone)]
pub(crate) struct RunItem {
    pub(crate) run: String,
    pub(crate) step: String,
    pub(crate) application: String,
    pub(crate) badge: Badge,
    pub(crate) started: String,
    pub(crate) duration: String,
    pub(crate) attempts: u32,
    pub(crate) exit_code: Option<i32>,
    pub(crate) error: String,
    pub(crate) approval: String,
    pub(crate) log: Vec<LogItem>,
    pub(crate) log_total: usize,
    pub(crate) log_after: i64,
    pub(crate) log_href: String,
    pub(crate) live: bool,
}

impl RunItem {
    /// Lines left out above the tail.
    pub(crate) fn hidden(&self) -> usize {
        self.log_total.saturating_sub(self.log.len())
    }
}

/// A labelled value of an issue's detail.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    pub(crate) href: Option<String>,
}

/// Step / issue panel data.
#[derive(Debug, Clone)]
pub(crate) struct StepData {
    pub(crate) release: String,
    pub(crate) release_href: String,
    pub(crate) title: String,
    pub(crate) subtitle: String,
    pub(crate) badge: Option<Badge>,
    pub(crate) issue: Option<IssueItem>,
    pub(crate) fields: Vec<Field>,
    pub(crate) tail: Vec<String>,
    pub(crate) runs: Vec<RunItem>,
    pub(crate) definition: String,
    pub(crate) definition_source: String,
    pub(crate) step_href: Option<String>,
    pub(crate) refresh: String,
    pub(crate) live: bool,
}

/// `/releases/{id}/steps`.
#[derive(Template)]
#[template(path = "step.html")]
pub(crate) struct StepPage {
    pub(crate) page: PageMeta,
    pub(crate) d: StepData,
}

/// `/releases/{id}/steps?fragment=panel`.
#[derive(Template)]
#[template(path = "step_body.html")]
pub(crate) struct StepFragment {
    pub(crate) d: StepData,
}

/// The fields of an issue's detail, by kind (SPEC §4 Issues).
pub(crate) fn issue_fields(i: &IssueFull) -> Vec<Field> {
    let f = |label: &'static str, v: Option<String>| {
        v.filter(|v| !v.is_empty()).map(|value| Field { label, value, href: None })
    };
    let mut out: Vec<Option<Field>> = vec![f("Environment", i.env.clone()), f("Application", i.app.clone())];
    match i.kind() {
        IssueKind::Workflow => {
            out.push(f("Workflow", issue_text(i, "workflow")));
            out.push(f("Stage", issue_text(i, "stage").map(|s| format::stage(&s, None))));
            out.push(f("Step", issue_text(i, "step")));
            out.push(f("Run", issue_text(i, "runId")));
            out.push(f("Exit code", issue_text(i, "exitCode")));
            out.push(f("Error", issue_text(i, "error")));
        }
        IssueKind::Application => {
            out.push(f("Sync", issue_text(i, "sync")));
            out.push(f("Health", issue_text(i, "health")));
            out.push(f("Reason", issue_text(i, "reason")));
            out.push(f("Observed", issue_text(i, "observedAt")));
            let url = issue_text(i, "url").filter(|u| u.starts_with("https://") || u.starts_with("http://"));
            if let Some(url) = url {
                out.push(Some(Field { label: "Application", value: url.clone(), href: Some(url) }));
            }
        }
        IssueKind::Git => {
            out.push(f("Operation", issue_text(i, "operation")));
            out.push(f("Remote", issue_text(i, "remote").map(|r| redact_url(&r))));
            out.push(f("Error", issue_text(i, "error")));
        }
    }
    out.push(f("When", Some(time(Some(i.at)))));
    out.into_iter().flatten().collect()
}

/// The issue's log tail (workflow issues).
pub(crate) fn issue_tail(i: &IssueFull) -> Vec<String> {
    match &i.detail {
        IssueDetail::Workflow { log_tail, .. } => log_tail.clone(),
        IssueDetail::Application { .. } | IssueDetail::Git { .. } => Vec::new(),
    }
}

/// A workflow definition as readable YAML-like text, from the API form of a workflow.
pub(crate) fn definition_text(w: &ferry_api::Workflow) -> String {
    let mut out = format!("name: {}\n", w.name);
    if w.backend != ferry_api::WorkflowBackend::Local {
        out.push_str(&format!("backend: {}\n", w.backend));
    }
    if let Some(t) = &w.template {
        out.push_str(&format!("template: {t}\n"));
    }
    if let Some(t) = &w.timeout {
        out.push_str(&format!("timeout: {t}\n"));
    }
    if !w.params.is_empty() {
        out.push_str("params:\n");
        for p in &w.params {
            out.push_str(&format!("  - name: {}\n", p.name));
            if let Some(d) = &p.default {
                out.push_str(&format!("    default: {d:?}\n"));
            }
            if p.secret {
                out.push_str("    secret: true\n");
            }
        }
    }
    if !w.steps.is_empty() {
        out.push_str("steps:\n");
    }
    for s in &w.steps {
        out.push_str(&format!("  - name: {}\n", s.name));
        if let Some(deps) = &s.depends_on {
            out.push_str(&format!("    dependsOn: [{}]\n", deps.join(", ")));
        }
        if let Some(t) = &s.timeout {
            out.push_str(&format!("    timeout: {t}\n"));
        }
        if s.retries > 0 {
            out.push_str(&format!("    retries: {}\n", s.retries));
        }
        if let Some(run) = &s.run {
            if run.contains('\n') {
                out.push_str("    run: |\n");
                for line in run.trim_end().lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            } else {
                out.push_str(&format!("    run: {run}\n"));
            }
        }
        if let Some(m) = &s.message {
            out.push_str(&format!("    approval: {m:?}\n"));
        }
    }
    out
}
