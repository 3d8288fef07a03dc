//! Statuses derived from a release's state (SPEC §4): environments, the release, counters, workflow lines.

use super::*;

impl ReleaseState {
    pub(super) fn facts_at(&self, i: usize) -> EnvFacts {
        let (Some(state), Some(snap)) = (self.environments.get(i), self.snapshot.environments.get(i)) else {
            return EnvFacts::default();
        };
        let started = state.started_at.is_some();
        let hook_ok = |kind: HookKind| {
            kind.of(&snap.hooks).is_none()
                || state.current_hook_run(kind).is_some_and(|r| r.status() == StepStatus::Success)
        };
        let all_done = state.apps.iter().all(|a| a.phase == AppPhase::Done);
        let soak_done = self.soak_done(i);
        let app_in_flight = state.apps.iter().any(|a| {
            a.phase != AppPhase::Done && !a.is_failed() && !a.is_waiting_for_person() && !self.waits_for_approval(i, a)
        });
        let hook_working = state.current_hook_runs().any(|r| r.is_in_progress() && !r.is_waiting_for_approval());
        let success_hook_due = all_done
            && soak_done
            && HookKind::OnSuccess.of(&snap.hooks).is_some()
            && state.current_hook_run(HookKind::OnSuccess).is_none();
        let relapsed = state.soak.as_ref().is_some_and(|s| s.relapse.is_some());
        EnvFacts {
            terminated_while_active: state.terminated,
            app_failed: state.apps.iter().any(AppState::is_failed) || relapsed,
            hook_failed: state.current_hook_runs().any(|r| r.status().is_failure()),
            running: started && (app_in_flight || hook_working || success_hook_due),
            waiting_for_person: state.apps.iter().any(AppState::is_waiting_for_person)
                || state.current_hook_runs().any(WorkflowRun::is_waiting_for_approval),
            frozen: !started && state.frozen.is_some(),
            soaking: started && all_done && !soak_done && !relapsed,
            awaiting_approval: started && state.apps.iter().any(|a| self.waits_for_approval(i, a)),
            completed: started && all_done && soak_done && hook_ok(HookKind::OnStart) && hook_ok(HookKind::OnSuccess),
        }
    }

    pub(super) fn status_at(&self, i: usize) -> EnvStatus {
        rollup_environment(&self.facts_at(i))
    }

    /// The status of environment `env` (`None` if the release has no such environment).
    pub fn env_status(&self, env: &EnvName) -> Option<EnvStatus> {
        let i = self.env_pos(env)?;
        Some(self.status_at(i))
    }

    /// Every environment with its status, in flow order.
    pub fn env_statuses(&self) -> Vec<(&EnvName, EnvStatus)> {
        (0..self.environments.len())
            .filter_map(|i| Some((&self.environments.get(i)?.name, self.status_at(i))))
            .collect()
    }

    /// The facts [`rollup_release`] turns into the release status.
    pub fn release_facts(&self) -> ReleaseFacts {
        let environments: Vec<EnvStatus> = (0..self.environments.len()).map(|i| self.status_at(i)).collect();
        let hooks = &self.snapshot.release_hooks;
        let current = || HookKind::ALL.iter().filter_map(|k| self.current_hook_run(*k));
        let success_due = environments.iter().all(|s| *s == EnvStatus::Successful)
            && HookKind::OnSuccess.of(hooks).is_some()
            && self.current_hook_run(HookKind::OnSuccess).is_none();
        let start_due = HookKind::OnStart.of(hooks).is_some() && self.current_hook_run(HookKind::OnStart).is_none();
        ReleaseFacts {
            started: self.started_at.is_some(),
            terminate_requested: self.terminate.is_some(),
            stopped: self.terminated_at.is_some(),
            hook_failed: current().any(|r| r.status().is_failure()),
            hook_running: current().any(WorkflowRun::is_in_progress) || success_due || start_due,
            environments,
        }
    }

    /// The release status (SPEC §4).
    pub fn status(&self) -> ReleaseStatus {
        rollup_release(&self.release_facts())
    }

    /// Header counters.
    pub fn counters(&self) -> Counters {
        Counters::from_statuses((0..self.environments.len()).map(|i| self.status_at(i)))
    }

    /// Why the release failed or was terminated: the terminate reason, else (when Failed) the summary
    /// of the first issue.
    pub fn reason(&self) -> Option<String> {
        if let Some(t) = &self.terminate {
            return Some(t.reason.clone());
        }
        let status = self.status();
        if status == ReleaseStatus::Suspended
            && let Some((env, hold)) = self.environments.iter().find_map(|e| Some((&e.name, e.frozen.as_ref()?)))
        {
            let freezes: Vec<&str> = hold.freezes.iter().map(|f| f.as_str()).collect();
            return Some(format!("frozen until {} ({env}: {})", hold.until, freezes.join(", ")));
        }
        if status == ReleaseStatus::Suspended
            && let Some(i) = (0..self.environments.len()).find(|i| self.facts_at(*i).awaiting_approval)
        {
            let required = self.approval_policy_at(i).map_or(0, |p| p.required);
            let given = required.saturating_sub(self.approvals_missing_at(i));
            return Some(format!("awaiting approval in {} ({given} of {required})", self.environments[i].name));
        }
        if status != ReleaseStatus::Failed {
            return None;
        }
        Some(self.issues.first().map_or_else(|| "failed".to_owned(), |i| i.summary.clone()))
    }

    /// Failed or Terminated environments with the summary of their first issue (for `FAILED_ENVIRONMENTS`).
    pub fn failed_environments(&self) -> Vec<(&EnvName, EnvStatus, Option<&str>)> {
        self.env_statuses()
            .into_iter()
            .filter(|(_, s)| matches!(s, EnvStatus::Failed | EnvStatus::Terminated))
            .map(|(name, s)| (name, s, self.env_issues(name).next().map(|i| i.summary.as_str())))
            .collect()
    }

    /// Whether work is in progress: a run, an action, a health wait, or a Running environment. Retry
    /// and `Finished` need this to be false; a pull request awaiting merge does not count.
    pub fn is_busy(&self) -> bool {
        (0..self.environments.len()).any(|i| {
            self.status_at(i) == EnvStatus::Running
                || self.environments.get(i).is_some_and(|e| {
                    e.apps.iter().any(AppState::is_busy) || e.current_hook_runs().any(WorkflowRun::is_in_progress)
                })
        }) || HookKind::ALL.iter().filter_map(|k| self.current_hook_run(*k)).any(WorkflowRun::is_in_progress)
    }

    pub(super) fn current_runs_of(&self, env: usize, stage: Stage) -> Vec<&WorkflowRun> {
        let Some(state) = self.environments.get(env) else { return Vec::new() };
        match stage {
            Stage::Hook => state.current_hook_runs().collect(),
            _ => state.apps.iter().filter_map(|a| a.current_run(stage)).collect(),
        }
    }

    /// One step of one stage in environment `env`, aggregated across the current runs of that stage (one
    /// per application): SPEC §4 "step status across runs". Pending when nothing ran it.
    pub fn step_line(&self, env: &EnvName, stage: Stage, step: &StepName) -> StepStatus {
        let Some(i) = self.env_pos(env) else { return StepStatus::Pending };
        rollup_step_line(self.current_runs_of(i, stage).iter().filter_map(|r| r.step(step)).map(|s| s.status))
    }

    /// The workflow lines of an environment card (§7.4 `workflows`): trigger, Pre-Action, Post-Action,
    /// then hooks, each aggregated across applications.
    pub fn workflow_lines(&self, env: &EnvName) -> Vec<WorkflowLine> {
        let Some(i) = self.env_pos(env) else { return Vec::new() };
        let mut lines: Vec<(WorkflowLine, Vec<&WorkflowRun>)> = Vec::new();
        for stage in [Stage::Trigger, Stage::PreAction, Stage::PostAction, Stage::Hook] {
            let mut runs = self.current_runs_of(i, stage);
            runs.sort_by_key(|r| r.target.hook());
            for run in runs {
                let hook = run.target.hook();
                let found =
                    lines.iter_mut().find(|(l, _)| l.stage == stage && l.hook == hook && l.name == run.workflow);
                match found {
                    Some((_, group)) => group.push(run),
                    None => lines.push((
                        WorkflowLine {
                            stage,
                            hook,
                            name: run.workflow.clone(),
                            status: StepStatus::Pending,
                            steps: Vec::new(),
                            runs: Vec::new(),
                        },
                        vec![run],
                    )),
                }
            }
        }
        lines
            .into_iter()
            .map(|(mut line, runs)| {
                let mut names: Vec<&StepName> = Vec::new();
                for step in runs.iter().flat_map(|r| &r.steps) {
                    if !names.contains(&&step.name) {
                        names.push(&step.name);
                    }
                }
                line.steps = names
                    .into_iter()
                    .map(|name| StepLine {
                        name: name.clone(),
                        status: rollup_step_line(runs.iter().filter_map(|r| r.step(name)).map(|s| s.status)),
                        approved: runs.iter().filter_map(|r| r.step(name)?.approved.clone()).max_by_key(|a| a.at),
                    })
                    .collect();
                line.status = rollup_step_line(runs.iter().map(|r| r.status()));
                line.runs = runs.iter().map(|r| r.id).collect();
                line
            })
            .collect()
    }
}
