//! One-off shell commands for the `exec` application status kind (SPEC §6.3: `sync` and `health`),
//! run with the same process-group and kill machinery as workflow steps, so that only this crate and
//! `ferry-git` spawn processes.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::RunnerError;
use crate::config::{DEFAULT_INHERITED_ENV, DEFAULT_KILL_GRACE, inherited_env};
use crate::logs::LogBudget;
use crate::mask::Masker;
use crate::process::{self, Ending};
use crate::types::LogLine;

/// Lines kept in [`CommandResult::output_tail`] (as many as an issue shows, SPEC §4).
pub const OUTPUT_TAIL_LINES: usize = 200;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// Exit code, when the shell exited normally (`None` when killed by a signal, e.g. on timeout).
    pub exit_code: Option<i32>,
    /// The last [`OUTPUT_TAIL_LINES`] captured lines of stdout and stderr, interleaved as read.
    pub output_tail: Vec<LogLine>,
    /// Whether the timeout expired and the command was stopped (SIGTERM, SIGKILL after 10 s).
    pub timed_out: bool,
}

impl CommandResult {
    /// Whether the command exited with code 0 in time.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// The tail of the output as text, one line per captured line.
    pub fn output_text(&self) -> String {
        self.output_tail.iter().map(|line| line.text.as_str()).collect::<Vec<_>>().join("\n")
    }
}

/// Runs `sh -e -c script` in `cwd` in its own process group, with Ferry's default inherited variables
/// (see [`DEFAULT_INHERITED_ENV`]) plus `env` as environment (values are never put into the script
/// text), stdin from /dev/null, at most `log_cap_bytes` of output captured, stopped after `timeout`.
///
/// An error means the command could not be started (missing `cwd`, no `sh`).
pub async fn run_command(
    script: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
    log_cap_bytes: u64,
) -> Result<CommandResult, RunnerError> {
    let patterns: Vec<String> = DEFAULT_INHERITED_ENV.iter().map(|s| (*s).to_owned()).collect();
    let inherited = inherited_env(&patterns);
    let vars = inherited
        .iter()
        .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
        .chain(env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))));
    let child = process::spawn_shell(script, cwd, vars)?;
    let tail: Arc<Mutex<VecDeque<LogLine>>> = Arc::new(Mutex::new(VecDeque::with_capacity(OUTPUT_TAIL_LINES)));
    let sink_tail = tail.clone();
    let sink = move |lines: Vec<LogLine>| {
        let mut tail = sink_tail.lock().unwrap_or_else(PoisonError::into_inner);
        for line in lines {
            if tail.len() == OUTPUT_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    };
    let budget = Arc::new(LogBudget::new(log_cap_bytes));
    let masker = Arc::new(Masker::default());
    let ending =
        child.supervise(Some(timeout), std::future::pending(), DEFAULT_KILL_GRACE, budget, masker, sink).await?;
    let output_tail: Vec<LogLine> = tail.lock().unwrap_or_else(PoisonError::into_inner).drain(..).collect();
    let (status, timed_out) = match ending {
        Ending::Exited(status) | Ending::Stopped(status) => (status, false),
        Ending::TimedOut(status) => (status, true),
    };
    Ok(CommandResult { exit_code: process::describe(status).0, output_tail, timed_out })
}
