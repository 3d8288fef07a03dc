//! The `/repos/{owner}/{repo}` API that GitHub and Gitea/Forgejo speak alike (Gitea's REST v1 follows
//! GitHub's v3 for these): reading a pull request, closing and reopening it, commenting on it (as an
//! issue), merging it, commit statuses. Each dialect keeps only what differs (`github.rs`, `gitea.rs`):
//! its pull-request object, how it opens one, its merge request body, auto-merge.

use reqwest::Method;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::json;

use crate::client::Forge;
use crate::error::ForgeError;
use crate::http::segment;
use crate::types::{CommitStatus, ForgePr};

/// `/repos/<owner>/<repo>`.
pub(crate) fn repo_path(repo: &str) -> String {
    let parts: Vec<String> = repo.split('/').map(segment).collect();
    format!("/repos/{}", parts.join("/"))
}

/// A created or edited object: its id (comments, statuses).
#[derive(Debug, Deserialize)]
struct Id {
    id: u64,
}

/// The newest of `list` (pull requests in the forge's own shape) whose head branch is `head`.
pub(crate) fn newest<P: Into<ForgePr>>(list: Vec<P>, head: &str) -> Option<ForgePr> {
    list.into_iter().map(Into::into).filter(|p: &ForgePr| p.head == head).max_by_key(|p| p.number)
}

/// Pull request `number`, read as the dialect's object `P`.
pub(crate) async fn get<P: DeserializeOwned + Into<ForgePr>>(
    f: &Forge,
    repo: &str,
    number: u64,
) -> Result<ForgePr, ForgeError> {
    let path = format!("{}/pulls/{number}", repo_path(repo));
    Ok(f.call::<P>(repo, Method::GET, path, None, "read a pull request").await?.into())
}

/// Closes (`open: false`) or reopens pull request `number`.
pub(crate) async fn set_open(f: &Forge, repo: &str, number: u64, open: bool) -> Result<(), ForgeError> {
    let path = format!("{}/pulls/{number}", repo_path(repo));
    let body = json!({"state": if open { "open" } else { "closed" }});
    let _: IgnoredAny = f.call(repo, Method::PATCH, path, Some(body), "change a pull request's state").await?;
    Ok(())
}

/// Adds a comment to pull request `number` (`id: None`) or rewrites comment `id`; the comment's id.
pub(crate) async fn comment(
    f: &Forge,
    repo: &str,
    number: u64,
    id: Option<u64>,
    text: &str,
) -> Result<u64, ForgeError> {
    let body = Some(json!({"body": text}));
    let (method, path) = match id {
        Some(id) => (Method::PATCH, format!("{}/issues/comments/{id}", repo_path(repo))),
        None => (Method::POST, format!("{}/issues/{number}/comments", repo_path(repo))),
    };
    Ok(f.call::<Id>(repo, method, path, body, "comment on a pull request").await?.id)
}

/// Merges pull request `number` with the dialect's `method` and `body`; the merged pull request, read
/// back as `P` (the merge answers do not carry it).
pub(crate) async fn merge<P: DeserializeOwned + Into<ForgePr>>(
    f: &Forge,
    repo: &str,
    number: u64,
    method: Method,
    body: serde_json::Value,
) -> Result<ForgePr, ForgeError> {
    let path = format!("{}/pulls/{number}/merge", repo_path(repo));
    let _: serde_json::Value = f.call(repo, method, path, Some(body), "merge a pull request").await?;
    get::<P>(f, repo, number).await
}

/// Sets a commit status on `sha`.
pub(crate) async fn status(f: &Forge, repo: &str, sha: &str, s: &CommitStatus) -> Result<(), ForgeError> {
    let path = format!("{}/statuses/{sha}", repo_path(repo));
    let body = json!({"state": s.state.as_str(), "target_url": s.target_url, "description": s.description, "context": s.context});
    let _: Id = f.call(repo, Method::POST, path, Some(body), "set a commit status").await?;
    Ok(())
}
