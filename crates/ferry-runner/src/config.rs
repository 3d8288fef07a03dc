//! Runner configuration.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Default per-run log cap: 10 MiB.
pub const DEFAULT_LOG_CAP_BYTES: u64 = 10 * 1024 * 1024;
/// Default time between SIGTERM and SIGKILL: 10 s (SPEC §3.5).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(10);
/// Default number of steps that may run at once in one Ferry process.
pub const DEFAULT_MAX_CONCURRENT_STEPS: usize = 16;
/// Default delay before the first retry of a failed step; it doubles for each further retry.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// Default upper bound of the retry delay.
pub const DEFAULT_RETRY_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// `PATH` given to steps when the Ferry process itself has none.
pub const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables of the Ferry process that steps inherit by default. Everything else of Ferry's own
/// environment (database URLs, tokens, ...) is withheld. An entry ending in `*` is a prefix.
pub const DEFAULT_INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// How a [`Runner`](crate::Runner) behaves; [`RunnerConfig::default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Steps that may run at once across all runs of this runner (the per-process limit of SPEC §6.4).
    /// At least 1; approval steps waiting for a person do not count.
    pub max_concurrent_steps: usize,
    /// Captured log bytes per run (all steps together); later output is dropped and marked.
    pub log_cap_bytes: u64,
    /// Time between SIGTERM and SIGKILL when a step is stopped (terminate or timeout).
    pub kill_grace: Duration,
    /// Directory under which each run gets a private temporary directory (for `$FERRY_OUTPUT` files).
    /// Created when missing; each run's directory is removed when the run ends.
    pub work_dir: PathBuf,
    /// Delay before the first retry of a failed step; doubled for each further retry.
    pub retry_backoff: Duration,
    /// Upper bound of the retry delay.
    pub retry_backoff_max: Duration,
    /// Names of Ferry's own environment variables that steps inherit (`*` at the end = prefix).
    pub inherit_env: Vec<String>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            max_concurrent_steps: DEFAULT_MAX_CONCURRENT_STEPS,
            log_cap_bytes: DEFAULT_LOG_CAP_BYTES,
            kill_grace: DEFAULT_KILL_GRACE,
            work_dir: std::env::temp_dir().join("ferry-runner"),
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            retry_backoff_max: DEFAULT_RETRY_BACKOFF_MAX,
            inherit_env: DEFAULT_INHERITED_ENV.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

impl RunnerConfig {
    /// The delay before retry number `retry` (1-based): `retry_backoff · 2^(retry-1)`, at most
    /// `retry_backoff_max`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.retry_backoff.saturating_mul(factor).min(self.retry_backoff_max)
    }
}

/// The variables of the current process selected by `patterns`, with a fallback `PATH`.
pub(crate) fn inherited_env(patterns: &[String]) -> Vec<(OsString, OsString)> {
    let matches = |name: &str| {
        patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == p,
        })
    };
    let mut vars: Vec<(OsString, OsString)> =
        std::env::vars_os().filter(|(name, _)| name.to_str().is_some_and(matches)).collect();
    if !vars.iter().any(|(name, _)| name == "PATH") {
        vars.push(("PATH".into(), FALLBACK_PATH.into()));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = RunnerConfig::default();
        let secs: Vec<u64> = (1..=7).map(|n| config.backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(config.backoff(200), Duration::from_secs(30));
    }
}
