//! Engine scenarios on real git repositories, real workflow processes and a real SQLite store.
#![allow(clippy::unwrap_used)]

mod control;
mod fixture;
mod scenarios;
