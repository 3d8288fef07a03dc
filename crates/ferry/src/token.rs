//! `ferry token create|list|revoke` (SPEC §8.2): through the server's API, or offline on a data
//! directory's database (`--data DIR`) — the one place the CLI opens the store itself, for the first
//! admin token of a new installation and for recovery.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use ferry_api::{CreatedToken, Token, TokenList};
use ferry_server::auth::NewToken;
use ferry_server::auth::tokens::{self, TokenError};
use ferry_store::{AnyStore, SqliteStore, Store, TokenRow, Write};
use serde_json::json;

use crate::output::{ListOutput, print_data};
use crate::release::enc;
use crate::render::{table, time_of};
use crate::{Globals, Invalid, Output, block_on, style};

/// Who created a token made offline.
const OFFLINE_CREATOR: &str = "offline";

/// Where a token command works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The server, over its API.
    Server,
    /// The database of a data directory, directly.
    Data(PathBuf),
    /// A database, directly (`--database`).
    Database(ferry_store::Database),
}

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenRole {
    /// Every read.
    Viewer,
    /// viewer + promote, retry, terminate, approve, pull requests, image and status reports.
    Promoter,
    /// Everything: apply, tokens, audit.
    Admin,
}

impl TokenRole {
    /// The API's name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Viewer => "viewer",
            TokenRole::Promoter => "promoter",
            TokenRole::Admin => "admin",
        }
    }
}

/// Opens the store of an offline place: `DIR/ferry.db` (with `create`, a new data directory and
/// database are made when missing), or a database (migrated when needed).
async fn open(place: &Place, create: bool) -> anyhow::Result<AnyStore> {
    let dir = match place {
        Place::Data(dir) => dir,
        Place::Database(database) => return database.open(true).await.map_err(|e| anyhow::anyhow!("{e}")),
        Place::Server => anyhow::bail!("a server is not a database"),
    };
    let db = dir.join("ferry.db");
    if !create && !db.exists() {
        return Err(Invalid(format!("--data {}: there is no database {} here", dir.display(), db.display())).into());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))?;
    Ok(AnyStore::Sqlite(SqliteStore::open(&db).await.map_err(|e| anyhow::anyhow!("{e}"))?))
}

/// A token as the API lists it: never its secret or hash, with its status now.
fn listed(row: &TokenRow, now: jiff::Timestamp) -> anyhow::Result<Token> {
    tokens::listed(row.clone(), now).map_err(|e| anyhow::anyhow!("the stored token {:?}: {e}", row.name))
}

fn token_error(e: TokenError) -> anyhow::Error {
    match e {
        TokenError::Invalid { .. } => Invalid(e.to_string()).into(),
        other => anyhow::anyhow!("{other}"),
    }
}

/// `ferry token create`.
pub fn create(globals: &Globals, place: Place, new: NewToken, output: Output) -> anyhow::Result<ExitCode> {
    let created = match place {
        Place::Server => {
            let client = globals.client()?;
            let body = serde_json::to_value(&new)?;
            block_on(async move { Ok(client.post_as::<CreatedToken>("/api/v1/tokens", &body).await?) })?
        }
        offline => block_on(async move {
            let store = open(&offline, true).await?;
            tokens::create(&store, &new, OFFLINE_CREATOR).await.map_err(token_error)
        })?,
    };
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&created)?);
        return Ok(ExitCode::SUCCESS);
    }
    let expires = match created.expires_at {
        None => "never expires".to_owned(),
        at => format!("expires {}", time_of(at)),
    };
    let scope = scope(&created.products, &created.env_types);
    let scope = if scope == "-" { String::new() } else { format!(", scope {scope}") };
    eprintln!("{}", style::ok(&format!("token {:?} created: role {}{scope}, {expires}", created.name, created.role)));
    // The secret alone on standard output, so that `> FILE` keeps just it.
    println!("{}", created.token);
    eprintln!(
        "{}",
        style::hint(
            "This is the only time the secret is shown: store it now. Use it with --token, FERRY_TOKEN or \
             `ferry login --token-stdin`."
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// `shop-*, web` and `production`, or `-` for an unscoped token.
fn scope(products: &[String], types: &[String]) -> String {
    match (products.is_empty(), types.is_empty()) {
        (true, true) => "-".to_owned(),
        (false, true) => products.join(","),
        (true, false) => format!("* · {}", types.join(",")),
        (false, false) => format!("{} · {}", products.join(","), types.join(",")),
    }
}

/// `ferry token list`.
pub fn list(globals: &Globals, place: Place, output: ListOutput) -> anyhow::Result<ExitCode> {
    let page = match place {
        Place::Server => {
            let client = globals.client()?;
            block_on(async move { Ok(client.get_as::<TokenList>("/api/v1/tokens").await?) })?
        }
        offline => block_on(async move {
            let store = open(&offline, false).await?;
            let now = jiff::Timestamp::now();
            let rows = store.tokens().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let items = rows.iter().map(|r| listed(r, now)).collect::<anyhow::Result<Vec<Token>>>()?;
            Ok(TokenList { items })
        })?,
    };
    if let Some(format) = output.data() {
        print_data(&page, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = page.items;
    if items.is_empty() {
        println!("No tokens. Create one with `ferry token create NAME --role viewer|promoter|admin`.");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|t| {
            let expires = match t.expires_at {
                None => "never".to_owned(),
                at => time_of(at),
            };
            let mut row = vec![
                t.name.clone(),
                t.role.to_string(),
                scope(&t.products, &t.env_types),
                t.status.to_string(),
                expires,
                t.created_by.clone(),
            ];
            if output.wide() {
                row.extend([
                    time_of(Some(t.created_at)),
                    t.revoked_at.map_or_else(|| "-".to_owned(), |at| time_of(Some(at))),
                ]);
            }
            row
        })
        .collect();
    let mut header = vec!["NAME", "ROLE", "SCOPE", "STATUS", "EXPIRES", "CREATED BY"];
    if output.wide() {
        header.extend(["CREATED", "REVOKED"]);
    }
    print!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

/// `ferry token revoke`.
pub fn revoke(globals: &Globals, place: Place, name: &str, output: Output) -> anyhow::Result<ExitCode> {
    let token = match place {
        Place::Server => {
            let client = globals.client()?;
            let path = format!("/api/v1/tokens/{}/revoke", enc(name));
            block_on(async move { Ok(client.post_as::<Token>(&path, &json!({})).await?) })?
        }
        offline => block_on(async move {
            tokens::check_name(name).map_err(token_error)?;
            let store = open(&offline, false).await?;
            let at = jiff::Timestamp::now();
            let outcome = store.write(vec![Write::RevokeToken { name: name.to_owned(), at }]).await;
            match outcome.map(|o| o.into_iter().next()) {
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) | Err(e) => anyhow::bail!("{e}"),
                Ok(None) => anyhow::bail!("the store answered nothing"),
            }
            let rows = store.tokens().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let row = rows.iter().find(|r| r.name == name).ok_or_else(|| anyhow::anyhow!("no token named {name:?}"))?;
            listed(row, at)
        })?,
    };
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&token)?);
    } else {
        println!("{}", style::ok(&format!("token {:?} revoked", token.name)));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_shown_briefly() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (list(&[]), list(&[]), "-"),
            (list(&["shop-*", "web"]), list(&[]), "shop-*,web"),
            (list(&[]), list(&["production"]), "* · production"),
            (list(&["a"]), list(&["non-production"]), "a · non-production"),
        ];
        for (products, types, expect) in cases {
            assert_eq!(scope(&products, &types), expect, "{products:?} {types:?}");
        }
    }

    #[tokio::test]
    async fn offline_tokens_are_created_listed_and_revoked_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let place = Place::Data(data);
        let missing = open(&place, false).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("there is no database"), "{missing}");
        let store = open(&place, true).await.unwrap();
        let new =
            NewToken { name: "ci".into(), role: "promoter".into(), expires: Some("1d".into()), ..NewToken::default() };
        let created = tokens::create(&store, &new, OFFLINE_CREATOR).await.unwrap();
        assert!(tokens::looks_like_secret(&created.token));
        let rows = store.tokens().await.unwrap();
        let item = serde_json::to_value(listed(&rows[0], jiff::Timestamp::now()).unwrap()).unwrap();
        assert_eq!((item["status"].as_str(), item["createdBy"].as_str()), (Some("active"), Some("offline")));
        assert!(item.get("hash").is_none() && !item.to_string().contains(&created.token));
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48);
        assert_eq!(listed(&rows[0], later).unwrap().status, ferry_api::TokenStatus::Expired);
        let invalid = NewToken { name: "CI".into(), role: "viewer".into(), ..NewToken::default() };
        let e = token_error(tokens::create(&store, &invalid, OFFLINE_CREATOR).await.unwrap_err());
        assert!(e.downcast_ref::<Invalid>().is_some(), "{e}");
    }
}
