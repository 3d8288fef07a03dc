//! GitHub REST v3 (GitHub Enterprise too): pulls, issue labels and comments, requested reviewers,
//! merges, commit statuses; auto-merge through GraphQL's `enablePullRequestAutoMerge`. Field names are
//! those of GitHub's OpenAPI description (`tests/fixtures/github-openapi-excerpt.json`).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::Forge;
use crate::error::ForgeError;
use crate::http::segment;
use crate::repos::{self, repo_path};
use crate::types::{ForgePr, NewPr, PrState};

/// `simple-user` (the part read).
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub login: String,
}

/// `pull-request` / `pull-request-simple` (the parts read).
#[derive(Debug, Deserialize)]
pub(crate) struct PullRequest {
    pub number: u64,
    pub html_url: String,
    pub state: String,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub merged_by: Option<User>,
    pub head: Head,
    #[serde(default)]
    pub node_id: Option<String>,
}

/// The `head` of a pull request.
#[derive(Debug, Deserialize)]
pub(crate) struct Head {
    #[serde(rename = "ref")]
    pub reference: String,
}

/// `issue` (the part read: who closed it).
#[derive(Debug, Deserialize)]
struct Issue {
    #[serde(default)]
    closed_by: Option<User>,
}

impl From<PullRequest> for ForgePr {
    fn from(p: PullRequest) -> ForgePr {
        let state = match (p.state.as_str(), p.merged_at.is_some()) {
            (_, true) => PrState::Merged,
            ("open", _) => PrState::Open,
            _ => PrState::Closed,
        };
        ForgePr {
            number: p.number,
            url: p.html_url,
            merge_commit: if state == PrState::Merged { p.merge_commit_sha } else { None },
            actor: p.merged_by.map(|u| u.login),
            head: p.head.reference,
            node_id: p.node_id,
            state,
        }
    }
}

pub(crate) async fn find(f: &Forge, repo: &str, head: &str) -> Result<Option<ForgePr>, ForgeError> {
    let owner = repo.split('/').next().unwrap_or_default();
    let path = format!("{}/pulls?state=all&head={}&per_page=100", repo_path(repo), segment(&format!("{owner}:{head}")));
    let list: Vec<PullRequest> = f.call(repo, Method::GET, path, None, "list pull requests").await?;
    Ok(repos::newest(list, head))
}

pub(crate) async fn create(f: &Forge, repo: &str, pr: &NewPr) -> Result<ForgePr, ForgeError> {
    let body = json!({"title": pr.title, "body": pr.body, "head": pr.head, "base": pr.base, "draft": pr.draft});
    let path = format!("{}/pulls", repo_path(repo));
    let created: PullRequest = f.call(repo, Method::POST, path, Some(body), "open a pull request").await?;
    let number = created.number;
    if !pr.labels.is_empty() {
        let path = format!("{}/issues/{number}/labels", repo_path(repo));
        let _: serde_json::Value =
            f.call(repo, Method::POST, path, Some(json!({"labels": pr.labels})), "label a pull request").await?;
    }
    if !pr.reviewers.is_empty() {
        let path = format!("{}/pulls/{number}/requested_reviewers", repo_path(repo));
        let body = json!({"reviewers": pr.reviewers});
        let _: serde_json::Value = f.call(repo, Method::POST, path, Some(body), "request reviewers").await?;
    }
    Ok(created.into())
}

/// Pull request `number`; for a closed one, who closed it (GitHub has that on the issue).
pub(crate) async fn get(f: &Forge, repo: &str, number: u64) -> Result<ForgePr, ForgeError> {
    let pr = repos::get::<PullRequest>(f, repo, number).await?;
    if pr.state != PrState::Closed {
        return Ok(pr);
    }
    let path = format!("{}/issues/{number}", repo_path(repo));
    let issue: Issue = f.call(repo, Method::GET, path, None, "read a pull request's issue").await?;
    Ok(ForgePr { actor: issue.closed_by.map(|u| u.login), ..pr })
}

pub(crate) async fn merge(f: &Forge, repo: &str, number: u64, title: &str) -> Result<ForgePr, ForgeError> {
    let body = json!({"commit_title": title, "merge_method": "merge"});
    repos::merge::<PullRequest>(f, repo, number, Method::PUT, body).await
}

pub(crate) async fn auto_merge(f: &Forge, repo: &str, pr: &ForgePr) -> Result<(), ForgeError> {
    let Some(node) = &pr.node_id else {
        return Err(ForgeError::Malformed { what: "enable auto-merge".into(), message: "no node_id".into() });
    };
    let query = "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: MERGE}) \
                 { pullRequest { number } } }";
    let body = json!({"query": query, "variables": {"id": node}});
    let answer: serde_json::Value =
        f.call(repo, Method::POST, f.graphql_url(), Some(body), "enable auto-merge").await?;
    if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
        return Err(ForgeError::Refused { what: "enable auto-merge".into(), status: 200, message: errors.to_string() });
    }
    Ok(())
}
