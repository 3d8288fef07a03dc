//! `ferry apply`: reads configuration files and sends them to the server, which validates and stores them.

use std::path::PathBuf;
use std::process::ExitCode;

use ferry_api::{ApplyRequest, ApplyResponse, ApplySource, Diagnostic, ErrorEnvelope, Severity};

use crate::client::{Client, ClientError};
use crate::{Output, exit, style, validate};

/// One diagnostic (the server's form) as one line, exactly like `ferry validate` prints it.
pub fn diagnostic_text(d: &Diagnostic) -> String {
    let mut text = d.file.clone();
    if d.document > 0 {
        text.push_str(&format!("#{}", d.document));
    }
    if d.line > 0 {
        text.push_str(&format!(":{}:{}", d.line, d.column));
    }
    if d.field.is_empty() {
        text.push_str(&format!(": {}", d.message));
    } else {
        text.push_str(&format!(" {}: {}", d.field, d.message));
    }
    if let Some(hint) = d.hint.as_deref().filter(|h| !h.is_empty()) {
        text.push_str(&format!(" ({hint})"));
    }
    text
}

fn print_diagnostic(d: &Diagnostic) {
    let label = if d.severity == Severity::Warning { style::warning_label() } else { style::error_label() };
    eprintln!("{label} {}", diagnostic_text(d));
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// The name standard input has in diagnostics.
pub const STDIN_NAME: &str = "<stdin>";

/// Reads the files and directories of `-f`; `-` is standard input (once).
pub fn read_sources(files: &[PathBuf]) -> Result<Vec<ferry_config::Source>, Vec<ferry_config::Diagnostic>> {
    let stdin = files.iter().filter(|f| f.as_os_str() == "-").count();
    let paths: Vec<&PathBuf> = files.iter().filter(|f| f.as_os_str() != "-").collect();
    let mut sources = if paths.is_empty() { Vec::new() } else { ferry_config::read_paths(&paths)? };
    match stdin {
        0 => {}
        1 => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                vec![ferry_config::Diagnostic::file_error(STDIN_NAME, format!("cannot read standard input: {e}"))]
            })?;
            sources.push(ferry_config::Source { name: STDIN_NAME.to_owned(), text });
        }
        _ => {
            return Err(vec![ferry_config::Diagnostic::file_error(
                STDIN_NAME,
                "-f - (standard input) can be given once".to_owned(),
            )]);
        }
    }
    Ok(sources)
}

/// Runs the command.
pub async fn run(client: &Client, files: &[PathBuf], output: Output) -> anyhow::Result<ExitCode> {
    let sources = match read_sources(files) {
        Ok(sources) => sources,
        Err(diagnostics) => {
            validate::print_diagnostics(&diagnostics);
            eprintln!("{}", plural(diagnostics.len() as u64, "error"));
            return Ok(ExitCode::from(exit::INVALID));
        }
    };
    let request =
        ApplyRequest { sources: sources.into_iter().map(|s| ApplySource { name: s.name, text: s.text }).collect() };
    match client.post_as::<ApplyResponse>("/api/v1/apply", &serde_json::to_value(&request)?).await {
        Ok(applied) => {
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&applied)?);
                return Ok(ExitCode::SUCCESS);
            }
            for w in &applied.warnings {
                print_diagnostic(w);
            }
            let r = &applied.resources;
            let n = |count: usize| count as u64;
            let summary = [
                plural(n(r.environments), "environment"),
                plural(n(r.applications), "application"),
                plural(n(r.products), "product"),
                plural(n(r.promotion_flows), "flow"),
                plural(n(r.promotion_policies), "policy").replace("policys", "policies"),
                plural(n(r.promotion_templates), "template"),
                plural(n(r.workflows), "workflow"),
            ];
            println!(
                "{}",
                style::ok(&format!("applied configuration version {}: {}", applied.version, summary.join(", ")))
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Api { code, body, .. }) if code == "invalid_configuration" => {
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::from(exit::INVALID));
            }
            let envelope: Option<ErrorEnvelope> = serde_json::from_value(body).ok();
            let diagnostics = envelope.and_then(|e| e.error.diagnostics).unwrap_or_default();
            for d in &diagnostics {
                print_diagnostic(d);
            }
            let errors = diagnostics.iter().filter(|d| d.severity != Severity::Warning).count();
            eprintln!("{}; nothing was applied", plural(errors as u64, "error"));
            Ok(ExitCode::from(exit::INVALID))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_print_like_ferry_validate() {
        let sources = [
            ferry_config::Source {
                name: "envs.yaml".into(),
                text: "apiVersion: ferry/v1\nkind: Environment\nmetadata: {name: dev}\nspec: {tyep: production}\n"
                    .into(),
            },
            ferry_config::Source { name: "bad.yaml".into(), text: "a: [".into() },
        ];
        let diagnostics = ferry_config::load_sources(&sources).unwrap_err();
        for d in diagnostics {
            let wire: Diagnostic = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
            assert_eq!(diagnostic_text(&wire), d.to_string());
        }
    }
}
