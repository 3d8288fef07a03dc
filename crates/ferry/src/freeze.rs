//! `ferry freeze create|list|delete` (runtime freezes, SPEC §10) and `ferry release unfreeze`.

use std::process::ExitCode;

use ferry_api::{Freeze, FreezeList, FreezeWindow, NewFreeze, Occurrence, ReleaseView, UnfreezeRequest};
use jiff::Timestamp;

use crate::cli::Output;
use crate::client::Client;
use crate::output::{ListOutput, print_data};
use crate::release::enc;
use crate::render::table;
use crate::style;

/// What `ferry freeze create` sends.
pub struct Create {
    /// Name.
    pub name: String,
    /// Environment globs.
    pub environments: Vec<String>,
    /// Product globs.
    pub products: Vec<String>,
    /// One-off start (RFC 3339).
    pub from: Option<String>,
    /// One-off end (RFC 3339).
    pub until: Option<String>,
    /// Recurring schedule.
    pub cron: Option<String>,
    /// Recurring duration.
    pub duration: Option<String>,
    /// Time zone of the schedule.
    pub time_zone: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

fn instant(flag: &str, text: Option<String>) -> anyhow::Result<Option<Timestamp>> {
    text.map(|t| {
        t.parse::<Timestamp>().map_err(|_| {
            anyhow::anyhow!("{flag}: invalid time {t:?}; use RFC 3339 with an offset, e.g. 2026-12-24T00:00:00+01:00")
        })
    })
    .transpose()
}

/// `ferry freeze create`.
pub async fn create(client: &Client, args: Create, output: Output) -> anyhow::Result<ExitCode> {
    let body = NewFreeze {
        name: args.name,
        environments: args.environments,
        products: args.products,
        window: FreezeWindow {
            from: instant("--from", args.from)?,
            until: instant("--until", args.until)?,
            cron: args.cron,
            duration: args.duration,
            time_zone: args.time_zone,
        },
        reason: args.reason,
    };
    let created: Freeze = client.post_as("/api/v1/freezes", &serde_json::to_value(&body)?).await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&created)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", style::ok(&format!("freeze {} created", created.name)));
    print!("{}", render(std::slice::from_ref(&created)));
    Ok(ExitCode::SUCCESS)
}

/// `ferry freeze list`.
pub async fn list(client: &Client, output: ListOutput) -> anyhow::Result<ExitCode> {
    let list: FreezeList = client.get_as("/api/v1/freezes").await?;
    if let Some(format) = output.data() {
        print_data(&list, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.items.is_empty() {
        println!("No freezes.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&list.items));
    Ok(ExitCode::SUCCESS)
}

/// `ferry freeze delete NAME`.
pub async fn delete(client: &Client, name: &str, output: Output) -> anyhow::Result<ExitCode> {
    let left: FreezeList =
        client.post_as(&format!("/api/v1/freezes/{}/delete", enc(name)), &serde_json::json!({})).await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&left)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", style::ok(&format!("freeze {name} deleted")));
    Ok(ExitCode::SUCCESS)
}

/// `ferry release unfreeze ID --env E --reason R`.
pub async fn unfreeze(client: &Client, id: &str, env: &str, reason: &str, output: Output) -> anyhow::Result<ExitCode> {
    let body = UnfreezeRequest { environment: Some(env.to_owned()), reason: Some(reason.to_owned()) };
    let view: ReleaseView =
        client.post_as(&format!("/api/v1/releases/{}/unfreeze", enc(id)), &serde_json::to_value(body)?).await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", style::ok(&format!("{env} of release {id} let through its freeze windows")));
    println!("release {id}: {}", view.status.as_str());
    Ok(ExitCode::SUCCESS)
}

fn window(w: &FreezeWindow) -> String {
    match (&w.from, &w.until, &w.cron) {
        (Some(from), Some(until), _) => format!("{from} .. {until}"),
        (_, _, Some(cron)) => {
            format!("{cron} for {} ({})", w.duration.as_deref().unwrap_or("?"), w.time_zone.as_deref().unwrap_or("UTC"))
        }
        _ => String::new(),
    }
}

fn occurrence(o: &Option<Occurrence>) -> String {
    o.as_ref().map_or_else(|| "-".to_owned(), |o| format!("{} .. {}", o.from, o.until))
}

fn globs(g: &[String]) -> String {
    if g.is_empty() { "*".to_owned() } else { g.join(",") }
}

/// The freezes as a table.
fn render(items: &[Freeze]) -> String {
    let header = ["NAME", "SOURCE", "ENVIRONMENTS", "PRODUCTS", "WINDOW", "ACTIVE", "NEXT"];
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                f.source.clone(),
                globs(&f.environments),
                globs(&f.products),
                window(&f.window),
                occurrence(&f.active),
                occurrence(&f.next),
            ]
        })
        .collect();
    table(&header, &rows)
}
