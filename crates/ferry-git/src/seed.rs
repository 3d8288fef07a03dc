//! Writing commits the ordinary way, for local repositories Ferry creates itself (`ferry demo`) and for
//! tests: a bare repository seeded with files, and plain commits of file contents onto a branch.

use std::path::Path;
use std::time::Duration;

use ferry_model::names::CommitSha;

use crate::command::Git;
use crate::error::{GitError, Operation};

const TIMEOUT: Duration = Duration::from_secs(60);

fn run(
    cwd: &Path,
    args: &[&str],
    author: (&str, &str),
    operation: Operation,
    remote: &str,
) -> Result<String, GitError> {
    let out = Git::new(Path::new("git"), Some(cwd), args, TIMEOUT)
        .env("GIT_AUTHOR_NAME", author.0)
        .env("GIT_AUTHOR_EMAIL", author.1)
        .env("GIT_COMMITTER_NAME", author.0)
        .env("GIT_COMMITTER_EMAIL", author.1)
        .run()
        .map_err(|e| GitError::new(operation, remote, e))?;
    if !out.success {
        return Err(GitError::new(operation, remote, format!("git {} failed: {}", args.join(" "), out.stderr.trim())));
    }
    Ok(out.stdout_text().trim().to_owned())
}

/// Commits `files` (path → content; `None` deletes) on top of `branch` of the repository at `url` and
/// pushes; creates the branch when the repository is empty. When someone else pushed meanwhile, the
/// commit is made again on the new tip (up to 5 times). Returns the new commit.
pub fn commit_files(
    url: &str,
    branch: &str,
    files: &[(&str, Option<&[u8]>)],
    message: &str,
    author: (&str, &str),
) -> Result<CommitSha, GitError> {
    let mut attempt = 1;
    loop {
        match commit_files_once(url, branch, files, message, author) {
            Err(e) if e.operation == Operation::Push && attempt < 5 && e.message.contains("rejected") => attempt += 1,
            other => return other,
        }
    }
}

fn commit_files_once(
    url: &str,
    branch: &str,
    files: &[(&str, Option<&[u8]>)],
    message: &str,
    author: (&str, &str),
) -> Result<CommitSha, GitError> {
    let work = tempfile::tempdir().map_err(|e| GitError::new(Operation::Commit, url, e.to_string()))?;
    let dir = work.path();
    run(dir, &["init", "-q", "-b", branch], author, Operation::Commit, url)?;
    run(dir, &["remote", "add", "origin", url], author, Operation::Clone, url)?;
    let has_branch = !run(dir, &["ls-remote", "--heads", "origin", branch], author, Operation::Fetch, url)?.is_empty();
    if has_branch {
        run(dir, &["fetch", "-q", "--depth", "1", "origin", branch], author, Operation::Fetch, url)?;
        run(dir, &["checkout", "-q", "-B", branch, "FETCH_HEAD"], author, Operation::Fetch, url)?;
    }
    for (path, content) in files {
        let target = dir.join(path);
        match content {
            Some(bytes) => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| GitError::new(Operation::Commit, url, e.to_string()))?;
                }
                std::fs::write(&target, bytes).map_err(|e| GitError::new(Operation::Commit, url, e.to_string()))?;
            }
            None => {
                let _ = std::fs::remove_file(&target);
            }
        }
    }
    run(dir, &["add", "-A"], author, Operation::Commit, url)?;
    run(dir, &["commit", "-q", "--allow-empty", "-m", message], author, Operation::Commit, url)?;
    let sha = run(dir, &["rev-parse", "HEAD"], author, Operation::Commit, url)?;
    run(dir, &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")], author, Operation::Push, url)?;
    CommitSha::new(sha).map_err(|e| GitError::new(Operation::Commit, url, e.to_string()))
}

/// Creates an empty bare repository at `path` whose default branch is `branch`.
pub fn init_bare(path: &Path, branch: &str) -> Result<(), GitError> {
    let remote = path.display().to_string();
    std::fs::create_dir_all(path).map_err(|e| GitError::new(Operation::Clone, &remote, e.to_string()))?;
    run(path, &["init", "-q", "--bare", "-b", branch], ("Ferry", "ferry@localhost"), Operation::Clone, &remote)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("r.git");
        init_bare(&bare, "main").unwrap();
        let url = format!("file://{}", bare.display());
        let author = ("Demo", "demo@example.com");
        let first = commit_files(&url, "main", &[("a/x.yaml", Some(b"x: 1\n".as_slice()))], "first", author).unwrap();
        let second = commit_files(
            &url,
            "main",
            &[("a/y.yaml", Some(b"y: 2\n".as_slice())), ("a/x.yaml", None)],
            "second",
            author,
        )
        .unwrap();
        assert_ne!(first, second);
        let cache = crate::GitCache::new(dir.path().join("cache"));
        cache.fetch(&url).unwrap();
        assert_eq!(cache.head(&url, "main").unwrap(), second);
        assert_eq!(cache.list_files(&url, &second, "a").unwrap(), ["y.yaml"]);
        assert!(cache.is_ancestor(&url, &first, &second).unwrap());
        let info = cache.commit_info(&url, &second).unwrap();
        assert_eq!((info.author_name.as_str(), info.subject()), ("Demo", "second"));
    }
}
