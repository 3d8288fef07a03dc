//! `ferry pr list|merge|close`: promotion pull requests of the local provider (SPEC §6.2).

use std::process::ExitCode;

use clap::ValueEnum;
use ferry_api::{ClosePullRequest, PullRequest, PullRequestList, PullState};
use serde_json::json;

use crate::client::Client;
use crate::output::{ListOutput, print_data};
use crate::release::enc;
use crate::render::table;
use crate::{Output, style};

/// A pull request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrState {
    /// Waiting to be merged or closed.
    Open,
    /// Merged into its target branch.
    Merged,
    /// Closed without merge.
    Closed,
}

impl PrState {
    fn as_str(self) -> &'static str {
        match self {
            PrState::Open => "open",
            PrState::Merged => "merged",
            PrState::Closed => "closed",
        }
    }
}

/// `○ open`, `✓ merged`, `✗ closed`: a symbol and the word, never colour alone.
pub fn state_label(state: PullState) -> String {
    let symbol = match state {
        PullState::Open => "○",
        PullState::Merged => "✓",
        PullState::Closed => "✗",
    };
    format!("{symbol} {state}")
}

/// The first 8 hex digits of a release id, as the UI shows it.
fn short_release(id: &str) -> String {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    if hex.len() == 8 { hex } else { id.to_owned() }
}

/// `#3`.
fn number(pr: &PullRequest) -> String {
    format!("#{}", pr.number)
}

/// The table of `pr list`.
pub fn pr_table(items: &[PullRequest], wide: bool) -> String {
    let mut header = vec!["NUMBER", "STATE", "PRODUCT", "ENVIRONMENT", "BRANCH → TARGET", "RELEASE", "TITLE"];
    if wide {
        header.extend(["APPLICATIONS", "REPOSITORY", "HEAD"]);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|pr| {
            let release = if wide { pr.release.clone() } else { short_release(&pr.release) };
            let mut row = vec![
                number(pr),
                state_label(pr.state),
                pr.product.clone(),
                pr.environment.clone(),
                format!("{} → {}", pr.branch, pr.target),
                release,
                pr.title.clone(),
            ];
            if wide {
                row.extend([pr.applications.join(","), pr.repo.clone(), pr.head.clone()]);
            }
            row
        })
        .collect();
    table(&header, &rows)
}

/// `pr list`.
pub async fn list(
    client: &Client,
    product: Option<&str>,
    state: Option<PrState>,
    output: ListOutput,
) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    if let Some(p) = product {
        query.push(format!("product={}", enc(p)));
    }
    if let Some(st) = state {
        query.push(format!("state={}", st.as_str()));
    }
    let path = if query.is_empty() { "/api/v1/pulls".to_owned() } else { format!("/api/v1/pulls?{}", query.join("&")) };
    let page: PullRequestList = client.get_as(&path).await?;
    if let Some(format) = output.data() {
        print_data(&page, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = page.items;
    if items.is_empty() {
        println!("No pull requests match.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", pr_table(&items, output.wide()));
    if items.iter().any(|pr| pr.state == PullState::Open) {
        println!();
        println!(
            "{}",
            style::hint("Merge one: ferry pr merge NUMBER · close one: ferry pr close NUMBER --comment TEXT")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `pr merge`.
pub async fn merge(client: &Client, number: u64, output: Output) -> anyhow::Result<ExitCode> {
    let pr: PullRequest = client.post_as(&format!("/api/v1/pulls/{number}/merge"), &json!({})).await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&pr)?);
        return Ok(ExitCode::SUCCESS);
    }
    let commit = match pr.merge_commit.as_deref() {
        None | Some("") => String::new(),
        Some(commit) => format!(" (merge commit {})", commit.get(..7).unwrap_or(commit)),
    };
    println!("{}", style::ok(&format!("pull request #{number} merged into {}{commit}", pr.target)));
    println!("{}", describe(&pr));
    Ok(ExitCode::SUCCESS)
}

/// `pr close`.
pub async fn close(client: &Client, number: u64, comment: Option<&str>, output: Output) -> anyhow::Result<ExitCode> {
    let body = serde_json::to_value(ClosePullRequest { comment: comment.map(str::to_owned) })?;
    let pr: PullRequest = client.post_as(&format!("/api/v1/pulls/{number}/close"), &body).await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&pr)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", style::ok(&format!("pull request #{number} closed without merge")));
    println!("{}", describe(&pr));
    if let Some(comment) = pr.comment.as_deref().filter(|c| !c.is_empty()) {
        println!("comment: {comment}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `#3 ✓ merged · shop prod · ferry/shop/prod/0194… → main · release 01940000`.
fn describe(pr: &PullRequest) -> String {
    format!(
        "{} {} · {} {} · {} → {} · release {}",
        number(pr),
        state_label(pr.state),
        pr.product,
        pr.environment,
        pr.branch,
        pr.target,
        short_release(&pr.release),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(n: u64, state: &str) -> PullRequest {
        serde_json::from_value(json!({
            "number": n, "release": "01940000-aaaa-7000-8000-000000000001", "product": "shop", "environment": "prod",
            "applications": ["shop-api-prod"], "repo": "https://git.example.com/shop.git",
            "branch": "ferry/shop/prod/01940000-aaaa-7000-8000-000000000001", "target": "main", "state": state,
            "head": "0123456789abcdef0123456789abcdef01234567", "mergeCommit": null, "comment": null,
            "title": "promote shop 1.4.2: staging -> prod"
        }))
        .expect("a pull request")
    }

    #[test]
    fn states_carry_a_symbol_and_a_word() {
        assert_eq!(state_label(PullState::Open), "○ open");
        assert_eq!(state_label(PullState::Merged), "✓ merged");
        assert_eq!(state_label(PullState::Closed), "✗ closed");
    }

    #[test]
    fn the_pull_request_table() {
        let text = pr_table(&[pr(12, "open"), pr(3, "merged")], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NUMBER  STATE     PRODUCT  ENVIRONMENT  BRANCH → TARGET"), "{text}");
        assert!(
            lines[1].starts_with(
                "#12     ○ open    shop     prod         ferry/shop/prod/01940000-aaaa-7000-8000-000000000001 → main  \
                 01940000  promote shop 1.4.2: staging -> prod"
            ),
            "{text}"
        );
        assert!(lines[2].starts_with("#3      ✓ merged"), "{text}");
        assert_eq!(describe(&pr(3, "merged")).split(" · ").count(), 4);
        assert_eq!(short_release("not-a-uuid"), "not-a-uuid");
    }
}
