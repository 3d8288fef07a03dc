//! Ferry's wire vocabulary: the types the HTTP API answers with (SPEC §7.2, §7.4).
//!
//! The engine produces these values, the store keeps them as JSON, the server serves them, the web UI
//! renders them and the CLI decodes them: one definition of the public contract instead of one per crate.
//! Field names are camelCase exactly as SPEC §7.4 spells them; statuses are the enums of
//! [`ferry_model::status`], serialised as their §4 spelling. Every type implements
//! `Serialize + Deserialize + utoipa::ToSchema`, so the OpenAPI document can be generated from them.
//!
//! This crate is pure data: no IO, no clock, no logic beyond conversions from the model's enums and lookups.

mod error;
mod list;
pub mod path;
mod schema;
mod view;
mod wire;

pub use error::{Diagnostic, ErrorBody, ErrorEnvelope, Severity};
pub use list::{ReleaseItem, ReleasePage};
pub use view::{
    ActionView, AppObservation, AppView, Counters, EnvironmentHooks, EnvironmentView, GateFailureView, Issue,
    IssueDetail, IssueRef, PolicyView, PullRequestRef, ReleaseView, RetryView, StepLine, TerminateView, TriggerView,
    WorkflowLine,
};
pub use wire::{
    ActionStatus, AppPhase, EnvironmentType, GateFailureReason, GitOperation, HookKind, IssueKind, PromotionAction,
    Stage,
};
