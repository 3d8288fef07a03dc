//! `ferry`: the command-line interface of Ferry.

mod apply;
mod audit;
mod cli;
mod client;
mod contexts;
mod contexts_cmd;
mod db;
mod demo;
mod diff;
mod dora;
mod explain;
mod freeze;
mod get;
mod logging;
mod man;
mod notes;
mod output;
mod pr;
mod progress;
mod release;
mod render;
mod server;
mod server_config;
mod style;
mod token;
mod validate;
mod version;

use std::path::PathBuf;
use std::process::ExitCode;

pub use cli::Output;
use cli::{
    Cli, Command, ContextCommand, DbCommand, FreezeCommand, ImageCommand, Offline, PolicyCommand, PrCommand,
    ReleaseCommand, TokenCommand,
};

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

/// Bad usage or invalid input found by the CLI itself: printed as an error, exit status 2.
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// The global client options.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--server`, `--token` and the environment.
    pub inputs: contexts::Inputs,
    /// `--ca-cert` or `FERRY_CA_CERT`.
    pub ca_cert: Option<PathBuf>,
}

impl Globals {
    /// The configuration file's path and contents (empty when there is no file or no home directory).
    pub fn config(&self) -> anyhow::Result<(Option<PathBuf>, contexts::Config)> {
        let Some(path) = contexts::path() else { return Ok((None, contexts::Config::default())) };
        let config = contexts::load(&path).map_err(|e| Invalid(e.to_string()))?;
        Ok((Some(path), config))
    }

    /// Which server and token to use (SPEC §8.2); the configuration file is read only when needed.
    pub fn target(&self) -> anyhow::Result<contexts::Target> {
        let config = if self.inputs.needs_config() { self.config()?.1 } else { contexts::Config::default() };
        Ok(contexts::resolve(&self.inputs, &config))
    }

    /// The certificate authorities of `--ca-cert`.
    pub fn ca_certs(&self) -> anyhow::Result<Vec<reqwest::Certificate>> {
        match &self.ca_cert {
            None => Ok(Vec::new()),
            Some(file) => client::read_ca_certs(file).map_err(|e| Invalid(e).into()),
        }
    }

    /// A client of the resolved server with the resolved token.
    pub fn client(&self) -> anyhow::Result<client::Client> {
        let target = self.target()?;
        let credentials = client::Credentials { token: target.token, ca_certs: self.ca_certs()? };
        Ok(client::Client::new(&target.server, credentials)?)
    }
}

/// Runs `command` on a small runtime.
fn block_on<T, Fut>(command: Fut) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(command)
}

/// Runs a client command on a small runtime.
fn client_command<F, Fut>(globals: &Globals, command: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(client::Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let client = globals.client()?;
    block_on(command(client))
}

fn dispatch(command: Command, globals: &Globals) -> anyhow::Result<ExitCode> {
    match command {
        Command::Server {
            config_file: _,
            config,
            data,
            database,
            no_migrate,
            listen,
            auth,
            bootstrap_token_file,
            public_urls,
            webhook_secret_file,
            tls_cert,
            tls_key,
            git_token_file,
            argocd_server,
            argo_server,
            retention,
            poll_interval,
            health_poll_interval,
            kill_grace,
            replica_id,
            lease_expiry,
            lease_renew_interval,
        } => server::run(server::Options {
            config,
            data,
            database,
            migrate: !no_migrate,
            listen,
            auth,
            bootstrap_token_file,
            public_urls,
            webhook_secret_file,
            tls: tls_cert.zip(tls_key).map(|(cert, key)| ferry_server::tls::TlsFiles { cert, key }),
            git_token_file,
            argocd_server,
            argo_server,
            retention,
            replica_id,
            timing: server::Timing {
                poll_interval,
                health_poll_interval,
                kill_grace,
                lease_expiry,
                lease_renew_interval,
            },
        }),
        Command::Login { token_stdin: _, name, output } => contexts_cmd::login(globals, name, output),
        Command::Logout { name, output } => contexts_cmd::logout(globals, name, output),
        Command::Context { command: ContextCommand::List { output } } => contexts_cmd::list(globals, output),
        Command::Context { command: ContextCommand::Use { name } } => contexts_cmd::use_context(globals, &name),
        Command::Token { command } => match command {
            TokenCommand::Create { name, role, products, env_types, expires, offline, output } => {
                let new =
                    ferry_server::auth::NewToken { name, role: role.as_str().to_owned(), products, env_types, expires };
                token::create(globals, offline.place()?, new, output)
            }
            TokenCommand::List { offline, output } => token::list(globals, offline.place()?, output),
            TokenCommand::Revoke { name, offline, output } => token::revoke(globals, offline.place()?, &name, output),
        },
        Command::Db { command: DbCommand::Migrate { database } } => db::migrate(&database),
        Command::Db { command: DbCommand::Copy { from, to, force, output } } => db::copy(&from, &to, force, output),
        Command::Dora { product, env, since, output } => {
            client_command(globals, |c| async move { dora::run(&c, &product, env, since, output).await })
        }
        Command::Audit { since, limit, cursor, output } => {
            client_command(globals, |c| async move { audit::run(&c, since, limit, cursor, output).await })
        }
        Command::Apply { files, dry_run: false, output } => {
            client_command(globals, |c| async move { apply::run(&c, &files, output).await })
        }
        Command::Apply { files, dry_run: true, output } => {
            client_command(globals, |c| async move { diff::dry_run(&c, &files, output).await })
        }
        Command::Diff { files } => client_command(globals, |c| async move { diff::run(&c, &files).await }),
        Command::Completion { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "ferry", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => man::run(&dir),
        Command::Version { client, output } => version::run(globals, client, output),
        Command::Get { kind, name, output } => {
            client_command(globals, |c| async move { get::run(&c, kind, name.as_deref(), output).await })
        }
        Command::Promote { product, flow, from, to, wait, timeout, output } => {
            let wait = release::Wait { wait, timeout };
            client_command(
                globals,
                |c| async move { release::promote(&c, &product, flow, from, to, wait, output).await },
            )
        }
        Command::Release { command } => client_command(globals, |c| async move {
            match command {
                ReleaseCommand::List { product, statuses, flow, since, until, limit, cursor, output } => {
                    let filters = release::ListFilters { statuses, flow, since, until, limit, cursor };
                    release::list(&c, Some(&product), &filters, output).await
                }
                ReleaseCommand::Show { id, output } => release::show(&c, &id, output).await,
                ReleaseCommand::Watch { id, timeout } => release::watch(&c, &id, timeout).await,
                ReleaseCommand::Logs { id, env, app, step, follow, output } => {
                    release::logs(&c, &id, &release::LogOptions { env, app, step, follow, output }).await
                }
                ReleaseCommand::Terminate { id, reason, output } => release::terminate(&c, &id, &reason, output).await,
                ReleaseCommand::Rollback { product, env, to, reason, wait, timeout, output } => {
                    let request = ferry_api::RollbackRequest { env: Some(env), to, reason };
                    release::rollback(&c, &product, request, release::Wait { wait, timeout }, output).await
                }
                ReleaseCommand::Retry { id, wait, timeout, output } => {
                    release::retry(&c, &id, release::Wait { wait, timeout }, output).await
                }
                ReleaseCommand::Approve { id, env, comment, output } => {
                    release::approve(&c, &id, &env, comment, output).await
                }
                ReleaseCommand::Unfreeze { id, env, reason, output } => {
                    freeze::unfreeze(&c, &id, &env, &reason, output).await
                }
                ReleaseCommand::Notes { id, format, first_parent, output } => {
                    notes::show(&c, &id, format, first_parent, output).await
                }
            }
        }),
        Command::Image {
            command:
                ImageCommand::Report { image, digest, git_repo, git_revision, git_branch, annotations, issues, output },
        } => client_command(globals, |c| async move {
            let report = notes::ImageReport { image, digest, git_repo, git_revision, git_branch, annotations, issues };
            notes::report_image(&c, report, output).await
        }),
        Command::Freeze { command } => client_command(globals, |c| async move {
            match command {
                FreezeCommand::Create {
                    name,
                    environments,
                    products,
                    from,
                    until,
                    cron,
                    duration,
                    time_zone,
                    reason,
                    output,
                } => {
                    let args =
                        freeze::Create { name, environments, products, from, until, cron, duration, time_zone, reason };
                    freeze::create(&c, args, output).await
                }
                FreezeCommand::List { output } => freeze::list(&c, output).await,
                FreezeCommand::Delete { name, output } => freeze::delete(&c, &name, output).await,
            }
        }),
        Command::Pr { command } => client_command(globals, |c| async move {
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
        Command::Demo { listen, exit_when_done, argocd } => match server::parse_listen(&listen) {
            Ok(listen) if listen.ip().is_loopback() => demo::run(demo::DemoOptions { listen, exit_when_done, argocd }),
            Ok(_) => Err(Invalid(format!(
                "--listen {listen}: the demo has no tokens and serves on a loopback address only (127.0.0.1 or [::1])"
            ))
            .into()),
            Err(message) => {
                eprintln!("{} {message}", style::error_label());
                Ok(ExitCode::from(exit::INVALID))
            }
        },
    }
}

impl Offline {
    /// Where a token command works: the server, a data directory or a database.
    fn place(self) -> anyhow::Result<token::Place> {
        if let Some(database) = self.database {
            let database = ferry_store::Database::parse(&database).map_err(|e| Invalid(format!("--database {e}")))?;
            return Ok(token::Place::Database(database));
        }
        Ok(match self.data {
            Some(dir) => token::Place::Data(dir),
            None => token::Place::Server,
        })
    }
}

fn main() -> ExitCode {
    let cli = match server_config::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("{} {e}", style::error_label());
            return ExitCode::from(exit::INVALID);
        }
    };
    style::init(cli.color);
    let filter =
        if matches!(cli.command, Command::Server { .. }) { logging::SERVER_FILTER } else { logging::QUIET_FILTER };
    if let Err(message) = logging::init(cli.log_format, style::stderr_colour(), filter) {
        eprintln!("{} {message}", style::error_label());
        return ExitCode::from(exit::INVALID);
    }
    let ca_cert =
        cli.ca_cert.or_else(|| std::env::var_os("FERRY_CA_CERT").filter(|v| !v.is_empty()).map(PathBuf::from));
    let globals = Globals { inputs: contexts::Inputs::new(cli.server, cli.token), ca_cert };
    match dispatch(cli.command, &globals) {
        Ok(code) => code,
        Err(err) => {
            if let Some(e) = err.downcast_ref::<client::ClientError>() {
                eprintln!("{} {e}", style::error_label());
                ExitCode::from(e.exit_code())
            } else if let Some(e) = err.downcast_ref::<Invalid>() {
                eprintln!("{} {e}", style::error_label());
                ExitCode::from(exit::INVALID)
            } else {
                eprintln!("{} {err:#}", style::error_label());
                ExitCode::from(exit::FAILED)
            }
        }
    }
}
