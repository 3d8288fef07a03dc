//! Scheduling: the flow timeout (one timer on the earliest deadline), per-product concurrency
//! (a queue with a limit, or terminating older releases) and workflow-run supersession.

use std::collections::{HashMap, HashSet};

use ferry_model::names::{EnvName, ProductName, ReleaseId};
use ferry_model::release::{ReleaseState, RunId};
use ferry_model::resources::Concurrency;
use ferry_store::Store;
use jiff::Timestamp;

use super::replicas::Other;
use super::{Engine, find_run};

impl<S: Store> Engine<S> {
    /// Terminates releases whose flow timeout passed, and plans again those whose freeze window ended.
    pub(super) async fn check_deadlines(&mut self) {
        let now = self.ports.clock.now();
        for id in self.releases.woken(now) {
            self.drive(id).await;
        }
        let due: Vec<(ReleaseId, String)> = self
            .releases
            .due(now)
            .map(|(id, a)| {
                (id, format!("timed out after {}", ferry_model::format_duration(a.state.snapshot().timeout)))
            })
            .collect();
        for (id, reason) in due {
            if let Err(e) = self.request_termination(id, reason, "ferry".into()).await {
                tracing::error!(release = %id, error = %e, "cannot terminate a release that timed out");
            }
        }
    }

    /// The earliest flow deadline or freeze window end among active releases.
    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        match (self.releases.next_deadline(), self.releases.next_wake()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sleeps until the earliest flow deadline or freeze window end by the engine's clock (forever when
    /// there is none).
    pub(super) fn sleep_until_deadline(&self) -> crate::ports::BoxFuture<'static, ()> {
        match self.next_deadline() {
            Some(at) => self.ports.clock.sleep_until(at),
            None => Box::pin(std::future::pending()),
        }
    }

    /// Applies the product's concurrency mode to a release just created (SPEC §3.9). `read` keeps the
    /// other replicas' active releases of each product read for releases created together (one read
    /// per product, after their common write).
    pub(super) async fn enforce_concurrency(&mut self, id: ReleaseId, read: &mut HashMap<ProductName, Vec<Other>>) {
        let Some(active) = self.releases.get(&id) else { return };
        let product = active.state.snapshot().product.clone();
        let mode = self.catalog.products.get(&product).map(|p| p.concurrency).unwrap_or_default();
        if !read.contains_key(&product) {
            let others = self.others_of(&product, id).await;
            read.insert(product.clone(), others);
        }
        let Some(active) = self.releases.get(&id) else { return };
        let others = read.get(&product).map(Vec::as_slice).unwrap_or_default();
        let doomed: Vec<(ReleaseId, String)> = match mode {
            Concurrency::Queue => {
                let mut queued: Vec<ReleaseId> = self
                    .releases
                    .of_product(&product)
                    .filter(|(_, a)| a.state.started_at().is_none() && a.state.terminate_request().is_none())
                    .map(|(id, _)| id)
                    .collect();
                // Other replicas' releases of the product count too.
                queued.extend(others.iter().filter(|o| o.status == "Queued").map(|o| o.id));
                queued.sort();
                let running = others.iter().any(|o| o.status != "Queued")
                    || self
                        .releases
                        .of_product(&product)
                        .any(|(_, a)| a.state.started_at().is_some() && a.state.finished_at().is_none());
                // The one that will start next is not waiting in the queue.
                let waiting = if running { queued.len() } else { queued.len().saturating_sub(1) };
                let overflow = waiting.saturating_sub(self.config.queue_limit);
                queued.into_iter().take(overflow).map(|old| (old, "queue overflow".to_owned())).collect()
            }
            Concurrency::Terminate => {
                let targets: Vec<EnvName> = active
                    .state
                    .snapshot()
                    .environments
                    .iter()
                    .filter(|e| !e.is_trigger)
                    .map(|e| e.name.clone())
                    .collect();
                let older = self.releases.of_product(&product).filter(|(other, a)| {
                    *other < id
                        && a.state.finished_at().is_none()
                        && a.state.terminate_request().is_none()
                        && targets.iter().any(|env| {
                            a.state.env_status(env).is_some_and(|s| s != ferry_model::status::EnvStatus::Successful)
                        })
                });
                // Other replicas' releases of the product, by their stored environment statuses.
                let shares_target = |o: &Other| {
                    targets.iter().any(|env| {
                        o.environments.get(env.as_str()).and_then(|s| s.as_str()).is_some_and(|s| s != "Successful")
                    })
                };
                // A newer release created on another replica that read the product's releases before
                // this one was stored never saw it: this one gives way. (Each release reads after its
                // own write, so of two concurrent ones at least one sees the other.)
                match others.iter().filter(|o| o.id > id && shares_target(o)).map(|o| o.id).max() {
                    Some(newer) => vec![(id, format!("superseded by release {newer}"))],
                    None => {
                        let elsewhere = others.iter().filter(|o| o.id < id && shares_target(o)).map(|o| o.id);
                        older
                            .map(|(old, _)| old)
                            .chain(elsewhere)
                            .map(|old| (old, format!("superseded by release {id}")))
                            .collect()
                    }
                }
            }
        };
        // Releases created with this one do not terminate them again.
        if let Some(others) = read.get_mut(&product) {
            others.retain(|o| !doomed.iter().any(|(old, _)| *old == o.id));
        }
        for (old, reason) in doomed {
            self.terminate_anywhere(old, reason).await;
        }
    }

    /// Whether release `id` may leave the queue: in `queue` mode, no older release of its product is
    /// still active (those in `ending` end in the write being planned) and its turn was not refused
    /// since the last lease round; in `terminate` mode at once (older ones are being terminated).
    pub(super) fn may_start(&self, id: ReleaseId, ending: &HashSet<ReleaseId>) -> bool {
        if self.turn_refused.contains(&id) {
            return false;
        }
        let Some(active) = self.releases.get(&id) else { return false };
        let product = &active.state.snapshot().product;
        if self.catalog.products.get(product).is_some_and(|p| p.concurrency == Concurrency::Terminate) {
            return true;
        }
        !self.older_elsewhere(id, product)
            && !self.releases.of_product(product).any(|(other, a)| {
                other < id
                    && a.state.finished_at().is_none()
                    && a.state.terminated_at().is_none()
                    && !ending.contains(&other)
            })
    }

    /// Whether release `id` must take its product's turn across replicas before it starts: a
    /// queue-mode release that has not started, on a replica (a sole engine's queue is its own).
    pub(super) fn needs_turn(&self, id: ReleaseId) -> bool {
        if self.replicas.is_sole() {
            return false;
        }
        let Some(active) = self.releases.get(&id) else { return false };
        let state = &active.state;
        if state.started_at().is_some() || state.finished_at().is_some() || state.terminated_at().is_some() {
            return false;
        }
        let product = &state.snapshot().product;
        !self.catalog.products.get(product).is_some_and(|p| p.concurrency == Concurrency::Terminate)
    }

    /// The turn claim of release `id` starting in the write where the releases in `ending` end (those
    /// of its product count as ended).
    pub(super) fn turn_claim(&self, id: ReleaseId, ending: &HashSet<ReleaseId>) -> ferry_store::TurnClaim {
        let product = self.releases.get(&id).map(|a| a.state.snapshot().product.clone());
        let ending = ending
            .iter()
            .filter(|e| self.releases.get(e).map(|a| &a.state.snapshot().product) == product.as_ref())
            .map(ToString::to_string)
            .collect();
        ferry_store::TurnClaim { ending }
    }

    /// Drops release `id` from memory once it ended and nothing of it is in flight; returns the
    /// product's next queued release, for the caller to drive.
    pub(super) fn after_finish(&mut self, id: ReleaseId) -> Option<ReleaseId> {
        let active = self.releases.get(&id)?;
        let done = active.state.finished_at().is_some() || active.state.terminated_at().is_some();
        if !done || !active.in_flight.is_empty() {
            return None;
        }
        let product = active.state.snapshot().product.clone();
        self.releases.remove(&id);
        self.live.remove(id);
        self.releases.of_product(&product).find(|(_, a)| a.state.started_at().is_none()).map(|(id, _)| id)
    }

    /// A newer run of the same workflow for the same application and environment terminates the
    /// earlier one that is still running (SPEC §3.9).
    pub(super) fn supersede(&mut self, id: ReleaseId, state: &ReleaseState, run_id: RunId) {
        let Some(run) = find_run(state, run_id) else { return };
        let (Some(env), Some(app)) = (run.target.env(), run.target.app()) else { return };
        let slot = (run.workflow.to_string(), env.to_string(), app.to_string());
        if let Some((old_release, old_run)) = self.slots.insert(slot, (id, run_id))
            && old_run != run_id
            && let Ok(controls) = self.controls.lock()
            && let Some(control) = controls.get(&old_run)
        {
            control
                .terminate(format!("superseded by a newer run of {} for {app} in {env} (release {id})", run.workflow));
            tracing::info!(release = %old_release, run = %old_run, "workflow run superseded");
        }
    }
}
