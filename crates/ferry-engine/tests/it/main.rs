//! Engine scenarios on real git repositories, real workflow processes and a real SQLite store, and
//! (`fakes`) on in-memory fakes of the git, runner, status, pull-request and clock ports.
#![allow(clippy::unwrap_used)]

mod argocd;
mod argowf;
mod control;
mod fakes;
mod fixture;
mod forges;
mod freezes;
mod governance;
mod parity;
mod replicas;
mod rollback;
mod scenarios;
