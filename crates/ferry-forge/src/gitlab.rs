//! GitLab REST v4: merge requests (`iid`s), their notes, merges (with "merge when the pipeline
//! succeeds" for auto-merge), commit statuses. Field names are those of GitLab's OpenAPI description
//! (`tests/fixtures/gitlab-openapi-excerpt.json`).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::Forge;
use crate::error::ForgeError;
use crate::http::segment;
use crate::types::{CommitStatus, ForgePr, NewPr, PrState, StatusState};

/// `API_Entities_UserBasic` (the part read).
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub username: String,
    #[serde(default)]
    pub id: Option<u64>,
}

/// `API_Entities_MergeRequestBasic` (the parts read).
#[derive(Debug, Deserialize)]
pub(crate) struct MergeRequest {
    pub iid: u64,
    pub web_url: String,
    pub state: String,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub merged_by: Option<User>,
    #[serde(default)]
    pub closed_by: Option<User>,
    pub source_branch: String,
}

#[derive(Debug, Deserialize)]
struct Id {
    id: u64,
}

impl From<MergeRequest> for ForgePr {
    fn from(m: MergeRequest) -> ForgePr {
        let state = match m.state.as_str() {
            "merged" => PrState::Merged,
            "closed" => PrState::Closed,
            _ => PrState::Open,
        };
        let actor = match state {
            PrState::Merged => m.merged_by.map(|u| u.username),
            PrState::Closed => m.closed_by.map(|u| u.username),
            PrState::Open => None,
        };
        ForgePr {
            number: m.iid,
            url: m.web_url,
            merge_commit: if state == PrState::Merged { m.merge_commit_sha } else { None },
            actor,
            head: m.source_branch,
            node_id: None,
            state,
        }
    }
}

/// `/projects/<group%2Fproject>`.
fn project(repo: &str) -> String {
    format!("/projects/{}", segment(repo))
}

pub(crate) async fn find(f: &Forge, repo: &str, head: &str) -> Result<Option<ForgePr>, ForgeError> {
    let path = format!("{}/merge_requests?source_branch={}&per_page=100", project(repo), segment(head));
    let list: Vec<MergeRequest> = f.call(repo, Method::GET, path, None, "list merge requests").await?;
    Ok(crate::repos::newest(list, head))
}

pub(crate) async fn create(f: &Forge, repo: &str, pr: &NewPr) -> Result<ForgePr, ForgeError> {
    let mut reviewer_ids = Vec::new();
    for name in &pr.reviewers {
        let path = format!("/users?username={}", segment(name));
        let users: Vec<User> = f.call(repo, Method::GET, path, None, "look up a reviewer").await?;
        match users.into_iter().find_map(|u| u.id) {
            Some(id) => reviewer_ids.push(id),
            None => tracing::warn!(target: "ferry::forge", reviewer = %name, "no such GitLab user; not requested"),
        }
    }
    let title = if pr.draft { format!("Draft: {}", pr.title) } else { pr.title.clone() };
    let body = json!({
        "source_branch": pr.head, "target_branch": pr.base, "title": title, "description": pr.body,
        "labels": pr.labels.join(","), "reviewer_ids": reviewer_ids,
    });
    let path = format!("{}/merge_requests", project(repo));
    Ok(f.call::<MergeRequest>(repo, Method::POST, path, Some(body), "open a merge request").await?.into())
}

pub(crate) async fn get(f: &Forge, repo: &str, number: u64) -> Result<ForgePr, ForgeError> {
    let path = format!("{}/merge_requests/{number}", project(repo));
    Ok(f.call::<MergeRequest>(repo, Method::GET, path, None, "read a merge request").await?.into())
}

pub(crate) async fn set_open(f: &Forge, repo: &str, number: u64, open: bool) -> Result<(), ForgeError> {
    let path = format!("{}/merge_requests/{number}", project(repo));
    let body = json!({"state_event": if open { "reopen" } else { "close" }});
    let _: MergeRequest = f.call(repo, Method::PUT, path, Some(body), "change a merge request's state").await?;
    Ok(())
}

pub(crate) async fn comment(
    f: &Forge,
    repo: &str,
    number: u64,
    id: Option<u64>,
    text: &str,
) -> Result<u64, ForgeError> {
    let base = format!("{}/merge_requests/{number}/notes", project(repo));
    let (method, path) = match id {
        Some(id) => (Method::PUT, format!("{base}/{id}")),
        None => (Method::POST, base),
    };
    Ok(f.call::<Id>(repo, method, path, Some(json!({"body": text})), "comment on a merge request").await?.id)
}

pub(crate) async fn merge(f: &Forge, repo: &str, number: u64, title: &str) -> Result<ForgePr, ForgeError> {
    let path = format!("{}/merge_requests/{number}/merge", project(repo));
    let body = json!({"merge_commit_message": title});
    Ok(f.call::<MergeRequest>(repo, Method::PUT, path, Some(body), "merge a merge request").await?.into())
}

pub(crate) async fn auto_merge(f: &Forge, repo: &str, pr: &ForgePr) -> Result<(), ForgeError> {
    let path = format!("{}/merge_requests/{}/merge", project(repo), pr.number);
    let body = json!({"merge_when_pipeline_succeeds": true});
    let _: MergeRequest = f.call(repo, Method::PUT, path, Some(body), "set auto-merge").await?;
    Ok(())
}

pub(crate) async fn status(f: &Forge, repo: &str, sha: &str, s: &CommitStatus) -> Result<(), ForgeError> {
    let state = match s.state {
        StatusState::Pending => "running",
        StatusState::Success => "success",
        StatusState::Failure => "failed",
        StatusState::Error => "canceled",
    };
    let path = format!("{}/statuses/{sha}", project(repo));
    let body = json!({"state": state, "name": s.context, "target_url": s.target_url, "description": s.description});
    let _: Id = f.call(repo, Method::POST, path, Some(body), "set a commit status").await?;
    Ok(())
}
