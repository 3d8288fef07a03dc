//! The validated resources of SPEC §2. Wire forms (YAML) live in `ferry-config`; these are domain types.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::jsonpath::JsonPath;
use crate::names::*;

/// Labels or annotations: string keys to string values, sorted.
pub type Labels = BTreeMap<String, String>;

/// Whether an environment is production; policy selectors spell these `PROD` / `NON_PROD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvironmentType {
    /// `production` (selector value `PROD`).
    Production,
    /// `non-production` (selector value `NON_PROD`).
    NonProduction,
}

impl EnvironmentType {
    /// The spelling in resources: `production` / `non-production`.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentType::Production => "production",
            EnvironmentType::NonProduction => "non-production",
        }
    }

    /// The spelling in policy selectors: `PROD` / `NON_PROD`.
    pub fn selector_value(self) -> &'static str {
        match self {
            EnvironmentType::Production => "PROD",
            EnvironmentType::NonProduction => "NON_PROD",
        }
    }
}

/// A cluster (and optionally namespaces) that belongs to an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Cluster name as Argo CD knows it (`in-cluster`, ...) or its server URL.
    pub name: String,
    /// Namespaces of the environment in that cluster; empty = the whole cluster.
    pub namespaces: Vec<String>,
}

/// An environment (SPEC §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Name.
    pub name: EnvName,
    /// Production or not.
    pub env_type: EnvironmentType,
    /// Clusters and namespaces used to place Argo CD applications.
    pub clusters: Vec<Cluster>,
    /// Dashboard column order (lower first); `None` sorts last, by name.
    pub order: Option<i64>,
    /// Labels.
    pub labels: Labels,
}

impl Environment {
    /// Whether an Argo CD destination (cluster name or server, namespace) lies in this environment.
    pub fn contains_destination(&self, cluster: &str, namespace: Option<&str>) -> bool {
        self.clusters.iter().any(|c| {
            c.name == cluster
                && (c.namespaces.is_empty() || namespace.is_some_and(|ns| c.namespaces.iter().any(|n| n == ns)))
        })
    }
}

/// Where an application's manifests live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSource {
    /// Git URL (file://, https://, ssh://).
    pub repo_url: String,
    /// Directory inside the repository (no leading or trailing `/`; empty = root).
    pub path: String,
    /// Branch the environment deploys from.
    pub target_revision: String,
}

/// Default time an application may take to become Synced and Healthy.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(600);

/// The exec status source: Ferry deploys by running commands (SPEC §6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecStatus {
    /// Sync command, run in a checkout of the revision with cwd = source path.
    pub sync: Option<String>,
    /// Health command; exit 0 = Healthy.
    pub health: Option<String>,
    /// How long health may stay non-healthy before the app is Degraded.
    pub health_timeout: Duration,
}

impl Default for ExecStatus {
    fn default() -> Self {
        ExecStatus { sync: None, health: None, health_timeout: DEFAULT_HEALTH_TIMEOUT }
    }
}

/// The Argo CD status source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgoCdStatus {
    /// Argo CD server URL; `None` = the server named in Ferry's settings.
    pub server: Option<String>,
    /// Argo CD application name.
    pub application: String,
    /// Name of the secret (environment variable) holding the token.
    pub token_secret: Option<String>,
    /// How long to wait for Synced + Healthy.
    pub health_timeout: Duration,
    /// How Argo CD is asked to look again after a promotion commit (`refresh`, default normal).
    #[serde(default)]
    pub refresh: ArgoRefresh,
    /// Whether Ferry requests the sync after a promotion commit (`requestSync`), for applications
    /// without Argo CD's auto-sync.
    #[serde(default)]
    pub request_sync: bool,
    /// The application's namespace in Argo CD (`appNamespace`), when not Argo CD's own.
    #[serde(default)]
    pub app_namespace: Option<String>,
    /// The application's Argo CD project (`project`).
    #[serde(default)]
    pub project: Option<String>,
}

impl ArgoCdStatus {
    /// The Argo CD application `application` on the default server, with the default token variable,
    /// health timeout and refresh, without sync requests.
    pub fn named(application: &str) -> ArgoCdStatus {
        ArgoCdStatus {
            server: None,
            application: application.to_owned(),
            token_secret: None,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
            refresh: ArgoRefresh::Normal,
            request_sync: false,
            app_namespace: None,
            project: None,
        }
    }
}

/// How Argo CD is asked to look at the repository again (`?refresh=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArgoRefresh {
    /// Compare with the repository again.
    #[default]
    Normal,
    /// Also regenerate the manifests.
    Hard,
}

/// Where an application's sync and health come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StatusSource {
    /// Ferry runs sync/health commands.
    Exec(ExecStatus),
    /// Ferry reads Argo CD.
    ArgoCd(ArgoCdStatus),
    /// An external agent reports through the API.
    Push {
        /// How long to wait for Synced + Healthy.
        health_timeout: Duration,
    },
}

impl StatusSource {
    /// The timeout of the sync-and-health gate.
    pub fn health_timeout(&self) -> Duration {
        match self {
            StatusSource::Exec(e) => e.health_timeout,
            StatusSource::ArgoCd(a) => a.health_timeout,
            StatusSource::Push { health_timeout } => *health_timeout,
        }
    }
}

/// One deployable unit of a product in one environment (SPEC §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Name.
    pub name: AppName,
    /// Owning product.
    pub product: ProductName,
    /// Environment it is deployed to.
    pub environment: EnvName,
    /// Component; pairs source and target applications. Defaults to the product name.
    pub component: ComponentName,
    /// Git source.
    pub source: AppSource,
    /// Status source.
    pub status: StatusSource,
    /// Labels (matched by template selectors together with the implicit `ferry/*` labels).
    pub labels: Labels,
    /// Namespace the app deploys to, when known (Argo CD destination); passed as `APP_NAMESPACE`.
    pub namespace: Option<String>,
}

impl Application {
    /// Labels used by `applicationSourceSelector`: the app's own labels plus
    /// `ferry/product`, `ferry/environment` and `ferry/component` (own labels win).
    pub fn selector_labels(&self) -> Labels {
        let mut labels = Labels::new();
        labels.insert("ferry/product".into(), self.product.to_string());
        labels.insert("ferry/environment".into(), self.environment.to_string());
        labels.insert("ferry/component".into(), self.component.to_string());
        labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels
    }
}

/// Which part of the trigger commit a trigger selector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TriggerKey {
    /// The branch name and the commit SHA.
    GitRevision,
    /// The full commit message.
    CommitMessage,
}

/// Selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectorOperator {
    /// Any value matches.
    In,
    /// No value matches.
    NotIn,
}

/// A `gitTriggerSelectors` entry (SPEC §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSelector {
    /// What is matched.
    pub key: TriggerKey,
    /// How.
    pub operator: SelectorOperator,
    /// Globs (`*` = any text), anchored, case-sensitive.
    pub values: Vec<String>,
}

/// The facts of a trigger commit that selectors are matched against.
#[derive(Debug, Clone, Copy)]
pub struct TriggerFacts<'a> {
    /// Branch name (without `refs/heads/`).
    pub branch: &'a str,
    /// Full commit SHA.
    pub sha: &'a str,
    /// Full commit message.
    pub message: &'a str,
}

impl TriggerSelector {
    /// Whether the selector accepts the commit.
    pub fn matches(&self, facts: &TriggerFacts<'_>) -> bool {
        let subjects: &[&str] = match self.key {
            TriggerKey::GitRevision => &[facts.branch, facts.sha],
            TriggerKey::CommitMessage => &[facts.message],
        };
        let any = self.values.iter().any(|pattern| subjects.iter().any(|s| glob_match(pattern, s)));
        match self.operator {
            SelectorOperator::In => any,
            SelectorOperator::NotIn => !any,
        }
    }
}

/// Anchored, case-sensitive glob where `*` matches any text (including `/` and newlines).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// One entry of a product's ordered `promotionFlows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSelection {
    /// The flow.
    pub flow: FlowName,
    /// All must match for the flow to be chosen; none = matches everything.
    pub git_trigger_selectors: Vec<TriggerSelector>,
}

impl FlowSelection {
    /// Whether every selector accepts the commit.
    pub fn matches(&self, facts: &TriggerFacts<'_>) -> bool {
        self.git_trigger_selectors.iter().all(|s| s.matches(facts))
    }
}

/// What happens when a new release starts while another is active (SPEC §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Concurrency {
    /// One release at a time; later ones wait in FIFO order.
    #[default]
    Queue,
    /// A newer release terminates older active ones.
    Terminate,
}

/// An issue-key pattern of release notes: `KIND:regex`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuePattern {
    /// Tracker kind (`JIRA`, `GITHUB`, ...), used to pick the `issueUrl` template.
    pub kind: String,
    /// Regular expression.
    pub pattern: String,
}

/// Release-notes settings of a product.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReleaseNotesConfig {
    /// Issue patterns; empty = defaults of SPEC §5.
    pub issue_patterns: Vec<IssuePattern>,
    /// Link templates per kind, with `{id}`.
    pub issue_url: BTreeMap<String, String>,
    /// Jira project keys that are recognised; empty = any.
    pub jira_projects: Vec<String>,
}

/// A product (SPEC §2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Name.
    pub name: ProductName,
    /// Labels.
    pub labels: Labels,
    /// Inline promotion template (wins over the reference).
    pub promotion_template: Option<TemplateSpec>,
    /// Referenced promotion template.
    pub promotion_template_ref: Option<TemplateName>,
    /// Flows in order of preference.
    pub promotion_flows: Vec<FlowSelection>,
    /// Concurrency mode.
    pub concurrency: Concurrency,
    /// Release-notes settings.
    pub release_notes: ReleaseNotesConfig,
}

impl Product {
    /// The first flow triggered from `env` whose selectors all match (SPEC §3.1).
    pub fn choose_flow<'a>(
        &'a self,
        trigger_env: &EnvName,
        flows: &BTreeMap<FlowName, PromotionFlow>,
        facts: &TriggerFacts<'_>,
    ) -> Option<&'a FlowName> {
        self.promotion_flows.iter().find_map(|sel| {
            let flow = flows.get(&sel.flow)?;
            (flow.trigger_environment == *trigger_env && sel.matches(facts)).then_some(&sel.flow)
        })
    }
}

/// Where an application's version is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionSource {
    /// File relative to the application's source path.
    pub file: String,
    /// JSONPath of the version value.
    pub json_path: JsonPath,
}

impl Eq for VersionSource {}

/// What a promotion copies and where the version is read (the body of a PromotionTemplate).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// Version source; `None` = the version is unknown.
    pub version_source: Option<VersionSource>,
    /// File → JSONPaths to copy; empty = promote every file of the source directory.
    pub promotion: BTreeMap<String, Vec<JsonPath>>,
}

impl TemplateSpec {
    /// Whether the whole source directory is promoted.
    pub fn promotes_all_files(&self) -> bool {
        self.promotion.is_empty()
    }
}

/// `matchLabels` selector.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LabelSelector {
    /// Every label must be present with that value.
    pub match_labels: Labels,
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// A promotion template (SPEC §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionTemplate {
    /// Name.
    pub name: TemplateName,
    /// Applications it applies to when not referenced by name; `None` = only by reference.
    pub application_source_selector: Option<LabelSelector>,
    /// Lower number = stronger; ties broken by name.
    pub priority: i64,
    /// The template body.
    pub spec: TemplateSpec,
}

/// The promotion action of a target environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Commit and push to the target branch.
    Commit,
    /// Push a branch and open a pull request.
    Pr,
    /// No Git write; workflows do the work.
    None,
}

impl Action {
    /// Spelling in resources and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Commit => "commit",
            Action::Pr => "pr",
            Action::None => "none",
        }
    }
}

/// The three fields a policy can set. Unset fields fall through to weaker sources.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyFields {
    /// Promotion action.
    pub action: Option<Action>,
    /// Workflow run before the action.
    pub pre_action: Option<WorkflowName>,
    /// Workflow run after sync and health.
    pub post_action: Option<WorkflowName>,
    /// How the pull request of `action: pr` is opened on a forge (SPEC §6.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestOptions>,
    /// How long the applications must stay Synced and Healthy after the Post-Action before the
    /// environment counts as Successful (SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::duration::option_text")]
    pub soak_time: Option<std::time::Duration>,
    /// Approvals needed before the promotion action (SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
    /// Whether a failure after the action starts a rollback of the environment (SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<bool>,
}

/// `policy.approval` (SPEC §10): how many distinct people must approve before the action, and who may.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicy {
    /// Distinct approvers needed (at least 1).
    pub required: u32,
    /// Roles whose holders may approve (`promoter`, `admin`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Token names that may approve whatever their role.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Whether the release's initiator may approve it.
    #[serde(default)]
    pub allow_self_approval: bool,
}

impl ApprovalPolicy {
    /// Whether `actor` holding `role` is an eligible approver: one of the named tokens or a holder of
    /// one of the roles (neither listed: anyone allowed to approve).
    pub fn eligible(&self, actor: &str, role: Option<&str>) -> bool {
        if self.roles.is_empty() && self.tokens.is_empty() {
            return true;
        }
        self.tokens.iter().any(|t| t == actor) || role.is_some_and(|r| self.roles.iter().any(|x| x == r))
    }

    /// Why `actor` holding `role` may not approve a release initiated by `initiator`, if so.
    pub fn refusal(&self, actor: &str, role: Option<&str>, initiator: &str) -> Option<String> {
        if !self.eligible(actor, role) {
            let mut who = Vec::new();
            if !self.roles.is_empty() {
                who.push(format!("role {}", self.roles.join(" or ")));
            }
            if !self.tokens.is_empty() {
                who.push(format!("token {}", self.tokens.join(", ")));
            }
            return Some(format!("{actor} may not approve: approvers need {}", who.join(" or be ")));
        }
        if !self.allow_self_approval && is_initiator(actor, initiator) {
            return Some(format!("{actor} initiated this release and may not approve it (allowSelfApproval is false)"));
        }
        None
    }
}

/// Whether `actor` is the initiator `initiator` of a release (automatic releases record
/// `AUTHOR · ferry (auto)`: the actor matches the author).
pub fn is_initiator(actor: &str, initiator: &str) -> bool {
    initiator == actor || initiator.split(" · ").next() == Some(actor)
}

/// The `pullRequest` block beside `action: pr`: labels, reviewers, draft and the forge's auto-merge.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestOptions {
    /// Labels added to the pull request.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Reviewers requested (user names on the forge).
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// Opened as a draft.
    #[serde(default)]
    pub draft: bool,
    /// The forge merges it by itself once its checks pass (the forge's own auto-merge).
    #[serde(default)]
    pub auto_merge: bool,
}

/// Hook workflows of a flow or of one of its environments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Hooks {
    /// Runs when the release (or environment) starts.
    pub on_start: Option<WorkflowName>,
    /// Runs when it succeeds.
    pub on_success: Option<WorkflowName>,
    /// Runs when it fails or is terminated.
    pub on_fail: Option<WorkflowName>,
}

impl Hooks {
    /// The hooks that are set, with their field names.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &WorkflowName)> {
        [("onStart", &self.on_start), ("onSuccess", &self.on_success), ("onFail", &self.on_fail)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    }
}

/// One target environment of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowStep {
    /// Target environment.
    pub environment: EnvName,
    /// Environments that must be Successful first. Written empty or omitted = the trigger environment.
    pub depends_on: Vec<EnvName>,
    /// Inline policy (overrides PromotionPolicies per field).
    pub policy: PolicyFields,
    /// Environment hooks.
    pub hooks: Hooks,
}

/// Default flow timeout (`promotionTimeoutLimit`).
pub const DEFAULT_FLOW_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A promotion flow (SPEC §2.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionFlow {
    /// Name.
    pub name: FlowName,
    /// `metadata.annotations.description`.
    pub description: Option<String>,
    /// `metadata.annotations.version`, shown as "flow version".
    pub version: Option<String>,
    /// Where changes enter.
    pub trigger_environment: EnvName,
    /// Runs in the trigger environment after its app is synced and healthy.
    pub trigger_workflow: Option<WorkflowName>,
    /// Target environments.
    pub steps: Vec<FlowStep>,
    /// Release-level hooks.
    pub hooks: Hooks,
    /// Flow timeout.
    pub timeout: Duration,
}

impl PromotionFlow {
    /// The step targeting `env`.
    pub fn step(&self, env: &EnvName) -> Option<&FlowStep> {
        self.steps.iter().find(|s| s.environment == *env)
    }

    /// The trigger environment followed by every step's environment, in list order.
    pub fn environments(&self) -> impl Iterator<Item = &EnvName> {
        std::iter::once(&self.trigger_environment).chain(self.steps.iter().map(|s| &s.environment))
    }
}

/// Which products a policy applies to; `None` parts match all.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProductSelector {
    /// Product names.
    pub names: Option<Vec<ProductName>>,
    /// Product labels that must all match.
    pub match_labels: Option<Labels>,
}

/// Which target environments a policy applies to; names AND types must match when both are given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnvironmentSelector {
    /// Environment names.
    pub names: Option<Vec<EnvName>>,
    /// Environment types.
    pub types: Option<Vec<EnvironmentType>>,
}

/// A policy's selector.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicySelector {
    /// Product part.
    pub product: ProductSelector,
    /// Target environment part.
    pub target_environment: EnvironmentSelector,
}

impl PolicySelector {
    /// Whether the selector matches the product and target environment.
    pub fn matches(&self, product: &Product, env: &Environment) -> bool {
        let p = &self.product;
        let e = &self.target_environment;
        p.names.as_ref().is_none_or(|n| n.contains(&product.name))
            && p.match_labels.as_ref().is_none_or(|l| l.iter().all(|(k, v)| product.labels.get(k) == Some(v)))
            && e.names.as_ref().is_none_or(|n| n.contains(&env.name))
            && e.types.as_ref().is_none_or(|t| t.contains(&env.env_type))
    }
}

/// A promotion policy (SPEC §2.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionPolicy {
    /// Name.
    pub name: PolicyName,
    /// Lower number = stronger; ties broken by name.
    pub priority: i64,
    /// What it applies to.
    pub selector: PolicySelector,
    /// The fields it sets.
    pub policy: PolicyFields,
}

/// Where an outgoing notification's signing secret comes from (never logged, never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretSource {
    /// The environment variable of the server process that holds the secret.
    Env(String),
    /// A file on the server whose text (trimmed) is the secret.
    File(String),
}

/// The body format of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NotificationFormat {
    /// Ferry's JSON body (release id, product, environment, status, previous status, ...).
    #[default]
    Json,
    /// A Slack-compatible `{"text": "..."}` message.
    Slack,
}

/// Which status changes a notification is sent for; an empty list matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotificationFilter {
    /// Product name globs.
    #[serde(default)]
    pub products: Vec<String>,
    /// Environment name globs; a release status change (no environment) matches only when empty.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Statuses (release or environment, as in the API: `successful`, `failed`, ...).
    #[serde(default)]
    pub statuses: Vec<String>,
}

impl NotificationFilter {
    /// Whether a change of `product` (in `env`, for an environment change) to `status` matches.
    pub fn matches(&self, product: &str, env: Option<&str>, status: &str) -> bool {
        let product_ok = self.products.is_empty() || self.products.iter().any(|g| glob_match(g, product));
        let env_ok =
            self.environments.is_empty() || env.is_some_and(|e| self.environments.iter().any(|g| glob_match(g, e)));
        let status_ok = self.statuses.is_empty() || self.statuses.iter().any(|s| s == status);
        product_ok && env_ok && status_ok
    }
}

/// An outgoing webhook on release and environment status changes (SPEC §6.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Name.
    pub name: NotificationName,
    /// The `http://` or `https://` URL the body is POSTed to.
    pub url: String,
    /// The signing secret's source; `None` = unsigned.
    pub secret: Option<SecretSource>,
    /// Body format.
    #[serde(default)]
    pub format: NotificationFormat,
    /// Which changes are sent.
    #[serde(default)]
    pub on: NotificationFilter,
}

/// The forge software a [`GitProvider`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ForgeType {
    /// GitHub or GitHub Enterprise (REST v3).
    Github,
    /// GitLab (REST v4).
    Gitlab,
    /// Gitea or Forgejo (REST v1).
    Gitea,
    /// No forge: the built-in local provider (`ferry pr merge`).
    Local,
}

impl ForgeType {
    /// The `type:` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeType::Github => "github",
            ForgeType::Gitlab => "gitlab",
            ForgeType::Gitea => "gitea",
            ForgeType::Local => "local",
        }
    }
}

/// GitHub App credentials: installation tokens are minted from the app id and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubApp {
    /// The app's id.
    pub id: u64,
    /// The PEM file of the app's private key (on the server).
    pub private_key_file: String,
}

/// A repository a [`GitProvider`] serves: a git URL (or a `*` glob over URLs) and its `owner/repo`
/// name on the forge (taken from the URL when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgeRepository {
    /// The git URL, or a glob over git URLs.
    pub url: String,
    /// The repository's name on the forge (`owner/repo`, GitLab groups included).
    pub name: Option<String>,
}

/// Which forge serves which repositories and with which credentials (SPEC §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitProvider {
    /// Name.
    pub name: GitProviderName,
    /// The forge software.
    #[serde(rename = "type")]
    pub forge: ForgeType,
    /// The API base URL (`https://api.github.com`, `https://gitlab.example/api/v4`, …).
    pub api_url: Option<String>,
    /// Where the API token is read from.
    pub token: Option<SecretSource>,
    /// GitHub App credentials (instead of a token).
    pub app: Option<GithubApp>,
    /// Where the secret of the forge's webhooks is read from.
    pub webhook_secret: Option<SecretSource>,
    /// The repositories it serves.
    pub repositories: Vec<ForgeRepository>,
}

/// A workflow parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowParam {
    /// Variable name.
    pub name: ParamName,
    /// Default value; `None` = required from the context.
    pub default: Option<String>,
    /// Whether the value is a secret: the runner masks it in captured logs (absent in catalogs
    /// stored before the field existed: not secret).
    #[serde(default)]
    pub secret: bool,
}

/// What a workflow step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StepKind {
    /// A shell script run with `sh -e`.
    Run(String),
    /// Waits for a person to approve (`ferry release approve`).
    Approval {
        /// Shown to the approver.
        message: String,
    },
}

/// A workflow step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStep {
    /// Name, unique in the workflow.
    pub name: StepName,
    /// What it does.
    pub kind: StepKind,
    /// Steps that must succeed first; `None` = the previous step in the list.
    pub depends_on: Option<Vec<StepName>>,
    /// Step timeout.
    pub timeout: Option<Duration>,
    /// Re-runs on non-zero exit (with backoff).
    pub retries: u32,
}

/// Where a workflow runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkflowBackend {
    /// Ferry's local runner.
    #[default]
    Local,
    /// An Argo WorkflowTemplate, submitted through the Argo Server (SPEC §6.4).
    Argo {
        /// WorkflowTemplate name.
        template: String,
        /// Namespace; `None` = `argo`.
        namespace: Option<String>,
        /// Argo Server URL; `None` = the server named in Ferry's settings.
        #[serde(default)]
        server: Option<String>,
        /// Kubernetes service account the workflow's pods run as; `None` = the template's or Argo's
        /// default.
        #[serde(default)]
        service_account: Option<String>,
        /// Environment variable holding the Argo Server token; `None` = `FERRY_ARGO_TOKEN`.
        #[serde(default)]
        token_secret: Option<String>,
    },
}

impl WorkflowBackend {
    /// Whether runs live outside Ferry's process (an Argo workflow keeps running when Ferry stops):
    /// after a restart or a takeover they are re-attached, not run again.
    pub fn is_remote(&self) -> bool {
        matches!(self, WorkflowBackend::Argo { .. })
    }
}

/// A workflow (SPEC §2.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// Name.
    pub name: WorkflowName,
    /// Whole-run timeout.
    pub timeout: Option<Duration>,
    /// Parameters.
    pub params: Vec<WorkflowParam>,
    /// Steps (empty only for the Argo backend).
    pub steps: Vec<WorkflowStep>,
    /// Backend.
    pub backend: WorkflowBackend,
}

/// A complete, validated set of resources: what `ferry apply` stores and the engine reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// Environments by name.
    pub environments: BTreeMap<EnvName, Environment>,
    /// Applications by name.
    pub applications: BTreeMap<AppName, Application>,
    /// Products by name.
    pub products: BTreeMap<ProductName, Product>,
    /// Promotion templates by name.
    pub templates: BTreeMap<TemplateName, PromotionTemplate>,
    /// Promotion flows by name.
    pub flows: BTreeMap<FlowName, PromotionFlow>,
    /// Promotion policies by name.
    pub policies: BTreeMap<PolicyName, PromotionPolicy>,
    /// Workflows by name.
    pub workflows: BTreeMap<WorkflowName, Workflow>,
    /// Outgoing notifications by name (absent in catalogs stored before the kind existed).
    #[serde(default)]
    pub notifications: BTreeMap<NotificationName, Notification>,
    /// Forges by name (absent in catalogs stored before the kind existed).
    #[serde(default)]
    pub git_providers: BTreeMap<GitProviderName, GitProvider>,
    /// Freeze windows of the configuration (absent in catalogs stored before the kind existed).
    #[serde(default)]
    pub freezes: BTreeMap<crate::names::FreezeName, crate::freeze::Freeze>,
}

impl Catalog {
    /// The product's applications in `env`, ordered by component.
    pub fn apps_in<'a>(&'a self, product: &ProductName, env: &EnvName) -> Vec<&'a Application> {
        let mut apps: Vec<&Application> =
            self.applications.values().filter(|a| a.product == *product && a.environment == *env).collect();
        apps.sort_by(|a, b| (&a.component, &a.name).cmp(&(&b.component, &b.name)));
        apps
    }

    /// Environments in dashboard order: `order` ascending (unset last), then name.
    pub fn environments_in_order(&self) -> Vec<&Environment> {
        let mut envs: Vec<&Environment> = self.environments.values().collect();
        envs.sort_by(|a, b| (a.order.is_none(), a.order, &a.name).cmp(&(b.order.is_none(), b.order, &b.name)));
        envs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        let cases = [
            ("hotfix/*", "hotfix/login", true),
            ("hotfix/*", "main", false),
            ("*", "", true),
            ("main", "main", true),
            ("main", "Main", false),
            ("*fix*", "a-fix-b", true),
            ("a*c", "abcbc", true),
            ("a*c", "abcb", false),
            ("release-*-rc", "release-1.2-rc", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, expect) in cases {
            assert_eq!(glob_match(pattern, text), expect, "{pattern} vs {text}");
        }
    }

    #[test]
    fn trigger_selectors() {
        let facts = TriggerFacts { branch: "hotfix/x", sha: "abc123", message: "fix: [skip-prod] thing" };
        let sel = |key, operator, values: &[&str]| TriggerSelector {
            key,
            operator,
            values: values.iter().map(|s| s.to_string()).collect(),
        };
        assert!(sel(TriggerKey::GitRevision, SelectorOperator::In, &["hotfix/*"]).matches(&facts));
        assert!(sel(TriggerKey::GitRevision, SelectorOperator::In, &["abc*"]).matches(&facts));
        assert!(!sel(TriggerKey::GitRevision, SelectorOperator::NotIn, &["hotfix/*"]).matches(&facts));
        assert!(sel(TriggerKey::CommitMessage, SelectorOperator::In, &["*skip-prod*"]).matches(&facts));
        assert!(sel(TriggerKey::CommitMessage, SelectorOperator::NotIn, &["*WIP*"]).matches(&facts));
        assert!(!sel(TriggerKey::CommitMessage, SelectorOperator::In, &["skip-prod"]).matches(&facts));
    }

    #[test]
    fn destination_placement() {
        let env = Environment {
            name: EnvName::new("staging").unwrap(),
            env_type: EnvironmentType::NonProduction,
            clusters: vec![
                Cluster { name: "in-cluster".into(), namespaces: vec!["shop-staging".into()] },
                Cluster { name: "edge".into(), namespaces: vec![] },
            ],
            order: None,
            labels: Labels::new(),
        };
        assert!(env.contains_destination("in-cluster", Some("shop-staging")));
        assert!(!env.contains_destination("in-cluster", Some("shop-prod")));
        assert!(!env.contains_destination("in-cluster", None));
        assert!(env.contains_destination("edge", Some("anything")));
        assert!(env.contains_destination("edge", None));
        assert!(!env.contains_destination("other", None));
    }

    #[test]
    fn workflow_params_stored_without_secret_are_not_secret() {
        let old: WorkflowParam = serde_json::from_str(r#"{"name":"SUITE","default":"smoke"}"#).expect("old form");
        assert!(!old.secret);
        let secret = WorkflowParam { name: ParamName::new("TOKEN").expect("name"), default: None, secret: true };
        let text = serde_json::to_string(&secret).expect("serialise");
        assert_eq!(serde_json::from_str::<WorkflowParam>(&text).expect("round trip"), secret);
    }
}
