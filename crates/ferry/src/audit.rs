//! `ferry audit`: the audit log (SPEC §8.2), newest first.

use std::process::ExitCode;

use ferry_api::{AuditEntry, AuditPage};

use crate::client::Client;
use crate::output::{ListOutput, print_data};
use crate::release::enc;
use crate::render::table;
use crate::style;

/// Runs the command.
pub async fn run(
    client: &Client,
    since: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    output: ListOutput,
) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    if let Some(since) = &since {
        query.push(format!("since={}", enc(since)));
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    if let Some(cursor) = &cursor {
        query.push(format!("cursor={}", enc(cursor)));
    }
    let path = if query.is_empty() { "/api/v1/audit".to_owned() } else { format!("/api/v1/audit?{}", query.join("&")) };
    let page: AuditPage = client.get_as(&path).await?;
    if let Some(format) = output.data() {
        print_data(&page, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    if page.items.is_empty() {
        println!("No audit entries match.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&page.items, output.wide()));
    if let Some(next) = &page.next {
        let mut again = String::from("ferry audit");
        if let Some(since) = &since {
            again.push_str(&format!(" --since {since}"));
        }
        if let Some(limit) = limit {
            again.push_str(&format!(" --limit {limit}"));
        }
        println!("{}", style::hint(&format!("More: {again} --cursor {next}")));
    }
    Ok(ExitCode::SUCCESS)
}

/// The entries as a table: time, actor, action, target, result, source (and why, when refused or failed).
fn render(items: &[AuditEntry], wide: bool) -> String {
    let show_detail = wide || items.iter().any(|i| i.detail.as_ref().is_some_and(|d| !d.is_empty()));
    let mut header = vec!["TIME", "ACTOR", "ACTION", "TARGET", "RESULT", "SOURCE"];
    if show_detail {
        header.push("DETAIL");
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let mut row = vec![
                i.at.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
                i.actor.clone(),
                i.action.clone(),
                i.target.clone(),
                format!("{} {}", i.status, i.outcome),
                i.source.clone(),
            ];
            if show_detail {
                row.push(i.detail.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entries_are_one_row_each_with_the_reason_when_refused() {
        let items: Vec<AuditEntry> = serde_json::from_value(json!([
            {"id": 2, "at": "2026-01-05T10:00:07Z", "actor": "ci", "action": "product.promote",
                   "target": "/api/v1/products/shop/promote", "status": 403, "outcome": "denied",
                   "source": "127.0.0.1:5000", "detail": "the token \"ci\" may not act on product \"shop\""},
            {"id": 1, "at": "2026-01-05T10:00:00Z", "actor": "admin", "action": "config.apply",
                   "target": "/api/v1/apply", "status": 200, "outcome": "ok", "source": "127.0.0.1:4000",
                   "detail": null},
        ]))
        .expect("audit entries");
        let text = render(&items, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TIME") && lines[0].ends_with("DETAIL"), "{text}");
        assert!(lines[1].starts_with("2026-01-05 10:00:07Z  ci") && lines[1].contains("403 denied"), "{text}");
        assert!(lines[1].ends_with("may not act on product \"shop\""), "{text}");
        assert!(lines[2].contains("config.apply") && lines[2].contains("200 ok"), "{text}");
    }
}
