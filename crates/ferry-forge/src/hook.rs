//! Pull-request webhooks: GitHub's and Gitea's `pull_request` event (action `closed`, `merged` true
//! or false) and GitLab's `Merge Request Hook` (action `merge` or `close`), read into a [`PrEvent`].
//! Signatures are checked before (by the server).

use serde::Deserialize;

use crate::types::{PrEvent, PrState};

#[derive(Deserialize)]
struct Login {
    login: String,
}

/// `pull_request` event of GitHub and Gitea (the parts read).
#[derive(Deserialize)]
struct HubEvent {
    action: String,
    #[serde(alias = "number")]
    #[serde(default)]
    number: Option<u64>,
    pull_request: HubPull,
    repository: HubRepo,
    #[serde(default)]
    sender: Option<Login>,
}

#[derive(Deserialize)]
struct HubPull {
    number: u64,
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    merged_by: Option<Login>,
}

#[derive(Deserialize)]
struct HubRepo {
    full_name: String,
}

/// GitLab's `Merge Request Hook` (the parts read).
#[derive(Deserialize)]
struct LabEvent {
    object_attributes: LabAttributes,
    project: LabProject,
    #[serde(default)]
    user: Option<LabUser>,
}

#[derive(Deserialize)]
struct LabAttributes {
    iid: u64,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct LabProject {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct LabUser {
    username: String,
}

/// Reads a delivery of `forge` (`github`, `gitea`, `gitlab`) with event name `event`: `Ok(None)` for
/// deliveries about anything but a merge or a close; `Err` names what is missing.
pub fn parse(forge: &str, event: &str, body: &[u8]) -> Result<Option<PrEvent>, String> {
    match forge {
        "github" | "gitea" if event == "pull_request" => {
            let e: HubEvent = serde_json::from_slice(body).map_err(|e| format!("pull_request event: {e}"))?;
            if e.action != "closed" {
                return Ok(None);
            }
            let _ = e.number;
            let merged = e.pull_request.merged;
            let actor = if merged { e.pull_request.merged_by.or(e.sender) } else { e.sender };
            Ok(Some(PrEvent {
                repo: e.repository.full_name,
                number: e.pull_request.number,
                state: if merged { PrState::Merged } else { PrState::Closed },
                merge_commit: if merged { e.pull_request.merge_commit_sha } else { None },
                actor: actor.map(|l| l.login),
            }))
        }
        "gitlab" if event.eq_ignore_ascii_case("Merge Request Hook") => {
            let e: LabEvent = serde_json::from_slice(body).map_err(|e| format!("Merge Request Hook: {e}"))?;
            let state = match e.object_attributes.action.as_deref() {
                Some("merge") => PrState::Merged,
                Some("close") => PrState::Closed,
                _ => return Ok(None),
            };
            Ok(Some(PrEvent {
                repo: e.project.path_with_namespace,
                number: e.object_attributes.iid,
                merge_commit: if state == PrState::Merged { e.object_attributes.merge_commit_sha } else { None },
                state,
                actor: e.user.map(|u| u.username),
            }))
        }
        _ => Ok(None),
    }
}

/// Whether a delivery of `forge` with event name `event` is about pull requests.
pub fn is_pull_request_event(forge: &str, event: &str) -> bool {
    match forge {
        "github" | "gitea" => event == "pull_request",
        "gitlab" => event.eq_ignore_ascii_case("Merge Request Hook"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_and_closes_of_each_forge() {
        let gh = br#"{"action":"closed","number":7,"pull_request":{"number":7,"merged":true,"merge_commit_sha":"abc","merged_by":{"login":"alice"}},"repository":{"full_name":"acme/gitops"},"sender":{"login":"bot"}}"#;
        let e = parse("github", "pull_request", gh).unwrap().unwrap();
        assert_eq!((e.repo.as_str(), e.number, e.state), ("acme/gitops", 7, PrState::Merged));
        assert_eq!((e.merge_commit.as_deref(), e.actor.as_deref()), (Some("abc"), Some("alice")));
        let closed = br#"{"action":"closed","pull_request":{"number":8,"merged":false,"merge_commit_sha":"x"},"repository":{"full_name":"a/b"},"sender":{"login":"bob"}}"#;
        let e = parse("gitea", "pull_request", closed).unwrap().unwrap();
        assert_eq!((e.state, e.merge_commit, e.actor.as_deref()), (PrState::Closed, None, Some("bob")));
        let opened = br#"{"action":"opened","pull_request":{"number":8},"repository":{"full_name":"a/b"}}"#;
        assert_eq!(parse("github", "pull_request", opened).unwrap(), None);
        let lab = br#"{"object_kind":"merge_request","user":{"username":"carol"},"project":{"path_with_namespace":"g/s/p"},"object_attributes":{"iid":3,"action":"merge","merge_commit_sha":"def"}}"#;
        let e = parse("gitlab", "Merge Request Hook", lab).unwrap().unwrap();
        assert_eq!(
            (e.repo.as_str(), e.number, e.state, e.actor.as_deref()),
            ("g/s/p", 3, PrState::Merged, Some("carol"))
        );
        assert!(parse("github", "pull_request", b"{}").is_err());
        assert_eq!(parse("github", "push", b"{}").unwrap(), None);
        assert!(is_pull_request_event("gitlab", "merge request hook") && !is_pull_request_event("github", "push"));
    }

    proptest! {
        #[test]
        fn any_body_is_answered_without_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
            for (forge, event) in [("github", "pull_request"), ("gitlab", "Merge Request Hook")] {
                let _ = parse(forge, event, &body);
            }
        }
    }
}
