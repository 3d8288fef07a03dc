//! Translating the outcomes of work (workflow steps and runs, promotions, observations, gates)
//! into release events, with an issue for each failure.

use std::collections::BTreeMap;

use ferry_git::PromotionOutcome;
use ferry_model::names::{AppName, EnvName, ReleaseId, StepName};
use ferry_model::release::{
    GateFailure, GitOperation, Issue, IssueDetail, IssueKind, ReleaseEvent, ReleaseState, RunId, Stage, WorkflowRun,
    log_tail,
};
use ferry_model::status::StepStatus;
use ferry_store::Store;
use jiff::Timestamp;

use super::{Engine, find_run, stage_label};
use crate::work::Outcome;

impl<S: Store> Engine<S> {
    /// The id of the next issue of `kind` for `env` and `app` of release `id`, with `.extra` appended when non-zero.
    fn issue_id(
        &self,
        id: ReleaseId,
        env: Option<&EnvName>,
        app: Option<&AppName>,
        kind: IssueKind,
        extra: usize,
    ) -> String {
        let base = self.releases.get(&id).map(|a| a.state.next_issue_id(env, app, kind)).unwrap_or_default();
        if extra == 0 { base } else { format!("{base}.{extra}") }
    }

    /// The release events for outcomes recorded at once; issues raised for several of them get
    /// distinct ids (`.1`, `.2`, … appended).
    pub(super) fn batch_events(&self, id: ReleaseId, outcomes: Vec<Outcome>) -> Vec<ReleaseEvent> {
        let mut seen = std::collections::BTreeSet::new();
        let mut events = Vec::new();
        for outcome in outcomes {
            for mut event in self.events_for(id, outcome) {
                if let ReleaseEvent::IssueRaised { issue } = &mut event {
                    let base = issue.id.clone();
                    let mut n = 0;
                    while !seen.insert(issue.id.clone()) {
                        n += 1;
                        issue.id = format!("{base}.{n}");
                    }
                }
                events.push(event);
            }
        }
        events
    }

    /// The release events for an outcome of work on release `id`, with an issue for each failure.
    pub(super) fn events_for(&self, id: ReleaseId, outcome: Outcome) -> Vec<ReleaseEvent> {
        let now = self.ports.clock.now();
        let Some(active) = self.releases.get(&id) else { return Vec::new() };
        let state = &active.state;
        match outcome {
            Outcome::Batch(outcomes) => self.batch_events(id, outcomes),
            Outcome::StepAdded { run_id, step } => {
                // A runner that re-attaches to a run reports the steps it already had again.
                let known = find_run(state, run_id).is_some_and(|run| run.step(&step).is_some());
                if known { Vec::new() } else { vec![ReleaseEvent::StepAdded { run_id, step, at: now }] }
            }
            Outcome::StepStarted { run_id, step } => vec![ReleaseEvent::StepStarted { run_id, step, at: now }],
            Outcome::StepWaiting { run_id, step, message } => {
                // A runner that re-attaches to a run reports a wait already recorded again.
                let known = find_run(state, run_id)
                    .and_then(|run| run.step(&step))
                    .is_some_and(|s| s.awaiting_approval.as_ref() == Some(&message));
                if known {
                    Vec::new()
                } else {
                    vec![ReleaseEvent::StepAwaitingApproval { run_id, step, message, at: now }]
                }
            }
            Outcome::StepFinished { run_id, step, status, exit_code, error, outputs, tail } => {
                let run = find_run(state, run_id);
                let context = run.and_then(|run| context_merged(run, &outputs, now));
                let mut events = vec![ReleaseEvent::StepFinished {
                    run_id,
                    step: step.clone(),
                    status,
                    exit_code,
                    error: error.clone(),
                    outputs,
                    at: now,
                }];
                events.extend(context);
                if status.is_failure()
                    && let Some(run) = run
                {
                    events.push(self.step_failed_issue(id, run, step, status, exit_code, error, &tail, now));
                }
                events
            }
            Outcome::RunEnded { run_id, status, error } => self.run_ended_events(id, state, run_id, status, error, now),
            Outcome::Promoted { env, apps, result } => self.promoted_events(id, state, env, apps, result, now),
            Outcome::PrOpened { .. } => Vec::new(),
            Outcome::ActionUnsupported { env, apps, error } => {
                self.action_failed(id, env, apps, GitOperation::Commit, String::new(), error, now)
            }
            Outcome::Observed { env, app, sync, health, revision, message } => {
                let unchanged =
                    state.environment(&env).and_then(|e| e.app(&app)).and_then(|a| a.observation.as_ref()).is_some_and(
                        |o| o.sync == sync && o.health == health && o.revision == revision && o.message == message,
                    );
                if unchanged {
                    Vec::new()
                } else {
                    vec![ReleaseEvent::AppObserved { env, app, sync, health, revision, message, at: now }]
                }
            }
            Outcome::Gate { env, app, result } => self.gate_events(id, state, env, app, result, now),
            Outcome::Relapsed { env, app, message } => self.relapse_events(id, state, env, app, message, now),
        }
    }

    /// The workflow issue raised for a failed step of `run`.
    #[allow(clippy::too_many_arguments)]
    fn step_failed_issue(
        &self,
        id: ReleaseId,
        run: &WorkflowRun,
        step: StepName,
        status: StepStatus,
        exit_code: Option<i32>,
        error: Option<String>,
        tail: &[String],
        now: Timestamp,
    ) -> ReleaseEvent {
        let env = run.target.env().cloned();
        let app = run.target.app().cloned();
        let what = match (&error, exit_code) {
            (Some(e), _) => e.clone(),
            (None, Some(code)) => format!("exited with code {code}"),
            (None, None) => status.to_string(),
        };
        let place = match (&env, &app) {
            (Some(e), Some(a)) => format!(" for {a} in {e}"),
            (Some(e), None) => format!(" in {e}"),
            _ => String::new(),
        };
        let summary = one_line(&format!(
            "{} {} step {} {}{place}: {what}",
            stage_label(run.target.stage()),
            run.workflow,
            step,
            status.as_str().to_lowercase()
        ));
        let definition = self.catalog.workflows.get(&run.workflow).and_then(|w| serde_json::to_string_pretty(w).ok());
        ReleaseEvent::IssueRaised {
            issue: Box::new(Issue {
                id: self.issue_id(id, env.as_ref(), app.as_ref(), IssueKind::Workflow, 0),
                env,
                app,
                summary,
                detail: IssueDetail::Workflow {
                    run_id: run.id,
                    workflow: run.workflow.clone(),
                    stage: run.target.stage(),
                    step: Some(step),
                    exit_code,
                    error,
                    log_tail: log_tail(tail),
                    definition,
                },
                at: now,
            }),
        }
    }

    /// A run that ended without a failing step (invalid definition, cannot start) errors as a whole.
    fn run_ended_events(
        &self,
        id: ReleaseId,
        state: &ReleaseState,
        run_id: RunId,
        status: StepStatus,
        error: Option<String>,
        now: Timestamp,
    ) -> Vec<ReleaseEvent> {
        let Some(run) = find_run(state, run_id) else { return Vec::new() };
        if !run.is_in_progress() || status == StepStatus::Success {
            return Vec::new();
        }
        let error = error.unwrap_or_else(|| format!("the run ended {status}"));
        let env = run.target.env().cloned();
        let app = run.target.app().cloned();
        vec![
            ReleaseEvent::WorkflowRunErrored { run_id, error: error.clone(), at: now },
            ReleaseEvent::IssueRaised {
                issue: Box::new(Issue {
                    id: self.issue_id(id, env.as_ref(), app.as_ref(), IssueKind::Workflow, 0),
                    env,
                    app,
                    summary: one_line(&format!(
                        "{} {} could not run: {error}",
                        stage_label(run.target.stage()),
                        run.workflow
                    )),
                    detail: IssueDetail::Workflow {
                        run_id,
                        workflow: run.workflow.clone(),
                        stage: run.target.stage(),
                        step: None,
                        exit_code: None,
                        error: Some(error),
                        log_tail: Vec::new(),
                        definition: None,
                    },
                    at: now,
                }),
            },
        ]
    }

    /// The events for a promotion's result: committed, unchanged, or failed with a git issue.
    fn promoted_events(
        &self,
        id: ReleaseId,
        state: &ReleaseState,
        env: EnvName,
        apps: Vec<AppName>,
        result: Result<PromotionOutcome, ferry_git::GitError>,
        now: Timestamp,
    ) -> Vec<ReleaseEvent> {
        match result {
            Ok(PromotionOutcome::Committed { sha, .. }) | Ok(PromotionOutcome::AlreadyDone { sha }) => {
                let repo = state
                    .snapshot()
                    .environment(&env)
                    .and_then(|es| es.applications.iter().find(|a| apps.contains(&a.name)))
                    .map(|a| ferry_git::redact(&a.repo_url))
                    .unwrap_or_default();
                vec![ReleaseEvent::ActionCommitted { env, apps, repo, commit: sha, at: now }]
            }
            Ok(PromotionOutcome::Unchanged) => vec![ReleaseEvent::ActionUnchanged { env, apps, at: now }],
            Err(e) => {
                let operation = match e.operation {
                    ferry_git::Operation::Clone => GitOperation::Clone,
                    ferry_git::Operation::Fetch | ferry_git::Operation::Read => GitOperation::Fetch,
                    ferry_git::Operation::Push => GitOperation::Push,
                    _ => GitOperation::Commit,
                };
                self.action_failed(id, env, apps, operation, e.remote.clone(), e.message.clone(), now)
            }
        }
    }

    /// The events for a sync-and-health gate's result: passed, or failed with an application issue.
    fn gate_events(
        &self,
        id: ReleaseId,
        state: &ReleaseState,
        env: EnvName,
        app: AppName,
        result: Result<(), (GateFailure, String)>,
        now: Timestamp,
    ) -> Vec<ReleaseEvent> {
        match result {
            Ok(()) => vec![ReleaseEvent::AppGatePassed { env, app, at: now }],
            Err((reason, message)) => {
                let summary = format!("{app} in {env}: {message}");
                let issue = self.app_issue(id, state, &env, &app, &summary, &message, now);
                vec![
                    ReleaseEvent::AppGateFailed { env, app, reason, message: Some(message), at: now },
                    ReleaseEvent::IssueRaised { issue: Box::new(issue) },
                ]
            }
        }
    }

    /// An application issue of `app` in `env` (`summary`, `reason`), with what was last observed of it.
    #[allow(clippy::too_many_arguments)]
    fn app_issue(
        &self,
        id: ReleaseId,
        state: &ReleaseState,
        env: &EnvName,
        app: &AppName,
        summary: &str,
        reason: &str,
        now: Timestamp,
    ) -> Issue {
        let obs = state.environment(env).and_then(|e| e.app(app)).and_then(|a| a.observation.as_ref());
        Issue {
            id: self.issue_id(id, Some(env), Some(app), IssueKind::Application, 0),
            env: Some(env.clone()),
            app: Some(app.clone()),
            summary: one_line(summary),
            detail: IssueDetail::Application {
                sync: obs.map(|o| o.sync),
                health: obs.map(|o| o.health),
                reason: reason.to_owned(),
                observed_at: obs.map(|o| o.at),
                url: None,
            },
            at: now,
        }
    }

    /// A relapse inside the soak time: the soak fails with an application issue (SPEC §10). Nothing
    /// when the soak is no longer running (it passed, or a relapse was recorded already).
    fn relapse_events(
        &self,
        id: ReleaseId,
        state: &ReleaseState,
        env: EnvName,
        app: AppName,
        message: String,
        now: Timestamp,
    ) -> Vec<ReleaseEvent> {
        if !state.soaking_environments().any(|(e, _)| *e == env) {
            return Vec::new();
        }
        let summary = format!("{app} in {env} relapsed during the soak time: {message}");
        let issue = self.app_issue(id, state, &env, &app, &summary, &message, now);
        vec![
            ReleaseEvent::SoakRelapsed { env, app, message, at: now },
            ReleaseEvent::IssueRaised { issue: Box::new(issue) },
        ]
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn action_failed(
        &self,
        id: ReleaseId,
        env: EnvName,
        apps: Vec<AppName>,
        operation: GitOperation,
        remote: String,
        error: String,
        now: Timestamp,
    ) -> Vec<ReleaseEvent> {
        let first = apps.first().cloned();
        let issue = Issue {
            id: self.issue_id(id, Some(&env), first.as_ref(), IssueKind::Git, 0),
            env: Some(env.clone()),
            app: first,
            summary: one_line(&format!("promotion to {env} failed: {error}")),
            detail: IssueDetail::Git { operation, remote, error: error.clone() },
            at: now,
        };
        vec![
            ReleaseEvent::ActionFailed { env, apps, error, at: now },
            ReleaseEvent::IssueRaised { issue: Box::new(issue) },
        ]
    }
}

/// At most 300 characters on one line.
fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 { format!("{}…", line.chars().take(299).collect::<String>()) } else { line }
}

/// The `ContextMerged` event for a hook step of `run` that output `PROMOTION_CONTEXT` as a JSON object.
fn context_merged(run: &WorkflowRun, outputs: &BTreeMap<String, String>, now: Timestamp) -> Option<ReleaseEvent> {
    if run.target.stage() != Stage::Hook {
        return None;
    }
    let ctx = outputs.get("PROMOTION_CONTEXT")?;
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(ctx) else { return None };
    let values = map.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect();
    Some(ReleaseEvent::ContextMerged { values, at: now })
}
