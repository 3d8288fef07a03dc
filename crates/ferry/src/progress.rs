//! The progress display while a command waits for a release (`promote --wait`, `release retry
//! --wait`, `release watch`): environments done out of all, and the phase of each environment that is
//! running. On a terminal it is one status line redrawn in place under the change lines; elsewhere
//! (a pipe, a file, CI logs) it is printed as a line of its own whenever it changes.

use std::io::{IsTerminal, Write as _};

use ferry_api::{AppPhase, ReleaseView};
use ferry_model::status::EnvStatus;

/// The progress of a release in one line, e.g. `2/4 environments done · qa: postAction · staging: health`.
pub fn line(view: &ReleaseView) -> String {
    let total = view.environments.len();
    let done = view.environments.iter().filter(|e| e.status.is_final()).count();
    let mut parts = vec![format!("{done}/{total} environments done")];
    for env in &view.environments {
        if !matches!(env.status, EnvStatus::Running | EnvStatus::Suspended) {
            continue;
        }
        // The earliest phase among its applications: what the environment still waits for.
        let phase = env.applications.iter().map(|a| a.phase).filter(|p| *p != AppPhase::Done).min();
        let mut part = env.name.clone();
        if let Some(phase) = phase {
            part.push_str(&format!(": {}", phase.as_str()));
        }
        if env.status == EnvStatus::Suspended {
            part.push_str(" (suspended)");
        }
        parts.push(part);
    }
    parts.join(" · ")
}

/// Where the change lines and the progress go.
#[derive(Debug)]
pub struct Progress {
    /// Standard error instead of standard output (when standard output carries JSON).
    to_stderr: bool,
    /// Redraw in place (a terminal).
    live: bool,
    /// The progress line last shown.
    shown: Option<String>,
}

impl Progress {
    /// Progress on standard output, or on standard error when `to_stderr`.
    pub fn new(to_stderr: bool) -> Progress {
        let live = if to_stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        Progress { to_stderr, live, shown: None }
    }

    fn write(&self, text: &str) {
        // A closed stream ends nothing here: the command's result still decides the exit status.
        if self.to_stderr {
            let _ = std::io::stderr().write_all(text.as_bytes());
        } else {
            let mut out = std::io::stdout();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }

    /// Prints `changes` (one line each) and the progress of `view`.
    pub fn update(&mut self, changes: &[String], view: &ReleaseView) {
        let now = line(view);
        if self.live {
            let mut text = String::from("\r\x1b[2K");
            for change in changes {
                text.push_str(change);
                text.push('\n');
            }
            text.push_str(&now);
            self.write(&text);
        } else {
            let mut text = String::new();
            for change in changes {
                text.push_str(change);
                text.push('\n');
            }
            if self.shown.as_deref() != Some(now.as_str()) {
                text.push_str(&format!("progress: {now}\n"));
            }
            self.write(&text);
        }
        self.shown = Some(now);
    }

    /// Ends the status line (on a terminal) so what follows starts on a line of its own.
    pub fn finish(&mut self) {
        if self.live && self.shown.is_some() {
            self.write("\n");
        }
    }
}
