//! Push webhooks (SPEC §3.1): GitHub, GitLab, Gitea/Forgejo and a generic form, normalised to a
//! [`GitPush`]. GitHub's form-encoded deliveries (`payload=<json>`) are read like JSON ones.
//!
//! Signatures are checked before a delivery is parsed (`crate::auth::signature`).

use axum::http::HeaderMap;
use ferry_engine::GitPush;
use serde::Deserialize;
use serde_json::Value;

use crate::body::parse_json;
use crate::error::ApiError;

/// What a webhook delivery means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// A branch moved.
    Push {
        /// Which forge sent it (`github`, `gitlab`, `gitea`, `generic`).
        provider: &'static str,
        /// The normalised push.
        push: GitPush,
    },
    /// A delivery that needs no action (another event, a tag, a deleted branch), with the reason.
    Ignored(String),
}

/// The generic payload: `{"repoURL": "...", "branch": "main", "after": "<sha>"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generic {
    #[serde(rename = "repoURL")]
    repo_url: String,
    branch: String,
    after: String,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The forge that sent a delivery and its event name, from the forge's own event header.
fn forge(headers: &HeaderMap) -> Option<(&'static str, &str)> {
    // Gitea and Forgejo also send `X-GitHub-Event`; look at their own headers first.
    [
        ("x-gitea-event", "gitea"),
        ("x-forgejo-event", "gitea"),
        ("x-gogs-event", "gitea"),
        ("x-github-event", "github"),
        ("x-gitlab-event", "gitlab"),
    ]
    .into_iter()
    .find_map(|(name, provider)| header(headers, name).map(|event| (provider, event)))
}

/// The wire spelling of a provider name of [`Hook::Push`].
pub fn wire_provider(provider: &str) -> ferry_api::Provider {
    match provider {
        "github" => ferry_api::Provider::Github,
        "gitlab" => ferry_api::Provider::Gitlab,
        "gitea" => ferry_api::Provider::Gitea,
        _ => ferry_api::Provider::Generic,
    }
}

/// Which forge sent a delivery: `github`, `gitlab`, `gitea` or `generic`.
pub fn provider_of(headers: &HeaderMap) -> &'static str {
    forge(headers).map_or("generic", |(provider, _)| provider)
}

/// The JSON of a delivery: the body, or the `payload` field of a form-encoded one (GitHub's
/// `application/x-www-form-urlencoded` content type).
fn json_of<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, ApiError> {
    let form = header(headers, "content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request(format!("the form-encoded delivery cannot be decoded: {e}")))?;
    fields.into_iter().find(|(k, _)| k == "payload").map(|(_, v)| std::borrow::Cow::Owned(v.into_bytes())).ok_or_else(
        || ApiError::invalid_field("payload", "missing: a form-encoded delivery carries its JSON in `payload`"),
    )
}

/// A pull-request delivery (GitHub's and Gitea's `pull_request`, GitLab's `Merge Request Hook`) about a
/// merge or a close; `None` for every other delivery.
pub fn pull_request(headers: &HeaderMap, body: &[u8]) -> Result<Option<ferry_forge::PrEvent>, ApiError> {
    let Some((provider, event)) = forge(headers) else { return Ok(None) };
    if !ferry_forge::hook::is_pull_request_event(provider, event) {
        return Ok(None);
    }
    let body = &*json_of(headers, body)?;
    ferry_forge::hook::parse(provider, event, body).map_err(ApiError::bad_request)
}

/// Parses a delivery from its headers and body.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Hook, ApiError> {
    let body = &*json_of(headers, body)?;
    let forge = forge(headers);
    match forge {
        None => {
            let g: Generic = parse_json(body)?;
            let push = normalise(vec![g.repo_url], g.branch.trim_start_matches("refs/heads/"), &g.after, "after")?;
            Ok(Hook::Push { provider: "generic", push })
        }
        Some((provider @ ("github" | "gitea"), event)) => {
            if event != "push" {
                return Ok(Hook::Ignored(format!("{provider} event {event:?} is not a push; nothing to do")));
            }
            let v: Value = parse_json(body)?;
            let repo = v.get("repository").ok_or_else(|| ApiError::invalid_field("repository", "missing"))?;
            let urls = urls(repo, &["clone_url", "ssh_url", "html_url", "git_url"]);
            push_from(provider, &v, urls, &["after"])
        }
        Some((provider, event)) => {
            if !event.eq_ignore_ascii_case("Push Hook") {
                return Ok(Hook::Ignored(format!("{provider} event {event:?} is not a push; nothing to do")));
            }
            let v: Value = parse_json(body)?;
            let mut list = Vec::new();
            if let Some(project) = v.get("project") {
                list.extend(urls(project, &["git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url"]));
            }
            if let Some(repo) = v.get("repository") {
                list.extend(urls(repo, &["git_http_url", "git_ssh_url", "homepage", "url"]));
            }
            push_from(provider, &v, list, &["after", "checkout_sha"])
        }
    }
}

/// String fields of `object`, in order, without empties.
fn urls(object: &Value, fields: &[&str]) -> Vec<String> {
    fields
        .iter()
        .filter_map(|f| object.get(*f).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn push_from(provider: &'static str, v: &Value, repo_urls: Vec<String>, sha_fields: &[&str]) -> Result<Hook, ApiError> {
    let reference = v.get("ref").and_then(Value::as_str).ok_or_else(|| ApiError::invalid_field("ref", "missing"))?;
    let Some(branch) = reference.strip_prefix("refs/heads/") else {
        return Ok(Hook::Ignored(format!("{reference:?} is not a branch; only branch pushes trigger releases")));
    };
    let Some((field, after)) =
        sha_fields.iter().find_map(|f| v.get(*f).and_then(Value::as_str).filter(|s| !s.is_empty()).map(|s| (*f, s)))
    else {
        return Err(ApiError::invalid_field(sha_fields[0], "missing"));
    };
    if after.bytes().all(|b| b == b'0') {
        return Ok(Hook::Ignored(format!("branch {branch:?} was deleted; nothing to promote")));
    }
    if repo_urls.is_empty() {
        return Err(ApiError::invalid_field("repository", "no repository URL in the payload"));
    }
    Ok(Hook::Push { provider, push: normalise(repo_urls, branch, after, field)? })
}

fn normalise(mut repo_urls: Vec<String>, branch: &str, after: &str, sha_field: &str) -> Result<GitPush, ApiError> {
    if branch.is_empty() {
        return Err(ApiError::invalid_field("branch", "must not be empty"));
    }
    let after = after.to_ascii_lowercase();
    if !(after.len() == 40 || after.len() == 64) || !after.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_field(
            sha_field,
            format!("{after:?} is not a full commit id (40 or 64 hex digits)"),
        ));
    }
    repo_urls.retain(|u| !u.trim().is_empty());
    if repo_urls.is_empty() {
        return Err(ApiError::invalid_field("repoURL", "must not be empty"));
    }
    let mut seen = std::collections::BTreeSet::new();
    repo_urls.retain(|u| seen.insert(u.clone()));
    Ok(GitPush { repo_urls, branch: branch.to_owned(), after })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn github_form_encoded_deliveries_carry_their_json_in_payload() {
        let json = r#"{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"clone_url":"https://forge.example/o/r.git"}}"#;
        let body = serde_urlencoded::to_string([("payload", json)]).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-github-event", HeaderValue::from_static("push"));
        h.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded"));
        let Hook::Push { provider, push } = parse(&h, body.as_bytes()).unwrap() else { panic!("not a push") };
        assert_eq!((provider, push.branch.as_str()), ("github", "main"));
        assert_eq!(provider_of(&h), "github");
        let e = parse(&h, b"other=1").unwrap_err();
        assert!(e.message.starts_with("payload: missing"), "{}", e.message);
        assert_eq!(provider_of(&HeaderMap::new()), "generic");
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn push(hook: Hook) -> (&'static str, GitPush) {
        match hook {
            Hook::Push { provider, push } => (provider, push),
            Hook::Ignored(m) => panic!("ignored: {m}"),
        }
    }

    #[test]
    fn github_push() {
        let body = serde_json::json!({
            "ref": "refs/heads/main", "before": "x", "after": SHA,
            "repository": {"clone_url": "https://github.com/o/r.git", "ssh_url": "git@github.com:o/r.git",
                           "html_url": "https://github.com/o/r"}
        });
        let (provider, p) = push(parse(&headers(&[("x-github-event", "push")]), body.to_string().as_bytes()).unwrap());
        assert_eq!(provider, "github");
        assert_eq!(p.branch, "main");
        assert_eq!(p.after, SHA);
        assert_eq!(p.repo_urls, ["https://github.com/o/r.git", "git@github.com:o/r.git", "https://github.com/o/r"]);
    }

    #[test]
    fn gitlab_push_uses_project_urls_and_checkout_sha_fallback() {
        let body = serde_json::json!({
            "object_kind": "push", "ref": "refs/heads/feature/x", "checkout_sha": SHA.to_uppercase(),
            "project": {"git_http_url": "https://gitlab.com/o/r.git", "git_ssh_url": "git@gitlab.com:o/r.git",
                        "web_url": "https://gitlab.com/o/r"}
        });
        let (provider, p) =
            push(parse(&headers(&[("x-gitlab-event", "Push Hook")]), body.to_string().as_bytes()).unwrap());
        assert_eq!(provider, "gitlab");
        assert_eq!(p.branch, "feature/x");
        assert_eq!(p.after, SHA, "upper-case hex is lowered");
        assert_eq!(p.repo_urls[0], "https://gitlab.com/o/r.git");
        assert_eq!(p.repo_urls.len(), 3);
    }

    #[test]
    fn gitea_and_forgejo_push() {
        let body = serde_json::json!({
            "ref": "refs/heads/main", "after": SHA,
            "repository": {"clone_url": "https://gitea.example/o/r.git", "ssh_url": "", "html_url": "https://gitea.example/o/r"}
        });
        for h in
            [headers(&[("x-gitea-event", "push"), ("x-github-event", "push")]), headers(&[("x-forgejo-event", "push")])]
        {
            let (provider, p) = push(parse(&h, body.to_string().as_bytes()).unwrap());
            assert_eq!(provider, "gitea");
            assert_eq!(p.repo_urls, ["https://gitea.example/o/r.git", "https://gitea.example/o/r"]);
        }
    }

    #[test]
    fn generic_push() {
        let body = format!(r#"{{"repoURL": "file:///tmp/repo", "branch": "refs/heads/main", "after": "{SHA}"}}"#);
        let (provider, p) = push(parse(&HeaderMap::new(), body.as_bytes()).unwrap());
        assert_eq!(provider, "generic");
        assert_eq!(p, GitPush { repo_urls: vec!["file:///tmp/repo".into()], branch: "main".into(), after: SHA.into() });
    }

    #[test]
    fn other_events_tags_and_deletions_are_ignored() {
        let ping = parse(&headers(&[("x-github-event", "ping")]), b"{}").unwrap();
        assert!(matches!(ping, Hook::Ignored(m) if m.contains("\"ping\"")));
        let mr = parse(&headers(&[("x-gitlab-event", "Merge Request Hook")]), b"{}").unwrap();
        assert!(matches!(mr, Hook::Ignored(_)));
        let tag = serde_json::json!({"ref": "refs/tags/v1", "after": SHA, "repository": {"clone_url": "u"}});
        let tag = parse(&headers(&[("x-github-event", "push")]), tag.to_string().as_bytes()).unwrap();
        assert!(matches!(tag, Hook::Ignored(m) if m.contains("not a branch")));
        let deleted =
            serde_json::json!({"ref": "refs/heads/x", "after": "0".repeat(40), "repository": {"clone_url": "u"}});
        let deleted = parse(&headers(&[("x-github-event", "push")]), deleted.to_string().as_bytes()).unwrap();
        assert!(matches!(deleted, Hook::Ignored(m) if m.contains("deleted")));
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let gh = headers(&[("x-github-event", "push")]);
        let cases: Vec<(HeaderMap, String, &str)> = vec![
            (gh.clone(), r#"{"after": "x"}"#.into(), "repository"),
            (gh.clone(), r#"{"repository": {"clone_url": "u"}, "after": "abc"}"#.into(), "ref"),
            (
                gh.clone(),
                r#"{"repository": {"clone_url": "u"}, "ref": "refs/heads/m", "after": "abc"}"#.into(),
                "after",
            ),
            (gh.clone(), format!(r#"{{"repository": {{}}, "ref": "refs/heads/m", "after": "{SHA}"}}"#), "repository"),
            (gh, "not json".into(), "invalid request body"),
            (HeaderMap::new(), r#"{"repoURL": "u", "branch": "main"}"#.into(), "missing field `after`"),
            (HeaderMap::new(), format!(r#"{{"repoURL": "u", "branch": "", "after": "{SHA}"}}"#), "branch"),
            (
                HeaderMap::new(),
                format!(r#"{{"repoURL": "u", "branch": "m", "after": "{SHA}", "x": 1}}"#),
                "unknown field",
            ),
        ];
        for (h, body, expect) in cases {
            let e = parse(&h, body.as_bytes()).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{body}");
            assert!(e.message.contains(expect), "{body}: {}", e.message);
        }
    }
}
