//! Optional Jira enrichment: summary, status and assignee of the Jira issues in release notes, read
//! with the Jira REST API v2 (`GET /rest/api/2/issue/{key}?fields=summary,assignee,status`) when a
//! server and a token are configured. Answers are cached in memory for the life of the process;
//! failures never fail the notes: they become warnings, and a timeout or a refused token stops the
//! remaining look-ups of that request. The token is sent as a header only and never logged or shown.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

use crate::extract::JIRA;
use crate::types::Notes;

/// Environment variable with the Jira base URL (e.g. `https://acme.atlassian.net`).
pub const ENV_URL: &str = "FERRY_JIRA_URL";
/// Environment variable with the token (a personal access token, or an API token with [`ENV_USER`]).
pub const ENV_TOKEN: &str = "FERRY_JIRA_TOKEN";
/// Environment variable with the user (e-mail) for basic authentication (Jira Cloud); without it the
/// token is sent as a bearer token (Jira Data Center personal access tokens).
pub const ENV_USER: &str = "FERRY_JIRA_USER";
/// Default time limit of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most requests in flight at once.
const CONCURRENCY: usize = 8;

/// Where and how to reach Jira.
#[derive(Clone)]
pub struct JiraConfig {
    /// Base URL, without a trailing `/`.
    pub url: String,
    /// Token.
    pub token: String,
    /// User for basic authentication; `None` = bearer token.
    pub user: Option<String>,
    /// Time limit of one request.
    pub timeout: Duration,
}

impl std::fmt::Debug for JiraConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraConfig")
            .field("url", &self.url)
            .field("token", &"***")
            .field("user", &self.user)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl JiraConfig {
    /// Reads [`ENV_URL`], [`ENV_TOKEN`] and [`ENV_USER`]; `None` unless both the URL and the token are set.
    pub fn from_env() -> Option<JiraConfig> {
        let get = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Some(JiraConfig {
            url: get(ENV_URL)?.trim_end_matches('/').to_owned(),
            token: get(ENV_TOKEN)?,
            user: get(ENV_USER),
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// What Jira says about one issue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JiraIssue {
    /// Summary.
    pub summary: Option<String>,
    /// Status name.
    pub status: Option<String>,
    /// Assignee display name.
    pub assignee: Option<String>,
}

/// Why one look-up failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// The issue does not exist (or the token cannot see it): only this key.
    Missing(String),
    /// Jira is unusable for this request (timeout, refused credentials, unreachable): stop.
    Stop(String),
}

/// A Jira client with a per-process cache.
#[derive(Debug)]
pub struct Jira {
    config: JiraConfig,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Option<JiraIssue>>>,
}

// Wire shapes of `GET /rest/api/2/issue/{key}` (only the fields asked for).
#[derive(Deserialize)]
struct WireIssue {
    fields: Option<WireFields>,
}

#[derive(Deserialize)]
struct WireFields {
    summary: Option<String>,
    status: Option<WireNamed>,
    assignee: Option<WireUser>,
}

#[derive(Deserialize)]
struct WireNamed {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUser {
    display_name: Option<String>,
    name: Option<String>,
}

impl Jira {
    /// A client for `config`.
    pub fn new(config: JiraConfig) -> Result<Jira, String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| format!("cannot set up the Jira client: {e}"))?;
        Ok(Jira { config, http, cache: Mutex::new(HashMap::new()) })
    }

    /// A client configured from the environment ([`JiraConfig::from_env`]); `None` when Jira is not
    /// configured or the client cannot be built.
    pub fn from_env() -> Option<Jira> {
        JiraConfig::from_env().and_then(|c| Jira::new(c).ok())
    }

    /// The server's base URL (for `/browse/KEY` links).
    pub fn base_url(&self) -> &str {
        &self.config.url
    }

    fn mask(&self, text: &str) -> String {
        if self.config.token.len() >= 4 { text.replace(&self.config.token, "***") } else { text.to_owned() }
    }

    /// One issue, from the cache or from Jira.
    async fn issue(&self, key: &str) -> Result<JiraIssue, Failure> {
        if let Some(hit) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned() {
            return hit
                .ok_or_else(|| Failure::Missing(format!("Jira has no issue {key} (or the token cannot see it)")));
        }
        let url = format!("{}/rest/api/2/issue/{key}?fields=summary,assignee,status", self.config.url);
        let request = self.http.get(&url).header("Accept", "application/json");
        let request = match &self.config.user {
            Some(user) => request.basic_auth(user, Some(&self.config.token)),
            None => request.bearer_auth(&self.config.token),
        };
        let response = request.send().await.map_err(|e| {
            Failure::Stop(if e.is_timeout() {
                format!("Jira at {} did not answer within {:?}", self.config.url, self.config.timeout)
            } else {
                self.mask(&format!("cannot reach Jira at {}: {e}", self.config.url))
            })
        })?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            401 | 403 => {
                return Err(Failure::Stop(format!(
                    "Jira at {} refused the credentials ({status}); check {ENV_TOKEN} (and {ENV_USER} for Jira Cloud)",
                    self.config.url
                )));
            }
            404 => {
                self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), None);
                return Err(Failure::Missing(format!("Jira has no issue {key} (or the token cannot see it)")));
            }
            other => return Err(Failure::Stop(format!("Jira at {} answered {other}", self.config.url))),
        }
        let body = response.bytes().await.map_err(|e| {
            Failure::Stop(if e.is_timeout() {
                format!("Jira at {} did not answer within {:?}", self.config.url, self.config.timeout)
            } else {
                self.mask(&format!("reading Jira's answer failed: {e}"))
            })
        })?;
        let wire: WireIssue = serde_json::from_slice(&body)
            .map_err(|e| Failure::Missing(format!("Jira's answer about {key} is not an issue: {e}")))?;
        let fields = wire.fields;
        let issue = JiraIssue {
            summary: fields.as_ref().and_then(|f| f.summary.clone()),
            status: fields.as_ref().and_then(|f| f.status.as_ref()).and_then(|s| s.name.clone()),
            assignee: fields
                .as_ref()
                .and_then(|f| f.assignee.as_ref())
                .and_then(|a| a.display_name.clone().or_else(|| a.name.clone())),
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), Some(issue.clone()));
        Ok(issue)
    }

    /// Adds summary, status and assignee to every Jira issue of `notes` (and `/browse/` links where
    /// there is none). Failures are added to `notes.warnings`.
    pub async fn enrich(&self, notes: &mut Notes) {
        let keys: BTreeSet<String> = notes
            .issues
            .iter()
            .chain(notes.components.iter().flat_map(|c| c.issues.iter()))
            .filter(|i| i.kind == JIRA)
            .map(|i| i.key.clone())
            .collect();
        if keys.is_empty() {
            return;
        }
        let total = keys.len();
        use futures_util::StreamExt as _;
        let mut answers = futures_util::stream::iter(keys.into_iter().map(|key| async move {
            let result = self.issue(&key).await;
            (key, result)
        }))
        .buffer_unordered(CONCURRENCY);
        let mut found: HashMap<String, JiraIssue> = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        let mut stop: Option<String> = None;
        while let Some((key, result)) = answers.next().await {
            match result {
                Ok(issue) => {
                    found.insert(key, issue);
                }
                Err(Failure::Missing(m)) => missing.push(m),
                // The first reason is enough; the look-ups still in flight end with the same one.
                Err(Failure::Stop(m)) => {
                    stop.get_or_insert(m);
                }
            }
            if stop.is_some() {
                break;
            }
        }
        drop(answers);
        missing.sort();
        let n = total - found.len() - missing.len();
        for m in missing {
            notes.warnings.push(m);
        }
        if let Some(m) = stop {
            notes
                .warnings
                .push(format!("{m}; {n} issue{} shown without Jira details", if n == 1 { " is" } else { "s are" }));
        }
        let browse = format!("{}/browse/", self.config.url);
        for issue in notes.issues.iter_mut().chain(notes.components.iter_mut().flat_map(|c| c.issues.iter_mut())) {
            if issue.kind != JIRA {
                continue;
            }
            if issue.url.is_none() {
                issue.url = Some(format!("{browse}{}", issue.key));
            }
            if let Some(j) = found.get(&issue.key) {
                issue.summary = j.summary.clone();
                issue.status = j.status.clone();
                issue.assignee = j.assignee.clone();
            }
        }
    }
}
