//! The runner's error type.

use std::path::PathBuf;

use ferry_model::StepName;

/// Everything that can go wrong in the runner, with messages that say what to do about it.
///
/// Errors about a workflow or a step end up as the `error` text of a step (status Error) or of the run;
/// errors about a call (approving a step that is not waiting) are returned to the caller.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Two steps share a name.
    #[error("step \"{step}\" is defined more than once: give every step of the workflow a unique name")]
    DuplicateStep {
        /// The repeated name.
        step: StepName,
    },
    /// A step depends on a step that does not exist.
    #[error("step \"{step}\" depends on \"{dependency}\", which is not a step of this workflow: fix `dependsOn`")]
    UnknownDependency {
        /// The step with the bad `dependsOn`.
        step: StepName,
        /// The missing step.
        dependency: StepName,
    },
    /// The steps' dependencies form a cycle.
    #[error("steps form a dependency cycle ({}): remove one of these `dependsOn` entries", cycle_text(.cycle))]
    Cycle {
        /// The steps of the cycle, in order; the first one is repeated at the end.
        cycle: Vec<StepName>,
    },
    /// A parameter without a default has no value.
    #[error("parameter {param} is required (it has no default) but no value was given: pass it or add a `default`")]
    MissingParam {
        /// The parameter name.
        param: String,
    },
    /// An environment variable name or value cannot be passed to a process.
    #[error("environment variable {name:?} cannot be passed to a step: {reason}")]
    InvalidEnv {
        /// The variable name (the value is never shown: it may be a secret).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The workflow uses a backend other than the local runner.
    #[error("workflow {workflow} uses the Argo Workflows backend: submit it to Argo, not to the local runner")]
    NotLocal {
        /// The workflow name.
        workflow: String,
    },
    /// The runner's work directory could not be prepared.
    #[error("cannot create a work directory under {}: {source}; check `work_dir` and its permissions", .dir.display())]
    WorkDir {
        /// The configured work directory.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The outputs file of a step could not be created or read.
    #[error("cannot {action} the outputs file {}: {source}", .path.display())]
    OutputFile {
        /// "create" or "read".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `sh` could not be started.
    #[error(
        "cannot start `sh` in {}: {source}; check that the working directory exists and `sh` is on PATH",
        .cwd.display()
    )]
    Spawn {
        /// The working directory of the step.
        cwd: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Waiting for a step's process failed.
    #[error("lost track of the process: {source}")]
    Wait {
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of `$FERRY_OUTPUT` is neither `NAME=value` nor `NAME<<DELIMITER`.
    #[error("line {line} of $FERRY_OUTPUT is not `NAME=value` or `NAME<<DELIMITER`: write one output per line")]
    OutputSyntax {
        /// 1-based line number.
        line: usize,
    },
    /// An output has an invalid name.
    #[error(
        "line {line} of $FERRY_OUTPUT names output {name:?}, which is not a valid variable name: \
         use letters, digits and '_', not starting with a digit"
    )]
    OutputName {
        /// 1-based line number.
        line: usize,
        /// The rejected name.
        name: String,
    },
    /// An output name uses the reserved `FERRY_` prefix.
    #[error("line {line} of $FERRY_OUTPUT sets {name}: names starting with FERRY_ are reserved, rename the output")]
    ReservedOutput {
        /// 1-based line number.
        line: usize,
        /// The rejected name.
        name: String,
    },
    /// A `NAME<<DELIMITER` block has no closing delimiter line.
    #[error("output {name} starting on line {line} of $FERRY_OUTPUT is never closed: end it with a line {delimiter:?}")]
    UnterminatedOutput {
        /// 1-based line number of the `NAME<<DELIMITER` line.
        line: usize,
        /// The output name.
        name: String,
        /// The expected closing line.
        delimiter: String,
    },
    /// The outputs file is too large.
    #[error(
        "$FERRY_OUTPUT holds {size} bytes, more than the limit of {limit} bytes: \
         write large data to a file and output its path instead"
    )]
    OutputTooLarge {
        /// Size of the file.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// `approve` named a step that is not waiting for an approval.
    #[error(
        "step \"{step}\" of run {run_id} is not waiting for an approval (it is not an approval step, or it has not started or already finished)"
    )]
    NotWaiting {
        /// The run.
        run_id: String,
        /// The step.
        step: StepName,
    },
}

fn cycle_text(cycle: &[StepName]) -> String {
    cycle.iter().map(StepName::as_str).collect::<Vec<_>>().join(" → ")
}
