//! What the pages compute on top of the release view ([`ferry_api::ReleaseView`], as the engine built it).

use ferry_api::{EnvironmentView, Issue, IssueDetail, ReleaseView, WorkflowLine};
use ferry_model::status::ReleaseStatus;

/// Page-side questions about a release view.
pub(crate) trait ReleaseViewExt {
    /// Whether terminate is allowed (SPEC §3.5).
    fn can_terminate(&self) -> bool;
    /// Whether retry is allowed (SPEC §3.8).
    fn can_retry(&self) -> bool;
    /// Whether the release may still change.
    fn is_active(&self) -> bool;
    /// The workflow line that ran `run` (in an environment or as a release hook), with its environment.
    fn line_of_run(&self, run: &str) -> Option<(Option<&EnvironmentView>, &WorkflowLine)>;
}

impl ReleaseViewExt for ReleaseView {
    fn can_terminate(&self) -> bool {
        self.status.can_terminate()
    }

    fn can_retry(&self) -> bool {
        self.status == ReleaseStatus::Failed
    }

    fn is_active(&self) -> bool {
        !self.status.is_final()
    }

    fn line_of_run(&self, run: &str) -> Option<(Option<&EnvironmentView>, &WorkflowLine)> {
        let ran = |l: &&WorkflowLine| l.runs.iter().any(|r| r.to_string() == run);
        for env in &self.environments {
            if let Some(line) = env.workflows.iter().find(ran) {
                return Some((Some(env), line));
            }
        }
        self.hooks.iter().find(ran).map(|l| (None, l))
    }
}

/// A text field of an issue's detail, by its JSON name (`runId`, `step`, `definition`, ...), for the
/// issue panel; `None` when the kind has no such field or it is empty.
pub(crate) fn issue_text(issue: &Issue, key: &str) -> Option<String> {
    let opt = |v: &Option<String>| v.clone();
    match (&issue.detail, key) {
        (IssueDetail::Workflow { run_id, .. }, "runId") => Some(run_id.to_string()),
        (IssueDetail::Workflow { workflow, .. }, "workflow") => Some(workflow.clone()),
        (IssueDetail::Workflow { stage, .. }, "stage") => Some(stage.as_str().to_owned()),
        (IssueDetail::Workflow { step, .. }, "step") => opt(step),
        (IssueDetail::Workflow { exit_code, .. }, "exitCode") => exit_code.map(|c| c.to_string()),
        (IssueDetail::Workflow { error, .. }, "error") => opt(error),
        (IssueDetail::Workflow { definition, .. }, "definition") => opt(definition),
        (IssueDetail::Application { sync, .. }, "sync") => sync.map(|s| s.as_str().to_owned()),
        (IssueDetail::Application { health, .. }, "health") => health.map(|h| h.as_str().to_owned()),
        (IssueDetail::Application { reason, .. }, "reason") => Some(reason.clone()),
        (IssueDetail::Application { observed_at, .. }, "observedAt") => observed_at.map(|t| t.to_string()),
        (IssueDetail::Application { url, .. }, "url") => opt(url),
        (IssueDetail::Git { operation, .. }, "operation") => Some(operation.as_str().to_owned()),
        (IssueDetail::Git { remote, .. }, "remote") => Some(remote.clone()),
        (IssueDetail::Git { error, .. }, "error") => Some(error.clone()),
        _ => None,
    }
}
