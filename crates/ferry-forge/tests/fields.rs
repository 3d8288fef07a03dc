//! Every field the clients read or send is named in the forges' API excerpts kept as fixtures
//! (`tests/fixtures/README.md` names their sources).
#![allow(clippy::unwrap_used)]

use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Whether `schema` of `doc` has property `path` (`a.b` looks inside `a`'s properties).
fn has(doc: &Value, schema: &str, path: &str) -> bool {
    let mut at = &doc["schemas"][schema];
    for part in path.split('.') {
        at = &at["properties"][part];
        if at.is_null() {
            return false;
        }
    }
    true
}

fn check(file: &str, expected: &[(&str, &[&str])]) {
    let doc = fixture(file);
    assert!(doc["source"].as_str().is_some_and(|s| !s.is_empty()), "{file} names its source");
    for (schema, fields) in expected {
        for field in *fields {
            assert!(has(&doc, schema, field), "{file}: {schema} has no {field}");
        }
    }
}

#[test]
fn github_fields_are_in_the_excerpt() {
    check(
        "github-openapi-excerpt.json",
        &[
            (
                "pull-request",
                &["number", "node_id", "html_url", "state", "merged_at", "merge_commit_sha", "merged_by", "head.ref"],
            ),
            ("simple-user", &["login"]),
            ("issue", &["closed_by"]),
            ("issue-comment", &["id", "body"]),
            ("installation", &["id"]),
            ("installation-token", &["token", "expires_at"]),
            ("pulls/create request", &["title", "head", "base", "body", "draft"]),
            ("pulls/update request", &["state"]),
            ("pulls/merge request", &["commit_title", "merge_method"]),
            ("pulls/request-reviewers request", &["reviewers"]),
            ("issues/add-labels request", &["labels"]),
            ("repos/create-commit-status request", &["state", "target_url", "description", "context"]),
            (
                "webhook-pull-request-closed",
                &[
                    "action",
                    "pull_request.number",
                    "pull_request.merged",
                    "pull_request.merge_commit_sha",
                    "pull_request.merged_by",
                    "repository.full_name",
                    "sender.login",
                ],
            ),
        ],
    );
}

#[test]
fn gitlab_fields_are_in_the_excerpt() {
    check(
        "gitlab-openapi-excerpt.json",
        &[
            (
                "API_Entities_MergeRequestBasic",
                &["iid", "web_url", "state", "merge_commit_sha", "merged_by", "closed_by", "source_branch"],
            ),
            ("API_Entities_UserBasic", &["id", "username"]),
            ("API_Entities_Note", &["id"]),
            (
                "postApiV4ProjectsIdMergeRequests",
                &["source_branch", "target_branch", "title", "description", "labels", "reviewer_ids"],
            ),
            ("putApiV4ProjectsIdMergeRequestsMergeRequestIid", &["state_event"]),
            (
                "putApiV4ProjectsIdMergeRequestsMergeRequestIidMerge",
                &["merge_commit_message", "merge_when_pipeline_succeeds"],
            ),
            ("postApiV4ProjectsIdStatusesSha", &["state", "name", "target_url", "description"]),
            (
                "Merge Request Hook",
                &[
                    "user.username",
                    "project.path_with_namespace",
                    "object_attributes.iid",
                    "object_attributes.action",
                    "object_attributes.merge_commit_sha",
                ],
            ),
        ],
    );
}

#[test]
fn gitea_fields_are_in_the_excerpt() {
    check(
        "gitea-swagger-excerpt.json",
        &[
            ("PullRequest", &["number", "html_url", "state", "merged", "merge_commit_sha", "merged_by", "head"]),
            ("PRBranchInfo", &["ref"]),
            ("User", &["login"]),
            ("Label", &["id", "name"]),
            ("Comment", &["id"]),
            ("CreatePullRequestOption", &["title", "head", "base", "body", "labels"]),
            ("EditPullRequestOption", &["state"]),
            ("MergePullRequestOption", &["Do", "MergeTitleField", "merge_when_checks_succeed"]),
            ("PullReviewRequestOptions", &["reviewers"]),
            ("CreateStatusOption", &["state", "target_url", "description", "context"]),
            (
                "PullRequestPayload",
                &[
                    "action",
                    "pull_request.number",
                    "pull_request.merged",
                    "pull_request.merge_commit_sha",
                    "repository.full_name",
                    "sender.login",
                ],
            ),
        ],
    );
}
