//! The git port over the mirror cache of `ferry-git`.

use std::path::Path;
use std::sync::Arc;

use ferry_git::{CommitInfo, GitCache, GitError, PromotionOutcome, PromotionRequest};
use ferry_model::names::CommitSha;

use super::GitPort;

/// The mirror cache of `ferry-git` as the engine's git port (bare mirrors, `git` for the network,
/// gix for reads and edits).
#[derive(Debug, Clone)]
pub struct MirrorGit(pub Arc<GitCache>);

impl GitPort for MirrorGit {
    fn fetch(&self, url: &str) -> Result<(), GitError> {
        self.0.fetch(url)
    }

    fn fetch_if_moved(&self, url: &str, branch: &str, asked: std::time::Instant) -> Result<bool, GitError> {
        self.0.fetch_if_moved(url, branch, asked)
    }

    fn head(&self, url: &str, branch: &str) -> Result<CommitSha, GitError> {
        self.0.head(url, branch)
    }

    fn last_commit_touching(&self, url: &str, branch: &str, path: &str) -> Result<Option<CommitInfo>, GitError> {
        self.0.last_commit_touching(url, branch, path)
    }

    fn read_file(&self, url: &str, commit: &CommitSha, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        self.0.read_file(url, commit, path)
    }

    fn commit_info(&self, url: &str, sha: &CommitSha) -> Result<CommitInfo, GitError> {
        self.0.commit_info(url, sha)
    }

    fn is_ancestor(&self, url: &str, ancestor: &CommitSha, descendant: &CommitSha) -> Result<bool, GitError> {
        self.0.is_ancestor(url, ancestor, descendant)
    }

    fn checkout(&self, url: &str, commit: &CommitSha, dest: &Path) -> Result<(), GitError> {
        self.0.checkout(url, commit, dest)
    }

    fn promote(&self, request: &PromotionRequest) -> Result<PromotionOutcome, GitError> {
        self.0.promote(request)
    }

    fn push_branch(&self, request: &PromotionRequest, branch: &str) -> Result<PromotionOutcome, GitError> {
        self.0.push_branch(request, branch)
    }

    fn merge_branch(
        &self,
        url: &str,
        source: &str,
        target: &str,
        message: &str,
        author: &(String, String),
    ) -> Result<CommitSha, GitError> {
        self.0.merge_branch(url, source, target, message, author)
    }

    fn mirrors(&self) -> Option<Arc<GitCache>> {
        Some(self.0.clone())
    }
}
