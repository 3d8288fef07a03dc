//! Folding events into a release's state (`apply`): the entry point, its dispatch by kind of event,
//! and the lookups every kind shares.

use super::*;

impl ReleaseState {
    /// Applies one event. On error the state is unchanged.
    pub fn apply(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        if self.terminated_at.is_some() {
            return Err(ApplyError::ReleaseFinished { event: name, status: ReleaseStatus::Terminated });
        }
        if self.finished_at.is_some() && !matches!(event, ReleaseEvent::RetryRequested { .. }) {
            return Err(ApplyError::ReleaseFinished { event: name, status: self.status() });
        }
        if self.terminate.is_some() && event.starts_work() {
            return Err(reject(name, "terminate was requested; nothing new starts"));
        }
        self.apply_inner(event)?;
        self.event_count = self.event_count.saturating_add(1);
        self.update_env_times(event.at());
        Ok(())
    }

    pub(super) fn update_env_times(&mut self, at: Timestamp) {
        for i in 0..self.environments.len() {
            let status = self.status_at(i);
            if let Some(env) = self.environments.get_mut(i) {
                if env.started_at.is_some() && status.is_final() {
                    env.finished_at.get_or_insert(at);
                } else {
                    env.finished_at = None;
                }
            }
        }
    }

    pub(super) fn env_idx(&self, event: &'static str, env: &EnvName) -> Result<usize, ApplyError> {
        self.env_pos(env).ok_or_else(|| ApplyError::UnknownEnvironment {
            event,
            env: env.to_string(),
            known: join(self.environments.iter().map(|e| &e.name)),
        })
    }

    pub(super) fn app_idx(&self, event: &'static str, env: usize, app: &AppName) -> Result<usize, ApplyError> {
        let state = &self.environments[env];
        state.apps.iter().position(|a| a.name == *app).ok_or_else(|| ApplyError::UnknownApplication {
            event,
            env: state.name.to_string(),
            app: app.to_string(),
            known: join(state.apps.iter().map(|a| &a.name)),
        })
    }

    /// An environment that has started, with its index.
    pub(super) fn started_env(&self, event: &'static str, env: &EnvName) -> Result<usize, ApplyError> {
        let i = self.env_idx(event, env)?;
        if self.environments[i].started_at.is_none() {
            return Err(reject(event, format!("environment {env} has not started")));
        }
        Ok(i)
    }

    /// Validates an action event for `apps` of `env`; returns the env index and the app indices.
    pub(super) fn action_apps(
        &self,
        event: &'static str,
        env: &EnvName,
        apps: &[AppName],
        check: impl Fn(&AppState) -> Result<(), String>,
    ) -> Result<(usize, Vec<usize>), ApplyError> {
        let ei = self.started_env(event, env)?;
        if self.snapshot.environments[ei].is_trigger {
            return Err(reject(event, format!("{env} is the trigger environment; it has no promotion action")));
        }
        if apps.is_empty() {
            return Err(reject(event, "no application named"));
        }
        let mut idx = Vec::with_capacity(apps.len());
        for app in apps {
            let ai = self.app_idx(event, ei, app)?;
            if idx.contains(&ai) {
                return Err(reject(event, format!("application {app} is named twice")));
            }
            check(&self.environments[ei].apps[ai]).map_err(|r| reject(event, format!("{app} in {env}: {r}")))?;
            idx.push(ai);
        }
        Ok((ei, idx))
    }

    pub(super) fn app_mut(&mut self, env: usize, app: usize) -> &mut AppState {
        &mut self.environments[env].apps[app]
    }

    /// Folds one event in; dispatches by what the event is about.
    pub(super) fn apply_inner(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        match event {
            ReleaseEvent::WorkflowRunStarted { .. }
            | ReleaseEvent::StepStarted { .. }
            | ReleaseEvent::StepAdded { .. }
            | ReleaseEvent::StepAwaitingApproval { .. }
            | ReleaseEvent::StepApproved { .. }
            | ReleaseEvent::StepLost { .. }
            | ReleaseEvent::StepFinished { .. }
            | ReleaseEvent::WorkflowRunErrored { .. } => self.apply_workflow(event),
            ReleaseEvent::ActionStarted { .. }
            | ReleaseEvent::ActionCommitted { .. }
            | ReleaseEvent::ActionUnchanged { .. }
            | ReleaseEvent::PullRequestOpened { .. }
            | ReleaseEvent::PullRequestMerged { .. }
            | ReleaseEvent::ActionFailed { .. } => self.apply_action(event),
            ReleaseEvent::AppObserved { .. }
            | ReleaseEvent::AppGatePassed { .. }
            | ReleaseEvent::AppGateFailed { .. }
            | ReleaseEvent::AppSucceeded { .. } => self.apply_app(event),
            ReleaseEvent::EnvironmentFrozen { .. }
            | ReleaseEvent::FreezeOverridden { .. }
            | ReleaseEvent::SoakStarted { .. }
            | ReleaseEvent::SoakPassed { .. }
            | ReleaseEvent::SoakRelapsed { .. }
            | ReleaseEvent::ApprovalGiven { .. }
            | ReleaseEvent::RollbackStarted { .. } => self.apply_governance(event),
            _ => self.apply_lifecycle(event),
        }
    }
}

/// An event handed to the wrong `apply_*` (a bug in the dispatch of `apply_inner`).
pub(super) fn misrouted(event: &'static str) -> ApplyError {
    reject(event, "this kind of event is not handled here (a bug in Ferry; please report it)")
}
