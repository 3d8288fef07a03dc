//! API tokens (SPEC §8.2): secrets, their hashes, roles, scopes, and creating tokens — through the API,
//! offline into a data directory, and the first admin token of `--bootstrap-token-file`.
//!
//! A secret is `ferry_` followed by 256 random bits in unpadded base64url; only its SHA-256 is stored,
//! and stored hashes are compared in constant time. Web UI sessions use the same scheme with the
//! `ferrys_` prefix, so a session cookie can never be used as a token.

use std::path::Path;

use base64::Engine as _;
use ferry_model::resources::EnvironmentType;
use ferry_store::{Store, StoreError, TokenRow, Write};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of token secrets.
const TOKEN_PREFIX: &str = "ferry_";
/// Prefix of UI session secrets.
const SESSION_PREFIX: &str = "ferrys_";
/// Characters of 32 bytes in unpadded base64url.
const SECRET_CHARS: usize = 43;
/// Longest token name.
const MAX_NAME: usize = 63;
/// Most product globs or environment types on one token.
const MAX_SCOPES: usize = 32;

pub use ferry_api::{CreatedToken, NewToken, Role};
use ferry_api::{Token, TokenStatus};

/// Why a token cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A field is not valid: the field and the problem.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field (`name`, `role`, `products[0]`, …).
        field: String,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// The name is taken (revoked tokens included) or the secret is known.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("{0}")]
    Store(StoreError),
    /// The operating system's random number generator failed.
    #[error("cannot make a secret: the operating system's random number generator failed: {0}")]
    Random(String),
    /// The bootstrap token file cannot be read or written.
    #[error("--bootstrap-token-file {path}: {problem}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        problem: String,
    },
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> TokenError {
        match e {
            StoreError::Conflict(m) => TokenError::Conflict(m),
            other => TokenError::Store(other),
        }
    }
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> TokenError {
    TokenError::Invalid { field: field.into(), problem: problem.into() }
}

pub(crate) fn random_part() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A new token secret: `ferry_` + 256 random bits from the operating system.
pub fn generate_secret() -> Result<String, TokenError> {
    Ok(format!("{TOKEN_PREFIX}{}", random_part()?))
}

/// A new UI session secret: `ferrys_` + 256 random bits from the operating system.
pub fn generate_session() -> Result<String, TokenError> {
    Ok(format!("{SESSION_PREFIX}{}", random_part()?))
}

fn has_shape(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == SECRET_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether `text` has the shape of a token secret.
pub fn looks_like_secret(text: &str) -> bool {
    has_shape(text, TOKEN_PREFIX)
}

/// Whether `text` has the shape of a session secret.
pub fn looks_like_session(text: &str) -> bool {
    has_shape(text, SESSION_PREFIX)
}

/// Hex SHA-256 of a secret: what the store keeps.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two hashes in constant time.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Parses an environment type as tokens take it: `production`/`non-production`, or `PROD`/`NON_PROD`.
pub fn parse_env_type(text: &str) -> Result<EnvironmentType, String> {
    match text {
        "production" | "PROD" => Ok(EnvironmentType::Production),
        "non-production" | "NON_PROD" => Ok(EnvironmentType::NonProduction),
        other => Err(format!("{other:?} is not an environment type (expected production or non-production)")),
    }
}

/// Whether `name` matches a glob with `*` (any run of characters) and `?` (one character).
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    // Iterative matcher with one backtrack point (linear in practice, no recursion).
    let (mut gi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

/// Checks a token name: 1 to 63 characters of lowercase letters, digits, `-`, `_` and `.`, starting
/// with a letter or digit.
pub fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!(
                "{name:?} is not a token name (1 to {MAX_NAME} lowercase letters, digits, '-', '_' or '.', \
                 starting with a letter or digit)"
            ),
        ))
    }
}

/// A token as listed — never its secret or hash — with its status at `now`; `Err` names a stored role
/// that does not read.
pub fn listed(t: TokenRow, now: Timestamp) -> Result<Token, String> {
    let status = if t.revoked_at.is_some() {
        TokenStatus::Revoked
    } else if t.expires_at.is_some_and(|e| e <= now) {
        TokenStatus::Expired
    } else {
        TokenStatus::Active
    };
    Ok(Token {
        role: t.role.parse::<Role>()?,
        name: t.name,
        products: t.products,
        env_types: t.env_types,
        created_at: t.created_at,
        created_by: t.created_by,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        status,
    })
}

/// Checks a request and turns it into the row to store (with a new secret).
pub fn prepare(new: &NewToken, created_by: &str, now: Timestamp) -> Result<(TokenRow, String), TokenError> {
    check_name(&new.name)?;
    let role = new.role.parse::<Role>().map_err(|e| invalid("role", e))?;
    if new.products.len() > MAX_SCOPES {
        return Err(invalid("products", format!("at most {MAX_SCOPES} globs")));
    }
    for (i, glob) in new.products.iter().enumerate() {
        let ok = !glob.is_empty()
            && glob.len() <= 253
            && glob.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '*' | '?'));
        if !ok {
            return Err(invalid(
                format!("products[{i}]"),
                format!("{glob:?} is not a product glob (product-name characters a-z 0-9 '-', with '*' and '?')"),
            ));
        }
    }
    let mut env_types = Vec::new();
    for (i, t) in new.env_types.iter().enumerate() {
        let t = parse_env_type(t).map_err(|e| invalid(format!("envTypes[{i}]"), e))?;
        if !env_types.contains(&t.as_str().to_owned()) {
            env_types.push(t.as_str().to_owned());
        }
    }
    if role == Role::Viewer && (!new.products.is_empty() || !env_types.is_empty()) {
        return Err(invalid("role", "a viewer reads everything: products and envTypes apply to promoters"));
    }
    if role == Role::Admin && (!new.products.is_empty() || !env_types.is_empty()) {
        return Err(invalid("role", "an admin may do everything: products and envTypes apply to promoters"));
    }
    let expires_at = match &new.expires {
        None => None,
        Some(text) => {
            let d = ferry_model::parse_duration(text).map_err(|e| invalid("expires", e.to_string()))?;
            let span = jiff::SignedDuration::try_from(d).map_err(|e| invalid("expires", e.to_string()))?;
            if span.is_zero() {
                return Err(invalid("expires", "must be longer than zero"));
            }
            Some(now.checked_add(span).map_err(|_| invalid("expires", format!("{text:?} is too far away")))?)
        }
    };
    let secret = generate_secret()?;
    let row = TokenRow {
        name: new.name.clone(),
        hash: hash_secret(&secret),
        role: role.as_str().to_owned(),
        products: new.products.clone(),
        env_types,
        created_at: now,
        created_by: created_by.to_owned(),
        expires_at,
        revoked_at: None,
    };
    Ok((row, secret))
}

fn created(row: &TokenRow, secret: String) -> CreatedToken {
    CreatedToken {
        name: row.name.clone(),
        role: row.role.parse().unwrap_or(Role::Viewer),
        token: secret,
        products: row.products.clone(),
        env_types: row.env_types.clone(),
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

/// Creates a token in `store` (the API's `POST /api/v1/tokens` and the offline `ferry token create
/// --data DIR`).
pub async fn create<S: Store>(store: &S, new: &NewToken, created_by: &str) -> Result<CreatedToken, TokenError> {
    let (row, secret) = prepare(new, created_by, Timestamp::now())?;
    write_one(store, Write::Token(Box::new(row.clone()))).await?;
    Ok(created(&row, secret))
}

async fn write_one<S: Store>(store: &S, write: Write) -> Result<(), TokenError> {
    let outcome = store.write(vec![write]).await?;
    match outcome.into_iter().next() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(e.into()),
        None => Err(TokenError::Store(StoreError::Closed)),
    }
}

/// What `--bootstrap-token-file` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// The file was absent: a new admin token was created and written to it.
    Created {
        /// The token's name.
        name: String,
    },
    /// The file holds the secret of a usable admin token.
    Existing {
        /// The token's name.
        name: String,
    },
    /// The file held a secret this store did not know: it was registered as an admin token.
    Registered {
        /// The token's name.
        name: String,
    },
}

/// The first admin token (`ferry server --bootstrap-token-file FILE`): reads the secret from `file`,
/// or creates an admin token and writes its secret to `file` (mode 0600) when the file is absent.
/// The secret is never printed.
pub async fn bootstrap<S: Store>(store: &S, file: &Path) -> Result<Bootstrap, TokenError> {
    let path = file.display().to_string();
    let file_err = |problem: String| TokenError::File { path: path.clone(), problem };
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let secret = text.trim();
            if !looks_like_secret(secret) {
                return Err(file_err(
                    "does not hold a Ferry token (expected one line `ferry_…`); delete it to have a new one made"
                        .to_owned(),
                ));
            }
            let hash = hash_secret(secret);
            match store.token_by_hash(&hash).await? {
                Some(row) if row.role != Role::Admin.as_str() => {
                    Err(file_err(format!("holds the token {:?}, which is not an admin token", row.name)))
                }
                Some(row) if row.revoked_at.is_some() => Err(file_err(format!(
                    "holds the token {:?}, which was revoked; delete the file to have a new one made",
                    row.name
                ))),
                Some(row) if row.expires_at.is_some_and(|e| e <= Timestamp::now()) => {
                    Err(file_err(format!("holds the token {:?}, which has expired", row.name)))
                }
                Some(row) => Ok(Bootstrap::Existing { name: row.name }),
                None => {
                    let name = free_name(store).await?;
                    let row = TokenRow {
                        name: name.clone(),
                        hash,
                        role: Role::Admin.as_str().to_owned(),
                        products: Vec::new(),
                        env_types: Vec::new(),
                        created_at: Timestamp::now(),
                        created_by: "bootstrap".to_owned(),
                        expires_at: None,
                        revoked_at: None,
                    };
                    write_one(store, Write::Token(Box::new(row))).await?;
                    Ok(Bootstrap::Registered { name })
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = free_name(store).await?;
            let new = NewToken { name: name.clone(), role: "admin".into(), ..NewToken::default() };
            let (row, secret) = prepare(&new, "bootstrap", Timestamp::now())?;
            // The file first: a token whose secret was never written anywhere would be useless.
            write_secret_file(file, &secret).map_err(|e| file_err(format!("cannot create it: {e}")))?;
            write_one(store, Write::Token(Box::new(row))).await?;
            Ok(Bootstrap::Created { name })
        }
        Err(e) => Err(file_err(format!("cannot read it: {e}"))),
    }
}

/// `bootstrap`, or `bootstrap-2`, … whichever is free.
async fn free_name<S: Store>(store: &S) -> Result<String, TokenError> {
    let taken: Vec<String> = store.tokens().await?.into_iter().map(|t| t.name).collect();
    let name = std::iter::once("bootstrap".to_owned())
        .chain((2..).map(|n| format!("bootstrap-{n}")))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| "bootstrap".to_owned());
    Ok(name)
}

/// Writes `secret` to a new file readable by its owner only.
fn write_secret_file(file: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn secrets_have_their_shape_and_hash_to_sha256() {
        let s = generate_secret().unwrap();
        assert!(looks_like_secret(&s) && !looks_like_session(&s), "{s}");
        assert_ne!(s, generate_secret().unwrap());
        let session = generate_session().unwrap();
        assert!(looks_like_session(&session) && !looks_like_secret(&session));
        // SHA-256("abc"), the FIPS 180-2 test vector.
        assert_eq!(hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(hashes_equal("ab", "ab") && !hashes_equal("ab", "ac") && !hashes_equal("ab", "abc"));
        assert!(!looks_like_secret("ferry_short") && !looks_like_secret(&format!("ferry_{}", "a".repeat(42) + "+")));
    }

    #[test]
    fn globs() {
        let cases = [
            ("*", "shop", true),
            ("shop", "shop", true),
            ("shop", "shop2", false),
            ("shop-*", "shop-eu", true),
            ("shop-*", "shop", false),
            ("*-eu", "shop-eu", true),
            ("s?op", "shop", true),
            ("s*p*", "shopping", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("", "", true),
            ("", "a", false),
        ];
        for (glob, name, expect) in cases {
            assert_eq!(glob_match(glob, name), expect, "{glob} vs {name}");
        }
    }

    fn request(name: &str, role: &str) -> NewToken {
        NewToken { name: name.into(), role: role.into(), ..NewToken::default() }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let now = Timestamp::UNIX_EPOCH;
        let check = |new: NewToken| prepare(&new, "admin", now).map(|(row, _)| row).map_err(|e| e.to_string());
        let ok = check(NewToken {
            products: vec!["shop-*".into()],
            env_types: vec!["NON_PROD".into(), "non-production".into()],
            expires: Some("90d".into()),
            ..request("ci-deploy", "promoter")
        })
        .unwrap();
        assert_eq!((ok.role.as_str(), ok.env_types.as_slice()), ("promoter", ["non-production".to_owned()].as_slice()));
        assert_eq!(ok.expires_at, Some(now + jiff::SignedDuration::from_hours(90 * 24)));
        assert_eq!(ok.hash.len(), 64);
        let cases = [
            (request("CI", "viewer"), "name: \"CI\" is not a token name"),
            (request("", "viewer"), "name: \"\" is not a token name"),
            (request("ci", "owner"), "role: \"owner\" is not a role"),
            (NewToken { products: vec!["Shop".into()], ..request("ci", "promoter") }, "products[0]: \"Shop\""),
            (NewToken { env_types: vec!["prod".into()], ..request("ci", "promoter") }, "envTypes[0]: \"prod\""),
            (NewToken { expires: Some("soon".into()), ..request("ci", "promoter") }, "expires: "),
            (NewToken { expires: Some("0s".into()), ..request("ci", "promoter") }, "expires: must be longer"),
            (NewToken { products: vec!["x".into()], ..request("ci", "viewer") }, "role: a viewer reads everything"),
        ];
        for (new, expect) in cases {
            let e = check(new).unwrap_err();
            assert!(e.starts_with(expect), "{e} does not start with {expect}");
        }
    }

    proptest! {
        #[test]
        fn globs_without_wildcards_are_equality(a in "[a-z-]{0,8}", b in "[a-z-]{0,8}") {
            prop_assert_eq!(glob_match(&a, &b), a == b);
        }

        #[test]
        fn a_star_matches_every_suffix(prefix in "[a-z]{0,6}", rest in "[a-z-]{0,12}") {
            let glob = format!("{prefix}*");
            let name = format!("{prefix}{rest}");
            prop_assert!(glob_match(&glob, &name));
        }

        #[test]
        fn the_bearer_parser_never_panics(text in "\\PC{0,80}") {
            let _ = super::super::parse_bearer(&text);
        }
    }
}
