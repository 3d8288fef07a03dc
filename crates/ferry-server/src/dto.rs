//! The domain's and the store's values as the API's wire types (`ferry_api`): one conversion each, so
//! that the domain can change without changing the public contract.

use std::str::FromStr;

use ferry_api as api;
use ferry_model::resources::{
    Application, Catalog, Environment, FlowStep, GitProvider, Hooks, Notification, NotificationFormat, PolicyFields,
    Product, PromotionFlow, PromotionPolicy, SecretSource, SelectorOperator, StatusSource, StepKind, TriggerKey,
    Workflow, WorkflowBackend, WorkflowParam,
};
use ferry_model::status::{HealthStatus, ReleaseStatus, SyncStatus};
use ferry_model::{EnvName, ReleaseId, format_duration};

use ferry_api::{ReleaseItem, ReleaseView};
use ferry_store::{AppStateRow, AuditRow, ImageRow, ProductEvent, ReleaseRow, Store, StoredEvent, StoredLogLine};

use crate::error::ApiError;

/// An environment.
pub fn environment(e: &Environment) -> api::Environment {
    api::Environment {
        name: e.name.to_string(),
        env_type: e.env_type.into(),
        order: e.order,
        clusters: e
            .clusters
            .iter()
            .map(|c| api::Cluster { name: c.name.clone(), namespaces: c.namespaces.clone() })
            .collect(),
        labels: e.labels.clone(),
    }
}

/// A product; `catalog` supplies the application count.
pub fn product(p: &Product, catalog: &Catalog) -> api::Product {
    let selector = |t: &ferry_model::resources::TriggerSelector| api::Selector {
        key: match t.key {
            TriggerKey::GitRevision => api::SelectorKey::GitRevision,
            TriggerKey::CommitMessage => api::SelectorKey::CommitMessage,
        },
        operator: match t.operator {
            SelectorOperator::In => api::SelectorOperator::In,
            SelectorOperator::NotIn => api::SelectorOperator::NotIn,
        },
        values: t.values.clone(),
    };
    api::Product {
        name: p.name.to_string(),
        labels: p.labels.clone(),
        promotion_template_ref: p.promotion_template_ref.as_ref().map(ToString::to_string),
        inline_promotion_template: p.promotion_template.is_some(),
        promotion_flows: p
            .promotion_flows
            .iter()
            .map(|s| api::FlowSelection {
                name: s.flow.to_string(),
                git_trigger_selectors: s.git_trigger_selectors.iter().map(selector).collect(),
            })
            .collect(),
        concurrency: match p.concurrency {
            ferry_model::resources::Concurrency::Queue => api::Concurrency::Queue,
            ferry_model::resources::Concurrency::Terminate => api::Concurrency::Terminate,
        },
        applications: catalog.applications.values().filter(|a| a.product == p.name).count(),
    }
}

fn policy_fields(p: &PolicyFields) -> api::PolicyFields {
    api::PolicyFields {
        action: p.action.map(Into::into),
        pre_action: p.pre_action.as_ref().map(ToString::to_string),
        post_action: p.post_action.as_ref().map(ToString::to_string),
    }
}

fn hooks(h: &Hooks) -> api::Hooks {
    api::Hooks {
        on_start: h.on_start.as_ref().map(ToString::to_string),
        on_success: h.on_success.as_ref().map(ToString::to_string),
        on_fail: h.on_fail.as_ref().map(ToString::to_string),
    }
}

/// A promotion flow.
pub fn flow(f: &PromotionFlow) -> api::Flow {
    let step = |s: &FlowStep| api::FlowStep {
        environment: s.environment.to_string(),
        depends_on: if s.depends_on.is_empty() {
            vec![f.trigger_environment.to_string()]
        } else {
            s.depends_on.iter().map(EnvName::to_string).collect()
        },
        policy: policy_fields(&s.policy),
        hooks: hooks(&s.hooks),
    };
    api::Flow {
        name: f.name.to_string(),
        description: f.description.clone(),
        version: f.version.clone(),
        trigger_environment: f.trigger_environment.to_string(),
        trigger_workflow: f.trigger_workflow.as_ref().map(ToString::to_string),
        steps: f.steps.iter().map(step).collect(),
        hooks: hooks(&f.hooks),
        timeout: format_duration(f.timeout),
    }
}

/// A promotion policy.
pub fn policy(p: &PromotionPolicy) -> api::Policy {
    let sel = &p.selector;
    api::Policy {
        name: p.name.to_string(),
        priority: p.priority,
        product_names: sel.product.names.as_ref().map(|n| n.iter().map(ToString::to_string).collect()),
        product_labels: sel.product.match_labels.clone(),
        environment_names: sel.target_environment.names.as_ref().map(|n| n.iter().map(ToString::to_string).collect()),
        environment_types: sel.target_environment.types.as_ref().map(|t| t.iter().map(|t| (*t).into()).collect()),
        policy: policy_fields(&p.policy),
    }
}

/// A workflow parameter: a secret's default is never shown.
pub fn workflow_param(p: &WorkflowParam) -> api::WorkflowParam {
    let default = match &p.default {
        Some(_) if p.secret => Some("***".to_owned()),
        other => other.clone(),
    };
    api::WorkflowParam { name: p.name.to_string(), default, secret: p.secret }
}

/// A workflow.
pub fn workflow(w: &Workflow) -> api::Workflow {
    let (backend, template) = match &w.backend {
        WorkflowBackend::Local => (api::WorkflowBackend::Local, None),
        WorkflowBackend::Argo { template, .. } => (api::WorkflowBackend::Argo, Some(template.clone())),
    };
    api::Workflow {
        name: w.name.to_string(),
        backend,
        template,
        timeout: w.timeout.map(format_duration),
        params: w.params.iter().map(workflow_param).collect(),
        steps: w
            .steps
            .iter()
            .map(|s| {
                let (kind, run, message) = match &s.kind {
                    StepKind::Run(script) => (api::WorkflowStepKind::Run, Some(script.clone()), None),
                    StepKind::Approval { message } => (api::WorkflowStepKind::Approval, None, Some(message.clone())),
                };
                api::WorkflowStep {
                    name: s.name.to_string(),
                    kind,
                    run,
                    message,
                    depends_on: s.depends_on.as_ref().map(|d| d.iter().map(ToString::to_string).collect()),
                    timeout: s.timeout.map(format_duration),
                    retries: s.retries,
                }
            })
            .collect(),
    }
}

/// An application.
pub fn application(a: &Application) -> api::Application {
    api::Application {
        name: a.name.to_string(),
        environment: a.environment.to_string(),
        component: a.component.to_string(),
        repo_url: ferry_git::redact(&a.source.repo_url),
        path: a.source.path.clone(),
        target_revision: a.source.target_revision.clone(),
        status_source: match a.status {
            StatusSource::Exec(_) => api::StatusSourceKind::Exec,
            StatusSource::ArgoCd(_) => api::StatusSourceKind::Argocd,
            StatusSource::Push { .. } => api::StatusSourceKind::Push,
        },
    }
}

/// Where a secret is read from (never the secret).
fn secret_ref(s: &SecretSource) -> api::SecretRef {
    match s {
        SecretSource::Env(name) => api::SecretRef { env: Some(name.clone()), file: None },
        SecretSource::File(path) => api::SecretRef { env: None, file: Some(path.clone()) },
    }
}

/// A git provider: URLs with their credentials masked, secrets only as where they are read from.
pub fn git_provider(g: &GitProvider) -> api::GitProvider {
    api::GitProvider {
        name: g.name.to_string(),
        forge_type: g.forge.as_str().to_owned(),
        api_url: g.api_url.as_deref().map(ferry_git::redact),
        token: g.token.as_ref().map(secret_ref),
        app_id: g.app.as_ref().map(|a| a.id),
        app_private_key_file: g.app.as_ref().map(|a| a.private_key_file.clone()),
        webhook_secret: g.webhook_secret.as_ref().map(secret_ref),
        repositories: g
            .repositories
            .iter()
            .map(|r| api::GitProviderRepository { url: ferry_git::redact(&r.url), name: r.name.clone() })
            .collect(),
    }
}

/// A notification: its URL cut to scheme and host, its secret only as where it is read from.
pub fn notification(n: &Notification) -> api::Notification {
    api::Notification {
        name: n.name.to_string(),
        url: url_origin(&n.url),
        format: match n.format {
            NotificationFormat::Json => "json",
            NotificationFormat::Slack => "slack",
        }
        .to_owned(),
        secret: n.secret.as_ref().map(secret_ref),
        products: n.on.products.clone(),
        environments: n.on.environments.clone(),
        statuses: n.on.statuses.clone(),
    }
}

/// `scheme://host[:port]` of a URL, `/…` appended when it has a path or query (which may be a
/// credential), without user information.
fn url_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "…".to_owned() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = rest[end..].trim_start_matches('/');
    if more.is_empty() { format!("{scheme}://{host}") } else { format!("{scheme}://{host}/…") }
}

/// An internal error for a stored value the engine wrote and the API cannot read.
fn unreadable(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("the store holds an unreadable {what}: {e}"))
}

/// Live state of one application.
pub fn app_state(r: AppStateRow) -> Result<api::AppState, ApiError> {
    let at = |what: &str| format!("{what} of application {}", r.application);
    Ok(api::AppState {
        sync: SyncStatus::from_str(&r.sync).map_err(|e| unreadable(&at("sync status"), e))?,
        health: HealthStatus::from_str(&r.health).map_err(|e| unreadable(&at("health status"), e))?,
        application: r.application,
        environment: r.environment,
        component: r.component,
        version: r.version,
        revision: r.revision,
        message: r.message,
        release_id: r.release_id,
        updated_at: r.updated_at,
    })
}

/// A product event.
pub fn product_event(e: ProductEvent) -> api::ProductEvent {
    api::ProductEvent { id: e.id, at: e.at, kind: e.kind, message: e.message }
}

/// A recorded image report.
pub fn image_report(r: ImageRow) -> Result<api::ImageReport, ApiError> {
    Ok(api::ImageReport {
        id: r.id.ok_or_else(|| ApiError::internal("the store returned an image report without its id"))?,
        image: r.image,
        repository: r.repository,
        tag: r.tag,
        digest: r.digest,
        git_repo: r.git_repo,
        git_revision: r.git_revision,
        git_branch: r.git_branch,
        annotations: r.annotations,
        issues: r.issues,
        reported_by: r.reported_by,
        reported_at: r.reported_at,
    })
}

/// A promotion pull request.
pub fn pull_request(pr: ferry_engine::PullRequestInfo) -> Result<api::PullRequest, ApiError> {
    Ok(api::PullRequest {
        state: pr.state.parse().map_err(|e| unreadable(&format!("state of pull request #{}", pr.number), e))?,
        number: pr.number,
        release: pr.release,
        product: pr.product,
        environment: pr.environment,
        applications: pr.applications,
        repo: pr.repo,
        branch: pr.branch,
        target: pr.target,
        head: pr.head,
        merge_commit: pr.merge_commit,
        comment: pr.comment,
        title: pr.title,
    })
}

/// An audit log entry.
pub fn audit_entry(r: AuditRow) -> Result<api::AuditEntry, ApiError> {
    let outcome = match r.outcome.as_str() {
        "ok" => api::AuditOutcome::Ok,
        "denied" => api::AuditOutcome::Denied,
        "failed" => api::AuditOutcome::Failed,
        other => return Err(unreadable("audit outcome", format!("{other:?}"))),
    };
    Ok(api::AuditEntry {
        id: r.id.ok_or_else(|| ApiError::internal("the store returned an audit entry without its id"))?,
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: r.target,
        status: r.status,
        outcome,
        source: r.source,
        detail: r.detail,
    })
}

/// A row of the release list (SPEC §7.4, last paragraph) from the store's row. A row that does not
/// read (an unknown status, a malformed id) is an internal error: the engine wrote it.
pub fn release_item(r: ReleaseRow) -> Result<ReleaseItem, ApiError> {
    let id = r.id;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::internal(format!("the stored row of release {id} has an unreadable {what}: {e}"))
    };
    Ok(ReleaseItem {
        id: ReleaseId::from_str(&id).map_err(|e| bad("id", &e))?,
        status: ReleaseStatus::from_str(&r.status).map_err(|e| bad("status", &e))?,
        retries: u32::try_from(r.retries).map_err(|e| bad("retry count", &e))?,
        environments: serde_json::from_value(r.environments).map_err(|e| bad("environment list", &e))?,
        product: r.product,
        flow: r.flow,
        flow_version: r.flow_version,
        initiator: r.initiator,
        created_at: r.created_at,
        finished_at: r.finished_at,
        reason: r.reason,
        version: r.version,
    })
}

/// The view of release `id`: built from the engine's live state while this server's engine runs the
/// release, else read from the store ([`stored_view`]; the parsed views of ended releases are kept,
/// see `crate::views`). `None` when there is no such release.
pub(crate) async fn release_view<S: Store>(
    st: &crate::AppState<S>,
    id: &ReleaseId,
) -> Result<Option<std::sync::Arc<ReleaseView>>, ApiError> {
    if let Some(state) = st.engine.live_state(*id) {
        return Ok(Some(std::sync::Arc::new(ferry_engine::view::release_view(&state))));
    }
    let start = match st.views.get(id) {
        Ok(view) => return Ok(Some(view)),
        Err(start) => start,
    };
    let Some(view) = stored_view(&st.store, id).await? else { return Ok(None) };
    let view = std::sync::Arc::new(view);
    if view.status.is_final() {
        st.views.keep(start, view.clone());
    }
    Ok(Some(view))
}

/// Reads the stored view of release `id`: the one place where the store's JSON becomes a
/// [`ReleaseView`]. `None` when the store has no such release.
///
/// A view stored by an earlier version of Ferry that lacks fields of today's view is rebuilt from the
/// release's event log (the source of truth), so upgrading never makes a release unreadable.
///
/// The engine stores a release's view when the release is created and whenever its status changes;
/// the view of a release that has not ended and is not run here (another replica runs it) is therefore
/// rebuilt from its event log. Readers normally go through [`release_view`], which answers active
/// releases from the engine's memory.
pub async fn stored_view<S: Store>(store: &S, id: &ReleaseId) -> Result<Option<ReleaseView>, ApiError> {
    let Some(json) = store.release_view(id).await? else { return Ok(None) };
    match serde_json::from_value::<ReleaseView>(json) {
        Ok(view) if !view.status.is_final() => match ferry_engine::replay(store, id).await {
            Ok((state, _)) => Ok(Some(ferry_engine::view::release_view(&state))),
            Err(_) => Ok(Some(view)),
        },
        Ok(view) => Ok(Some(view)),
        Err(e) => match ferry_engine::replay(store, id).await {
            Ok((state, _)) => Ok(Some(ferry_engine::view::release_view(&state))),
            Err(replay) => Err(ApiError::internal(format!(
                "the stored view of release {id} cannot be read ({e}) and its event log does not replay ({replay})"
            ))),
        },
    }
}

/// A committed event (list items and SSE `data`).
pub fn event_item(e: &StoredEvent) -> api::EventItem {
    api::EventItem {
        gid: e.gid,
        release_id: e.release_id.clone(),
        product: e.product.clone(),
        seq: e.seq,
        at: e.at,
        body: e.body.clone(),
    }
}

/// Where a workflow run belongs, read from the runs projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    /// Stage: `trigger`, `preAction`, `postAction`, `environmentHook`, `releaseHook`.
    pub stage: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Application.
    pub application: Option<String>,
    /// Workflow.
    pub workflow: Option<String>,
}

/// A workflow log line with its run's context.
pub fn log_line(l: StoredLogLine, context: RunContext) -> Result<api::LogLine, ApiError> {
    let stream = match l.line.stream.as_str() {
        "stdout" => api::LogStream::Stdout,
        "stderr" => api::LogStream::Stderr,
        other => return Err(unreadable("log stream", format!("{other:?}"))),
    };
    Ok(api::LogLine {
        id: l.id,
        run_id: l.line.run_id,
        step: l.line.step,
        at: l.line.at,
        stream,
        text: l.line.text,
        stage: context.stage,
        environment: context.environment,
        application: context.application,
        workflow: context.workflow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_url_shows_only_its_scheme_and_host() {
        assert_eq!(url_origin("https://hooks.slack.com/services/T0/B0/secret"), "https://hooks.slack.com/…");
        assert_eq!(url_origin("http://user:pw@127.0.0.1:8080/hook?k=v"), "http://127.0.0.1:8080/…");
        assert_eq!(url_origin("https://ops.example.com"), "https://ops.example.com");
        assert_eq!(url_origin("https://ops.example.com/"), "https://ops.example.com");
        assert_eq!(url_origin("not a url"), "…");
    }

    #[test]
    fn urls_lose_their_credentials() {
        let cases = [
            ("https://user:tok@git.example.com/a.git", "https://***@git.example.com/a.git"),
            ("https://git.example.com/a.git", "https://git.example.com/a.git"),
            ("ssh://git@host/x@y", "ssh://***@host/x@y"),
            ("git@host:x.git", "git@host:x.git"),
            ("file:///tmp/repo", "file:///tmp/repo"),
        ];
        for (input, expect) in cases {
            assert_eq!(ferry_git::redact(input), expect, "the URLs the API shows lose their credentials");
        }
    }

    #[test]
    fn secret_parameter_defaults_are_never_shown() {
        let param = |name: &str, default: Option<&str>, secret| WorkflowParam {
            name: ferry_model::ParamName::new(name).expect("name"),
            default: default.map(str::to_owned),
            secret,
        };
        let shown = |p: &WorkflowParam| {
            let dto = workflow_param(p);
            (dto.default, dto.secret)
        };
        assert_eq!(shown(&param("TOKEN", Some("s3cr3t-value"), true)), (Some("***".to_owned()), true));
        assert_eq!(shown(&param("TOKEN", None, true)), (None, true), "required stays required");
        assert_eq!(shown(&param("SUITE", Some("smoke"), false)), (Some("smoke".to_owned()), false));
    }
}
