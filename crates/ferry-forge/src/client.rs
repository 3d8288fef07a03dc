//! [`Forge`]: one configured forge (its kind, API and credentials), with the calls Ferry makes,
//! each spoken in the forge's own REST dialect.

use ferry_model::resources::ForgeType;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::auth::Credentials;
use crate::error::ForgeError;
use crate::http::{Api, AuthStyle, Call, RetryPolicy};
use crate::types::{CommitStatus, ForgePr, NewPr};
use crate::{gitea, github, gitlab, repos};

/// One forge: kind, API base and credentials.
#[derive(Debug)]
pub struct Forge {
    kind: ForgeType,
    api: Api,
    credentials: Credentials,
}

impl Forge {
    /// A forge of `kind` at `api_url`; `local` is not a forge.
    pub fn new(
        kind: ForgeType,
        api_url: &str,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> Result<Forge, ForgeError> {
        let style = match kind {
            ForgeType::Github => AuthStyle::Bearer,
            ForgeType::Gitlab => AuthStyle::PrivateToken,
            ForgeType::Gitea => AuthStyle::Token,
            ForgeType::Local => return Err(ForgeError::Settings("the local provider is not a forge".into())),
        };
        Ok(Forge { kind, api: Api::new(api_url, style, retry)?, credentials })
    }

    /// The forge's kind.
    pub fn kind(&self) -> ForgeType {
        self.kind
    }

    /// The API base URL.
    pub fn api_url(&self) -> &str {
        self.api.base()
    }

    /// GitHub's GraphQL endpoint beside the REST base (`…/api/v3` → `…/api/graphql` on Enterprise).
    pub(crate) fn graphql_url(&self) -> String {
        let base = self.api.base();
        match base.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{base}/graphql"),
        }
    }

    /// One call about `repo` with its token; `what` names it in errors (with the repository).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        repo: &str,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<T, ForgeError> {
        let token = self.credentials.token(&self.api, repo).await?;
        let what = format!("{what} ({repo})");
        self.api.json(Call { method, path, body, what: &what }, token.as_deref()).await
    }

    /// The newest pull request of `repo` from branch `head`, in any state.
    pub async fn find(&self, repo: &str, head: &str) -> Result<Option<ForgePr>, ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::find(self, repo, head).await,
            ForgeType::Gitea => gitea::find(self, repo, head).await,
            _ => github::find(self, repo, head).await,
        }
    }

    /// Opens a pull request with its labels and reviewers.
    pub async fn create(&self, repo: &str, pr: &NewPr) -> Result<ForgePr, ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::create(self, repo, pr).await,
            ForgeType::Gitea => gitea::create(self, repo, pr).await,
            _ => github::create(self, repo, pr).await,
        }
    }

    /// A pull request as the forge has it now (a closed one with who closed it, where the forge says).
    pub async fn get(&self, repo: &str, number: u64) -> Result<ForgePr, ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::get(self, repo, number).await,
            ForgeType::Gitea => gitea::get(self, repo, number).await,
            _ => github::get(self, repo, number).await,
        }
    }

    /// Closes (`open: false`) or reopens a pull request.
    pub async fn set_open(&self, repo: &str, number: u64, open: bool) -> Result<(), ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::set_open(self, repo, number, open).await,
            _ => repos::set_open(self, repo, number, open).await,
        }
    }

    /// Adds a comment (`id: None`) or rewrites comment `id`; the comment's id.
    pub async fn comment(&self, repo: &str, number: u64, id: Option<u64>, text: &str) -> Result<u64, ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::comment(self, repo, number, id, text).await,
            _ => repos::comment(self, repo, number, id, text).await,
        }
    }

    /// Merges a pull request with a merge commit titled `title`; the merged pull request.
    pub async fn merge(&self, repo: &str, number: u64, title: &str) -> Result<ForgePr, ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::merge(self, repo, number, title).await,
            ForgeType::Gitea => gitea::merge(self, repo, number, title).await,
            _ => github::merge(self, repo, number, title).await,
        }
    }

    /// Turns on the forge's own auto-merge for a pull request.
    pub async fn auto_merge(&self, repo: &str, pr: &ForgePr) -> Result<(), ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::auto_merge(self, repo, pr).await,
            ForgeType::Gitea => gitea::auto_merge(self, repo, pr).await,
            _ => github::auto_merge(self, repo, pr).await,
        }
    }

    /// Sets a commit status on `sha`.
    pub async fn status(&self, repo: &str, sha: &str, status: &CommitStatus) -> Result<(), ForgeError> {
        match self.kind {
            ForgeType::Gitlab => gitlab::status(self, repo, sha, status).await,
            _ => repos::status(self, repo, sha, status).await,
        }
    }
}
