//! Fixture repositories: a bare "remote" plus a work clone that makes commits with pinned dates.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_git::GitCache;
use ferry_model::CommitSha;
use ferry_testkit::{Dates, Git, Repo};
use tempfile::TempDir;

pub use ferry_testkit::make_executable;

/// Dev Eloper <dev@example.com>, the `n`-th commit at `1_700_000_000 + n` minutes.
fn dev() -> Git {
    Git::new("Dev Eloper", "dev@example.com", Dates::Counting { base: 1_700_000_000, step: 60 })
}

/// Runs git with an isolated configuration and pinned identity, dated as the `date`-th commit when
/// given; returns stdout untrimmed and panics on failure.
pub fn git(dir: &Path, args: &[&str], date: Option<u32>) -> String {
    dev().run_raw_at(dir, args, date)
}

/// A bare repository with a work clone, in a temporary directory of its own.
pub struct Remote {
    repo: Repo,
    pub bare: PathBuf,
    pub work: PathBuf,
    _dir: TempDir,
}

impl Remote {
    /// An empty remote whose `main` branch gets `files` as its first commit.
    pub fn new(files: &[(&str, &str)]) -> Remote {
        let dir = TempDir::new().expect("tempdir");
        let repo = Repo::init(dir.path(), "remote", dev(), 0);
        let (bare, work) = (repo.bare.clone(), repo.work.clone());
        let remote = Remote { repo, bare, work, _dir: dir };
        remote.commit(files, "initial");
        remote
    }

    /// file:// URL of the bare repository.
    pub fn url(&self) -> String {
        self.repo.url()
    }

    /// Writes files in the work clone, commits with the next pinned date and pushes to `main`.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> CommitSha {
        CommitSha::new(self.repo.commit_and_push(files, message)).expect("sha")
    }

    /// The remote's `main`.
    pub fn head(&self) -> CommitSha {
        self.branch("main")
    }

    /// The remote's branch `name`.
    pub fn branch(&self, name: &str) -> CommitSha {
        CommitSha::new(self.repo.rev(&format!("refs/heads/{name}"))).expect("sha")
    }

    /// The remote's branches, e.g. `["main"]`.
    pub fn branches(&self) -> Vec<String> {
        self.repo.branches()
    }

    /// A file at a revision of the remote.
    pub fn show_at(&self, rev: &str, path: &str) -> String {
        self.repo.show_raw(rev, path)
    }

    /// The parents of a commit of the remote.
    pub fn parents(&self, sha: &CommitSha) -> Vec<String> {
        self.repo.parents(sha.as_str())
    }

    /// A file of the remote's `main`.
    pub fn show(&self, path: &str) -> String {
        self.repo.show_raw("main", path)
    }

    /// Number of commits on the remote's `main`.
    pub fn count(&self) -> usize {
        git(&self.bare, &["rev-list", "--count", "main"], None).trim().parse().expect("count")
    }

    /// Makes the remote refuse every push with a message on stderr.
    pub fn reject_pushes(&self, message: &str) {
        self.repo.reject_pushes(message);
    }
}

/// A cache in its own temporary directory.
pub struct Cache {
    pub dir: TempDir,
    pub cache: GitCache,
}

pub fn cache() -> Cache {
    let dir = TempDir::new().expect("tempdir");
    let cache = GitCache::new(dir.path().join("mirrors"));
    Cache { dir, cache }
}

/// A git wrapper for `GitCache::with_git_program` that, right before the first `git push` it runs, lets
/// the remote's work clone commit `race.txt` and push it to `main`. Returns the wrapper and the marker
/// file whose existence shows that the race happened.
pub fn racing_git(dir: &Path, remote: &Remote) -> (PathBuf, PathBuf) {
    let marker = dir.join("raced");
    let wrapper = dir.join("git-wrapper");
    let real_git = String::from_utf8(Command::new("sh").args(["-c", "command -v git"]).output().expect("sh").stdout)
        .expect("utf8");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = push ] && [ ! -e '{marker}' ]; then\n  touch '{marker}'\n  cd '{work}' && echo race > race.txt && \
             {git} add race.txt && {git} -c user.name=Other -c user.email=o@example.com commit -q -m race && {git} push -q origin main\n  \
             cd - >/dev/null\nfi\nexec {git} \"$@\"\n",
            marker = marker.display(),
            work = remote.work.display(),
            git = real_git.trim(),
        ),
    )
    .expect("wrapper");
    make_executable(&wrapper);
    (wrapper, marker)
}

/// A git wrapper for `GitCache::with_git_program` that, right before every `git push` it runs, lets the
/// remote's work clone commit and push to `main`: the branch moves on every attempt. Returns the wrapper
/// and a file with one line per push it let through.
pub fn always_racing_git(dir: &Path, remote: &Remote) -> (PathBuf, PathBuf) {
    let pushes = dir.join("pushes");
    let wrapper = dir.join("git-always-racing");
    let real_git = String::from_utf8(Command::new("sh").args(["-c", "command -v git"]).output().expect("sh").stdout)
        .expect("utf8");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = push ]; then\n  echo push >> '{pushes}'\n  (cd '{work}' && echo \"race $(wc -l < '{pushes}')\" > race.txt && \
             {git} add race.txt && {git} -c user.name=Other -c user.email=o@example.com commit -q -m race && {git} push -q origin main) >&2\n\
             fi\nexec {git} \"$@\"\n",
            pushes = pushes.display(),
            work = remote.work.display(),
            git = real_git.trim(),
        ),
    )
    .expect("wrapper");
    make_executable(&wrapper);
    (wrapper, pushes)
}
