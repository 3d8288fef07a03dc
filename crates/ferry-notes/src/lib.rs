//! Ferry's release notes (SPEC §5): what a release brings, per component.
//!
//! * [`compute`]: the ranges of each component — from the revision live in the release's final
//!   environment(s) before the release to the revision promoted — the GitOps-repository commits under
//!   the source application's path, and, when image reports link the old and new images to an
//!   application source repository, that repository's commits between the two image revisions
//!   (history walks through [`ferry_git::GitCache::commits_between`]). Blocking.
//! * [`extract`]: pull requests and issues named in commit messages and image reports (pure).
//! * [`links`]: forge and `issueUrl` links (pure).
//! * [`image`]: image references and how promoted values find their reports (pure).
//! * [`render`]: Markdown for a release body and text tables (pure).
//! * [`jira`]: optional enrichment of Jira issues (summary, status, assignee), cached per process.
//!
//! The notes are plain data ([`Notes`]), serialised as the JSON of `GET /api/v1/releases/{id}/notes`.

pub mod compute;
pub mod extract;
pub mod image;
pub mod jira;
pub mod links;
pub mod render;
mod types;

pub use compute::{Lookup, Options, compute, final_environments};
pub use types::*;
