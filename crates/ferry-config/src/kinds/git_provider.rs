//! The GitProvider kind (SPEC §6.2): which forge serves which repositories, with which credentials;
//! and the `pullRequest` block of a policy.

use ferry_model::names::GitProviderName;
use ferry_model::resources::{ForgeRepository, ForgeType, GitProvider, GithubApp, PullRequestOptions};

use super::notification::secret;
use super::{named, object, opt, req};
use crate::decode::{Cx, Field, Fields, boolean, int, join, list_of, non_empty, one_of, string};

/// The `type:` spellings (Forgejo speaks Gitea's API).
const TYPES: &[(&str, ForgeType)] = &[
    ("github", ForgeType::Github),
    ("gitlab", ForgeType::Gitlab),
    ("gitea", ForgeType::Gitea),
    ("forgejo", ForgeType::Gitea),
    ("local", ForgeType::Local),
];

/// Decodes `spec` of a GitProvider.
pub(super) fn git_provider(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String) -> Option<GitProvider> {
    spec.reject_unknown(cx, &["type", "apiURL", "token", "app", "webhookSecret", "repositories"]);
    let name = named(cx, spec, name, GitProviderName::new);
    let forge = req(cx, spec, "type", |cx, f| {
        one_of(cx, f, "git provider type", TYPES, &["github", "gitlab", "gitea", "local"])
    });
    let api_url = opt(cx, spec, "apiURL", api_url);
    let token = opt(cx, spec, "token", secret);
    let app = opt(cx, spec, "app", |cx, f| {
        object(cx, f, &["id", "privateKeyFile"], |cx, a| {
            let id = req(cx, a, "id", |cx, f| {
                let pos = f.node.pos;
                let path = f.path.to_owned();
                match int(cx, f)? {
                    n if n > 0 => u64::try_from(n).ok(),
                    _ => {
                        cx.error(pos, &path, "a GitHub App id is a positive number");
                        None
                    }
                }
            });
            let private_key_file = req(cx, a, "privateKeyFile", non_empty);
            Some(GithubApp { id: id?, private_key_file: private_key_file? })
        })
    });
    let webhook_secret = opt(cx, spec, "webhookSecret", secret);
    let repositories = req(cx, spec, "repositories", |cx, f| {
        let (pos, path) = (f.node.pos, f.path.to_owned());
        let items = list_of(cx, f, repository)?;
        if items.is_empty() {
            cx.error_hint(pos, &path, "lists no repository", Some("add {url: …, name: owner/repo}".into()));
            return None;
        }
        Some(items)
    });
    let (forge, api_url, token, app) = (forge?, api_url?, token?, app?);
    // Where a rule between fields is reported: the field named, else the spec.
    let at = |key: &str| (spec.opt(key).map_or(spec.pos(), |f| f.node.pos), join(spec.path(), key));
    if app.is_some() && token.is_some() {
        let (pos, path) = at("app");
        cx.error_hint(pos, &path, "set token or app, not both", Some("a GitHub App mints its own tokens".into()));
        return None;
    }
    if app.is_some() && forge != ForgeType::Github {
        let (pos, path) = at("app");
        cx.error(pos, &path, format!("GitHub App credentials need type github, not {}", forge.as_str()));
        return None;
    }
    if forge == ForgeType::Local && (token.is_some() || api_url.is_some()) {
        let (pos, path) = at(if token.is_some() { "token" } else { "apiURL" });
        cx.error(pos, &path, "a local provider talks to no forge: remove apiURL and token");
        return None;
    }
    if forge == ForgeType::Gitea && api_url.is_none() {
        let (pos, path) = at("type");
        cx.error_hint(
            pos,
            &path,
            "a gitea provider needs its API base URL",
            Some("e.g. https://gitea.example/api/v1 (Codeberg: https://codeberg.org/api/v1)".into()),
        );
        return None;
    }
    Some(GitProvider {
        name: name?,
        forge,
        api_url,
        token,
        app,
        webhook_secret: webhook_secret?,
        repositories: repositories?,
    })
}

/// An absolute `http://` or `https://` API base URL.
fn api_url(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<String> {
    let text = string(cx, f)?;
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !text.chars().any(char::is_whitespace) => {
            Some(text.trim_end_matches('/').to_owned())
        }
        _ => {
            cx.error_hint(
                f.node.pos,
                f.path,
                format!("invalid API URL {text:?}"),
                Some("use an absolute http:// or https:// URL, e.g. https://api.github.com".into()),
            );
            None
        }
    }
}

/// `{url, name}`: a git URL (or a `*` glob over URLs) and its `owner/repo` name on the forge.
fn repository(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<ForgeRepository> {
    let pos = f.node.pos;
    let path = f.path.to_owned();
    object(cx, f, &["url", "name"], |cx, r| {
        let url = req(cx, r, "url", non_empty)?;
        let name = opt(cx, r, "name", non_empty)?;
        if let Some(name) = &name {
            if url.contains('*') {
                cx.error_hint(
                    pos,
                    &format!("{path}.name"),
                    "a glob's repositories are named from their URLs",
                    Some("remove name, or list the repository by its full URL".into()),
                );
                return None;
            }
            let parts: Vec<&str> = name.split('/').collect();
            if parts.len() < 2 || parts.iter().any(|p| p.is_empty() || p.chars().any(char::is_whitespace)) {
                cx.error_hint(
                    pos,
                    &format!("{path}.name"),
                    format!("{name:?} is not a repository name on a forge"),
                    Some("use owner/repo (GitLab: group/subgroup/project)".into()),
                );
                return None;
            }
        }
        Some(ForgeRepository { url, name })
    })
}

/// The policy block `pullRequest: {labels, reviewers, draft, autoMerge}`.
pub(super) fn pull_request_options(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<PullRequestOptions> {
    object(cx, f, &["labels", "reviewers", "draft", "autoMerge"], |cx, p| {
        let labels = opt(cx, p, "labels", |cx, f| list_of(cx, f, non_empty));
        let reviewers = opt(cx, p, "reviewers", |cx, f| list_of(cx, f, non_empty));
        let draft = opt(cx, p, "draft", boolean);
        let auto_merge = opt(cx, p, "autoMerge", boolean);
        Some(PullRequestOptions {
            labels: labels?.unwrap_or_default(),
            reviewers: reviewers?.unwrap_or_default(),
            draft: draft?.unwrap_or(false),
            auto_merge: auto_merge?.unwrap_or(false),
        })
    })
}
