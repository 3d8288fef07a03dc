//! Contexts (SPEC §8.2): servers saved by `ferry login` with their tokens, in
//! `$XDG_CONFIG_HOME/ferry/config.toml` (else `~/.config/ferry/config.toml`), and which server and token
//! a client command uses.
//!
//! The file:
//! ```toml
//! current = "ferry.example.com"
//!
//! [contexts."ferry.example.com"]
//! server = "https://ferry.example.com"
//! token = "ferry_…"
//! ```
//! It is written atomically (a temporary file renamed over it) with mode 0600 in a directory created
//! with mode 0700; a file others may read gets a warning, a malformed one is an error naming the file,
//! line and column and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The server used when no flag, environment variable or context names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7878";
/// Longest context name.
const MAX_NAME: usize = 100;
/// What the file is expected to hold, for error messages.
const EXPECTED: &str = "expected `current = \"NAME\"` and `[contexts.NAME]` tables with `server = \"URL\"` and \
                        `token = \"ferry_…\"`";

/// A token secret: never shown by `Debug`, never part of an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret (surrounding whitespace removed).
    pub fn new(text: &str) -> Secret {
        Secret(text.trim().to_owned())
    }

    /// The secret itself, to send to the server or to save.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Parses `--token` (clap value parser); an empty value is refused.
pub fn parse_secret(text: &str) -> Result<Secret, String> {
    let secret = Secret::new(text);
    if secret.0.is_empty() { Err("the token is empty".to_owned()) } else { Ok(secret) }
}

/// One saved server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Server URL.
    pub server: String,
    /// Token, until `ferry logout` removes it.
    pub token: Option<Secret>,
}

/// The contents of `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The context client commands use.
    pub current: Option<String>,
    /// Contexts by name.
    pub contexts: BTreeMap<String, Context>,
}

impl Config {
    /// The current context, with its name.
    pub fn current(&self) -> Option<(&str, &Context)> {
        let name = self.current.as_deref()?;
        self.contexts.get(name).map(|c| (name, c))
    }

    /// The context names, for messages: `a, b` or `none`.
    pub fn known(&self) -> String {
        if self.contexts.is_empty() {
            "none; save one with `ferry login --server URL --token-stdin`".to_owned()
        } else {
            self.contexts.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
        }
    }
}

/// Why the file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub at: Option<(usize, usize)>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.at {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWire {
    current: Option<toml::Spanned<String>>,
    #[serde(default)]
    contexts: BTreeMap<toml::Spanned<String>, toml::Spanned<ContextWire>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextWire {
    server: toml::Spanned<String>,
    token: Option<toml::Spanned<String>>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<&'a str>,
    contexts: BTreeMap<&'a str, ContextOut<'a>>,
}

#[derive(Serialize)]
struct ContextOut<'a> {
    server: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    (line, column)
}

/// The parser's message with every double-quoted value elided: a value in the wrong place may be a
/// token (`invalid type: string "ferry_…"`).
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        if i % 2 == 0 {
            out.push_str("\"…");
        } else {
            out.push('"');
            out.push_str(part);
        }
    }
    out
}

/// Checks a context name: 1 to 100 printable characters without spaces or quotes.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && !name.chars().any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '\\');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a context name (1 to {MAX_NAME} printable characters without spaces or quotes)"))
    }
}

/// Checks a server URL: `http://` or `https://` and a host.
pub fn check_server(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(format!("{url:?} is not a server URL (expected one such as https://ferry.example.com)")),
    }
}

/// Parses the text of `file`.
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let error = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
        file: file.to_path_buf(),
        at: span.map(|s| line_column(text, s.start)),
        message,
    };
    let wire: FileWire = toml::from_str(text).map_err(|e| {
        let message = redact_quoted(e.message().trim().trim_end_matches('.'));
        error(e.span(), format!("{message}; {EXPECTED}"))
    })?;
    let mut config = Config::default();
    for (name, context) in wire.contexts {
        check_name(name.get_ref()).map_err(|m| error(Some(name.span()), m))?;
        let context = context.into_inner();
        let server = context.server.get_ref().trim().trim_end_matches('/').to_owned();
        check_server(&server).map_err(|m| error(Some(context.server.span()), format!("server: {m}")))?;
        let token = match context.token {
            None => None,
            Some(token) if ferry_server::auth::tokens::looks_like_secret(token.get_ref().trim()) => {
                Some(Secret::new(token.get_ref()))
            }
            Some(token) => {
                return Err(error(
                    Some(token.span()),
                    "token: expected the `ferry_…` secret printed by `ferry token create`".to_owned(),
                ));
            }
        };
        config.contexts.insert(name.into_inner(), Context { server, token });
    }
    if let Some(current) = wire.current {
        if !config.contexts.contains_key(current.get_ref()) {
            return Err(error(
                Some(current.span()),
                format!(
                    "current = {:?} names no context (known: {}); run `ferry context use NAME`",
                    current.get_ref(),
                    config.known()
                ),
            ));
        }
        config.current = Some(current.into_inner());
    }
    Ok(config)
}

/// The text of a configuration, as written to the file.
pub fn render(config: &Config) -> Result<String, toml::ser::Error> {
    let out = FileOut {
        current: config.current.as_deref(),
        contexts: config
            .contexts
            .iter()
            .map(|(name, c)| {
                (name.as_str(), ContextOut { server: &c.server, token: c.token.as_ref().map(Secret::expose) })
            })
            .collect(),
    };
    let body = toml::to_string(&out)?;
    Ok(format!("# Ferry CLI contexts, written by `ferry login`. It holds tokens: keep it private (mode 0600).\n{body}"))
}

/// Where the file lives: `$XDG_CONFIG_HOME/ferry/config.toml`, else `$HOME/.config/ferry/config.toml`.
pub fn path_from(xdg_config_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    if let Some(xdg) = xdg_config_home.filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("ferry/config.toml"));
    }
    home.filter(|v| !v.is_empty()).map(|home| PathBuf::from(home).join(".config/ferry/config.toml"))
}

/// [`path_from`] with this process's environment.
pub fn path() -> Option<PathBuf> {
    let var = |name| std::env::var(name).ok();
    path_from(var("XDG_CONFIG_HOME").as_deref(), var("HOME").as_deref())
}

/// Reads the file: an empty configuration when it does not exist. Warns on stderr when group or
/// others may read it.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let error = |message: String| ConfigError { file: file.to_path_buf(), at: None, message };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(error(format!("cannot read it: {e}"))),
    };
    if let Ok(meta) = std::fs::metadata(file) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "{} {} may be read by others (mode {mode:04o}) and holds tokens; run `chmod 600 {}`",
                crate::style::warning_label(),
                file.display(),
                file.display()
            );
        }
    }
    parse(file, &text)
}

/// Writes the file atomically with mode 0600 (its directory is created with mode 0700).
pub fn save(file: &Path, config: &Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let text = render(config).with_context(|| format!("cannot write {}", file.display()))?;
    // tempfile creates the file with mode 0600.
    let mut temp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    temp.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", file.display()))?;
    temp.as_file().sync_all().with_context(|| format!("cannot write {}", file.display()))?;
    temp.persist(file).map_err(|e| e.error).with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}

/// A context name from a server URL: its host and port (`ferry.example.com`, `127.0.0.1:7878`).
pub fn default_name(server: &str) -> String {
    let rest = server.split_once("://").map_or(server, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_ascii_lowercase();
    if check_name(&authority).is_ok() { authority } else { "default".to_owned() }
}

/// Whether two server URLs name the same server (scheme and host compared without case; a trailing
/// `/` ignored).
pub fn same_server(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/').eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
}

/// The server and token sources a client command was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// `--server`.
    pub server_flag: Option<String>,
    /// `FERRY_SERVER`.
    pub server_env: Option<String>,
    /// `--token`.
    pub token_flag: Option<Secret>,
    /// `FERRY_TOKEN`.
    pub token_env: Option<Secret>,
}

impl Inputs {
    /// The flags, with the environment variables of this process (empty ones count as unset).
    pub fn new(server_flag: Option<String>, token_flag: Option<Secret>) -> Inputs {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Inputs {
            server_flag,
            server_env: var("FERRY_SERVER"),
            token_flag,
            token_env: var("FERRY_TOKEN").map(|t| Secret::new(&t)),
        }
    }

    /// Whether resolving needs the configuration file (something is not given by a flag or variable).
    pub fn needs_config(&self) -> bool {
        (self.server_flag.is_none() && self.server_env.is_none())
            || (self.token_flag.is_none() && self.token_env.is_none())
    }
}

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// The named context.
    Context(String),
    /// The built-in default.
    Default,
}

/// The server and token a client command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Server URL.
    pub server: String,
    /// Where it came from.
    pub server_source: Source,
    /// Token, if any.
    pub token: Option<Secret>,
    /// Where the token came from.
    pub token_source: Option<Source>,
}

/// SPEC §8.2: server `--server` > `FERRY_SERVER` > the current context > `http://127.0.0.1:7878`;
/// token `--token` > `FERRY_TOKEN` > the current context's token, only when the server used is the
/// context's server.
pub fn resolve(inputs: &Inputs, config: &Config) -> Target {
    let current = config.current();
    let (server, server_source) = if let Some(s) = &inputs.server_flag {
        (s.clone(), Source::Flag)
    } else if let Some(s) = &inputs.server_env {
        (s.clone(), Source::Env)
    } else if let Some((name, context)) = current {
        (context.server.clone(), Source::Context(name.to_owned()))
    } else {
        (DEFAULT_SERVER.to_owned(), Source::Default)
    };
    let (token, token_source) = if let Some(t) = &inputs.token_flag {
        (Some(t.clone()), Some(Source::Flag))
    } else if let Some(t) = &inputs.token_env {
        (Some(t.clone()), Some(Source::Env))
    } else {
        match current {
            Some((name, context)) if context.token.is_some() && same_server(&context.server, &server) => {
                (context.token.clone(), Some(Source::Context(name.to_owned())))
            }
            _ => (None, None),
        }
    };
    Target { server, server_source, token, token_source }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T1: &str = "ferry_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const T2: &str = "ferry_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn file() -> PathBuf {
        PathBuf::from("/home/u/.config/ferry/config.toml")
    }

    #[test]
    fn a_file_round_trips_and_names_are_quoted() {
        let text = format!(
            "current = \"127.0.0.1:7878\"\n\n[contexts.\"127.0.0.1:7878\"]\nserver = \"http://127.0.0.1:7878/\"\n\
             token = \"{T1}\"\n\n[contexts.prod]\nserver = \"https://ferry.example.com\"\n"
        );
        let config = parse(&file(), &text).unwrap();
        assert_eq!(config.current.as_deref(), Some("127.0.0.1:7878"));
        let (name, current) = config.current().unwrap();
        assert_eq!((name, current.server.as_str()), ("127.0.0.1:7878", "http://127.0.0.1:7878"));
        assert_eq!(current.token.as_ref().map(Secret::expose), Some(T1));
        assert_eq!(config.contexts["prod"].token, None);
        let rendered = render(&config).unwrap();
        assert!(rendered.contains("[contexts.\"127.0.0.1:7878\"]"), "{rendered}");
        assert_eq!(parse(&file(), &rendered).unwrap(), config);
        assert_eq!(parse(&file(), "").unwrap(), Config::default());
        assert_eq!(parse(&file(), &render(&Config::default()).unwrap()).unwrap(), Config::default());
    }

    #[test]
    fn malformed_files_name_the_file_line_and_what_was_expected() {
        let check = |text: &str, at: Option<(usize, usize)>, expect: &str| {
            let e = parse(&file(), text).unwrap_err();
            assert_eq!(e.at, at, "{text:?}: {e}");
            let shown = e.to_string();
            assert!(shown.starts_with("/home/u/.config/ferry/config.toml"), "{shown}");
            assert!(shown.contains(expect), "{text:?}: {shown} does not contain {expect:?}");
            assert!(!shown.contains("ferry_A"), "a token is never shown: {shown}");
        };
        check("current = ", Some((1, 11)), "expected `current = \"NAME\"`");
        check("[contexts.a]\nserver = 1\n", Some((2, 10)), "invalid type");
        check("[contexts.a]\nurl = \"http://x\"\n", Some((2, 1)), "unknown field `url`");
        check("[contexts.a]\ntoken = \"x\"\n", Some((1, 1)), "missing field `server`");
        check(&format!("[contexts]\ntoken = \"{T1}\"\n"), Some((2, 9)), "invalid type: string \"…\"");
        check("[contexts.a]\nserver = \"ftp://x\"\n", Some((2, 10)), "server: \"ftp://x\" is not a server URL");
        check(&format!("[contexts.a]\nserver = \"http://x\"\ntoken = \"{}\"\n", &T1[..20]), Some((3, 9)), "token:");
        check("current = \"b\"\n[contexts.a]\nserver = \"http://x\"\n", Some((1, 11)), "names no context (known: a)");
        check("[contexts.\"a b\"]\nserver = \"http://x\"\n", Some((1, 11)), "not a context name");
        check("color = \"red\"\n", Some((1, 1)), "unknown field `color`");
    }

    #[test]
    fn the_file_is_found_in_xdg_config_home_else_home() {
        let cases = [
            (Some("/x"), Some("/h"), Some("/x/ferry/config.toml")),
            (Some(""), Some("/h"), Some("/h/.config/ferry/config.toml")),
            (None, Some("/h"), Some("/h/.config/ferry/config.toml")),
            (None, None, None),
        ];
        for (xdg, home, expect) in cases {
            assert_eq!(path_from(xdg, home), expect.map(PathBuf::from), "{xdg:?} {home:?}");
        }
    }

    #[test]
    fn default_names_are_host_and_port() {
        let cases = [
            ("http://127.0.0.1:7878", "127.0.0.1:7878"),
            ("https://Ferry.Example.com/", "ferry.example.com"),
            ("https://ferry.example.com:8443/base", "ferry.example.com:8443"),
            ("http://[::1]:7878", "[::1]:7878"),
            ("http://user@host", "host"),
        ];
        for (server, expect) in cases {
            assert_eq!(default_name(server), expect, "{server}");
        }
    }

    fn config(current: Option<&str>, contexts: &[(&str, &str, Option<&str>)]) -> Config {
        Config {
            current: current.map(str::to_owned),
            contexts: contexts
                .iter()
                .map(|(n, s, t)| ((*n).to_owned(), Context { server: (*s).to_owned(), token: t.map(Secret::new) }))
                .collect(),
        }
    }

    #[test]
    fn precedence() {
        let a = "https://a.example";
        let b = "https://b.example";
        let with_current = config(Some("a"), &[("a", a, Some(T1)), ("b", b, Some(T2))]);
        let no_current = config(None, &[("a", a, Some(T1))]);
        let logged_out = config(Some("a"), &[("a", a, None)]);
        let flag = |s: &str| Some(s.to_owned());
        let secret = |s: &str| Some(Secret::new(s));
        struct Case<'a> {
            what: &'a str,
            inputs: Inputs,
            config: &'a Config,
            server: &'a str,
            server_source: Source,
            token: Option<&'a str>,
            token_source: Option<Source>,
        }
        let ctx = |name: &str| Source::Context(name.to_owned());
        let cases = [
            Case {
                what: "nothing: the default server, no token",
                inputs: Inputs::default(),
                config: &no_current,
                server: DEFAULT_SERVER,
                server_source: Source::Default,
                token: None,
                token_source: None,
            },
            Case {
                what: "the current context gives both",
                inputs: Inputs::default(),
                config: &with_current,
                server: a,
                server_source: ctx("a"),
                token: Some(T1),
                token_source: Some(ctx("a")),
            },
            Case {
                what: "--server beats FERRY_SERVER and the context",
                inputs: Inputs { server_flag: flag(b), server_env: flag("http://env"), ..Inputs::default() },
                config: &with_current,
                server: b,
                server_source: Source::Flag,
                token: None,
                token_source: None,
            },
            Case {
                what: "FERRY_SERVER beats the context",
                inputs: Inputs { server_env: flag(b), ..Inputs::default() },
                config: &with_current,
                server: b,
                server_source: Source::Env,
                token: None,
                token_source: None,
            },
            Case {
                what: "--server naming the context's server keeps its token",
                inputs: Inputs { server_flag: flag("https://A.example/"), ..Inputs::default() },
                config: &with_current,
                server: "https://A.example/",
                server_source: Source::Flag,
                token: Some(T1),
                token_source: Some(ctx("a")),
            },
            Case {
                what: "--token beats FERRY_TOKEN and the context",
                inputs: Inputs { token_flag: secret(T2), token_env: secret("ferry_env"), ..Inputs::default() },
                config: &with_current,
                server: a,
                server_source: ctx("a"),
                token: Some(T2),
                token_source: Some(Source::Flag),
            },
            Case {
                what: "FERRY_TOKEN beats the context",
                inputs: Inputs { token_env: secret(T2), ..Inputs::default() },
                config: &with_current,
                server: a,
                server_source: ctx("a"),
                token: Some(T2),
                token_source: Some(Source::Env),
            },
            Case {
                what: "FERRY_TOKEN goes to any server",
                inputs: Inputs { server_flag: flag(b), token_env: secret(T2), ..Inputs::default() },
                config: &no_current,
                server: b,
                server_source: Source::Flag,
                token: Some(T2),
                token_source: Some(Source::Env),
            },
            Case {
                what: "a logged-out context has a server but no token",
                inputs: Inputs::default(),
                config: &logged_out,
                server: a,
                server_source: ctx("a"),
                token: None,
                token_source: None,
            },
            Case {
                what: "no current context: no context token",
                inputs: Inputs { server_flag: flag(a), ..Inputs::default() },
                config: &no_current,
                server: a,
                server_source: Source::Flag,
                token: None,
                token_source: None,
            },
        ];
        for Case { what, inputs, config, server, server_source, token, token_source } in cases {
            let t = resolve(&inputs, config);
            assert_eq!(t.server, server, "{what}");
            assert_eq!(t.server_source, server_source, "{what}");
            assert_eq!(t.token.as_ref().map(Secret::expose), token, "{what}");
            assert_eq!(t.token_source, token_source, "{what}");
        }
    }

    #[test]
    fn secrets_are_not_shown_by_debug() {
        let shown = format!("{:?}", config(Some("a"), &[("a", "http://x", Some(T1))]));
        assert!(!shown.contains(T1) && shown.contains("Secret(…)"), "{shown}");
        assert!(parse_secret("  ").is_err());
    }

    #[test]
    fn needs_config_only_when_something_is_missing() {
        let full =
            Inputs { server_flag: Some("http://x".into()), token_env: Some(Secret::new(T1)), ..Inputs::default() };
        assert!(!full.needs_config());
        assert!(Inputs { token_env: None, ..full.clone() }.needs_config());
        assert!(Inputs::default().needs_config());
    }

    #[test]
    fn saving_is_atomic_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cfg/ferry/config.toml");
        let c = config(Some("a"), &[("a", "http://x", Some(T1))]);
        save(&file, &c).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        assert_eq!(load(&file).unwrap(), c);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(file.parent().unwrap()).unwrap().count(), 1);
        assert_eq!(load(&dir.path().join("absent.toml")).unwrap(), Config::default());
    }

    proptest! {
        #[test]
        fn any_text_gives_a_config_or_an_error_naming_the_file(text in "\\PC{0,200}") {
            match parse(&file(), &text) {
                Ok(_) => {}
                Err(e) => {
                    prop_assert_eq!(&e.file, &file());
                    prop_assert!(e.to_string().starts_with("/home/u/.config/ferry/config.toml"));
                }
            }
        }

        #[test]
        fn toml_like_text_gives_a_config_or_an_error_naming_the_file(
            lines in prop::collection::vec(
                prop_oneof![
                    Just("current = \"a\"".to_owned()),
                    Just("[contexts.a]".to_owned()),
                    Just("[contexts]".to_owned()),
                    Just("server = \"http://x\"".to_owned()),
                    Just(format!("token = \"{T1}\"")),
                    "[a-z\\[\\]\\.=\" ]{0,20}",
                ],
                0..8,
            )
        ) {
            let text = lines.join("\n");
            if let Err(e) = parse(&file(), &text) {
                prop_assert_eq!(&e.file, &file());
                prop_assert!(!e.to_string().contains(T1));
            }
        }
    }
}
