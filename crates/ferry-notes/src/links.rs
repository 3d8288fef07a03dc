//! Links: forge URLs of commits, pull requests and issues, and the product's `issueUrl` templates.

use std::collections::BTreeMap;

use ferry_git::RepoUrl;

use crate::extract::{GITHUB, IssueRef, JIRA};

/// Forges whose URL layout is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// github.com (and codeberg.org / Gitea, which share the layout for commits, pulls and issues).
    GitHub,
    /// gitlab.com.
    GitLab,
}

/// The web base (`https://github.com/acme/api`) and forge of a repository URL on a known host
/// (github.com, gitlab.com, codeberg.org), from any form [`RepoUrl`] reads (`https://`, `ssh://`,
/// `git@host:`, any case of host); URLs that carry credentials or point elsewhere give `None`.
pub fn forge(repo: &str) -> Option<(Forge, String)> {
    let url = RepoUrl::parse(repo).ok()?;
    if url.has_credentials() || url.path().contains("***") {
        return None;
    }
    let host = url.host()?;
    let forge = match host {
        "github.com" | "codeberg.org" => Forge::GitHub,
        "gitlab.com" => Forge::GitLab,
        _ => return None,
    };
    Some((forge, format!("https://{host}/{}", url.path())))
}

/// `owner/repo` of a repository URL (its last two path segments, `.git` removed), for `{repo}` in
/// link templates.
pub fn repo_path(repo: &str) -> Option<String> {
    let url = RepoUrl::parse(repo).ok()?;
    let mut parts = url.path().rsplit('/').filter(|p| !p.is_empty());
    let name = parts.next()?;
    let owner = parts.next()?;
    Some(format!("{owner}/{name}"))
}

/// Link to a commit on its forge.
pub fn commit_url(repo: &str, sha: &str) -> Option<String> {
    RepoLinks::of(repo).commit_url(sha)
}

/// Link to a pull request (`#N`) or merge request (`!N`, or on GitLab any number) of `repo`.
pub fn pull_request_url(repo: &str, reference: &str, number: u64) -> Option<String> {
    RepoLinks::of(repo).pull_request_url(reference, number)
}

/// The link of an issue: the product's `issueUrl` template for its kind (`{id}` = the key without `#`
/// or repository part, `{key}` = the key as written, `{repo}` = `owner/repo`, `{number}` = its
/// number); for `#N` and `owner/repo#N` without a template, the forge of `repo` (the repository of the
/// commit that names it) when it is a known host; for Jira keys without a template, `jira_browse`
/// (`<server>/browse/`) when a Jira server is configured.
pub fn issue_url(
    templates: &BTreeMap<String, String>,
    issue: &IssueRef,
    repo: Option<&str>,
    jira_browse: Option<&str>,
) -> Option<String> {
    repo.map(RepoLinks::of).unwrap_or_default().issue_url(templates, issue, jira_browse)
}

/// The links of one repository, its URL parsed once: a range of thousands of commits links each
/// commit, pull request and issue without parsing the URL again.
#[derive(Debug, Clone, Default)]
pub struct RepoLinks {
    /// Forge and web base ([`forge`]); `None` for unknown hosts and URLs with credentials.
    forge: Option<(Forge, String)>,
    /// `owner/repo` ([`repo_path`]).
    path: Option<String>,
}

impl RepoLinks {
    /// The links of `repo` (any URL form [`RepoUrl`] reads).
    pub fn of(repo: &str) -> RepoLinks {
        RepoLinks { forge: forge(repo), path: repo_path(repo) }
    }

    /// Link to a commit ([`commit_url`]).
    pub fn commit_url(&self, sha: &str) -> Option<String> {
        let (forge, base) = self.forge.as_ref()?;
        Some(match forge {
            Forge::GitHub => format!("{base}/commit/{sha}"),
            Forge::GitLab => format!("{base}/-/commit/{sha}"),
        })
    }

    /// Link to a pull or merge request ([`pull_request_url`]).
    pub fn pull_request_url(&self, reference: &str, number: u64) -> Option<String> {
        let (forge, base) = self.forge.as_ref()?;
        let base = match reference.split_once('!') {
            Some((project, _)) if !project.is_empty() => {
                let host = base.split('/').take(3).collect::<Vec<_>>().join("/");
                format!("{host}/{project}")
            }
            _ => base.clone(),
        };
        Some(match forge {
            Forge::GitHub => format!("{base}/pull/{number}"),
            Forge::GitLab => format!("{base}/-/merge_requests/{number}"),
        })
    }

    /// The link of an issue named in this repository ([`issue_url`]).
    pub fn issue_url(
        &self,
        templates: &BTreeMap<String, String>,
        issue: &IssueRef,
        jira_browse: Option<&str>,
    ) -> Option<String> {
        if let Some(template) = templates.get(&issue.kind) {
            // A template without {repo} only fits references of its own repository.
            if issue.project.is_some() && !template.contains("{repo}") {
                return issue.project.as_deref().and_then(|p| self.forge_issue(p, issue.id()));
            }
            let repo_part = issue.project.as_deref().or(self.path.as_deref()).unwrap_or("");
            let number = issue.id().trim_start_matches(|c: char| !c.is_ascii_digit());
            return Some(
                template
                    .replace("{id}", issue.id())
                    .replace("{key}", &issue.key)
                    .replace("{number}", number)
                    .replace("{repo}", repo_part),
            );
        }
        match issue.kind.as_str() {
            GITHUB => match &issue.project {
                Some(project) => self.forge_issue(project, issue.id()),
                None => {
                    let (forge, base) = self.forge.as_ref()?;
                    Some(match forge {
                        Forge::GitHub => format!("{base}/issues/{}", issue.id()),
                        Forge::GitLab => format!("{base}/-/issues/{}", issue.id()),
                    })
                }
            },
            JIRA => jira_browse.map(|b| format!("{}/browse/{}", b.trim_end_matches('/'), issue.key)),
            _ => None,
        }
    }

    /// `owner/repo#N` on the forge host of this repository.
    fn forge_issue(&self, project: &str, id: &str) -> Option<String> {
        let (forge, base) = self.forge.as_ref()?;
        let host = base.split('/').take(3).collect::<Vec<_>>().join("/");
        Some(match forge {
            Forge::GitHub => format!("{host}/{project}/issues/{id}"),
            Forge::GitLab => format!("{host}/{project}/-/issues/{id}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forges_are_recognised_from_every_url_form() {
        let cases = [
            ("https://github.com/acme/api.git", Some("https://github.com/acme/api")),
            ("https://github.com/acme/api/", Some("https://github.com/acme/api")),
            ("git@github.com:acme/api.git", Some("https://github.com/acme/api")),
            ("ssh://git@gitlab.com/group/sub/web.git", Some("https://gitlab.com/group/sub/web")),
            ("https://codeberg.org/a/b", Some("https://codeberg.org/a/b")),
            ("https://GitHub.com/acme/api", Some("https://github.com/acme/api")),
            ("ssh://git@github.com:22/acme/api", Some("https://github.com/acme/api")),
            ("https://user:tok@github.com/acme/api.git", None),
            ("https://***@github.com/acme/api.git", None),
            ("https://git.example.com/acme/api.git", None),
            ("file:///srv/git/api.git", None),
        ];
        for (url, want) in cases {
            assert_eq!(forge(url).map(|(_, b)| b), want.map(str::to_owned), "{url}");
        }
        assert_eq!(repo_path("file:///srv/git/acme/api.git").as_deref(), Some("acme/api"));
        assert_eq!(repo_path("git@github.com:acme/api.git").as_deref(), Some("acme/api"));
        assert_eq!(repo_path("api"), None);
    }

    #[test]
    fn commit_and_pull_request_links() {
        assert_eq!(
            commit_url("https://github.com/a/b.git", "abc").as_deref(),
            Some("https://github.com/a/b/commit/abc")
        );
        assert_eq!(
            commit_url("https://gitlab.com/g/p.git", "abc").as_deref(),
            Some("https://gitlab.com/g/p/-/commit/abc")
        );
        assert_eq!(
            pull_request_url("https://github.com/a/b.git", "#4", 4).as_deref(),
            Some("https://github.com/a/b/pull/4")
        );
        assert_eq!(
            pull_request_url("https://gitlab.com/g/p.git", "other/q!4", 4).as_deref(),
            Some("https://gitlab.com/other/q/-/merge_requests/4")
        );
        assert_eq!(pull_request_url("file:///x.git", "#4", 4), None);
    }

    #[test]
    fn issue_links_from_templates_and_forges() {
        let issue = |kind: &str, key: &str, project: Option<&str>| IssueRef {
            kind: kind.into(),
            key: key.into(),
            project: project.map(Into::into),
            closes: false,
        };
        let templates: BTreeMap<String, String> = [
            ("JIRA".to_owned(), "https://acme.atlassian.net/browse/{id}".to_owned()),
            ("LINEAR".to_owned(), "https://linear.app/acme/issue/LIN-{number}".to_owned()),
        ]
        .into();
        let gh = Some("https://github.com/acme/api.git");
        let cases = [
            (issue("JIRA", "ABC-1", None), None, Some("https://acme.atlassian.net/browse/ABC-1")),
            (issue("GITHUB", "#5", None), gh, Some("https://github.com/acme/api/issues/5")),
            (issue("GITHUB", "other/x#6", Some("other/x")), gh, Some("https://github.com/other/x/issues/6")),
            (issue("GITHUB", "#5", None), Some("file:///srv/api.git"), None),
            (issue("LINEAR", "7", None), None, Some("https://linear.app/acme/issue/LIN-7")),
            (issue("OTHER", "X", None), gh, None),
        ];
        for (i, repo, want) in cases {
            assert_eq!(issue_url(&templates, &i, repo, None).as_deref(), want, "{i:?}");
        }
        let gh_template: BTreeMap<String, String> =
            [("GITHUB".to_owned(), "https://github.com/{repo}/issues/{id}".to_owned())].into();
        assert_eq!(
            issue_url(&gh_template, &issue("GITHUB", "#5", None), Some("file:///srv/acme/api.git"), None).as_deref(),
            Some("https://github.com/acme/api/issues/5")
        );
        assert_eq!(
            issue_url(&BTreeMap::new(), &issue("JIRA", "ABC-1", None), None, Some("https://jira.example/")).as_deref(),
            Some("https://jira.example/browse/ABC-1")
        );
    }
}
