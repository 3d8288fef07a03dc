//! Encoding and decoding of the runs projection, shared by the backends.

use std::str::FromStr;

use ferry_model::WorkflowName;
use ferry_model::release::{RunId, RunTarget, WorkflowRun};
use jiff::Timestamp;

use crate::{Result, RunRow, StoreError};

/// The columns of a run row: `target` and `state` as JSON.
pub(crate) struct RunColumns {
    pub run_id: String,
    pub started_at: Timestamp,
    pub workflow: String,
    pub target: serde_json::Value,
    pub state: serde_json::Value,
}

/// The columns that store `run`.
pub(crate) fn encode(run: &WorkflowRun) -> Result<RunColumns> {
    let internal =
        |e: serde_json::Error| StoreError::Internal { doing: "encoding a workflow run", detail: e.to_string() };
    Ok(RunColumns {
        run_id: run.id.to_string(),
        started_at: run.started_at,
        workflow: run.workflow.to_string(),
        target: serde_json::to_value(&run.target).map_err(internal)?,
        state: serde_json::to_value(run).map_err(internal)?,
    })
}

/// A stored run: its recorded state, or (for runs recorded before the projection kept states) a run
/// with its place and no steps, marked not `detailed`.
pub(crate) fn decode(
    release_id: String,
    run_id: &str,
    started_at: Timestamp,
    workflow: &str,
    target: serde_json::Value,
    state: Option<serde_json::Value>,
) -> Result<RunRow> {
    let what = |field: &str| format!("workflow run {run_id} ({field})");
    let decode_err = |field: &str, e: String| StoreError::Decode {
        what: what(field),
        source: serde_json::Error::io(std::io::Error::other(e)),
    };
    if let Some(state) = state {
        let run: WorkflowRun =
            serde_json::from_value(state).map_err(|source| StoreError::Decode { what: what("state"), source })?;
        return Ok(RunRow { release_id, run, detailed: true });
    }
    let id = RunId::from_str(run_id).map_err(|e| decode_err("id", e.to_string()))?;
    let target: RunTarget =
        serde_json::from_value(target).map_err(|source| StoreError::Decode { what: what("target"), source })?;
    let workflow = WorkflowName::new(workflow).map_err(|e| decode_err("workflow", e.to_string()))?;
    let run = WorkflowRun { id, target, workflow, steps: Vec::new(), error: None, started_at, retired: false };
    Ok(RunRow { release_id, run, detailed: false })
}
