//! Repository URLs as identities (on `gix::url`): the forms a forge offers for one repository —
//! `git@host:o/r`, `ssh://git@host/o/r`, `https://host/o/r`, with or without `.git` or a trailing `/`,
//! with credentials or not, any case of host — name the same repository.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use gix::url::Scheme;

use crate::redact::redact;

/// A parsed repository URL that compares as a repository identity: the host (lowercase, without
/// user, password or port) and the path (without a leading `/` on remote hosts, without trailing `/`
/// and `.git`, compared without case as forges do). The scheme counts only as local (`file://` or a
/// path) versus remote: `ssh`, `git`, `http` and `https` URLs of one host and path are equal.
#[derive(Clone)]
pub struct RepoUrl {
    url: gix::Url,
    host: Option<String>,
    path: String,
}

/// A repository URL that cannot be parsed; the URL is shown redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository URL {url:?}: {message}")]
pub struct RepoUrlError {
    /// The URL as given, credentials redacted.
    pub url: String,
    /// What is wrong.
    pub message: String,
}

impl RepoUrl {
    /// Parses `text` (surrounding whitespace ignored). Remote-helper and `ext::` locations, and URLs
    /// without a repository path, are errors.
    pub fn parse(text: &str) -> Result<RepoUrl, RepoUrlError> {
        let text = text.trim();
        let error = |message: String| RepoUrlError { url: redact(text), message };
        if text.is_empty() {
            return Err(error("it is empty".to_owned()));
        }
        let url = gix::url::parse(text).map_err(|e| error(redact(&e.to_string())))?;
        let raw = match url.scheme {
            Scheme::Http | Scheme::Https => url.path_query_fragment().path.to_string(),
            Scheme::File | Scheme::Git | Scheme::Ssh => url.path.to_string(),
            Scheme::Ext | Scheme::Helper(_) | Scheme::HelperUrl(_) => {
                return Err(error("remote helpers are not supported; use https://, ssh:// or git@host:path".into()));
            }
        };
        let local = url.scheme == Scheme::File;
        let mut path = raw.trim_end_matches('/');
        path = path.strip_suffix(".git").unwrap_or(path).trim_end_matches('/');
        if !local {
            path = path.trim_start_matches('/');
        }
        if path.is_empty() || path == "/" {
            return Err(error("it names no repository path".to_owned()));
        }
        let host = url.host.as_deref().map(str::to_ascii_lowercase);
        if !local && host.as_deref().is_none_or(str::is_empty) {
            return Err(error("it names no host".to_owned()));
        }
        let path = path.to_owned();
        Ok(RepoUrl { url, host, path })
    }

    /// Whether `a` and `b` name the same repository. URLs that do not parse are the same only when
    /// their texts are equal.
    pub fn same_repository(a: &str, b: &str) -> bool {
        match (RepoUrl::parse(a), RepoUrl::parse(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => a.trim() == b.trim(),
        }
    }

    /// The host, lowercase; `None` for a local repository.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref().filter(|_| !self.is_local())
    }

    /// The repository path without `.git` and trailing `/` (`acme/api`; absolute for local ones), in
    /// its original case.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the repository is on this machine (`file://` or a path).
    pub fn is_local(&self) -> bool {
        self.url.scheme == Scheme::File
    }

    /// The scheme: `file`, `git`, `ssh`, `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.url.scheme.as_str()
    }

    /// Whether the URL carries a password, or a user on `http(s)` (a token): such URLs are never shown
    /// or linked as they are.
    pub fn has_credentials(&self) -> bool {
        self.url.password.is_some()
            || (matches!(self.url.scheme, Scheme::Http | Scheme::Https) && self.url.user.is_some())
    }

    fn key(&self) -> (bool, Option<&str>, String) {
        (self.is_local(), self.host(), self.path.to_lowercase())
    }
}

impl PartialEq for RepoUrl {
    fn eq(&self, other: &RepoUrl) -> bool {
        self.key() == other.key()
    }
}

impl Eq for RepoUrl {}

impl Hash for RepoUrl {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl FromStr for RepoUrl {
    type Err = RepoUrlError;

    fn from_str(s: &str) -> Result<RepoUrl, RepoUrlError> {
        RepoUrl::parse(s)
    }
}

/// The URL with credentials redacted.
impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url.to_bstring().to_string()))
    }
}

/// Like [`Display`](fmt::Display): never shows credentials.
impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn same(a: &str, b: &str) -> bool {
        RepoUrl::parse(a).unwrap() == RepoUrl::parse(b).unwrap()
    }

    #[test]
    fn the_forms_of_one_repository_are_equal() {
        let forms = [
            "git@github.com:acme/api",
            "git@github.com:acme/api.git",
            "ssh://git@github.com/acme/api",
            "ssh://git@github.com:22/acme/api.git",
            "https://github.com/acme/api",
            "https://github.com/acme/api.git",
            "https://github.com/acme/api/",
            "https://GitHub.COM/acme/api.git/",
            "https://x-access-token:secret@github.com/acme/api.git",
            "http://github.com/acme/api",
            "git://github.com/acme/api.git",
            "  https://github.com/Acme/API  ",
        ];
        for a in forms {
            for b in forms {
                assert!(same(a, b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn different_repositories_differ() {
        let cases = [
            ("https://github.com/acme/api", "https://github.com/acme/web"),
            ("https://github.com/acme/api", "https://gitlab.com/acme/api"),
            ("https://github.com/acme/api", "https://github.com/other/api"),
            ("git@github.com:acme/api", "git@github.com:acme/api-v2"),
            ("https://git.example/group/sub/api", "https://git.example/group/api"),
            ("file:///srv/git/api.git", "https://srv/git/api"),
        ];
        for (a, b) in cases {
            assert!(!same(a, b), "{a} vs {b}");
        }
    }

    #[test]
    fn local_repositories_compare_by_path() {
        assert!(same("file:///tmp/x/gitops.git", "/tmp/x/gitops"));
        assert!(same("file:///tmp/x/gitops/", "file:///tmp/x/gitops.git"));
        assert!(!same("file:///tmp/x/gitops", "file:///tmp/y/gitops"));
        let local = RepoUrl::parse("/tmp/x/gitops.git").unwrap();
        assert!(local.is_local());
        assert_eq!((local.host(), local.path()), (None, "/tmp/x/gitops"));
    }

    #[test]
    fn parts_credentials_and_display() {
        let url = RepoUrl::parse("https://bot:s3cret@Git.Example.com/Acme/API.git").unwrap();
        assert_eq!((url.scheme(), url.host(), url.path()), ("https", Some("git.example.com"), "Acme/API"));
        assert!(url.has_credentials());
        assert!(!url.to_string().contains("s3cret"), "{url}");
        assert!(!format!("{url:?}").contains("s3cret"));
        let scp = RepoUrl::parse("git@host.example:o/r.git").unwrap();
        assert_eq!((scp.scheme(), scp.host(), scp.path()), ("ssh", Some("host.example"), "o/r"));
        assert!(!scp.has_credentials(), "the ssh user is not a credential");
        assert!(!RepoUrl::parse("https://github.com/acme/api").unwrap().has_credentials());
    }

    #[test]
    fn bad_urls_are_errors_that_say_why_without_credentials() {
        for (text, why) in [
            ("", "empty"),
            ("https://github.com/", "no repository path"),
            ("https://github.com", "no repository path"),
            ("ext::sh -c touch% /tmp/pwned", "remote helpers"),
            ("https://tok:s3cret@/acme/api", ""),
        ] {
            let e = RepoUrl::parse(text).unwrap_err();
            assert!(e.to_string().contains(why), "{text:?}: {e}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
        assert!(RepoUrl::same_repository("not a url ::", "not a url ::"));
        assert!(!RepoUrl::same_repository("not a url ::", "https://github.com/acme/api"));
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,10}"
    }

    fn case(s: &str, mask: u64) -> String {
        s.chars().enumerate().map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c }).collect()
    }

    proptest! {
        #[test]
        fn every_form_of_a_repository_names_it(
            host in "[a-z]{1,8}\\.(com|org|example)",
            owner in segment(),
            name in segment(),
            form in 0usize..6,
            dotgit in any::<bool>(),
            slash in any::<bool>(),
            mask in any::<u64>(),
        ) {
            let host_cased = case(&host, mask);
            let suffix = format!("{}{}", if dotgit { ".git" } else { "" }, if slash { "/" } else { "" });
            let text = match form {
                0 => format!("git@{host_cased}:{owner}/{name}{}", if dotgit { ".git" } else { "" }),
                1 => format!("ssh://git@{host_cased}/{owner}/{name}{suffix}"),
                2 => format!("https://{host_cased}/{owner}/{name}{suffix}"),
                3 => format!("https://user:token@{host_cased}/{owner}/{name}{suffix}"),
                4 => format!("ssh://git@{host_cased}:2222/{owner}/{name}{suffix}"),
                _ => format!("http://{host_cased}/{owner}/{name}{suffix}"),
            };
            let canonical = RepoUrl::parse(&format!("https://{host}/{owner}/{name}")).unwrap();
            let parsed = RepoUrl::parse(&text).unwrap();
            prop_assert_eq!(&parsed, &canonical, "{}", text);
            prop_assert_eq!(parsed.path(), format!("{owner}/{name}"));
            let other = RepoUrl::parse(&format!("https://{host}/{owner}/{name}x")).unwrap();
            prop_assert_ne!(&parsed, &other);
        }
    }
}
