//! Reading a release's state, and folding events into it (`apply`).

use super::*;

impl ReleaseState {
    /// The state right after `Created` (checks the snapshot).
    pub fn new(id: ReleaseId, snapshot: ReleaseSnapshot, created_at: Timestamp) -> Result<ReleaseState, ApplyError> {
        snapshot.check().map_err(ApplyError::InvalidSnapshot)?;
        let snapshot_envs: Vec<EnvName> = snapshot.environments.iter().map(|e| e.name.clone()).collect();
        let environments = snapshot
            .environments
            .iter()
            .map(|e| EnvState {
                name: e.name.clone(),
                started_at: None,
                finished_at: None,
                terminated: false,
                apps: e.applications.iter().map(|a| AppState::new(a.name.clone())).collect(),
                hook_runs: Vec::new(),
                frozen: None,
                freeze_override: None,
            })
            .collect();
        Ok(ReleaseState {
            id,
            snapshot: std::sync::Arc::new(snapshot),
            created_at,
            queued_at: None,
            started_at: None,
            finished_at: None,
            environments,
            hook_runs: Vec::new(),
            terminate: None,
            terminated_at: None,
            retries: 0,
            last_retry: None,
            context: BTreeMap::new(),
            issues: Vec::new(),
            resolved_issues: Vec::new(),
            event_count: 1,
            frozen_for: Duration::ZERO,
            env_index: EnvIndex(std::sync::Arc::new(
                snapshot_envs.iter().enumerate().map(|(i, name)| (name.clone(), i)).collect(),
            )),
        })
    }

    /// Rebuilds a state from its log; the first event must be `Created`.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a ReleaseEvent>) -> Result<ReleaseState, ApplyError> {
        let mut events = events.into_iter();
        let mut state = match events.next() {
            Some(ReleaseEvent::Created { id, snapshot, at }) => ReleaseState::new(*id, (**snapshot).clone(), *at)?,
            Some(other) => return Err(ApplyError::NotCreated { event: other.name() }),
            None => return Err(ApplyError::NotCreated { event: "an empty log" }),
        };
        for (i, event) in events.enumerate() {
            state.apply(event).map_err(|e| ApplyError::Replay { index: i + 1, source: Box::new(e) })?;
        }
        Ok(state)
    }

    // -------------------------------------------------------------------------------- accessors

    /// Release id.
    pub fn id(&self) -> ReleaseId {
        self.id
    }

    /// The creation snapshot.
    pub fn snapshot(&self) -> &ReleaseSnapshot {
        &self.snapshot
    }

    /// Creation time.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When it was queued.
    pub fn queued_at(&self) -> Option<Timestamp> {
        self.queued_at
    }

    /// When it started.
    pub fn started_at(&self) -> Option<Timestamp> {
        self.started_at
    }

    /// When it finished (`Finished` or `Terminated`); cleared by a retry.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }

    /// Per-environment state, in snapshot (flow) order.
    pub fn environments(&self) -> &[EnvState] {
        &self.environments
    }

    /// The state of environment `name`.
    pub fn environment(&self, name: &EnvName) -> Option<&EnvState> {
        self.environments.get(self.env_pos(name)?)
    }

    /// The position of environment `name` in flow order.
    pub(super) fn env_pos(&self, name: &EnvName) -> Option<usize> {
        if self.env_index.0.is_empty() {
            self.environments.iter().position(|e| e.name == *name)
        } else {
            self.env_index.0.get(name).copied()
        }
    }

    /// Release hook runs, oldest first.
    pub fn hook_runs(&self) -> &[WorkflowRun] {
        &self.hook_runs
    }

    /// Every workflow run of the release, retired ones included: release hooks, then per environment
    /// its hooks and its applications' runs.
    pub fn all_runs(&self) -> impl Iterator<Item = &WorkflowRun> {
        self.hook_runs.iter().chain(
            self.environments.iter().flat_map(|e| e.hook_runs.iter().chain(e.apps.iter().flat_map(|a| a.runs.iter()))),
        )
    }

    /// The current (latest, not retired) release hook run of `kind`.
    pub fn current_hook_run(&self, kind: HookKind) -> Option<&WorkflowRun> {
        self.hook_runs.iter().rev().find(|r| !r.retired && r.target.hook() == Some(kind))
    }

    /// The terminate request.
    pub fn terminate_request(&self) -> Option<&TerminateRequest> {
        self.terminate.as_ref()
    }

    /// When everything stopped after the terminate request.
    pub fn terminated_at(&self) -> Option<Timestamp> {
        self.terminated_at
    }

    /// Number of retries.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The latest retry (actor and time).
    pub fn last_retry(&self) -> Option<&RetryRecord> {
        self.last_retry.as_ref()
    }

    /// The promotion context (merged `PROMOTION_CONTEXT` of hooks).
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }

    /// Issues of the current attempt.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// Issues of the current attempt in environment `env`.
    pub fn env_issues<'a>(&'a self, env: &'a EnvName) -> impl Iterator<Item = &'a Issue> + 'a {
        self.issues.iter().filter(move |i| i.env.as_ref() == Some(env))
    }

    /// Issues of earlier attempts (before the latest retry), kept for the record.
    pub fn resolved_issues(&self) -> &[Issue] {
        &self.resolved_issues
    }

    /// Number of events applied, `Created` included (the sequence number of the last event).
    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// A fresh deterministic issue id for `env`/`app`/`kind` (see [`Issue::make_id`]).
    pub fn next_issue_id(&self, env: Option<&EnvName>, app: Option<&AppName>, kind: IssueKind) -> String {
        let prefix = format!("{}:{kind}:", issue_scope(env, app));
        let used = self.issues.iter().chain(&self.resolved_issues).filter(|i| i.id.starts_with(&prefix)).count();
        let mut seq = u32::try_from(used).unwrap_or(u32::MAX).saturating_add(1);
        loop {
            let id = format!("{prefix}{seq}");
            if !self.issues.iter().chain(&self.resolved_issues).any(|i| i.id == id) || seq == u32::MAX {
                return id;
            }
            seq += 1;
        }
    }

    /// When the flow timeout expires: from the start, or from the latest retry (SPEC §3.8), not counting
    /// the time an environment waited for a freeze window; none while one waits.
    pub fn deadline(&self) -> Option<Timestamp> {
        if self.environments.iter().any(|e| e.frozen.is_some()) {
            return None;
        }
        let base = self.timeout_base()?;
        base.checked_add(self.snapshot.timeout).ok()?.checked_add(self.frozen_for).ok()
    }

    /// Where the flow timeout counts from: the start, or the latest retry.
    pub(super) fn timeout_base(&self) -> Option<Timestamp> {
        self.last_retry.as_ref().map(|r| r.at).or(self.started_at)
    }

    /// The version an application runs after this release: the release's version once the promotion
    /// landed there (SPEC §3.7; the trigger environment already runs it), else `None` (unchanged).
    pub fn app_version(&self, env: &EnvName, app: &AppName) -> Option<&str> {
        let i = self.env_pos(env)?;
        let es = self.snapshot.environments.get(i)?;
        let state = self.environments.get(i)?.app(app)?;
        (es.is_trigger || state.action_landed()).then_some(self.snapshot.version.as_deref()).flatten()
    }

    // -------------------------------------------------------------------------------- derived statuses

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
        let app_in_flight =
            state.apps.iter().any(|a| a.phase != AppPhase::Done && !a.is_failed() && !a.is_waiting_for_person());
        let hook_working = state.current_hook_runs().any(|r| r.is_in_progress() && !r.is_waiting_for_approval());
        let success_hook_due = all_done
            && HookKind::OnSuccess.of(&snap.hooks).is_some()
            && state.current_hook_run(HookKind::OnSuccess).is_none();
        EnvFacts {
            terminated_while_active: state.terminated,
            app_failed: state.apps.iter().any(AppState::is_failed),
            hook_failed: state.current_hook_runs().any(|r| r.status().is_failure()),
            running: started && (app_in_flight || hook_working || success_hook_due),
            waiting_for_person: state.apps.iter().any(AppState::is_waiting_for_person)
                || state.current_hook_runs().any(WorkflowRun::is_waiting_for_approval),
            frozen: !started && state.frozen.is_some(),
            completed: started && all_done && hook_ok(HookKind::OnStart) && hook_ok(HookKind::OnSuccess),
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
                    })
                    .collect();
                line.status = rollup_step_line(runs.iter().map(|r| r.status()));
                line.runs = runs.iter().map(|r| r.id).collect();
                line
            })
            .collect()
    }

    // -------------------------------------------------------------------------------- apply

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
            ReleaseEvent::EnvironmentFrozen { .. } | ReleaseEvent::FreezeOverridden { .. } => {
                self.apply_governance(event)
            }
            _ => self.apply_lifecycle(event),
        }
    }

    /// The release's own life: queue, start, environments starting, issues, context, terminate, retry, finish.
    fn apply_lifecycle(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
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

    /// Workflow runs and their steps.
    fn apply_workflow(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
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

    /// Promotion actions: commits, pull requests, failures.
    fn apply_action(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        match event {
            ReleaseEvent::ActionStarted { env, apps, action, at } => {
                let ei = self.env_idx(name, env)?;
                let snap = &self.snapshot.environments[ei];
                let expected = snap.policy.as_ref().map(|p| p.action);
                if !snap.is_trigger && expected != Some(*action) {
                    return Err(reject(
                        name,
                        format!(
                            "{env}'s action is {}, not {}",
                            expected.map_or("unset", Action::as_str),
                            action.as_str()
                        ),
                    ));
                }
                let status = self.status_at(ei);
                if matches!(status, EnvStatus::Failed | EnvStatus::Terminated) {
                    return Err(reject(name, format!("{env} is {status}; nothing new starts there")));
                }
                let pre_action = snap.policy.as_ref().and_then(|p| p.pre_action.as_ref()).is_some();
                let (ei, idx) = self.action_apps(name, env, apps, |a| {
                    let pre_ok = !pre_action
                        || a.current_run(Stage::PreAction).is_some_and(|r| r.status() == StepStatus::Success);
                    match a.phase {
                        AppPhase::Pending | AppPhase::PreAction if pre_ok => Ok(()),
                        AppPhase::Pending | AppPhase::PreAction => Err("its Pre-Action has not succeeded".to_owned()),
                        AppPhase::Action if a.action.is_none() => Ok(()),
                        phase => Err(format!("it is in phase {phase:?} with an action already recorded")),
                    }
                })?;
                let landed = *action == Action::None;
                for ai in idx {
                    let app = self.app_mut(ei, ai);
                    app.phase = if landed { AppPhase::Health } else { AppPhase::Action };
                    app.action = Some(ActionState {
                        action: *action,
                        status: if landed { ActionStatus::Succeeded } else { ActionStatus::Running },
                        commit: None,
                        repo: None,
                        unchanged: false,
                        pull_request: None,
                        error: None,
                        started_at: *at,
                        finished_at: landed.then_some(*at),
                    });
                }
                Ok(())
            }
            ReleaseEvent::ActionCommitted { env, apps, repo, commit, at } => {
                let (ei, idx) = self.action_apps(name, env, apps, |a| match &a.action {
                    Some(s) if s.status == ActionStatus::Running && s.action == Action::Commit => Ok(()),
                    other => Err(action_mismatch(other, "a running commit action")),
                })?;
                for ai in idx {
                    let app = self.app_mut(ei, ai);
                    app.phase = AppPhase::Health;
                    if let Some(a) = app.action.as_mut() {
                        a.status = ActionStatus::Succeeded;
                        a.commit = Some(commit.clone());
                        a.repo = Some(repo.clone());
                        a.finished_at = Some(*at);
                    }
                }
                Ok(())
            }
            ReleaseEvent::ActionUnchanged { env, apps, at } => {
                let (ei, idx) = self.action_apps(name, env, apps, |a| match &a.action {
                    Some(s) if s.status == ActionStatus::Running => Ok(()),
                    other => Err(action_mismatch(other, "a running action")),
                })?;
                for ai in idx {
                    let app = self.app_mut(ei, ai);
                    app.phase = AppPhase::Health;
                    if let Some(a) = app.action.as_mut() {
                        a.status = ActionStatus::Succeeded;
                        a.unchanged = true;
                        a.finished_at = Some(*at);
                    }
                }
                Ok(())
            }
            ReleaseEvent::PullRequestOpened { env, apps, url, number, branch, at: _ } => {
                let (ei, idx) = self.action_apps(name, env, apps, |a| match &a.action {
                    Some(s) if s.status == ActionStatus::Running && s.action == Action::Pr => Ok(()),
                    other => Err(action_mismatch(other, "a running pr action")),
                })?;
                for ai in idx {
                    if let Some(a) = self.app_mut(ei, ai).action.as_mut() {
                        a.status = ActionStatus::AwaitingMerge;
                        a.pull_request =
                            Some(PullRequest { url: url.clone(), number: *number, branch: branch.clone() });
                    }
                }
                Ok(())
            }
            ReleaseEvent::PullRequestMerged { env, apps, merge_commit, at } => {
                let (ei, idx) = self.action_apps(name, env, apps, |a| match &a.action {
                    Some(s) if s.status == ActionStatus::AwaitingMerge => Ok(()),
                    other => Err(action_mismatch(other, "a pull request awaiting merge")),
                })?;
                for ai in idx {
                    let app = self.app_mut(ei, ai);
                    app.phase = AppPhase::Health;
                    if let Some(a) = app.action.as_mut() {
                        a.status = ActionStatus::Succeeded;
                        a.commit = Some(merge_commit.clone());
                        a.finished_at = Some(*at);
                    }
                }
                Ok(())
            }
            ReleaseEvent::ActionFailed { env, apps, error, at } => {
                let (ei, idx) = self.action_apps(name, env, apps, |a| match &a.action {
                    Some(s) if matches!(s.status, ActionStatus::Running | ActionStatus::AwaitingMerge) => Ok(()),
                    other => Err(action_mismatch(other, "an action in progress")),
                })?;
                for ai in idx {
                    if let Some(a) = self.app_mut(ei, ai).action.as_mut() {
                        a.status = ActionStatus::Failed;
                        a.error = Some(error.clone());
                        a.finished_at = Some(*at);
                    }
                }
                Ok(())
            }
            other => Err(misrouted(other.name())),
        }
    }

    /// Observations and gates of one application.
    fn apply_app(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
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
                let all_done = self.environments[ei].apps.iter().all(|a| a.phase == AppPhase::Done);
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

/// Retires the runs matching `same_slot`.
pub(super) fn retire(runs: &mut [WorkflowRun], same_slot: impl Fn(&WorkflowRun) -> bool) {
    for run in runs.iter_mut().filter(|r| !r.retired && same_slot(r)) {
        run.retired = true;
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

pub(super) fn action_mismatch(found: &Option<ActionState>, expected: &str) -> String {
    match found {
        None => format!("expected {expected}, but no action started"),
        Some(a) => format!("expected {expected}, found a {} action that is {:?}", a.action.as_str(), a.status),
    }
}

/// An event handed to the wrong `apply_*` (a bug in the dispatch of `apply_inner`).
fn misrouted(event: &'static str) -> ApplyError {
    reject(event, "this kind of event is not handled here (a bug in Ferry; please report it)")
}
