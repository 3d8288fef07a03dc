//! `ferry release notes` and `ferry image report`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::ValueEnum;

use ferry_api as wire;
use ferry_api::ImageReportRequest;

use crate::client::Client;
use crate::output::{ReadOutput, print_data};
use crate::release::enc;
use crate::{Output, exit, style};

/// How `release notes` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum NotesFormat {
    /// Aligned tables for the terminal.
    #[default]
    Table,
    /// Markdown, ready to paste into a GitHub release.
    Markdown,
    /// The API's JSON.
    Json,
}

/// `release notes ID`.
pub async fn show(
    client: &Client,
    id: &str,
    format: NotesFormat,
    first_parent: bool,
    output: Option<ReadOutput>,
) -> anyhow::Result<ExitCode> {
    let mut path = format!("/api/v1/releases/{}/notes", enc(id));
    if first_parent {
        path.push_str("?firstParent=true");
    }
    let notes: wire::notes::Notes = client.get_as(&path).await?;
    // `-o json|yaml` prints the API's document like every reading command; `-o text` is the table.
    let format = match output {
        Some(output) => match output.data() {
            Some(data) => {
                print_data(&notes, data)?;
                return Ok(ExitCode::SUCCESS);
            }
            None => NotesFormat::Table,
        },
        None => format,
    };
    match format {
        NotesFormat::Json => println!("{}", serde_json::to_string_pretty(&notes)?),
        NotesFormat::Markdown => print!("{}", ferry_notes::render::markdown(&notes)),
        _ => print!("{}", ferry_notes::render::text(&notes)),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `image report` sends.
#[derive(Debug, Clone)]
pub struct ImageReport {
    /// Image reference.
    pub image: String,
    /// Digest.
    pub digest: Option<String>,
    /// Source repository.
    pub git_repo: String,
    /// Source commit.
    pub git_revision: String,
    /// Source branch.
    pub git_branch: Option<String>,
    /// `KEY=VALUE` annotations.
    pub annotations: Vec<String>,
    /// Issues text.
    pub issues: Option<String>,
}

/// `KEY=VALUE` pairs into a map; a malformed or repeated key is an error naming it.
pub fn parse_annotations(items: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("--annotation {item:?}: expected KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("--annotation {item:?}: the key is empty"));
        }
        if map.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("--annotation {key}: given more than once"));
        }
    }
    Ok(map)
}

/// `image report`.
pub async fn report_image(client: &Client, report: ImageReport, output: Output) -> anyhow::Result<ExitCode> {
    let annotations = match parse_annotations(&report.annotations) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{} {message}", style::error_label());
            return Ok(ExitCode::from(exit::INVALID));
        }
    };
    let request = ImageReportRequest {
        image: Some(report.image),
        digest: report.digest,
        git_repo: Some(report.git_repo),
        git_revision: Some(report.git_revision),
        git_branch: report.git_branch,
        annotations,
        issues: report.issues,
    };
    let stored: wire::ImageReport = client.post_as("/api/v1/images", &serde_json::to_value(&request)?).await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&stored)?);
        return Ok(ExitCode::SUCCESS);
    }
    let revision = &stored.git_revision;
    println!(
        "{}",
        style::ok(&format!(
            "recorded image {} (report {}) built from {} at {}",
            stored.image,
            stored.id,
            stored.git_repo,
            revision.get(..7).unwrap_or(revision)
        ))
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_key_value_pairs() {
        let items = ["ferry/pull-request=#12".to_owned(), "note=a=b".to_owned(), "empty=".to_owned()];
        let map = parse_annotations(&items).unwrap();
        assert_eq!(map["ferry/pull-request"], "#12");
        assert_eq!(map["note"], "a=b");
        assert_eq!(map["empty"], "");
        assert!(parse_annotations(&["novalue".to_owned()]).unwrap_err().contains("KEY=VALUE"));
        assert!(parse_annotations(&["=x".to_owned()]).unwrap_err().contains("empty"));
        assert!(parse_annotations(&["a=1".to_owned(), "a=2".to_owned()]).unwrap_err().contains("more than once"));
    }
}
