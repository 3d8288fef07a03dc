//! Fixture repositories: a bare "remote" plus a work clone that makes commits with pinned dates.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_git::GitCache;
use ferry_model::CommitSha;
use tempfile::TempDir;

/// Runs git with an isolated configuration and pinned identity; panics on failure.
pub fn git(dir: &Path, args: &[&str], date: Option<u32>) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Dev Eloper")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev Eloper")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com");
    if let Some(n) = date {
        let stamp = format!("@{} +0000", 1_700_000_000 + u64::from(n) * 60);
        cmd.env("GIT_AUTHOR_DATE", &stamp).env("GIT_COMMITTER_DATE", &stamp);
    }
    let out = cmd.output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare repository with a work clone.
pub struct Remote {
    _dir: TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
    next_date: Cell<u32>,
}

impl Remote {
    /// An empty remote whose `main` branch gets `files` as its first commit.
    pub fn new(files: &[(&str, &str)]) -> Remote {
        let dir = TempDir::new().expect("tempdir");
        let bare = dir.path().join("remote.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&bare).expect("mkdir");
        git(&bare, &["init", "--quiet", "--bare", "--initial-branch=main"], None);
        git(dir.path(), &["init", "--quiet", "--initial-branch=main", "work"], None);
        git(&work, &["remote", "add", "origin", bare.to_str().expect("utf8")], None);
        let remote = Remote { _dir: dir, bare, work, next_date: Cell::new(0) };
        remote.commit(files, "initial");
        remote
    }

    /// file:// URL of the bare repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes files in the work clone, commits with the next pinned date and pushes to `main`.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> CommitSha {
        if self.next_date.get() > 0 {
            git(&self.work, &["pull", "--quiet", "--rebase", "--autostash", "origin", "main"], None);
        }
        for (path, content) in files {
            let full = self.work.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(&full, content).expect("write");
        }
        let n = self.next_date.get();
        self.next_date.set(n + 1);
        git(&self.work, &["add", "--all"], None);
        git(&self.work, &["commit", "--quiet", "--allow-empty", "-m", message], Some(n));
        git(&self.work, &["push", "--quiet", "origin", "main"], None);
        self.head()
    }

    /// The remote's `main`.
    pub fn head(&self) -> CommitSha {
        CommitSha::new(git(&self.bare, &["rev-parse", "refs/heads/main"], None).trim()).expect("sha")
    }

    /// The remote's branch `name`.
    pub fn branch(&self, name: &str) -> CommitSha {
        CommitSha::new(git(&self.bare, &["rev-parse", &format!("refs/heads/{name}")], None).trim()).expect("sha")
    }

    /// The remote's branches, e.g. `["main"]`.
    pub fn branches(&self) -> Vec<String> {
        git(&self.bare, &["for-each-ref", "--format=%(refname:short)", "refs/heads"], None)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A file at a revision of the remote.
    pub fn show_at(&self, rev: &str, path: &str) -> String {
        git(&self.bare, &["show", &format!("{rev}:{path}")], None)
    }

    /// The parents of a commit of the remote.
    pub fn parents(&self, sha: &CommitSha) -> Vec<String> {
        git(&self.bare, &["rev-list", "--parents", "-n", "1", sha.as_str()], None)
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect()
    }

    /// A file of the remote's `main`.
    pub fn show(&self, path: &str) -> String {
        git(&self.bare, &["show", &format!("main:{path}")], None)
    }

    /// Number of commits on the remote's `main`.
    pub fn count(&self) -> usize {
        git(&self.bare, &["rev-list", "--count", "main"], None).trim().parse().expect("count")
    }

    /// Makes the remote refuse every push with a message on stderr.
    pub fn reject_pushes(&self, message: &str) {
        let hook = self.bare.join("hooks/pre-receive");
        std::fs::write(&hook, format!("#!/bin/sh\necho '{message}' >&2\nexit 1\n")).expect("hook");
        make_executable(&hook);
    }
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path).expect("meta").permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).expect("chmod");
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
