//! The releases an engine drives, with the indexes its loop consults on every turn: releases by
//! product (queue, supersession, the queue-depth gauge) and flow deadlines in order (the timeout
//! timer). Without them each of those was a scan of every active release, and an engine holding
//! thousands of waiting releases spent its time scanning.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use ferry_model::names::{ProductName, ReleaseId};
use ferry_model::release::ReleaseState;
use jiff::Timestamp;

/// One release the engine drives.
pub(super) struct Active {
    /// Shared with readers through [`crate::LiveStates`]; replaced (never changed in place) by each
    /// commit, and only through [`ActiveReleases::set_state`] so the indexes follow.
    pub(super) state: Arc<ReleaseState>,
    pub(super) next_seq: i64,
    pub(super) in_flight: HashSet<String>,
    /// The header of the view last stored by this engine; `None` until it stores one.
    pub(super) stored: Option<ViewHeader>,
    /// What happened to the release (work results, in order) that could not be made durable yet (the
    /// store did not answer): recorded again, before anything newer, by the next commit of the release.
    pub(super) unrecorded: Vec<ferry_model::release::ReleaseEvent>,
}

/// What the stored view of a release is rewritten for: status, start, end, termination, retries.
pub(super) type ViewHeader = (
    ferry_model::status::ReleaseStatus,
    Option<jiff::Timestamp>,
    Option<jiff::Timestamp>,
    Option<jiff::Timestamp>,
    u32,
);

impl Active {
    /// A release this engine has not written yet (created, or loaded from the store).
    pub(super) fn new(state: ReleaseState, next_seq: i64) -> Active {
        Active { state: Arc::new(state), next_seq, in_flight: HashSet::new(), stored: None, unrecorded: Vec::new() }
    }
}

/// The flow deadline the timeout timer waits for: none once termination was asked for or the release
/// finished.
fn pending_deadline(state: &ReleaseState) -> Option<Timestamp> {
    if state.terminate_request().is_some() || state.finished_at().is_some() {
        return None;
    }
    state.deadline()
}

/// Active releases by id, indexed by product, by pending flow deadline and by the instant time alone
/// changes what is planned for them (a freeze window's end: [`ReleaseState::wake_at`]).
#[derive(Default)]
pub(super) struct ActiveReleases {
    all: BTreeMap<ReleaseId, Active>,
    by_product: HashMap<ProductName, BTreeSet<ReleaseId>>,
    deadlines: BTreeSet<(Timestamp, ReleaseId)>,
    wakes: BTreeSet<(Timestamp, ReleaseId)>,
}

/// Moves `id` in a time index from `was` to `now`.
fn reindex(
    index: &mut BTreeSet<(Timestamp, ReleaseId)>,
    id: ReleaseId,
    was: Option<Timestamp>,
    now: Option<Timestamp>,
) {
    if was != now {
        if let Some(at) = was {
            index.remove(&(at, id));
        }
        if let Some(at) = now {
            index.insert((at, id));
        }
    }
}

impl ActiveReleases {
    /// Adds (or replaces) release `id`.
    pub(super) fn insert(&mut self, id: ReleaseId, active: Active) {
        self.remove(&id);
        self.by_product.entry(active.state.snapshot().product.clone()).or_default().insert(id);
        reindex(&mut self.deadlines, id, None, pending_deadline(&active.state));
        reindex(&mut self.wakes, id, None, active.state.wake_at());
        self.all.insert(id, active);
    }

    /// Takes release `id` out.
    pub(super) fn remove(&mut self, id: &ReleaseId) -> Option<Active> {
        let active = self.all.remove(id)?;
        let product = &active.state.snapshot().product;
        if let Some(ids) = self.by_product.get_mut(product) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_product.remove(product);
            }
        }
        reindex(&mut self.deadlines, *id, pending_deadline(&active.state), None);
        reindex(&mut self.wakes, *id, active.state.wake_at(), None);
        Some(active)
    }

    /// Installs `next` as the state of release `id`; answers the state it replaces.
    pub(super) fn set_state(&mut self, id: ReleaseId, next: Arc<ReleaseState>) -> Option<Arc<ReleaseState>> {
        let active = self.all.get_mut(&id)?;
        reindex(&mut self.deadlines, id, pending_deadline(&active.state), pending_deadline(&next));
        reindex(&mut self.wakes, id, active.state.wake_at(), next.wake_at());
        Some(std::mem::replace(&mut active.state, next))
    }

    pub(super) fn get(&self, id: &ReleaseId) -> Option<&Active> {
        self.all.get(id)
    }

    /// The release for changes other than its state (work in flight, sequence, stored view).
    pub(super) fn get_mut(&mut self, id: &ReleaseId) -> Option<&mut Active> {
        self.all.get_mut(id)
    }

    pub(super) fn contains_key(&self, id: &ReleaseId) -> bool {
        self.all.contains_key(id)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &ReleaseId> {
        self.all.keys()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&ReleaseId, &Active)> {
        self.all.iter()
    }

    /// The active releases of `product`, oldest first.
    pub(super) fn of_product<'a>(&'a self, product: &ProductName) -> impl Iterator<Item = (ReleaseId, &'a Active)> {
        self.by_product.get(product).into_iter().flatten().filter_map(|id| self.all.get(id).map(|a| (*id, a)))
    }

    /// Releases whose flow deadline is at or before `now`.
    pub(super) fn due(&self, now: Timestamp) -> impl Iterator<Item = (ReleaseId, &Active)> {
        self.deadlines
            .iter()
            .take_while(move |(at, _)| *at <= now)
            .filter_map(|(_, id)| self.all.get(id).map(|a| (*id, a)))
    }

    /// The earliest pending flow deadline.
    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Releases whose wake-up time (a freeze window's end) is at or before `now`.
    pub(super) fn woken(&self, now: Timestamp) -> Vec<ReleaseId> {
        self.wakes.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| *id).collect()
    }

    /// The earliest wake-up time.
    pub(super) fn next_wake(&self) -> Option<Timestamp> {
        self.wakes.first().map(|(at, _)| *at)
    }

    /// Releases with an environment held by a freeze window.
    pub(super) fn frozen(&self) -> Vec<ReleaseId> {
        self.wakes.iter().map(|(_, id)| *id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::names::{CommitSha, EnvName};
    use ferry_model::release::{EnvSnapshot, ReleaseEvent, ReleaseSnapshot, TriggerCommit};
    use ferry_model::resources::{EnvironmentType, Hooks};

    /// A release of `product` with only its trigger environment and a flow timeout of `timeout_s`.
    fn state(id: u128, product: &str, timeout_s: u64) -> ReleaseState {
        let at = Timestamp::from_second(1_000).expect("valid");
        let dev = EnvName::new("dev").expect("valid");
        let snapshot = ReleaseSnapshot {
            product: ProductName::new(product).expect("valid"),
            flow: "standard".to_owned(),
            flow_version: None,
            initiator: "alice".to_owned(),
            version: None,
            trigger: TriggerCommit {
                environment: dev.clone(),
                sha: CommitSha::new("a".repeat(40)).expect("valid"),
                message: "change".to_owned(),
                author_name: "Alice".to_owned(),
                author_email: "alice@example.com".to_owned(),
                date: at,
                repo: "file:///srv/gitops.git".to_owned(),
                branch: "main".to_owned(),
                web_url: None,
            },
            trigger_workflow: None,
            environments: vec![EnvSnapshot {
                name: dev,
                env_type: EnvironmentType::NonProduction,
                depends_on: vec![],
                is_trigger: true,
                policy: None,
                hooks: Hooks::default(),
                applications: vec![],
            }],
            release_hooks: Hooks::default(),
            timeout: std::time::Duration::from_secs(timeout_s),
            rollback: None,
        };
        ReleaseState::new(ReleaseId(uuid::Uuid::from_u128(id)), snapshot, at).expect("valid")
    }

    fn started(state: &ReleaseState, at_s: i64) -> ReleaseState {
        let mut next = state.clone();
        next.apply(&ReleaseEvent::Started { at: Timestamp::from_second(at_s).expect("valid") }).expect("applies");
        next
    }

    #[test]
    fn the_indexes_follow_inserts_state_changes_and_removals() {
        let mut set = ActiveReleases::default();
        let a = state(1, "shop", 60);
        let b = state(2, "shop", 30);
        let c = state(3, "blog", 10);
        let (ia, ib, ic) = (a.id(), b.id(), c.id());
        set.insert(ia, Active::new(a.clone(), 0));
        set.insert(ib, Active::new(b.clone(), 0));
        set.insert(ic, Active::new(c.clone(), 0));
        let shop = ProductName::new("shop").expect("valid");
        assert_eq!(set.of_product(&shop).map(|(id, _)| id).collect::<Vec<_>>(), vec![ia, ib]);
        assert_eq!(set.next_deadline(), None, "releases not started have no deadline");

        set.set_state(ib, Arc::new(started(&b, 1_000)));
        set.set_state(ic, Arc::new(started(&c, 1_000)));
        assert_eq!(set.next_deadline(), Timestamp::from_second(1_010).ok());
        let due: Vec<ReleaseId> = set.due(Timestamp::from_second(1_030).expect("valid")).map(|(id, _)| id).collect();
        assert_eq!(due, vec![ic, ib]);

        set.remove(&ic);
        assert_eq!(set.next_deadline(), Timestamp::from_second(1_030).ok());
        let blog = ProductName::new("blog").expect("valid");
        assert_eq!(set.of_product(&blog).count(), 0);

        // Replacing a release under the same id leaves no stale index entry.
        set.insert(ib, Active::new(b.clone(), 0));
        assert_eq!(set.next_deadline(), None);
        assert_eq!(set.of_product(&shop).count(), 2);
    }
}
