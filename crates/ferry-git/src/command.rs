//! Running the `git` binary: clean environment, no prompts, English messages, a timeout.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
#[cfg(not(target_os = "linux"))]
use std::time::Instant;

/// Environment variables that would redirect git to another repository, index or object store.
const GIT_LOCATION_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_QUARANTINE_PATH",
];

/// What a finished git process left behind.
#[derive(Debug)]
pub(crate) struct Output {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A git invocation being prepared.
pub(crate) struct Git {
    cmd: Command,
    timeout: Duration,
}

impl Git {
    /// `git` with `args`, run in `cwd` (when given).
    pub fn new(program: &Path, cwd: Option<&Path>, args: &[&str], timeout: Duration) -> Git {
        let mut cmd = Command::new(program);
        for var in GIT_LOCATION_VARS {
            cmd.env_remove(var);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0").env("LC_ALL", "C").env("LANGUAGE", "C").env("GIT_ASKPASS", "true");
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        cmd.args(args);
        // Its own process group: a timeout stops git and the helpers it started (ssh, remote helpers),
        // which would otherwise keep its output pipes open.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Git { cmd, timeout }
    }

    /// Sets an environment variable of the process (never shown in messages).
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Git {
        self.cmd.env(key, value);
        self
    }

    /// Passes extra configuration through the environment (`GIT_CONFIG_COUNT`), so that values such
    /// as authorization headers never appear on a command line.
    pub fn config_env(mut self, pairs: &[(String, String)]) -> Git {
        if pairs.is_empty() {
            return self;
        }
        self.cmd.env("GIT_CONFIG_COUNT", pairs.len().to_string());
        for (i, (k, v)) in pairs.iter().enumerate() {
            self.cmd.env(format!("GIT_CONFIG_KEY_{i}"), k).env(format!("GIT_CONFIG_VALUE_{i}"), v);
        }
        self
    }

    /// Runs the process to completion (killing it after the timeout). `Err` = it could not start or
    /// timed out, with a message for the user.
    pub fn run(mut self) -> Result<Output, String> {
        self.cmd.stdin(Stdio::null());
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "the `git` program was not found; install git (it is a runtime dependency of Ferry)".to_owned()
            } else {
                format!("could not start git: {e}")
            }
        })?;
        let mut stdout_pipe = child.stdout.take();
        let mut stderr_pipe = child.stderr.take();
        let stdout_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(pipe) = stdout_pipe.as_mut() {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        });
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(pipe) = stderr_pipe.as_mut() {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        });
        let status = wait(&mut child, self.timeout).map_err(|e| match e {
            Wait::TimedOut => format!(
                "git did not finish within {}s and was stopped; check that the remote is reachable",
                self.timeout.as_secs()
            ),
            Wait::Failed(e) => format!("could not wait for git: {e}"),
        })?;
        let stdout = stdout_thread.join().unwrap_or_default();
        let stderr = stderr_thread.join().unwrap_or_default();
        Ok(Output { success: status.success(), stdout, stderr: String::from_utf8_lossy(&stderr).trim_end().to_owned() })
    }
}

enum Wait {
    TimedOut,
    Failed(std::io::Error),
}

/// Waits for `child` to exit, killing its process group after `timeout`. The exit is noticed as it
/// happens: this thread blocks in `waitid` without reaping the child, while a watchdog thread kills the
/// group if the time runs out (the child is reaped only after the watchdog has stood down, so its pid —
/// the group's id — cannot be reused meanwhile).
#[cfg(target_os = "linux")]
fn wait(child: &mut std::process::Child, timeout: Duration) -> Result<std::process::ExitStatus, Wait> {
    use nix::sys::signal::{Signal, kill};
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    use nix::unistd::Pid;

    let pid = Pid::from_raw(i32::try_from(child.id()).map_err(|e| Wait::Failed(std::io::Error::other(e)))?);
    let (done, stand_down) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || match stand_down.recv_timeout(timeout) {
        // The group of the unreaped child (its id is the group's).
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL).is_ok(),
        _ => false,
    });
    let exited = loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    if exited.is_err() {
        // Not known to have exited: stop it rather than wait without a limit.
        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
    }
    let _ = done.send(());
    let killed = watchdog.join().unwrap_or(false);
    let status = child.wait().map_err(Wait::Failed)?;
    exited.map_err(|e| Wait::Failed(e.into()))?;
    // A process that finished just as the time ran out keeps its own result.
    let died_of_the_kill = std::os::unix::process::ExitStatusExt::signal(&status) == Some(Signal::SIGKILL as i32);
    if killed && died_of_the_kill { Err(Wait::TimedOut) } else { Ok(status) }
}

/// Waits for `child` to exit, killing it after `timeout` (polling where `waitid` is not available).
#[cfg(not(target_os = "linux"))]
fn wait(child: &mut std::process::Child, timeout: Duration) -> Result<std::process::ExitStatus, Wait> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Wait::TimedOut);
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(25));
            }
            Err(e) => return Err(Wait::Failed(e)),
        }
    }
}
