//! The cache of bare mirrors: fetch with the git CLI, reads with gix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferry_model::CommitSha;
use gix::ObjectId;
use gix::objs::tree::EntryKind;
use serde::{Deserialize, Serialize};

use crate::command::Git;
use crate::error::{GitError, Operation};

/// Default limit for network git commands (fetch, push, ls-remote).
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(600);

/// How many commits [`GitCache::find_commit_with_trailers`] looks at, newest first.
pub const TRAILER_SCAN_LIMIT: usize = 500;

/// A token for `https://` remotes that do not carry credentials in their URL. It is sent as HTTP basic
/// auth through git's environment-based configuration, never on a command line, and masked in errors.
#[derive(Clone)]
pub struct Credentials {
    /// User name sent with the token (`x-access-token` suits GitHub; GitLab and Gitea accept any name).
    pub username: String,
    /// The token.
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("token", &crate::redact::MASK).finish()
    }
}

impl Credentials {
    /// Reads the token from the environment variable `var` (`None` when unset or empty), with the
    /// user name `x-access-token`.
    pub fn from_env(var: &str) -> Option<Credentials> {
        std::env::var(var)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|token| Credentials { username: "x-access-token".into(), token: token.trim().to_owned() })
    }

    /// Reads the token from a secrets file (its trimmed content), with the user name `x-access-token`.
    pub fn from_file(path: &Path) -> Result<Credentials, GitError> {
        let token = std::fs::read_to_string(path).map_err(|e| {
            GitError::new(
                Operation::Fetch,
                "(token file)",
                format!("cannot read the git token file {}: {e}", path.display()),
            )
        })?;
        let token = token.trim().to_owned();
        if token.is_empty() {
            return Err(GitError::new(
                Operation::Fetch,
                "(token file)",
                format!("the git token file {} is empty; write the token into it", path.display()),
            ));
        }
        Ok(Credentials { username: "x-access-token".into(), token })
    }
}

/// Facts about one commit (SPEC §3.2 trigger commit, §3.6 `COMMIT_*` parameters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    /// Full id.
    pub sha: CommitSha,
    /// First 7 hex digits.
    pub short_sha: String,
    /// Full message, trailers included.
    pub message: String,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Author date.
    pub date: jiff::Timestamp,
    /// Parent commits, first parent first (empty for a root commit; two or more for a merge).
    #[serde(default)]
    pub parents: Vec<CommitSha>,
}

impl CommitInfo {
    /// The first line of the message.
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

/// One bare mirror per repository URL under a root directory. Network work uses the `git` CLI;
/// reads use gix in-process. Methods are blocking: call them from `spawn_blocking` in async code.
///
/// Reads see the mirror as of its last [`fetch`](GitCache::fetch); call `fetch` first when fresh data
/// matters. Writes to one mirror (fetch, promote) are serialised inside this process.
#[derive(Debug)]
pub struct GitCache {
    root: PathBuf,
    credentials: Option<Credentials>,
    timeout: Duration,
    program: PathBuf,
    locks: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
    /// The commit Ferry last pushed to each (mirror, branch): while the mirror's branch is still there,
    /// a promotion need not fetch first (a remote that moved meanwhile rejects the push, which fetches).
    pushed: Mutex<HashMap<(PathBuf, String), ObjectId>>,
    /// Per mirror, the fetches started and the start number of the last one that succeeded.
    fetches: Mutex<HashMap<PathBuf, FetchCount>>,
    /// Per mirror, the references its commit-graph was last written for.
    graphed: Mutex<HashMap<PathBuf, Vec<(String, ObjectId)>>>,
    /// Each mirror's repository, opened once and kept: opening one builds its object store, and
    /// dropping that store waits for every thread that ever read from it — with a busy blocking pool,
    /// most of what a read of a branch tip or a path's last commit cost.
    repos: Mutex<HashMap<PathBuf, gix::ThreadSafeRepository>>,
    /// Per mirror, the last ref advertisement of its remote (`crate::poll`).
    pub(crate) adverts: Mutex<HashMap<PathBuf, crate::poll::Advert>>,
    /// Answers of [`GitCache::last_commit_touching`], each with the branch tip it was computed at.
    pub(crate) touching: Mutex<HashMap<crate::poll::TouchingKey, crate::poll::Touching>>,
    walk_threads: usize,
}

/// Fetches of one mirror, numbered as they start (they run one at a time, under its lock).
#[derive(Debug, Default, Clone, Copy)]
struct FetchCount {
    started: u64,
    last_done: u64,
}

/// The most threads one history walk uses by default.
const MAX_WALK_THREADS: usize = 4;

/// The gix repository type used for reads.
pub(crate) type Repo = gix::Repository;

impl GitCache {
    /// A cache rooted at `root` (created on first fetch).
    pub fn new(root: impl Into<PathBuf>) -> GitCache {
        GitCache {
            root: root.into(),
            credentials: None,
            timeout: DEFAULT_NETWORK_TIMEOUT,
            program: PathBuf::from("git"),
            locks: Mutex::default(),
            pushed: Mutex::default(),
            fetches: Mutex::default(),
            graphed: Mutex::default(),
            repos: Mutex::default(),
            adverts: Mutex::default(),
            touching: Mutex::default(),
            walk_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WALK_THREADS)),
        }
    }

    /// Changes how many threads a long history walk reads trees and commits on (default: the
    /// machine's cores, at most 4; 1 = the calling thread only).
    pub fn with_walk_threads(mut self, threads: usize) -> GitCache {
        self.walk_threads = threads.max(1);
        self
    }

    /// How many threads a long history walk uses.
    pub fn walk_threads(&self) -> usize {
        self.walk_threads
    }

    /// Uses `credentials` for `https://` URLs that carry none.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> GitCache {
        self.credentials = credentials;
        self
    }

    /// Changes the time limit of network git commands.
    pub fn with_timeout(mut self, timeout: Duration) -> GitCache {
        self.timeout = timeout;
        self
    }

    /// Runs this program instead of the `git` found on `PATH`.
    pub fn with_git_program(mut self, program: impl Into<PathBuf>) -> GitCache {
        self.program = program.into();
        self
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the mirror of `url`: sanitized host and path plus a short hash of the URL
    /// without credentials (so rotating a token keeps the mirror).
    pub fn mirror_dir(&self, url: &str) -> PathBuf {
        self.root.join(mirror_name(url))
    }

    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.credentials.iter().map(|c| c.token.as_str()).collect()
    }

    pub(crate) fn error(&self, operation: Operation, url: &str, message: impl AsRef<str>) -> GitError {
        GitError::with_secrets(operation, url, message, &self.secrets())
    }

    /// Configuration passed to network commands through the environment.
    pub(crate) fn auth_config(&self, url: &str) -> Vec<(String, String)> {
        match &self.credentials {
            Some(c) if url.starts_with("https://") && !has_userinfo(url) => {
                let basic = base64(format!("{}:{}", c.username, c.token).as_bytes());
                vec![("http.extraHeader".to_owned(), format!("Authorization: Basic {basic}"))]
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn git(&self, cwd: Option<&Path>, args: &[&str]) -> Git {
        Git::new(&self.program, cwd, args, self.timeout)
    }

    /// Runs a network git command for `url`; failure → [`GitError`] with git's stderr.
    pub(crate) fn run_remote(
        &self,
        op: Operation,
        url: &str,
        cwd: Option<&Path>,
        args: &[&str],
    ) -> Result<String, GitError> {
        let started = std::time::Instant::now();
        let out = self.git(cwd, args).config_env(&self.auth_config(url)).run();
        observe_remote(op, url, started, out.as_ref().is_ok_and(|o| o.success));
        let out = out.map_err(|m| self.error(op, url, m))?;
        if !out.success {
            return Err(self.error(op, url, remote_hint(&out.stderr)));
        }
        Ok(out.stdout_text())
    }

    /// Runs a local git command in the mirror `dir`.
    pub(crate) fn run_local(&self, op: Operation, url: &str, dir: &Path, args: &[&str]) -> Result<String, GitError> {
        let out = self.git(Some(dir), args).run().map_err(|m| self.error(op, url, m))?;
        if !out.success {
            return Err(self.error(op, url, format!("git {} failed: {}", args.first().unwrap_or(&""), out.stderr)));
        }
        Ok(out.stdout_text())
    }

    /// Whether `branch` of the mirror in `dir` is still the commit Ferry pushed there last.
    pub(crate) fn is_own_push(&self, dir: &Path, branch: &str, tip: &CommitSha) -> bool {
        guard_map(&self.pushed).get(&(dir.to_owned(), branch.to_owned())).is_some_and(|own| to_sha(*own) == *tip)
    }

    pub(crate) fn record_push(&self, dir: &Path, branch: &str, tip: ObjectId) {
        guard_map(&self.pushed).insert((dir.to_owned(), branch.to_owned()), tip);
    }

    pub(crate) fn lock(&self, dir: &Path) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(dir.to_path_buf()).or_default().clone()
    }

    /// Creates or updates the mirror of `url` (all branches and tags, pruned), then writes its
    /// commit-graph if the references moved since it was last written.
    ///
    /// Concurrent callers share fetches: one that finds, once it holds the mirror's lock, that a fetch
    /// which started after its call has succeeded meanwhile returns at once — that fetch saw everything
    /// the remote had when this call was made.
    pub fn fetch(&self, url: &str) -> Result<(), GitError> {
        let asked = self.fetches_started(url);
        self.fetch_unless_done_since(url, asked)
    }

    /// How many fetches of `url`'s mirror have started so far.
    fn fetches_started(&self, url: &str) -> u64 {
        guard_map(&self.fetches).get(&self.mirror_dir(url)).map_or(0, |f| f.started)
    }

    /// Fetches unless a fetch numbered above `asked` has succeeded.
    fn fetch_unless_done_since(&self, url: &str, asked: u64) -> Result<(), GitError> {
        let dir = self.mirror_dir(url);
        let lock = self.lock(&dir);
        let _guard = guard(&lock);
        if guard_map(&self.fetches).get(&dir).is_some_and(|f| f.last_done > asked) {
            return Ok(());
        }
        self.fetch_locked(url)
    }

    /// [`GitCache::fetch`] for a caller that holds the mirror's lock: always fetches.
    pub(crate) fn fetch_locked(&self, url: &str) -> Result<(), GitError> {
        let dir = self.mirror_dir(url);
        let number = {
            let mut fetches = guard_map(&self.fetches);
            let count = fetches.entry(dir.clone()).or_default();
            count.started += 1;
            count.started
        };
        let result = self.fetch_now(url, &dir);
        if result.is_ok() {
            let mut fetches = guard_map(&self.fetches);
            let count = fetches.entry(dir).or_default();
            count.last_done = count.last_done.max(number);
        }
        result
    }

    fn fetch_now(&self, url: &str, dir: &Path) -> Result<(), GitError> {
        if !dir.join("HEAD").exists() {
            return self.clone_mirror(url, dir);
        }
        self.run_remote(
            Operation::Fetch,
            url,
            Some(dir),
            &[
                "fetch",
                "--prune",
                "--quiet",
                "--no-write-fetch-head",
                "--",
                url,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
        )?;
        // The commit-graph is rewritten when the references differ from those it was last written for
        // (a fetch, or Ferry's own pushes, brought commits); otherwise it still covers every commit.
        let tips = self.ref_tips(dir);
        let current = tips.is_some() && guard_map(&self.graphed).get(dir) == tips.as_ref();
        if !current {
            self.write_commit_graph(dir, tips);
        }
        Ok(())
    }

    /// Every reference of the mirror and its target (`None` when they cannot be read), from the
    /// reference files alone.
    fn ref_tips(&self, dir: &Path) -> Option<Vec<(String, ObjectId)>> {
        let refs = refs_of(dir);
        let platform = refs.iter().ok()?;
        let mut tips = Vec::new();
        for r in platform.all().ok()? {
            let r = r.ok()?;
            if let gix::refs::Target::Object(id) = r.target {
                tips.push((r.name.as_bstr().to_string(), id));
            }
        }
        Some(tips)
    }

    fn clone_mirror(&self, url: &str, dir: &Path) -> Result<(), GitError> {
        std::fs::create_dir_all(&self.root).map_err(|e| {
            self.error(Operation::Clone, url, format!("cannot create the cache directory {}: {e}", self.root.display()))
        })?;
        // Build the mirror beside its final place and rename it, so a crash never leaves half a mirror.
        let tmp = self.root.join(format!(".tmp-{}-{}", mirror_name(url), std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let tmp_text = tmp.to_string_lossy().into_owned();
        let result = (|| {
            self.run_local(Operation::Clone, url, &self.root, &["init", "--quiet", "--bare", &tmp_text])?;
            // No remote is configured: the URL (which may carry a token) is passed on each fetch, never stored.
            self.run_local(Operation::Clone, url, &tmp, &["config", "gc.autoDetach", "false"])?;
            self.run_remote(
                Operation::Clone,
                url,
                Some(&tmp),
                &[
                    "fetch",
                    "--quiet",
                    "--no-write-fetch-head",
                    "--",
                    url,
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                ],
            )?;
            std::fs::rename(&tmp, dir).map_err(|e| {
                self.error(Operation::Clone, url, format!("cannot move the new mirror into {}: {e}", dir.display()))
            })
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result?;
        self.write_commit_graph(dir, self.ref_tips(dir));
        Ok(())
    }

    /// Keeps history walks fast (with changed-path Bloom filters, path-limited walks skip most tree
    /// reads, as `git log -- path` does); a failure only costs speed, so it is not an error.
    fn write_commit_graph(&self, dir: &Path, tips: Option<Vec<(String, ObjectId)>>) {
        let with_paths = self.git(Some(dir), &["commit-graph", "write", "--reachable", "--changed-paths"]).run();
        let written = with_paths.is_ok_and(|out| out.success)
            || self.git(Some(dir), &["commit-graph", "write", "--reachable"]).run().is_ok_and(|out| out.success);
        // Remembered only once written: a failed write is tried again after the next fetch.
        match tips {
            Some(tips) if written => {
                guard_map(&self.graphed).insert(dir.to_owned(), tips);
            }
            _ => {
                guard_map(&self.graphed).remove(dir);
            }
        }
    }

    /// The remote's current commit of `branch` (`git ls-remote`), without fetching; `None` when the
    /// branch does not exist. Used for polling (SPEC §3.1).
    pub fn ls_remote(&self, url: &str, branch: &str) -> Result<Option<CommitSha>, GitError> {
        let refname = format!("refs/heads/{branch}");
        let out = self.run_remote(Operation::Fetch, url, None, &["ls-remote", "--", url, &refname])?;
        out.lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(_, name)| *name == refname)
            .map(|(sha, _)| CommitSha::new(sha).map_err(|e| self.error(Operation::Fetch, url, e.to_string())))
            .transpose()
    }

    pub(crate) fn open(&self, url: &str, op: Operation) -> Result<Repo, GitError> {
        let dir = self.mirror_dir(url);
        if !dir.join("HEAD").exists() {
            return Err(self.error(op, url, "the repository is not in Ferry's cache yet; fetch it first"));
        }
        let kept = guard_map(&self.repos).get(&dir).map(|r| r.to_thread_local());
        let mut repo = match kept {
            Some(repo) => repo,
            None => {
                let repo = gix::open_opts(&dir, gix::open::Options::isolated()).map_err(|e| {
                    self.error(op, url, format!("cannot open the cached mirror {}: {e}", dir.display()))
                })?;
                guard_map(&self.repos).insert(dir, repo.clone().into_sync());
                repo
            }
        };
        repo.object_cache_size_if_unset(4 * 1024 * 1024);
        Ok(repo)
    }

    /// The commit `branch` points to in the mirror. Reads the reference files only (no object store
    /// is opened): a status gate asks this for every environment.
    pub fn head(&self, url: &str, branch: &str) -> Result<CommitSha, GitError> {
        let op = Operation::Read;
        let dir = self.mirror_dir(url);
        if !dir.join("HEAD").exists() {
            return Err(self.error(op, url, "the repository is not in Ferry's cache yet; fetch it first"));
        }
        let name = format!("refs/heads/{branch}");
        let found = refs_of(&dir).try_find(name.as_str()).map_err(|e| self.error(op, url, e.to_string()))?;
        match found.map(|r| r.target) {
            Some(gix::refs::Target::Object(id)) => Ok(to_sha(id)),
            // A symbolic branch (rare in a mirror): resolved through the repository.
            Some(gix::refs::Target::Symbolic(_)) => {
                let repo = self.open(url, op)?;
                self.branch_tip(&repo, url, branch, op).map(to_sha)
            }
            None => Err(self.no_branch(op, url, branch)),
        }
    }

    fn no_branch(&self, op: Operation, url: &str, branch: &str) -> GitError {
        self.error(
            op,
            url,
            format!("branch {branch:?} does not exist; check the application's targetRevision or create the branch"),
        )
    }

    pub(crate) fn branch_tip(&self, repo: &Repo, url: &str, branch: &str, op: Operation) -> Result<ObjectId, GitError> {
        self.try_branch_tip(repo, url, branch, op)?.ok_or_else(|| self.no_branch(op, url, branch))
    }

    /// The commit `branch` points to in the mirror; `None` when there is no such branch.
    pub(crate) fn try_branch_tip(
        &self,
        repo: &Repo,
        url: &str,
        branch: &str,
        op: Operation,
    ) -> Result<Option<ObjectId>, GitError> {
        let name = format!("refs/heads/{branch}");
        let reference = repo.try_find_reference(name.as_str()).map_err(|e| self.error(op, url, e.to_string()))?;
        let Some(mut reference) = reference else {
            return Ok(None);
        };
        reference.peel_to_id().map(|id| Some(id.detach())).map_err(|e| self.error(op, url, e.to_string()))
    }

    pub(crate) fn commit_id(
        &self,
        repo: &Repo,
        url: &str,
        sha: &CommitSha,
        op: Operation,
    ) -> Result<ObjectId, GitError> {
        let id = ObjectId::from_hex(sha.as_str().as_bytes()).map_err(|e| self.error(op, url, e.to_string()))?;
        if !repo.has_object(id) {
            return Err(self.error(
                op,
                url,
                format!("commit {} is not in the repository; fetch it first", sha.short()),
            ));
        }
        Ok(id)
    }

    pub(crate) fn tree_of(
        &self,
        repo: &Repo,
        url: &str,
        commit: ObjectId,
        op: Operation,
    ) -> Result<ObjectId, GitError> {
        let commit = repo.find_commit(commit).map_err(|e| self.error(op, url, e.to_string()))?;
        commit.tree_id().map(|id| id.detach()).map_err(|e| self.error(op, url, e.to_string()))
    }

    /// The entry at `path` (relative, `/`-separated) of `tree`.
    pub(crate) fn entry_at(
        &self,
        repo: &Repo,
        url: &str,
        tree: ObjectId,
        path: &str,
        op: Operation,
    ) -> Result<Option<(EntryKind, ObjectId)>, GitError> {
        let path = clean_path(path);
        if path.is_empty() {
            return Ok(Some((EntryKind::Tree, tree)));
        }
        let tree = repo.find_tree(tree).map_err(|e| self.error(op, url, e.to_string()))?;
        let entry = tree.lookup_entry_by_path(&path).map_err(|e| self.error(op, url, e.to_string()))?;
        Ok(entry.map(|e| (e.mode().kind(), e.object_id())))
    }

    pub(crate) fn blob(&self, repo: &Repo, url: &str, id: ObjectId, op: Operation) -> Result<Vec<u8>, GitError> {
        let mut blob = repo.find_blob(id).map_err(|e| self.error(op, url, e.to_string()))?;
        Ok(blob.take_data())
    }

    /// The content of the file at `path` in `commit`; `None` when there is no file there.
    pub fn read_file(&self, url: &str, commit: &CommitSha, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let repo = self.open(url, Operation::Read)?;
        let id = self.commit_id(&repo, url, commit, Operation::Read)?;
        let tree = self.tree_of(&repo, url, id, Operation::Read)?;
        match self.entry_at(&repo, url, tree, path, Operation::Read)? {
            Some((EntryKind::Blob | EntryKind::BlobExecutable, blob)) => {
                self.blob(&repo, url, blob, Operation::Read).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Every file below `dir` in `commit`, recursively, as paths relative to `dir`, sorted. Empty when
    /// `dir` does not exist. Symlinks are included; submodules are not.
    pub fn list_files(&self, url: &str, commit: &CommitSha, dir: &str) -> Result<Vec<String>, GitError> {
        let repo = self.open(url, Operation::Read)?;
        let id = self.commit_id(&repo, url, commit, Operation::Read)?;
        let tree = self.tree_of(&repo, url, id, Operation::Read)?;
        let files = self.files_below(&repo, url, tree, dir, Operation::Read)?;
        Ok(files.into_iter().map(|(path, _, _)| path).collect())
    }

    /// Files (path relative to `dir`, kind, blob id) below `dir` of `tree`, sorted by path.
    pub(crate) fn files_below(
        &self,
        repo: &Repo,
        url: &str,
        tree: ObjectId,
        dir: &str,
        op: Operation,
    ) -> Result<Vec<(String, EntryKind, ObjectId)>, GitError> {
        let mut out = Vec::new();
        if let Some((EntryKind::Tree, sub)) = self.entry_at(repo, url, tree, dir, op)? {
            self.walk(repo, url, sub, String::new(), op, &mut out)?;
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn walk(
        &self,
        repo: &Repo,
        url: &str,
        tree: ObjectId,
        prefix: String,
        op: Operation,
        out: &mut Vec<(String, EntryKind, ObjectId)>,
    ) -> Result<(), GitError> {
        let tree = repo.find_tree(tree).map_err(|e| self.error(op, url, e.to_string()))?;
        let mut subtrees = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|e| self.error(op, url, e.to_string()))?;
            let name = format!("{prefix}{}", entry.filename());
            match entry.mode().kind() {
                EntryKind::Tree => subtrees.push((name, entry.object_id())),
                EntryKind::Commit => {}
                kind => out.push((name, kind, entry.object_id())),
            }
        }
        for (name, id) in subtrees {
            self.walk(repo, url, id, format!("{name}/"), op, out)?;
        }
        Ok(())
    }

    /// Sha, message, author and date of a commit.
    pub fn commit_info(&self, url: &str, sha: &CommitSha) -> Result<CommitInfo, GitError> {
        let repo = self.open(url, Operation::Read)?;
        let id = self.commit_id(&repo, url, sha, Operation::Read)?;
        self.info(&repo, url, id)
    }

    pub(crate) fn info(&self, repo: &Repo, url: &str, id: ObjectId) -> Result<CommitInfo, GitError> {
        let op = Operation::Read;
        let commit = repo.find_commit(id).map_err(|e| self.error(op, url, e.to_string()))?;
        // Decoded once: message, author and parents come from the same parse.
        let decoded = commit.decode().map_err(|e| self.error(op, url, e.to_string()))?;
        let author = decoded.author().map_err(|e| self.error(op, url, e.to_string()))?;
        let seconds = author.time().map_err(|e| self.error(op, url, e.to_string()))?.seconds;
        let date = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let parents = decoded.parents().map(to_sha).collect();
        let sha = to_sha(id);
        Ok(CommitInfo {
            short_sha: sha.short().to_owned(),
            sha,
            message: decoded.message.to_string(),
            author_name: author.name.to_string(),
            author_email: author.email.to_string(),
            date,
            parents,
        })
    }

    /// Commit ids reachable from `tip`, newest first (by commit time), at most `limit`.
    pub(crate) fn history(
        &self,
        repo: &Repo,
        url: &str,
        tip: ObjectId,
        limit: usize,
    ) -> Result<Vec<ObjectId>, GitError> {
        use gix::revision::walk::Sorting;
        let op = Operation::Read;
        let walk = repo
            .rev_walk([tip])
            .sorting(Sorting::ByCommitTime(Default::default()))
            .all()
            .map_err(|e| self.error(op, url, e.to_string()))?;
        let mut ids = Vec::new();
        for info in walk.take(limit) {
            ids.push(info.map_err(|e| self.error(op, url, e.to_string()))?.id);
        }
        Ok(ids)
    }

    /// The newest commit on `branch` that changed anything at or below `path` (`""` = any change), like
    /// `git log -1 -- path`: a merge counts only when it differs from every parent there.
    /// The answer is remembered per branch tip: asked again while the branch has not moved, it reads
    /// only the reference.
    pub fn last_commit_touching(&self, url: &str, branch: &str, path: &str) -> Result<Option<CommitInfo>, GitError> {
        let key = self.touching_key(url, branch, path);
        if let Some(found) = self.head(url, branch).ok().and_then(|tip| self.remembered_touching(&key, &tip)) {
            return Ok(found);
        }
        let (tip, found) = self.walk_to_last_touching(url, branch, path)?;
        self.remember_touching(key, to_sha(tip), &found);
        Ok(found)
    }

    /// The walk of [`GitCache::last_commit_touching`], with the branch tip it started from.
    fn walk_to_last_touching(
        &self,
        url: &str,
        branch: &str,
        path: &str,
    ) -> Result<(ObjectId, Option<CommitInfo>), GitError> {
        let op = Operation::Read;
        let repo = self.open(url, op)?;
        let tip = self.branch_tip(&repo, url, branch, op)?;
        use gix::revision::walk::Sorting;
        let walk = repo
            .rev_walk([tip])
            .sorting(Sorting::ByCommitTime(Default::default()))
            .all()
            .map_err(|e| self.error(op, url, e.to_string()))?;
        for info in walk {
            let info = info.map_err(|e| self.error(op, url, e.to_string()))?;
            let here = self.path_id(&repo, url, info.id, path)?;
            let parents: Vec<ObjectId> = info.parent_ids.iter().copied().collect();
            let touched = if parents.is_empty() {
                here.is_some()
            } else {
                let mut differs_from_all = true;
                for parent in parents {
                    if self.path_id(&repo, url, parent, path)? == here {
                        differs_from_all = false;
                        break;
                    }
                }
                differs_from_all
            };
            if touched {
                return Ok((tip, Some(self.info(&repo, url, info.id)?)));
            }
        }
        Ok((tip, None))
    }

    fn path_id(&self, repo: &Repo, url: &str, commit: ObjectId, path: &str) -> Result<Option<ObjectId>, GitError> {
        let tree = self.tree_of(repo, url, commit, Operation::Read)?;
        Ok(self.entry_at(repo, url, tree, path, Operation::Read)?.map(|(_, id)| id))
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors. Both must be in the mirror.
    pub fn is_ancestor(&self, url: &str, ancestor: &CommitSha, descendant: &CommitSha) -> Result<bool, GitError> {
        let op = Operation::Read;
        let repo = self.open(url, op)?;
        let a = self.commit_id(&repo, url, ancestor, op)?;
        let d = self.commit_id(&repo, url, descendant, op)?;
        self.ancestor_of(&repo, url, a, d, op)
    }

    /// Whether commit `a` is commit `d` or one of its ancestors.
    pub(crate) fn ancestor_of(
        &self,
        repo: &Repo,
        url: &str,
        a: ObjectId,
        d: ObjectId,
        op: Operation,
    ) -> Result<bool, GitError> {
        if a == d {
            return Ok(true);
        }
        let base = repo.merge_base(a, d).map_err(|e| self.error(op, url, e.to_string()))?;
        Ok(base.is_some_and(|b| b.detach() == a))
    }

    /// The newest commit among the last [`TRAILER_SCAN_LIMIT`] of `branch` whose message carries all of
    /// `trailers` (keys compared case-insensitively, values exactly). This is how a promotion re-issued
    /// after a crash is recognised as already done (SPEC §3.10).
    pub fn find_commit_with_trailers(
        &self,
        url: &str,
        branch: &str,
        trailers: &[(&str, &str)],
    ) -> Result<Option<CommitSha>, GitError> {
        let repo = self.open(url, Operation::Read)?;
        let tip = self.branch_tip(&repo, url, branch, Operation::Read)?;
        self.find_trailers_from(&repo, url, tip, trailers)
    }

    pub(crate) fn find_trailers_from(
        &self,
        repo: &Repo,
        url: &str,
        tip: ObjectId,
        trailers: &[(&str, &str)],
    ) -> Result<Option<CommitSha>, GitError> {
        if trailers.is_empty() {
            return Ok(None);
        }
        for id in self.history(repo, url, tip, TRAILER_SCAN_LIMIT)? {
            if self.has_trailers(repo, url, id, trailers)? {
                return Ok(Some(to_sha(id)));
            }
        }
        Ok(None)
    }

    /// Whether the message of commit `id` carries all of `trailers` (keys compared case-insensitively,
    /// values exactly). An empty list is never carried.
    pub(crate) fn has_trailers(
        &self,
        repo: &Repo,
        url: &str,
        id: ObjectId,
        trailers: &[(&str, &str)],
    ) -> Result<bool, GitError> {
        if trailers.is_empty() {
            return Ok(false);
        }
        let commit = repo.find_commit(id).map_err(|e| self.error(Operation::Read, url, e.to_string()))?;
        let message = commit.message_raw_sloppy().to_string();
        let found = parse_trailers(&message);
        Ok(trailers.iter().all(|(k, v)| found.iter().any(|(fk, fv)| fk.eq_ignore_ascii_case(k) && fv == v)))
    }

    /// Writes the files of `commit` into `dest` (created when missing; existing files are overwritten,
    /// others left alone), e.g. to run an application's sync command in a checkout of the promoted
    /// revision. No `.git` directory is created.
    pub fn checkout(&self, url: &str, commit: &CommitSha, dest: &Path) -> Result<(), GitError> {
        let op = Operation::Checkout;
        let repo = self.open(url, op)?;
        self.commit_id(&repo, url, commit, op)?;
        std::fs::create_dir_all(dest)
            .map_err(|e| self.error(op, url, format!("cannot create {}: {e}", dest.display())))?;
        let dir = self.mirror_dir(url);
        let index = dest.join(format!(".ferry-index-{}", std::process::id()));
        let work_tree = format!("--work-tree={}", dest.display());
        let run = |args: &[&str]| -> Result<(), GitError> {
            let out =
                self.git(Some(&dir), args).env("GIT_INDEX_FILE", &index).run().map_err(|m| self.error(op, url, m))?;
            if out.success { Ok(()) } else { Err(self.error(op, url, out.stderr)) }
        };
        let result = run(&[&work_tree, "read-tree", commit.as_str()])
            .and_then(|()| run(&[&work_tree, "checkout-index", "--all", "--force"]));
        let _ = std::fs::remove_file(&index);
        result
    }
}

/// The reference files of the mirror in `dir` (loose and packed), read without opening the object store.
fn refs_of(dir: &Path) -> gix::refs::file::Store {
    gix::refs::file::Store::at(dir.to_owned(), gix::hash::Kind::Sha1)
}

pub(crate) fn guard_map<T>(map: &Mutex<T>) -> MutexGuard<'_, T> {
    map.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn guard(lock: &Mutex<()>) -> MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn to_sha(id: ObjectId) -> CommitSha {
    match CommitSha::new(id.to_hex().to_string()) {
        Ok(sha) => sha,
        Err(_) => unreachable!("an object id's hex form has 40 or 64 hex digits"),
    }
}

/// `a/b/` → `a/b`; `.`, `/` and `` → ``.
pub(crate) fn clean_path(path: &str) -> String {
    path.split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>().join("/")
}

/// Joins relative paths, ignoring empty parts.
pub(crate) fn join_path(dir: &str, file: &str) -> String {
    clean_path(&format!("{dir}/{file}"))
}

/// `Key: value` lines of a message's last paragraph (git's trailer block).
pub fn parse_trailers(message: &str) -> Vec<(String, String)> {
    let trimmed = message.trim_end();
    let last = trimmed.rsplit("\n\n").next().unwrap_or("");
    if last == trimmed && !trimmed.contains('\n') {
        // A one-line message has no trailer block.
        return Vec::new();
    }
    last.lines()
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            let key_ok = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            key_ok.then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn has_userinfo(url: &str) -> bool {
    url.split_once("://").is_some_and(|(_, rest)| rest.split('/').next().is_some_and(|auth| auth.contains('@')))
}

fn mirror_name(url: &str) -> String {
    let clean = crate::redact::redact(url).replace("***@", "");
    let without_scheme = clean.split_once("://").map_or(clean.as_str(), |(_, r)| r);
    let mut name: String = without_scheme
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    let name_trimmed = name.trim_matches(['_', '.']).to_owned();
    name = name_trimmed.chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{name}-{:012x}", fnv1a(clean.as_bytes()) & 0xffff_ffff_ffff)
}

/// FNV-1a: a hash that is stable across Rust versions (mirror names must not change).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// git's stderr plus a hint for the common remote failures.
fn remote_hint(stderr: &str) -> String {
    let lower = stderr.to_ascii_lowercase();
    let hint = if lower.contains("authentication failed")
        || lower.contains("could not read username")
        || lower.contains("permission denied")
        || lower.contains("403")
    {
        "; check the credentials (token in the URL or in the configured environment variable) and their access"
    } else if lower.contains("not found") || lower.contains("does not appear to be a git repository") {
        "; check the repository URL"
    } else if lower.contains("could not resolve host") || lower.contains("connection") || lower.contains("timed out") {
        "; check that the git server is reachable from Ferry"
    } else {
        ""
    };
    format!("{stderr}{hint}")
}

/// Records one network operation: its duration in `ferry_git_operation_duration_seconds` and a debug
/// line naming the repository without its credentials.
pub(crate) fn observe_remote(op: Operation, url: &str, started: std::time::Instant, ok: bool) {
    let seconds = started.elapsed().as_secs_f64();
    let operation = op.to_string();
    let result = if ok { "ok" } else { "error" };
    metrics::histogram!("ferry_git_operation_duration_seconds", "operation" => operation.clone(), "result" => result)
        .record(seconds);
    tracing::debug!(
        target: "ferry::git",
        operation = %operation,
        repo = %crate::redact(url),
        result,
        duration_ms = (seconds * 1000.0).round(),
        "git {operation}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_names_are_sanitized_and_ignore_credentials() {
        let a = mirror_name("https://bot:tok@git.example.com/team/app.git");
        let b = mirror_name("https://other:tok2@git.example.com/team/app.git");
        assert_eq!(a, b);
        assert!(a.starts_with("git.example.com_team_app-"), "{a}");
        assert!(!a.contains("tok"));
        assert_ne!(mirror_name("file:///srv/a.git"), mirror_name("file:///srv/b.git"));
        assert!(mirror_name(&format!("file:///{}", "x".repeat(300))).len() < 80);
    }

    #[test]
    fn trailers_are_parsed_from_the_last_paragraph() {
        let msg = "promote shop 1.4.2: qa -> staging\n\nFerry-Release: abc\nFerry-Product: shop\nFerry-Environment: staging\n";
        assert_eq!(
            parse_trailers(msg),
            vec![
                ("Ferry-Release".into(), "abc".into()),
                ("Ferry-Product".into(), "shop".into()),
                ("Ferry-Environment".into(), "staging".into())
            ]
        );
        assert!(parse_trailers("Ferry-Release: abc").is_empty());
        assert!(parse_trailers("subject\n\nbody text only").is_empty());
    }

    #[test]
    fn credentials_from_a_file() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let file = dir.path().join("token");
        std::fs::write(&file, "abc123\n").expect("write");
        assert_eq!(Credentials::from_file(&file).expect("read").token, "abc123");
        std::fs::write(&file, " \n").expect("write");
        assert!(Credentials::from_file(&file).expect_err("empty").message.contains("is empty"));
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (input, want) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("x-access-token:t", "eC1hY2Nlc3MtdG9rZW46dA==")]
        {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn https_urls_without_userinfo_get_the_token_through_the_environment() {
        let cache = GitCache::new("/tmp/x")
            .with_credentials(Some(Credentials { username: "x-access-token".into(), token: "secret-token".into() }));
        let cfg = cache.auth_config("https://git.example/a.git");
        assert_eq!(cfg.len(), 1);
        assert!(cfg[0].1.starts_with("Authorization: Basic "));
        assert!(cache.auth_config("https://u:p@git.example/a.git").is_empty());
        assert!(cache.auth_config("file:///a.git").is_empty());
        let err = cache.error(Operation::Fetch, "https://git.example/a.git", "echo secret-token failed");
        assert_eq!(err.message, "echo *** failed");
        assert!(!format!("{cache:?}").contains("secret-token"));
    }

    fn sh(dir: &Path, script: &str) {
        let ok = std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).status().expect("sh");
        assert!(ok.success(), "{script}");
    }

    /// A bare repository with one commit, a cache whose git logs its subcommands, and the log reader.
    fn logged_remote(dir: &Path) -> (String, GitCache, impl Fn() -> Vec<String>) {
        let sh = |script: &str| sh(dir, script);
        sh("git init -q --bare -b main remote.git && git init -q -b main work && cd work && \
            git -c user.name=T -c user.email=t@example.com commit -q --allow-empty -m one && \
            git push -q ../remote.git main");
        let log = dir.join("git.log");
        let wrapper = dir.join("logging-git");
        std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$1\" >> '{}'\nexec git \"$@\"\n", log.display()))
            .expect("wrapper");
        sh("chmod +x logging-git");
        let cache = GitCache::new(dir.join("mirrors")).with_git_program(&wrapper);
        let read = move || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
            text.lines().map(str::to_owned).collect()
        };
        (format!("file://{}", dir.join("remote.git").display()), cache, read)
    }

    #[test]
    fn a_fetch_that_started_after_a_call_serves_it_and_one_that_started_before_does_not() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let (url, cache, commands) = logged_remote(dir.path());
        cache.fetch(&url).expect("clone");
        let _ = commands();
        // Calls made one after another each fetch.
        cache.fetch(&url).expect("fetch");
        cache.fetch(&url).expect("fetch");
        assert_eq!(commands(), ["fetch", "fetch"]);
        // A call made while another caller's fetch had not started yet is served by that fetch.
        let asked = cache.fetches_started(&url);
        cache.fetch_locked(&url).expect("the other caller's fetch");
        cache.fetch_unless_done_since(&url, asked).expect("served");
        assert_eq!(commands(), ["fetch"]);
        // A call made once a fetch had started is not served by that fetch (it may predate the call),
        // even when it finished before the call got the lock.
        let asked = cache.fetches_started(&url);
        cache.fetch_unless_done_since(&url, asked).expect("fetch");
        assert_eq!(commands(), ["fetch"]);
        // A failed fetch serves nobody.
        let asked = cache.fetches_started(&url);
        std::fs::rename(dir.path().join("remote.git"), dir.path().join("gone.git")).expect("rename");
        assert!(cache.fetch_locked(&url).is_err());
        std::fs::rename(dir.path().join("gone.git"), dir.path().join("remote.git")).expect("rename");
        cache.fetch_unless_done_since(&url, asked).expect("fetch");
        assert_eq!(commands(), ["fetch", "fetch"]);
    }

    #[test]
    fn the_commit_graph_is_rewritten_only_when_a_fetch_brought_something() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let (url, cache, commands) = logged_remote(dir.path());
        cache.fetch(&url).expect("clone");
        assert!(commands().contains(&"commit-graph".to_owned()));
        cache.fetch(&url).expect("fetch");
        assert_eq!(commands(), ["fetch"]);
        let push = |message: &str| {
            let script = format!(
                "git -c user.name=T -c user.email=t@example.com commit -q --allow-empty -m {message} && \
                 git push -q ../remote.git main"
            );
            sh(&dir.path().join("work"), &script);
        };
        push("two");
        cache.fetch(&url).expect("fetch");
        assert_eq!(commands(), ["fetch", "commit-graph"]);
        let head = cache.head(&url, "main").expect("head");
        let graph = std::fs::read(cache.mirror_dir(&url).join("objects/info/commit-graph")).expect("graph");
        let id = ObjectId::from_hex(head.as_str().as_bytes()).expect("id");
        assert!(graph.windows(20).any(|w| w == id.as_bytes()), "the new commit is in the commit-graph");
        // References moved by something other than a fetch (as after Ferry's own push): the next fetch
        // brings nothing, yet the graph is rewritten to cover the new commit.
        push("three");
        sh(&cache.mirror_dir(&url), "git fetch -q ../../remote.git '+refs/heads/*:refs/heads/*'");
        cache.fetch(&url).expect("fetch");
        assert_eq!(commands(), ["fetch", "commit-graph"]);
        cache.fetch(&url).expect("fetch");
        assert_eq!(commands(), ["fetch"]);
    }
}
