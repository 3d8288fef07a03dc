//! Wire types of the API (camelCase JSON), kept apart from the domain types so that the domain can change
//! without changing the public contract.

use std::collections::BTreeMap;
use std::str::FromStr;

use ferry_model::resources::{
    Application, Catalog, Environment, FlowStep, Hooks, PolicyFields, Product, PromotionFlow, PromotionPolicy,
    SelectorOperator, StatusSource, StepKind, TriggerKey, Workflow, WorkflowBackend, WorkflowParam,
};
use ferry_model::{EnvName, format_duration};

use ferry_api::{ReleaseItem, ReleaseView};
use ferry_model::ReleaseId;
use ferry_model::status::ReleaseStatus;
use ferry_store::{AppStateRow, ProductEvent, ReleaseRow, Store, StoredEvent, StoredLogLine};
use serde::Serialize;

use crate::error::ApiError;

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Serialize)]
pub struct List<T> {
    /// The items.
    pub items: Vec<T>,
}

/// A cluster of an environment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDto {
    /// Cluster name or server.
    pub name: String,
    /// Namespaces; empty = the whole cluster.
    pub namespaces: Vec<String>,
}

/// An environment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentDto {
    /// Name.
    pub name: String,
    /// `production` or `non-production`.
    #[serde(rename = "type")]
    pub env_type: &'static str,
    /// Dashboard order.
    pub order: Option<i64>,
    /// Clusters.
    pub clusters: Vec<ClusterDto>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl From<&Environment> for EnvironmentDto {
    fn from(e: &Environment) -> Self {
        EnvironmentDto {
            name: e.name.to_string(),
            env_type: e.env_type.as_str(),
            order: e.order,
            clusters: e
                .clusters
                .iter()
                .map(|c| ClusterDto { name: c.name.clone(), namespaces: c.namespaces.clone() })
                .collect(),
            labels: e.labels.clone(),
        }
    }
}

/// A trigger selector of a product's flow entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorDto {
    /// `gitRevision` or `commitMessage`.
    pub key: &'static str,
    /// `In` or `NotIn`.
    pub operator: &'static str,
    /// Globs.
    pub values: Vec<String>,
}

/// One entry of a product's ordered flows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowSelectionDto {
    /// Flow name.
    pub name: String,
    /// All must match.
    pub git_trigger_selectors: Vec<SelectorDto>,
}

/// A product.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDto {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Referenced promotion template.
    pub promotion_template_ref: Option<String>,
    /// Whether the product has an inline promotion template (it wins over the reference).
    pub inline_promotion_template: bool,
    /// Flows in order of preference.
    pub promotion_flows: Vec<FlowSelectionDto>,
    /// `queue` or `terminate`.
    pub concurrency: &'static str,
    /// Number of applications of the product.
    pub applications: usize,
}

impl ProductDto {
    /// Builds the DTO; `catalog` supplies the application count.
    pub fn new(p: &Product, catalog: &Catalog) -> Self {
        ProductDto {
            name: p.name.to_string(),
            labels: p.labels.clone(),
            promotion_template_ref: p.promotion_template_ref.as_ref().map(ToString::to_string),
            inline_promotion_template: p.promotion_template.is_some(),
            promotion_flows: p
                .promotion_flows
                .iter()
                .map(|s| FlowSelectionDto {
                    name: s.flow.to_string(),
                    git_trigger_selectors: s
                        .git_trigger_selectors
                        .iter()
                        .map(|t| SelectorDto {
                            key: match t.key {
                                TriggerKey::GitRevision => "gitRevision",
                                TriggerKey::CommitMessage => "commitMessage",
                            },
                            operator: match t.operator {
                                SelectorOperator::In => "In",
                                SelectorOperator::NotIn => "NotIn",
                            },
                            values: t.values.clone(),
                        })
                        .collect(),
                })
                .collect(),
            concurrency: match p.concurrency {
                ferry_model::resources::Concurrency::Queue => "queue",
                ferry_model::resources::Concurrency::Terminate => "terminate",
            },
            applications: catalog.applications.values().filter(|a| a.product == p.name).count(),
        }
    }
}

/// Policy fields (inline in a flow step or in a PromotionPolicy).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyFieldsDto {
    /// `commit`, `pr` or `none`.
    pub action: Option<&'static str>,
    /// Pre-Action workflow.
    pub pre_action: Option<String>,
    /// Post-Action workflow.
    pub post_action: Option<String>,
}

impl From<&PolicyFields> for PolicyFieldsDto {
    fn from(p: &PolicyFields) -> Self {
        PolicyFieldsDto {
            action: p.action.map(|a| a.as_str()),
            pre_action: p.pre_action.as_ref().map(ToString::to_string),
            post_action: p.post_action.as_ref().map(ToString::to_string),
        }
    }
}

/// Hook workflows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HooksDto {
    /// On start.
    pub on_start: Option<String>,
    /// On success.
    pub on_success: Option<String>,
    /// On failure or termination.
    pub on_fail: Option<String>,
}

impl From<&Hooks> for HooksDto {
    fn from(h: &Hooks) -> Self {
        HooksDto {
            on_start: h.on_start.as_ref().map(ToString::to_string),
            on_success: h.on_success.as_ref().map(ToString::to_string),
            on_fail: h.on_fail.as_ref().map(ToString::to_string),
        }
    }
}

/// A step of a flow.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowStepDto {
    /// Target environment.
    pub environment: String,
    /// Dependencies (the trigger environment when none were written).
    pub depends_on: Vec<String>,
    /// Inline policy.
    pub policy: PolicyFieldsDto,
    /// Environment hooks.
    pub hooks: HooksDto,
}

/// A promotion flow.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowDto {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Flow version.
    pub version: Option<String>,
    /// Trigger environment.
    pub trigger_environment: String,
    /// Trigger workflow.
    pub trigger_workflow: Option<String>,
    /// Target environments.
    pub steps: Vec<FlowStepDto>,
    /// Release hooks.
    pub hooks: HooksDto,
    /// Flow timeout, e.g. `6h`.
    pub timeout: String,
}

impl From<&PromotionFlow> for FlowDto {
    fn from(f: &PromotionFlow) -> Self {
        let step = |s: &FlowStep| FlowStepDto {
            environment: s.environment.to_string(),
            depends_on: if s.depends_on.is_empty() {
                vec![f.trigger_environment.to_string()]
            } else {
                s.depends_on.iter().map(EnvName::to_string).collect()
            },
            policy: (&s.policy).into(),
            hooks: (&s.hooks).into(),
        };
        FlowDto {
            name: f.name.to_string(),
            description: f.description.clone(),
            version: f.version.clone(),
            trigger_environment: f.trigger_environment.to_string(),
            trigger_workflow: f.trigger_workflow.as_ref().map(ToString::to_string),
            steps: f.steps.iter().map(step).collect(),
            hooks: (&f.hooks).into(),
            timeout: format_duration(f.timeout),
        }
    }
}

/// A promotion policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDto {
    /// Name.
    pub name: String,
    /// Lower = stronger.
    pub priority: i64,
    /// Product names selected; `null` = any.
    pub product_names: Option<Vec<String>>,
    /// Product labels selected; `null` = any.
    pub product_labels: Option<BTreeMap<String, String>>,
    /// Target environment names selected; `null` = any.
    pub environment_names: Option<Vec<String>>,
    /// Target environment types selected (`production`, `non-production`); `null` = any.
    pub environment_types: Option<Vec<&'static str>>,
    /// Fields set.
    pub policy: PolicyFieldsDto,
}

impl From<&PromotionPolicy> for PolicyDto {
    fn from(p: &PromotionPolicy) -> Self {
        let sel = &p.selector;
        PolicyDto {
            name: p.name.to_string(),
            priority: p.priority,
            product_names: sel.product.names.as_ref().map(|n| n.iter().map(ToString::to_string).collect()),
            product_labels: sel.product.match_labels.clone(),
            environment_names: sel
                .target_environment
                .names
                .as_ref()
                .map(|n| n.iter().map(ToString::to_string).collect()),
            environment_types: sel.target_environment.types.as_ref().map(|t| t.iter().map(|t| t.as_str()).collect()),
            policy: (&p.policy).into(),
        }
    }
}

/// A workflow parameter.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamDto {
    /// Name.
    pub name: String,
    /// Default value; `***` for a secret parameter that has one.
    pub default: Option<String>,
    /// Whether the value is a secret (masked in logs, its default never shown).
    pub secret: bool,
}

impl From<&WorkflowParam> for ParamDto {
    fn from(p: &WorkflowParam) -> Self {
        let default = match &p.default {
            Some(_) if p.secret => Some("***".to_owned()),
            other => other.clone(),
        };
        ParamDto { name: p.name.to_string(), default, secret: p.secret }
    }
}

/// A workflow step.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStepDto {
    /// Name.
    pub name: String,
    /// `run` or `approval`.
    pub kind: &'static str,
    /// Script, for `run` steps.
    pub run: Option<String>,
    /// Message, for `approval` steps.
    pub message: Option<String>,
    /// Dependencies; `null` = the previous step.
    pub depends_on: Option<Vec<String>>,
    /// Step timeout.
    pub timeout: Option<String>,
    /// Retries.
    pub retries: u32,
}

/// A workflow.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDto {
    /// Name.
    pub name: String,
    /// `local` or `argo`.
    pub backend: &'static str,
    /// Argo WorkflowTemplate, for the `argo` backend.
    pub template: Option<String>,
    /// Whole-run timeout.
    pub timeout: Option<String>,
    /// Parameters.
    pub params: Vec<ParamDto>,
    /// Steps.
    pub steps: Vec<WorkflowStepDto>,
}

impl From<&Workflow> for WorkflowDto {
    fn from(w: &Workflow) -> Self {
        let (backend, template) = match &w.backend {
            WorkflowBackend::Local => ("local", None),
            WorkflowBackend::Argo { template, .. } => ("argo", Some(template.clone())),
        };
        WorkflowDto {
            name: w.name.to_string(),
            backend,
            template,
            timeout: w.timeout.map(format_duration),
            params: w.params.iter().map(ParamDto::from).collect(),
            steps: w
                .steps
                .iter()
                .map(|s| {
                    let (kind, run, message) = match &s.kind {
                        StepKind::Run(script) => ("run", Some(script.clone()), None),
                        StepKind::Approval { message } => ("approval", None, Some(message.clone())),
                    };
                    WorkflowStepDto {
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
}

/// An application.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDto {
    /// Name.
    pub name: String,
    /// Environment.
    pub environment: String,
    /// Component.
    pub component: String,
    /// Git repository (credentials redacted).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Path in the repository.
    pub path: String,
    /// Branch.
    pub target_revision: String,
    /// `exec`, `argocd` or `push`.
    pub status_source: &'static str,
}

impl From<&Application> for ApplicationDto {
    fn from(a: &Application) -> Self {
        ApplicationDto {
            name: a.name.to_string(),
            environment: a.environment.to_string(),
            component: a.component.to_string(),
            repo_url: ferry_git::redact(&a.source.repo_url),
            path: a.source.path.clone(),
            target_revision: a.source.target_revision.clone(),
            status_source: match a.status {
                StatusSource::Exec(_) => "exec",
                StatusSource::ArgoCd(_) => "argocd",
                StatusSource::Push { .. } => "push",
            },
        }
    }
}

/// Live state of one application.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStateDto {
    /// Application.
    pub application: String,
    /// Environment.
    pub environment: String,
    /// Component.
    pub component: String,
    /// Live version.
    pub version: Option<String>,
    /// Live revision.
    pub revision: Option<String>,
    /// Sync status.
    pub sync: String,
    /// Health status.
    pub health: String,
    /// Last message.
    pub message: Option<String>,
    /// Release that last changed it.
    pub release_id: Option<String>,
    /// Last update (RFC 3339).
    pub updated_at: String,
}

impl From<AppStateRow> for AppStateDto {
    fn from(r: AppStateRow) -> Self {
        AppStateDto {
            application: r.application,
            environment: r.environment,
            component: r.component,
            version: r.version,
            revision: r.revision,
            sync: r.sync,
            health: r.health,
            message: r.message,
            release_id: r.release_id,
            updated_at: r.updated_at.to_string(),
        }
    }
}

/// A product event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductEventDto {
    /// Id.
    pub id: i64,
    /// When.
    pub at: String,
    /// Kind.
    pub kind: String,
    /// Message.
    pub message: String,
}

impl From<ProductEvent> for ProductEventDto {
    fn from(e: ProductEvent) -> Self {
        ProductEventDto { id: e.id, at: e.at.to_string(), kind: e.kind, message: e.message }
    }
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
/// release, else read from the store ([`stored_view`]). `None` when there is no such release.
pub(crate) async fn release_view<S: Store>(st: &crate::AppState<S>, id: &str) -> Result<Option<ReleaseView>, ApiError> {
    if let Ok(rid) = id.parse::<ferry_model::names::ReleaseId>()
        && let Some(state) = st.engine.live_state(rid)
    {
        return Ok(Some(ferry_engine::view::release_view(&state)));
    }
    stored_view(&st.store, id).await
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
pub async fn stored_view<S: Store>(store: &S, id: &str) -> Result<Option<ReleaseView>, ApiError> {
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

/// A committed release event (list items and SSE `data`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDto<'a> {
    /// Global id (the SSE id).
    pub gid: i64,
    /// Release.
    pub release_id: &'a str,
    /// Product.
    pub product: &'a str,
    /// Position in the release's log.
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// The event.
    pub body: &'a serde_json::Value,
}

impl<'a> From<&'a StoredEvent> for EventDto<'a> {
    fn from(e: &'a StoredEvent) -> Self {
        EventDto {
            gid: e.gid,
            release_id: &e.release_id,
            product: &e.product,
            seq: e.seq,
            at: e.at.to_string(),
            body: &e.body,
        }
    }
}

/// Where a workflow run belongs, read from the release's `WorkflowRunStarted` events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
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

/// A workflow log line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLineDto {
    /// Line id (pass the last one as `after` to read on).
    pub id: i64,
    /// Workflow run.
    pub run_id: String,
    /// Step.
    pub step: String,
    /// When it was read (RFC 3339).
    pub at: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text.
    pub text: String,
    /// Where the run belongs.
    #[serde(flatten)]
    pub context: RunContext,
}

impl LogLineDto {
    /// Builds the DTO with the run's context.
    pub fn new(l: StoredLogLine, context: RunContext) -> Self {
        LogLineDto {
            id: l.id,
            run_id: l.line.run_id,
            step: l.line.step,
            at: l.line.at.to_string(),
            stream: l.line.stream,
            text: l.line.text,
            context,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let dto = ParamDto::from(p);
            (dto.default, dto.secret)
        };
        assert_eq!(shown(&param("TOKEN", Some("s3cr3t-value"), true)), (Some("***".to_owned()), true));
        assert_eq!(shown(&param("TOKEN", None, true)), (None, true), "required stays required");
        assert_eq!(shown(&param("SUITE", Some("smoke"), false)), (Some("smoke".to_owned()), false));
    }
}
