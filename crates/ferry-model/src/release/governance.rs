//! Release governance (SPEC §10): environments held by freeze windows and their overrides, the soak
//! time after the Post-Action, approvals before the action, and automatic rollbacks.

use super::*;

impl ReleaseState {
    /// The environments held by freeze windows, with their holds, in flow order.
    pub fn frozen_environments(&self) -> impl Iterator<Item = (&EnvName, &FrozenHold)> {
        self.environments.iter().filter_map(|e| Some((&e.name, e.frozen.as_ref()?)))
    }

    /// The earliest instant at which time alone changes what the planner decides for this release: the
    /// end of a freeze hold or of a soak time. `None` when nothing waits for a time.
    pub fn wake_at(&self) -> Option<Timestamp> {
        if self.finished_at.is_some() || self.terminate.is_some() {
            return None;
        }
        let soaks = self.soaking_environments().map(|(_, s)| s.until);
        let holds: Vec<Timestamp> = self.frozen_environments().map(|(_, h)| h.until).collect();
        // A Failed release starts no environment: its holds wake nothing.
        if holds.is_empty() || self.status() == ReleaseStatus::Failed {
            return soaks.min();
        }
        soaks.chain(holds).min()
    }

    /// The environments whose soak time runs (neither passed nor relapsed), with it, in flow order.
    pub fn soaking_environments(&self) -> impl Iterator<Item = (&EnvName, &Soak)> {
        self.environments
            .iter()
            .filter_map(|e| Some((&e.name, e.soak.as_ref().filter(|s| s.passed_at.is_none() && s.relapse.is_none())?)))
    }

    /// The soak time of environment `i` from its snapshotted policy (target environments only).
    pub fn soak_time_at(&self, i: usize) -> Option<Duration> {
        let snap = self.snapshot.environments.get(i)?;
        if snap.is_trigger {
            return None;
        }
        snap.policy.as_ref()?.soak_time
    }

    /// Whether environment `i` needs no more soaking: no soak time, or it passed.
    pub fn soak_done(&self, i: usize) -> bool {
        self.soak_time_at(i).is_none()
            || self.environments.get(i).and_then(|e| e.soak.as_ref()).is_some_and(|s| s.passed_at.is_some())
    }

    /// Whether environment `i` is due for an automatic rollback (SPEC §10): its policy has
    /// `autoRollback`, it Failed after its action landed, the release is no rollback itself and none
    /// was started for it yet (once per release and environment, retries included).
    pub fn rollback_due_at(&self, i: usize) -> bool {
        let (Some(snap), Some(env)) = (self.snapshot.environments.get(i), self.environments.get(i)) else {
            return false;
        };
        !snap.is_trigger
            && snap.policy.as_ref().is_some_and(|p| p.auto_rollback)
            && self.snapshot.flow != crate::dora::ROLLBACK_FLOW
            && env.rollback.is_none()
            && self.status_at(i) == EnvStatus::Failed
            && env.apps.iter().any(AppState::action_landed)
    }

    /// The rollback releases started for failed environments, in flow order.
    pub fn rollbacks(&self) -> impl Iterator<Item = (&EnvName, ReleaseId)> {
        self.environments.iter().filter_map(|e| Some((&e.name, e.rollback?)))
    }

    /// How many more distinct approvals the action into environment `i` needs (0 without a policy).
    pub fn approvals_missing_at(&self, i: usize) -> u32 {
        let Some(policy) = self.approval_policy_at(i) else { return 0 };
        let given = self.environments.get(i).map_or(0, |e| e.approvals.len());
        policy.required.saturating_sub(u32::try_from(given).unwrap_or(u32::MAX))
    }

    /// The approval policy of environment `i` (target environments only).
    pub fn approval_policy_at(&self, i: usize) -> Option<&crate::resources::ApprovalPolicy> {
        let snap = self.snapshot.environments.get(i)?;
        if snap.is_trigger {
            return None;
        }
        snap.policy.as_ref()?.approval.as_ref()
    }

    /// Whether application `app` of environment `i` is ready for its action but waits for approvals.
    pub(super) fn waits_for_approval(&self, i: usize, app: &AppState) -> bool {
        if app.action.is_some() || app.is_failed() || self.approvals_missing_at(i) == 0 {
            return false;
        }
        let pre_action = self.snapshot.environments.get(i).and_then(|s| s.policy.as_ref()?.pre_action.as_ref());
        match (app.phase, pre_action) {
            (AppPhase::Pending, None) => true,
            (AppPhase::PreAction, Some(_)) => {
                app.current_run(Stage::PreAction).is_some_and(|r| r.status() == StepStatus::Success)
            }
            _ => false,
        }
    }

    /// Ends the freeze hold of environment `i` at `at` (it starts, or an admin overrode it), counting
    /// the time it waited since the flow timeout's start as not part of the timeout.
    pub(super) fn thaw(&mut self, i: usize, at: Timestamp) {
        let base = self.timeout_base();
        let Some(hold) = self.environments.get_mut(i).and_then(|e| e.frozen.take()) else { return };
        let since = base.map_or(hold.since, |b| hold.since.max(b));
        if at > since {
            let waited = Duration::try_from(at.duration_since(since)).unwrap_or_default();
            self.frozen_for = self.frozen_for.saturating_add(waited);
        }
    }

    pub(super) fn apply_governance(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        match event {
            ReleaseEvent::EnvironmentFrozen { env, until, freezes, at } => {
                if self.started_at.is_none() {
                    return Err(reject(name, "the release has not started"));
                }
                let i = self.env_idx(name, env)?;
                let state = &self.environments[i];
                if state.started_at.is_some() {
                    return Err(reject(name, format!("environment {env} already started")));
                }
                if state.freeze_override.is_some() {
                    return Err(reject(name, format!("the freeze windows of {env} were overridden")));
                }
                if until <= at {
                    return Err(reject(name, format!("the hold ends ({until}) before it is recorded ({at})")));
                }
                if freezes.is_empty() {
                    return Err(reject(name, "a hold names the freezes holding the environment"));
                }
                if state.frozen.as_ref().is_some_and(|h| h.until == *until && h.freezes == *freezes) {
                    return Err(reject(name, format!("environment {env} is already frozen until {until}")));
                }
                for dep in &self.snapshot.environments[i].depends_on {
                    let status = self.env_status(dep).unwrap_or(EnvStatus::Pending);
                    if status != EnvStatus::Successful {
                        return Err(reject(name, format!("{env} depends on {dep}, which is {status}")));
                    }
                }
                let since = state.frozen.as_ref().map_or(*at, |h| h.since);
                self.environments[i].frozen = Some(FrozenHold { until: *until, freezes: freezes.clone(), since });
                Ok(())
            }
            ReleaseEvent::FreezeOverridden { env, actor, reason, at } => {
                let i = self.env_idx(name, env)?;
                if self.environments[i].frozen.is_none() {
                    return Err(reject(name, format!("environment {env} is not frozen")));
                }
                if reason.trim().is_empty() {
                    return Err(reject(name, "an override needs a reason"));
                }
                self.thaw(i, *at);
                self.environments[i].freeze_override =
                    Some(FreezeOverride { actor: actor.clone(), reason: reason.clone(), at: *at });
                Ok(())
            }
            ReleaseEvent::SoakStarted { env, until, at } => {
                let i = self.started_env(name, env)?;
                let Some(soak_time) = self.soak_time_at(i) else {
                    return Err(reject(name, format!("{env} has no soak time")));
                };
                let state = &self.environments[i];
                if state.soak.is_some() {
                    return Err(reject(name, format!("the soak time of {env} already started")));
                }
                if !state.apps.iter().all(|a| a.phase == AppPhase::Done) {
                    return Err(reject(name, format!("not every application of {env} passed its phases")));
                }
                if at.checked_add(soak_time).ok() != Some(*until) {
                    let time = crate::duration::format_duration(soak_time);
                    return Err(reject(name, format!("the soak of {env} ends {time} after it starts, not at {until}")));
                }
                self.environments[i].soak = Some(Soak { since: *at, until: *until, passed_at: None, relapse: None });
                Ok(())
            }
            ReleaseEvent::SoakPassed { env, at } => {
                let i = self.env_idx(name, env)?;
                let soak = self.soaking(name, i)?;
                if *at < soak.until {
                    return Err(reject(name, format!("the soak of {env} runs until {}", soak.until)));
                }
                if let Some(s) = self.environments[i].soak.as_mut() {
                    s.passed_at = Some(*at);
                }
                Ok(())
            }
            ReleaseEvent::SoakRelapsed { env, app, message, at } => {
                let i = self.env_idx(name, env)?;
                self.soaking(name, i)?;
                self.app_idx(name, i, app)?;
                if let Some(s) = self.environments[i].soak.as_mut() {
                    s.relapse = Some(SoakRelapse { app: app.clone(), message: message.clone(), at: *at });
                }
                Ok(())
            }
            ReleaseEvent::ApprovalGiven { env, actor, role, comment, at } => {
                let i = self.started_env(name, env)?;
                let Some(policy) = self.approval_policy_at(i) else {
                    return Err(reject(name, format!("the policy of {env} asks for no approvals")));
                };
                if let Some(why) = policy.refusal(actor, role.as_deref(), &self.snapshot.initiator) {
                    return Err(reject(name, why));
                }
                let state = &self.environments[i];
                if state.approvals.iter().any(|a| a.actor == *actor) {
                    return Err(reject(name, format!("{actor} already approved {env}")));
                }
                if self.approvals_missing_at(i) == 0 || state.apps.iter().all(|a| a.action.is_some()) {
                    return Err(reject(name, format!("{env} waits for no approval")));
                }
                let status = self.status_at(i);
                if matches!(status, EnvStatus::Failed | EnvStatus::Terminated) {
                    return Err(reject(name, format!("{env} is {status}")));
                }
                self.environments[i].approvals.push(Approval {
                    actor: actor.clone(),
                    role: role.clone(),
                    comment: comment.clone(),
                    at: *at,
                });
                Ok(())
            }
            ReleaseEvent::RollbackStarted { env, release, .. } => {
                let i = self.env_idx(name, env)?;
                if !self.rollback_due_at(i) {
                    return Err(reject(name, format!("{env} is not due for an automatic rollback")));
                }
                self.environments[i].rollback = Some(*release);
                Ok(())
            }
            other => Err(ApplyError::Rejected {
                event: other.name(),
                reason: "not a governance event (routing bug in apply_inner)".to_owned(),
            }),
        }
    }

    /// The running soak of environment `i`, or why there is none.
    fn soaking(&self, event: &'static str, i: usize) -> Result<&Soak, ApplyError> {
        let env = &self.environments[i];
        match &env.soak {
            None => Err(reject(event, format!("the soak time of {} has not started", env.name))),
            Some(s) if s.passed_at.is_some() => Err(reject(event, format!("the soak of {} passed", env.name))),
            Some(s) if s.relapse.is_some() => Err(reject(event, format!("the soak of {} failed", env.name))),
            Some(s) => Ok(s),
        }
    }
}
