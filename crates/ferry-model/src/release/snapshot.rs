//! What a release snapshots at creation (SPEC §3.2).

use super::*;

/// The commit that triggered the release (SPEC §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerCommit {
    /// The trigger environment.
    pub environment: EnvName,
    /// Full commit id.
    pub sha: CommitSha,
    /// Full commit message.
    pub message: String,
    /// Author name.
    pub author_name: String,
    /// Author e-mail.
    pub author_email: String,
    /// Commit date.
    pub date: Timestamp,
    /// Repository URL (credentials redacted).
    pub repo: String,
    /// Branch.
    pub branch: String,
    /// Link to the commit on its forge, when the host is known.
    pub web_url: Option<String>,
}

impl TriggerCommit {
    /// The first 7 digits of the commit id.
    pub fn short_sha(&self) -> &str {
        self.sha.short()
    }

    /// The first line of the message.
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }
}

/// The resolved policy of a target environment as it was when the release was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySnapshot {
    /// Promotion action.
    pub action: Action,
    /// Pre-Action workflow.
    pub pre_action: Option<WorkflowName>,
    /// Post-Action workflow.
    pub post_action: Option<WorkflowName>,
    /// The `pullRequest` block of `action: pr` (absent in releases stored before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<crate::resources::PullRequestOptions>,
    /// How long the applications must stay Synced and Healthy after the Post-Action (SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::duration::option_text")]
    pub soak_time: Option<Duration>,
    /// Approvals needed before the action (SPEC §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::resources::ApprovalPolicy>,
    /// Whether a failure after the action starts a rollback of the environment (SPEC §10).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_rollback: bool,
    /// Field (`action`, `preAction`, `postAction`) → who supplied it (`flow`, `policy NAME`, `default`).
    pub sources: BTreeMap<String, String>,
}

impl From<&ResolvedPolicy> for PolicySnapshot {
    fn from(policy: &ResolvedPolicy) -> Self {
        let mut sources = BTreeMap::new();
        sources.insert("action".to_owned(), policy.action.source.to_string());
        if let Some(pre) = &policy.pre_action {
            sources.insert("preAction".to_owned(), pre.source.to_string());
        }
        if let Some(post) = &policy.post_action {
            sources.insert("postAction".to_owned(), post.source.to_string());
        }
        if let Some(pr) = &policy.pull_request {
            sources.insert("pullRequest".to_owned(), pr.source.to_string());
        }
        if let Some(soak) = &policy.soak_time {
            sources.insert("soakTime".to_owned(), soak.source.to_string());
        }
        if let Some(approval) = &policy.approval {
            sources.insert("approval".to_owned(), approval.source.to_string());
        }
        if let Some(auto) = &policy.auto_rollback {
            sources.insert("autoRollback".to_owned(), auto.source.to_string());
        }
        PolicySnapshot {
            action: policy.action.value,
            pre_action: policy.pre_action.as_ref().map(|r| r.value.clone()),
            post_action: policy.post_action.as_ref().map(|r| r.value.clone()),
            pull_request: policy.pull_request.as_ref().map(|r| r.value.clone()),
            soak_time: policy.soak_time.as_ref().map(|r| r.value),
            approval: policy.approval.as_ref().map(|r| r.value.clone()),
            auto_rollback: policy.auto_rollback.as_ref().is_some_and(|r| r.value),
            sources,
        }
    }
}

/// One application of an environment, as snapshotted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSnapshot {
    /// Application name.
    pub name: AppName,
    /// Component (pairs it with its source application).
    pub component: ComponentName,
    /// Git repository.
    pub repo_url: String,
    /// Path in the repository.
    pub path: String,
    /// Branch (`targetRevision`).
    pub branch: String,
    /// The application values are promoted from (same component, source environment); `None` in the
    /// trigger environment.
    pub source_app: Option<AppName>,
    /// The revision promoted from: the source application's commit when the release was created
    /// (SPEC §3.3: never a newer HEAD). For trigger-environment applications, their own revision.
    #[serde(default)]
    pub source_revision: Option<CommitSha>,
}

/// One environment of the flow graph, as snapshotted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvSnapshot {
    /// Name.
    pub name: EnvName,
    /// Production or not.
    #[serde(rename = "type")]
    pub env_type: EnvironmentType,
    /// Environments that must be Successful first (empty for the trigger environment).
    pub depends_on: Vec<EnvName>,
    /// Whether this is the trigger environment.
    pub is_trigger: bool,
    /// Resolved policy; `None` for the trigger environment (it has no promotion action).
    pub policy: Option<PolicySnapshot>,
    /// Environment hooks (serialized as `onStart` / `onSuccess` / `onFail`).
    #[serde(with = "hooks_wire")]
    pub hooks: Hooks,
    /// The product's applications in this environment.
    pub applications: Vec<AppSnapshot>,
}

/// Everything a release fixes at creation (SPEC §3.2). Immutable afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSnapshot {
    /// Product.
    pub product: ProductName,
    /// Flow name, or `manual` for a single-environment promotion.
    pub flow: String,
    /// Flow version (`metadata.annotations.version`).
    pub flow_version: Option<String>,
    /// Who started it: a user or token, or for automatic triggers the commit author and `ferry (auto)`.
    pub initiator: String,
    /// The version read from the trigger environment (§3.7), when known.
    pub version: Option<String>,
    /// Trigger commit.
    pub trigger: TriggerCommit,
    /// The flow's trigger workflow.
    pub trigger_workflow: Option<WorkflowName>,
    /// Environments in flow order, trigger first.
    pub environments: Vec<EnvSnapshot>,
    /// Release-level hooks (serialized as `onStart` / `onSuccess` / `onFail`).
    #[serde(with = "hooks_wire")]
    pub release_hooks: Hooks,
    /// Flow timeout (`promotionTimeoutLimit`), serialized as a duration string (`1h30m`).
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// For a rollback release (flow `rollback`, SPEC §10): the release whose versions it restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackOf>,
}

/// What a rollback release restores and why (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackOf {
    /// The environment rolled back.
    pub environment: EnvName,
    /// The release whose versions are restored (it was Successful in `environment`).
    pub target: ReleaseId,
    /// The release whose versions were in the environment when the rollback was created, if known.
    #[serde(default)]
    pub replaces: Option<ReleaseId>,
    /// Why, as given by the initiator (or the failure that started an automatic rollback).
    #[serde(default)]
    pub reason: Option<String>,
    /// Whether the engine started it (`policy.autoRollback`) after `replaces` failed.
    #[serde(default)]
    pub automatic: bool,
}

impl ReleaseSnapshot {
    /// The snapshot of environment `name`.
    pub fn environment(&self, name: &EnvName) -> Option<&EnvSnapshot> {
        self.environments.iter().find(|e| e.name == *name)
    }

    /// The trigger environment.
    pub fn trigger_environment(&self) -> Option<&EnvSnapshot> {
        self.environments.iter().find(|e| e.is_trigger)
    }

    /// Checks the snapshot is coherent: unique names, exactly one trigger environment (the trigger
    /// commit's), known dependencies, a policy on every target environment, unique applications.
    pub fn check(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for env in &self.environments {
            if !names.insert(&env.name) {
                return Err(format!("environment {} appears twice", env.name));
            }
        }
        let triggers: Vec<&EnvName> = self.environments.iter().filter(|e| e.is_trigger).map(|e| &e.name).collect();
        match triggers.as_slice() {
            [one] if **one == self.trigger.environment => {}
            [one] => {
                return Err(format!(
                    "the trigger commit is from {} but the trigger environment is {one}",
                    self.trigger.environment
                ));
            }
            [] => return Err("no trigger environment".to_owned()),
            more => return Err(format!("several trigger environments: {}", join(more.iter()))),
        }
        for env in &self.environments {
            for dep in &env.depends_on {
                if *dep == env.name {
                    return Err(format!("environment {} depends on itself", env.name));
                }
                if !names.contains(dep) {
                    return Err(format!("environment {} depends on unknown environment {dep}", env.name));
                }
            }
            if env.is_trigger && !env.depends_on.is_empty() {
                return Err(format!("the trigger environment {} has dependencies", env.name));
            }
            if !env.is_trigger && env.policy.is_none() {
                return Err(format!("target environment {} has no resolved policy", env.name));
            }
            let mut apps = BTreeSet::new();
            for app in &env.applications {
                if !apps.insert(&app.name) {
                    return Err(format!("application {} appears twice in environment {}", app.name, env.name));
                }
            }
        }
        Ok(())
    }
}

/// The event log's own spelling of [`Hooks`], independent of how resources serialize them.
mod hooks_wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::names::WorkflowName;
    use crate::resources::Hooks;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct WireRef<'a> {
        on_start: Option<&'a WorkflowName>,
        on_success: Option<&'a WorkflowName>,
        on_fail: Option<&'a WorkflowName>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Wire {
        #[serde(default)]
        on_start: Option<WorkflowName>,
        #[serde(default)]
        on_success: Option<WorkflowName>,
        #[serde(default)]
        on_fail: Option<WorkflowName>,
    }

    pub fn serialize<S: Serializer>(hooks: &Hooks, serializer: S) -> Result<S::Ok, S::Error> {
        WireRef {
            on_start: hooks.on_start.as_ref(),
            on_success: hooks.on_success.as_ref(),
            on_fail: hooks.on_fail.as_ref(),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Hooks, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        Ok(Hooks { on_start: wire.on_start, on_success: wire.on_success, on_fail: wire.on_fail })
    }
}

mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::duration::{format_duration, parse_duration};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
