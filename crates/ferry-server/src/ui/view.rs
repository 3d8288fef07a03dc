//! The release view (SPEC §7.4 JSON, as the store keeps it) read into typed values for the pages.
//!
//! Every field has a default, so a view written by an older or newer engine still renders: a missing
//! field shows as empty rather than failing the page.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// A release as the pages use it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ReleaseView {
    pub(crate) id: String,
    pub(crate) product: String,
    pub(crate) flow: String,
    pub(crate) flow_version: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) status: String,
    pub(crate) initiator: String,
    pub(crate) created_at: Option<Timestamp>,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) finished_at: Option<Timestamp>,
    pub(crate) reason: Option<String>,
    pub(crate) retries: i64,
    pub(crate) trigger: Trigger,
    pub(crate) counters: Counters,
    pub(crate) environments: Vec<EnvView>,
    pub(crate) hooks: Vec<WorkflowLine>,
    pub(crate) issues: Vec<IssueFull>,
}

/// The commit that triggered the release.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Trigger {
    pub(crate) environment: Option<String>,
    pub(crate) sha: Option<String>,
    pub(crate) short_sha: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) author: Option<String>,
    pub(crate) author_email: Option<String>,
    pub(crate) date: Option<Timestamp>,
    pub(crate) repo: Option<String>,
    pub(crate) branch: Option<String>,
    pub(crate) web_url: Option<String>,
}

/// Environments by roll-up (SPEC §4 header counters).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Counters {
    pub(crate) successful: u64,
    pub(crate) running: u64,
    pub(crate) failed: u64,
    pub(crate) pending: u64,
}

/// One environment of the release.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct EnvView {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) env_type: String,
    pub(crate) is_trigger: bool,
    pub(crate) depends_on: Vec<String>,
    pub(crate) status: String,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) finished_at: Option<Timestamp>,
    pub(crate) policy: Option<PolicyView>,
    pub(crate) applications: Vec<AppView>,
    pub(crate) workflows: Vec<WorkflowLine>,
    pub(crate) issues: Vec<IssueRef>,
}

/// The resolved policy of an environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PolicyView {
    pub(crate) action: String,
    pub(crate) pre_action: Option<String>,
    pub(crate) post_action: Option<String>,
}

/// One application of an environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct AppView {
    pub(crate) name: String,
    pub(crate) component: String,
    pub(crate) phase: String,
    pub(crate) action: Option<ActionView>,
    pub(crate) app: Option<Observation>,
    pub(crate) version: Option<String>,
    pub(crate) failed: bool,
    pub(crate) gate_failure: Option<String>,
}

/// The promotion action of one application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ActionView {
    pub(crate) action: String,
    pub(crate) status: String,
    pub(crate) commit: Option<String>,
    pub(crate) repo: Option<String>,
    pub(crate) unchanged: bool,
    pub(crate) pull_request: Option<PullRequestRef>,
    pub(crate) error: Option<String>,
}

/// A promotion pull request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PullRequestRef {
    pub(crate) url: String,
    pub(crate) number: u64,
    pub(crate) branch: String,
}

/// The last observed state of an application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Observation {
    pub(crate) sync: Option<String>,
    pub(crate) health: Option<String>,
    pub(crate) revision: Option<String>,
    pub(crate) message: Option<String>,
}

/// A workflow of an environment (or a release hook), its steps aggregated across applications.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WorkflowLine {
    pub(crate) stage: String,
    pub(crate) hook: Option<String>,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) steps: Vec<StepLine>,
    pub(crate) runs: Vec<String>,
}

/// A step line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StepLine {
    pub(crate) name: String,
    pub(crate) status: String,
}

/// An issue as listed in an environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct IssueRef {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) summary: String,
    pub(crate) at: Option<Timestamp>,
    pub(crate) app: Option<String>,
}

/// An issue with its details (the release's top-level list).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct IssueFull {
    pub(crate) id: String,
    pub(crate) env: Option<String>,
    pub(crate) app: Option<String>,
    pub(crate) summary: String,
    pub(crate) at: Option<Timestamp>,
    pub(crate) detail: Value,
}

impl IssueFull {
    /// `workflow`, `application` or `git`.
    pub(crate) fn kind(&self) -> &str {
        self.detail.get("kind").and_then(Value::as_str).unwrap_or("issue")
    }

    /// A text field of the detail.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        match self.detail.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

impl ReleaseView {
    /// Reads a stored view.
    pub(crate) fn from_json(value: Value) -> Result<ReleaseView, serde_json::Error> {
        serde_json::from_value(value)
    }

    /// Whether terminate is allowed (SPEC §3.5).
    pub(crate) fn can_terminate(&self) -> bool {
        matches!(self.status.as_str(), "Queued" | "Running" | "Suspended")
    }

    /// Whether retry is allowed (SPEC §3.8).
    pub(crate) fn can_retry(&self) -> bool {
        self.status == "Failed"
    }

    /// Whether the release may still change.
    pub(crate) fn is_active(&self) -> bool {
        matches!(self.status.as_str(), "Queued" | "Running" | "Suspended" | "Terminating")
    }

    /// The workflow line that ran `run` (in an environment or as a release hook), with its environment.
    pub(crate) fn line_of_run(&self, run: &str) -> Option<(Option<&EnvView>, &WorkflowLine)> {
        for env in &self.environments {
            if let Some(line) = env.workflows.iter().find(|l| l.runs.iter().any(|r| r == run)) {
                return Some((Some(env), line));
            }
        }
        self.hooks.iter().find(|l| l.runs.iter().any(|r| r == run)).map(|l| (None, l))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_partial_view_still_reads() {
        let v = ReleaseView::from_json(json!({"id": "x", "status": "Running", "environments": [{"name": "qa"}]}))
            .expect("reads");
        assert_eq!(v.environments[0].name, "qa");
        assert!(v.can_terminate() && !v.can_retry() && v.is_active());
        assert!(v.trigger.sha.is_none());
    }
}
