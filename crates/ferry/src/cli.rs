//! The command line: every command, option and help text (clap), without behaviour; `main.rs`
//! dispatches the parsed command.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::output::{ListOutput, ReadOutput};
use crate::{contexts, get, notes, parse_duration_arg, pr, style, token};

/// Ferry: GitOps promotion orchestrator with product releases.
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Examples:\n  ferry demo\n  ferry server --config ./ferry\n  ferry apply -f ./ferry\n  ferry promote shop --wait --timeout 30m\n  ferry release list shop -o wide\n\nEvery command's --help ends with examples of its own."
)]
pub struct Cli {
    /// Ferry server to talk to (client commands). Else $FERRY_SERVER, else the current context's
    /// server (`ferry login`), else http://127.0.0.1:7878.
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// API token sent as `Authorization: Bearer`. Else $FERRY_TOKEN, else the current context's token
    /// when the server is the context's server.
    #[arg(long, global = true, value_name = "TOKEN", value_parser = contexts::parse_secret)]
    pub token: Option<contexts::Secret>,
    /// PEM file of certificate authorities to trust for https servers, besides the built-in roots.
    /// Else $FERRY_CA_CERT.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// When to colour output: auto (a terminal without NO_COLOR), always or never.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: style::ColorChoice,
    /// How log lines on standard error are written: text, or one JSON object per line. Which lines is set
    /// by $FERRY_LOG (default info), e.g. FERRY_LOG=debug or FERRY_LOG=info,ferry::access=warn.
    #[arg(long, global = true, value_enum, default_value_t, env = "FERRY_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: crate::logging::LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Output format of commands that print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON for machines.
    Json,
}

// Parsed once per process: the size of the `server` variant's options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run Ferry: the engine, the HTTP API with live events, on an embedded SQLite database (or a
    /// PostgreSQL database shared by replicas, --database).
    ///
    /// Prints `ferry server listening on http://ADDRESS` on stdout once it accepts connections; stops
    /// gracefully on SIGINT or SIGTERM.
    /// Every flag can also be set by the environment variable shown with it (for a service manager's
    /// environment file, e.g. /etc/ferry/ferry.env).
    #[command(
        after_help = "Examples:\n  ferry server --config ./ferry --data /var/lib/ferry\n  ferry server --config-file /etc/ferry/ferry.toml --listen 127.0.0.1:8080\n  ferry server --listen 0.0.0.0:7878 --bootstrap-token-file /etc/ferry/admin.token\n  FERRY_LOG=debug ferry server --log-format json"
    )]
    Server {
        /// Read settings from this TOML file: its keys are these flags without `--`, e.g.
        /// listen = "127.0.0.1:7878", poll-interval = "30s", auth = true, public-url = ["https://…"].
        /// A flag on the command line wins, then its environment variable, then the file, then the default;
        /// an unknown key or a wrong type → exit 2.
        #[arg(long, env = "FERRY_CONFIG_FILE", value_name = "FILE")]
        config_file: Option<PathBuf>,
        /// Apply the configuration in this directory (or file) at start; invalid → exit 2.
        #[arg(long, env = "FERRY_CONFIG", value_name = "DIR")]
        config: Option<PathBuf>,
        /// Data directory (database `ferry.db`, git mirrors); created if missing.
        /// Default: $XDG_DATA_HOME/ferry, else ~/.local/share/ferry.
        #[arg(long, env = "FERRY_DATA", value_name = "DIR")]
        data: Option<PathBuf>,
        /// The database: sqlite:PATH (or a file path) for the embedded one, postgres://USER@HOST/DB for
        /// one PostgreSQL shared by replicas (the data directory still holds each replica's git mirrors).
        /// Default: DATA/ferry.db.
        #[arg(long, env = "FERRY_DATABASE", value_name = "URL")]
        database: Option<String>,
        /// Do not apply database migrations at start: a database that is not up to date stops the start
        /// (apply them with `ferry db migrate`).
        #[arg(long, env = "FERRY_NO_MIGRATE")]
        no_migrate: bool,
        /// Address to listen on; port 0 picks a free port. Any address but loopback requires tokens.
        #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:7878", value_name = "ADDRESS:PORT")]
        listen: String,
        /// Require API tokens on a loopback address too (any other address always requires them).
        #[arg(long, env = "FERRY_AUTH")]
        auth: bool,
        /// The first admin token: read its secret from FILE, or create one and write it there (mode 0600)
        /// when FILE does not exist. The secret is never printed.
        #[arg(long, env = "FERRY_BOOTSTRAP_TOKEN_FILE", value_name = "FILE")]
        bootstrap_token_file: Option<PathBuf>,
        /// An address clients reach the server at besides loopback, e.g. https://ferry.example.com
        /// (repeatable): its host is answered and its origin may send changes. The first one is the base
        /// of links Ferry writes (pull requests, notifications).
        #[arg(long = "public-url", env = "FERRY_PUBLIC_URL", value_delimiter = ',', value_name = "URL")]
        public_urls: Vec<String>,
        /// File holding the shared secret inbound webhooks are signed with (GitHub, Gitea, GitLab).
        #[arg(long, env = "FERRY_WEBHOOK_SECRET_FILE", value_name = "FILE")]
        webhook_secret_file: Option<PathBuf>,
        /// A token for https git remotes whose URL carries no credentials (sent as HTTP basic auth with the
        /// user x-access-token through git's environment, never on a command line; masked in errors).
        #[arg(long, env = "FERRY_GIT_TOKEN_FILE", value_name = "FILE")]
        git_token_file: Option<PathBuf>,
        /// The Argo CD server of applications whose status.argocd names none (their tokens come from the
        /// environment variable their tokenSecret names, default FERRY_ARGOCD_TOKEN).
        #[arg(long, env = "FERRY_ARGOCD_SERVER", value_name = "URL")]
        argocd_server: Option<String>,
        /// The Argo Server of workflows whose spec.argo names none (their tokens come from the
        /// environment variable their tokenSecret names, default FERRY_ARGO_TOKEN).
        #[arg(long, env = "FERRY_ARGO_SERVER", value_name = "URL")]
        argo_server: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key); SIGHUP reloads both files.
        #[arg(long, env = "FERRY_TLS_CERT", value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "FERRY_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// How long audit log entries are kept.
        #[arg(long, env = "FERRY_RETENTION", default_value = "270d", value_parser = parse_duration_arg, value_name = "DURATION")]
        retention: std::time::Duration,
        /// How often trigger environments' branches are polled for new commits (push hooks react at once).
        #[arg(long, env = "FERRY_POLL_INTERVAL", default_value = "30s", value_parser = parse_duration_arg, value_name = "DURATION")]
        poll_interval: std::time::Duration,
        /// How often an application's health command is re-run until it is healthy.
        #[arg(long, env = "FERRY_HEALTH_POLL_INTERVAL", default_value = "2s", value_parser = parse_duration_arg, value_name = "DURATION")]
        health_poll_interval: std::time::Duration,
        /// Time a stopped workflow step gets between SIGTERM and SIGKILL.
        #[arg(long, env = "FERRY_KILL_GRACE", default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
        kill_grace: std::time::Duration,
        /// This replica's name among the replicas sharing a PostgreSQL database (the owner of its
        /// releases' leases). Default: host name, process id and a random suffix.
        #[arg(long, env = "FERRY_REPLICA_ID", value_name = "NAME")]
        replica_id: Option<String>,
        /// On PostgreSQL: how long a replica's claim on a release lasts without renewal; another replica
        /// takes the release over once it expires.
        #[arg(long, env = "FERRY_LEASE_EXPIRY", default_value = "15s", value_parser = parse_duration_arg, value_name = "DURATION")]
        lease_expiry: std::time::Duration,
        /// On PostgreSQL: how often a replica renews its leases and claims releases nobody drives (at
        /// most half of --lease-expiry).
        #[arg(long, env = "FERRY_LEASE_RENEW_INTERVAL", default_value = "5s", value_parser = parse_duration_arg, value_name = "DURATION")]
        lease_renew_interval: std::time::Duration,
    },
    /// Send configuration files to the server, which validates them as one set and applies them.
    ///
    /// Exit status: 0 when applied (or, with --dry-run, when valid), 2 when invalid (every problem is
    /// listed).
    #[command(
        after_help = "Examples:\n  ferry apply -f ./ferry\n  kustomize build . | ferry apply -f -\n  ferry apply -f ./ferry --dry-run"
    )]
    Apply {
        /// YAML file or directory (recursive), or - for standard input; repeatable.
        #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Validate and show which resources would be added, changed or removed; apply nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show what `ferry apply` would change: a unified diff per resource between the configuration in
    /// use on the server and the files.
    ///
    /// Resources are compared as Ferry validated them (defaults filled in); credentials in URLs are
    /// masked on both sides. Exit status: 0 when there are no differences, 1 when there are, 2 when the
    /// files are invalid (like `kubectl diff`).
    #[command(
        after_help = "Examples:\n  ferry diff -f ./ferry\n  cat shop.yaml | ferry diff -f -\n  ferry diff -f ./ferry && echo up to date"
    )]
    Diff {
        /// YAML file or directory (recursive), or - for standard input; repeatable.
        #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// List the configuration in use, or releases.
    #[command(
        after_help = "Examples:\n  ferry get products\n  ferry get environments -o yaml\n  ferry get releases shop -o json"
    )]
    Get {
        /// What to list.
        #[arg(value_enum)]
        kind: get::Kind,
        /// Only this one (for releases: the product).
        name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: get::GetOutput,
    },
    /// Create a release of a product now (manual trigger).
    ///
    /// With --wait, follows it and exits 0 when it Succeeded, 1 otherwise.
    #[command(
        after_help = "Examples:\n  ferry promote shop\n  ferry promote shop --flow hotfix --wait --timeout 30m\n  ferry promote shop --from qa --to staging -o json"
    )]
    Promote {
        /// Product.
        product: String,
        /// Flow to run (default: the product's first flow).
        #[arg(long, conflicts_with_all = ["from", "to"])]
        flow: Option<String>,
        /// Source environment of a single-environment promotion.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Target environment of a single-environment promotion.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Follow the release until it finishes.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. 30m) and exit 1; the release goes on.
        #[arg(long, requires = "wait", value_parser = parse_duration_arg, value_name = "DURATION")]
        timeout: Option<std::time::Duration>,
        /// Output format (json: the created release; with --wait, the finished one).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Inspect and control releases.
    #[command(
        after_help = "Examples:\n  ferry release list shop --status Failed\n  ferry release watch ID --timeout 1h\n  ferry release logs ID --env qa --follow"
    )]
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Check configuration files without applying them; reports every problem at once.
    ///
    /// Exit status: 0 when valid (warnings allowed), 2 when invalid.
    #[command(after_help = "Examples:\n  ferry validate -f ./ferry\n  ferry validate -f envs.yaml -f apps/ -o json")]
    Validate {
        /// YAML file or directory (recursive); repeatable.
        #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Freeze windows (SPEC §10): runtime freezes made and deleted here, kept apart from the applied
    /// configuration; `list` shows the configuration's `Freeze` resources too.
    #[command(
        after_help = "Examples:\n  ferry freeze create incident --env 'prod*' --from 2026-12-04T10:00:00Z --until 2026-12-04T18:00:00Z --reason INC-7\n  ferry freeze create weekend --env prod --cron '0 16 * * FRI' --duration 64h --time-zone Europe/Berlin\n  ferry freeze list\n  ferry freeze delete incident"
    )]
    Freeze {
        #[command(subcommand)]
        command: FreezeCommand,
    },
    /// Promotion pull requests of the local provider: list, merge, close.
    #[command(
        after_help = "Examples:\n  ferry pr list --state open\n  ferry pr merge 12\n  ferry pr close 12 --comment 'not this week'"
    )]
    Pr {
        #[command(subcommand)]
        command: PrCommand,
    },
    /// Image reports (SPEC §6.5): record where an image was built from.
    #[command(
        after_help = "Examples:\n  ferry image report --image registry.example/shop/api:1.4.2 --git-repo https://git.example/shop/api --git-revision $(git rev-parse HEAD)"
    )]
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Inspect promotion policies.
    #[command(after_help = "Examples:\n  ferry policy explain shop prod-eu -f ./ferry")]
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Save a server and its token as a context and make it current (token read from standard input).
    ///
    /// The token is checked with the server first; a refused token saves nothing (exit 1). Contexts live
    /// in $XDG_CONFIG_HOME/ferry/config.toml (else ~/.config/ferry/config.toml), mode 0600.
    #[command(
        after_help = "Examples:\n  ferry login --server https://ferry.example.com --token-stdin < token.txt\n  pass show ferry | ferry login --server https://ferry.example.com --token-stdin --name prod"
    )]
    Login {
        /// Read the token from standard input (the only way: a token on the command line would be seen by
        /// other users and kept in shell history).
        #[arg(long, required = true)]
        token_stdin: bool,
        /// Context name (default: the server's host and port).
        #[arg(long)]
        name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Remove the token of a context (default: the current one); its server is kept.
    #[command(after_help = "Examples:\n  ferry logout\n  ferry logout prod")]
    Logout {
        /// Context name.
        name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Saved servers (`ferry login`): list them, choose the current one.
    #[command(after_help = "Examples:\n  ferry context list\n  ferry context use prod")]
    Context {
        #[command(subcommand)]
        command: ContextCommand,
    },
    /// API tokens: create (the secret is shown once), list, revoke.
    ///
    /// With --data DIR, works on the data directory's database directly, without a server (the first
    /// admin token of a new installation, or recovery).
    #[command(
        after_help = "Examples:\n  ferry token create ci --role promoter --products 'shop*' --expires 90d > ci.token\n  ferry token list -o wide\n  ferry token create admin --role admin --data /var/lib/ferry"
    )]
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// DORA metrics of a product: deployment frequency, lead time for changes, change failure rate and
    /// time to restore, for every environment together and for each one.
    #[command(
        after_help = "Examples:\n  ferry dora shop\n  ferry dora shop --env prod --since 2026-01-01\n  ferry dora shop -o json"
    )]
    Dora {
        /// Product.
        product: String,
        /// Only this environment.
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        /// Start of the window: YYYY-MM-DD (UTC) or an RFC 3339 time (default: 90 days ago).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Output format: text, json (the API's document) or yaml.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ReadOutput,
    },
    /// The audit log: every change made through the server, newest first (admin).
    #[command(
        after_help = "Examples:\n  ferry audit --since 2026-01-01\n  ferry audit -o wide\n  ferry audit -o json --limit 1000"
    )]
    Audit {
        /// Only entries at or after: YYYY-MM-DD (UTC) or an RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Page size (1-1000; default 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Continue after a previous page (printed under the table).
        #[arg(long)]
        cursor: Option<String>,
        /// Output format: text, wide, json (the API's page) or yaml.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ListOutput,
    },
    /// Print a completion script for a shell, e.g. `ferry completion bash > /etc/bash_completion.d/ferry`.
    #[command(
        after_help = "Examples:\n  ferry completion bash > /etc/bash_completion.d/ferry\n  ferry completion zsh > \"${fpath[1]}/_ferry\"\n  ferry completion fish > ~/.config/fish/completions/ferry.fish"
    )]
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a manual page (roff) per command and subcommand into a directory: ferry.1,
    /// ferry-release.1, ferry-release-show.1, … (read one with `man -l DIR/ferry-server.1`).
    #[command(
        after_help = "Examples:\n  ferry man --dir ./man\n  ferry man --dir /usr/local/share/man/man1 && mandb -q"
    )]
    Man {
        /// Directory to write the pages into; created if missing, existing pages are replaced.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the client's version and commit, and the server's.
    ///
    /// Exit status 1 when the server does not answer (the client's version is printed first).
    #[command(after_help = "Examples:\n  ferry version\n  ferry version --client\n  ferry version -o json")]
    Version {
        /// Only the client's version; no server is asked.
        #[arg(long)]
        client: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ReadOutput,
    },
    /// The database: apply migrations, or copy an embedded installation to PostgreSQL.
    #[command(
        after_help = "Examples:\n  ferry db migrate --database postgres://ferry@db/ferry\n  ferry db copy --from sqlite:/var/lib/ferry/ferry.db --to postgres://ferry@db/ferry"
    )]
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Run a self-contained demonstration (local git repositories, sample product, live releases).
    ///
    /// Creates a temporary GitOps repository with a sample product (three components, five
    /// environments, a parallel branch and joins), serves the API on 127.0.0.1 and runs two releases:
    /// one that succeeds and one whose post-action step fails. Serves until Ctrl-C.
    #[command(after_help = "Examples:\n  ferry demo\n  ferry demo --listen 127.0.0.1:8080 --exit-when-done")]
    Demo {
        /// Address to serve on (a free port is used when it is taken).
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: String,
        /// Exit when both releases finished (status 0 when they ended as expected), instead of serving.
        #[arg(long)]
        exit_when_done: bool,
        /// Read the target environments' applications from a built-in Argo CD stand-in (Argo CD's API,
        /// deploying from the demo's repository with a short sync delay) instead of status commands:
        /// the Argo CD flow without a cluster.
        #[arg(long)]
        argocd: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContextCommand {
    /// List the contexts; the current one is marked. Tokens are never shown.
    #[command(after_help = "Examples:\n  ferry context list\n  ferry context list -o json")]
    List {
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Make a context the current one.
    #[command(after_help = "Examples:\n  ferry context use prod")]
    Use {
        /// Context name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Apply the migrations the database lacks (the server does it at start unless --no-migrate).
    #[command(
        after_help = "Examples:\n  ferry db migrate --database sqlite:/var/lib/ferry/ferry.db\n  FERRY_DATABASE=postgres://ferry@db/ferry ferry db migrate"
    )]
    Migrate {
        /// The database: sqlite:PATH (or a file path) or postgres://USER@HOST/DB.
        #[arg(long, env = "FERRY_DATABASE", value_name = "URL")]
        database: String,
    },
    /// Copy an embedded installation to PostgreSQL with nothing lost: releases, events, logs,
    /// configuration versions, pull requests, image reports, tokens and the audit log, with the same ids.
    ///
    /// Stop the server first. The target is migrated; one that holds data is refused unless --force.
    #[command(
        after_help = "Examples:\n  ferry db copy --from sqlite:/var/lib/ferry/ferry.db --to postgres://ferry@db/ferry"
    )]
    Copy {
        /// The SQLite database: sqlite:PATH (e.g. sqlite:/var/lib/ferry/ferry.db) or a file path.
        #[arg(long, value_name = "sqlite:PATH")]
        from: String,
        /// The PostgreSQL database: postgres://USER@HOST/DB.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Replace whatever the target holds.
        #[arg(long)]
        force: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
}

/// Where offline token commands work: a data directory instead of a server.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Offline {
    /// Work on DIR/ferry.db directly instead of a server (the server may be stopped).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["server", "database"])]
    pub(crate) data: Option<PathBuf>,
    /// Work on this database directly instead of a server: postgres://USER@HOST/DB (or sqlite:PATH).
    #[arg(long, value_name = "URL", conflicts_with = "server")]
    pub(crate) database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print its secret once.
    ///
    /// Text output: the secret alone on standard output (so `> FILE` keeps just it), the rest on
    /// standard error.
    #[command(
        after_help = "Examples:\n  ferry token create viewer-bot --role viewer\n  ferry token create ci --role promoter --products 'shop*' --env-types non-production --expires 90d > ci.token"
    )]
    Create {
        /// Token name: the actor recorded for what it does (lowercase letters, digits, '-', '_', '.').
        name: String,
        /// What it may do: viewer (read), promoter (read, promote, retry, terminate, approve, PRs),
        /// admin (everything).
        #[arg(long, value_enum)]
        role: token::TokenRole,
        /// Products a promoter may act on, as globs with * and ? (repeatable; default: every product).
        #[arg(long = "products", value_name = "GLOB")]
        products: Vec<String>,
        /// Environment types a promoter may act on: production, non-production (repeatable; default:
        /// both).
        #[arg(long = "env-types", value_name = "TYPE")]
        env_types: Vec<String>,
        /// Lifetime, e.g. 90d (default: until revoked).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        #[command(flatten)]
        offline: Offline,
        /// Output format (json: the created token, secret included).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// List tokens: name, role, scope, status, expiry, creator (never secrets).
    #[command(
        after_help = "Examples:\n  ferry token list\n  ferry token list -o wide\n  ferry token list --data /var/lib/ferry -o yaml"
    )]
    List {
        #[command(flatten)]
        offline: Offline,
        /// Output format: text, wide (with creation and revocation times), json or yaml.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ListOutput,
    },
    /// Revoke a token: it stops working at once, and its web UI sessions end.
    #[command(after_help = "Examples:\n  ferry token revoke ci")]
    Revoke {
        /// Token name.
        name: String,
        #[command(flatten)]
        offline: Offline,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ReleaseCommand {
    /// List a product's releases, newest first.
    #[command(
        after_help = "Examples:\n  ferry release list shop\n  ferry release list shop --status Failed,Terminated --since 2026-01-01 -o wide\n  ferry release list shop -o yaml"
    )]
    List {
        /// Product.
        product: String,
        /// Only these statuses (repeatable or comma-separated), e.g. Failed,Running.
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<String>,
        /// Only this flow (or `manual`).
        #[arg(long)]
        flow: Option<String>,
        /// Created on or after: YYYY-MM-DD (UTC) or an RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Created on or before: YYYY-MM-DD (UTC, that day included) or an RFC 3339 time (excluded).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Page size (1-500; default 50).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
        /// Continue after a previous page (printed under the table).
        #[arg(long)]
        cursor: Option<String>,
        /// Output format: text, wide (every column), json (the API's page) or yaml.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ListOutput,
    },
    /// Show a release as a tree: environments, applications, workflow steps and issues.
    #[command(after_help = "Examples:\n  ferry release show ID\n  ferry release show ID -o json | jq .status")]
    Show {
        /// Release id.
        id: String,
        /// Output format (json and yaml: the release view of SPEC §7.4).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ReadOutput,
    },
    /// Follow a release live until it finishes; exits 0 when it Succeeded, 1 when it Failed or was
    /// Terminated (or --timeout ran out).
    #[command(
        after_help = "Examples:\n  ferry release watch ID\n  ferry release watch ID --timeout 45m || echo 'not finished in time'"
    )]
    Watch {
        /// Release id.
        id: String,
        /// Give up after this long (e.g. 30m) and exit 1; the release goes on.
        #[arg(long, value_parser = parse_duration_arg, value_name = "DURATION")]
        timeout: Option<std::time::Duration>,
    },
    /// Print the workflow logs of a release.
    #[command(
        after_help = "Examples:\n  ferry release logs ID\n  ferry release logs ID --env qa --app shop-api-qa --step e2e --follow\n  ferry release logs ID -o json"
    )]
    Logs {
        /// Release id.
        id: String,
        /// Only runs in this environment.
        #[arg(long)]
        env: Option<String>,
        /// Only runs for this application.
        #[arg(long)]
        app: Option<String>,
        /// Only this step.
        #[arg(long)]
        step: Option<String>,
        /// Keep printing new lines until the release finishes.
        #[arg(long)]
        follow: bool,
        /// Output format: text, or json/yaml (every line in one document `{"items": [...]}`, printed
        /// once all are read — with --follow, when the release finishes).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ReadOutput,
    },
    /// Terminate a Queued, Running or Suspended release: running steps are stopped, open promotion pull
    /// requests closed. Prints the new status.
    ///
    /// Exit status: 0 when requested, 1 when the release cannot be terminated (e.g. it already ended).
    #[command(after_help = "Examples:\n  ferry release terminate ID --reason 'bad build'")]
    Terminate {
        /// Release id.
        id: String,
        /// Why (stored and shown with the release; 1 to 1000 characters).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Output format (json: the release view).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Roll an environment back: a release of flow `rollback` promotes into ENV alone, as one normal
    /// promotion commit through the usual phases, the versions an earlier release put there (default:
    /// the last release Successful in ENV before the one whose versions are there now).
    ///
    /// With --wait, follows it and exits 0 when it Succeeded, 1 otherwise.
    #[command(
        after_help = "Examples:\n  ferry release rollback shop --env prod-eu --reason 'checkout errors'\n  ferry release rollback shop --env staging --to 0190a5c2-7e41-7c3d-9b1e-5d2f8a6c4e10 --wait"
    )]
    Rollback {
        /// Product.
        product: String,
        /// The environment to roll back.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// The release whose versions to restore (it must have been Successful in ENV).
        #[arg(long, value_name = "RELEASE_ID")]
        to: Option<String>,
        /// Why (stored and shown with the rollback; at most 1000 characters).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Follow the rollback until it finishes.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. 30m) and exit 1; the release goes on.
        #[arg(long, requires = "wait", value_parser = parse_duration_arg, value_name = "DURATION")]
        timeout: Option<std::time::Duration>,
        /// Output format (json: the created release; with --wait, the finished one).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Retry a Failed release from the point of failure (same release id).
    ///
    /// With --wait, follows it and exits 0 when it Succeeded, 1 otherwise.
    #[command(after_help = "Examples:\n  ferry release retry ID\n  ferry release retry ID --wait --timeout 1h")]
    Retry {
        /// Release id.
        id: String,
        /// Follow the release until it finishes.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. 30m) and exit 1; the release goes on.
        #[arg(long, requires = "wait", value_parser = parse_duration_arg, value_name = "DURATION")]
        timeout: Option<std::time::Duration>,
        /// Output format (json: the release view; with --wait, the finished one).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Approve what waits for approval in one environment of a release: its approval steps and the
    /// approvals its policy asks for before the action.
    #[command(
        after_help = "Examples:\n  ferry release approve ID --env prod-eu\n  ferry release approve ID --env prod --comment 'tested in staging'"
    )]
    Approve {
        /// Release id.
        id: String,
        /// Environment whose waiting approval steps and policy approvals are approved.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Why (recorded with a policy approval).
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Let one environment of a release through the freeze windows holding it (admin; audited).
    #[command(after_help = "Examples:\n  ferry release unfreeze ID --env prod --reason 'hotfix for INC-7'")]
    Unfreeze {
        /// Release id.
        id: String,
        /// The frozen environment.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Why (stored with the release and in the audit log).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Output format (json: the release view).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Release notes: per component, the commits, pull requests, issues and images since what was live in
    /// the final environment(s) before the release.
    #[command(
        after_help = "Examples:\n  ferry release notes ID\n  ferry release notes ID --format markdown > NOTES.md\n  ferry release notes ID -o yaml"
    )]
    Notes {
        /// Release id.
        id: String,
        /// table (terminal), markdown (ready to paste into a GitHub release) or json.
        #[arg(long, value_enum, default_value_t)]
        format: notes::NotesFormat,
        /// Follow only the first parent in application source repositories.
        #[arg(long)]
        first_parent: bool,
        /// Output format like every reading command: text (the table), json or yaml (the API's notes).
        #[arg(short = 'o', long, value_enum, conflicts_with = "format")]
        output: Option<ReadOutput>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Record an image with its provenance (used by release notes to list the source repository's commits).
    #[command(
        after_help = "Examples:\n  ferry image report --image registry.example/shop/api:1.4.2 --digest sha256:... --git-repo https://git.example/shop/api --git-revision $(git rev-parse HEAD) --git-branch main"
    )]
    Report {
        /// Image reference, e.g. registry.example/shop/api:1.4.2.
        #[arg(long, value_name = "REF")]
        image: String,
        /// Digest (sha256:...).
        #[arg(long, value_name = "DIGEST")]
        digest: Option<String>,
        /// Source repository the image was built from.
        #[arg(long, value_name = "URL")]
        git_repo: String,
        /// Full commit id the image was built from.
        #[arg(long, value_name = "SHA")]
        git_revision: String,
        /// Branch it was built from.
        #[arg(long, value_name = "BRANCH")]
        git_branch: Option<String>,
        /// An annotation (repeatable), e.g. ferry/pull-request=#12.
        #[arg(long = "annotation", value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        /// Issues the image carries, as free text (e.g. "ABC-1, #12").
        #[arg(long, value_name = "TEXT")]
        issues: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FreezeCommand {
    /// Make a runtime freeze: a one-off range (--from/--until) or a recurring window (--cron/--duration).
    #[command(
        after_help = "Examples:\n  ferry freeze create incident --env 'prod*' --from 2026-12-04T10:00:00Z --until 2026-12-04T18:00:00Z --reason INC-7\n  ferry freeze create weekend --env prod --cron '0 16 * * FRI' --duration 64h --time-zone Europe/Berlin"
    )]
    Create {
        /// Name (lowercase letters, digits, -).
        name: String,
        /// Environment glob (repeatable; none = every environment).
        #[arg(long = "env", value_name = "GLOB")]
        environments: Vec<String>,
        /// Product glob (repeatable; none = every product).
        #[arg(long = "product", value_name = "GLOB")]
        products: Vec<String>,
        /// Start of a one-off range (RFC 3339).
        #[arg(long, value_name = "TIME", requires = "until", conflicts_with = "cron")]
        from: Option<String>,
        /// End of a one-off range (RFC 3339, excluded).
        #[arg(long, value_name = "TIME", requires = "from")]
        until: Option<String>,
        /// Five-field cron schedule of a recurring window, e.g. '0 16 * * FRI'.
        #[arg(long, value_name = "SCHEDULE", requires = "duration")]
        cron: Option<String>,
        /// How long each occurrence lasts, e.g. 64h.
        #[arg(long, value_name = "DURATION", requires = "cron")]
        duration: Option<String>,
        /// IANA time zone of the schedule (default UTC), e.g. Europe/Berlin.
        #[arg(long, value_name = "ZONE", requires = "cron")]
        time_zone: Option<String>,
        /// Why (shown with the window).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// The freezes in force, with the window holding now and the next one.
    #[command(after_help = "Examples:\n  ferry freeze list\n  ferry freeze list -o json")]
    List {
        /// Output format: text, json or yaml.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ListOutput,
    },
    /// Delete a runtime freeze; releases it held continue at once.
    #[command(after_help = "Examples:\n  ferry freeze delete incident")]
    Delete {
        /// Name.
        name: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PrCommand {
    /// List promotion pull requests, newest first.
    #[command(after_help = "Examples:\n  ferry pr list\n  ferry pr list --product shop --state open -o wide")]
    List {
        /// Only this product's.
        #[arg(long)]
        product: Option<String>,
        /// Only in this state.
        #[arg(long, value_enum)]
        state: Option<pr::PrState>,
        /// Output format: text, wide (with applications, repository and head), json or yaml.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: ListOutput,
    },
    /// Merge an open pull request into its target branch (a real merge commit, pushed); the release
    /// continues with the environment's sync and health.
    #[command(after_help = "Examples:\n  ferry pr merge 12")]
    Merge {
        /// Pull-request number (as `pr list` shows it, without `#`).
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        number: u64,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Close an open pull request without merging; its environment fails.
    #[command(after_help = "Examples:\n  ferry pr close 12 --comment 'superseded'")]
    Close {
        /// Pull-request number (as `pr list` shows it, without `#`).
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        number: u64,
        /// Why it is closed (at most 1000 characters).
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Show the effective policy of an environment and which source supplied each field.
    #[command(
        after_help = "Examples:\n  ferry policy explain shop prod-eu -f ./ferry\n  ferry policy explain shop qa --flow hotfix -f ./ferry -o json"
    )]
    Explain {
        /// Product name.
        product: String,
        /// Target environment.
        environment: String,
        /// Flow; default: the product's first flow that has the environment as a step.
        #[arg(long)]
        flow: Option<String>,
        /// Configuration file or directory to read (repeatable).
        #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// Every command and subcommand, by its path (`ferry release list`).
    fn walk(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            out.push((path.clone(), sub.clone()));
            walk(sub, &path, out);
        }
    }

    #[test]
    fn every_command_has_examples_in_its_help() {
        let mut all = Vec::new();
        walk(&Cli::command(), "ferry", &mut all);
        assert!(all.len() > 30, "{}", all.len());
        for (path, command) in all {
            let help = command.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.starts_with("Examples:\n  ferry "), "{path} has no examples");
            let name = path.split(' ').nth(1).unwrap_or_default();
            assert!(help.contains(&format!("ferry {name}")), "{path}: its examples use it");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
