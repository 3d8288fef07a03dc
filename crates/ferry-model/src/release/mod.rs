//! Release state, events and `apply` (SPEC §3, §4): the functional core the engine drives.
//!
//! A release is an append-only log of [`ReleaseEvent`]s. [`ReleaseState::apply`] folds one event into
//! the state, rejecting events that make no sense for the current state with an [`ApplyError`] (and
//! leaving the state untouched). Statuses are never stored: [`ReleaseState::status`],
//! [`ReleaseState::env_status`], [`ReleaseState::counters`] and the workflow lines are derived on demand
//! with the roll-ups of [`crate::status`].
//!
//! Conventions the engine relies on:
//! * every event carries its time (`at`); this module never reads a clock;
//! * the engine decides, the model records and checks: phase changes are explicit events
//!   (`ActionStarted`, `AppGatePassed`, `AppSucceeded`, ...) whose preconditions `apply` verifies;
//! * events that *start* work are refused once terminate was requested (except `onFail` hooks); events
//!   that *report results* are still accepted until `Terminated`;
//! * after `Terminated`, or `Finished`, nothing is accepted except `RetryRequested` on a Failed release.

mod action;
mod app;
mod apply;
mod derive;
mod events;
mod governance;
mod ids;
mod issues;
mod lifecycle;
mod read;
mod snapshot;
mod state;
#[cfg(test)]
mod tests;
mod workflow;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::names::{
    AppName, CommitSha, ComponentName, EnvName, FreezeName, ProductName, ReleaseId, StepName, WorkflowName,
};
use crate::policy::ResolvedPolicy;
use crate::resources::{Action, EnvironmentType, Hooks};
use crate::status::{
    Counters, EnvFacts, EnvStatus, HealthStatus, ReleaseFacts, ReleaseStatus, StepActivity, StepStatus, SyncStatus,
    rollup_environment, rollup_release, rollup_step_line, rollup_steps, run_waits_for_person,
};

pub use events::*;
pub use ids::*;
pub use issues::*;
pub use snapshot::*;
pub use state::*;

/// Number of log lines kept in a workflow issue (SPEC §4).
pub const LOG_TAIL_LINES: usize = 200;
