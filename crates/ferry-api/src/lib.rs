//! Ferry's wire vocabulary: the types the HTTP API takes and answers with (SPEC §7.2, §7.4).
//!
//! The engine produces these values, the store keeps them as JSON, the server serves them, the web UI
//! renders them and the CLI decodes them: one definition of the public contract instead of one per crate.
//! Field names are camelCase exactly as SPEC §7.4 spells them; statuses are the enums of
//! [`ferry_model::status`], serialised as their §4 spelling. Every type implements
//! `Serialize + Deserialize + utoipa::ToSchema`, so the OpenAPI document can be generated from them.
//!
//! This crate is pure data: no IO, no clock, no logic beyond conversions from the model's enums and lookups.

mod activity;
mod admin;
mod catalog;
mod control;
mod dora;
mod error;
mod freezes;
mod health;
mod images;
mod list;
pub mod notes;
pub mod path;
mod schema;
mod spell;
mod view;
mod wire;

pub use activity::{EventItem, EventList, LogLine, LogPage, LogStream};
pub use admin::{
    AuditEntry, AuditOutcome, AuditPage, CreatedToken, NewToken, Role, Token, TokenList, TokenStatus, WhoAmI,
};
pub use catalog::{
    AppState, Application, ApplicationList, AppliedConfig, AppliedResource, ApplyRequest, ApplyResponse, ApplySource,
    Cluster, Concurrency, Environment, EnvironmentList, Flow, FlowList, FlowSelection, FlowStep, GitProvider,
    GitProviderList, GitProviderRepository, Hooks, Notification, NotificationList, Policy, PolicyFields, PolicyList,
    Product, ProductDetail, ProductEvent, ProductList, ResourceCounts, SecretRef, Selector, SelectorKey,
    SelectorOperator, StatusSourceKind, Workflow, WorkflowBackend, WorkflowList, WorkflowParam, WorkflowStep,
    WorkflowStepKind,
};
pub use control::{
    ApproveRequest, Approved, ClosePullRequest, PromoteRequest, Provider, PullRequest, PullRequestList, PullState,
    RollbackRequest, StatusAccepted, StatusReport, TerminateRequest, WebhookResponse,
};
pub use dora::{DoraFigures, DoraReport, DoraSeries, DoraWeek, DurationStats};
pub use freezes::{Freeze, FreezeList, FreezeWindow, NewFreeze, Occurrence, UnfreezeRequest};
pub use health::{Health, ServerHealth, VersionInfo};
pub use images::{ImageReport, ImageReportList, ImageReportRequest};

pub use error::{Diagnostic, ErrorBody, ErrorEnvelope, Severity};
pub use list::{ReleaseItem, ReleasePage};
pub use view::{
    ActionView, AppObservation, AppView, ApprovalGivenView, ApprovalView, Counters, EnvironmentHooks, EnvironmentView,
    FreezeOverrideView, FrozenView, GateFailureView, Issue, IssueDetail, IssueRef, PolicyView, PullRequestRef,
    ReleaseView, RetryView, RollbackView, SoakView, StepLine, TerminateView, TriggerView, WorkflowLine,
};
pub use wire::{
    ActionStatus, AppPhase, EnvironmentType, GateFailureReason, GitOperation, HookKind, IssueKind, PromotionAction,
    Stage,
};
