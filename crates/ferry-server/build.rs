//! Records the git commit the server is built from for `ferry_build_info` and `ferry version`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty() && text.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=FERRY_BUILD_COMMIT={commit}");
    // Rebuilt when HEAD moves (HEAD names the branch, the branch's file names the commit); only files
    // that exist are watched, since a missing one would rebuild the crate every time.
    let git_path = |path: &str| {
        Command::new("git")
            .args(["rev-parse", "--git-path", path])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if let Some(head) = git_path("HEAD") {
        let branch =
            std::fs::read_to_string(&head).ok().and_then(|t| t.trim().strip_prefix("ref: ").map(str::to_owned));
        for file in std::iter::once(Some(head)).chain([branch.and_then(|b| git_path(&b))]).flatten() {
            if std::path::Path::new(&file).exists() {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
