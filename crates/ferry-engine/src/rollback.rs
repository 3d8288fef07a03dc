//! Rollback releases (SPEC §10): which release a rollback of an environment restores, read from the
//! environment outcomes projection, and its snapshot, built from that release's snapshot: the same
//! trigger commit and source revisions, promoted into the one environment as a normal promotion.

use ferry_model::dora::ROLLBACK_FLOW;
use ferry_model::names::{EnvName, FlowName, ProductName, ReleaseId};
use ferry_model::release::{EnvSnapshot, PolicySnapshot, ReleaseEvent, ReleaseSnapshot, RollbackOf};
use ferry_model::resources::{Catalog, DEFAULT_FLOW_TIMEOUT, Hooks};
use ferry_store::{OutcomeQuery, OutcomeRow, Store};

use crate::handle::EngineError;

/// What a rollback request asks for.
#[derive(Debug, Clone)]
pub struct RollbackRequest {
    /// Product.
    pub product: ProductName,
    /// The environment to roll back.
    pub env: EnvName,
    /// The release whose versions to restore; `None`: the last one Successful in `env` before the
    /// release whose versions are there now.
    pub to: Option<ReleaseId>,
    /// Why.
    pub reason: Option<String>,
    /// Whether the engine starts it on its own (`policy.autoRollback`).
    pub automatic: bool,
}

fn invalid(message: impl Into<String>) -> EngineError {
    EngineError::Invalid { message: message.into(), details: Vec::new() }
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// Checks that `product` and `env` are configured and that the product has applications in `env`.
pub fn check_names(catalog: &Catalog, product: &ProductName, env: &EnvName) -> Result<(), EngineError> {
    if !catalog.products.contains_key(product) {
        return Err(EngineError::NotFound(format!("product {:?} is not configured", product.as_str())));
    }
    if !catalog.environments.contains_key(env) {
        return Err(EngineError::NotFound(format!("environment {:?} is not configured", env.as_str())));
    }
    if catalog.apps_in(product, env).is_empty() {
        return Err(invalid(format!("env: product {product} has no application in environment {env}")));
    }
    Ok(())
}

/// The release whose versions are in the environment now: that of its newest outcome that landed
/// (Successful, or Failed after the action).
pub fn current_release(outcomes: &[OutcomeRow]) -> Option<&str> {
    outcomes.iter().rev().find(|o| o.status == "Successful" || o.after_action).map(|o| o.release_id.as_str())
}

/// The release a rollback of `env` restores (`outcomes`: the environment's, oldest first) and the
/// release it replaces: `to` when it was Successful there, or the last release Successful there
/// before the current one.
pub fn choose_target(
    outcomes: &[OutcomeRow],
    env: &EnvName,
    to: Option<ReleaseId>,
) -> Result<(ReleaseId, Option<ReleaseId>), EngineError> {
    let current = current_release(outcomes);
    let replaces = current.and_then(|c| c.parse::<uuid::Uuid>().ok()).map(ReleaseId);
    let successful = |o: &&OutcomeRow| o.status == "Successful";
    let target = match to {
        Some(to) => {
            let id = to.to_string();
            if !outcomes.iter().filter(successful).any(|o| o.release_id == id) {
                return Err(invalid(format!("to: release {id} was never Successful in environment {env}")));
            }
            if current == Some(id.as_str()) {
                return Err(invalid(format!(
                    "to: release {id} is the release whose versions are in environment {env} now; nothing to roll back"
                )));
            }
            to
        }
        None => {
            let found = outcomes.iter().rev().filter(successful).find(|o| Some(o.release_id.as_str()) != current);
            let Some(found) = found else {
                return Err(invalid(match current {
                    Some(c) => format!("no release was Successful in environment {env} before release {c}"),
                    None => format!("no release was Successful in environment {env}"),
                }));
            };
            ReleaseId(found.release_id.parse::<uuid::Uuid>().map_err(internal)?)
        }
    };
    Ok((target, replaces))
}

/// The snapshot of a rollback of `of.environment` to release `of.target`, whose snapshot is `target`:
/// the target's trigger environment (its trigger commit and revisions) and the rolled-back
/// environment with the target's applications and source revisions, under the environment's policy
/// of today (through the target's flow when it still promotes into the environment).
pub fn rollback_snapshot(
    catalog: &Catalog,
    product: &ProductName,
    target: &ReleaseSnapshot,
    of: RollbackOf,
    initiator: &str,
) -> Result<ReleaseSnapshot, EngineError> {
    let env_name = of.environment.clone();
    let id = of.target;
    if target.product != *product {
        return Err(invalid(format!("to: release {id} is a release of product {}, not {product}", target.product)));
    }
    let env = catalog
        .environments
        .get(&env_name)
        .ok_or_else(|| EngineError::NotFound(format!("environment {:?} is not configured", env_name.as_str())))?;
    let trigger = target.trigger_environment().ok_or_else(|| internal(format!("release {id} has no trigger")))?;
    let promoted = target
        .environment(&env_name)
        .filter(|e| !e.is_trigger)
        .ok_or_else(|| invalid(format!("to: release {id} did not promote into environment {env_name}")))?;
    for app in &promoted.applications {
        let configured = catalog.applications.get(&app.name);
        if !configured.is_some_and(|a| a.product == *product && a.environment == env_name) {
            return Err(invalid(format!(
                "to: application {} that release {id} promoted into {env_name} is no longer configured there",
                app.name
            )));
        }
    }
    // The environment's policy of today, through the target's flow while that flow still has a step
    // for it (its approvals, pre- and post-actions apply to a rollback too).
    let flow = target
        .flow
        .parse::<FlowName>()
        .ok()
        .filter(|f| catalog.flows.get(f).is_some_and(|flow| flow.step(&env_name).is_some()));
    let resolved = catalog.resolve_policy(product, flow.as_ref(), &env_name).map_err(|e| invalid(e.to_string()))?;
    let environments = vec![
        EnvSnapshot {
            depends_on: Vec::new(),
            is_trigger: true,
            policy: None,
            hooks: Hooks::default(),
            ..trigger.clone()
        },
        EnvSnapshot {
            name: env_name.clone(),
            env_type: env.env_type,
            depends_on: vec![trigger.name.clone()],
            is_trigger: false,
            policy: Some(PolicySnapshot::from(&resolved)),
            hooks: Hooks::default(),
            applications: promoted.applications.clone(),
        },
    ];
    let snapshot = ReleaseSnapshot {
        product: product.clone(),
        flow: ROLLBACK_FLOW.to_owned(),
        flow_version: None,
        initiator: initiator.to_owned(),
        version: target.version.clone(),
        trigger: target.trigger.clone(),
        trigger_workflow: None,
        environments,
        release_hooks: Hooks::default(),
        timeout: DEFAULT_FLOW_TIMEOUT,
        rollback: Some(of),
    };
    snapshot.check().map_err(EngineError::Internal)?;
    Ok(snapshot)
}

/// The snapshot a release was created with, read from the first event of its log.
async fn created_snapshot<S: Store>(store: &S, id: ReleaseId) -> Result<ReleaseSnapshot, EngineError> {
    let events = store.release_events(&id).await.map_err(internal)?;
    let first = events.into_iter().next().ok_or_else(|| invalid(format!("to: release {id} does not exist")))?;
    match serde_json::from_value::<ReleaseEvent>(first.body).map_err(internal)? {
        ReleaseEvent::Created { snapshot, .. } => Ok(*snapshot),
        _ => Err(internal(format!("the log of release {id} does not start with its creation"))),
    }
}

/// Builds the snapshot of the rollback `request` asks for (reads the store: run it off the engine).
pub async fn prepare<S: Store>(
    store: &S,
    catalog: &Catalog,
    request: RollbackRequest,
    initiator: &str,
) -> Result<ReleaseSnapshot, EngineError> {
    let RollbackRequest { product, env, to, reason, automatic } = request;
    check_names(catalog, &product, &env)?;
    let query = OutcomeQuery {
        product: Some(product.to_string()),
        environment: Some(env.to_string()),
        ..OutcomeQuery::default()
    };
    let outcomes = store.outcomes(query).await.map_err(internal)?;
    let (target, replaces) = choose_target(&outcomes, &env, to)?;
    let snapshot = created_snapshot(store, target).await?;
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let of = RollbackOf { environment: env, target, replaces, reason, automatic };
    rollback_snapshot(catalog, &product, &snapshot, of, initiator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(release: u128, status: &str, after_action: bool) -> OutcomeRow {
        let at = jiff::Timestamp::from_second(1_000).expect("valid");
        OutcomeRow {
            release_id: uuid::Uuid::from_u128(release).to_string(),
            product: "shop".into(),
            environment: "prod".into(),
            flow: "standard".into(),
            attempt: 0,
            status: status.into(),
            after_action,
            committed_at: at,
            at,
        }
    }

    fn id(n: u128) -> ReleaseId {
        ReleaseId(uuid::Uuid::from_u128(n))
    }

    fn prod() -> EnvName {
        EnvName::new("prod").expect("valid")
    }

    #[test]
    fn the_default_target_is_the_last_success_before_the_current_release() {
        let rows = [row(1, "Successful", true), row(2, "Successful", true), row(3, "Successful", true)];
        assert_eq!(choose_target(&rows, &prod(), None).unwrap(), (id(2), Some(id(3))));
    }

    #[test]
    fn a_release_that_failed_after_its_action_is_the_current_one() {
        let rows = [row(1, "Successful", true), row(2, "Failed", true)];
        assert_eq!(choose_target(&rows, &prod(), None).unwrap(), (id(1), Some(id(2))));
        // A failure before the action leaves the last success in place: the one before it is restored.
        let rows = [row(1, "Successful", true), row(2, "Successful", true), row(3, "Failed", false)];
        assert_eq!(choose_target(&rows, &prod(), None).unwrap(), (id(1), Some(id(2))));
    }

    #[test]
    fn a_retried_release_counts_once() {
        let rows = [row(1, "Successful", true), row(2, "Failed", true), row(2, "Successful", true)];
        assert_eq!(choose_target(&rows, &prod(), None).unwrap(), (id(1), Some(id(2))));
    }

    #[test]
    fn without_an_earlier_success_there_is_nothing_to_restore() {
        let err = choose_target(&[row(1, "Successful", true)], &prod(), None).unwrap_err();
        assert!(
            matches!(&err, EngineError::Invalid { message, .. }
            if message.contains("no release was Successful in environment prod before release")),
            "{err:?}"
        );
        let err = choose_target(&[], &prod(), None).unwrap_err();
        assert!(err.to_string().contains("no release was Successful in environment prod"), "{err}");
    }

    #[test]
    fn an_explicit_target_must_have_been_successful_there() {
        let rows = [row(1, "Successful", true), row(2, "Failed", true), row(3, "Successful", true)];
        assert_eq!(choose_target(&rows, &prod(), Some(id(1))).unwrap(), (id(1), Some(id(3))));
        let err = choose_target(&rows, &prod(), Some(id(2))).unwrap_err();
        assert!(err.to_string().contains(&format!("release {} was never Successful in environment prod", id(2))));
        let err = choose_target(&rows, &prod(), Some(id(9))).unwrap_err();
        assert!(err.to_string().contains(&id(9).to_string()), "{err}");
        let err = choose_target(&rows, &prod(), Some(id(3))).unwrap_err();
        assert!(err.to_string().contains("nothing to roll back"), "{err}");
    }
}
