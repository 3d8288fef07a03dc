//! Projections of a release: the SPEC §7.4 JSON view and the list row, computed from the state.

use ferry_api::{
    ActionView, AppObservation, AppView, EnvironmentHooks, EnvironmentView, GateFailureView, Issue, IssueDetail,
    IssueRef, PolicyView, PullRequestRef, ReleaseView, RetryView, Stage, StepLine, TerminateView, TriggerView,
    WorkflowLine,
};
use ferry_model::EnvName;
use ferry_model::release::{self as model, ActionStatus, AppPhase, AppState, ReleaseState};
use ferry_model::status::EnvStatus;
use ferry_store::ReleaseRow;
use serde_json::{Value, json};

/// The release as the API and `ferry release show -o json` present it (SPEC §7.4).
pub fn release_view(state: &ReleaseState) -> ReleaseView {
    let snap = state.snapshot();
    let environments = snap
        .environments
        .iter()
        .zip(state.environments())
        .map(|(es, env)| {
            let applications = env
                .apps
                .iter()
                .map(|app| {
                    let component = es
                        .applications
                        .iter()
                        .find(|a| a.name == app.name)
                        .map(|a| a.component.to_string())
                        .unwrap_or_default();
                    app_view(state, &es.name, component, app)
                })
                .collect();
            let issues = state
                .env_issues(&es.name)
                .map(|i| IssueRef {
                    id: i.id.clone(),
                    kind: i.kind().into(),
                    summary: i.summary.clone(),
                    at: i.at,
                    app: i.app.as_ref().map(ToString::to_string),
                })
                .collect();
            EnvironmentView {
                name: es.name.to_string(),
                env_type: es.env_type.into(),
                is_trigger: es.is_trigger,
                depends_on: es.depends_on.iter().map(ToString::to_string).collect(),
                status: state.env_status(&es.name).unwrap_or(EnvStatus::Pending),
                started_at: env.started_at,
                finished_at: env.finished_at,
                policy: es.policy.as_ref().map(|p| PolicyView {
                    action: p.action.into(),
                    pre_action: p.pre_action.as_ref().map(ToString::to_string),
                    post_action: p.post_action.as_ref().map(ToString::to_string),
                    source: p.sources.clone(),
                }),
                hooks: EnvironmentHooks {
                    on_start: es.hooks.on_start.as_ref().map(ToString::to_string),
                    on_success: es.hooks.on_success.as_ref().map(ToString::to_string),
                    on_fail: es.hooks.on_fail.as_ref().map(ToString::to_string),
                },
                applications,
                workflows: state.workflow_lines(&es.name).into_iter().map(workflow_line).collect(),
                issues,
            }
        })
        .collect();
    let hooks = state
        .hook_runs()
        .iter()
        .filter(|r| !r.retired)
        .map(|r| WorkflowLine {
            stage: Stage::Hook,
            hook: r.target.hook().map(Into::into),
            name: r.workflow.to_string(),
            status: r.status(),
            steps: r.steps.iter().map(|s| StepLine { name: s.name.to_string(), status: s.status }).collect(),
            runs: vec![r.id],
        })
        .collect();
    let t = &snap.trigger;
    ReleaseView {
        id: state.id(),
        product: snap.product.to_string(),
        flow: snap.flow.clone(),
        flow_version: snap.flow_version.clone(),
        version: snap.version.clone(),
        status: state.status(),
        initiator: snap.initiator.clone(),
        created_at: state.created_at(),
        started_at: state.started_at(),
        finished_at: state.finished_at().or(state.terminated_at()),
        reason: state.reason(),
        retries: state.retries(),
        terminate: state.terminate_request().map(|t| TerminateView {
            reason: t.reason.clone(),
            actor: t.actor.clone(),
            at: t.at,
        }),
        last_retry: state.last_retry().map(|r| RetryView { actor: r.actor.clone(), at: r.at }),
        trigger: TriggerView {
            environment: t.environment.to_string(),
            sha: t.sha.to_string(),
            short_sha: t.short_sha().to_owned(),
            message: t.message.clone(),
            author: t.author_name.clone(),
            author_email: t.author_email.clone(),
            date: t.date,
            repo: t.repo.clone(),
            branch: t.branch.clone(),
            web_url: t.web_url.clone(),
        },
        counters: state.counters().into(),
        environments,
        hooks,
        context: state.context().clone(),
        issues: state.issues().iter().map(issue).collect(),
    }
}

/// The view as the store keeps it (JSON): the one place the typed view becomes a `serde_json::Value`.
pub fn stored_view(state: &ReleaseState) -> Result<Value, serde_json::Error> {
    serde_json::to_value(release_view(state))
}

fn app_view(state: &ReleaseState, env: &EnvName, component: String, app: &AppState) -> AppView {
    AppView {
        name: app.name.to_string(),
        component,
        phase: app.phase.into(),
        action: app.action.as_ref().map(|a| ActionView {
            action: a.action.into(),
            status: a.status.into(),
            commit: a.commit.as_ref().map(ToString::to_string),
            repo: a.repo.clone(),
            unchanged: a.unchanged,
            pull_request: a.pull_request.as_ref().map(|pr| PullRequestRef {
                url: pr.url.clone(),
                number: pr.number,
                branch: pr.branch.clone(),
            }),
            error: a.error.clone(),
        }),
        app: app.observation.as_ref().map(|o| AppObservation {
            sync: o.sync,
            health: o.health,
            revision: o.revision.as_ref().map(ToString::to_string),
            message: o.message.clone(),
            observed_at: o.at,
        }),
        version: state.app_version(env, &app.name).map(str::to_owned),
        failed: app.is_failed(),
        gate_failure: app.gate_failure.as_ref().map(|g| GateFailureView {
            reason: g.reason.into(),
            message: g.message.clone(),
            at: g.at,
        }),
    }
}

fn workflow_line(line: model::WorkflowLine) -> WorkflowLine {
    WorkflowLine {
        stage: line.stage.into(),
        hook: line.hook.map(Into::into),
        name: line.name.to_string(),
        status: line.status,
        steps: line.steps.into_iter().map(|s| StepLine { name: s.name.to_string(), status: s.status }).collect(),
        runs: line.runs,
    }
}

fn issue(i: &model::Issue) -> Issue {
    let detail = match &i.detail {
        model::IssueDetail::Workflow { run_id, workflow, stage, step, exit_code, error, log_tail, definition } => {
            IssueDetail::Workflow {
                run_id: *run_id,
                workflow: workflow.to_string(),
                stage: (*stage).into(),
                step: step.as_ref().map(ToString::to_string),
                exit_code: *exit_code,
                error: error.clone(),
                log_tail: log_tail.clone(),
                definition: definition.clone(),
            }
        }
        model::IssueDetail::Application { sync, health, reason, observed_at, url } => IssueDetail::Application {
            sync: *sync,
            health: *health,
            reason: reason.clone(),
            observed_at: *observed_at,
            url: url.clone(),
        },
        model::IssueDetail::Git { operation, remote, error } => {
            IssueDetail::Git { operation: (*operation).into(), remote: remote.clone(), error: error.clone() }
        }
    };
    Issue {
        id: i.id.clone(),
        env: i.env.as_ref().map(ToString::to_string),
        app: i.app.as_ref().map(ToString::to_string),
        summary: i.summary.clone(),
        detail,
        at: i.at,
    }
}

fn legacy_phase(phase: AppPhase) -> &'static str {
    match phase {
        AppPhase::Pending => "pending",
        AppPhase::PreAction => "preAction",
        AppPhase::Action => "action",
        AppPhase::Health => "health",
        AppPhase::PostAction => "postAction",
        AppPhase::Done => "done",
    }
}

fn legacy_action_status(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Running => "Running",
        ActionStatus::AwaitingMerge => "Suspended",
        ActionStatus::Succeeded => "Succeeded",
        ActionStatus::Failed => "Failed",
    }
}

fn legacy_app_view(state: &ReleaseState, env: &ferry_model::names::EnvName, component: &str, app: &AppState) -> Value {
    json!({
        "name": app.name,
        "component": component,
        "phase": legacy_phase(app.phase),
        "action": app.action.as_ref().map(|a| json!({
            "action": a.action.as_str(),
            "status": legacy_action_status(a.status),
            "commit": a.commit,
            "repo": a.repo,
            "unchanged": a.unchanged,
            "pullRequest": a.pull_request,
            "error": a.error,
        })),
        "app": app.observation.as_ref().map(|o| json!({
            "sync": o.sync,
            "health": o.health,
            "revision": o.revision,
            "message": o.message,
            "observedAt": o.at,
        })),
        "version": state.app_version(env, &app.name),
        "failed": app.is_failed(),
        "gateFailure": app.gate_failure,
    })
}

/// The view as it was built before it was typed, kept to check that the typed view serialises to the same
/// JSON.
#[doc(hidden)]
pub fn legacy_release_view(state: &ReleaseState) -> Value {
    let snap = state.snapshot();
    let counters = state.counters();
    let environments: Vec<Value> = snap
        .environments
        .iter()
        .zip(state.environments())
        .map(|(es, env)| {
            let status = state.env_status(&es.name).unwrap_or(EnvStatus::Pending);
            let applications: Vec<Value> = env
                .apps
                .iter()
                .map(|app| {
                    let component = es
                        .applications
                        .iter()
                        .find(|a| a.name == app.name)
                        .map(|a| a.component.to_string())
                        .unwrap_or_default();
                    legacy_app_view(state, &es.name, &component, app)
                })
                .collect();
            let workflows: Vec<Value> = state
                .workflow_lines(&es.name)
                .into_iter()
                .map(|line| {
                    json!({
                        "stage": line.stage,
                        "hook": line.hook,
                        "name": line.name,
                        "status": line.status,
                        "steps": line.steps,
                        "runs": line.runs,
                    })
                })
                .collect();
            let issues: Vec<Value> = state
                .env_issues(&es.name)
                .map(|i| json!({"id": i.id, "kind": i.kind(), "summary": i.summary, "at": i.at, "app": i.app}))
                .collect();
            json!({
                "name": es.name,
                "type": es.env_type.as_str(),
                "isTrigger": es.is_trigger,
                "dependsOn": es.depends_on,
                "status": status,
                "startedAt": env.started_at,
                "finishedAt": env.finished_at,
                "policy": es.policy.as_ref().map(|p| json!({
                    "action": p.action.as_str(),
                    "preAction": p.pre_action,
                    "postAction": p.post_action,
                    "source": p.sources,
                })),
                "hooks": {
                    "onStart": es.hooks.on_start, "onSuccess": es.hooks.on_success, "onFail": es.hooks.on_fail,
                },
                "applications": applications,
                "workflows": workflows,
                "issues": issues,
            })
        })
        .collect();
    let release_workflows: Vec<Value> = state
        .hook_runs()
        .iter()
        .filter(|r| !r.retired)
        .map(|r| {
            json!({
                "stage": "hook",
                "hook": r.target.hook(),
                "name": r.workflow,
                "status": r.status(),
                "steps": r.steps.iter().map(|s| json!({"name": s.name, "status": s.status})).collect::<Vec<_>>(),
                "runs": [r.id],
            })
        })
        .collect();
    let t = &snap.trigger;
    json!({
        "id": state.id(),
        "product": snap.product,
        "flow": snap.flow,
        "flowVersion": snap.flow_version,
        "version": snap.version,
        "status": state.status(),
        "initiator": snap.initiator,
        "createdAt": state.created_at(),
        "startedAt": state.started_at(),
        "finishedAt": state.finished_at().or(state.terminated_at()),
        "reason": state.reason(),
        "retries": state.retries(),
        "terminate": state.terminate_request(),
        "lastRetry": state.last_retry(),
        "trigger": {
            "environment": t.environment,
            "sha": t.sha,
            "shortSha": t.short_sha(),
            "message": t.message,
            "author": t.author_name,
            "authorEmail": t.author_email,
            "date": t.date,
            "repo": t.repo,
            "branch": t.branch,
            "webUrl": t.web_url,
        },
        "counters": counters,
        "environments": environments,
        "hooks": release_workflows,
        "context": state.context(),
        "issues": state.issues(),
    })
}

/// The list-page row of a release.
pub fn release_row(state: &ReleaseState) -> ReleaseRow {
    let snap = state.snapshot();
    let environments: serde_json::Map<String, Value> =
        state.env_statuses().into_iter().map(|(name, status)| (name.to_string(), json!(status))).collect();
    ReleaseRow {
        id: state.id().to_string(),
        product: snap.product.to_string(),
        flow: snap.flow.clone(),
        flow_version: snap.flow_version.clone(),
        status: state.status().as_str().to_owned(),
        initiator: snap.initiator.clone(),
        created_at: state.created_at(),
        finished_at: state.finished_at().or(state.terminated_at()),
        reason: state.reason(),
        retries: i64::from(state.retries()),
        version: snap.version.clone(),
        environments: Value::Object(environments),
    }
}
