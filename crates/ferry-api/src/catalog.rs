//! The configuration as the API shows it (`GET /api/v1/products`, `/environments`, `/applications`,
//! `/flows`, `/policies`, `/workflows`, `/gitproviders`, `/notifications`, `/products/{name}`) and the answer of `POST /api/v1/apply`.

use std::collections::BTreeMap;

use ferry_model::status::{HealthStatus, SyncStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Diagnostic;
use crate::list::ReleaseItem;
use crate::schema;
use crate::wire::{EnvironmentType, PromotionAction};

/// Declares `{"items": [...]}` list types.
macro_rules! list_type {
    ($(#[$meta:meta])* $name:ident of $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            /// The items.
            pub items: Vec<$item>,
        }
    };
}
pub(crate) use list_type;

/// How a product's releases wait for each other (SPEC §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Concurrency {
    /// A new release waits for the running one.
    Queue,
    /// A new release terminates the running one.
    Terminate,
}

/// What a trigger selector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SelectorKey {
    /// The branch or tag pushed.
    GitRevision,
    /// The commit message.
    CommitMessage,
}

/// How a trigger selector matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SelectorOperator {
    /// One of the globs matches.
    In,
    /// None of the globs matches.
    NotIn,
}

/// A trigger selector of a product's flow entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// What it looks at.
    pub key: SelectorKey,
    /// How it matches.
    pub operator: SelectorOperator,
    /// Globs.
    pub values: Vec<String>,
}

/// One entry of a product's ordered flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowSelection {
    /// Flow name.
    pub name: String,
    /// All must match.
    pub git_trigger_selectors: Vec<Selector>,
}

/// A product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Referenced promotion template.
    pub promotion_template_ref: Option<String>,
    /// Whether the product has an inline promotion template (it wins over the reference).
    pub inline_promotion_template: bool,
    /// Flows in order of preference.
    pub promotion_flows: Vec<FlowSelection>,
    /// How its releases wait for each other.
    pub concurrency: Concurrency,
    /// Number of applications of the product.
    pub applications: usize,
}

/// A cluster of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Cluster name or server.
    pub name: String,
    /// Namespaces; empty = the whole cluster.
    pub namespaces: Vec<String>,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// Name.
    pub name: String,
    /// Production or not.
    #[serde(rename = "type")]
    pub env_type: EnvironmentType,
    /// Dashboard order.
    pub order: Option<i64>,
    /// Clusters.
    pub clusters: Vec<Cluster>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Where an application's sync and health come from (SPEC §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusSourceKind {
    /// A command Ferry runs.
    Exec,
    /// Argo CD's API.
    Argocd,
    /// Reports to `POST /api/v1/apps/{name}/status`.
    Push,
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Application {
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
    /// Where its status comes from.
    pub status_source: StatusSourceKind,
}

/// Policy fields (inline in a flow step or in a PromotionPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyFields {
    /// The promotion action.
    pub action: Option<PromotionAction>,
    /// Pre-Action workflow.
    pub pre_action: Option<String>,
    /// Post-Action workflow.
    pub post_action: Option<String>,
}

/// Hook workflows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    /// On start.
    pub on_start: Option<String>,
    /// On success.
    pub on_success: Option<String>,
    /// On failure or termination.
    pub on_fail: Option<String>,
}

/// A step of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowStep {
    /// Target environment.
    pub environment: String,
    /// Dependencies (the trigger environment when none were written).
    pub depends_on: Vec<String>,
    /// Inline policy.
    pub policy: PolicyFields,
    /// Environment hooks.
    pub hooks: Hooks,
}

/// A promotion flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
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
    pub steps: Vec<FlowStep>,
    /// Release hooks.
    pub hooks: Hooks,
    /// Flow timeout, e.g. `6h`.
    pub timeout: String,
}

/// A promotion policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
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
    /// Target environment types selected; `null` = any.
    pub environment_types: Option<Vec<EnvironmentType>>,
    /// Fields set.
    pub policy: PolicyFields,
}

/// A workflow parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowParam {
    /// Name.
    pub name: String,
    /// Default value; `***` for a secret parameter that has one.
    pub default: Option<String>,
    /// Whether the value is a secret (masked in logs, its default never shown).
    pub secret: bool,
}

/// What a workflow step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum WorkflowStepKind {
    /// Runs a script.
    Run,
    /// Waits for a person's approval.
    Approval,
}

/// A workflow step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStep {
    /// Name.
    pub name: String,
    /// What it does.
    pub kind: WorkflowStepKind,
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

/// Where a workflow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum WorkflowBackend {
    /// On the Ferry host.
    Local,
    /// As an Argo Workflow.
    Argo,
}

/// A workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    /// Name.
    pub name: String,
    /// Where it runs.
    pub backend: WorkflowBackend,
    /// Argo WorkflowTemplate, for the `argo` backend.
    pub template: Option<String>,
    /// Whole-run timeout.
    pub timeout: Option<String>,
    /// Parameters.
    pub params: Vec<WorkflowParam>,
    /// Steps.
    pub steps: Vec<WorkflowStep>,
}

/// Live state of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
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
    #[schema(schema_with = schema::sync_status)]
    pub sync: SyncStatus,
    /// Health status.
    #[schema(schema_with = schema::health_status)]
    pub health: HealthStatus,
    /// Last message.
    pub message: Option<String>,
    /// Release that last changed it.
    pub release_id: Option<String>,
    /// Last update.
    pub updated_at: Timestamp,
}

/// Something that happened to a product outside a release (e.g. why a commit created none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductEvent {
    /// Id (the event's global id).
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// Short kind, e.g. `no-flow-matched`.
    pub kind: String,
    /// Human message.
    pub message: String,
}

/// A product with its flows, applications, live state, latest release and recent events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDetail {
    /// The product.
    pub product: Product,
    /// Its flows, in order of preference.
    pub flows: Vec<Flow>,
    /// Environments of the product's flows and applications, in dashboard order.
    pub environments: Vec<String>,
    /// Its applications by environment (dashboard order) and component.
    pub applications: Vec<Application>,
    /// Live state of its applications.
    pub live: Vec<AppState>,
    /// Its newest release.
    pub latest_release: Option<ReleaseItem>,
    /// Recent product events, newest first.
    pub events: Vec<ProductEvent>,
}

list_type!(
    /// `GET /api/v1/products`.
    ProductList of Product
);
list_type!(
    /// `GET /api/v1/environments`, in dashboard order.
    EnvironmentList of Environment
);
list_type!(
    /// `GET /api/v1/applications`.
    ApplicationList of Application
);
list_type!(
    /// `GET /api/v1/flows`.
    FlowList of Flow
);
list_type!(
    /// `GET /api/v1/policies`, strongest first.
    PolicyList of Policy
);
list_type!(
    /// `GET /api/v1/workflows`.
    WorkflowList of Workflow
);

/// Where a secret is read from on the server: an environment variable or a file. Never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// The environment variable holding it.
    pub env: Option<String>,
    /// The file holding it.
    pub file: Option<String>,
}

/// A repository a git provider serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitProviderRepository {
    /// The git URL or a glob over git URLs (credentials masked).
    pub url: String,
    /// Its `owner/repo` name on the forge (taken from the URL when absent).
    pub name: Option<String>,
}

/// A git provider (SPEC §6.2): which forge serves which repositories. Credentials appear only as where
/// they are read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitProvider {
    /// Name.
    pub name: String,
    /// `github`, `gitlab`, `gitea` or `local`.
    #[serde(rename = "type")]
    pub forge_type: String,
    /// The API base URL (credentials masked); absent: the forge's public API.
    #[serde(rename = "apiURL")]
    pub api_url: Option<String>,
    /// Where the API token is read from.
    pub token: Option<SecretRef>,
    /// The GitHub App's id, when the provider authenticates as one.
    pub app_id: Option<u64>,
    /// The file of the GitHub App's private key (on the server).
    pub app_private_key_file: Option<String>,
    /// Where the webhooks' secret is read from.
    pub webhook_secret: Option<SecretRef>,
    /// The repositories it serves.
    pub repositories: Vec<GitProviderRepository>,
}

/// An outgoing notification (SPEC §6.6). Its URL shows only scheme and host (a webhook URL's path may
/// be its credential, as Slack's is); its secret only where it is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Name.
    pub name: String,
    /// Scheme and host of the webhook URL, `/…` when it has a path.
    pub url: String,
    /// `json` or `slack`.
    pub format: String,
    /// Where the signing secret is read from; absent: unsigned.
    pub secret: Option<SecretRef>,
    /// Product globs (empty: every product).
    pub products: Vec<String>,
    /// Environment globs (empty: every environment and release changes).
    pub environments: Vec<String>,
    /// Statuses (empty: every status).
    pub statuses: Vec<String>,
}

list_type!(
    /// `GET /api/v1/gitproviders`.
    GitProviderList of GitProvider
);
list_type!(
    /// `GET /api/v1/notifications`.
    NotificationList of Notification
);

/// One configuration file of an apply request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplySource {
    /// File name as shown in diagnostics.
    pub name: String,
    /// The YAML text.
    pub text: String,
}

/// `POST /api/v1/apply`: the whole configuration, as files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The files.
    pub sources: Vec<ApplySource>,
}

/// Number of resources of each kind in a configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceCounts {
    /// Applications.
    pub applications: usize,
    /// Environments.
    pub environments: usize,
    /// Products.
    pub products: usize,
    /// Promotion flows.
    pub promotion_flows: usize,
    /// Promotion policies.
    pub promotion_policies: usize,
    /// Promotion templates.
    pub promotion_templates: usize,
    /// Workflows.
    pub workflows: usize,
}

impl From<&ferry_model::resources::Catalog> for ResourceCounts {
    fn from(c: &ferry_model::resources::Catalog) -> Self {
        ResourceCounts {
            applications: c.applications.len(),
            environments: c.environments.len(),
            products: c.products.len(),
            promotion_flows: c.flows.len(),
            promotion_policies: c.policies.len(),
            promotion_templates: c.templates.len(),
            workflows: c.workflows.len(),
        }
    }
}

/// The answer of `POST /api/v1/apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResponse {
    /// The new configuration version, from 1.
    pub version: i64,
    /// Warnings of the validation.
    pub warnings: Vec<Diagnostic>,
    /// Number of resources of each kind.
    pub resources: ResourceCounts,
}

/// One resource of the configuration in use, as `GET /api/v1/config` shows it and `ferry diff` compares
/// it: the validated resource's JSON, with credentials in URLs masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppliedResource {
    /// `Environment`, `Application`, `Product`, `PromotionTemplate`, `PromotionFlow`, `PromotionPolicy`
    /// or `Workflow`.
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// The validated resource (its fields as Ferry resolved them, defaults included).
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

/// `GET /api/v1/config`: the configuration in use, one entry per resource, sorted by kind and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppliedConfig {
    /// Its version (`null` before the first apply).
    pub version: Option<i64>,
    /// When it was applied.
    pub applied_at: Option<Timestamp>,
    /// Who applied it.
    pub applied_by: Option<String>,
    /// The resources.
    pub resources: Vec<AppliedResource>,
}

impl AppliedResource {
    /// Every resource of `catalog` in kind and name order, each string passed through `mask` (the
    /// server and the CLI mask credentials in URLs the same way, so equal resources compare equal).
    pub fn all_of(
        catalog: &ferry_model::resources::Catalog,
        mask: &dyn Fn(&str) -> String,
    ) -> Result<Vec<AppliedResource>, serde_json::Error> {
        fn each<K: ToString, V: Serialize>(
            out: &mut Vec<AppliedResource>,
            kind: &str,
            map: &BTreeMap<K, V>,
            mask: &dyn Fn(&str) -> String,
        ) -> Result<(), serde_json::Error> {
            for (name, resource) in map {
                let mut spec = serde_json::to_value(resource)?;
                mask_strings(&mut spec, mask);
                out.push(AppliedResource { kind: kind.to_owned(), name: name.to_string(), spec });
            }
            Ok(())
        }
        let mut out = Vec::new();
        each(&mut out, "Application", &catalog.applications, mask)?;
        each(&mut out, "Environment", &catalog.environments, mask)?;
        each(&mut out, "Product", &catalog.products, mask)?;
        each(&mut out, "PromotionFlow", &catalog.flows, mask)?;
        each(&mut out, "PromotionPolicy", &catalog.policies, mask)?;
        each(&mut out, "PromotionTemplate", &catalog.templates, mask)?;
        each(&mut out, "Workflow", &catalog.workflows, mask)?;
        Ok(out)
    }
}

fn mask_strings(value: &mut serde_json::Value, mask: &dyn Fn(&str) -> String) {
    match value {
        serde_json::Value::String(text) => *text = mask(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| mask_strings(v, mask)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| mask_strings(v, mask)),
        _ => {}
    }
}
