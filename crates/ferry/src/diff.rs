//! `ferry diff` and `ferry apply --dry-run`: what applying files would change on the server.
//!
//! The files are validated here exactly as the server validates them (`ferry_config`); each resource
//! is then compared, as Ferry's validated form with credentials in URLs masked, with the
//! configuration in use (`GET /api/v1/config`). Applying replaces the whole set, so a resource the
//! server has and the files lack would be removed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use ferry_api::{AppliedConfig, AppliedResource};
use serde::Serialize;
use serde_json::Value;

use crate::client::Client;
use crate::output::{Data, print_data};
use crate::{Output, apply, exit, style, validate};

/// What applying would do to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Change {
    /// New in the files.
    Added,
    /// In both, different.
    Changed,
    /// On the server only.
    Removed,
}

/// One resource that applying would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    /// What happens to it.
    pub change: Change,
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// As the server has it.
    #[serde(skip)]
    pub before: Option<Value>,
    /// As the files have it.
    #[serde(skip)]
    pub after: Option<Value>,
}

/// The resources that differ between `server` and `local`, in kind and name order.
pub fn compare(server: &[AppliedResource], local: &[AppliedResource]) -> Vec<ResourceChange> {
    let key = |r: &AppliedResource| (r.kind.clone(), r.name.clone());
    let before: BTreeMap<(String, String), &Value> = server.iter().map(|r| (key(r), &r.spec)).collect();
    let after: BTreeMap<(String, String), &Value> = local.iter().map(|r| (key(r), &r.spec)).collect();
    let mut keys: Vec<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (old, new) = (before.get(k).copied(), after.get(k).copied());
            let change = match (old, new) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(a), Some(b)) if a != b => Change::Changed,
                _ => return None,
            };
            Some(ResourceChange {
                change,
                kind: k.0.clone(),
                name: k.1.clone(),
                before: old.cloned(),
                after: new.cloned(),
            })
        })
        .collect()
}

/// The YAML text of a resource (empty when absent).
fn yaml(value: Option<&Value>) -> String {
    value.and_then(|v| serde_saphyr::to_string(v).ok()).unwrap_or_default()
}

/// A unified diff of one resource, `--- server/KIND/NAME` against `+++ files/KIND/NAME`.
pub fn unified(change: &ResourceChange) -> String {
    let (old, new) = (yaml(change.before.as_ref()), yaml(change.after.as_ref()));
    let label = format!("{}/{}", change.kind, change.name);
    let from = if change.before.is_some() { format!("server/{label}") } else { "/dev/null".to_owned() };
    let to = if change.after.is_some() { format!("files/{label}") } else { "/dev/null".to_owned() };
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header(&from, &to).to_string()
}

/// Loads the files as the server would; `Err` is the exit status after printing the problems.
fn load_local(files: &[PathBuf]) -> Result<Vec<AppliedResource>, ExitCode> {
    let loaded = apply::read_sources(files).and_then(|sources| ferry_config::load_sources(&sources));
    match loaded {
        Ok(loaded) => {
            validate::print_diagnostics(&loaded.warnings);
            AppliedResource::all_of(&loaded.catalog, &ferry_git::redact).map_err(|e| {
                eprintln!("{} encoding the configuration: {e}", style::error_label());
                ExitCode::from(exit::FAILED)
            })
        }
        Err(diagnostics) => {
            validate::print_diagnostics(&diagnostics);
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            eprintln!("{errors} error{}; nothing to compare", if errors == 1 { "" } else { "s" });
            Err(ExitCode::from(exit::INVALID))
        }
    }
}

/// The changes applying `files` would make.
async fn changes(client: &Client, files: &[PathBuf]) -> anyhow::Result<Result<Vec<ResourceChange>, ExitCode>> {
    let local = match load_local(files) {
        Ok(local) => local,
        Err(code) => return Ok(Err(code)),
    };
    let server: AppliedConfig = client.get_as("/api/v1/config").await?;
    Ok(Ok(compare(&server.resources, &local)))
}

/// `ferry diff`: a unified diff per changed resource; exit 1 when there are differences.
pub async fn run(client: &Client, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let changes = match changes(client, files).await? {
        Ok(changes) => changes,
        Err(code) => return Ok(code),
    };
    for change in &changes {
        for line in unified(change).lines() {
            println!("{}", style::diff_line(line));
        }
    }
    Ok(if changes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(exit::FAILED) })
}

/// `ferry apply --dry-run`: validates and lists what would be added, changed or removed.
pub async fn dry_run(client: &Client, files: &[PathBuf], output: Output) -> anyhow::Result<ExitCode> {
    let changes = match changes(client, files).await? {
        Ok(changes) => changes,
        Err(code) => return Ok(code),
    };
    if output == Output::Json {
        print_data(&serde_json::json!({ "dryRun": true, "changes": changes }), Data::Json)?;
        return Ok(ExitCode::SUCCESS);
    }
    for c in &changes {
        let verb = match c.change {
            Change::Added => "would add",
            Change::Changed => "would change",
            Change::Removed => "would remove",
        };
        println!("{verb} {}/{}", c.kind, c.name);
    }
    let message = if changes.is_empty() {
        "valid; applying would change nothing (dry run)".to_owned()
    } else {
        format!("valid; applying would change {} resource(s) (dry run: nothing applied)", changes.len())
    };
    println!("{}", style::ok(&message));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: &str, name: &str, spec: Value) -> AppliedResource {
        AppliedResource { kind: kind.into(), name: name.into(), spec }
    }

    #[test]
    fn changes_are_added_changed_or_removed_in_kind_and_name_order() {
        let server = [
            res("Environment", "dev", serde_json::json!({"order": 1})),
            res("Environment", "qa", serde_json::json!({"order": 2})),
            res("Workflow", "old", serde_json::json!({})),
        ];
        let local = [
            res("Environment", "qa", serde_json::json!({"order": 3})),
            res("Environment", "dev", serde_json::json!({"order": 1})),
            res("Application", "api", serde_json::json!({})),
        ];
        let found: Vec<(Change, String)> =
            compare(&server, &local).into_iter().map(|c| (c.change, format!("{}/{}", c.kind, c.name))).collect();
        assert_eq!(
            found,
            [
                (Change::Added, "Application/api".to_owned()),
                (Change::Changed, "Environment/qa".to_owned()),
                (Change::Removed, "Workflow/old".to_owned())
            ]
        );
        assert!(compare(&server, &server).is_empty());
    }

    #[test]
    fn a_changed_resource_is_a_unified_diff_of_its_yaml() {
        let server = [res("Environment", "qa", serde_json::json!({"name": "qa", "order": 2, "type": "test"}))];
        let local = [res("Environment", "qa", serde_json::json!({"name": "qa", "order": 3, "type": "test"}))];
        let text = unified(&compare(&server, &local)[0]);
        assert!(text.starts_with("--- server/Environment/qa\n+++ files/Environment/qa\n@@"), "{text}");
        assert!(text.contains("\n-order: 2\n+order: 3\n"), "{text}");
        let added = unified(&compare(&[], &local)[0]);
        assert!(added.starts_with("--- /dev/null\n+++ files/Environment/qa\n"), "{added}");
    }
}
