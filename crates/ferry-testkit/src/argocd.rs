//! The Argo CD stand-in of `ferry-argocd` (feature `standin`), started on a local bare repository read
//! with the `git` program.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use ferry_argocd::standin::{ArgoCdStandIn, Behaviour, Revisions, StandInApp};

/// Serves `apps` from the bare repository `bare` (branch `branch`), requiring `token` as a bearer
/// token when set, finishing sync operations `delay` after they start.
pub async fn start(
    bare: PathBuf,
    branch: &str,
    apps: Vec<StandInApp>,
    token: Option<&str>,
    delay: Duration,
) -> ArgoCdStandIn {
    let revisions: Revisions =
        Arc::new(move |branch: &str, paths: &[String]| paths.iter().map(|p| last_commit(&bare, branch, p)).collect());
    ArgoCdStandIn::start(revisions, branch, apps, token, delay).await.expect("the stand-in binds a loopback port")
}

/// The last commit on `branch` touching `path` in the bare repository.
fn last_commit(bare: &std::path::Path, branch: &str, path: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["log", "-1", "--format=%H", branch, "--", path])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .ok()?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}
