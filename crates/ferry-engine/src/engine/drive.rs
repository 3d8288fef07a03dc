//! Committing events: what happened is applied, the planner decides on top of it, both are made
//! durable in one store write, and only then is the work handed out.

use std::collections::HashSet;

use ferry_model::names::{AppName, EnvName, ReleaseId};
use ferry_model::release::{ReleaseEvent, ReleaseState};
use ferry_store::{AppStateRow, NewEvent, OutcomeRow, ReleaseWrite, Store, StoreError, TurnClaim, Write};

use super::{Engine, internal};
use crate::handle::EngineError;
use crate::plan::{PlanInput, Step, Work, plan};
use crate::view::{release_row, stored_view};

impl<S: Store> Engine<S> {
    /// Makes `events` durable for release `id` with `next` (the state after them) as projection, then
    /// installs `next` as the release's state.
    pub(super) async fn commit(
        &mut self,
        id: ReleaseId,
        events: Vec<ReleaseEvent>,
        next: ReleaseState,
    ) -> Result<(), EngineError> {
        let (prepared, write) = self.prepare(id, events, next)?;
        let written = self.store.write(vec![write]).await.and_then(|outcomes| {
            outcomes.into_iter().next().unwrap_or_else(|| {
                Err(StoreError::Internal { doing: "writing a release", detail: "the store returned no outcome".into() })
            })
        });
        self.committed(prepared, written.map(|_| ()))
    }

    /// Builds the store write of `events` for release `id` and shares `next` with readers (see
    /// [`Engine::committed`], which puts the old state back when the write fails).
    pub(super) fn prepare(
        &mut self,
        id: ReleaseId,
        events: Vec<ReleaseEvent>,
        next: ReleaseState,
    ) -> Result<(Prepared, Write), EngineError> {
        let Some(active) = self.releases.get(&id) else { return Err(internal(format!("release {id} is not active"))) };
        let mut new_events = Vec::with_capacity(events.len());
        for event in &events {
            new_events.push(NewEvent { at: event.at(), body: serde_json::to_value(event).map_err(internal)? });
        }
        let app_states = self.app_state_rows(&next, &events);
        // The stored view is for readers of releases this engine does not run (ended, or run by another
        // replica): it is written when the release is created or loaded and whenever its status, start,
        // end or retry count changes (so a release that ended has its final view stored); readers
        // of an active release build its view from the live state ([`crate::LiveStates`]).
        let header = (next.status(), next.started_at(), next.finished_at(), next.terminated_at(), next.retries());
        let view = if active.stored != Some(header) { Some(stored_view(&next).map_err(internal)?) } else { None };
        let write = ReleaseWrite {
            release_id: id.to_string(),
            product: next.snapshot().product.to_string(),
            first_seq: active.next_seq,
            events: new_events,
            row: release_row(&next),
            view,
            app_states,
            runs: next.changed_runs(&active.state, &events).into_iter().cloned().collect(),
            outcomes: outcome_rows(&active.state, &next, self.ports.clock.now()),
            turn: None,
        };
        // Readers see the new state from the moment its events can reach a subscriber (the store
        // broadcasts right after its commit, before the write returns): a client that reads a view
        // after an event always finds that event in it. A failed write puts the old state back.
        let next = std::sync::Arc::new(next);
        self.live.insert(id, next.clone());
        Ok((Prepared { id, events, next, header }, Write::Release(Box::new(write))))
    }

    /// Installs the state of a prepared write once the store answered it (`written`).
    pub(super) fn committed(&mut self, prepared: Prepared, written: Result<(), StoreError>) -> Result<(), EngineError> {
        let Prepared { id, events, next, header, .. } = prepared;
        if let Err(e) = written {
            if self.lost_by(&e) {
                // Another replica drives the release now: forget it, never write for it again. (Its log
                // moved on without this engine — a commit whose answer was lost with the connection — while
                // the lease may still be this replica's: given up, so a claim loads the log again.)
                self.lose(id, &e.to_string());
                if matches!(e, StoreError::SequenceConflict { .. }) {
                    let replicas = self.replicas.clone();
                    tokio::spawn(async move {
                        if let Err(e) = replicas.give_up(id).await {
                            tracing::warn!(release = %id, error = %e, "cannot give the lease up");
                        }
                    });
                }
                return Err(EngineError::Conflict(format!("release {id} is driven by another replica now")));
            }
            self.publish(id);
            return Err(internal(e));
        }
        let mut before = None;
        if let Some(active) = self.releases.get_mut(&id) {
            let created = active.next_seq == 0;
            active.next_seq += events.len() as i64;
            active.stored = Some(header);
            before = self.releases.set_state(id, next.clone()).map(|state| (state, created));
        }
        if let Some((before, created)) = before {
            self.observe(&before, &next, &events, created);
        }
        self.start_auto_rollbacks(id, &events);
        Ok(())
    }

    /// Shares the state of release `id` with readers.
    pub(super) fn publish(&self, id: ReleaseId) {
        if let Some(active) = self.releases.get(&id) {
            self.live.insert(id, active.state.clone());
        }
    }

    /// Live application rows changed by `events`.
    fn app_state_rows(&self, state: &ReleaseState, events: &[ReleaseEvent]) -> Vec<AppStateRow> {
        let mut touched: Vec<(EnvName, AppName)> = Vec::new();
        for event in events {
            match event {
                ReleaseEvent::AppObserved { env, app, .. }
                | ReleaseEvent::AppGatePassed { env, app, .. }
                | ReleaseEvent::AppSucceeded { env, app, .. } => touched.push((env.clone(), app.clone())),
                ReleaseEvent::ActionCommitted { env, apps, .. } | ReleaseEvent::ActionUnchanged { env, apps, .. } => {
                    touched.extend(apps.iter().map(|a| (env.clone(), a.clone())))
                }
                _ => {}
            }
        }
        touched.sort();
        touched.dedup();
        let snap = state.snapshot();
        touched
            .into_iter()
            .filter_map(|(env, app)| {
                let es = snap.environment(&env)?;
                let a = es.applications.iter().find(|a| a.name == app)?;
                let st = state.environment(&env)?.app(&app)?;
                let obs = st.observation.as_ref();
                let version = state.app_version(&env, &app).map(str::to_owned);
                let revision = obs
                    .and_then(|o| o.revision.as_ref().map(|r| r.to_string()))
                    .or_else(|| st.action.as_ref().and_then(|x| x.commit.as_ref().map(|c| c.to_string())))
                    .or_else(|| es.is_trigger.then(|| a.source_revision.as_ref().map(|r| r.to_string())).flatten());
                // A release does not observe its trigger environment: what the trigger check saw at
                // the same revision is the live state.
                let seen = self.trigger_seen.get(&app).filter(|o| {
                    obs.is_none() && es.is_trigger && o.revision.as_ref().map(|r| r.to_string()) == revision
                });
                let (sync, health, message) = match (obs, seen) {
                    (Some(o), _) => (o.sync.as_str(), o.health.as_str(), o.message.clone()),
                    (None, Some(o)) => (o.sync.as_str(), o.health.as_str(), o.message.clone()),
                    (None, None) => ("Unknown", "Unknown", None),
                };
                Some(AppStateRow {
                    application: app.to_string(),
                    product: snap.product.to_string(),
                    environment: env.to_string(),
                    component: a.component.to_string(),
                    version,
                    revision,
                    sync: sync.to_owned(),
                    health: health.to_owned(),
                    message,
                    release_id: Some(state.id().to_string()),
                    updated_at: self.ports.clock.now(),
                })
            })
            .collect()
    }

    /// Records `events` (skipping any the state rejects) together with what the planner decides on
    /// them, in one commit, then hands out the work (see [`Engine::drive_with`]).
    pub(super) async fn record(&mut self, id: ReleaseId, events: Vec<ReleaseEvent>) {
        self.drive_with(id, events).await;
    }

    /// Commits again what failed commits left unrecorded (the store was unreachable), oldest release
    /// first; called periodically.
    pub(super) async fn record_unrecorded(&mut self) {
        let ids: Vec<ReleaseId> =
            self.releases.iter().filter(|(_, a)| !a.unrecorded.is_empty()).map(|(id, _)| *id).collect();
        for id in ids {
            self.drive(id).await;
        }
    }

    /// Plans release `id` until nothing new is decided, commits the decisions, then starts the work.
    pub(super) async fn drive(&mut self, id: ReleaseId) {
        self.drive_with(id, Vec::new()).await;
    }

    /// Applies `recorded` events (what happened), plans on top of them (what Ferry decides), commits
    /// both in one store write and only then hands out the work the decisions call for.
    async fn drive_with(&mut self, id: ReleaseId, recorded: Vec<ReleaseEvent>) {
        self.drive_many(vec![(id, recorded)]).await;
    }

    /// [`Engine::drive_with`] for several distinct releases at once: each is planned on its own, their
    /// writes go to the store together (one transaction where the store groups them, one durable
    /// commit), and each release's work is handed out once its write is durable.
    pub(super) async fn drive_many(&mut self, batch: Vec<(ReleaseId, Vec<ReleaseEvent>)>) {
        let mut planned: Vec<PlannedStep> = Vec::with_capacity(batch.len());
        let mut ending = HashSet::new();
        for (id, recorded) in batch {
            if let Some(step) = self.plan_step(id, recorded, &ending) {
                if step.ends() {
                    ending.insert(id);
                }
                planned.push(step);
            }
        }
        self.plan_successors(&mut planned, &mut ending);
        // What needs no write goes on at once; the others are prepared and written together.
        let mut waiting = Vec::new();
        let mut writes = Vec::new();
        let mut ready = Vec::new();
        for step in planned {
            let PlannedStep { id, may_start, events, happened, next, claim } = step;
            if events.is_empty() {
                ready.push((id, may_start));
                continue;
            }
            let unrecorded = events[..happened].to_vec();
            match self.prepare(id, events, next) {
                Ok((prepared, mut write)) => {
                    if let Write::Release(w) = &mut write {
                        w.turn = claim;
                    }
                    writes.push(write);
                    waiting.push((prepared, unrecorded, may_start));
                }
                Err(e) => self.unrecorded(id, unrecorded, &e),
            }
        }
        // Releases driven again at once: refused their turn with something to record, then those
        // that may start because one of these ended.
        let mut again = Vec::new();
        if !writes.is_empty() {
            let mut outcomes = self.write_together(writes).await.into_iter();
            for (prepared, unrecorded, may_start) in waiting {
                let id = prepared.id;
                let written = outcomes.next().unwrap_or_else(|| Err(no_outcome()));
                let turn_taken = matches!(written, Err(StoreError::TurnTaken { .. }));
                match self.committed(prepared, written) {
                    Ok(()) => ready.push((id, may_start)),
                    // A release whose turn another replica's release holds stays queued until the next
                    // lease round; what happened to it meanwhile is recorded without starting it.
                    Err(_) if turn_taken => {
                        self.turn_refused.insert(id);
                        if let Some(active) = self.releases.get_mut(&id) {
                            active.unrecorded = unrecorded;
                            if !active.unrecorded.is_empty() {
                                again.push(id);
                            }
                        }
                    }
                    Err(e) => self.unrecorded(id, unrecorded, &e),
                }
            }
        }
        // Work is handed out only once the decisions are durable; releases that may start because
        // one of these ended are driven together next.
        for (id, may_start) in ready {
            self.hand_out(id, may_start);
            if let Some(queued) = self.after_finish(id)
                && !again.contains(&queued)
            {
                again.push(queued);
            }
        }
        if !again.is_empty() {
            Box::pin(self.drive_many(again.into_iter().map(|id| (id, Vec::new())).collect())).await;
        }
    }

    /// Sends `writes` to the store in one call: one outcome per write, in their order.
    pub(super) async fn write_together(&self, writes: Vec<Write>) -> Vec<Result<(), StoreError>> {
        let count = writes.len();
        match self.store.write(writes).await {
            Ok(outcomes) => outcomes.into_iter().map(|o| o.map(|_| ())).collect(),
            Err(e) => (0..count)
                .map(|_| Err(StoreError::Internal { doing: "writing releases", detail: e.to_string() }))
                .collect(),
        }
    }

    /// Plans, into the same write, the queued release of a product that may start because a release
    /// planned in this write ends (and so on, up to [`super::MSG_BATCH`] releases): a queue whose
    /// releases need no outside work drains in one durable commit. On a replica, the write of each
    /// such release takes the product's turn in the same transaction ([`TurnClaim`]).
    fn plan_successors(&mut self, planned: &mut Vec<PlannedStep>, ending: &mut HashSet<ReleaseId>) {
        let mut i = 0;
        while i < planned.len() && planned.len() < super::MSG_BATCH {
            if planned[i].ends() {
                let product = planned[i].next.snapshot().product.clone();
                // The oldest release of the product not started before this write and not planned in
                // it yet (a release started in this write still reads as queued in `releases`).
                let successor = self
                    .releases
                    .of_product(&product)
                    .find(|(id, a)| a.state.started_at().is_none() && !planned.iter().any(|p| p.id == *id))
                    .map(|(id, _)| id);
                if let Some(id) = successor
                    && let Some(step) = self.plan_step(id, Vec::new(), ending)
                {
                    if step.ends() {
                        ending.insert(id);
                    }
                    planned.push(step);
                }
            }
            i += 1;
        }
    }

    /// Keeps what happened to release `id` for the next attempt after its write failed (unless the
    /// release is another replica's now); the decisions are planned again then. Nothing is acted on
    /// before it is durable.
    fn unrecorded(&mut self, id: ReleaseId, unrecorded: Vec<ReleaseEvent>, error: &EngineError) {
        tracing::error!(release = %id, error = %error, "cannot record release events; trying again later");
        if let Some(active) = self.releases.get_mut(&id) {
            active.unrecorded = unrecorded;
        }
    }

    /// Applies `recorded` to release `id` and plans on top until nothing new is decided; releases in
    /// `ending` end in the same write and hold no queue. A queued release that this step starts takes
    /// its product's turn across replicas in the same write ([`TurnClaim`]).
    fn plan_step(
        &mut self,
        id: ReleaseId,
        recorded: Vec<ReleaseEvent>,
        ending: &HashSet<ReleaseId>,
    ) -> Option<PlannedStep> {
        let may_start = self.may_start(id, ending);
        let needs_turn = may_start && self.needs_turn(id);
        let catalog = self.catalog.clone();
        let workflows = &catalog.workflows;
        let freezes = self.freezes.clone();
        let freezes = &*freezes;
        let active = self.releases.get_mut(&id)?;
        // What a failed commit left unrecorded goes first, in the order it happened.
        let mut pending = std::mem::take(&mut active.unrecorded);
        pending.extend(recorded);
        let mut next = ReleaseState::clone(&active.state);
        let mut events = Vec::with_capacity(pending.len());
        for event in pending {
            match next.apply(&event) {
                Ok(()) => events.push(event),
                Err(e) => tracing::warn!(release = %id, error = %e, "event rejected"),
            }
        }
        let happened = events.len();
        let in_flight = active.in_flight.clone();
        for _ in 0..64 {
            let input = PlanInput { now: self.ports.clock.now(), may_start, in_flight: &in_flight, workflows, freezes };
            let steps = plan(&next, &input, &mut || self.ports.clock.new_id());
            let mut applied = false;
            for step in steps {
                let decided = match step {
                    Step::Emit(event) => vec![event],
                    // A gate whose answer is known without waiting (an exec application without
                    // commands) passes in this step: there is nothing to hand out.
                    Step::Do(Work::Watch { env, app })
                        if !in_flight.contains(&Work::Watch { env: env.clone(), app: app.clone() }.key()) =>
                    {
                        self.settled_gate(&next, &env, &app).map(Vec::from).unwrap_or_default()
                    }
                    Step::Do(_) => Vec::new(),
                };
                for event in decided {
                    match next.apply(&event) {
                        Ok(()) => {
                            applied = true;
                            events.push(event);
                        }
                        Err(e) => tracing::debug!(release = %id, error = %e, "planned event not applicable yet"),
                    }
                }
            }
            if !applied {
                break;
            }
        }
        let claim = (needs_turn && next.started_at().is_some()).then(|| self.turn_claim(id, ending));
        Some(PlannedStep { id, may_start, events, happened, next, claim })
    }

    /// Hands out the work the committed state of release `id` calls for.
    fn hand_out(&mut self, id: ReleaseId, may_start: bool) {
        let catalog = self.catalog.clone();
        let Some(active) = self.releases.get(&id) else { return };
        let freezes = self.freezes.clone();
        let input = PlanInput {
            now: self.ports.clock.now(),
            may_start,
            in_flight: &active.in_flight,
            workflows: &catalog.workflows,
            freezes: &freezes,
        };
        let work: Vec<Work> = plan(&active.state, &input, &mut || self.ports.clock.new_id())
            .into_iter()
            .filter_map(|s| match s {
                Step::Do(w) => Some(w),
                Step::Emit(_) => None,
            })
            .collect();
        for w in work {
            self.dispatch(id, w);
        }
    }
}

/// The error for a write the store gave no answer for.
pub(super) fn no_outcome() -> StoreError {
    StoreError::Internal { doing: "writing a release", detail: "the store returned no outcome".into() }
}

/// The environments that reached Successful or Failed between `before` and `next`, as rows of the
/// DORA projection.
fn outcome_rows(before: &ReleaseState, next: &ReleaseState, now: jiff::Timestamp) -> Vec<OutcomeRow> {
    let product = next.snapshot().product.to_string();
    ferry_model::dora::outcomes(before, next, now)
        .into_iter()
        .map(|o| OutcomeRow {
            release_id: next.id().to_string(),
            product: product.clone(),
            environment: o.environment.to_string(),
            flow: o.flow,
            attempt: i64::from(o.attempt),
            status: o.status.as_str().to_owned(),
            after_action: o.after_action,
            committed_at: o.committed_at,
            at: o.at,
        })
        .collect()
}

/// A release's events planned in one step, not yet durable.
struct PlannedStep {
    id: ReleaseId,
    may_start: bool,
    /// What happened, then what the planner decided on it.
    events: Vec<ReleaseEvent>,
    /// How many of `events` happened (kept for the next attempt when the write fails).
    happened: usize,
    next: ReleaseState,
    /// The product's turn its write takes (a queued release starting on a replica).
    claim: Option<TurnClaim>,
}

impl PlannedStep {
    /// Whether the release has ended once this step is written.
    fn ends(&self) -> bool {
        self.next.finished_at().is_some() || self.next.terminated_at().is_some()
    }
}

/// A release write built and its state shared with readers, waiting for the store's answer.
pub(super) struct Prepared {
    pub(super) id: ReleaseId,
    events: Vec<ReleaseEvent>,
    next: std::sync::Arc<ReleaseState>,
    header: super::active::ViewHeader,
}
