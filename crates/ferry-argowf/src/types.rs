//! The parts of Argo Workflows' API objects Ferry reads and sends, named as the published swagger
//! document names them (`api/openapi-spec/swagger.json` in the argo-workflows repository; the excerpt
//! Ferry relies on is kept in `tests/fixtures/argowf-swagger-excerpt.json`). Every field read is
//! optional, as in the swagger document: unknown fields are ignored, missing ones are `None` or empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use ferry_argocd::http::RuntimeError;
pub use ferry_argocd::stream::{StreamError, StreamResult};

/// `io.argoproj.workflow.v1alpha1.Workflow`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    /// `metadata` (`ObjectMeta`).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec` (`WorkflowSpec`): the fields Ferry reads.
    #[serde(default)]
    pub spec: WorkflowSpec,
    /// `status` (`WorkflowStatus`).
    #[serde(default)]
    pub status: WorkflowStatus,
}

/// `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`: the fields Ferry reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Resource version (changes with every update).
    #[serde(default)]
    pub resource_version: Option<String>,
}

/// `io.argoproj.workflow.v1alpha1.WorkflowSpec`: the fields Ferry reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// `arguments` (`Arguments`).
    #[serde(default)]
    pub arguments: Arguments,
}

/// `io.argoproj.workflow.v1alpha1.Arguments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arguments {
    /// The workflow's parameters.
    #[serde(default)]
    pub parameters: Vec<Parameter>,
}

/// `io.argoproj.workflow.v1alpha1.Parameter`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: Option<String>,
}

/// `io.argoproj.workflow.v1alpha1.WorkflowStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Error` (empty before the controller saw it).
    #[serde(default)]
    pub phase: Option<String>,
    /// Why the workflow is in its phase.
    #[serde(default)]
    pub message: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    /// RFC 3339; `None` while it runs.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The nodes by id.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeStatus>,
    /// The workflow's outputs (its output parameters: the `$FERRY_OUTPUT` of an Argo workflow).
    #[serde(default)]
    pub outputs: Option<Outputs>,
}

/// `io.argoproj.workflow.v1alpha1.NodeStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Unique id.
    #[serde(default)]
    pub id: String,
    /// Fully qualified name (`wf-name.step[0].build`).
    #[serde(default)]
    pub name: String,
    /// The name shown to people (`build`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// `Pod`, `Container`, `Steps`, `StepGroup`, `DAG`, `TaskGroup`, `Retry`, `Skipped`, `Suspend`,
    /// `HTTP`, `Plugin`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The template the node ran.
    #[serde(default)]
    pub template_name: Option<String>,
    /// `Pending`, `Running`, `Succeeded`, `Skipped`, `Failed`, `Error` or `Omitted`.
    #[serde(default)]
    pub phase: Option<String>,
    /// Why the node is in its phase.
    #[serde(default)]
    pub message: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Ids of the child nodes.
    #[serde(default)]
    pub children: Vec<String>,
    /// The node's outputs (exit code, output parameters).
    #[serde(default)]
    pub outputs: Option<Outputs>,
}

/// `io.argoproj.workflow.v1alpha1.Outputs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    /// Output parameters.
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// The container's exit code, as text.
    #[serde(default)]
    pub exit_code: Option<String>,
}

/// `io.argoproj.workflow.v1alpha1.WorkflowSubmitRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSubmitRequest {
    /// Namespace of the template and the workflow.
    pub namespace: String,
    /// `WorkflowTemplate`.
    pub resource_kind: String,
    /// The template's name.
    pub resource_name: String,
    /// How to make the workflow.
    pub submit_options: SubmitOpts,
}

/// `io.argoproj.workflow.v1alpha1.SubmitOpts`: the fields Ferry sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitOpts {
    /// The workflow's name (Ferry's deterministic one).
    pub name: String,
    /// Labels, `NAME1=VALUE1,NAME2=VALUE2`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub labels: String,
    /// Annotations, `NAME1=VALUE1,NAME2=VALUE2`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub annotations: String,
    /// Parameters, each `NAME=VALUE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
    /// The service account the pods run as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

/// `io.argoproj.workflow.v1alpha1.WorkflowRetryRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRetryRequest {
    /// The workflow.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `false`: succeeded nodes are kept; the workflow resumes from the failed ones.
    pub restart_successful: bool,
    /// Parameters to set, each `NAME=VALUE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// `io.argoproj.workflow.v1alpha1.WorkflowResumeRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowResumeRequest {
    /// The workflow.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Which suspended nodes to resume (`id=<node id>`, `displayName=…`); empty = all of them.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_field_selector: String,
}

/// `io.argoproj.workflow.v1alpha1.WorkflowTerminateRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTerminateRequest {
    /// The workflow.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// `io.argoproj.workflow.v1alpha1.WorkflowWatchEvent`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowWatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, …
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The workflow after the change.
    #[serde(default)]
    pub object: Option<Workflow>,
}

/// `io.argoproj.workflow.v1alpha1.LogEntry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// One line of the log.
    #[serde(default)]
    pub content: Option<String>,
    /// The pod it came from.
    #[serde(default)]
    pub pod_name: Option<String>,
}
