//! `ferry validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use ferry_config::{Diagnostic, Loaded, Severity};
use ferry_model::resources::Catalog;
use serde_json::json;

use crate::{Output, exit, style};

/// Counts of each kind, for the summary line and JSON (the shape of `ferry apply`'s `resources`).
pub fn counts(catalog: &Catalog) -> serde_json::Value {
    serde_json::to_value(ferry_api::ResourceCounts::from(catalog)).unwrap_or_default()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// Prints diagnostics to stderr, one per line with its hint.
pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        let label = match d.severity {
            Severity::Error => style::error_label(),
            Severity::Warning => style::warning_label(),
        };
        eprintln!("{label} {d}");
    }
}

/// Loads configuration, printing diagnostics; `Err(exit code)` when invalid.
pub fn load(files: &[PathBuf]) -> Result<Loaded, ExitCode> {
    match ferry_config::load_paths(files) {
        Ok(loaded) => {
            print_diagnostics(&loaded.warnings);
            Ok(loaded)
        }
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
            eprintln!("{}", plural(errors, "error"));
            Err(ExitCode::from(exit::INVALID))
        }
    }
}

/// Runs the command.
pub fn run(files: &[PathBuf], output: Output) -> anyhow::Result<ExitCode> {
    if output == Output::Json {
        let (valid, errors, warnings, resources) = match ferry_config::load_paths(files) {
            Ok(loaded) => (true, Vec::new(), loaded.warnings, counts(&loaded.catalog)),
            Err(diags) => {
                let (errors, warnings) = diags.into_iter().partition(|d| d.severity == Severity::Error);
                (false, errors, warnings, serde_json::Value::Null)
            }
        };
        let doc = json!({ "valid": valid, "errors": errors, "warnings": warnings, "resources": resources });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(if valid { ExitCode::SUCCESS } else { ExitCode::from(exit::INVALID) });
    }
    let loaded = match load(files) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let c = &loaded.catalog;
    let summary = [
        plural(c.environments.len(), "environment"),
        plural(c.applications.len(), "application"),
        plural(c.products.len(), "product"),
        plural(c.flows.len(), "flow"),
        plural(c.policies.len(), "policy").replace("policys", "policies"),
        plural(c.templates.len(), "template"),
        plural(c.workflows.len(), "workflow"),
    ];
    let warnings = if loaded.warnings.is_empty() {
        String::new()
    } else {
        format!(" ({})", plural(loaded.warnings.len(), "warning"))
    };
    println!("{}{warnings}", style::ok(&format!("valid: {}", summary.join(", "))));
    Ok(ExitCode::SUCCESS)
}
