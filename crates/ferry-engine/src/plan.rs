//! The pure planner: given a release's state, what happens next.
//!
//! [`plan`] returns events to record now (decisions that need no IO, such as starting an environment
//! or starting a workflow run) and work to carry out (running a workflow, promoting, watching an
//! application). Every emitted event is valid against the state it was planned from; the engine
//! applies them in order, re-plans until nothing new is emitted, commits, and only then hands out
//! the work. Work already being carried out is skipped through `in_flight`, so after a restart (when
//! nothing is in flight) unfinished work is simply planned again.

use std::collections::{BTreeMap, HashSet};

use ferry_model::freeze::FreezeSet;
use ferry_model::names::{AppName, EnvName, ReleaseId, StepName, WorkflowName};
use ferry_model::release::{
    ActionStatus, AppPhase, AppState, EnvSnapshot, HookKind, ReleaseEvent, ReleaseState, RunId, RunTarget, Stage,
    StepSpec, WorkflowRun,
};
use ferry_model::resources::{Action, Workflow};
use ferry_model::status::{EnvStatus, ReleaseStatus, StepStatus};
use jiff::Timestamp;

/// Work the executor carries out through its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Execute (or resume) a workflow run recorded by `WorkflowRunStarted`.
    Run {
        /// The run.
        run_id: RunId,
    },
    /// Carry out the promotion action for applications of one environment that share a repository.
    Promote {
        /// Target environment.
        env: EnvName,
        /// Applications (one repository).
        apps: Vec<AppName>,
        /// The action.
        action: Action,
    },
    /// Wait until the application is Synced at the promotion commit and Healthy.
    Watch {
        /// Environment.
        env: EnvName,
        /// Application.
        app: AppName,
    },
    /// Follow the application through the environment's soak time (SPEC §10): report a relapse, or
    /// nothing once `until` passed.
    Soak {
        /// Environment.
        env: EnvName,
        /// Application.
        app: AppName,
        /// When the soak ends.
        until: Timestamp,
    },
}

impl Work {
    /// Identifies the work, to avoid carrying it out twice at once.
    pub fn key(&self) -> String {
        match self {
            Work::Run { run_id } => format!("run:{run_id}"),
            Work::Promote { env, apps, .. } => {
                let apps: Vec<&str> = apps.iter().map(|a| a.as_str()).collect();
                format!("promote:{env}:{}", apps.join(","))
            }
            Work::Watch { env, app } => format!("watch:{env}:{app}"),
            Work::Soak { env, app, .. } => format!("soak:{env}:{app}"),
        }
    }
}

/// One decision of the planner.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Record this event.
    Emit(ReleaseEvent),
    /// Carry this out.
    Do(Work),
}

/// What the planner needs besides the release state.
pub struct PlanInput<'a> {
    /// Now.
    pub now: Timestamp,
    /// Whether the release may leave the queue (decided across releases by the executor).
    pub may_start: bool,
    /// Keys of work being carried out.
    pub in_flight: &'a HashSet<String>,
    /// Workflow definitions in force.
    pub workflows: &'a BTreeMap<WorkflowName, Workflow>,
    /// Freeze windows in force (SPEC §10): the configuration's and the runtime ones.
    pub freezes: &'a FreezeSet,
}

/// Resolved steps of a workflow (`dependsOn` omitted = the previous step), or why it cannot run.
pub fn step_specs(workflow: &Workflow) -> Result<Vec<StepSpec>, String> {
    let mut specs: Vec<StepSpec> = Vec::with_capacity(workflow.steps.len());
    for (i, step) in workflow.steps.iter().enumerate() {
        let depends_on = match &step.depends_on {
            Some(deps) => deps.clone(),
            None => workflow.steps[..i].last().map(|prev| vec![prev.name.clone()]).unwrap_or_default(),
        };
        if specs.iter().any(|s| s.name == step.name) {
            return Err(format!("step {} is declared twice", step.name));
        }
        specs.push(StepSpec { name: step.name.clone(), depends_on, whole_run: false });
    }
    let names: Vec<&StepName> = specs.iter().map(|s| &s.name).collect();
    for spec in &specs {
        if let Some(unknown) = spec.depends_on.iter().find(|d| !names.contains(d)) {
            return Err(format!("step {} depends on unknown step {unknown}", spec.name));
        }
    }
    // Cycle check: repeatedly remove steps whose dependencies are all removed.
    let mut left: Vec<&StepSpec> = specs.iter().collect();
    let mut done: Vec<&StepName> = Vec::new();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|s| {
            let ready = s.depends_on.iter().all(|d| done.contains(&d));
            if ready {
                done.push(&s.name);
            }
            !ready
        });
        if left.len() == before {
            let names: Vec<&str> = left.iter().map(|s| s.name.as_str()).collect();
            return Err(format!("steps depend on each other in a cycle: {}", names.join(", ")));
        }
    }
    match &workflow.backend {
        ferry_model::resources::WorkflowBackend::Local if workflow.steps.is_empty() => {
            Err("the workflow has no steps".to_owned())
        }
        // An Argo workflow starts with one step, the workflow itself; its nodes are added as Argo
        // reports them.
        ferry_model::resources::WorkflowBackend::Argo { template, .. } if workflow.steps.is_empty() => {
            Ok(vec![StepSpec {
                name: crate::ports::argo_root_step(template)?,
                depends_on: Vec::new(),
                whole_run: true,
            }])
        }
        _ => Ok(specs),
    }
}

/// The runs of a release that are in progress: release hooks, environment hooks and the
/// applications' runs (retired runs left out).
fn in_progress_runs(state: &ReleaseState) -> impl Iterator<Item = &WorkflowRun> {
    state.all_runs().filter(|r| !r.retired && r.error.is_none() && r.is_in_progress())
}

/// Whether `run`'s workflow runs outside Ferry's process (see [`Workflow`]'s backend).
fn is_remote(workflows: &BTreeMap<WorkflowName, Workflow>, run: &WorkflowRun) -> bool {
    workflows.get(&run.workflow).is_some_and(|w| w.backend.is_remote())
}

/// The steps a takeover records as lost (SPEC §8.1): the running steps of in-progress runs, except
/// those of remote runs (an Argo workflow goes on without the replica that followed it; the new
/// owner re-attaches to it by its deterministic name).
pub fn lost_at_takeover(state: &ReleaseState, workflows: &BTreeMap<WorkflowName, Workflow>) -> Vec<(RunId, StepName)> {
    in_progress_runs(state)
        .filter(|r| !is_remote(workflows, r))
        .flat_map(|r| r.steps.iter().filter(|s| s.status == StepStatus::Running).map(move |s| (r.id, s.name.clone())))
        .collect()
}

struct Planner<'a, 'b> {
    state: &'a ReleaseState,
    input: &'a PlanInput<'b>,
    new_id: &'a mut dyn FnMut() -> uuid::Uuid,
    out: Vec<Step>,
}

/// Plans the next steps of a release. `new_id` supplies run ids.
pub fn plan(state: &ReleaseState, input: &PlanInput<'_>, new_id: &mut dyn FnMut() -> uuid::Uuid) -> Vec<Step> {
    let mut planner = Planner { state, input, new_id, out: Vec::new() };
    planner.plan();
    planner.out
}

impl Planner<'_, '_> {
    fn emit(&mut self, event: ReleaseEvent) {
        self.out.push(Step::Emit(event));
    }

    fn work(&mut self, work: Work) {
        if !self.input.in_flight.contains(&work.key()) {
            self.out.push(Step::Do(work));
        }
    }

    fn start_run(&mut self, target: RunTarget, workflow: &WorkflowName) {
        let now = self.input.now;
        let run_id = RunId((self.new_id)());
        let (steps, error) = match self.input.workflows.get(workflow) {
            Some(def) => match step_specs(def) {
                Ok(steps) => (steps, None),
                Err(e) => (Vec::new(), Some(format!("workflow {workflow} is invalid: {e}"))),
            },
            None => (Vec::new(), Some(format!("workflow {workflow} is not defined in the applied configuration"))),
        };
        self.emit(ReleaseEvent::WorkflowRunStarted { run_id, target, workflow: workflow.clone(), steps, at: now });
        if let Some(error) = error {
            self.emit(ReleaseEvent::WorkflowRunErrored { run_id, error, at: now });
        }
    }

    /// Resumes a run that is in progress and not being executed (after a restart or a retry).
    fn resume(&mut self, run: &WorkflowRun) {
        if run.is_in_progress() && !run.steps.is_empty() {
            self.work(Work::Run { run_id: run.id });
        }
    }

    fn plan(&mut self) {
        let state = self.state;
        let now = self.input.now;
        if state.finished_at().is_some() || state.terminated_at().is_some() {
            return;
        }
        if state.terminate_request().is_some() {
            self.plan_terminating();
            return;
        }
        if state.started_at().is_none() {
            if self.input.may_start {
                self.emit(ReleaseEvent::Started { at: now });
            } else if state.queued_at().is_none() {
                self.emit(ReleaseEvent::Queued { at: now });
            }
            return;
        }
        let hooks = &state.snapshot().release_hooks;
        let status = state.status();
        // Release onStart hook first; environments wait for it.
        let start_hook_ok = match hooks.on_start.clone() {
            None => true,
            Some(wf) => match state.current_hook_run(HookKind::OnStart) {
                None => {
                    self.start_run(RunTarget::ReleaseHook { hook: HookKind::OnStart }, &wf);
                    false
                }
                Some(run) => {
                    self.resume(run);
                    run.status() == StepStatus::Success
                }
            },
        };
        let release_failed = status == ReleaseStatus::Failed;
        for (i, snap) in state.snapshot().environments.iter().enumerate() {
            let Some(env) = state.environments().get(i) else { continue };
            if env.started_at.is_none() {
                let deps_ok = snap.depends_on.iter().all(|d| state.env_status(d) == Some(EnvStatus::Successful));
                if deps_ok && start_hook_ok && !release_failed {
                    self.start_or_hold(snap, env);
                }
                continue;
            }
            self.plan_environment(snap, i);
        }
        self.plan_release_end(status);
    }

    /// Starts a target environment whose dependencies succeeded, unless freeze windows hold it (SPEC
    /// §10): then it is recorded as frozen until they end (again when the windows holding it change).
    /// The trigger environment is never held (its change is deployed already), nor an environment
    /// whose freezes an admin overrode for this release.
    fn start_or_hold(&mut self, snap: &EnvSnapshot, env: &ferry_model::release::EnvState) {
        let now = self.input.now;
        let product = self.state.snapshot().product.as_str();
        let hold = if snap.is_trigger || env.freeze_override.is_some() {
            None
        } else {
            self.input.freezes.hold(product, snap.name.as_str(), now)
        };
        match hold {
            None => self.emit(ReleaseEvent::EnvironmentStarted { env: snap.name.clone(), at: now }),
            Some(hold) => {
                let same = env.frozen.as_ref().is_some_and(|f| f.until == hold.until && f.freezes == hold.freezes);
                if !same {
                    self.emit(ReleaseEvent::EnvironmentFrozen {
                        env: snap.name.clone(),
                        until: hold.until,
                        freezes: hold.freezes,
                        at: now,
                    });
                }
            }
        }
    }

    fn plan_release_end(&mut self, status: ReleaseStatus) {
        let state = self.state;
        let now = self.input.now;
        let hooks = &state.snapshot().release_hooks;
        let all_successful = state.env_statuses().iter().all(|(_, s)| *s == EnvStatus::Successful);
        if all_successful && let Some(wf) = hooks.on_success.clone() {
            match state.current_hook_run(HookKind::OnSuccess) {
                None => self.start_run(RunTarget::ReleaseHook { hook: HookKind::OnSuccess }, &wf),
                Some(run) => self.resume(run),
            }
        }
        if status == ReleaseStatus::Failed && !self.any_app_or_env_hook_busy() {
            // onFail once everything else stopped, so FAILED_ENVIRONMENTS is complete.
            if let Some(wf) = hooks.on_fail.clone() {
                match state.current_hook_run(HookKind::OnFail) {
                    None => {
                        self.start_run(RunTarget::ReleaseHook { hook: HookKind::OnFail }, &wf);
                        return;
                    }
                    Some(run) if run.is_in_progress() => {
                        self.resume(run);
                        return;
                    }
                    Some(_) => {}
                }
            }
        }
        if matches!(status, ReleaseStatus::Succeeded | ReleaseStatus::Failed) && !state.is_busy() {
            self.emit(ReleaseEvent::Finished { status, at: now });
        }
    }

    fn any_app_or_env_hook_busy(&self) -> bool {
        self.state.environments().iter().any(|e| {
            e.apps.iter().any(|a| {
                a.current_runs().any(WorkflowRun::is_in_progress)
                    || a.action.as_ref().is_some_and(|x| x.status == ActionStatus::Running)
                    || (a.phase == AppPhase::Health && a.gate_failure.is_none() && !a.is_failed())
            }) || e.hook_runs.iter().any(|r| !r.retired && r.is_in_progress())
        })
    }

    /// After a terminate request: wait until running work has stopped, run the `onFail` hooks (with the
    /// reason as `ERROR_MESSAGE`), then record `Terminated`.
    fn plan_terminating(&mut self) {
        let state = self.state;
        let mut stopping = self.input.in_flight.iter().any(|k| k.starts_with("run:") || k.starts_with("promote:"));
        // A remote run (an Argo workflow) outlives the process that started it: after a restart or a
        // takeover it is carried out again, so that its runner re-attaches and stops it.
        for run in in_progress_runs(state).filter(|r| is_remote(self.input.workflows, r)) {
            self.resume(run);
            stopping = true;
        }
        if stopping {
            // onFail runs already under way are resumed; nothing else.
            return;
        }
        let mut pending = false;
        if state.started_at().is_some() {
            for (i, snap) in state.snapshot().environments.iter().enumerate() {
                let Some(env) = state.environments().get(i) else { continue };
                let status = state.env_status(&snap.name);
                if !matches!(status, Some(EnvStatus::Terminated | EnvStatus::Failed)) {
                    continue;
                }
                if let Some(wf) = snap.hooks.on_fail.clone() {
                    match env.current_hook_run(HookKind::OnFail) {
                        None => {
                            self.start_run(
                                RunTarget::EnvironmentHook { env: snap.name.clone(), hook: HookKind::OnFail },
                                &wf,
                            );
                            pending = true;
                        }
                        Some(run) if run.is_in_progress() => {
                            self.resume(run);
                            pending = true;
                        }
                        Some(_) => {}
                    }
                }
            }
            if let Some(wf) = state.snapshot().release_hooks.on_fail.clone() {
                match state.current_hook_run(HookKind::OnFail) {
                    None => {
                        self.start_run(RunTarget::ReleaseHook { hook: HookKind::OnFail }, &wf);
                        pending = true;
                    }
                    Some(run) if run.is_in_progress() => {
                        self.resume(run);
                        pending = true;
                    }
                    Some(_) => {}
                }
            }
        }
        if !pending {
            self.emit(ReleaseEvent::Terminated { at: self.input.now });
        }
    }

    fn plan_environment(&mut self, snap: &EnvSnapshot, i: usize) {
        let state = self.state;
        let Some(env) = state.environments().get(i) else { return };
        let status = state.env_status(&snap.name).unwrap_or(EnvStatus::Pending);
        // Resume whatever runs of this environment are in progress.
        for run in env.hook_runs.iter().filter(|r| !r.retired) {
            self.resume(run);
        }
        for app in &env.apps {
            for run in app.current_runs() {
                self.resume(run);
            }
        }
        if matches!(status, EnvStatus::Failed | EnvStatus::Terminated) {
            if state.rollback_due_at(i) {
                let release = ReleaseId((self.new_id)());
                self.emit(ReleaseEvent::RollbackStarted { env: snap.name.clone(), release, at: self.input.now });
            }
            if let Some(wf) = snap.hooks.on_fail.clone()
                && env.current_hook_run(HookKind::OnFail).is_none()
            {
                self.start_run(RunTarget::EnvironmentHook { env: snap.name.clone(), hook: HookKind::OnFail }, &wf);
            }
            // Sibling applications already running finish; nothing new starts.
            self.plan_in_flight_only(snap, &env.apps);
            return;
        }
        if let Some(wf) = snap.hooks.on_start.clone() {
            match env.current_hook_run(HookKind::OnStart) {
                None => {
                    self.start_run(RunTarget::EnvironmentHook { env: snap.name.clone(), hook: HookKind::OnStart }, &wf);
                    return;
                }
                Some(run) if run.status() != StepStatus::Success => return,
                Some(_) => {}
            }
        }
        if snap.is_trigger {
            self.plan_trigger_apps(snap, &env.apps);
        } else {
            self.plan_target_apps(snap, &env.apps, state.approvals_missing_at(i) == 0);
        }
        let all_done = env.apps.iter().all(|a| a.phase == AppPhase::Done);
        if all_done && !state.soak_done(i) {
            self.plan_soak(snap, i);
            return;
        }
        if all_done
            && let Some(wf) = snap.hooks.on_success.clone()
            && env.current_hook_run(HookKind::OnSuccess).is_none()
        {
            self.start_run(RunTarget::EnvironmentHook { env: snap.name.clone(), hook: HookKind::OnSuccess }, &wf);
        }
    }

    /// The soak time of environment `i` (SPEC §10): recorded with its end when the applications passed
    /// their phases (durable: a restart keeps the deadline), then each application followed until it
    /// ends; passed once the clock reaches it.
    fn plan_soak(&mut self, snap: &EnvSnapshot, i: usize) {
        let now = self.input.now;
        let Some(env) = self.state.environments().get(i) else { return };
        match &env.soak {
            None => {
                let Some(time) = self.state.soak_time_at(i) else { return };
                if let Ok(until) = now.checked_add(time) {
                    self.emit(ReleaseEvent::SoakStarted { env: snap.name.clone(), until, at: now });
                }
            }
            Some(soak) if soak.passed_at.is_none() && soak.relapse.is_none() => {
                if now >= soak.until {
                    self.emit(ReleaseEvent::SoakPassed { env: snap.name.clone(), at: now });
                } else {
                    for app in &env.apps {
                        self.work(Work::Soak { env: snap.name.clone(), app: app.name.clone(), until: soak.until });
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// In a Failed environment: keep carrying out actions and health waits already under way.
    fn plan_in_flight_only(&mut self, snap: &EnvSnapshot, apps: &[AppState]) {
        for app in apps {
            if app.phase == AppPhase::Health && app.gate_failure.is_none() && !app.is_failed() {
                self.work(Work::Watch { env: snap.name.clone(), app: app.name.clone() });
            }
        }
        self.plan_running_actions(snap, apps);
    }

    fn plan_trigger_apps(&mut self, snap: &EnvSnapshot, apps: &[AppState]) {
        let now = self.input.now;
        let trigger_workflow = self.state.snapshot().trigger_workflow.clone();
        for app in apps {
            match (app.phase, &trigger_workflow) {
                (AppPhase::Pending, Some(wf)) => {
                    self.start_run(RunTarget::Trigger { env: snap.name.clone(), app: app.name.clone() }, wf)
                }
                (AppPhase::Pending, None) => {
                    self.emit(ReleaseEvent::AppSucceeded { env: snap.name.clone(), app: app.name.clone(), at: now })
                }
                (AppPhase::PostAction, Some(_))
                    if app.current_run(Stage::Trigger).is_some_and(|r| r.status() == StepStatus::Success) =>
                {
                    self.emit(ReleaseEvent::AppSucceeded { env: snap.name.clone(), app: app.name.clone(), at: now })
                }
                _ => {}
            }
        }
    }

    /// The phases of a target environment's applications; the action waits for `approved` (SPEC §10).
    fn plan_target_apps(&mut self, snap: &EnvSnapshot, apps: &[AppState], approved: bool) {
        let now = self.input.now;
        let Some(policy) = &snap.policy else { return };
        // 1. Pre-Action per application.
        if let Some(pre) = &policy.pre_action {
            for app in apps.iter().filter(|a| a.phase == AppPhase::Pending) {
                self.start_run(RunTarget::PreAction { env: snap.name.clone(), app: app.name.clone() }, pre);
            }
        }
        // 2. The action, once every application's Pre-Action succeeded; one per repository. An
        //    application in phase Action without one had its failed action cleared by a retry: it is
        //    attempted again (SPEC §3.8).
        let ready_for_action = |a: &AppState| match a.phase {
            AppPhase::Pending => policy.pre_action.is_none(),
            AppPhase::PreAction => a.current_run(Stage::PreAction).is_some_and(|r| r.status() == StepStatus::Success),
            AppPhase::Action => a.action.is_none(),
            _ => false,
        };
        let not_begun: Vec<&AppState> = apps.iter().filter(|a| a.action.is_none()).collect();
        if approved && !not_begun.is_empty() && not_begun.iter().all(|a| ready_for_action(a)) {
            for group in group_by_repo(snap, &not_begun) {
                self.emit(ReleaseEvent::ActionStarted {
                    env: snap.name.clone(),
                    apps: group,
                    action: policy.action,
                    at: now,
                });
            }
        }
        self.plan_running_actions(snap, apps);
        for app in apps {
            match app.phase {
                // 3. Sync and health.
                AppPhase::Health if app.gate_failure.is_none() => {
                    self.work(Work::Watch { env: snap.name.clone(), app: app.name.clone() })
                }
                // 4. Post-Action, then done.
                AppPhase::PostAction => match (&policy.post_action, app.current_run(Stage::PostAction)) {
                    (Some(post), None) => {
                        self.start_run(RunTarget::PostAction { env: snap.name.clone(), app: app.name.clone() }, post)
                    }
                    (Some(_), Some(run)) if run.status() == StepStatus::Success => {
                        self.emit(ReleaseEvent::AppSucceeded { env: snap.name.clone(), app: app.name.clone(), at: now })
                    }
                    (None, _) => {
                        self.emit(ReleaseEvent::AppSucceeded { env: snap.name.clone(), app: app.name.clone(), at: now })
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }

    /// Actions recorded as running are carried out (again, after a restart: idempotently).
    fn plan_running_actions(&mut self, snap: &EnvSnapshot, apps: &[AppState]) {
        let running: Vec<&AppState> = apps
            .iter()
            .filter(|a| {
                a.phase == AppPhase::Action && a.action.as_ref().is_some_and(|x| x.status == ActionStatus::Running)
            })
            .collect();
        for group in group_by_repo(snap, &running) {
            let action = running
                .iter()
                .find(|a| a.name == group[0])
                .and_then(|a| a.action.as_ref())
                .map_or(Action::Commit, |x| x.action);
            self.work(Work::Promote { env: snap.name.clone(), apps: group, action });
        }
    }
}

/// Groups applications by repository URL (snapshot order kept).
fn group_by_repo(snap: &EnvSnapshot, apps: &[&AppState]) -> Vec<Vec<AppName>> {
    let mut groups: Vec<(String, Vec<AppName>)> = Vec::new();
    for app in apps {
        let repo =
            snap.applications.iter().find(|s| s.name == app.name).map(|s| s.repo_url.clone()).unwrap_or_default();
        match groups.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, names)) => names.push(app.name.clone()),
            None => groups.push((repo, vec![app.name.clone()])),
        }
    }
    groups.into_iter().map(|(_, names)| names).collect()
}
