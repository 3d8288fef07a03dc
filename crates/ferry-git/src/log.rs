//! History walks for release notes: `git log from..to [--first-parent] [-- path]` with gix.

use std::collections::HashMap;

use ferry_model::CommitSha;
use gix::ObjectId;
use gix::objs::FindExt;
use gix::revision::walk::Sorting;
use gix::traverse::commit::simple::CommitTimeOrder;

use crate::bloom::BloomFilters;
use crate::cache::{CommitInfo, GitCache, Repo, clean_path};
use crate::error::{GitError, Operation};

impl GitCache {
    /// The commits reachable from `to` but not from `from`, newest first (by commit time), at most
    /// `limit` — like `git log from..to` (`from = None`: everything reachable from `to`). Merges are
    /// walked and listed; with `first_parent` only the first-parent chain is followed
    /// (`git log --first-parent`).
    ///
    /// With `path` (relative, `/`-separated; `""` = no filter), only commits that changed something at
    /// or below it are listed: a commit whose entry at `path` differs from its parent's (a root commit:
    /// the entry exists; a merge: it differs from at least one parent, so the merge that brought a
    /// branch's change in is listed with it). Unlike git's default history simplification, the side
    /// branches of a merge are always walked: this is `git log --full-history from..to -- path`.
    ///
    /// Both commits must be in the mirror ([`GitCache::fetch`] first). The commit-graph written after
    /// each fetch speeds up the walk; commits it does not cover yet are read from the object database.
    pub fn commits_between(
        &self,
        url: &str,
        from: Option<&CommitSha>,
        to: &CommitSha,
        path: Option<&str>,
        first_parent: bool,
        limit: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        let op = Operation::Read;
        let mut repo = self.open(url, op)?;
        // Every object of a walk is read once (paths are memoised per commit): an object cache would
        // only cost its bookkeeping.
        repo.object_cache_size(None);
        let tip = self.commit_id(&repo, url, to, op)?;
        let hidden = match from {
            Some(from) => vec![self.commit_id(&repo, url, from, op)?],
            None => Vec::new(),
        };
        if limit == 0 || hidden.contains(&tip) {
            return Ok(Vec::new());
        }
        let graph = repo.commit_graph_if_enabled().ok().flatten();
        let mut platform =
            repo.rev_walk([tip]).sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst)).with_hidden(hidden);
        if first_parent {
            platform = platform.first_parent_only();
        }
        let walk = platform.all().map_err(|e| self.error(op, url, e.to_string()))?;
        let path = path.map(clean_path).filter(|p| !p.is_empty());
        let components: Option<Vec<&[u8]>> = path.as_deref().map(|p| p.split('/').map(str::as_bytes).collect());
        // Changed-path Bloom filters settle most single-parent commits without reading a tree.
        let bloom = match (&path, &graph) {
            (Some(p), Some(g)) => BloomFilters::open(&repo.objects.store_ref().path().join("info"), g.num_commits())
                .and_then(|b| b.key(p).map(|k| (b, k))),
            _ => None,
        };
        let mut entries = PathEntries { graph: graph.as_ref(), memo: HashMap::new(), buf: Vec::new() };
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| self.error(op, url, e.to_string()))?;
            if let Some(path) = &components {
                if info.parent_ids.len() == 1
                    && let (Some((filters, key)), Some(g)) = (&bloom, &graph)
                    && let Some(pos) = g.lookup(info.id)
                    && !filters.maybe_changed(pos.0, key)
                {
                    continue;
                }
                let here = entries.get(self, &repo, url, info.id, path)?;
                let touched = if info.parent_ids.is_empty() {
                    here.is_some()
                } else {
                    let mut differs_from_one = false;
                    for parent in info.parent_ids.iter() {
                        if entries.get(self, &repo, url, *parent, path)? != here {
                            differs_from_one = true;
                            break;
                        }
                    }
                    differs_from_one
                };
                if !touched {
                    continue;
                }
            }
            out.push(self.info(&repo, url, info.id)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

/// The object at one path in each commit, looked up once per commit (a commit is usually asked about
/// twice: as itself and as its child's parent). Trees are scanned in place, without allocating.
struct PathEntries<'g> {
    graph: Option<&'g gix::commitgraph::Graph>,
    memo: HashMap<ObjectId, Option<ObjectId>>,
    buf: Vec<u8>,
}

impl PathEntries<'_> {
    fn get(
        &mut self,
        cache: &GitCache,
        repo: &Repo,
        url: &str,
        commit: ObjectId,
        path: &[&[u8]],
    ) -> Result<Option<ObjectId>, GitError> {
        if let Some(found) = self.memo.get(&commit) {
            return Ok(*found);
        }
        let op = Operation::Read;
        // The commit-graph stores each commit's root tree: no need to read the commit object.
        let mut current = match self.graph.and_then(|g| g.commit_by_id(commit)) {
            Some(c) => c.root_tree_id().to_owned(),
            None => cache.tree_of(repo, url, commit, op)?,
        };
        let mut found = Some(current);
        for (i, name) in path.iter().enumerate() {
            let entries = repo
                .objects
                .find_tree_iter(&current, &mut self.buf)
                .map_err(|e| cache.error(op, url, e.to_string()))?;
            let mut next = None;
            for entry in entries {
                let entry = entry.map_err(|e| cache.error(op, url, e.to_string()))?;
                if entry.filename == *name {
                    // Every component but the last must be a directory.
                    if i + 1 == path.len() || entry.mode.is_tree() {
                        next = Some(entry.oid.to_owned());
                    }
                    break;
                }
            }
            match next {
                Some(id) => current = id,
                None => {
                    found = None;
                    break;
                }
            }
            found = Some(current);
        }
        self.memo.insert(commit, found);
        Ok(found)
    }
}
