//! Ferry's local workflow runner (SPEC §2.7, §6.4).
//!
//! With `ferry-git`, the only crate of Ferry that spawns processes. The engine starts a run with
//! [`Runner::start`], follows it through [`RunEvent`]s, approves or terminates it through the
//! [`RunHandle`], and gets the [`RunOutcome`] from [`RunHandle::wait`]. The [`exec`] module runs the
//! one-off commands of the `exec` application status kind with the same machinery.
//!
//! # How a run behaves
//!
//! * **DAG.** A step runs after the steps of its `dependsOn` (no `dependsOn`: after the previous step in
//!   the list; `dependsOn: []`: at once). Independent steps run in parallel, bounded by
//!   [`RunnerConfig::max_concurrent_steps`] across all runs of the runner. A step whose dependency did not
//!   succeed never starts and stays Pending. Once a step fails (Failed, Error, Terminated), no further
//!   step of the run starts; steps already running finish (SPEC §3.4 applied to steps).
//! * **Validation** (SPEC §2.7): unknown `dependsOn`, cycles, duplicate names, a parameter without
//!   default and without value, or an unusable variable end the run in Error before anything runs,
//!   with the message on the first affected step.
//! * **Processes.** A `run` step is `sh -e -c SCRIPT` in [`RunSpec::cwd`], leader of its own process
//!   group, stdin from /dev/null. Its environment is built from, later entries winning: the allowed
//!   variables of Ferry's own environment ([`RunnerConfig::inherit_env`]: `PATH`, `HOME`, locale, proxy,
//!   ...; nothing else, so Ferry's own secrets never reach steps), parameter defaults,
//!   [`RunSpec::env`], the outputs of the step's succeeded *ancestors* in the DAG (in workflow order:
//!   deterministic whatever the timing of parallel branches; a step does not see the outputs of steps
//!   it does not depend on), and `FERRY_OUTPUT`, `FERRY_RUN_ID`, `FERRY_STEP`, `FERRY_STEP_ATTEMPT`.
//!   Values are never spliced into script text and never logged. When the shell exits, anything it
//!   left running in its group is killed.
//! * **Logs.** Stdout and stderr are captured line by line with timestamps (lossy UTF-8, at most
//!   [`MAX_LINE_BYTES`] per line, marked when cut) and sent in batches. A run captures at most
//!   [`RunnerConfig::log_cap_bytes`] (line bytes plus newline); after the first line that does not fit,
//!   output is still read (the process never blocks) but dropped, and each step that lost output ends
//!   its log with one `[log truncated: N bytes dropped]` line. Lines of the runner itself start with
//!   `[` on stderr and do not count against the cap.
//! * **Secrets** (SPEC §8.2): the values of `secret: true` parameters that a step receives (see
//!   [`Masker`]) are replaced by [`MASK`] in its captured lines, before a long line is cut (a value
//!   across the cut is masked whole), in the runner's notes and in step and run errors; nothing
//!   unmasked is sent. Values shorter than [`MIN_SECRET_CHARS`] are not masked, and the step's log
//!   says so. Outputs keep their values.
//! * **Outputs.** `NAME=value` or `NAME<<DELIM` lines in `$FERRY_OUTPUT` (a fresh file per attempt, see
//!   [`outputs`]); read only when the step exits 0; a malformed file makes the step Error.
//! * **Retries.** `retries: N` re-runs a Failed attempt (non-zero exit or step timeout) up to N more
//!   times after [`RunnerConfig::backoff`]; every attempt emits [`RunEvent::StepStarted`] with its number.
//!   Error (cannot start, bad outputs) is not retried.
//! * **Timeouts.** A step `timeout` stops that attempt (SIGTERM to the group, SIGKILL after
//!   [`RunnerConfig::kill_grace`]): Failed, `timed out after 2m`. The workflow `timeout` stops every
//!   running step the same way: they end **Failed** with `workflow timed out after 20m` (a timeout is a
//!   failure, not a user's decision), steps not started stay Pending, the run is Failed.
//! * **Terminate** ([`RunHandle::terminate`], SPEC §3.5): running and waiting steps end Terminated, steps
//!   not started stay Pending, the run is Terminated (a step that had already Failed keeps the run
//!   Failed, by the §4 precedence).
//! * **Resume** (SPEC §3.8): steps in [`RunSpec::completed`] are not run again; they count as succeeded
//!   with their recorded outputs (and emit no events).
//! * **Approval steps** emit [`RunEvent::StepStarted`] and [`RunEvent::StepWaiting`], hold no
//!   concurrency slot, and succeed with output `APPROVED_BY` on [`RunHandle::approve`].

mod config;
mod error;
pub mod exec;
mod logs;
mod mask;
mod orphans;
pub mod outputs;
mod plan;
mod process;
mod run;
mod types;

pub use config::{
    DEFAULT_INHERITED_ENV, DEFAULT_KILL_GRACE, DEFAULT_LOG_CAP_BYTES, DEFAULT_MAX_CONCURRENT_STEPS,
    DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_BACKOFF_MAX, FALLBACK_PATH, RunnerConfig,
};
pub use error::RunnerError;
pub use exec::{CommandResult, run_command};
pub use logs::{BATCH_INTERVAL, MAX_BATCH_LINES, MAX_LINE_BYTES};
pub use mask::{MASK, MIN_SECRET_CHARS, Masker, maskable};
pub use orphans::reap_orphans;
pub use outputs::{Outputs, parse_outputs};
pub use run::{APPROVED_BY, RunControl, RunHandle, Runner};
pub use types::{CompletedStep, LogLine, LogStream, RunEvent, RunOutcome, RunSpec, StepOutcome};
