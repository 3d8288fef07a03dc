//! Projections of a release: the SPEC §7.4 JSON view and the list row, computed from the state.

use ferry_model::release::{ActionStatus, AppPhase, AppState, ReleaseState};
use ferry_model::status::EnvStatus;
use ferry_store::ReleaseRow;
use serde_json::{Value, json};

fn phase(phase: AppPhase) -> &'static str {
    match phase {
        AppPhase::Pending => "pending",
        AppPhase::PreAction => "preAction",
        AppPhase::Action => "action",
        AppPhase::Health => "health",
        AppPhase::PostAction => "postAction",
        AppPhase::Done => "done",
    }
}

fn action_status(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Running => "Running",
        ActionStatus::AwaitingMerge => "Suspended",
        ActionStatus::Succeeded => "Succeeded",
        ActionStatus::Failed => "Failed",
    }
}

fn app_view(state: &ReleaseState, env: &ferry_model::names::EnvName, component: &str, app: &AppState) -> Value {
    json!({
        "name": app.name,
        "component": component,
        "phase": phase(app.phase),
        "action": app.action.as_ref().map(|a| json!({
            "action": a.action.as_str(),
            "status": action_status(a.status),
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

/// The release as the API and `ferry release show -o json` present it (SPEC §7.4).
pub fn release_view(state: &ReleaseState) -> Value {
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
                    app_view(state, &es.name, &component, app)
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
