//! Polling remotes cheaply (trigger checks of many applications): one ref advertisement
//! (`git ls-remote --heads`) of a repository serves every caller that asked before it started, a mirror
//! is fetched only when the advertised tip of the branch differs from its own, and the newest commit
//! touching a path is remembered per branch tip, so an unchanged branch costs no history walk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ferry_model::CommitSha;
use gix::ObjectId;

use crate::cache::{CommitInfo, GitCache, clean_path, guard, guard_map, to_sha};
use crate::error::{GitError, Operation};

/// Most remembered (mirror, branch, path) answers; the memory is cleared when it would grow beyond.
const TOUCHING_MEMORY: usize = 20_000;

/// The branch tips of one advertisement, and when it started.
#[derive(Debug, Clone)]
pub(crate) struct Advert {
    started: Instant,
    heads: Arc<HashMap<String, ObjectId>>,
}

/// Key of a remembered [`GitCache::last_commit_touching`] answer.
pub(crate) type TouchingKey = (PathBuf, String, String);

/// A remembered answer: the branch tip it was computed at, and the commit found.
pub(crate) type Touching = (CommitSha, Option<CommitInfo>);

impl GitCache {
    /// The remote's branch tips (`refs/heads/*`) as one `git ls-remote --heads` advertised them.
    /// Callers share advertisements: one that started at or after `asked` serves the call (it saw
    /// everything the remote had then), so many callers asking at once cost one advertisement.
    pub fn remote_heads(&self, url: &str, asked: Instant) -> Result<Arc<HashMap<String, ObjectId>>, GitError> {
        let dir = self.mirror_dir(url);
        let mut key = dir.clone().into_os_string();
        key.push("#ls-remote");
        let lock = self.lock(&PathBuf::from(key));
        let _guard = guard(&lock);
        if let Some(advert) = guard_map(&self.adverts).get(&dir)
            && advert.started >= asked
        {
            return Ok(advert.heads.clone());
        }
        let started = Instant::now();
        let out = self.run_remote(Operation::Fetch, url, None, &["ls-remote", "--heads", "--", url])?;
        let mut heads = HashMap::new();
        for line in out.lines() {
            let Some((sha, name)) = line.split_once('\t') else { continue };
            let Some(branch) = name.strip_prefix("refs/heads/") else { continue };
            let id = ObjectId::from_hex(sha.as_bytes())
                .map_err(|e| self.error(Operation::Fetch, url, format!("ls-remote answered {sha:?}: {e}")))?;
            heads.insert(branch.to_owned(), id);
        }
        let heads = Arc::new(heads);
        guard_map(&self.adverts).insert(dir, Advert { started, heads: heads.clone() });
        Ok(heads)
    }

    /// Brings the mirror of `url` up to date when the remote's tip of `branch` differs from the
    /// mirror's, as an advertisement that started at or after `asked` shows it ([`remote_heads`]);
    /// a mirror not made yet is fetched. Returns whether it fetched.
    ///
    /// [`remote_heads`]: GitCache::remote_heads
    pub fn fetch_if_moved(&self, url: &str, branch: &str, asked: Instant) -> Result<bool, GitError> {
        if self.mirror_dir(url).join("HEAD").exists() {
            let heads = self.remote_heads(url, asked)?;
            let local = self.head(url, branch).ok();
            match (heads.get(branch), local) {
                (Some(remote), Some(local)) if to_sha(*remote) == local => return Ok(false),
                // Neither has the branch: a fetch would not bring it.
                (None, None) => return Ok(false),
                _ => {}
            }
        }
        self.fetch(url)?;
        Ok(true)
    }

    /// The key under which [`GitCache::last_commit_touching`] remembers its answer.
    pub(crate) fn touching_key(&self, url: &str, branch: &str, path: &str) -> TouchingKey {
        (self.mirror_dir(url), branch.to_owned(), clean_path(path))
    }

    /// The remembered answer for `key` if it was computed at the branch's current tip.
    pub(crate) fn remembered_touching(&self, key: &TouchingKey, tip: &CommitSha) -> Option<Option<CommitInfo>> {
        match guard_map(&self.touching).get(key) {
            Some((at, found)) if at == tip => Some(found.clone()),
            _ => None,
        }
    }

    /// Remembers an answer computed at `tip`.
    pub(crate) fn remember_touching(&self, key: TouchingKey, tip: CommitSha, found: &Option<CommitInfo>) {
        let mut memory = guard_map(&self.touching);
        if memory.len() >= TOUCHING_MEMORY && !memory.contains_key(&key) {
            memory.clear();
        }
        memory.insert(key, (tip, found.clone()));
    }
}
