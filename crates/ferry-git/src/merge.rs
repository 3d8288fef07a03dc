//! Merging a pull-request branch of the local provider (SPEC §6.2): a real merge commit with two
//! parents, built in the bare mirror without a working copy (`git merge-tree --write-tree`) and pushed
//! to the target branch.

use ferry_model::CommitSha;
use gix::ObjectId;

use crate::cache::{GitCache, Repo, TRAILER_SCAN_LIMIT, guard, to_sha};
use crate::error::{GitError, Operation};
use crate::promote::{PUSH_ATTEMPTS, Push, check_author};

impl GitCache {
    /// Merges `source_branch` into `target_branch` of `url` with a merge commit (first parent: the
    /// target's tip, second parent: the source's head; never a fast-forward, so the history shows the
    /// pull request), with `message` (e.g. `Merge pull request #3 from ferry/shop/prod/<release>`) and
    /// `author` (name, email) as author and committer, and pushes it to the target branch. Returns the
    /// merge commit.
    ///
    /// On a non-fast-forward rejection the mirror is fetched and the merge redone on the new tip, up to
    /// [`PUSH_ATTEMPTS`] times. Conflicting changes are an error with [`Operation::Commit`] that lists the
    /// conflicting paths; nothing is pushed then.
    ///
    /// Idempotent: when the target branch already contains the source branch's head, nothing is pushed
    /// and the result is the existing merge commit (the newest commit on the target's first-parent
    /// history, among the last [`TRAILER_SCAN_LIMIT`], whose second parent is the source head), or the
    /// source head itself when there is no such commit (e.g. the target was fast-forwarded to it).
    pub fn merge_branch(
        &self,
        url: &str,
        source_branch: &str,
        target_branch: &str,
        message: &str,
        author: &(String, String),
    ) -> Result<CommitSha, GitError> {
        let op = Operation::Commit;
        check_author(self, url, author, "merge")?;
        self.check_branch_name(url, source_branch, op)?;
        self.check_branch_name(url, target_branch, op)?;
        if source_branch == target_branch {
            return Err(self.error(op, url, format!("cannot merge branch {source_branch:?} into itself")));
        }
        if message.trim().is_empty() {
            return Err(self.error(op, url, "the merge commit needs a message"));
        }
        let message = format!("{}\n", message.trim_end());
        let dir = self.mirror_dir(url);
        let lock = self.lock(&dir);
        let _guard = guard(&lock);
        self.fetch_locked(url)?;

        for attempt in 1..=PUSH_ATTEMPTS {
            let repo = self.open(url, op)?;
            let source = self.try_branch_tip(&repo, url, source_branch, op)?.ok_or_else(|| {
                self.error(
                    op,
                    url,
                    format!(
                        "the pull-request branch {source_branch:?} does not exist (was it deleted?); close the pull \
                         request and retry the release to push it again"
                    ),
                )
            })?;
            let target = self.branch_tip(&repo, url, target_branch, op)?;
            if let Some(done) = self.merged_into(&repo, url, source, target)? {
                return Ok(to_sha(done));
            }
            let tree = self.merge_tree(&dir, url, target, source, source_branch, target_branch)?;
            let commit = self.write_commit(&repo, url, tree, &[target, source], &message, author)?;
            let sha = to_sha(commit);
            match self.push(&dir, url, &sha, target_branch, None)? {
                Push::Done => {
                    self.remember_push(&dir, url, target_branch, commit);
                    return Ok(sha);
                }
                Push::Rejected if attempt < PUSH_ATTEMPTS => self.fetch_locked(url)?,
                Push::Rejected => {}
            }
        }
        Err(self.error(
            Operation::Push,
            url,
            format!(
                "branch {target_branch:?} moved during each of {PUSH_ATTEMPTS} attempts (non-fast-forward); something \
                 keeps pushing to it: merge again when it is quiet"
            ),
        ))
    }

    /// When `source` is already in `target`'s history: the merge commit that brought it, or `source`.
    fn merged_into(
        &self,
        repo: &Repo,
        url: &str,
        source: ObjectId,
        target: ObjectId,
    ) -> Result<Option<ObjectId>, GitError> {
        let op = Operation::Commit;
        if !self.ancestor_of(repo, url, source, target, op)? {
            return Ok(None);
        }
        let mut current = target;
        for _ in 0..TRAILER_SCAN_LIMIT {
            let commit = repo.find_commit(current).map_err(|e| self.error(op, url, e.to_string()))?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|id| id.detach()).collect();
            if parents.get(1) == Some(&source) {
                return Ok(Some(current));
            }
            match parents.first() {
                Some(first) => current = *first,
                None => break,
            }
        }
        Ok(Some(source))
    }

    /// The tree of merging `theirs` into `ours` (`git merge-tree --write-tree`, objects written into the
    /// mirror); conflicts are an error listing the paths.
    fn merge_tree(
        &self,
        dir: &std::path::Path,
        url: &str,
        ours: ObjectId,
        theirs: ObjectId,
        source_branch: &str,
        target_branch: &str,
    ) -> Result<ObjectId, GitError> {
        let op = Operation::Commit;
        let (ours_hex, theirs_hex) = (ours.to_hex().to_string(), theirs.to_hex().to_string());
        let out = self
            .git(
                Some(dir),
                &["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", &ours_hex, &theirs_hex],
            )
            .run()
            .map_err(|m| self.error(op, url, m))?;
        let stdout = out.stdout_text();
        let mut fields = stdout.split('\0').filter(|f| !f.is_empty());
        let tree = fields.next().map(str::trim).and_then(|t| ObjectId::from_hex(t.as_bytes()).ok());
        match (out.success, tree) {
            (true, Some(tree)) => Ok(tree),
            (false, Some(_)) => {
                let mut paths: Vec<&str> = fields.collect();
                paths.dedup();
                let listed = if paths.is_empty() { "(git named no path)".to_owned() } else { paths.join(", ") };
                Err(self.error(
                    op,
                    url,
                    format!(
                        "cannot merge {source_branch:?} into {target_branch:?}: conflicting changes in {listed}; \
                         resolve them on the branch {source_branch:?} (or close the pull request and retry the release)"
                    ),
                ))
            }
            _ => Err(self.error(
                op,
                url,
                format!(
                    "git merge-tree failed (merging needs git 2.38 or newer): {}",
                    if out.stderr.is_empty() { stdout.trim() } else { &out.stderr }
                ),
            )),
        }
    }
}
