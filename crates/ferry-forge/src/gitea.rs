//! Gitea and Forgejo REST v1: pulls, labels by id, requested reviewers, issue comments, merges (with
//! `merge_when_checks_succeed` for auto-merge), commit statuses. Field names are those of Gitea's
//! swagger document (`tests/fixtures/gitea-swagger-excerpt.json`).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::Forge;
use crate::error::ForgeError;
use crate::repos::{self, repo_path};
use crate::types::{ForgePr, NewPr, PrState};

/// `User` (the part read).
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub login: String,
}

/// `PullRequest` (the parts read).
#[derive(Debug, Deserialize)]
pub(crate) struct PullRequest {
    pub number: u64,
    pub html_url: String,
    pub state: String,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub merged_by: Option<User>,
    pub head: Branch,
}

/// `PRBranchInfo` (the part read).
#[derive(Debug, Deserialize)]
pub(crate) struct Branch {
    #[serde(rename = "ref")]
    pub reference: String,
}

/// `Label` (the parts read).
#[derive(Debug, Deserialize)]
struct Named {
    id: u64,
    #[serde(default)]
    name: String,
}

impl From<PullRequest> for ForgePr {
    fn from(p: PullRequest) -> ForgePr {
        let state = match (p.state.as_str(), p.merged) {
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
            node_id: None,
            state,
        }
    }
}

pub(crate) async fn find(f: &Forge, repo: &str, head: &str) -> Result<Option<ForgePr>, ForgeError> {
    let path = format!("{}/pulls?state=all&limit=50", repo_path(repo));
    let list: Vec<PullRequest> = f.call(repo, Method::GET, path, None, "list pull requests").await?;
    Ok(repos::newest(list, head))
}

pub(crate) async fn create(f: &Forge, repo: &str, pr: &NewPr) -> Result<ForgePr, ForgeError> {
    let mut label_ids = Vec::new();
    if !pr.labels.is_empty() {
        let path = format!("{}/labels?limit=50", repo_path(repo));
        let known: Vec<Named> = f.call(repo, Method::GET, path, None, "list labels").await?;
        for name in &pr.labels {
            match known.iter().find(|l| &l.name == name) {
                Some(l) => label_ids.push(l.id),
                None => {
                    tracing::warn!(target: "ferry::forge", label = %name, "no such label on the repository; not added")
                }
            }
        }
    }
    let title = if pr.draft { format!("WIP: {}", pr.title) } else { pr.title.clone() };
    let body = json!({"title": title, "body": pr.body, "head": pr.head, "base": pr.base, "labels": label_ids});
    let path = format!("{}/pulls", repo_path(repo));
    let created: PullRequest = f.call(repo, Method::POST, path, Some(body), "open a pull request").await?;
    if !pr.reviewers.is_empty() {
        let path = format!("{}/pulls/{}/requested_reviewers", repo_path(repo), created.number);
        let body = json!({"reviewers": pr.reviewers});
        let _: serde_json::Value = f.call(repo, Method::POST, path, Some(body), "request reviewers").await?;
    }
    Ok(created.into())
}

pub(crate) async fn get(f: &Forge, repo: &str, number: u64) -> Result<ForgePr, ForgeError> {
    repos::get::<PullRequest>(f, repo, number).await
}

pub(crate) async fn merge(f: &Forge, repo: &str, number: u64, title: &str) -> Result<ForgePr, ForgeError> {
    let body = json!({"Do": "merge", "MergeTitleField": title});
    repos::merge::<PullRequest>(f, repo, number, Method::POST, body).await
}

pub(crate) async fn auto_merge(f: &Forge, repo: &str, pr: &ForgePr) -> Result<(), ForgeError> {
    let path = format!("{}/pulls/{}/merge", repo_path(repo), pr.number);
    let body = json!({"Do": "merge", "merge_when_checks_succeed": true});
    let _: serde_json::Value = f.call(repo, Method::POST, path, Some(body), "set auto-merge").await?;
    Ok(())
}
