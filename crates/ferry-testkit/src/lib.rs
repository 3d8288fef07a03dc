//! Test helpers shared by Ferry's crates (a dev-dependency only, never published): git fixture
//! repositories — a bare "remote" and a work tree to commit from — built by the `git` program with an
//! isolated configuration, a pinned identity and pinned dates, so that commit ids and histories are
//! the same on every run. With features `argocd` and `argowf`: the Argo CD and Argo Server
//! stand-ins, and `argo_shop`, the product the Argo tests promote; with `forges`: the GitHub, GitLab
//! and Gitea stand-ins; [`shop::ShopYaml`] writes the `shop` product's configuration.
//!
//! Helpers panic with the command and git's stderr when something fails: they run inside tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned date of [`Git::alice`]'s commits.
pub const DATE: &str = "2026-01-01T00:00:00Z";

/// When commits are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dates {
    /// Every commit at this date (`2026-01-01T00:00:00Z`, or git's `@<seconds> +0000`).
    Fixed(String),
    /// The `n`-th commit ([`Git::commit_date`]) at `base + n * step` seconds since the epoch.
    Counting {
        /// Seconds since the epoch of commit 0.
        base: u64,
        /// Seconds between commits.
        step: u64,
    },
    /// Whatever git takes (the current time): only for commands that make no commits.
    Unpinned,
}

/// Runs `git` with an isolated configuration (no global or system file), a pinned author and
/// committer and pinned dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Git {
    name: String,
    email: String,
    dates: Dates,
}

impl Git {
    /// Alice Dev <alice@example.com>, every commit at [`DATE`].
    pub fn alice() -> Git {
        Git::new("Alice Dev", "alice@example.com", Dates::Fixed(DATE.to_owned()))
    }

    /// Another identity and dates.
    pub fn new(name: &str, email: &str, dates: Dates) -> Git {
        Git { name: name.to_owned(), email: email.to_owned(), dates }
    }

    /// The same identity with fixed `date`.
    pub fn at(&self, date: &str) -> Git {
        Git { dates: Dates::Fixed(date.to_owned()), ..self.clone() }
    }

    fn command(&self, dir: &Path, args: &[&str], date: Option<String>) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", &self.name)
            .env("GIT_AUTHOR_EMAIL", &self.email)
            .env("GIT_COMMITTER_NAME", &self.name)
            .env("GIT_COMMITTER_EMAIL", &self.email);
        if let Some(date) = date {
            cmd.env("GIT_AUTHOR_DATE", &date).env("GIT_COMMITTER_DATE", &date);
        }
        cmd
    }

    fn output(&self, dir: &Path, args: &[&str], date: Option<String>) -> String {
        let out = self.command(dir, args, date).output().expect("git runs");
        assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs git in `dir` at the fixed date (none for [`Dates::Counting`]); returns stdout, trimmed.
    pub fn run(&self, dir: &Path, args: &[&str]) -> String {
        self.run_raw(dir, args).trim().to_owned()
    }

    /// [`run`](Git::run) without trimming (file contents keep their last newline).
    pub fn run_raw(&self, dir: &Path, args: &[&str]) -> String {
        let date = match &self.dates {
            Dates::Fixed(date) => Some(date.clone()),
            Dates::Counting { .. } | Dates::Unpinned => None,
        };
        self.output(dir, args, date)
    }

    /// The date of the `n`-th commit (the fixed date, or `base + n * step`).
    pub fn commit_date(&self, n: u32) -> Option<String> {
        match &self.dates {
            Dates::Fixed(date) => Some(date.clone()),
            Dates::Counting { base, step } => Some(format!("@{} +0000", base + u64::from(n) * step)),
            Dates::Unpinned => None,
        }
    }

    /// Runs git in `dir` dated as the `n`-th commit; returns stdout, trimmed.
    pub fn run_at(&self, dir: &Path, args: &[&str], n: u32) -> String {
        self.output(dir, args, self.commit_date(n)).trim().to_owned()
    }

    /// Runs git in `dir` dated as the `n`-th commit (`None`: as [`run_raw`](Git::run_raw)); returns
    /// stdout untrimmed.
    pub fn run_raw_at(&self, dir: &Path, args: &[&str], n: Option<u32>) -> String {
        match n {
            Some(n) => self.output(dir, args, self.commit_date(n)),
            None => self.run_raw(dir, args),
        }
    }
}

/// Runs git as [`Git::alice`] (every commit at [`DATE`]); returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    Git::alice().run(dir, args)
}

/// Makes `path` executable (hooks, wrapper scripts).
pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path).expect("metadata").permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).expect("chmod");
}

/// A bare repository `root/<name>.git` with branch `main` (the remote Ferry talks to) and a work tree
/// `root/<name>-work` whose `origin` it is. Commits are numbered: the `n`-th gets [`Git::commit_date`]`(n)`.
#[derive(Debug)]
pub struct Repo {
    /// The bare repository.
    pub bare: PathBuf,
    /// The work tree.
    pub work: PathBuf,
    git: Git,
    commits: Cell<u32>,
}

impl Repo {
    /// An empty remote and work tree, committing as `git`, the first commit numbered `first`.
    pub fn init(root: &Path, name: &str, git: Git, first: u32) -> Repo {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}-work"));
        std::fs::create_dir_all(&bare).expect("create the bare repository's directory");
        git.run(&bare, &["init", "-q", "--bare", "-b", "main"]);
        std::fs::create_dir_all(&work).expect("create the work tree");
        git.run(&work, &["init", "-q", "-b", "main"]);
        git.run(&work, &["remote", "add", "origin", bare.to_str().expect("UTF-8 path")]);
        Repo { bare, work, git, commits: Cell::new(first) }
    }

    /// A remote whose `main` has `files` as its first commit ("initial layout"), as Alice Dev at
    /// [`DATE`].
    pub fn new(root: &Path, name: &str, files: &[(&str, &str)]) -> Repo {
        let repo = Repo::init(root, name, Git::alice(), 0);
        repo.commit(files, "initial layout");
        repo.push();
        repo
    }

    /// `file://` URL of the bare repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// The identity and dates commits are made with.
    pub fn git(&self) -> &Git {
        &self.git
    }

    /// Writes files into the work tree (directories created).
    pub fn write<S: AsRef<str>>(&self, files: &[(&str, S)]) {
        for (path, text) in files {
            let full = self.work.join(path);
            std::fs::create_dir_all(full.parent().expect("a file has a directory")).expect("create a directory");
            std::fs::write(full, text.as_ref()).expect("write a file");
        }
    }

    /// Takes the number of the next commit (for commits made with [`Git::run_at`] directly).
    pub fn next_commit(&self) -> u32 {
        let n = self.commits.get();
        self.commits.set(n + 1);
        n
    }

    /// Writes `files`, commits everything in the work tree with the next date (empty commits too) and
    /// returns the commit; nothing is pushed.
    pub fn commit<S: AsRef<str>>(&self, files: &[(&str, S)], message: &str) -> String {
        self.write(files);
        let n = self.next_commit();
        self.git.run(&self.work, &["add", "-A"]);
        self.git.run_at(&self.work, &["commit", "-q", "--allow-empty", "-m", message], n);
        self.git.run(&self.work, &["rev-parse", "HEAD"])
    }

    /// Pushes the work tree's `HEAD` to the remote's `main`, first rebasing onto what was pushed there
    /// meanwhile (Ferry's promotion commits).
    pub fn push(&self) {
        self.pull();
        self.git.run(&self.work, &["push", "-q", "origin", "HEAD:main"]);
    }

    /// Takes in what was pushed to the remote's `main` since (Ferry's promotion commits).
    pub fn pull(&self) {
        if !self.git.run(&self.bare, &["branch", "--list", "main"]).is_empty() {
            self.git.run(&self.work, &["pull", "-q", "--rebase", "--autostash", "origin", "main"]);
        }
    }

    /// [`pull`](Repo::pull), [`commit`](Repo::commit) and push: the commit is made on the remote's
    /// tip, so its id depends only on the pinned dates. Returns it.
    pub fn commit_and_push<S: AsRef<str>>(&self, files: &[(&str, S)], message: &str) -> String {
        self.pull();
        let sha = self.commit(files, message);
        self.git.run(&self.work, &["push", "-q", "origin", "HEAD:main"]);
        sha
    }

    /// A revision of the remote (`main`, a branch, a commit), as a full id.
    pub fn rev(&self, rev: &str) -> String {
        self.git.run(&self.bare, &["rev-parse", rev])
    }

    /// The remote's branches, e.g. `["main"]`.
    pub fn branches(&self) -> Vec<String> {
        let out = self.git.run(&self.bare, &["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
        out.lines().map(str::to_owned).collect()
    }

    /// A file at a revision of the remote, exactly (with its last newline).
    pub fn show_raw(&self, rev: &str, path: &str) -> String {
        self.git.run_raw(&self.bare, &["show", &format!("{rev}:{path}")])
    }

    /// A file at a revision of the remote, trimmed.
    pub fn show(&self, rev: &str, path: &str) -> String {
        self.show_raw(rev, path).trim().to_owned()
    }

    /// The commits of the remote's `main`, newest first: (id, full message trimmed).
    pub fn log(&self) -> Vec<(String, String)> {
        let out = self.git.run(&self.bare, &["log", "--format=%H%x1f%B%x1e", "main"]);
        out.split('\u{1e}')
            .filter(|s| !s.trim().is_empty())
            .map(|entry| {
                let (sha, msg) = entry.trim().split_once('\u{1f}').expect("log entries have a separator");
                (sha.to_owned(), msg.trim().to_owned())
            })
            .collect()
    }

    /// What a commit of the remote changed, without context lines.
    pub fn diff(&self, sha: &str) -> String {
        self.git.run(&self.bare, &["show", "--format=", "--unified=0", sha])
    }

    /// The parents of a commit of the remote.
    pub fn parents(&self, sha: &str) -> Vec<String> {
        let out = self.git.run(&self.bare, &["rev-list", "--parents", "-n", "1", sha]);
        out.split_whitespace().skip(1).map(str::to_owned).collect()
    }

    /// Makes the remote refuse every push, printing `message` on stderr.
    pub fn reject_pushes(&self, message: &str) {
        let hook = self.bare.join("hooks/pre-receive");
        std::fs::write(&hook, format!("#!/bin/sh\necho '{message}' >&2\nexit 1\n")).expect("write the hook");
        make_executable(&hook);
    }
}

#[cfg(any(feature = "argocd", feature = "argowf"))]
pub mod argo_shop;
#[cfg(feature = "argocd")]
pub mod argocd;
#[cfg(feature = "argowf")]
pub mod argowf;
#[cfg(feature = "forges")]
pub mod forges;
pub mod shop;
