//! Tokens, the audit log and the caller (SPEC §8.2): `GET/POST /api/v1/tokens`,
//! `POST /api/v1/tokens/{name}/revoke`, `GET /api/v1/audit`, `GET /api/v1/whoami`.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::list_type;

/// A role, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every read.
    Viewer,
    /// viewer + promote, retry, terminate, approve, pull requests, image and status reports, in scope.
    Promoter,
    /// Everything: apply, tokens, audit.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Promoter => "promoter",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "promoter" => Ok(Role::Promoter),
            "admin" => Ok(Role::Admin),
            other => Err(format!("{other:?} is not a role (expected viewer, promoter or admin)")),
        }
    }
}

/// Whether a token works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    /// It works.
    Active,
    /// Its lifetime is over.
    Expired,
    /// It was revoked.
    Revoked,
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// Name, unique and never reused; recorded as the actor of what the token does.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Product globs the token may act on; empty = every product.
    pub products: Vec<String>,
    /// Environment types (`production`, `non-production`) it may act on; empty = every type.
    pub env_types: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// Who created it (a token name, or `offline` / `bootstrap`).
    pub created_by: String,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Whether it works.
    pub status: TokenStatus,
}

list_type!(
    /// `GET /api/v1/tokens`, by name.
    TokenList of Token
);

/// A token to create, as the API and the CLI take it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    /// Name: lowercase letters, digits, `.`, `_` and `-`, at most 63 characters.
    pub name: String,
    /// `viewer`, `promoter` or `admin`.
    pub role: String,
    /// Product globs (`*`, `?`); promoters only; empty = every product.
    #[serde(default)]
    pub products: Vec<String>,
    /// Environment types (`production`, `non-production`); promoters only; empty = every type.
    #[serde(default)]
    pub env_types: Vec<String>,
    /// Lifetime, e.g. `90d`; none = until revoked.
    #[serde(default)]
    pub expires: Option<String>,
}

/// A created token: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The secret: show it once, it cannot be read again.
    pub token: String,
    /// Product globs; empty = every product.
    pub products: Vec<String>,
    /// Environment types; empty = every type.
    pub env_types: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Option<Timestamp>,
}

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// Done.
    Ok,
    /// Refused (401, 403).
    Denied,
    /// Failed.
    Failed,
}

/// One audit log entry: a state-changing request of an identified caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// Who: a token name, the local user on an auth-less server, or `webhook:<provider>`.
    pub actor: String,
    /// What, e.g. `release.terminate`.
    pub action: String,
    /// On what: the request path.
    pub target: String,
    /// The HTTP status answered.
    pub status: u16,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The peer address of the request.
    pub source: String,
    /// A short explanation when it was denied or failed.
    pub detail: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Entries.
    pub items: Vec<AuditEntry>,
    /// Cursor of the next page (the `cursor=` parameter), or `null` on the last page.
    pub next: Option<String>,
}

/// Who the server takes the caller for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// Token name, or the local user on an auth-less server.
    pub name: String,
    /// Role; `null` for a caller without one.
    pub role: Option<Role>,
    /// Product globs (promoters); empty = every product.
    pub products: Vec<String>,
    /// Environment types (promoters); empty = every type.
    pub env_types: Vec<String>,
    /// Whether the server requires tokens.
    pub auth: bool,
}
