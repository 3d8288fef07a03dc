//! Automatic triggers in the engine: baselines of trigger applications, starting checks, and
//! turning their outcomes into product events or new releases (the checks are `crate::triggers`).

use ferry_model::names::{AppName, ReleaseId};
use ferry_model::resources::{Application, TriggerFacts};
use ferry_store::{Store, Write, WriteOutcome};
use tokio::sync::watch;

use super::{Created, Engine, internal};
use crate::snapshot::{FlowChoice, build_snapshot};
use crate::triggers::{TriggerCheck, TriggerOutcome, check, released_key, seen_key, trigger_apps};

impl<S: Store> Engine<S> {
    /// Records the current commit of every trigger application seen for the first time, so that only
    /// commits made after the configuration was applied trigger releases.
    pub(super) async fn record_baselines(&mut self) {
        let mut missing: Vec<Application> = Vec::new();
        for app in trigger_apps(&self.catalog) {
            match self.store.kv_get(&seen_key(&app.name)).await {
                Ok(Some(_)) => {}
                Ok(None) => missing.push(app.clone()),
                Err(e) => tracing::warn!(error = %e, "cannot read a trigger baseline"),
            }
        }
        if missing.is_empty() {
            return;
        }
        // One fetch per repository, then each application's last commit from the mirror: a
        // configuration of thousands of products in a few repositories costs a few fetches.
        let git = self.ports.git.clone();
        let sources: Vec<ferry_model::resources::AppSource> = missing.iter().map(|a| a.source.clone()).collect();
        let found = tokio::task::spawn_blocking(move || {
            let mut fetched: std::collections::HashMap<String, Result<(), String>> = std::collections::HashMap::new();
            sources
                .iter()
                .map(|source| {
                    fetched
                        .entry(source.repo_url.clone())
                        .or_insert_with(|| git.fetch(&source.repo_url).map_err(|e| e.to_string()))
                        .clone()?;
                    git.last_commit_touching(&source.repo_url, &source.target_revision, &source.path)
                        .map_err(|e| e.to_string())
                })
                .collect::<Vec<_>>()
        })
        .await;
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "trigger baseline task failed");
                return;
            }
        };
        let mut writes = Vec::new();
        for (app, result) in missing.iter().zip(found) {
            match result {
                Ok(Some(commit)) => writes.push(Write::Kv { key: seen_key(&app.name), value: commit.sha.to_string() }),
                Ok(None) => {}
                Err(e) => {
                    self.product_event(
                        app.product.as_str(),
                        "trigger-check-failed",
                        format!("cannot read {}: {e}", app.name),
                    )
                    .await
                }
            }
        }
        if !writes.is_empty()
            && let Err(e) = self.store.write(writes).await
        {
            tracing::warn!(error = %e, "cannot store trigger baselines");
        }
    }

    /// Starts a trigger check of `app`; when one is under way, another follows it.
    pub(super) fn start_check(&mut self, app: AppName) {
        let Some(application) = self.catalog.applications.get(&app).cloned() else { return };
        if !self.checking.insert(app.clone()) {
            self.recheck.insert(app);
            return;
        }
        let asked = std::time::Instant::now();
        let pushed = self.pushed.entry(app.clone()).or_insert_with(|| watch::channel(None).0).subscribe();
        let (store, git, tx) = (self.store.clone(), self.ports.git.clone(), self.triggers.clone());
        let (status, clock) = (self.ports.status.clone(), self.ports.clock.clone());
        tokio::spawn(async move {
            let seen = match store.kv_get(&seen_key(&app)).await {
                Ok(seen) => seen,
                Err(e) => {
                    let _ = tx.send((app, TriggerOutcome::Failed { error: e.to_string() }));
                    return;
                }
            };
            let product = application.product.to_string();
            let env = application.environment.to_string();
            let notify_store = store.clone();
            let job = TriggerCheck { app: application, seen, pushed, asked };
            let outcome = check(job, git, status, |commit| {
                let message = format!(
                    "commit {} \"{}\" is waiting for trigger environment {env} to be synced and healthy",
                    commit.sha.short(),
                    commit.subject()
                );
                let write = Write::ProductEvent {
                    product,
                    kind: "waiting-for-trigger-environment".into(),
                    message,
                    at: clock.now(),
                };
                tokio::spawn(async move {
                    let _ = notify_store.write(vec![write]).await;
                });
            })
            .await;
            let _ = tx.send((app, outcome));
        });
    }

    pub(super) async fn product_event(&self, product: &str, kind: &str, message: String) {
        let write = Write::ProductEvent {
            product: product.to_owned(),
            kind: kind.to_owned(),
            message,
            at: self.ports.clock.now(),
        };
        if let Err(e) = self.store.write(vec![write]).await {
            tracing::warn!(error = %e, "cannot store a product event");
        }
    }

    pub(super) async fn handle_trigger(&mut self, app: AppName, outcome: TriggerOutcome) {
        self.handle_trigger_outcome(&app, outcome).await;
        self.checking.remove(&app);
        if self.recheck.remove(&app) {
            self.start_check(app);
        }
    }

    async fn handle_trigger_outcome(&mut self, app: &AppName, outcome: TriggerOutcome) {
        let app = app.clone();
        let Some(application) = self.catalog.applications.get(&app).cloned() else { return };
        let product = application.product.to_string();
        let remember = |sha: String| Write::Kv { key: seen_key(&app), value: sha };
        match outcome {
            TriggerOutcome::Unchanged => {}
            TriggerOutcome::Baseline { sha } => {
                if let Err(e) = self.store.write(vec![remember(sha)]).await {
                    tracing::warn!(error = %e, "cannot store a trigger baseline");
                }
            }
            TriggerOutcome::Failed { error } => {
                self.product_event(
                    &product,
                    "trigger-check-failed",
                    format!("checking {app} for new commits failed: {error}"),
                )
                .await;
            }
            TriggerOutcome::NotHealthy { commit, message, observed } => {
                let mut writes = vec![remember(commit.sha.to_string())];
                if let Some(o) = observed {
                    self.trigger_seen.insert(app.clone(), o.clone());
                    writes.push(Write::AppStates(vec![live_row(&application, o, self.ports.clock.now())]));
                }
                let _ = self.store.write(writes).await;
                self.product_event(
                    &product,
                    "trigger-environment-unhealthy",
                    format!(
                        "commit {} did not become healthy in {}: {message}; no release",
                        commit.sha.short(),
                        application.environment
                    ),
                )
                .await;
            }
            TriggerOutcome::Ready { commit, observed } => {
                // What the check saw is the trigger environment's live state, release or not.
                if let Some(o) = observed {
                    self.trigger_seen.insert(app.clone(), o.clone());
                    if let Err(e) = self
                        .store
                        .write(vec![Write::AppStates(vec![live_row(&application, o, self.ports.clock.now())])])
                        .await
                    {
                        tracing::warn!(error = %e, "cannot store a trigger application's state");
                    }
                }
                let Some(prod) = self.catalog.products.get(&application.product) else { return };
                let facts = TriggerFacts {
                    branch: &application.source.target_revision,
                    sha: commit.sha.as_str(),
                    message: &commit.message,
                };
                let Some(flow) = prod.choose_flow(&application.environment, &self.catalog.flows, &facts).cloned()
                else {
                    if let Err(e) = self.store.write(vec![remember(commit.sha.to_string())]).await {
                        tracing::warn!(error = %e, "cannot store the trigger commit");
                        return;
                    }
                    let tried: Vec<String> = prod.promotion_flows.iter().map(|f| f.flow.to_string()).collect();
                    self.product_event(
                        &product,
                        "no-flow-matched",
                        format!(
                            "commit {} \"{}\" on {} matches no promotion flow triggered from {} (tried: {}); no release",
                            commit.sha.short(),
                            commit.subject(),
                            application.source.target_revision,
                            application.environment,
                            if tried.is_empty() { "none".to_owned() } else { tried.join(", ") }
                        ),
                    )
                    .await;
                    return;
                };
                // One commit creates at most one release per product and flow, however many of the
                // product's applications in the trigger environment it changed, and whichever replica
                // sees it: the first claim of the commit's key wins.
                let id = ReleaseId(self.ports.clock.new_id());
                let claim = Write::KvClaim {
                    key: released_key(&product, flow.as_str(), commit.sha.as_str()),
                    value: id.to_string(),
                };
                let claimed = match self.store.write(vec![remember(commit.sha.to_string()), claim]).await {
                    Ok(outcomes) => outcomes.into_iter().nth(1),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot store the trigger commit");
                        return;
                    }
                };
                match claimed {
                    Some(Ok(WriteOutcome::KvValue(winner))) if winner == id.to_string() => {}
                    Some(Ok(WriteOutcome::KvValue(release))) => {
                        self.product_event(
                            &product,
                            "trigger-already-released",
                            format!(
                                "commit {} already started release {release} of flow {flow}; {app} is part of it",
                                commit.sha.short()
                            ),
                        )
                        .await;
                        return;
                    }
                    other => {
                        tracing::warn!(outcome = ?other, "cannot claim the trigger commit");
                        return;
                    }
                }
                let initiator = format!("{} · ferry (auto)", commit.author_name);
                let (git, catalog, tx) = (self.ports.git.clone(), self.catalog.clone(), self.creating.clone());
                let product_name = application.product.clone();
                let (reply, _ignored) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let choice = FlowChoice::Flow(flow);
                    let result = tokio::task::spawn_blocking(move || {
                        build_snapshot(&*git, &catalog, &product_name, &choice, &initiator)
                    })
                    .await
                    .unwrap_or_else(|e| Err(internal(e)))
                    .map(|snapshot| (id, snapshot));
                    let _ = tx.send(Created { result, reply, auto: Some(product) });
                });
            }
        }
    }
}

/// The live-state row of a trigger application from what its check observed.
fn live_row(
    app: &ferry_model::resources::Application,
    o: crate::triggers::Observed,
    at: jiff::Timestamp,
) -> ferry_store::AppStateRow {
    ferry_store::AppStateRow {
        application: app.name.to_string(),
        product: app.product.to_string(),
        environment: app.environment.to_string(),
        component: app.component.to_string(),
        version: None,
        revision: o.revision.map(|r| r.to_string()),
        sync: o.sync.as_str().to_owned(),
        health: o.health.as_str().to_owned(),
        message: o.message,
        release_id: None,
        updated_at: at,
    }
}
