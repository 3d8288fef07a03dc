//! Release control: terminate (SPEC §3.5), retry (SPEC §3.8) and approve.

use ferry_model::names::{EnvName, ReleaseId};
use ferry_model::release::{ReleaseEvent, RunId};
use ferry_model::status::ReleaseStatus;
use ferry_store::Store;

use super::{Active, Engine, internal};
use crate::handle::EngineError;

impl<S: Store> Engine<S> {
    /// Loads a release from its event log (at recovery, or to answer a control request about a release
    /// that ended).
    pub(super) async fn load_release(&self, id: ReleaseId) -> Result<Active, EngineError> {
        let (state, events) = crate::notes::replay(&self.store, &id).await?;
        Ok(Active::new(state, events as i64))
    }

    /// Records a terminate request and stops what runs (SPEC §3.5).
    pub(super) async fn terminate(&mut self, id: ReleaseId, reason: String, actor: String) -> Result<(), EngineError> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return Err(EngineError::Invalid {
                message: "reason: give a reason for terminating".into(),
                details: vec![],
            });
        }
        let status = match self.releases.get(&id) {
            Some(active) => active.state.status(),
            None => self.load_release(id).await?.state.status(),
        };
        if status == ReleaseStatus::Terminating {
            return Err(EngineError::Conflict(format!("release {id} is already being terminated")));
        }
        if !status.can_terminate() {
            return Err(EngineError::Conflict(format!(
                "release {id} is {status}; only Queued, Running or Suspended releases can be terminated"
            )));
        }
        self.request_termination(id, reason, actor).await
    }

    /// Records `TerminateRequested`, then stops running steps and health waits of the release.
    pub(super) async fn request_termination(
        &mut self,
        id: ReleaseId,
        reason: String,
        actor: String,
    ) -> Result<(), EngineError> {
        let Some(active) = self.releases.get(&id) else {
            return Err(EngineError::Conflict(format!("release {id} is not active")));
        };
        let event = ReleaseEvent::TerminateRequested { reason: reason.clone(), actor, at: self.ports.clock.now() };
        let mut next = ferry_model::release::ReleaseState::clone(&active.state);
        next.apply(&event).map_err(|e| EngineError::Conflict(e.to_string()))?;
        self.commit(id, vec![event], next).await?;
        self.stop_work(id, &reason);
        self.close_release_prs(id, &reason).await;
        self.drive(id).await;
        Ok(())
    }

    /// Stops the release's running workflow steps (SIGTERM, then SIGKILL after the grace period) and
    /// abandons its health waits.
    fn stop_work(&mut self, id: ReleaseId, reason: &str) {
        let Some(active) = self.releases.get_mut(&id) else { return };
        let runs: Vec<RunId> = active
            .in_flight
            .iter()
            .filter_map(|k| k.strip_prefix("run:"))
            .filter_map(|r| r.parse::<uuid::Uuid>().ok().map(RunId))
            .collect();
        if let Ok(controls) = self.controls.lock() {
            for run in runs {
                if let Some(control) = controls.get(&run) {
                    control.terminate(reason.to_owned());
                }
            }
        }
        let watches: Vec<String> = active.in_flight.iter().filter(|k| k.starts_with("watch:")).cloned().collect();
        for key in watches {
            active.in_flight.remove(&key);
            if let Some(handle) = self.watches.remove(&(id, key)) {
                handle.abort();
            }
        }
    }

    /// Retries a Failed release at the point of failure (SPEC §3.8).
    pub(super) async fn retry(&mut self, id: ReleaseId, actor: String) -> Result<(), EngineError> {
        if !self.releases.contains_key(&id) {
            let loaded = self.load_release(id).await?;
            let status = loaded.state.status();
            if status != ReleaseStatus::Failed {
                return Err(EngineError::Conflict(format!(
                    "release {id} is {status}; only Failed releases can be retried"
                )));
            }
            self.releases.insert(id, loaded);
            self.publish(id);
        }
        let Some(active) = self.releases.get(&id) else { return Err(internal("release vanished")) };
        let status = active.state.status();
        if status != ReleaseStatus::Failed {
            return Err(EngineError::Conflict(format!(
                "release {id} is {status}; only Failed releases can be retried"
            )));
        }
        if active.state.is_busy() || !active.in_flight.is_empty() {
            return Err(EngineError::Conflict(format!(
                "release {id} still has work running; retry once everything in it has stopped"
            )));
        }
        let event = ReleaseEvent::RetryRequested { actor, at: self.ports.clock.now() };
        let mut next = ferry_model::release::ReleaseState::clone(&active.state);
        next.apply(&event).map_err(|e| EngineError::Conflict(e.to_string()))?;
        self.commit(id, vec![event], next).await?;
        self.drive(id).await;
        Ok(())
    }

    /// Approves, in environment `env` of release `id`, the approval steps waiting there and the
    /// approvals its policy asks for before the action (SPEC §10); both are recorded in the release's
    /// log with who, role, comment and when (`StepApproved` per step, `ApprovalGiven`).
    pub(super) async fn approve(
        &mut self,
        id: ReleaseId,
        env: EnvName,
        approver: crate::handle::Approver,
    ) -> Result<Vec<String>, EngineError> {
        let active = self
            .releases
            .get(&id)
            .ok_or_else(|| EngineError::Conflict(format!("release {id} is not running; nothing waits for approval")))?;
        let state = &active.state;
        let i = state
            .environments()
            .iter()
            .position(|e| e.name == env)
            .ok_or_else(|| EngineError::NotFound(format!("release {id} has no environment {env}")))?;
        let e = &state.environments()[i];
        let waiting: Vec<(RunId, ferry_model::names::StepName)> = e
            .hook_runs
            .iter()
            .chain(e.apps.iter().flat_map(|a| a.runs.iter()))
            .filter(|r| !r.retired)
            .flat_map(|r| r.steps.iter().filter(|s| s.awaiting_approval.is_some()).map(move |s| (r.id, s.name.clone())))
            .collect();
        // The policy's approvals count while the action has not started (also during a Pre-Action).
        let policy = state.approval_policy_at(i).filter(|_| {
            state.approvals_missing_at(i) > 0 && e.started_at.is_some() && e.apps.iter().any(|a| a.action.is_none())
        });
        let given = policy.map(|p| {
            let event = ReleaseEvent::ApprovalGiven {
                env: env.clone(),
                actor: approver.actor.clone(),
                role: approver.role.clone(),
                comment: approver.comment.clone().filter(|c| !c.trim().is_empty()),
                at: self.ports.clock.now(),
            };
            let mut next = ferry_model::release::ReleaseState::clone(state);
            let required = p.required;
            next.apply(&event).map(|()| (event, required, required - next.approvals_missing_at(i)))
        });
        if waiting.is_empty() && policy.is_none() {
            return Err(EngineError::Conflict(format!("nothing in {env} of release {id} waits for approval")));
        }
        let mut approved = Vec::new();
        let comment = approver.comment.clone().filter(|c| !c.trim().is_empty());
        let mut step_events = Vec::new();
        {
            let controls = self.controls.lock().map_err(|_| internal("run controls are unavailable"))?;
            for (run, step) in waiting {
                if let Some(control) = controls.get(&run) {
                    control.approve(&step, approver.actor.clone()).map_err(|e| EngineError::Conflict(e.to_string()))?;
                    approved.push(format!("{run}/{step}"));
                    step_events.push(ReleaseEvent::StepApproved {
                        run_id: run,
                        step,
                        actor: approver.actor.clone(),
                        role: approver.role.clone(),
                        comment: comment.clone(),
                        at: self.ports.clock.now(),
                    });
                }
            }
        }
        if !step_events.is_empty() {
            // Recorded before the steps' ends, which reach the engine after this request.
            self.record(id, step_events).await;
        }
        match given {
            Some(Ok((event, required, count))) => {
                self.record(id, vec![event]).await;
                approved.push(format!("{env}: approval {count} of {required}"));
            }
            Some(Err(e)) if approved.is_empty() => {
                let why = match e {
                    ferry_model::release::ApplyError::Rejected { reason, .. } => reason,
                    other => other.to_string(),
                };
                return Err(EngineError::Conflict(format!("the approval does not count: {why}")));
            }
            Some(Err(_)) | None => {}
        }
        if approved.is_empty() {
            return Err(EngineError::Conflict(format!(
                "the approval steps of {env} are not running right now; try again"
            )));
        }
        Ok(approved)
    }
}
