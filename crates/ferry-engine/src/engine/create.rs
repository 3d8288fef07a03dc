//! Creating releases: a promote request is parsed, its snapshot built off the actor, then the
//! release is committed, queued or started, and driven.

use ferry_model::names::{ProductName, ReleaseId};
use ferry_model::release::{ReleaseEvent, ReleaseState};
use ferry_store::Store;

use super::{Active, Created, Engine, internal};
use crate::handle::{EngineError, PromoteRequest, PromoteScope, Promoted};
use crate::snapshot::{FlowChoice, build_snapshot};

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
            Ok((product, choice))
        })();
        let (product, choice): (ProductName, FlowChoice) = match parsed {
            Ok(v) => v,
            Err(e) => {
                let _ = reply.send(Err(e));
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

    pub(super) async fn handle_created(&mut self, created: Created) {
        let Created { result, reply, auto } = created;
        let (id, snapshot) = match result {
            Ok(v) => v,
            Err(e) => {
                if let Some(product) = auto {
                    self.product_event(&product, "release-not-created", format!("no release was created: {e}")).await;
                }
                let _ = reply.send(Err(e));
                return;
            }
        };
        let at = self.ports.clock.now();
        let state = match ReleaseState::new(id, snapshot.clone(), at) {
            Ok(s) => s,
            Err(e) => {
                let _ = reply.send(Err(internal(e)));
                return;
            }
        };
        let event = ReleaseEvent::Created { id, snapshot: Box::new(snapshot), at };
        self.releases.insert(id, Active::new(state.clone(), 0));
        if let Err(e) = self.commit(id, vec![event], state).await {
            self.releases.remove(&id);
            let _ = reply.send(Err(e));
            return;
        }
        let _ = reply.send(Ok(Promoted { release: id }));
        self.enforce_concurrency(id).await;
        self.drive(id).await;
    }
}
