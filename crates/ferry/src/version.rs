//! `ferry version`: the client's version and commit, and the server's.

use std::process::ExitCode;

use ferry_api::VersionInfo;
use serde::Serialize;

use crate::output::{ReadOutput, print_data};
use crate::{Globals, block_on, exit, style};

/// Both versions; `server` is `None` when the server did not answer (`error` says why).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    client: VersionInfo,
    server: Option<VersionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_error: Option<String>,
}

/// Runs the command; with `client_only`, the server is not asked. Exit status 1 when the server was
/// asked and did not answer (the client's version is printed all the same).
pub fn run(globals: &Globals, client_only: bool, output: ReadOutput) -> anyhow::Result<ExitCode> {
    let client =
        VersionInfo { version: env!("CARGO_PKG_VERSION").to_owned(), commit: ferry_server::BUILD_COMMIT.to_owned() };
    let (server, server_error) = if client_only {
        (None, None)
    } else {
        let http = globals.client()?;
        let base = http.base().to_owned();
        match block_on(async move { Ok(http.get_as::<VersionInfo>("/api/v1/version").await) })? {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(format!("{base}: {e}"))),
        }
    };
    let failed = server_error.is_some();
    let versions = Versions { client, server, server_error };
    if let Some(format) = output.data() {
        print_data(&versions, format)?;
    } else {
        println!("client: ferry {} (commit {})", versions.client.version, versions.client.commit);
        if let Some(s) = &versions.server {
            println!("server: ferry {} (commit {})", s.version, s.commit);
        }
        if let Some(e) = &versions.server_error {
            eprintln!("{} server: {e}", style::error_label());
        }
    }
    Ok(if failed { ExitCode::from(exit::FAILED) } else { ExitCode::SUCCESS })
}
