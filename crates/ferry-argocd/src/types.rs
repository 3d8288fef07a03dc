//! The parts of Argo CD's API objects Ferry reads, named as Argo CD's published swagger document
//! names them (`assets/swagger.json` in the argo-cd repository; the excerpt Ferry relies on is kept in
//! `tests/fixtures/argocd-swagger-excerpt.json`). Every field is optional, as in the swagger document:
//! unknown fields are ignored, missing ones are `None` or empty.

use serde::{Deserialize, Serialize};

pub use crate::http::RuntimeError;
pub use crate::stream::{StreamError, StreamResult};

/// `v1alpha1Application`: an Argo CD application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `metadata` (`v1ObjectMeta`).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `status` (`v1alpha1ApplicationStatus`).
    #[serde(default)]
    pub status: ApplicationStatus,
}

/// `v1ObjectMeta`: the fields Ferry reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace (of the Application resource).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Resource version (changes with every update).
    #[serde(default)]
    pub resource_version: Option<String>,
}

/// `v1alpha1ApplicationStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// `sync` (`v1alpha1SyncStatus`).
    #[serde(default)]
    pub sync: Option<SyncStatus>,
    /// `health` (`v1alpha1AppHealthStatus`).
    #[serde(default)]
    pub health: Option<HealthStatus>,
    /// `operationState` (`v1alpha1OperationState`): the last sync operation.
    #[serde(default)]
    pub operation_state: Option<OperationState>,
    /// `reconciledAt` (`v1Time`, RFC 3339): when the application was last compared and assessed.
    #[serde(default)]
    pub reconciled_at: Option<String>,
    /// `conditions` (`v1alpha1ApplicationCondition`).
    #[serde(default)]
    pub conditions: Vec<ApplicationCondition>,
    /// `resources` (`applicationv1alpha1ResourceStatus`).
    #[serde(default)]
    pub resources: Vec<ResourceStatus>,
}

/// `v1alpha1SyncStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    #[serde(default)]
    pub status: Option<String>,
    /// The revision the comparison was made against.
    #[serde(default)]
    pub revision: Option<String>,
}

/// `v1alpha1AppHealthStatus` and `v1alpha1HealthStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    #[serde(default)]
    pub status: Option<String>,
    /// Why.
    #[serde(default)]
    pub message: Option<String>,
}

/// `v1alpha1OperationState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// `Running`, `Terminating`, `Failed`, `Error` or `Succeeded`.
    #[serde(default)]
    pub phase: Option<String>,
    /// The operation's message.
    #[serde(default)]
    pub message: Option<String>,
    /// `startedAt` (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// `finishedAt` (RFC 3339); `None` while the operation runs.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// `syncResult` (`v1alpha1SyncOperationResult`).
    #[serde(default)]
    pub sync_result: Option<SyncOperationResult>,
}

/// `v1alpha1SyncOperationResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperationResult {
    /// The revision the operation synced to.
    #[serde(default)]
    pub revision: Option<String>,
}

/// `v1alpha1ApplicationCondition`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationCondition {
    /// `type` (`ComparisonError`, `SyncError`, `InvalidSpecError`, …).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The message.
    #[serde(default)]
    pub message: Option<String>,
}

/// `applicationv1alpha1ResourceStatus`: one Kubernetes resource of the application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Kind (`Deployment`, …).
    #[serde(default)]
    pub kind: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Sync status of the resource.
    #[serde(default)]
    pub status: Option<String>,
    /// Health of the resource (`v1alpha1HealthStatus`).
    #[serde(default)]
    pub health: Option<HealthStatus>,
}

/// `v1alpha1ApplicationWatchEvent`: one event of the watch stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationWatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, …
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The application after the change.
    #[serde(default)]
    pub application: Option<Application>,
}

/// `applicationApplicationSyncRequest`: the fields Ferry sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    /// The application's name.
    pub name: String,
    /// The revision to sync to; `None` = the application's target revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The application's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_namespace: Option<String>,
    /// The application's project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}
