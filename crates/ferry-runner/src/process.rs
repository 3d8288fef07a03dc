//! Spawning `sh -e -c SCRIPT` as the leader of a new process group, and stopping the whole group.
//!
//! Stopping means SIGTERM to the group, then SIGKILL to the group after the grace period. When the
//! shell ends (by itself or stopped), whatever it left behind in its group is killed with SIGKILL, and
//! a group still alive when its [`GroupChild`] is dropped (the run was dropped, the runtime shut down)
//! is killed too: a step's processes never outlive it. Processes that leave the group on purpose
//! (`setsid`) are out of reach.

use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessGroup};
use tokio::process::{ChildStderr, ChildStdout};

use crate::RunnerError;
use crate::logs::{self, LogBudget};
use crate::mask::Masker;
use crate::types::LogLine;

/// How long captured output may keep flowing after the group was killed (only processes that left
/// the group can hold the pipes open that long).
const LOG_DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A running shell, leader of its own process group.
pub(crate) struct GroupChild {
    child: Box<dyn ChildWrapper>,
    pgid: Option<Pid>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
}

impl std::fmt::Debug for GroupChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupChild").field("pgid", &self.pgid).finish_non_exhaustive()
    }
}

/// Starts `sh -e -c script` in `cwd` with exactly the variables `env` (nothing else is inherited),
/// stdin from /dev/null and stdout/stderr piped.
impl GroupChild {
    /// The process group of the child (its pid), when known.
    pub(crate) fn pgid(&self) -> Option<Pid> {
        self.pgid
    }
}

pub(crate) fn spawn_shell<K, V>(
    script: &str,
    cwd: &Path,
    env: impl IntoIterator<Item = (K, V)>,
) -> Result<GroupChild, RunnerError>
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let env: Vec<(K, V)> = env.into_iter().collect();
    let path_var = env.iter().rev().find(|(k, _)| k.as_ref() == "PATH").map(|(_, v)| v.as_ref());
    let program = shell_program(path_var, cwd);
    let mut command = CommandWrap::with_new(program, |command| {
        command
            .arg("-e")
            .arg("-c")
            .arg(script)
            .current_dir(cwd)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    });
    command.wrap(ProcessGroup::leader());
    let spawn_error = |source| RunnerError::Spawn { cwd: cwd.to_path_buf(), source };
    let mut child = command.spawn().map_err(spawn_error)?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
    let stdout = child.stdout().take();
    let stderr = child.stderr().take();
    Ok(GroupChild { child, pgid, stdout, stderr })
}

/// The `sh` that `execvp` would run with the step's own `PATH` (searched the same way: in order,
/// an empty entry meaning the working directory), as an absolute path; plain `sh` when none is found.
///
/// Naming the program by path matters for speed: with `PATH` in a cleared environment and a bare
/// program name, the standard library must `fork` (copying the page tables of the whole Ferry
/// process for every step) instead of using `posix_spawn`.
fn shell_program(path_var: Option<&OsStr>, cwd: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let Some(path_var) = path_var else { return "sh".into() };
    for dir in std::env::split_paths(path_var) {
        // Relative entries (and the empty one) are relative to the step's working directory.
        let candidate = cwd.join(dir).join("sh");
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return candidate;
        }
    }
    "sh".into()
}

/// How a supervised process ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// It exited by itself.
    Exited(ExitStatus),
    /// Its timeout expired and it was stopped.
    TimedOut(ExitStatus),
    /// `stop` completed and it was stopped.
    Stopped(ExitStatus),
}

impl GroupChild {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (the group is gone) is the only expected error and needs no action.
            let _ = killpg(pgid, signal);
        }
    }

    /// Runs the process to its end while capturing its output into `sink`, masked by `masker`: stops it (SIGTERM, then
    /// SIGKILL after `grace`) when `timeout` expires or `stop` completes; then kills what is left of
    /// its group and waits (briefly) for the captured output to be complete.
    pub(crate) async fn supervise<F>(
        mut self,
        timeout: Option<Duration>,
        stop: impl Future<Output = ()>,
        grace: Duration,
        budget: Arc<LogBudget>,
        masker: Arc<Masker>,
        sink: F,
    ) -> Result<Ending, RunnerError>
    where
        F: FnMut(Vec<LogLine>) + Send + 'static,
    {
        let capture = tokio::spawn(logs::pump(self.stdout.take(), self.stderr.take(), budget, masker, sink));
        let ending = self.run(timeout, stop, grace).await;
        // Whatever the shell left behind in its group goes with it.
        self.signal(Signal::SIGKILL);
        self.pgid = None;
        let abort = capture.abort_handle();
        if tokio::time::timeout(LOG_DRAIN_GRACE, capture).await.is_err() {
            abort.abort();
        }
        ending
    }

    async fn run(
        &mut self,
        timeout: Option<Duration>,
        stop: impl Future<Output = ()>,
        grace: Duration,
    ) -> Result<Ending, RunnerError> {
        enum Cause {
            Exit(std::io::Result<ExitStatus>),
            Timeout,
            Stop,
        }
        let expire = async {
            match timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        };
        let cause = tokio::select! {
            status = self.child.wait() => Cause::Exit(status),
            () = expire => Cause::Timeout,
            () = stop => Cause::Stop,
        };
        let wait_error = |source| RunnerError::Wait { source };
        match cause {
            Cause::Exit(status) => status.map(Ending::Exited).map_err(wait_error),
            Cause::Timeout => self.stop(grace).await.map(Ending::TimedOut).map_err(wait_error),
            Cause::Stop => self.stop(grace).await.map(Ending::Stopped).map_err(wait_error),
        }
    }

    /// SIGTERM to the group; SIGKILL to the group if the shell has not exited after `grace`.
    async fn stop(&mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        self.signal(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                self.signal(Signal::SIGKILL);
                self.child.wait().await
            }
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// The exit code of a normal exit, and a description of any other ending.
pub(crate) fn describe(status: ExitStatus) -> (Option<i32>, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (Some(code), format!("exited with code {code}")),
        (None, Some(signal)) => {
            let name = Signal::try_from(signal).map(Signal::as_str).unwrap_or("unknown signal");
            (None, format!("killed by signal {signal} ({name})"))
        }
        (None, None) => (None, "ended without an exit code".to_owned()),
    }
}
