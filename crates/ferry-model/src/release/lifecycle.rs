//! Lifecycle events: queue, start, environments starting, issues, context, terminate, retry, finish.

use super::apply::misrouted;
use super::*;

impl ReleaseState {
    /// The release's own life: queue, start, environments starting, issues, context, terminate, retry, finish.
    pub(super) fn apply_lifecycle(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        match event {
            ReleaseEvent::Created { .. } => Err(ApplyError::AlreadyCreated),
            ReleaseEvent::Queued { at } => {
                if self.started_at.is_some() {
                    return Err(reject(name, "the release already started"));
                }
                if self.queued_at.is_some() {
                    return Err(reject(name, "the release is already queued"));
                }
                self.queued_at = Some(*at);
                Ok(())
            }
            ReleaseEvent::Started { at } => {
                if self.started_at.is_some() {
                    return Err(reject(name, "the release already started"));
                }
                self.started_at = Some(*at);
                Ok(())
            }
            ReleaseEvent::EnvironmentStarted { env, at } => {
                if self.started_at.is_none() {
                    return Err(reject(name, "the release has not started"));
                }
                let i = self.env_idx(name, env)?;
                if self.environments[i].started_at.is_some() {
                    return Err(reject(name, format!("environment {env} already started")));
                }
                for dep in &self.snapshot.environments[i].depends_on {
                    let status = self.env_status(dep).unwrap_or(EnvStatus::Pending);
                    if status != EnvStatus::Successful {
                        return Err(reject(name, format!("{env} depends on {dep}, which is {status}")));
                    }
                }
                self.thaw(i, *at);
                self.environments[i].started_at = Some(*at);
                Ok(())
            }
            ReleaseEvent::IssueRaised { issue } => {
                if self.issues.iter().chain(&self.resolved_issues).any(|i| i.id == issue.id) {
                    return Err(reject(name, format!("issue id {} is already used", issue.id)));
                }
                if issue.summary.contains('\n') || issue.summary.trim().is_empty() {
                    return Err(reject(name, "the summary must be one non-empty line"));
                }
                if let IssueDetail::Workflow { log_tail, .. } = &issue.detail
                    && log_tail.len() > LOG_TAIL_LINES
                {
                    return Err(reject(name, format!("the log tail has more than {LOG_TAIL_LINES} lines")));
                }
                match (&issue.env, &issue.app) {
                    (Some(env), app) => {
                        let ei = self.env_idx(name, env)?;
                        if let Some(app) = app {
                            self.app_idx(name, ei, app)?;
                        }
                    }
                    (None, Some(_)) => {
                        return Err(reject(name, "an issue naming an application must name its environment"));
                    }
                    (None, None) => {}
                }
                self.issues.push((**issue).clone());
                Ok(())
            }
            ReleaseEvent::ContextMerged { values, at: _ } => {
                self.context.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(())
            }
            ReleaseEvent::TerminateRequested { reason, actor, at } => {
                if self.terminate.is_some() {
                    return Err(reject(name, "terminate was already requested"));
                }
                let active: Vec<usize> =
                    (0..self.environments.len()).filter(|i| self.status_at(*i).is_active()).collect();
                for i in active {
                    self.environments[i].terminated = true;
                }
                self.terminate = Some(TerminateRequest { reason: reason.clone(), actor: actor.clone(), at: *at });
                Ok(())
            }
            ReleaseEvent::Terminated { at } => {
                if self.terminate.is_none() {
                    return Err(reject(name, "terminate was not requested"));
                }
                self.sweep_terminated(*at);
                self.terminated_at = Some(*at);
                self.finished_at = Some(*at);
                Ok(())
            }
            ReleaseEvent::RetryRequested { actor, at } => {
                let status = self.status();
                if status != ReleaseStatus::Failed {
                    return Err(reject(name, format!("only a Failed release can be retried; this one is {status}")));
                }
                if self.is_busy() {
                    return Err(reject(name, "something in the release is still running"));
                }
                self.reset_for_retry();
                self.frozen_for = Duration::ZERO;
                self.retries = self.retries.saturating_add(1);
                self.last_retry = Some(RetryRecord { actor: actor.clone(), at: *at });
                self.finished_at = None;
                Ok(())
            }
            ReleaseEvent::Finished { status, at } => {
                if !matches!(status, ReleaseStatus::Succeeded | ReleaseStatus::Failed) {
                    return Err(reject(name, format!("a release finishes Succeeded or Failed, not {status}")));
                }
                let derived = self.status();
                if derived != *status {
                    return Err(reject(name, format!("the release is {derived}, not {status}")));
                }
                if self.is_busy() {
                    return Err(reject(name, "something in the release is still running"));
                }
                // Environments that never started wait for nothing any more.
                for env in self.environments.iter_mut().filter(|e| e.started_at.is_none()) {
                    env.frozen = None;
                }
                self.finished_at = Some(*at);
                Ok(())
            }
            other => Err(misrouted(other.name())),
        }
    }

    pub(super) fn sweep_terminated(&mut self, at: Timestamp) {
        let all_runs = self.hook_runs.iter_mut().chain(
            self.environments
                .iter_mut()
                .flat_map(|e| e.hook_runs.iter_mut().chain(e.apps.iter_mut().flat_map(|a| a.runs.iter_mut()))),
        );
        for run in all_runs.filter(|r| !r.retired) {
            run.sweep_terminated(at);
        }
        for app in self.environments.iter_mut().flat_map(|e| e.apps.iter_mut()) {
            if let Some(a) = app.action.as_mut()
                && matches!(a.status, ActionStatus::Running | ActionStatus::AwaitingMerge)
            {
                a.status = ActionStatus::Failed;
                a.error = Some("release terminated".to_owned());
                a.finished_at = Some(at);
            }
        }
    }

    pub(super) fn reset_for_retry(&mut self) {
        let failed: Vec<usize> =
            (0..self.environments.len()).filter(|i| self.status_at(*i) == EnvStatus::Failed).collect();
        for i in failed {
            let env = &mut self.environments[i];
            env.finished_at = None;
            // A relapse is evaluated again: the soak starts over.
            if env.soak.as_ref().is_some_and(|s| s.relapse.is_some()) {
                env.soak = None;
            }
            for app in &mut env.apps {
                if app.action.as_ref().is_some_and(|a| a.status == ActionStatus::Failed) {
                    app.action = None;
                }
                app.gate_failure = None;
                for run in app.runs.iter_mut().filter(|r| !r.retired && r.status().is_failure()) {
                    run.reset_for_retry();
                }
            }
            reset_hooks(&mut env.hook_runs);
        }
        reset_hooks(&mut self.hook_runs);
        self.resolved_issues.append(&mut self.issues);
    }
}

/// Retry of hooks: a failed onStart/onSuccess resumes at its point of failure; onFail runs are retired
/// so that they run again on a new failure.
pub(super) fn reset_hooks(runs: &mut [WorkflowRun]) {
    for run in runs.iter_mut().filter(|r| !r.retired) {
        if run.target.hook() == Some(HookKind::OnFail) {
            run.retired = true;
        } else if run.status().is_failure() {
            run.reset_for_retry();
        }
    }
}
