//! Freeze windows (SPEC §10): the set in force (the configuration's `Freeze` resources and the runtime
//! freezes of the store), runtime freezes made and deleted, and an admin's override per release.
//!
//! The planner holds an environment ready to start while a window covers it (`plan::start_or_hold`);
//! the end of the hold is the release's wake-up time in `ActiveReleases`, served by the same timer as the
//! flow deadlines. When the set changes, the releases with a held environment are planned again (a
//! deleted freeze frees them at once; a changed one moves their wake-up time).

use std::sync::Arc;

use ferry_model::freeze::{Freeze, FreezeSet, FreezeSource};
use ferry_model::names::{EnvName, FreezeName, ReleaseId};
use ferry_model::release::ReleaseEvent;
use ferry_model::resources::Catalog;
use ferry_store::{FreezeRow, Store, StoreError, Write};

use super::{Engine, internal};
use crate::handle::EngineError;

/// The freezes in force: the configuration's, then the runtime ones.
pub(super) fn freeze_set(catalog: &Catalog, runtime: &[Freeze]) -> FreezeSet {
    FreezeSet::new(catalog.freezes.values().cloned().chain(runtime.iter().cloned()).collect())
}

/// The runtime freezes of the store; rows that no longer read as a freeze are skipped with a warning.
pub(super) async fn load_runtime<S: Store>(store: &S) -> Result<Vec<Freeze>, EngineError> {
    let rows = store.freezes().await.map_err(internal)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match serde_json::from_value::<Freeze>(row.spec) {
            Ok(mut freeze) => {
                freeze.source = FreezeSource::Runtime;
                Some(freeze)
            }
            Err(e) => {
                tracing::warn!(freeze = %row.name, error = %e, "a stored runtime freeze is unreadable; ignored");
                None
            }
        })
        .collect())
}

fn store_error(e: StoreError) -> EngineError {
    match e {
        StoreError::Conflict(m) => EngineError::Conflict(m),
        StoreError::NotFound(m) => EngineError::NotFound(m),
        other => internal(other),
    }
}

impl<S: Store> Engine<S> {
    /// Every freeze in force, configuration first.
    pub(super) fn list_freezes(&self) -> Vec<Freeze> {
        self.freezes.freezes().to_vec()
    }

    /// Makes a runtime freeze. A name taken by a runtime freeze or a `Freeze` resource is a conflict.
    pub(super) async fn create_freeze(&mut self, mut freeze: Freeze, actor: String) -> Result<(), EngineError> {
        if self.catalog.freezes.contains_key(&freeze.name) {
            return Err(EngineError::Conflict(format!(
                "a Freeze resource named {:?} is in the configuration; choose another name",
                freeze.name.as_str()
            )));
        }
        freeze.source = FreezeSource::Runtime;
        let row = FreezeRow {
            name: freeze.name.to_string(),
            spec: serde_json::to_value(&freeze).map_err(internal)?,
            created_by: actor,
            created_at: self.ports.clock.now(),
        };
        let outcome = self.store.write(vec![Write::Freeze(Box::new(row))]).await.map_err(internal)?;
        outcome.into_iter().next().ok_or_else(|| internal("the store answered nothing"))?.map_err(store_error)?;
        self.runtime_freezes.push(freeze);
        self.freezes_changed().await;
        Ok(())
    }

    /// Deletes a runtime freeze (a `Freeze` resource goes with the next apply instead).
    pub(super) async fn delete_freeze(&mut self, name: FreezeName) -> Result<(), EngineError> {
        if self.catalog.freezes.contains_key(&name) && !self.runtime_freezes.iter().any(|f| f.name == name) {
            return Err(EngineError::Conflict(format!(
                "freeze {name} is a Freeze resource of the configuration; remove it there and apply"
            )));
        }
        let outcome = self.store.write(vec![Write::DeleteFreeze { name: name.to_string() }]).await.map_err(internal)?;
        outcome.into_iter().next().ok_or_else(|| internal("the store answered nothing"))?.map_err(store_error)?;
        self.runtime_freezes.retain(|f| f.name != name);
        self.freezes_changed().await;
        Ok(())
    }

    /// Adopts the runtime freezes another replica stored, when they differ from those in use.
    pub(super) async fn adopt_runtime_freezes(&mut self, runtime: Vec<Freeze>) {
        if runtime != self.runtime_freezes {
            self.runtime_freezes = runtime;
            self.freezes_changed().await;
        }
    }

    /// Rebuilds the set in force from the catalog and the runtime freezes, and tells the handles.
    pub(super) fn set_freezes(&mut self) {
        self.freezes = Arc::new(freeze_set(&self.catalog, &self.runtime_freezes));
        self.freezes_tx.send_replace(self.freezes.clone());
    }

    /// Rebuilds the set in force and plans again every release with a held environment.
    pub(super) async fn freezes_changed(&mut self) {
        self.set_freezes();
        for id in self.releases.frozen() {
            self.drive(id).await;
        }
    }

    /// Lets environment `env` of release `id` through the freeze windows holding it (admin, audited by
    /// the server). Conflict when it is not held.
    pub(super) async fn unfreeze(
        &mut self,
        id: ReleaseId,
        env: EnvName,
        reason: String,
        actor: String,
    ) -> Result<(), EngineError> {
        let active = self
            .releases
            .get(&id)
            .ok_or_else(|| EngineError::Conflict(format!("release {id} is not running; nothing is frozen")))?;
        let state = active
            .state
            .environment(&env)
            .ok_or_else(|| EngineError::NotFound(format!("release {id} has no environment {env}")))?;
        if state.frozen.is_none() {
            return Err(EngineError::Conflict(format!("environment {env} of release {id} is not frozen")));
        }
        if reason.trim().is_empty() {
            return Err(EngineError::Invalid {
                message: "an override needs a reason".into(),
                details: vec!["reason: must not be empty".into()],
            });
        }
        let at = self.ports.clock.now();
        self.record(id, vec![ReleaseEvent::FreezeOverridden { env, actor, reason, at }]).await;
        Ok(())
    }
}
