//! `ferry login`, `ferry logout` and `ferry context list|use`: the contexts of `config.toml`.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use ferry_api::{Role, WhoAmI};
use serde_json::{Value, json};

use crate::client::{Client, Credentials};
use crate::contexts::{self, Config, Context, Secret, check_name, check_server};
use crate::render::{s, table};
use crate::{Globals, Invalid, Output, style};

/// The file, or an error when there is no home directory to keep it in.
fn required_path(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    path.ok_or_else(|| {
        Invalid("no configuration directory: set XDG_CONFIG_HOME or HOME to keep contexts".to_owned()).into()
    })
}

/// A context by name, or exit 2 naming the known ones.
fn known<'a>(config: &'a mut Config, name: &str) -> anyhow::Result<&'a mut Context> {
    let list = config.known();
    config.contexts.get_mut(name).ok_or_else(|| Invalid(format!("no context named {name:?} (known: {list})")).into())
}

/// `ferry login --server URL --token-stdin [--name NAME]`.
pub fn login(globals: &Globals, name: Option<String>, output: Output) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Invalid(format!("--token-stdin: cannot read standard input: {e}")))?;
    let token = Secret::new(&text);
    if token.expose().is_empty() {
        return Err(Invalid(
            "--token-stdin: standard input is empty; pipe the token in, e.g. `< token-file`".to_owned(),
        )
        .into());
    }
    if token.expose().lines().count() > 1 {
        return Err(Invalid("--token-stdin: expected one line holding the token".to_owned()).into());
    }
    let (path, mut config) = globals.config()?;
    let path = required_path(path)?;
    // The server as for any command; the token is the one read, not a saved one.
    let target = contexts::resolve(&globals.inputs, &config);
    let server = target.server.trim_end_matches('/').to_owned();
    check_server(&server).map_err(|e| Invalid(format!("--server: {e}")))?;
    let name = name.unwrap_or_else(|| contexts::default_name(&server));
    check_name(&name).map_err(|e| Invalid(format!("--name: {e}")))?;
    let credentials = Credentials { token: Some(token.clone()), ca_certs: globals.ca_certs()? };
    let client = Client::new(&server, credentials)?;
    let whoami: WhoAmI = crate::block_on(async move { Ok(client.get_as("/api/v1/whoami").await?) })?;
    if !whoami.auth {
        eprintln!(
            "{} {server} does not require tokens (a loopback server without --auth): the token was not checked",
            style::warning_label()
        );
    }
    config.contexts.insert(name.clone(), Context { server: server.clone(), token: Some(token) });
    config.current = Some(name.clone());
    contexts::save(&path, &config)?;
    let who = &whoami.name;
    let role = whoami.role.map_or("", Role::as_str);
    if output == Output::Json {
        let doc = json!({
            "context": name, "server": server, "name": who, "role": whoami.role,
            "products": whoami.products, "envTypes": whoami.env_types, "auth": whoami.auth,
            "file": path.display().to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{}", style::ok(&format!("logged in to {server} as {who} ({role})")));
        println!("{}", style::hint(&format!("context {name:?} saved in {} and made current", path.display())));
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry logout [NAME]`: removes the token of a context (the current one by default).
pub fn logout(globals: &Globals, name: Option<String>, output: Output) -> anyhow::Result<ExitCode> {
    let (path, mut config) = globals.config()?;
    let path = required_path(path)?;
    let name = match name.or_else(|| config.current.clone()) {
        Some(name) => name,
        None => {
            return Err(
                Invalid(format!("no current context to log out of; name one (known: {})", config.known())).into()
            );
        }
    };
    let context = known(&mut config, &name)?;
    let had_token = context.token.take().is_some();
    let server = context.server.clone();
    if had_token {
        contexts::save(&path, &config)?;
    }
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"context": name, "server": server, "removed": had_token}))?
        );
    } else if had_token {
        println!("{}", style::ok(&format!("logged out of {server}: the token of context {name:?} was removed")));
    } else {
        println!("context {name:?} ({server}) holds no token");
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry context list`.
pub fn list(globals: &Globals, output: Output) -> anyhow::Result<ExitCode> {
    let (path, config) = globals.config()?;
    let items: Vec<Value> = config
        .contexts
        .iter()
        .map(|(name, c)| {
            json!({
                "name": name, "server": c.server, "current": config.current.as_deref() == Some(name.as_str()),
                "loggedIn": c.token.is_some(),
            })
        })
        .collect();
    if output == Output::Json {
        let file = path.map(|p| p.display().to_string());
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"current": config.current, "items": items, "file": file}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        println!("No contexts. Save one with `ferry login --server URL --token-stdin`.");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                if i["current"] == true { "*".to_owned() } else { String::new() },
                s(i, "name").to_owned(),
                s(i, "server").to_owned(),
                if i["loggedIn"] == true { "saved".to_owned() } else { "-".to_owned() },
            ]
        })
        .collect();
    print!("{}", table(&["CURRENT", "NAME", "SERVER", "TOKEN"], &rows));
    Ok(ExitCode::SUCCESS)
}

/// `ferry context use NAME`.
pub fn use_context(globals: &Globals, name: &str) -> anyhow::Result<ExitCode> {
    let (path, mut config) = globals.config()?;
    let path = required_path(path)?;
    let server = known(&mut config, name)?.server.clone();
    config.current = Some(name.to_owned());
    contexts::save(&path, &config)?;
    println!("{}", style::ok(&format!("using context {name:?} ({server})")));
    Ok(ExitCode::SUCCESS)
}
