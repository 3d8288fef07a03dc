//! Ferry's forge clients (SPEC §6.2): pull requests, their comments and commit statuses on GitHub
//! (REST v3; a token or a GitHub App), GitLab (REST v4 merge requests) and Gitea/Forgejo (REST v1),
//! which forge serves which repository ([`Forges`]), and pull-request webhooks ([`hook`]).
//!
//! Calls honour the forges' rate limits and retry with backoff ([`http`]); tokens are read when used
//! and never appear in messages or `Debug` output. This crate knows nothing of releases: the engine's
//! `ports/forge.rs` adapts it to the pull-request port.

pub mod auth;
pub mod client;
pub mod error;
mod gitea;
mod github;
mod gitlab;
pub mod hook;
pub mod http;
mod repos;
pub mod routing;
pub mod types;

pub use auth::{AppTokens, Credentials, read_secret};
pub use client::Forge;
pub use error::ForgeError;
pub use http::RetryPolicy;
pub use routing::{Forges, Route};
pub use types::{CommitStatus, ForgePr, NewPr, PrEvent, PrState, StatusState};
