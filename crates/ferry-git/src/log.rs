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
use crate::packs::PackReader;

/// Bytes of decoded delta bases kept during one walk, over all its threads (git's default
/// `core.deltaBaseCacheLimit`).
const DELTA_BASE_CACHE_BYTES: usize = 96 * 1024 * 1024;

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
        tune_for_walk(&mut repo, DELTA_BASE_CACHE_BYTES / self.walk_threads());
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
        let path: &[&[u8]] = components.as_deref().unwrap_or_default();
        let threads = self.walk_threads();
        // Long walks read trees and commits on several threads, a batch of candidates at a time; a walk
        // that may stop after a few commits stays on this thread.
        let parallel = threads > 1 && limit >= threads * MIN_PER_THREAD;
        let mut entries = PathEntries::new(graph.as_ref(), DELTA_BASE_CACHE_BYTES / threads);
        let mut out = Vec::new();
        let mut batch: Vec<Candidate> = Vec::new();
        let mut helpers: Option<gix::ThreadSafeRepository> = None;
        for info in walk {
            let info = info.map_err(|e| self.error(op, url, e.to_string()))?;
            if !path.is_empty()
                && info.parent_ids.len() == 1
                && let (Some((filters, key)), Some(g)) = (&bloom, &graph)
                && let Some(pos) = g.lookup(info.id)
                && !filters.maybe_changed(pos.0, key)
            {
                continue;
            }
            let candidate = Candidate { id: info.id, parents: info.parent_ids };
            if !parallel {
                if let Some(listed) = self.resolve(&repo, url, &mut entries, &candidate, path)? {
                    out.push(listed);
                    if out.len() >= limit {
                        break;
                    }
                }
                continue;
            }
            batch.push(candidate);
            // Without a path every candidate is listed: a batch need not go past the limit.
            if batch.len() >= BATCH || (path.is_empty() && out.len() + batch.len() >= limit) {
                let sync = helpers.get_or_insert_with(|| repo.clone().into_sync());
                out.extend(self.resolve_batch(
                    &repo,
                    sync,
                    url,
                    graph.as_ref(),
                    &mut entries,
                    &batch,
                    path,
                    threads,
                )?);
                batch.clear();
                if out.len() >= limit {
                    break;
                }
            }
        }
        if !batch.is_empty() && out.len() < limit {
            let sync = helpers.get_or_insert_with(|| repo.clone().into_sync());
            out.extend(self.resolve_batch(&repo, sync, url, graph.as_ref(), &mut entries, &batch, path, threads)?);
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The commit's facts when it is listed: always without a path; with one, when its entry there
    /// differs from its parent's (a root commit: the entry exists; a merge: it differs from at least one
    /// parent, so the merge that brought a branch's change in is listed with it).
    fn resolve(
        &self,
        repo: &Repo,
        url: &str,
        entries: &mut PathEntries<'_>,
        candidate: &Candidate,
        path: &[&[u8]],
    ) -> Result<Option<CommitInfo>, GitError> {
        if !path.is_empty() {
            let here = entries.get(self, repo, url, candidate.id, path)?;
            let touched = if candidate.parents.is_empty() {
                here.is_some()
            } else {
                let mut differs_from_one = false;
                for parent in &candidate.parents {
                    if entries.get(self, repo, url, *parent, path)? != here {
                        differs_from_one = true;
                        break;
                    }
                }
                differs_from_one
            };
            if !touched {
                return Ok(None);
            }
        }
        self.info(repo, url, candidate.id).map(Some)
    }

    /// [`GitCache::resolve`] over a batch in walk order, split into contiguous runs: the first on this
    /// thread, the others on helper threads with their own repository handles (a run's commits are
    /// mostly each other's parents, so its memo still saves the parents' look-ups).
    #[allow(clippy::too_many_arguments)]
    fn resolve_batch(
        &self,
        repo: &Repo,
        sync: &gix::ThreadSafeRepository,
        url: &str,
        graph: Option<&gix::commitgraph::Graph>,
        entries: &mut PathEntries<'_>,
        batch: &[Candidate],
        path: &[&[u8]],
        threads: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        let runs = threads.min(batch.len().div_ceil(MIN_PER_THREAD)).max(1);
        let size = batch.len().div_ceil(runs);
        let mut chunks = batch.chunks(size);
        let first = chunks.next().unwrap_or_default();
        let resolve_run = |repo: &Repo, entries: &mut PathEntries<'_>, run: &[Candidate]| {
            let mut listed = Vec::new();
            for candidate in run {
                if let Some(info) = self.resolve(repo, url, entries, candidate, path)? {
                    listed.push(info);
                }
            }
            Ok::<_, GitError>(listed)
        };
        std::thread::scope(|scope| {
            let helpers: Vec<_> = chunks
                .map(|run| {
                    scope.spawn(move || {
                        let mut repo = sync.to_thread_local();
                        // The delta-base budget is shared by the walk's threads.
                        tune_for_walk(&mut repo, DELTA_BASE_CACHE_BYTES / threads);
                        resolve_run(&repo, &mut PathEntries::new(graph, DELTA_BASE_CACHE_BYTES / threads), run)
                    })
                })
                .collect();
            let mut out = resolve_run(repo, entries, first)?;
            for helper in helpers {
                let listed =
                    helper.join().map_err(|_| self.error(Operation::Read, url, "a history walk thread panicked"))??;
                out.extend(listed);
            }
            Ok(out)
        })
    }
}

/// Commits a walk hands to a helper thread at least (fewer: the walk stays on one thread).
const MIN_PER_THREAD: usize = 16;
/// Candidates resolved at a time by a parallel walk (bounds its memory and the work past `limit`).
const BATCH: usize = 4096;

/// A commit the walk may list: its id and parents (as walked: only the first with `first_parent`).
struct Candidate {
    id: ObjectId,
    parents: gix::traverse::commit::ParentIds,
}

/// Every object of a walk is read once (paths are memoised per commit), so an object cache would only
/// cost its bookkeeping. Trees and commits are delta-compressed against their neighbours in history: a
/// hash map of decoded delta bases (what git's `core.deltaBaseCacheLimit` sizes) instead of gix's
/// default 64-slot list, whose linear look-ups cost more than the decoding they save.
fn tune_for_walk(repo: &mut Repo, delta_base_bytes: usize) {
    repo.object_cache_size(None);
    repo.objects
        .set_pack_cache(move || Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(delta_base_bytes)));
}

/// The object at one path in each commit, looked up once per commit (a commit is usually asked about
/// twice: as itself and as its child's parent). Trees are scanned in place, without allocating.
struct PathEntries<'g> {
    graph: Option<&'g gix::commitgraph::Graph>,
    memo: HashMap<ObjectId, Option<ObjectId>>,
    /// Trees are read from the packs with every delta-chain link kept ([`PackReader`]), opened at the
    /// first tree read.
    packs: Option<PackReader>,
    /// Bytes of decoded trees the packs' cache keeps.
    cache_bytes: usize,
    buf: Vec<u8>,
}

impl<'g> PathEntries<'g> {
    /// Entries of commits; `cache_bytes` of decoded trees are kept.
    fn new(graph: Option<&'g gix::commitgraph::Graph>, cache_bytes: usize) -> PathEntries<'g> {
        PathEntries { graph, memo: HashMap::new(), packs: None, cache_bytes, buf: Vec::new() }
    }

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
            let packs = self.packs.get_or_insert_with(|| {
                PackReader::open(repo.objects.store_ref().path(), repo.object_hash(), self.cache_bytes)
            });
            let entries = match packs.read(&current, &mut self.buf) {
                Some(gix::objs::Kind::Tree) => gix::objs::TreeRefIter::from_bytes(&self.buf, repo.object_hash()),
                // Not in a pack this walk opened (or not a tree): the object database reads it or says why not.
                _ => repo
                    .objects
                    .find_tree_iter(&current, &mut self.buf)
                    .map_err(|e| cache.error(op, url, e.to_string()))?,
            };
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
