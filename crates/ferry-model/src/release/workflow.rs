//! Workflow events: runs and their steps.

use super::apply::misrouted;
use super::*;

impl ReleaseState {
    /// Workflow runs and their steps.
    pub(super) fn apply_workflow(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        match event {
            ReleaseEvent::WorkflowRunStarted { run_id, target, workflow, steps, at } => {
                self.run_started(name, *run_id, target, workflow, steps, *at)
            }
            ReleaseEvent::StepStarted { run_id, step, at } => {
                let (loc, idx) = self.run_step(name, *run_id, step)?;
                self.check_step_start(name, loc, idx)?;
                let s = &mut self.run_at_mut(loc).steps[idx];
                s.status = StepStatus::Running;
                s.attempts = s.attempts.saturating_add(1);
                s.started_at = Some(*at);
                s.finished_at = None;
                s.awaiting_approval = None;
                Ok(())
            }
            ReleaseEvent::StepAdded { run_id, step, .. } => {
                let loc = self.find_run(*run_id).ok_or(ApplyError::UnknownRun { event: name, run: *run_id })?;
                let run = self.run_at(loc);
                if run.retired || run.error.is_some() || !run.is_in_progress() {
                    return Err(reject(name, format!("run {run_id} is not in progress")));
                }
                if run.step(step).is_some() {
                    return Err(reject(name, format!("run {run_id} already has step {step}")));
                }
                let spec = StepSpec { name: step.clone(), depends_on: Vec::new(), whole_run: false };
                self.run_at_mut(loc).steps.push(StepState::new(&spec));
                Ok(())
            }
            ReleaseEvent::StepLost { run_id, step, .. } => {
                let (loc, idx) = self.run_step(name, *run_id, step)?;
                let s = &mut self.run_at_mut(loc).steps[idx];
                if s.status != StepStatus::Running {
                    return Err(reject(name, format!("step {step} is not running ({})", s.status)));
                }
                // Pending again: it starts from its beginning when its run is carried out again.
                s.status = StepStatus::Pending;
                s.awaiting_approval = None;
                Ok(())
            }
            ReleaseEvent::StepAwaitingApproval { run_id, step, message, at } => {
                let (loc, idx) = self.run_step(name, *run_id, step)?;
                self.check_step_start(name, loc, idx)?;
                let s = &mut self.run_at_mut(loc).steps[idx];
                if s.status == StepStatus::Pending {
                    s.attempts = s.attempts.saturating_add(1);
                    s.started_at = Some(*at);
                }
                s.status = StepStatus::Running;
                s.awaiting_approval = Some(message.clone());
                Ok(())
            }
            ReleaseEvent::StepApproved { run_id, step, actor, role, comment, at } => {
                let (loc, idx) = self.run_step(name, *run_id, step)?;
                let s = &mut self.run_at_mut(loc).steps[idx];
                if s.status != StepStatus::Running || s.awaiting_approval.is_none() {
                    return Err(reject(name, format!("step {step} does not wait for approval ({})", s.status)));
                }
                s.approved =
                    Some(StepApproval { actor: actor.clone(), role: role.clone(), comment: comment.clone(), at: *at });
                Ok(())
            }
            ReleaseEvent::StepFinished { run_id, step, status, exit_code, error, outputs, at } => {
                let (loc, idx) = self.run_step(name, *run_id, step)?;
                if !status.is_final() {
                    return Err(reject(name, format!("{status} is not a final step status")));
                }
                let current = &self.run_at(loc).steps[idx];
                if current.status.is_final() {
                    return Err(reject(name, format!("step {step} already finished ({})", current.status)));
                }
                let s = &mut self.run_at_mut(loc).steps[idx];
                s.status = *status;
                s.exit_code = *exit_code;
                s.error = error.clone();
                s.outputs = outputs.clone();
                s.finished_at = Some(*at);
                s.awaiting_approval = None;
                Ok(())
            }
            ReleaseEvent::WorkflowRunErrored { run_id, error, at } => {
                let loc = self.find_run(*run_id).ok_or(ApplyError::UnknownRun { event: name, run: *run_id })?;
                let status = self.run_at(loc).status();
                if status.is_final() {
                    return Err(reject(name, format!("run {run_id} already finished ({status})")));
                }
                let run = self.run_at_mut(loc);
                run.error = Some(error.clone());
                for s in run.steps.iter_mut().filter(|s| s.status == StepStatus::Running) {
                    s.status = StepStatus::Error;
                    s.finished_at = Some(*at);
                    s.awaiting_approval = None;
                }
                Ok(())
            }
            other => Err(misrouted(other.name())),
        }
    }

    pub(super) fn run_started(
        &mut self,
        name: &'static str,
        run_id: RunId,
        target: &RunTarget,
        workflow: &WorkflowName,
        steps: &[StepSpec],
        at: Timestamp,
    ) -> Result<(), ApplyError> {
        if self.started_at.is_none() {
            return Err(reject(name, "the release has not started"));
        }
        if self.find_run(run_id).is_some() {
            return Err(reject(name, format!("run {run_id} already exists")));
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = steps.iter().find(|s| !seen.insert(&s.name)) {
            return Err(reject(name, format!("step {} is declared twice", dup.name)));
        }
        let expect = |configured: Option<&WorkflowName>, what: &str| match configured {
            Some(w) if w == workflow => Ok(()),
            Some(w) => Err(reject(name, format!("{what} is workflow {w}, not {workflow}"))),
            None => Err(reject(name, format!("{what} is not configured"))),
        };
        let run = WorkflowRun {
            id: run_id,
            target: target.clone(),
            workflow: workflow.clone(),
            steps: steps.iter().map(StepState::new).collect(),
            error: None,
            started_at: at,
            retired: false,
        };
        match target {
            RunTarget::ReleaseHook { hook } => {
                expect(hook.of(&self.snapshot.release_hooks), &format!("the release {hook} hook"))?;
                let status = self.status();
                let allowed = match hook {
                    HookKind::OnStart => true,
                    HookKind::OnSuccess => self.env_statuses().iter().all(|(_, s)| *s == EnvStatus::Successful),
                    HookKind::OnFail => self.terminate.is_some() || status == ReleaseStatus::Failed,
                };
                if !allowed {
                    return Err(reject(
                        name,
                        format!("the release {hook} hook cannot run while the release is {status}"),
                    ));
                }
                retire(&mut self.hook_runs, |r| r.target == *target);
                self.hook_runs.push(run);
            }
            RunTarget::EnvironmentHook { env, hook } => {
                let ei = self.started_env(name, env)?;
                expect(hook.of(&self.snapshot.environments[ei].hooks), &format!("{env}'s {hook} hook"))?;
                let status = self.status_at(ei);
                let all_done =
                    self.environments[ei].apps.iter().all(|a| a.phase == AppPhase::Done) && self.soak_done(ei);
                let allowed = match hook {
                    HookKind::OnStart => !matches!(status, EnvStatus::Failed | EnvStatus::Terminated),
                    HookKind::OnSuccess => all_done && !matches!(status, EnvStatus::Failed | EnvStatus::Terminated),
                    HookKind::OnFail => matches!(status, EnvStatus::Failed | EnvStatus::Terminated),
                };
                if !allowed {
                    return Err(reject(name, format!("{env}'s {hook} hook cannot run while {env} is {status}")));
                }
                let state = &mut self.environments[ei];
                retire(&mut state.hook_runs, |r| r.target == *target);
                state.hook_runs.push(run);
            }
            RunTarget::Trigger { env, app }
            | RunTarget::PreAction { env, app }
            | RunTarget::PostAction { env, app } => {
                let ei = self.started_env(name, env)?;
                let ai = self.app_idx(name, ei, app)?;
                let snap = &self.snapshot.environments[ei];
                let stage = target.stage();
                let policy = snap.policy.as_ref();
                match stage {
                    Stage::Trigger if !snap.is_trigger => {
                        return Err(reject(name, format!("{env} is not the trigger environment")));
                    }
                    Stage::PreAction | Stage::PostAction if snap.is_trigger => {
                        return Err(reject(name, format!("{env} is the trigger environment; it has no {stage}")));
                    }
                    Stage::Trigger => expect(self.snapshot.trigger_workflow.as_ref(), "the trigger workflow")?,
                    Stage::PreAction => {
                        expect(policy.and_then(|p| p.pre_action.as_ref()), &format!("{env}'s preAction"))?
                    }
                    _ => expect(policy.and_then(|p| p.post_action.as_ref()), &format!("{env}'s postAction"))?,
                }
                let status = self.status_at(ei);
                if matches!(status, EnvStatus::Failed | EnvStatus::Terminated) {
                    return Err(reject(name, format!("{env} is {status}; nothing new starts there")));
                }
                let phase = self.environments[ei].apps[ai].phase;
                let phase_ok = match stage {
                    Stage::Trigger => matches!(phase, AppPhase::Pending | AppPhase::PostAction),
                    Stage::PreAction => matches!(phase, AppPhase::Pending | AppPhase::PreAction),
                    _ => phase == AppPhase::PostAction,
                };
                if !phase_ok {
                    return Err(reject(name, format!("{app} in {env} is in phase {phase:?}, not ready for {stage}")));
                }
                let state = self.app_mut(ei, ai);
                retire(&mut state.runs, |r| r.target == *target);
                state.runs.push(run);
                state.phase = if stage == Stage::PreAction { AppPhase::PreAction } else { AppPhase::PostAction };
            }
        }
        Ok(())
    }

    pub(super) fn find_run(&self, id: RunId) -> Option<RunLoc> {
        if let Some(run) = self.hook_runs.iter().position(|r| r.id == id) {
            return Some(RunLoc::ReleaseHook { run });
        }
        for (env, state) in self.environments.iter().enumerate() {
            if let Some(run) = state.hook_runs.iter().position(|r| r.id == id) {
                return Some(RunLoc::EnvHook { env, run });
            }
            for (app, a) in state.apps.iter().enumerate() {
                if let Some(run) = a.runs.iter().position(|r| r.id == id) {
                    return Some(RunLoc::App { env, app, run });
                }
            }
        }
        None
    }

    pub(super) fn run_at(&self, loc: RunLoc) -> &WorkflowRun {
        match loc {
            RunLoc::App { env, app, run } => &self.environments[env].apps[app].runs[run],
            RunLoc::EnvHook { env, run } => &self.environments[env].hook_runs[run],
            RunLoc::ReleaseHook { run } => &self.hook_runs[run],
        }
    }

    pub(super) fn run_at_mut(&mut self, loc: RunLoc) -> &mut WorkflowRun {
        match loc {
            RunLoc::App { env, app, run } => &mut self.environments[env].apps[app].runs[run],
            RunLoc::EnvHook { env, run } => &mut self.environments[env].hook_runs[run],
            RunLoc::ReleaseHook { run } => &mut self.hook_runs[run],
        }
    }

    /// A run and the index of one of its steps, for step events.
    pub(super) fn run_step(
        &self,
        event: &'static str,
        run_id: RunId,
        step: &StepName,
    ) -> Result<(RunLoc, usize), ApplyError> {
        let loc = self.find_run(run_id).ok_or(ApplyError::UnknownRun { event, run: run_id })?;
        let run = self.run_at(loc);
        let idx = run.steps.iter().position(|s| s.name == *step).ok_or_else(|| ApplyError::UnknownStep {
            event,
            run: run_id,
            workflow: run.workflow.to_string(),
            step: step.to_string(),
            known: join(run.steps.iter().map(|s| &s.name)),
        })?;
        Ok((loc, idx))
    }

    /// Checks a step may start (or wait for approval) now.
    pub(super) fn check_step_start(&self, event: &'static str, loc: RunLoc, idx: usize) -> Result<(), ApplyError> {
        let run = self.run_at(loc);
        let step = &run.steps[idx];
        if run.retired {
            return Err(reject(event, format!("run {} was superseded or belongs to an earlier attempt", run.id)));
        }
        if run.error.is_some() {
            return Err(reject(event, format!("run {} errored", run.id)));
        }
        if step.status.is_final() {
            return Err(reject(event, format!("step {} already finished ({})", step.name, step.status)));
        }
        if self.terminate.is_some() && run.target.hook() != Some(HookKind::OnFail) {
            return Err(reject(event, "terminate was requested; only onFail hooks run"));
        }
        Ok(())
    }
}

/// Retires the runs matching `same_slot`.
fn retire(runs: &mut [WorkflowRun], same_slot: impl Fn(&WorkflowRun) -> bool) {
    for run in runs.iter_mut().filter(|r| !r.retired && same_slot(r)) {
        run.retired = true;
    }
}
