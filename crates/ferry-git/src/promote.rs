//! Promotion commits (SPEC §3.3 step 2): built in the bare mirror from the current tip of the target
//! branch, one commit per call, pushed optimistically and redone on a non-fast-forward rejection.

use std::collections::BTreeMap;

use ferry_model::CommitSha;
use ferry_model::jsonpath::JsonPath;
use gix::ObjectId;
use gix::objs::tree::EntryKind;
use gix::refs::transaction::PreviousValue;

use crate::cache::{GitCache, Repo, clean_path, guard, join_path, to_sha};
use crate::error::{GitError, Operation};
use crate::yaml_edit::promote_yaml;

/// How many times a promotion is built and pushed before a non-fast-forward rejection is an error.
pub const PUSH_ATTEMPTS: usize = 3;

/// The trailer naming the release; with [`TRAILER_ENVIRONMENT`] it makes promotions idempotent.
pub const TRAILER_RELEASE: &str = "Ferry-Release";
/// The trailer naming the product.
pub const TRAILER_PRODUCT: &str = "Ferry-Product";
/// The trailer naming the target environment.
pub const TRAILER_ENVIRONMENT: &str = "Ferry-Environment";

/// What to copy from a source directory into a target directory.
#[derive(Debug, Clone, PartialEq)]
pub enum FilePlan {
    /// Every file of the source directory (recursively) is written into the target directory.
    /// Files present only in the target are kept.
    AllFiles,
    /// For each file (relative to the directories), the values at these paths are copied with
    /// byte-preserving edits ([`promote_yaml`]). The file must exist on both sides.
    Paths(BTreeMap<String, Vec<JsonPath>>),
}

/// One application's part of a promotion.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionSource {
    /// Repository of the source environment's application.
    pub repo_url: String,
    /// The release's source revision (never a newer HEAD).
    pub commit: CommitSha,
    /// Directory of the source application in its repository (`""` = root).
    pub source_path: String,
    /// Directory of the target application in the target repository.
    pub target_path: String,
    /// What is copied.
    pub plan: FilePlan,
}

/// A promotion into one repository and branch: all applications that share it go into one commit.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionRequest {
    /// Target repository.
    pub repo_url: String,
    /// Target branch.
    pub branch: String,
    /// The applications' parts.
    pub sources: Vec<PromotionSource>,
    /// Subject (and optional body), e.g. from [`promotion_subject`].
    pub message: String,
    /// Trailers appended to the message (`Ferry-Release`, `Ferry-Product`, `Ferry-Environment`).
    pub trailers: Vec<(String, String)>,
    /// Author and committer: (name, email).
    pub author: (String, String),
}

/// How a promotion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromotionOutcome {
    /// A commit was pushed.
    Committed {
        /// The promotion commit.
        sha: CommitSha,
        /// Target files whose content changed.
        files: Vec<String>,
    },
    /// Every promoted value was already equal: nothing was committed.
    Unchanged,
    /// The branch already has a commit with this request's `Ferry-Release` and `Ferry-Environment`
    /// trailers (a promotion re-issued after a crash): nothing was committed.
    AlreadyDone {
        /// The earlier commit.
        sha: CommitSha,
    },
}

/// `promote shop 1.4.2: qa -> staging` (without version when it is unknown).
pub fn promotion_subject(product: &str, version: Option<&str>, from: &str, to: &str) -> String {
    match version.filter(|v| !v.is_empty()) {
        Some(v) => format!("promote {product} {v}: {from} -> {to}"),
        None => format!("promote {product}: {from} -> {to}"),
    }
}

/// The message, a blank line and `Key: value` trailer lines.
pub fn commit_message(message: &str, trailers: &[(String, String)]) -> String {
    let mut out = message.trim_end().to_owned();
    if !trailers.is_empty() {
        out.push_str("\n\n");
        for (k, v) in trailers {
            out.push_str(k.trim());
            out.push_str(": ");
            out.push_str(&v.replace(['\n', '\r'], " "));
            out.push('\n');
        }
    } else {
        out.push('\n');
    }
    out
}

pub(crate) enum Push {
    Done,
    Rejected,
}

/// Where a promotion commit goes.
#[derive(Debug, Clone, Copy)]
enum Destination<'a> {
    /// On top of the target branch, pushed to it ([`GitCache::promote`]).
    Target,
    /// On top of the target branch, pushed to this other branch ([`GitCache::push_branch`]).
    Branch(&'a str),
}

impl GitCache {
    /// Builds one commit on the current tip of the target branch that applies every source's plan,
    /// and pushes it (`<sha>:refs/heads/<branch>`). On a non-fast-forward rejection the mirror is
    /// fetched and the edit redone on the new tip, up to [`PUSH_ATTEMPTS`] times.
    ///
    /// Idempotent: when the request has a `Ferry-Release` trailer and the branch's recent history
    /// already holds a commit with the same `Ferry-Release` (and `Ferry-Environment`, if given), the
    /// result is [`PromotionOutcome::AlreadyDone`].
    pub fn promote(&self, req: &PromotionRequest) -> Result<PromotionOutcome, GitError> {
        self.commit_promotion(req, Destination::Target)
    }

    /// The `pr` promotion action with the local provider (SPEC §3.3, §6.2): builds the same commit as
    /// [`GitCache::promote`] on the current tip of `req.branch`, but pushes it to a new branch
    /// `refs/heads/<branch>` (e.g. `ferry/shop/prod/<release>`) and leaves the target branch alone.
    ///
    /// * [`PromotionOutcome::Unchanged`] when every promoted value is already equal on the target
    ///   branch: no branch is pushed.
    /// * [`PromotionOutcome::AlreadyDone`] when `branch` already exists and its head carries this
    ///   request's `Ferry-Release` (and `Ferry-Environment`) trailers — a re-issue after a crash — or
    ///   when the target branch's recent history already holds such a commit (the change was merged).
    /// * An error when `branch` exists with any other head: Ferry never overwrites a branch it did not
    ///   push for this promotion.
    pub fn push_branch(&self, req: &PromotionRequest, branch: &str) -> Result<PromotionOutcome, GitError> {
        let url = req.repo_url.as_str();
        self.check_branch_name(url, branch, Operation::Push)?;
        if branch == req.branch {
            return Err(self.error(
                Operation::Push,
                url,
                format!("the pull-request branch {branch:?} must differ from the target branch"),
            ));
        }
        self.commit_promotion(req, Destination::Branch(branch))
    }

    fn commit_promotion(&self, req: &PromotionRequest, dest: Destination<'_>) -> Result<PromotionOutcome, GitError> {
        let url = req.repo_url.as_str();
        check_author(self, url, &req.author, "promotion")?;
        // Source commits first, without holding the target's lock (another promotion may hold it and
        // wait for ours).
        for src in &req.sources {
            self.ensure_commit(&src.repo_url, &src.commit)?;
        }
        let dir = self.mirror_dir(url);
        let lock = self.lock(&dir);
        let _guard = guard(&lock);
        // A branch whose mirror tip is Ferry's own last push is edited without a fetch first: when the
        // remote moved meanwhile, the push is rejected, and that attempt does not count. Only pushes to
        // the branch itself are checked that way (a new pull-request branch accepts any base), and an
        // edit that would change nothing is decided only on a fetched tip.
        let own_tip = matches!(dest, Destination::Target)
            && self.head(url, &req.branch).is_ok_and(|tip| self.is_own_push(&dir, &req.branch, &tip));
        let mut fresh = !own_tip;
        if fresh {
            self.fetch_locked(url)?;
        }

        let push_to = match dest {
            Destination::Target => req.branch.as_str(),
            Destination::Branch(branch) => branch,
        };
        let idempotency = idempotency_trailers(&req.trailers);
        let message = commit_message(&req.message, &req.trailers);
        let mut attempt = 0;
        while attempt < PUSH_ATTEMPTS {
            let repo = self.open(url, Operation::Commit)?;
            let tip = self.branch_tip(&repo, url, &req.branch, Operation::Commit)?;
            let done = self.already_promoted(&repo, url, tip, dest, &idempotency)?;
            let tip_tree = self.tree_of(&repo, url, tip, Operation::Commit)?;
            let (tree, files) = match done {
                Some(_) => (tip_tree, Vec::new()),
                None => self.build_tree(&repo, req, tip_tree)?,
            };
            if tree == tip_tree && !fresh {
                // Done or unchanged on Ferry's own push; the remote may have moved (even backwards, by a
                // forced push): only a fetched tip decides.
                self.fetch_locked(url)?;
                fresh = true;
                continue;
            }
            if let Some(sha) = done {
                return Ok(PromotionOutcome::AlreadyDone { sha });
            }
            if tree == tip_tree {
                return Ok(PromotionOutcome::Unchanged);
            }
            let commit = self.write_commit(&repo, url, tree, &[tip], &message, &req.author)?;
            let sha = to_sha(commit);
            // On an unfetched tip, the push only goes through while the remote branch is still that tip:
            // a branch rewound or deleted since Ferry's push is caught too, not only one that moved on.
            let lease = (!fresh).then_some(tip);
            match self.push(&dir, url, &sha, push_to, lease)? {
                Push::Done => {
                    self.remember_push(&dir, url, push_to, commit);
                    return Ok(PromotionOutcome::Committed { sha, files });
                }
                Push::Rejected if !fresh => {
                    self.fetch_locked(url)?;
                    fresh = true;
                }
                Push::Rejected => {
                    attempt += 1;
                    if attempt < PUSH_ATTEMPTS {
                        self.fetch_locked(url)?;
                    }
                }
            }
        }
        Err(self.error(
            Operation::Push,
            url,
            format!(
                "branch {push_to:?} moved during each of {PUSH_ATTEMPTS} attempts (non-fast-forward); something keeps \
                 pushing to it: retry the release when it is quiet"
            ),
        ))
    }

    /// The earlier commit of a re-issued promotion, if there is one (see [`GitCache::push_branch`]).
    fn already_promoted(
        &self,
        repo: &Repo,
        url: &str,
        tip: ObjectId,
        dest: Destination<'_>,
        trailers: &[(&str, &str)],
    ) -> Result<Option<CommitSha>, GitError> {
        if let Destination::Branch(branch) = dest
            && let Some(head) = self.try_branch_tip(repo, url, branch, Operation::Push)?
        {
            if self.has_trailers(repo, url, head, trailers)? {
                return Ok(Some(to_sha(head)));
            }
            let wanted = trailers.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
            let wanted = if wanted.is_empty() { "no Ferry-Release trailer in the request".to_owned() } else { wanted };
            return Err(self.error(
                Operation::Push,
                url,
                format!(
                    "branch {branch:?} already exists and its head {} is not this promotion's commit ({wanted}); \
                     Ferry does not overwrite it: delete the branch, then retry the release",
                    to_sha(head).short()
                ),
            ));
        }
        self.find_trailers_from(repo, url, tip, trailers)
    }

    /// Keeps the mirror in step after a push (the next fetch would do it too) and remembers the push.
    pub(crate) fn remember_push(&self, dir: &std::path::Path, url: &str, branch: &str, commit: ObjectId) {
        let updated = self.open(url, Operation::Push).is_ok_and(|repo| {
            let name = format!("refs/heads/{branch}");
            repo.reference(name.as_str(), commit, PreviousValue::Any, "ferry: pushed").is_ok()
        });
        if updated {
            self.record_push(dir, branch, commit);
        }
    }

    /// Rejects branch names git would refuse (`refs/heads/<branch>` must be a valid reference name).
    pub(crate) fn check_branch_name(&self, url: &str, branch: &str, op: Operation) -> Result<(), GitError> {
        let full = format!("refs/heads/{branch}");
        if branch.is_empty() || branch.starts_with('-') || gix::refs::FullName::try_from(full.as_str()).is_err() {
            return Err(self.error(op, url, format!("{branch:?} is not a valid branch name")));
        }
        Ok(())
    }

    /// Makes sure `commit` is in the mirror of `url`, fetching once when it is not.
    fn ensure_commit(&self, url: &str, commit: &CommitSha) -> Result<(), GitError> {
        let present = |cache: &GitCache| {
            cache
                .open(url, Operation::Commit)
                .ok()
                .is_some_and(|repo| ObjectId::from_hex(commit.as_str().as_bytes()).is_ok_and(|id| repo.has_object(id)))
        };
        if present(self) {
            return Ok(());
        }
        self.fetch(url)?;
        if present(self) {
            return Ok(());
        }
        Err(self.error(
            Operation::Commit,
            url,
            format!("source commit {} is not in the repository (was the branch force-pushed?)", commit.short()),
        ))
    }

    fn build_tree(
        &self,
        repo: &Repo,
        req: &PromotionRequest,
        tip_tree: ObjectId,
    ) -> Result<(ObjectId, Vec<String>), GitError> {
        let url = req.repo_url.as_str();
        let op = Operation::Commit;
        // New content per target path; later sources see earlier sources' edits.
        let mut pending: BTreeMap<String, (EntryKind, Vec<u8>)> = BTreeMap::new();
        for src in &req.sources {
            let src_url = src.repo_url.as_str();
            let src_repo = self.open(src_url, op)?;
            let src_commit = self.commit_id(&src_repo, src_url, &src.commit, op)?;
            let src_tree = self.tree_of(&src_repo, src_url, src_commit, op)?;
            match &src.plan {
                FilePlan::AllFiles => {
                    let files = self.files_below(&src_repo, src_url, src_tree, &src.source_path, op)?;
                    if files.is_empty() {
                        return Err(self.error(
                            op,
                            src_url,
                            format!(
                                "the source directory {:?} has no files at commit {}; check the application's source path",
                                clean_path(&src.source_path),
                                src.commit.short()
                            ),
                        ));
                    }
                    for (rel, kind, blob) in files {
                        let data = self.blob(&src_repo, src_url, blob, op)?;
                        pending.insert(join_path(&src.target_path, &rel), (kind, data));
                    }
                }
                FilePlan::Paths(files) => {
                    for (file, paths) in files {
                        let src_file = join_path(&src.source_path, file);
                        let target_file = join_path(&src.target_path, file);
                        let source_bytes = match self.entry_at(&src_repo, src_url, src_tree, &src_file, op)? {
                            Some((EntryKind::Blob | EntryKind::BlobExecutable, id)) => {
                                self.blob(&src_repo, src_url, id, op)?
                            }
                            _ => {
                                return Err(self.error(
                                    op,
                                    src_url,
                                    format!(
                                        "promoted file {src_file} does not exist in the source at commit {}; fix the \
                                         promotion template's file list or the application's path",
                                        src.commit.short()
                                    ),
                                ));
                            }
                        };
                        let (kind, target_bytes) = match pending.get(&target_file) {
                            Some((kind, data)) => (*kind, data.clone()),
                            None => match self.entry_at(repo, url, tip_tree, &target_file, op)? {
                                Some((kind @ (EntryKind::Blob | EntryKind::BlobExecutable), id)) => {
                                    (kind, self.blob(repo, url, id, op)?)
                                }
                                _ => {
                                    return Err(self.error(
                                        op,
                                        url,
                                        format!(
                                            "promoted file {target_file} does not exist on branch {:?}; create it in the \
                                             target environment first (Ferry edits promoted files, it never creates them)",
                                            req.branch
                                        ),
                                    ));
                                }
                            },
                        };
                        let text = |bytes: Vec<u8>, which: &str, name: &str, u: &str| {
                            String::from_utf8(bytes).map_err(|_| {
                                self.error(
                                    op,
                                    u,
                                    format!(
                                        "{which} file {name} is not UTF-8 text; only YAML files can have promoted paths"
                                    ),
                                )
                            })
                        };
                        let source_text = text(source_bytes, "source", &src_file, src_url)?;
                        let target_text = text(target_bytes, "target", &target_file, url)?;
                        let edit = promote_yaml(&source_text, &target_text, paths)
                            .map_err(|e| self.error(op, url, format!("{target_file} (from {src_file}): {e}")))?;
                        if !edit.changed.is_empty() {
                            pending.insert(target_file, (kind, edit.text.into_bytes()));
                        }
                    }
                }
            }
        }

        let mut editor = repo.edit_tree(tip_tree).map_err(|e| self.error(op, url, e.to_string()))?;
        let mut changed = Vec::new();
        for (path, (kind, data)) in pending {
            let blob = repo.write_blob(&data).map_err(|e| self.error(op, url, e.to_string()))?.detach();
            let current = self.entry_at(repo, url, tip_tree, &path, op)?;
            if current == Some((kind, blob)) {
                continue;
            }
            editor.upsert(path.as_str(), kind, blob).map_err(|e| self.error(op, url, format!("{path}: {e}")))?;
            changed.push(path);
        }
        if changed.is_empty() {
            return Ok((tip_tree, changed));
        }
        let tree = editor.write().map_err(|e| self.error(op, url, e.to_string()))?.detach();
        Ok((tree, changed))
    }

    /// Writes a commit object (author = committer = `author`, now) into the mirror.
    pub(crate) fn write_commit(
        &self,
        repo: &Repo,
        url: &str,
        tree: ObjectId,
        parents: &[ObjectId],
        message: &str,
        author: &(String, String),
    ) -> Result<ObjectId, GitError> {
        let signature = gix::actor::Signature {
            name: author.0.trim().into(),
            email: author.1.trim().into(),
            time: gix::date::Time::now_utc(),
        };
        let commit = gix::objs::Commit {
            tree,
            parents: parents.iter().copied().collect(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        repo.write_object(&commit).map(|id| id.detach()).map_err(|e| self.error(Operation::Commit, url, e.to_string()))
    }

    /// Pushes `sha` to `refs/heads/<branch>` (never forced; with `lease`, only while the remote branch
    /// is that commit); a non-fast-forward or stale-lease rejection is [`Push::Rejected`].
    pub(crate) fn push(
        &self,
        dir: &std::path::Path,
        url: &str,
        sha: &CommitSha,
        branch: &str,
        lease: Option<ObjectId>,
    ) -> Result<Push, GitError> {
        let refspec = format!("{sha}:refs/heads/{branch}");
        let lease = lease.map(|tip| format!("--force-with-lease=refs/heads/{branch}:{}", tip.to_hex()));
        let mut args = vec!["push", "--porcelain"];
        args.extend(lease.as_deref());
        args.extend(["--", url, &refspec]);
        let started = std::time::Instant::now();
        let out = self.git(Some(dir), &args).config_env(&self.auth_config(url)).run();
        crate::cache::observe_remote(Operation::Push, url, started, out.as_ref().is_ok_and(|o| o.success));
        let out = out.map_err(|m| self.error(Operation::Push, url, m))?;
        if out.success {
            return Ok(Push::Done);
        }
        let stdout = out.stdout_text();
        let status: Vec<&str> = stdout.lines().filter(|l| l.starts_with('!')).collect();
        let non_fast_forward = status.iter().any(|l| {
            l.contains("[rejected]")
                && (l.contains("non-fast-forward") || l.contains("fetch first") || l.contains("stale info"))
        });
        if non_fast_forward {
            return Ok(Push::Rejected);
        }
        let detail = status.iter().map(|l| l.replace('\t', " ")).collect::<Vec<_>>().join("\n");
        let hint = if status.iter().any(|l| l.contains("[remote rejected]")) {
            "; the remote refused the commit (server hook or branch protection): allow Ferry's pushes to this branch \
             or use the `pr` promotion action"
        } else {
            ""
        };
        Err(self.error(Operation::Push, url, format!("{}\n{detail}{hint}", out.stderr).trim()))
    }
}

/// Commits need a name and an email.
pub(crate) fn check_author(cache: &GitCache, url: &str, author: &(String, String), what: &str) -> Result<(), GitError> {
    if author.0.trim().is_empty() || author.1.trim().is_empty() {
        return Err(cache.error(
            Operation::Commit,
            url,
            format!("the {what} has no author name or email; configure Ferry's git author"),
        ));
    }
    Ok(())
}

/// The trailers that identify a promotion: `Ferry-Release` plus `Ferry-Environment` when present.
fn idempotency_trailers(trailers: &[(String, String)]) -> Vec<(&str, &str)> {
    let find =
        |key: &str| trailers.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(k, v)| (k.as_str(), v.as_str()));
    match find(TRAILER_RELEASE) {
        Some(release) => std::iter::once(release).chain(find(TRAILER_ENVIRONMENT)).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_trailers_after_a_blank_line() {
        let trailers =
            vec![("Ferry-Release".to_owned(), "r1".to_owned()), ("Ferry-Environment".to_owned(), "staging".to_owned())];
        assert_eq!(
            commit_message(&promotion_subject("shop", Some("1.4.2"), "qa", "staging"), &trailers),
            "promote shop 1.4.2: qa -> staging\n\nFerry-Release: r1\nFerry-Environment: staging\n"
        );
        assert_eq!(promotion_subject("shop", None, "qa", "prod"), "promote shop: qa -> prod");
        assert_eq!(idempotency_trailers(&trailers), vec![("Ferry-Release", "r1"), ("Ferry-Environment", "staging")]);
        assert!(idempotency_trailers(&trailers[1..]).is_empty());
    }
}
