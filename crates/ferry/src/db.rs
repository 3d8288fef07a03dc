//! `ferry db migrate` and `ferry db copy` (SPEC §8.1): the database's schema, and the move of an
//! embedded installation to PostgreSQL.

use std::process::ExitCode;

use ferry_store::{Database, StoreError};
use serde_json::json;

use crate::render::table;
use crate::{Invalid, Output, block_on};

fn parse(option: &str, text: &str) -> Result<Database, Invalid> {
    Database::parse(text).map_err(|e| Invalid(format!("{option} {e}")))
}

/// `ferry db migrate --database URL`.
pub fn migrate(database: &str) -> anyhow::Result<ExitCode> {
    let database = parse("--database", database)?;
    block_on(async {
        database.open(true).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    })?;
    println!("{}: the schema is up to date", database.describe());
    Ok(ExitCode::SUCCESS)
}

/// `ferry db copy --from sqlite:PATH --to postgres://… [--force]`.
pub fn copy(from: &str, to: &str, force: bool, output: Output) -> anyhow::Result<ExitCode> {
    let Database::Sqlite(source) = parse("--from", from)? else {
        return Err(Invalid(format!("--from {from:?}: expected the SQLite database to copy, sqlite:PATH")).into());
    };
    let Database::Postgres(target) = parse("--to", to)? else {
        return Err(Invalid(format!(
            "--to {to:?}: expected the PostgreSQL database to copy to, postgres://USER@HOST/DB"
        ))
        .into());
    };
    let report = block_on(async {
        ferry_store::copy::sqlite_to_postgres(&source, &target, force).await.map_err(|e| match e {
            // What the user must change: another target, --force, or the path.
            StoreError::Conflict(m) | StoreError::NotFound(m) => Invalid(m).into(),
            other => anyhow::anyhow!("{other}"),
        })
    })?;
    let shown = Database::Postgres(target).describe();
    if output == Output::Json {
        let tables: serde_json::Map<String, serde_json::Value> =
            report.tables.iter().map(|(t, n)| (t.clone(), json!(n))).collect();
        println!("{}", serde_json::to_string_pretty(&json!({"from": source, "to": shown, "tables": tables}))?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = report.tables.iter().map(|(t, n)| vec![t.clone(), n.to_string()]).collect();
    print!("{}", table(&["TABLE", "ROWS"], &rows));
    println!("copied {} to {shown}", source.display());
    Ok(ExitCode::SUCCESS)
}
