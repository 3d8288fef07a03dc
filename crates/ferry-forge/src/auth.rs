//! Credentials: a token read from an environment variable or a file when it is used, or a GitHub
//! App's installation tokens — a JWT signed with the App's private key (RS256) is exchanged for an
//! installation token, kept until shortly before it expires and then minted again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use ferry_model::resources::SecretSource;
use jiff::Timestamp;
use reqwest::Method;
use serde::Deserialize;

use crate::error::ForgeError;
use crate::http::{Api, Call, segment};

/// An installation token is minted again when less than this is left of it.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Reads a secret from its source (the file's text or the variable, trimmed); the error names the
/// source, never the value.
pub fn read_secret(source: &SecretSource) -> Result<String, ForgeError> {
    let (value, from) = match source {
        SecretSource::Env(name) => (std::env::var(name).ok(), format!("environment variable {name}")),
        SecretSource::File(path) => (std::fs::read_to_string(path).ok(), format!("file {path}")),
    };
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ForgeError::Credentials(format!("no token in {from}: set it, or fix the provider's token"))),
    }
}

/// Where a provider's calls get their token.
pub enum Credentials {
    /// A token from its source; `None`: anonymous (public repositories, read-only).
    Token(Option<SecretSource>),
    /// A GitHub App.
    App(AppTokens),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(source) => f.debug_tuple("Token").field(source).finish(),
            Credentials::App(app) => f.debug_struct("App").field("id", &app.app_id).finish(),
        }
    }
}

/// A GitHub App's installation tokens, one per installation, minted as needed.
pub struct AppTokens {
    app_id: u64,
    key: RsaKeyPair,
    /// Installation id per repository (`owner/repo`).
    installations: Mutex<HashMap<String, u64>>,
    /// Token and its expiry per installation.
    tokens: Mutex<HashMap<u64, (String, Timestamp)>>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

/// `POST /app/installations/{installation_id}/access_tokens` answers `installation-token`.
#[derive(Deserialize)]
struct InstallationToken {
    token: String,
    expires_at: Timestamp,
}

impl AppTokens {
    /// The App `app_id` with its private key (PEM: PKCS#1 `RSA PRIVATE KEY`, as GitHub hands it out,
    /// or PKCS#8 `PRIVATE KEY`).
    pub fn new(app_id: u64, private_key_pem: &str) -> Result<AppTokens, ForgeError> {
        let bad = |m: String| ForgeError::Credentials(format!("the GitHub App's private key cannot be used: {m}"));
        let pem = pem::parse(private_key_pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let key = match pem.tag() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(pem.contents()),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(pem.contents()),
            other => return Err(bad(format!("a PEM block {other:?} is not an RSA private key"))),
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok(AppTokens { app_id, key, installations: Mutex::default(), tokens: Mutex::default() })
    }

    /// The App's JWT at `now`: issued a minute back (clock drift), valid nine minutes (GitHub
    /// accepts up to ten), `iss` the App id.
    pub fn jwt(&self, now: Timestamp) -> Result<String, ForgeError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let iat = now.as_second() - 60;
        let claims = b64.encode(format!(r#"{{"iat":{iat},"exp":{},"iss":"{}"}}"#, iat + 600 - 60, self.app_id));
        let input = format!("{header}.{claims}");
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature)
            .map_err(|_| ForgeError::Credentials("cannot sign the GitHub App's JWT".into()))?;
        Ok(format!("{input}.{}", b64.encode(signature)))
    }

    /// An installation token for `repo` (`owner/repo`): the one held while more than
    /// [`REFRESH_MARGIN`] is left of it, else a new one.
    pub async fn token(&self, api: &Api, repo: &str) -> Result<String, ForgeError> {
        let now = Timestamp::now();
        let known = self.installations.lock().ok().and_then(|m| m.get(repo).copied());
        let installation = match known {
            Some(id) => id,
            None => {
                let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
                let what = format!("find the GitHub App installation of {repo}");
                let call = Call {
                    method: Method::GET,
                    path: format!("/repos/{}/{}/installation", segment(owner), segment(name)),
                    body: None,
                    what: &what,
                };
                let found: Installation = api.json(call, Some(&self.jwt(now)?)).await?;
                if let Ok(mut m) = self.installations.lock() {
                    m.insert(repo.to_owned(), found.id);
                }
                found.id
            }
        };
        let held = self.tokens.lock().ok().and_then(|m| m.get(&installation).cloned());
        if let Some((token, expires)) = held
            && expires.duration_since(now).as_secs_f64() > REFRESH_MARGIN.as_secs_f64()
        {
            return Ok(token);
        }
        let what = format!("mint an installation token for {repo}");
        let call = Call {
            method: Method::POST,
            path: format!("/app/installations/{installation}/access_tokens"),
            body: None,
            what: &what,
        };
        let minted: InstallationToken = api.json(call, Some(&self.jwt(now)?)).await?;
        tracing::debug!(target: "ferry::forge", app = self.app_id, installation, expires = %minted.expires_at, "minted a GitHub App installation token");
        if let Ok(mut m) = self.tokens.lock() {
            m.insert(installation, (minted.token.clone(), minted.expires_at));
        }
        Ok(minted.token)
    }
}

impl Credentials {
    /// The token for a call about `repo`; `None` when no token is configured.
    pub async fn token(&self, api: &Api, repo: &str) -> Result<Option<String>, ForgeError> {
        match self {
            Credentials::Token(None) => Ok(None),
            Credentials::Token(Some(source)) => read_secret(source).map(Some),
            Credentials::App(app) => app.token(api, repo).await.map(Some),
        }
    }
}
