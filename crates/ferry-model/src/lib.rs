//! Ferry's domain model.
//!
//! This crate is pure: no IO, no async, no clock. Time is always a parameter.
//! It holds the validated resources of SPEC §2, the promotion-flow DAG, policy and
//! template resolution, the JSONPath subset used by promotions, and the release
//! state, events and status roll-ups of SPEC §4.

pub mod dora;
pub mod duration;
pub mod flow;
pub mod freeze;
pub mod graph;
pub mod jsonpath;
pub mod names;
pub mod policy;
pub mod release;
pub mod resources;
pub mod status;
pub mod template;
pub mod value;

pub use duration::{DurationError, format_duration, parse_duration};
pub use names::*;
pub use value::Value;
