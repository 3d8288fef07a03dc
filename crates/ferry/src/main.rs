//! `ferry`: the command-line interface of Ferry.

mod apply;
mod client;
mod demo;
mod explain;
mod get;
mod notes;
mod pr;
mod release;
mod render;
mod server;
mod style;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Ferry: GitOps promotion orchestrator with product releases.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Ferry server to talk to (client commands).
    #[arg(long, global = true, env = "FERRY_SERVER", default_value = "http://127.0.0.1:7878")]
    pub server: String,
    #[command(subcommand)]
    command: Command,
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Ferry: the engine, the HTTP API with live events, on an embedded SQLite database.
    ///
    /// Prints `ferry server listening on http://ADDRESS` on stdout once it accepts connections; stops
    /// gracefully on SIGINT or SIGTERM.
    Server {
        /// Apply the configuration in this directory (or file) at start; invalid → exit 2.
        #[arg(long, value_name = "DIR")]
        config: Option<PathBuf>,
        /// Data directory (database `ferry.db`, git mirrors); created if missing.
        /// Default: $XDG_DATA_HOME/ferry, else ~/.local/share/ferry.
        #[arg(long, env = "FERRY_DATA", value_name = "DIR")]
        data: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free port. Only loopback addresses until authentication exists.
        #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDRESS:PORT")]
        listen: String,
        /// How often trigger environments' branches are polled for new commits (push hooks react at once).
        #[arg(long, default_value = "30s", value_parser = parse_duration_arg, value_name = "DURATION")]
        poll_interval: std::time::Duration,
        /// How often an application's health command is re-run until it is healthy.
        #[arg(long, default_value = "2s", value_parser = parse_duration_arg, value_name = "DURATION")]
        health_poll_interval: std::time::Duration,
        /// Time a stopped workflow step gets between SIGTERM and SIGKILL.
        #[arg(long, default_value = "10s", value_parser = parse_duration_arg, value_name = "DURATION")]
        kill_grace: std::time::Duration,
    },
    /// Send configuration files to the server, which validates them as one set and applies them.
    ///
    /// Exit status: 0 when applied, 2 when invalid (every problem is listed).
    Apply {
        /// YAML file or directory (recursive); repeatable.
        #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// List the configuration in use, or releases.
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
        /// Output format (json: the created release; with --wait, the finished one).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Inspect and control releases.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Check configuration files without applying them; reports every problem at once.
    ///
    /// Exit status: 0 when valid (warnings allowed), 2 when invalid.
    Validate {
        /// YAML file or directory (recursive); repeatable.
        #[arg(short = 'f', long = "file", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Promotion pull requests of the local provider: list, merge, close.
    Pr {
        #[command(subcommand)]
        command: PrCommand,
    },
    /// Image reports (SPEC §6.5): record where an image was built from.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Inspect promotion policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Run a self-contained demonstration (local git repositories, sample product, live releases).
    ///
    /// Creates a temporary GitOps repository with a sample product (three components, five
    /// environments, a parallel branch and joins), serves the API on 127.0.0.1 and runs two releases:
    /// one that succeeds and one whose post-action step fails. Serves until Ctrl-C.
    Demo {
        /// Address to serve on (a free port is used when it is taken).
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: String,
        /// Exit when both releases finished (status 0 when they ended as expected), instead of serving.
        #[arg(long)]
        exit_when_done: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ReleaseCommand {
    /// List a product's releases, newest first.
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
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show a release as a tree: environments, applications, workflow steps and issues.
    Show {
        /// Release id.
        id: String,
        /// Output format (json: the release view of SPEC §7.4).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Follow a release live until it finishes; exits 0 when it Succeeded, 1 when it Failed or was Terminated.
    Watch {
        /// Release id.
        id: String,
    },
    /// Print the workflow logs of a release.
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
    },
    /// Terminate a Queued, Running or Suspended release: running steps are stopped, open promotion pull
    /// requests closed. Prints the new status.
    ///
    /// Exit status: 0 when requested, 1 when the release cannot be terminated (e.g. it already ended).
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
    /// Retry a Failed release from the point of failure (same release id).
    ///
    /// With --wait, follows it and exits 0 when it Succeeded, 1 otherwise.
    Retry {
        /// Release id.
        id: String,
        /// Follow the release until it finishes.
        #[arg(long)]
        wait: bool,
        /// Output format (json: the release view; with --wait, the finished one).
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Approve the approval steps waiting in one environment of a release.
    Approve {
        /// Release id.
        id: String,
        /// Environment whose waiting approval steps are approved.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Release notes: per component, the commits, pull requests, issues and images since what was live in
    /// the final environment(s) before the release.
    Notes {
        /// Release id.
        id: String,
        /// table (terminal), markdown (ready to paste into a GitHub release) or json.
        #[arg(long, value_enum, default_value_t)]
        format: notes::NotesFormat,
        /// Follow only the first parent in application source repositories.
        #[arg(long)]
        first_parent: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Record an image with its provenance (used by release notes to list the source repository's commits).
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
enum PrCommand {
    /// List promotion pull requests, newest first.
    List {
        /// Only this product's.
        #[arg(long)]
        product: Option<String>,
        /// Only in this state.
        #[arg(long, value_enum)]
        state: Option<pr::PrState>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Merge an open pull request into its target branch (a real merge commit, pushed); the release
    /// continues with the environment's sync and health.
    Merge {
        /// Pull-request number (as `pr list` shows it, without `#`).
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        number: u64,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Close an open pull request without merging; its environment fails.
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
enum PolicyCommand {
    /// Show the effective policy of an environment and which source supplied each field.
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

/// Parses a duration argument such as `30s` or `1m30s`.
fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    ferry_model::parse_duration(text).map_err(|e| e.to_string())
}

/// Exit statuses of SPEC §7.1.
pub mod exit {
    /// The operation failed.
    pub const FAILED: u8 = 1;
    /// Bad usage or invalid input.
    pub const INVALID: u8 = 2;
}

/// Runs a client command on a small runtime.
fn client_command<F, Fut>(server: &str, command: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(client::Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let client = client::Client::new(server)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(command(client))
}

fn dispatch(command: Command, server: &str) -> anyhow::Result<ExitCode> {
    match command {
        Command::Server { config, data, listen, poll_interval, health_poll_interval, kill_grace } => server::run(
            config.as_deref(),
            data,
            &listen,
            server::Timing { poll_interval, health_poll_interval, kill_grace },
        ),
        Command::Apply { files, output } => {
            client_command(server, |c| async move { apply::run(&c, &files, output).await })
        }
        Command::Get { kind, name, output } => {
            client_command(server, |c| async move { get::run(&c, kind, name.as_deref(), output).await })
        }
        Command::Promote { product, flow, from, to, wait, output } => {
            client_command(
                server,
                |c| async move { release::promote(&c, &product, flow, from, to, wait, output).await },
            )
        }
        Command::Release { command } => client_command(server, |c| async move {
            match command {
                ReleaseCommand::List { product, statuses, flow, since, until, limit, cursor, output } => {
                    let filters = release::ListFilters { statuses, flow, since, until, limit, cursor };
                    release::list(&c, Some(&product), &filters, output).await
                }
                ReleaseCommand::Show { id, output } => release::show(&c, &id, output).await,
                ReleaseCommand::Watch { id } => release::watch(&c, &id).await,
                ReleaseCommand::Logs { id, env, app, step, follow } => {
                    release::logs(&c, &id, env.as_deref(), app.as_deref(), step.as_deref(), follow).await
                }
                ReleaseCommand::Terminate { id, reason, output } => release::terminate(&c, &id, &reason, output).await,
                ReleaseCommand::Retry { id, wait, output } => release::retry(&c, &id, wait, output).await,
                ReleaseCommand::Approve { id, env, output } => release::approve(&c, &id, &env, output).await,
                ReleaseCommand::Notes { id, format, first_parent } => notes::show(&c, &id, format, first_parent).await,
            }
        }),
        Command::Image {
            command:
                ImageCommand::Report { image, digest, git_repo, git_revision, git_branch, annotations, issues, output },
        } => client_command(server, |c| async move {
            let report = notes::ImageReport { image, digest, git_repo, git_revision, git_branch, annotations, issues };
            notes::report_image(&c, report, output).await
        }),
        Command::Pr { command } => client_command(server, |c| async move {
            match command {
                PrCommand::List { product, state, output } => pr::list(&c, product.as_deref(), state, output).await,
                PrCommand::Merge { number, output } => pr::merge(&c, number, output).await,
                PrCommand::Close { number, comment, output } => pr::close(&c, number, comment.as_deref(), output).await,
            }
        }),
        Command::Validate { files, output } => validate::run(&files, output),
        Command::Policy { command: PolicyCommand::Explain { product, environment, flow, files, output } } => {
            explain::run(&product, &environment, flow.as_deref(), &files, output)
        }
        Command::Demo { listen, exit_when_done } => match server::parse_listen(&listen) {
            Ok(listen) => demo::run(demo::DemoOptions { listen, exit_when_done }),
            Err(message) => {
                eprintln!("{} {message}", style::error_label());
                Ok(ExitCode::from(exit::INVALID))
            }
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command, &cli.server) {
        Ok(code) => code,
        Err(err) => match err.downcast_ref::<client::ClientError>() {
            Some(e) => {
                eprintln!("{} {e}", style::error_label());
                ExitCode::from(e.exit_code())
            }
            None => {
                eprintln!("{} {err:#}", style::error_label());
                ExitCode::from(exit::FAILED)
            }
        },
    }
}
