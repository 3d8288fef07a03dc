//! What goes into a run and what comes out of it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_model::StepName;
use ferry_model::resources::Workflow;
use ferry_model::status::StepStatus;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::outputs::Outputs;

/// A step that already succeeded in an earlier attempt of the same run (SPEC §3.8): it is not run
/// again and its outputs count as if it had just run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedStep {
    /// The outputs it produced.
    pub outputs: Outputs,
}

/// Everything needed to run one workflow once.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Id of the run (used in messages and in the name of its temporary directory).
    pub run_id: String,
    /// The workflow, as snapshotted by the release.
    pub workflow: Workflow,
    /// Parameters, promotion context and `FERRY_*` variables. Each becomes an environment variable of
    /// every step (never text of a script); they override parameter defaults. Values are never logged.
    pub env: BTreeMap<String, String>,
    /// Working directory of every step.
    pub cwd: PathBuf,
    /// Steps that succeeded in an earlier attempt: skipped, their outputs kept.
    pub completed: BTreeMap<StepName, CompletedStep>,
    /// Labels of the run (SPEC §3.6); the local runner only carries them.
    pub labels: BTreeMap<String, String>,
    /// The release's attempt (1, then one more for each retry of the release). A backend that keeps
    /// runs outside Ferry (Argo Workflows) tells from it whether a failed run was already retried.
    pub attempt: u32,
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error (also used for the runner's own notes, which start with `[`).
    Stderr,
}

/// One captured line (without its newline; invalid UTF-8 replaced, at most
/// [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES) plus a truncation note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the line was read.
    pub at: Timestamp,
    /// Its stream.
    pub stream: LogStream,
    /// Its text.
    pub text: String,
}

/// What happens during a run, in order. Every started step gets exactly one
/// [`StepFinished`](RunEvent::StepFinished) after all of its log lines; the last event is
/// [`Finished`](RunEvent::Finished). Skipped ([`completed`](RunSpec::completed)) steps and steps that
/// never start emit nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RunEvent {
    /// An attempt of a step started (1 for the first, 2 for the first retry, ...).
    StepStarted {
        /// The step.
        step: StepName,
        /// Attempt number, from 1.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// A step the run learned of while running (an Argo workflow's node), before its other events.
    /// The local runner knows its steps beforehand and never sends this.
    StepAdded {
        /// The step.
        step: StepName,
        /// When.
        at: Timestamp,
    },
    /// Captured log lines of a step, batched (at most 256 lines or 50 ms apart).
    Log {
        /// The step.
        step: StepName,
        /// The lines, oldest first.
        lines: Vec<LogLine>,
    },
    /// An approval step waits for [`RunHandle::approve`](crate::RunHandle::approve).
    StepWaiting {
        /// The step.
        step: StepName,
        /// The message shown to the approver.
        message: String,
        /// Since when.
        at: Timestamp,
    },
    /// A step reached its final status.
    StepFinished {
        /// The step.
        step: StepName,
        /// Success, Failed, Error or Terminated.
        status: StepStatus,
        /// Exit code of the last attempt, when its shell exited normally.
        exit_code: Option<i32>,
        /// Why it did not succeed.
        error: Option<String>,
        /// Its outputs (empty unless Success).
        outputs: Outputs,
        /// Attempts made.
        attempts: u32,
        /// When.
        at: Timestamp,
    },
    /// Step events to be recorded at once, as if they happened together (a backend that learns of
    /// several steps' ends in one observation: an Argo workflow's end, its failed nodes and itself).
    /// Holds `StepAdded`, `StepStarted`, `Log` and `StepFinished` events only. The local runner never
    /// sends this.
    Together {
        /// The events, in order.
        events: Vec<RunEvent>,
    },
    /// The run ended.
    Finished {
        /// The run's status (SPEC §4 roll-up over its steps).
        status: StepStatus,
        /// Why the run did not succeed, when there is one reason for the whole run.
        error: Option<String>,
        /// When.
        at: Timestamp,
    },
}

/// Final state of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// Pending (never started), Success, Failed, Error or Terminated.
    pub status: StepStatus,
    /// Exit code of the last attempt, when its shell exited normally.
    pub exit_code: Option<i32>,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// Outputs (of this run, or carried over from [`RunSpec::completed`]).
    pub outputs: Outputs,
    /// Attempts made in this run (0 for skipped and never-started steps).
    pub attempts: u32,
}

impl StepOutcome {
    pub(crate) fn pending() -> Self {
        Self { status: StepStatus::Pending, exit_code: None, error: None, outputs: Outputs::new(), attempts: 0 }
    }

    pub(crate) fn error(message: String) -> Self {
        Self { status: StepStatus::Error, error: Some(message), ..Self::pending() }
    }
}

/// Final state of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The run's status: the SPEC §4 roll-up over its steps (Terminated when it was terminated before
    /// everything finished).
    pub status: StepStatus,
    /// Why the run did not succeed, when there is one reason for the whole run (invalid workflow,
    /// terminate reason, workflow timeout).
    pub error: Option<String>,
    /// Every step of the workflow.
    pub steps: BTreeMap<StepName, StepOutcome>,
}
