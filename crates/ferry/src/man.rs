//! `ferry man --dir DIR`: one roff manual page per command and subcommand, from the clap definitions.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::Cli;

/// Writes `ferry.1`, `ferry-release.1`, `ferry-release-show.1`, … into `dir` (created if missing) and
/// prints each file's path.
pub fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("--dir {}: cannot create it", dir.display()))?;
    let mut out = std::io::stdout().lock();
    for page in write_pages(dir)? {
        writeln!(out, "{}", page.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders every visible command's page into `dir`; the paths written, the top-level page first.
fn write_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building names each subcommand `ferry-release-show`, which becomes its page's title and file.
    command.build();
    let mut written = Vec::new();
    write_tree(command, dir, &mut written)?;
    Ok(written)
}

fn write_tree(command: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let subcommands: Vec<clap::Command> = command.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    let page = clap_mangen::Man::new(command).source(format!("ferry {}", env!("CARGO_PKG_VERSION")));
    let file = page
        .generate_to(dir)
        .with_context(|| format!("--dir {}: cannot write {}", dir.display(), page.get_filename()))?;
    written.push(file);
    for sub in subcommands {
        write_tree(sub, dir, written)?;
    }
    Ok(())
}
