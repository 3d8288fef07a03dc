//! The parsed views of ended releases, kept for the pages and the API.
//!
//! Reading a stored view means parsing its JSON (756 KiB for a release of 1,000 environments, ~90%
//! of the time of its release page). The view of an ended release changes only together with an event
//! of that release (a retry, and the view stored when the retry ends), and every committed event reaches
//! the store's subscribers, also those of other replicas. So a parsed view is kept until an event of its
//! release arrives; a read that overlapped such an event does not keep what it read.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use ferry_api::ReleaseView;
use ferry_model::ReleaseId;
use tokio::sync::broadcast::error::RecvError;

/// Most views kept (the least recently used go first).
const KEPT: usize = 32;
/// Events remembered to tell whether a read overlapped one of its release.
const RECENT: usize = 4_096;

/// Parsed views of ended releases.
#[derive(Debug, Default)]
pub(crate) struct ViewCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Counts the events seen.
    epoch: u64,
    /// Every read that started at or before this epoch overlapped something unknown (a lag).
    unknown_until: u64,
    /// The last [`RECENT`] events: (epoch, release).
    recent: VecDeque<(u64, String)>,
    views: HashMap<String, (u64, Arc<ReleaseView>)>,
    /// Uses, for the least recently used.
    uses: u64,
}

/// Where a read stood when it began: its epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadStart(u64);

impl ViewCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A kept view of `id`, or where a read of it starts.
    pub(crate) fn get(&self, id: &ReleaseId) -> Result<Arc<ReleaseView>, ReadStart> {
        let mut inner = self.lock();
        inner.uses += 1;
        let uses = inner.uses;
        match inner.views.get_mut(&id.to_string()) {
            Some((used, view)) => {
                *used = uses;
                Ok(view.clone())
            }
            None => Err(ReadStart(inner.epoch)),
        }
    }

    /// Keeps `view` (an ended release's, read since `start`) unless an event of its release, or a
    /// lag, came after the read started.
    pub(crate) fn keep(&self, start: ReadStart, view: Arc<ReleaseView>) {
        let id = view.id.to_string();
        let mut inner = self.lock();
        let overlapped = start.0 < inner.unknown_until
            || inner.recent.front().is_some_and(|(first, _)| *first > start.0 + 1)
            || inner.recent.iter().rev().take_while(|(e, _)| *e > start.0).any(|(_, r)| *r == id);
        if overlapped {
            return;
        }
        if inner.views.len() >= KEPT
            && let Some(oldest) = inner.views.iter().min_by_key(|(_, (used, _))| *used).map(|(k, _)| k.clone())
        {
            inner.views.remove(&oldest);
        }
        inner.uses += 1;
        let uses = inner.uses;
        inner.views.insert(id, (uses, view));
    }

    /// An event of `release` was committed: its kept view goes.
    fn event(&self, release: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        let epoch = inner.epoch;
        if inner.recent.len() >= RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back((epoch, release.to_owned()));
        inner.views.remove(release);
    }

    /// Events were missed: nothing kept can be trusted, nor any read under way.
    fn lagged(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.unknown_until = inner.epoch;
        inner.views.clear();
    }

    /// Follows the store's committed events until they end or `stop` turns true.
    pub(crate) async fn follow(
        self: Arc<Self>,
        mut events: tokio::sync::broadcast::Receiver<Arc<ferry_store::StoredEvent>>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(e) => self.event(&e.release_id),
                    Err(RecvError::Lagged(_)) => self.lagged(),
                    Err(RecvError::Closed) => break,
                },
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            }
        }
        self.lagged();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str) -> Arc<ReleaseView> {
        let v: ReleaseView = serde_json::from_value(serde_json::json!({
            "id": id, "product": "shop", "flow": "standard", "flowVersion": null, "version": null,
            "status": "Succeeded", "initiator": "a", "createdAt": "2026-03-01T10:00:00Z", "startedAt": null,
            "finishedAt": null, "reason": null, "retries": 0, "terminate": null, "lastRetry": null,
            "trigger": {"environment": "dev", "sha": "00e81fed5f2da0ab8310f4d032695b9ec0548e06", "shortSha": "00e81fe",
                        "message": "m", "author": "a", "authorEmail": "a@x", "date": "2026-03-01T09:00:00Z",
                        "repo": "r", "branch": "main", "webUrl": null},
            "counters": {"successful": 0, "running": 0, "failed": 0, "pending": 0},
            "environments": [], "hooks": [], "context": {}, "issues": [],
        }))
        .expect("a view");
        Arc::new(v)
    }

    const A: &str = "01a219a2-582c-7416-a783-c74bd3b3c656";
    const B: &str = "01a219a2-582c-7416-a783-c74bd3b3c657";

    #[test]
    fn a_view_is_kept_until_an_event_of_its_release_and_a_read_that_overlapped_one_is_not_kept() {
        let cache = ViewCache::default();
        let a: ReleaseId = A.parse().expect("id");
        let start = cache.get(&a).expect_err("nothing kept yet");
        cache.keep(start, view(A));
        assert!(cache.get(&a).is_ok(), "kept");
        cache.event(B);
        assert!(cache.get(&a).is_ok(), "another release's event leaves it");
        cache.event(A);
        let start = cache.get(&a).expect_err("its own event drops it");
        cache.event(A);
        cache.keep(start, view(A));
        assert!(cache.get(&a).is_err(), "a read that overlapped an event of its release is not kept");
        let start = cache.get(&a).expect_err("still nothing");
        cache.event(B);
        cache.keep(start, view(A));
        assert!(cache.get(&a).is_ok(), "an event of another release does not spoil the read");
        let start = ReadStart(cache.lock().epoch);
        cache.lagged();
        cache.keep(start, view(A));
        assert!(cache.get(&a).is_err(), "after a lag nothing is kept, nor a read that overlapped it");
    }

    #[test]
    fn at_most_the_kept_number_of_views_stay_the_least_recently_used_go() {
        let cache = ViewCache::default();
        let ids: Vec<String> = (0..=KEPT).map(|i| format!("01a219a2-582c-7416-a783-{i:012x}")).collect();
        for id in &ids {
            let rid: ReleaseId = id.parse().expect("id");
            let start = cache.get(&rid).expect_err("new");
            cache.keep(start, view(id));
            // The first stays in use.
            let _ = cache.get(&ids[0].parse().expect("id"));
        }
        assert_eq!(cache.lock().views.len(), KEPT);
        assert!(cache.get(&ids[0].parse().expect("id")).is_ok(), "the one in use stays");
        assert!(cache.get(&ids[1].parse().expect("id")).is_err(), "the least recently used went");
    }
}
