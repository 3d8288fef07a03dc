//! Application events: observations, the sync-and-health gate, success.

use super::apply::misrouted;
use super::*;

impl ReleaseState {
    /// Observations and gates of one application.
    pub(super) fn apply_app(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        match event {
            ReleaseEvent::AppObserved { env, app, sync, health, revision, message, at } => {
                let ei = self.started_env(name, env)?;
                let ai = self.app_idx(name, ei, app)?;
                self.app_mut(ei, ai).observation = Some(Observation {
                    sync: *sync,
                    health: *health,
                    revision: revision.clone(),
                    message: message.clone(),
                    at: *at,
                });
                Ok(())
            }
            ReleaseEvent::AppGatePassed { env, app, at } => {
                let (ei, ai) = self.gate_app(name, env, app)?;
                let a = self.app_mut(ei, ai);
                a.phase = AppPhase::PostAction;
                a.gate_passed_at = Some(*at);
                Ok(())
            }
            ReleaseEvent::AppGateFailed { env, app, reason, message, at } => {
                let (ei, ai) = self.gate_app(name, env, app)?;
                self.app_mut(ei, ai).gate_failure =
                    Some(GateFailureRecord { reason: *reason, message: message.clone(), at: *at });
                Ok(())
            }
            ReleaseEvent::AppSucceeded { env, app, at } => {
                let ei = self.started_env(name, env)?;
                let ai = self.app_idx(name, ei, app)?;
                let snap = &self.snapshot.environments[ei];
                let state = &self.environments[ei].apps[ai];
                let (stage, workflow) = if snap.is_trigger {
                    (Stage::Trigger, self.snapshot.trigger_workflow.as_ref())
                } else {
                    (Stage::PostAction, snap.policy.as_ref().and_then(|p| p.post_action.as_ref()))
                };
                let run_ok = state.current_run(stage).is_some_and(|r| r.status() == StepStatus::Success);
                let ready = match (snap.is_trigger, state.phase, workflow.is_some()) {
                    _ if state.is_failed() => Err("it failed".to_owned()),
                    (_, AppPhase::PostAction, true) if run_ok => Ok(()),
                    (_, AppPhase::PostAction, true) => Err(format!("its {stage} workflow has not succeeded")),
                    (_, AppPhase::PostAction, false) | (true, AppPhase::Pending, false) => Ok(()),
                    (false, AppPhase::Health, false) if state.action_landed() => Ok(()),
                    (_, phase, _) => Err(format!("it is in phase {phase:?}")),
                };
                ready.map_err(|r| reject(name, format!("{app} in {env} cannot succeed: {r}")))?;
                let a = self.app_mut(ei, ai);
                if a.phase == AppPhase::Health {
                    a.gate_passed_at = Some(*at);
                }
                a.phase = AppPhase::Done;
                a.finished_at = Some(*at);
                Ok(())
            }
            other => Err(misrouted(other.name())),
        }
    }

    pub(super) fn gate_app(
        &self,
        event: &'static str,
        env: &EnvName,
        app: &AppName,
    ) -> Result<(usize, usize), ApplyError> {
        let ei = self.started_env(event, env)?;
        let ai = self.app_idx(event, ei, app)?;
        let state = &self.environments[ei].apps[ai];
        if state.phase != AppPhase::Health {
            return Err(reject(
                event,
                format!("{app} in {env} is not waiting for sync and health ({:?})", state.phase),
            ));
        }
        if state.gate_failure.is_some() {
            return Err(reject(event, format!("{app} in {env} already failed its gate")));
        }
        Ok((ei, ai))
    }
}
