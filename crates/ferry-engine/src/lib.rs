//! Ferry's release engine.
//!
//! The engine is an actor: one task owns the state of every active release. Each input (an API
//! request, a runner event, a git result, an application observation, a timer) becomes release
//! events, which are committed to the store **before** they are applied, broadcast or acted on.
//! After each change the pure [`plan`] function decides which commands to carry out next; the
//! executor runs them through [`ports`] (git, workflow runner, application status, pull requests, clock) and feeds their
//! results back as inputs. Recovery after a crash is a replay of the active releases' logs followed
//! by the same planning: commands whose completion event is missing are issued again, idempotently.

mod engine;
pub mod handle;
mod notes;
pub mod plan;
pub mod ports;
mod rollback;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod triggers;
pub mod view;
mod work;

pub use engine::{EngineConfig, start, start_replica, start_with};
pub use handle::*;
pub use notes::replay;
