//! Ferry's Git side (SPEC §2.4, §3.3, §3.7, §3.10, §6.1).
//!
//! * [`GitCache`]: one bare mirror per repository URL under a cache directory. Fetch and push use the
//!   `git` CLI (with credentials passed through the environment and masked in every error); reads,
//!   history walks and promotion tree edits use gix inside the bare mirror, so no working copy is ever
//!   shared between concurrent promotions.
//! * [`GitCache::promote`]: one commit per target repository and branch, built on the current tip,
//!   pushed optimistically and redone on a non-fast-forward rejection; idempotent through the
//!   `Ferry-Release` trailer.
//! * [`GitCache::push_branch`] and [`GitCache::merge_branch`]: the local pull-request provider — the
//!   same promotion commit pushed to a branch of its own, later merged into the target branch with a
//!   real merge commit (built without a working copy).
//! * [`GitCache::commits_between`]: `git log from..to [-- path]` for release notes, with gix.
//! * [`GitCache::fetch_if_moved`]: polling for new commits — one shared `git ls-remote` per
//!   repository for any number of callers, a fetch only when the branch moved.
//! * [`RepoUrl`]: repository URLs compared as repository identities (`git@host:o/r` equals
//!   `https://host/o/r.git`).
//! * [`yaml_edit`]: byte-preserving YAML value edits for promotion templates.
//!
//! All operations are blocking; async callers run them with `spawn_blocking`.

mod bloom;
mod cache;
mod command;
mod error;
mod log;
mod merge;
mod packs;
mod poll;
mod promote;
mod redact;
mod seed;
mod url;
pub mod yaml_edit;

pub use cache::{CommitInfo, Credentials, DEFAULT_NETWORK_TIMEOUT, GitCache, TRAILER_SCAN_LIMIT, parse_trailers};
pub use error::{GitError, Operation};
pub use promote::{
    FilePlan, PUSH_ATTEMPTS, PromotionOutcome, PromotionRequest, PromotionSource, TRAILER_ENVIRONMENT, TRAILER_PRODUCT,
    TRAILER_RELEASE, commit_message, promotion_subject,
};
pub use redact::{redact, redact_with};
pub use seed::{commit_files, init_bare};
pub use url::{RepoUrl, RepoUrlError};
pub use yaml_edit::{Edit, YamlEditError, promote_yaml, read_version};
