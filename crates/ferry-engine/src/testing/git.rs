//! In-memory repositories behind the git port.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry_git::{
    CommitInfo, FilePlan, GitError, Operation, PromotionOutcome, PromotionRequest, TRAILER_ENVIRONMENT,
    TRAILER_RELEASE, commit_message, parse_trailers, promote_yaml,
};
use ferry_model::names::CommitSha;

use crate::ports::GitPort;

/// Which calls a scripted failure hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeGitOp {
    /// `fetch`.
    Fetch,
    /// `promote`, `push_branch` and `merge_branch` (the push).
    Push,
}

/// Repositories kept in memory, each a set of commits (full file snapshots) and branches, addressed by
/// URL. Promotions follow the real rules tests rely on: one commit on the target branch's tip, values
/// copied with [`promote_yaml`] (or whole files), `Unchanged` when nothing differs, `AlreadyDone`
/// when the branch holds a commit with the same `Ferry-Release` and `Ferry-Environment` trailers, and
/// the same errors for missing files. There is no network: "fetch" only counts calls (and fails when
/// scripted to).
#[derive(Debug, Default)]
pub struct FakeGit {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    repos: HashMap<String, Repo>,
    commits: u64,
    failures: HashMap<(String, FakeGitOp), String>,
    fetches: HashMap<String, usize>,
}

#[derive(Debug, Default)]
struct Repo {
    commits: HashMap<CommitSha, Commit>,
    branches: BTreeMap<String, CommitSha>,
}

#[derive(Debug, Clone)]
struct Commit {
    info: CommitInfo,
    files: BTreeMap<String, Vec<u8>>,
}

type Files = BTreeMap<String, Vec<u8>>;

fn err(op: Operation, url: &str, message: impl AsRef<str>) -> GitError {
    GitError::new(op, url, message)
}

impl FakeGit {
    /// No repositories yet.
    pub fn new() -> Arc<FakeGit> {
        Arc::new(FakeGit::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits `files` (added or replaced; others kept) on `branch` of `url` by Alice Dev, creating the
    /// repository or branch when needed. Returns the new commit.
    pub fn commit(
        &self,
        url: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<CommitSha, GitError> {
        let mut state = self.lock();
        let tip = state.repos.get(url).and_then(|r| r.branches.get(branch).cloned());
        let mut tree = match &tip {
            Some(tip) => state.repos[url].commits[tip].files.clone(),
            None => Files::new(),
        };
        for (path, text) in files {
            tree.insert((*path).to_owned(), text.as_bytes().to_vec());
        }
        let parents: Vec<CommitSha> = tip.into_iter().collect();
        let author = ("Alice Dev".to_owned(), "alice@example.com".to_owned());
        let sha = state.write(url, tree, parents, message, &author)?;
        state.repos.entry(url.to_owned()).or_default().branches.insert(branch.to_owned(), sha.clone());
        Ok(sha)
    }

    /// The file at the tip of `branch`, as text.
    pub fn file(&self, url: &str, branch: &str, path: &str) -> Option<String> {
        let state = self.lock();
        let repo = state.repos.get(url)?;
        let commit = repo.commits.get(repo.branches.get(branch)?)?;
        commit.files.get(path).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The first-parent history of `branch`, newest first.
    pub fn log(&self, url: &str, branch: &str) -> Vec<CommitInfo> {
        let state = self.lock();
        let Some(repo) = state.repos.get(url) else { return Vec::new() };
        let mut out = Vec::new();
        let mut next = repo.branches.get(branch).cloned();
        while let Some(sha) = next {
            let Some(c) = repo.commits.get(&sha) else { break };
            out.push(c.info.clone());
            next = c.info.parents.first().cloned();
        }
        out
    }

    /// The branches of `url`.
    pub fn branches(&self, url: &str) -> Vec<String> {
        self.lock().repos.get(url).map(|r| r.branches.keys().cloned().collect()).unwrap_or_default()
    }

    /// Makes every later `op` on `url` fail with `message` (until [`heal`](FakeGit::heal)).
    pub fn fail(&self, url: &str, op: FakeGitOp, message: &str) {
        self.lock().failures.insert((url.to_owned(), op), message.to_owned());
    }

    /// Ends the scripted failures of `url`.
    pub fn heal(&self, url: &str) {
        self.lock().failures.retain(|(u, _), _| u != url);
    }

    /// How many times `url` was fetched.
    pub fn fetches(&self, url: &str) -> usize {
        self.lock().fetches.get(url).copied().unwrap_or(0)
    }
}

impl State {
    fn repo(&self, url: &str, op: Operation) -> Result<&Repo, GitError> {
        self.repos.get(url).ok_or_else(|| err(op, url, "repository not found"))
    }

    fn failure(&self, url: &str, op: FakeGitOp) -> Result<(), GitError> {
        match self.failures.get(&(url.to_owned(), op)) {
            Some(message) => {
                Err(err(if op == FakeGitOp::Fetch { Operation::Fetch } else { Operation::Push }, url, message))
            }
            None => Ok(()),
        }
    }

    fn commit(&self, url: &str, sha: &CommitSha, op: Operation) -> Result<&Commit, GitError> {
        self.repo(url, op)?
            .commits
            .get(sha)
            .ok_or_else(|| err(op, url, format!("commit {} is not in the repository", sha.short())))
    }

    fn tip(&self, url: &str, branch: &str, op: Operation) -> Result<CommitSha, GitError> {
        self.repo(url, op)?
            .branches
            .get(branch)
            .cloned()
            .ok_or_else(|| err(op, url, format!("branch {branch:?} does not exist")))
    }

    /// Writes a commit object (not on any branch yet). Dates count up one second per commit.
    fn write(
        &mut self,
        url: &str,
        files: Files,
        parents: Vec<CommitSha>,
        message: &str,
        author: &(String, String),
    ) -> Result<CommitSha, GitError> {
        self.commits += 1;
        let n = self.commits;
        let sha = CommitSha::new(format!("{n:040x}")).map_err(|e| err(Operation::Commit, url, e.to_string()))?;
        let date = jiff::Timestamp::from_second(1_767_225_600 + i64::try_from(n).unwrap_or(0))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let info = CommitInfo {
            short_sha: sha.short().to_owned(),
            sha: sha.clone(),
            message: format!("{}\n", message.trim_end()),
            author_name: author.0.clone(),
            author_email: author.1.clone(),
            date,
            parents,
        };
        self.repos.entry(url.to_owned()).or_default().commits.insert(sha.clone(), Commit { info, files });
        Ok(sha)
    }

    fn ancestors(&self, url: &str, from: &CommitSha) -> HashSet<CommitSha> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([from.clone()]);
        let Some(repo) = self.repos.get(url) else { return seen };
        while let Some(sha) = queue.pop_front() {
            if let Some(c) = repo.commits.get(&sha)
                && seen.insert(sha)
            {
                queue.extend(c.info.parents.iter().cloned());
            }
        }
        seen
    }

    /// The commit on `branch`'s first-parent history (newest first) carrying every trailer.
    fn with_trailers(&self, url: &str, tip: &CommitSha, wanted: &[(String, String)]) -> Option<CommitSha> {
        let repo = self.repos.get(url)?;
        let mut next = Some(tip.clone());
        while let Some(sha) = next {
            let c = repo.commits.get(&sha)?;
            let trailers = parse_trailers(&c.info.message);
            if wanted.iter().all(|w| trailers.iter().any(|t| t.0 == w.0 && t.1 == w.1)) {
                return Some(sha);
            }
            next = c.info.parents.first().cloned();
        }
        None
    }

    /// The promotion's new files on top of `base`.
    fn promoted_tree(&self, req: &PromotionRequest, base: &Files) -> Result<Files, GitError> {
        let url = req.repo_url.as_str();
        let op = Operation::Commit;
        let mut tree = base.clone();
        for src in &req.sources {
            let source = &self.commit(&src.repo_url, &src.commit, op)?.files;
            let dir = src.source_path.trim_matches('/');
            let target_dir = src.target_path.trim_matches('/');
            match &src.plan {
                FilePlan::AllFiles => {
                    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
                    let files: Vec<_> = source.iter().filter(|(p, _)| p.starts_with(&prefix)).collect();
                    if files.is_empty() {
                        return Err(err(op, &src.repo_url, format!("the source directory {dir:?} has no files")));
                    }
                    for (path, data) in files {
                        tree.insert(join(target_dir, &path[prefix.len()..]), data.clone());
                    }
                }
                FilePlan::Paths(files) => {
                    for (file, paths) in files {
                        let (src_file, target_file) = (join(dir, file), join(target_dir, file));
                        let source_text = source.get(&src_file).map(|b| String::from_utf8_lossy(b).into_owned());
                        let source_text = source_text.ok_or_else(|| {
                            err(op, &src.repo_url, format!("promoted file {src_file} does not exist in the source"))
                        })?;
                        let target_text = tree.get(&target_file).map(|b| String::from_utf8_lossy(b).into_owned());
                        let target_text = target_text.ok_or_else(|| {
                            err(
                                op,
                                url,
                                format!("promoted file {target_file} does not exist on branch {:?}", req.branch),
                            )
                        })?;
                        let edit = promote_yaml(&source_text, &target_text, paths)
                            .map_err(|e| err(op, url, format!("{target_file} (from {src_file}): {e}")))?;
                        tree.insert(target_file, edit.text.into_bytes());
                    }
                }
            }
        }
        Ok(tree)
    }

    fn promote(&mut self, req: &PromotionRequest, push_to: &str) -> Result<PromotionOutcome, GitError> {
        let url = req.repo_url.as_str();
        self.failure(url, FakeGitOp::Push)?;
        let tip = self.tip(url, &req.branch, Operation::Commit)?;
        let idempotency: Vec<(String, String)> =
            req.trailers.iter().filter(|(k, _)| k == TRAILER_RELEASE || k == TRAILER_ENVIRONMENT).cloned().collect();
        let pushed_tip = self.repo(url, Operation::Commit)?.branches.get(push_to).cloned();
        if idempotency.iter().any(|(k, _)| k == TRAILER_RELEASE)
            && let Some(done) = pushed_tip.as_ref().and_then(|t| self.with_trailers(url, t, &idempotency))
        {
            return Ok(PromotionOutcome::AlreadyDone { sha: done });
        }
        let base = self.commit(url, &tip, Operation::Commit)?.files.clone();
        let tree = self.promoted_tree(req, &base)?;
        let files: Vec<String> =
            tree.iter().filter(|(p, data)| base.get(*p) != Some(*data)).map(|(p, _)| p.clone()).collect();
        if files.is_empty() {
            return Ok(PromotionOutcome::Unchanged);
        }
        let message = commit_message(&req.message, &req.trailers);
        let sha = self.write(url, tree, vec![tip], &message, &req.author)?;
        self.repos.entry(url.to_owned()).or_default().branches.insert(push_to.to_owned(), sha.clone());
        Ok(PromotionOutcome::Committed { sha, files })
    }
}

fn join(dir: &str, file: &str) -> String {
    let file = file.trim_start_matches('/');
    if dir.is_empty() { file.to_owned() } else { format!("{dir}/{file}") }
}

impl GitPort for FakeGit {
    fn fetch(&self, url: &str) -> Result<(), GitError> {
        let mut state = self.lock();
        *state.fetches.entry(url.to_owned()).or_default() += 1;
        state.failure(url, FakeGitOp::Fetch)?;
        state.repo(url, Operation::Fetch).map(|_| ())
    }

    fn head(&self, url: &str, branch: &str) -> Result<CommitSha, GitError> {
        self.lock().tip(url, branch, Operation::Read)
    }

    fn last_commit_touching(&self, url: &str, branch: &str, path: &str) -> Result<Option<CommitInfo>, GitError> {
        let state = self.lock();
        let dir = path.trim_matches('/');
        let under = |files: &Files| -> Files {
            files
                .iter()
                .filter(|(p, _)| dir.is_empty() || p.starts_with(&format!("{dir}/")))
                .map(|(p, d)| (p.clone(), d.clone()))
                .collect()
        };
        let mut next = Some(state.tip(url, branch, Operation::Read)?);
        while let Some(sha) = next {
            let c = state.commit(url, &sha, Operation::Read)?;
            let parent = c.info.parents.first();
            let before = match parent {
                Some(p) => under(&state.commit(url, p, Operation::Read)?.files),
                None => Files::new(),
            };
            if under(&c.files) != before {
                return Ok(Some(c.info.clone()));
            }
            next = parent.cloned();
        }
        Ok(None)
    }

    fn read_file(&self, url: &str, commit: &CommitSha, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        Ok(self.lock().commit(url, commit, Operation::Read)?.files.get(path.trim_start_matches('/')).cloned())
    }

    fn commit_info(&self, url: &str, sha: &CommitSha) -> Result<CommitInfo, GitError> {
        Ok(self.lock().commit(url, sha, Operation::Read)?.info.clone())
    }

    fn is_ancestor(&self, url: &str, ancestor: &CommitSha, descendant: &CommitSha) -> Result<bool, GitError> {
        let state = self.lock();
        state.commit(url, descendant, Operation::Read)?;
        Ok(state.ancestors(url, descendant).contains(ancestor))
    }

    fn checkout(&self, url: &str, commit: &CommitSha, dest: &Path) -> Result<(), GitError> {
        let files = self.lock().commit(url, commit, Operation::Checkout)?.files.clone();
        for (path, data) in files {
            let file = dest.join(&path);
            let written =
                file.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&file, data));
            written.map_err(|e| err(Operation::Checkout, url, format!("{}: {e}", file.display())))?;
        }
        std::fs::create_dir_all(dest).map_err(|e| err(Operation::Checkout, url, format!("{}: {e}", dest.display())))
    }

    fn promote(&self, request: &PromotionRequest) -> Result<PromotionOutcome, GitError> {
        self.lock().promote(request, &request.branch)
    }

    fn push_branch(&self, request: &PromotionRequest, branch: &str) -> Result<PromotionOutcome, GitError> {
        self.lock().promote(request, branch)
    }

    fn merge_branch(
        &self,
        url: &str,
        source: &str,
        target: &str,
        message: &str,
        author: &(String, String),
    ) -> Result<CommitSha, GitError> {
        let mut state = self.lock();
        state.failure(url, FakeGitOp::Push)?;
        let op = Operation::Commit;
        let head = state.tip(url, source, op)?;
        let tip = state.tip(url, target, op)?;
        if state.ancestors(url, &tip).contains(&head) {
            // Already merged: the merge commit on the target's first-parent history, else the head.
            let mut next = Some(tip);
            while let Some(sha) = next {
                let c = state.commit(url, &sha, op)?;
                if c.info.parents.get(1) == Some(&head) {
                    return Ok(sha);
                }
                next = c.info.parents.first().cloned();
            }
            return Ok(head);
        }
        // A file-level three-way merge against the first common ancestor.
        let base_sha = {
            let of_tip = state.ancestors(url, &tip);
            let mut queue = VecDeque::from([head.clone()]);
            let mut found = None;
            while let Some(sha) = queue.pop_front() {
                if of_tip.contains(&sha) {
                    found = Some(sha);
                    break;
                }
                queue.extend(state.commit(url, &sha, op)?.info.parents.iter().cloned());
            }
            found
        };
        let base = match &base_sha {
            Some(b) => state.commit(url, b, op)?.files.clone(),
            None => Files::new(),
        };
        let ours = state.commit(url, &tip, op)?.files.clone();
        let theirs = state.commit(url, &head, op)?.files.clone();
        let mut merged = ours.clone();
        let mut conflicts = Vec::new();
        let paths: HashSet<&String> = theirs.keys().chain(base.keys()).collect();
        for path in paths {
            let (b, o, t) = (base.get(path), ours.get(path), theirs.get(path));
            if t == b || t == o {
                continue;
            }
            if o != b {
                conflicts.push(path.clone());
                continue;
            }
            match t {
                Some(data) => merged.insert(path.clone(), data.clone()),
                None => merged.remove(path),
            };
        }
        if !conflicts.is_empty() {
            conflicts.sort();
            return Err(err(op, url, format!("merge conflict in {}", conflicts.join(", "))));
        }
        let sha = state.write(url, merged, vec![tip, head], message, author)?;
        state.repos.entry(url.to_owned()).or_default().branches.insert(target.to_owned(), sha.clone());
        Ok(sha)
    }

    fn mirrors(&self) -> Option<Arc<ferry_git::GitCache>> {
        None
    }
}
