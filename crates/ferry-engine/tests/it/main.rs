//! Engine scenarios on real git repositories, real workflow processes and a real SQLite store.
#![allow(clippy::unwrap_used)]

mod fixture;
mod scenarios;
