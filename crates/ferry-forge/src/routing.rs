//! Which forge serves a repository (SPEC §6.2): the first `GitProvider` (by name) listing its URL,
//! exactly or by a `*` glob; else the public forge of `github.com`, `gitlab.com` or `codeberg.org`;
//! else none (the local provider).

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_model::names::GitProviderName;
use ferry_model::resources::{ForgeType, GitProvider, SecretSource, glob_match};

use crate::auth::{AppTokens, Credentials, read_secret};
use crate::client::Forge;
use crate::error::ForgeError;
use crate::http::RetryPolicy;

/// A repository's forge and its name there.
#[derive(Debug, Clone)]
pub struct Route {
    /// The provider's name (`github.com` etc. for an inferred public forge).
    pub provider: String,
    /// The forge.
    pub forge: Arc<Forge>,
    /// `owner/repo` on the forge.
    pub repo: String,
}

/// The configured forges, built from a catalog's GitProviders.
#[derive(Debug, Default)]
pub struct Forges {
    providers: Vec<(GitProvider, Option<Arc<Forge>>)>,
    public: Vec<(&'static str, Arc<Forge>)>,
    /// Why providers could not be built (a key file that cannot be read), by name.
    pub problems: Vec<String>,
}

/// The public forges inferred from a URL's host: host, type, API base, token variable.
pub const PUBLIC_FORGES: [(&str, ForgeType, &str, &str); 3] = [
    ("github.com", ForgeType::Github, "https://api.github.com", "FERRY_GITHUB_TOKEN"),
    ("gitlab.com", ForgeType::Gitlab, "https://gitlab.com/api/v4", "FERRY_GITLAB_TOKEN"),
    ("codeberg.org", ForgeType::Gitea, "https://codeberg.org/api/v1", "FERRY_GITEA_TOKEN"),
];

/// The default API base and token variable of a forge type.
fn defaults(kind: ForgeType) -> (Option<&'static str>, &'static str) {
    match kind {
        ForgeType::Github => (Some("https://api.github.com"), "FERRY_GITHUB_TOKEN"),
        ForgeType::Gitlab => (Some("https://gitlab.com/api/v4"), "FERRY_GITLAB_TOKEN"),
        ForgeType::Gitea => (None, "FERRY_GITEA_TOKEN"),
        ForgeType::Local => (None, ""),
    }
}

fn build(p: &GitProvider, retry: RetryPolicy) -> Result<Option<Arc<Forge>>, ForgeError> {
    if p.forge == ForgeType::Local {
        return Ok(None);
    }
    let (default_api, variable) = defaults(p.forge);
    let api = p.api_url.as_deref().or(default_api).ok_or_else(|| {
        ForgeError::Settings(format!("git provider {}: apiURL is required for {}", p.name, p.forge.as_str()))
    })?;
    let credentials = match &p.app {
        Some(app) => {
            let pem = std::fs::read_to_string(&app.private_key_file).map_err(|e| {
                ForgeError::Credentials(format!(
                    "git provider {}: cannot read the GitHub App key {}: {e}",
                    p.name, app.private_key_file
                ))
            })?;
            Credentials::App(AppTokens::new(app.id, &pem)?)
        }
        None => Credentials::Token(Some(p.token.clone().unwrap_or_else(|| SecretSource::Env(variable.to_owned())))),
    };
    Ok(Some(Arc::new(Forge::new(p.forge, api, credentials, retry)?)))
}

/// A URL without credentials, a final `/` or `.git`.
fn normalise(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}/{path}").trim_end_matches('/').to_owned()
        }
        None => url.to_owned(),
    }
}

/// The host and the path (`owner/repo`, without `.git`) of a git URL (`scheme://[user@]host/path`
/// or scp-like `user@host:path`).
pub fn host_and_path(url: &str) -> Option<(String, String)> {
    let url = normalise(url);
    let (host, path) = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/')?,
        None => {
            let (authority, path) = url.split_once(':')?;
            (authority.rsplit_once('@').map_or(authority, |(_, h)| h), path)
        }
    };
    let host =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    let path = path.trim_matches('/');
    (!host.is_empty() && path.contains('/')).then(|| (host.to_ascii_lowercase(), path.to_owned()))
}

impl Forges {
    /// The forges of `providers`, calls retried by `retry`; the public forges are added when
    /// `public` (a server; tests leave them out). A provider that cannot be built serves nothing
    /// and is named in [`Forges::problems`].
    pub fn new(providers: &BTreeMap<GitProviderName, GitProvider>, retry: RetryPolicy, public: bool) -> Forges {
        let mut out = Forges::default();
        for p in providers.values() {
            match build(p, retry) {
                Ok(forge) => out.providers.push((p.clone(), forge)),
                Err(e) => out.problems.push(e.to_string()),
            }
        }
        if public {
            for (host, kind, api, variable) in PUBLIC_FORGES {
                let credentials = Credentials::Token(Some(SecretSource::Env(variable.to_owned())));
                if let Ok(forge) = Forge::new(kind, api, credentials, retry) {
                    out.public.push((host, Arc::new(forge)));
                }
            }
        }
        out
    }

    /// The forge serving `url` (a configured repository URL, credentials and all) and the
    /// repository's name there; `None`: the local provider.
    pub fn route(&self, url: &str) -> Option<Route> {
        let plain = normalise(url);
        for (p, forge) in &self.providers {
            for r in &p.repositories {
                let pattern = normalise(&r.url);
                let hit = if pattern.contains('*') { glob_match(&pattern, &plain) } else { pattern == plain };
                if !hit {
                    continue;
                }
                let forge = forge.clone()?;
                let repo = match &r.name {
                    Some(name) => name.clone(),
                    None => host_and_path(url)?.1,
                };
                return Some(Route { provider: p.name.to_string(), forge, repo });
            }
        }
        let (host, path) = host_and_path(url)?;
        let (name, forge) = self.public.iter().find(|(h, _)| *h == host)?;
        Some(Route { provider: (*name).to_owned(), forge: forge.clone(), repo: path })
    }

    /// The names of the providers that are forges, and of the public forges.
    pub fn names(&self) -> Vec<String> {
        let configured = self.providers.iter().filter(|(_, f)| f.is_some()).map(|(p, _)| p.name.to_string());
        configured.chain(self.public.iter().map(|(h, _)| (*h).to_owned())).collect()
    }

    /// The forge of provider `name` (a GitProvider's name or a public forge's host).
    pub fn forge(&self, name: &str) -> Option<Arc<Forge>> {
        let configured = self.providers.iter().find(|(p, _)| p.name.as_str() == name).and_then(|(_, f)| f.clone());
        configured.or_else(|| self.public.iter().find(|(h, _)| *h == name).map(|(_, f)| f.clone()))
    }

    /// The webhook secrets of every provider that has one and can read it.
    pub fn webhook_secrets(&self) -> Vec<String> {
        self.providers
            .iter()
            .filter_map(|(p, _)| p.webhook_secret.as_ref())
            .filter_map(|s| read_secret(s).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::resources::ForgeRepository;

    fn provider(name: &str, kind: ForgeType, repos: &[(&str, Option<&str>)]) -> GitProvider {
        GitProvider {
            name: GitProviderName::new(name).unwrap(),
            forge: kind,
            api_url: Some("http://127.0.0.1:9".into()),
            token: None,
            app: None,
            webhook_secret: None,
            repositories: repos
                .iter()
                .map(|(u, n)| ForgeRepository { url: (*u).into(), name: n.map(str::to_owned) })
                .collect(),
        }
    }

    #[test]
    fn urls_name_their_host_and_repository() {
        let cases = [
            ("https://github.com/acme/gitops.git", Some(("github.com", "acme/gitops"))),
            ("https://x:tok@GitHub.com/acme/gitops/", Some(("github.com", "acme/gitops"))),
            ("git@gitlab.com:group/sub/project.git", Some(("gitlab.com", "group/sub/project"))),
            ("ssh://git@codeberg.org:22/acme/app.git", Some(("codeberg.org", "acme/app"))),
            ("file:///srv/git/gitops.git", None),
            ("https://github.com/acme", None),
        ];
        for (url, expect) in cases {
            let got = host_and_path(url);
            assert_eq!(got.as_ref().map(|(h, p)| (h.as_str(), p.as_str())), expect, "{url}");
        }
    }

    #[test]
    fn providers_route_by_url_or_glob_then_public_forges() {
        let mut providers = BTreeMap::new();
        let a = provider("a", ForgeType::Github, &[("file:///srv/git/gitops.git", Some("acme/gitops"))]);
        let b = provider("b", ForgeType::Gitea, &[("https://git.example/acme/*", None)]);
        let l = provider("l", ForgeType::Local, &[("https://github.com/acme/local-only.git", None)]);
        for p in [a, b, l] {
            providers.insert(p.name.clone(), p);
        }
        let forges = Forges::new(&providers, RetryPolicy::default(), true);
        assert!(forges.problems.is_empty(), "{:?}", forges.problems);
        let r = forges.route("file:///srv/git/gitops").unwrap();
        assert_eq!((r.provider.as_str(), r.repo.as_str(), r.forge.kind()), ("a", "acme/gitops", ForgeType::Github));
        let r = forges.route("https://user:secret@git.example/acme/app.git").unwrap();
        assert_eq!((r.provider.as_str(), r.repo.as_str(), r.forge.kind()), ("b", "acme/app", ForgeType::Gitea));
        assert!(forges.route("https://github.com/acme/local-only.git").is_none(), "a local provider wins");
        let r = forges.route("git@gitlab.com:g/p.git").unwrap();
        assert_eq!((r.provider.as_str(), r.forge.api_url()), ("gitlab.com", "https://gitlab.com/api/v4"));
        assert!(forges.route("file:///srv/git/other.git").is_none());
        let private = Forges::new(&providers, RetryPolicy::default(), false);
        assert!(private.route("https://github.com/o/r.git").is_none());
    }
}
