//! `ferry server --config-file ferry.toml`: server settings from a TOML file whose keys are the flags of
//! `ferry server` without `--`. A flag on the command line wins, then its environment variable, then the
//! file, then the default (docs/decisions.md).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory as _, FromArgMatches as _, Parser as _};

use crate::Invalid;
use crate::cli::Cli;

/// The flag naming the file; it cannot be set by the file itself.
const CONFIG_FILE_ID: &str = "config_file";

/// Parses the command line (usage errors exit as clap does); for `ferry server --config-file FILE`,
/// the file's settings fill in the flags that neither the command line nor the environment set.
pub fn parse() -> Result<Cli, Invalid> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let Some(("server", server)) = matches.subcommand() else { return Ok(cli) };
    let Some(file) = server.get_one::<PathBuf>(CONFIG_FILE_ID) else { return Ok(cli) };
    let text = std::fs::read_to_string(file)
        .map_err(|e| Invalid(format!("--config-file {}: cannot read it: {e}", file.display())))?;
    let extra = file_args(file, &text, server)?;
    if extra.is_empty() {
        return Ok(cli);
    }
    Ok(Cli::parse_from(args.into_iter().chain(extra)))
}

/// The `--flag=value` arguments the file adds: every key is checked, and those whose flag the command
/// line or the environment set are left out.
fn file_args(file: &Path, text: &str, matches: &ArgMatches) -> Result<Vec<OsString>, Invalid> {
    let name = file.display();
    let table: toml::Table = text.parse().map_err(|e| Invalid(format!("--config-file {name}: not valid TOML: {e}")))?;
    let command = Cli::command();
    let server = command
        .find_subcommand("server")
        .ok_or_else(|| Invalid("the command line has no server command".to_owned()))?;
    let settable = || server.get_arguments().filter(|a| a.get_id() != CONFIG_FILE_ID && a.get_long().is_some());
    let mut args = Vec::new();
    for (key, value) in &table {
        let Some(arg) = settable().find(|a| a.get_long() == Some(key.as_str())) else {
            let keys: Vec<&str> = settable().filter_map(|a| a.get_long()).collect();
            return Err(Invalid(format!(
                "--config-file {name}: unknown key `{key}`; the keys are the flags of `ferry server` without `--`: {}",
                keys.join(", ")
            )));
        };
        let from_file = arg_values(arg, key, value)
            .map_err(|expected| Invalid(format!("--config-file {name}: key `{key}`: {expected}")))?;
        let set_already = matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !set_already {
            args.extend(from_file);
        }
    }
    Ok(args)
}

/// The arguments one key stands for, or what was expected instead.
fn arg_values(arg: &clap::Arg, key: &str, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let found = a(value.type_str());
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
            Ok(if *on { vec![format!("--{key}").into()] } else { vec![] })
        }
        (ArgAction::SetTrue, _) => Err(format!("expected true or false, found {found}")),
        (ArgAction::Append, toml::Value::String(one)) => Ok(vec![format!("--{key}={one}").into()]),
        (ArgAction::Append, toml::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(one) => Ok(format!("--{key}={one}").into()),
                other => Err(format!("expected an array of strings, found an array holding {}", a(other.type_str()))),
            })
            .collect(),
        (ArgAction::Append, _) => Err(format!("expected a string or an array of strings, found {found}")),
        (_, toml::Value::String(text)) => {
            check_text(arg, text)?;
            Ok(vec![format!("--{key}={text}").into()])
        }
        (_, _) => Err(format!("expected a string ({}), found {found}", value_name(arg))),
    }
}

/// Checks the values whose flags parse them (durations, the listen address), so that the error names the
/// file rather than the flag.
fn check_text(arg: &clap::Arg, text: &str) -> Result<(), String> {
    if value_name(arg) == "DURATION" {
        crate::parse_duration_arg(text).map_err(|e| format!("expected a duration such as \"30s\": {e}"))?;
    }
    if arg.get_long() == Some("listen") {
        crate::server::parse_listen(text)
            .map_err(|_| format!("expected ADDRESS:PORT such as \"127.0.0.1:7878\", found {text:?}"))?;
    }
    Ok(())
}

/// `a string`, `an integer`.
fn a(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { format!("an {kind}") } else { format!("a {kind}") }
}

fn value_name(arg: &clap::Arg) -> String {
    arg.get_value_names().and_then(|names| names.first()).map(|n| n.to_string()).unwrap_or_else(|| "TEXT".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server command's matches for `ferry ARGS` (no environment variables are read for the flags
    /// the tests use).
    fn server_matches(args: &[&str]) -> ArgMatches {
        let matches = Cli::command().try_get_matches_from(args).unwrap();
        matches.subcommand_matches("server").cloned().unwrap()
    }

    fn args_of(text: &str, command_line: &[&str]) -> Result<Vec<String>, String> {
        let matches = server_matches(command_line);
        file_args(Path::new("ferry.toml"), text, &matches)
            .map(|args| args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect())
            .map_err(|e| e.0)
    }

    #[test]
    fn keys_become_flags_unless_the_command_line_set_them() {
        let text = "kill-grace = \"3s\"\nauth = true\npublic-url = [\"https://a.example\", \"https://b.example\"]\nreplica-id = \"r1\"\n";
        let args = args_of(text, &["ferry", "server", "--replica-id", "r2"]).unwrap();
        assert_eq!(
            args,
            ["--auth", "--kill-grace=3s", "--public-url=https://a.example", "--public-url=https://b.example"]
        );
        let off = args_of("auth = false\n", &["ferry", "server"]).unwrap();
        assert!(off.is_empty(), "{off:?}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_file_the_key_and_what_was_expected() {
        let e = args_of("lisen = \"127.0.0.1:1\"\n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("ferry.toml: unknown key `lisen`") && e.contains("listen, "), "{e}");
        let e = args_of("config-file = \"other.toml\"\n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("unknown key `config-file`"), "{e}");
        let e = args_of("auth = \"yes\"\n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("key `auth`: expected true or false, found a string"), "{e}");
        let e = args_of("poll-interval = 30\n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("key `poll-interval`: expected a string (DURATION), found an integer"), "{e}");
        let e = args_of("poll-interval = \"soon\"\n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("key `poll-interval`: expected a duration"), "{e}");
        let e = args_of("listen = \"nowhere\"\n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("key `listen`: expected ADDRESS:PORT"), "{e}");
        let e = args_of("public-url = [1]\n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("key `public-url`: expected an array of strings"), "{e}");
        let e = args_of("listen = \n", &["ferry", "server"]).unwrap_err();
        assert!(e.contains("ferry.toml: not valid TOML"), "{e}");
    }
}
