//! `ferry apply`: reads configuration files and sends them to the server, which validates and stores them.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::client::{Client, ClientError};
use crate::render::s;
use crate::{Output, exit, style, validate};

/// One diagnostic (the server's JSON form) as one line, exactly like `ferry validate` prints it.
pub fn diagnostic_text(d: &Value) -> String {
    let n = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut text = s(d, "file").to_owned();
    if n("document") > 0 {
        text.push_str(&format!("#{}", n("document")));
    }
    if n("line") > 0 {
        text.push_str(&format!(":{}:{}", n("line"), n("column")));
    }
    if s(d, "field").is_empty() {
        text.push_str(&format!(": {}", s(d, "message")));
    } else {
        text.push_str(&format!(" {}: {}", s(d, "field"), s(d, "message")));
    }
    if !s(d, "hint").is_empty() {
        text.push_str(&format!(" ({})", s(d, "hint")));
    }
    text
}

fn print_diagnostic(d: &Value) {
    let label = if s(d, "severity") == "warning" { style::warning_label() } else { style::error_label() };
    eprintln!("{label} {}", diagnostic_text(d));
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// Runs the command.
pub async fn run(client: &Client, files: &[PathBuf], output: Output) -> anyhow::Result<ExitCode> {
    let sources = match ferry_config::read_paths(files) {
        Ok(sources) => sources,
        Err(diagnostics) => {
            validate::print_diagnostics(&diagnostics);
            eprintln!("{}", plural(diagnostics.len() as u64, "error"));
            return Ok(ExitCode::from(exit::INVALID));
        }
    };
    let body = json!({
        "sources": sources.iter().map(|s| json!({"name": s.name, "text": s.text})).collect::<Vec<_>>(),
    });
    match client.post("/api/v1/apply", &body).await {
        Ok(applied) => {
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&applied)?);
                return Ok(ExitCode::SUCCESS);
            }
            for w in applied["warnings"].as_array().map(Vec::as_slice).unwrap_or_default() {
                print_diagnostic(w);
            }
            let r = &applied["resources"];
            let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
            let summary = [
                plural(n("environments"), "environment"),
                plural(n("applications"), "application"),
                plural(n("products"), "product"),
                plural(n("promotionFlows"), "flow"),
                plural(n("promotionPolicies"), "policy").replace("policys", "policies"),
                plural(n("promotionTemplates"), "template"),
                plural(n("workflows"), "workflow"),
            ];
            println!(
                "{}",
                style::ok(&format!("applied configuration version {}: {}", applied["version"], summary.join(", ")))
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Api { code, body, .. }) if code == "invalid_configuration" => {
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::from(exit::INVALID));
            }
            let diagnostics = body["error"]["diagnostics"].as_array().cloned().unwrap_or_default();
            for d in &diagnostics {
                print_diagnostic(d);
            }
            let errors = diagnostics.iter().filter(|d| s(d, "severity") != "warning").count();
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
            let json = serde_json::to_value(&d).unwrap();
            assert_eq!(diagnostic_text(&json), d.to_string());
        }
    }
}
