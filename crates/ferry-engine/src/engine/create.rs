//! Creating releases: a promote request is parsed, its snapshot built off the actor, then the
//! release is committed, queued or started, and driven.

use ferry_model::names::{ProductName, ReleaseId};
use ferry_model::release::{ReleaseEvent, ReleaseState};
use ferry_store::Store;

use super::drive::no_outcome;
use super::{Active, Created, Engine, internal};
use crate::handle::{EngineError, PromoteRequest, PromoteScope, Promoted};
use crate::rollback::{self, RollbackRequest};
use crate::snapshot::{FlowChoice, build_snapshot};

/// What a parsed promote request creates.
enum Choice {
    /// A release whose snapshot is built from the configuration and git.
    Snapshot(FlowChoice),
    /// A rollback, built from an earlier release's snapshot.
    Rollback(RollbackRequest),
}

impl<S: Store> Engine<S> {
    pub(super) fn promote(
        &mut self,
        request: PromoteRequest,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<Promoted, EngineError>>,
    ) {
        let parsed = (|| {
            let PromoteRequest { product, scope } = request;
            let prod =
                self.catalog.products.get(&product).ok_or_else(|| {
                    EngineError::NotFound(format!("product {:?} is not configured", product.as_str()))
                })?;
            let choice = match scope {
                PromoteScope::Rollback { env, to, reason } => {
                    let automatic = false;
                    return Ok((
                        product.clone(),
                        Choice::Rollback(RollbackRequest { product, env, to, reason, automatic }),
                    ));
                }
                PromoteScope::Environment { from, to } => FlowChoice::Manual { from, to },
                PromoteScope::Flow(flow) => {
                    if !self.catalog.flows.contains_key(&flow) {
                        return Err(EngineError::NotFound(format!("flow {:?} is not configured", flow.as_str())));
                    }
                    FlowChoice::Flow(flow)
                }
                PromoteScope::FirstFlow => match prod.promotion_flows.first() {
                    Some(sel) => FlowChoice::Flow(sel.flow.clone()),
                    None => {
                        return Err(EngineError::Invalid {
                            message: format!("product {product} has no promotion flows; name one"),
                            details: Vec::new(),
                        });
                    }
                },
            };
            Ok((product, Choice::Snapshot(choice)))
        })();
        let (product, choice): (ProductName, Choice) = match parsed {
            Ok(v) => v,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let choice = match choice {
            Choice::Snapshot(choice) => choice,
            Choice::Rollback(request) => {
                let id = ReleaseId(self.ports.clock.new_id());
                self.create_rollback(id, request, actor, reply, None);
                return;
            }
        };
        let (git, catalog, tx) = (self.ports.git.clone(), self.catalog.clone(), self.creating.clone());
        let id = ReleaseId(self.ports.clock.new_id());
        tokio::spawn(async move {
            let result =
                tokio::task::spawn_blocking(move || build_snapshot(&*git, &catalog, &product, &choice, &actor))
                    .await
                    .unwrap_or_else(|e| Err(internal(e)))
                    .map(|snapshot| (id, snapshot));
            let _ = tx.send(Created { result, reply, auto: None });
        });
    }

    /// Creates rollback release `id` as `request` asks: its target is read from the store and its
    /// snapshot built off the engine, then it is created like any release. `auto`: the product of an
    /// automatic rollback, whose failure to be created is recorded as a product event.
    pub(super) fn create_rollback(
        &mut self,
        id: ReleaseId,
        request: RollbackRequest,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<Promoted, EngineError>>,
        auto: Option<String>,
    ) {
        let (store, catalog, tx) = (self.store.clone(), self.catalog.clone(), self.creating.clone());
        tokio::spawn(async move {
            let result = rollback::prepare(&store, &catalog, request, &actor).await.map(|snapshot| (id, snapshot));
            let _ = tx.send(Created { result, reply, auto });
        });
    }

    /// Starts the rollbacks that the committed `events` of release `failed` record (SPEC §10,
    /// `policy.autoRollback`): each restores the last release Successful in its environment before.
    pub(super) fn start_auto_rollbacks(&mut self, failed: ReleaseId, events: &[ReleaseEvent]) {
        let Some(product) = self.releases.get(&failed).map(|a| a.state.snapshot().product.clone()) else { return };
        for event in events {
            let ReleaseEvent::RollbackStarted { env, release, .. } = event else { continue };
            tracing::info!(release = %failed, env = %env, rollback = %release, "starting an automatic rollback");
            let request = RollbackRequest {
                product: product.clone(),
                env: env.clone(),
                to: None,
                reason: Some(format!("{env} failed after the promotion of release {failed}")),
                automatic: true,
            };
            let (reply, _) = tokio::sync::oneshot::channel();
            self.create_rollback(
                *release,
                request,
                "ferry (auto-rollback)".to_owned(),
                reply,
                Some(product.to_string()),
            );
        }
    }

    /// Commits the releases whose snapshots are built (`batch`, in the order they came): their
    /// `Created` events in one store write, then each one's concurrency rule, then the releases are
    /// driven together.
    pub(super) async fn handle_created(&mut self, batch: Vec<Created>) {
        let mut waiting = Vec::with_capacity(batch.len());
        let mut writes = Vec::with_capacity(batch.len());
        for Created { result, reply, auto } in batch {
            let (id, snapshot) = match result {
                Ok(v) => v,
                Err(e) => {
                    if let Some(product) = auto {
                        self.product_event(&product, "release-not-created", format!("no release was created: {e}"))
                            .await;
                    }
                    let _ = reply.send(Err(e));
                    continue;
                }
            };
            let at = self.ports.clock.now();
            let state = match ReleaseState::new(id, snapshot.clone(), at) {
                Ok(s) => s,
                Err(e) => {
                    let _ = reply.send(Err(internal(e)));
                    continue;
                }
            };
            let event = ReleaseEvent::Created { id, snapshot: Box::new(snapshot), at };
            self.releases.insert(id, Active::new(state.clone(), 0));
            match self.prepare(id, vec![event], state) {
                Ok((prepared, write)) => {
                    writes.push(write);
                    waiting.push((prepared, reply));
                }
                Err(e) => {
                    self.forget_new(id);
                    let _ = reply.send(Err(e));
                }
            }
        }
        if writes.is_empty() {
            return;
        }
        let mut outcomes = self.write_together(writes).await.into_iter();
        let mut created = Vec::with_capacity(waiting.len());
        for (prepared, reply) in waiting {
            let id = prepared.id;
            let written = outcomes.next().unwrap_or_else(|| Err(no_outcome()));
            match self.committed(prepared, written) {
                Ok(()) => {
                    let _ = reply.send(Ok(Promoted { release: id }));
                    created.push(id);
                }
                Err(e) => {
                    self.forget_new(id);
                    let _ = reply.send(Err(e));
                }
            }
        }
        let mut read = std::collections::HashMap::new();
        for id in &created {
            self.enforce_concurrency(*id, &mut read).await;
        }
        self.drive_many(created.into_iter().map(|id| (id, Vec::new())).collect()).await;
    }

    /// Forgets release `id` whose `Created` event was never written.
    fn forget_new(&mut self, id: ReleaseId) {
        self.releases.remove(&id);
        self.live.remove(id);
    }
}
