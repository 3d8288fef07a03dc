//! Projections of a release: the SPEC §7.4 view ([`ferry_api::ReleaseView`]) and the list row, computed
//! from the state.

use ferry_api::{
    ActionView, AppObservation, AppView, EnvironmentHooks, EnvironmentView, GateFailureView, Issue, IssueDetail,
    IssueRef, PolicyView, PullRequestRef, ReleaseView, RetryView, Stage, StepLine, TerminateView, TriggerView,
    WorkflowLine,
};
use ferry_model::EnvName;
use ferry_model::release::{self as model, AppState, ReleaseState};
use ferry_model::status::EnvStatus;
use ferry_store::ReleaseRow;
use serde_json::Value;

/// The release as the API and `ferry release show -o json` present it (SPEC §7.4).
pub fn release_view(state: &ReleaseState) -> ReleaseView {
    let snap = state.snapshot();
    let environments = snap
        .environments
        .iter()
        .zip(state.environments())
        .enumerate()
        .map(|(i, (es, env))| {
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
                frozen: env.frozen.as_ref().map(|h| ferry_api::FrozenView {
                    until: h.until,
                    freezes: h.freezes.iter().map(ToString::to_string).collect(),
                    since: h.since,
                }),
                freeze_override: env.freeze_override.as_ref().map(|o| ferry_api::FreezeOverrideView {
                    actor: o.actor.clone(),
                    reason: o.reason.clone(),
                    at: o.at,
                }),
                soak: soak_view(state, i, env),
                approval: approval_view(state, i, env),
                rolled_back_by: env.rollback,
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
            steps: r.steps.iter().map(|s| step_line(&s.name, s.status, s.approved.as_ref())).collect(),
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
        rollback: snap.rollback.as_ref().map(|r| ferry_api::RollbackView {
            environment: r.environment.to_string(),
            target: r.target,
            replaces: r.replaces,
            reason: r.reason.clone(),
            automatic: r.automatic,
        }),
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
        steps: line.steps.iter().map(|s| step_line(&s.name, s.status, s.approved.as_ref())).collect(),
        runs: line.runs,
    }
}

fn step_line(
    name: &ferry_model::StepName,
    status: ferry_model::status::StepStatus,
    approved: Option<&model::StepApproval>,
) -> StepLine {
    StepLine { name: name.to_string(), status, approved: approved.map(step_approval) }
}

fn step_approval(a: &model::StepApproval) -> ferry_api::ApprovalGivenView {
    ferry_api::ApprovalGivenView { actor: a.actor.clone(), role: a.role.clone(), comment: a.comment.clone(), at: a.at }
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

/// The list-page row of a release.
pub fn release_row(state: &ReleaseState) -> ReleaseRow {
    let snap = state.snapshot();
    let environments: serde_json::Map<String, Value> = state
        .env_statuses()
        .into_iter()
        .map(|(name, status)| (name.to_string(), Value::String(status.as_str().to_owned())))
        .collect();
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

/// The soak time of environment `i` (SPEC §10), when its policy sets one.
fn soak_view(state: &ReleaseState, i: usize, env: &ferry_model::release::EnvState) -> Option<ferry_api::SoakView> {
    let time = state.soak_time_at(i)?;
    let soak = env.soak.as_ref();
    Some(ferry_api::SoakView {
        time: ferry_model::format_duration(time),
        started_at: soak.map(|s| s.since),
        until: soak.map(|s| s.until),
        passed_at: soak.and_then(|s| s.passed_at),
        relapse: soak.and_then(|s| s.relapse.as_ref()).map(|r| format!("{}: {}", r.app, r.message)),
    })
}

/// The approvals environment `i`'s policy asks for (SPEC §10), with those given.
fn approval_view(
    state: &ReleaseState,
    i: usize,
    env: &ferry_model::release::EnvState,
) -> Option<ferry_api::ApprovalView> {
    let policy = state.approval_policy_at(i)?;
    Some(ferry_api::ApprovalView {
        required: policy.required,
        roles: policy.roles.clone(),
        tokens: policy.tokens.clone(),
        allow_self_approval: policy.allow_self_approval,
        approvals: env
            .approvals
            .iter()
            .map(|a| ferry_api::ApprovalGivenView {
                actor: a.actor.clone(),
                role: a.role.clone(),
                comment: a.comment.clone(),
                at: a.at,
            })
            .collect(),
        waiting: state.approvals_missing_at(i) > 0
            && env.started_at.is_some()
            && env.apps.iter().any(|a| a.action.is_none()),
    })
}
