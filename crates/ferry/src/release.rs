//! `ferry promote` and `ferry release list|show|watch|logs|terminate|retry|approve`.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use ferry_api::{
    ApproveRequest, Approved, EnvironmentList, LogPage, LogStream, ProductDetail, PromoteRequest, ReleaseItem,
    ReleasePage, ReleaseView, RollbackRequest, TerminateRequest,
};
use ferry_model::status::ReleaseStatus;
use serde_json::json;

use crate::client::{Client, ClientError};
use crate::output::{ListOutput, ReadOutput, print_data};
use crate::progress::{self, Progress};
use crate::render::{changes, env_legend, label, release_tree, table, time_of};
use crate::{Output, exit, style};

/// How often `logs --follow` looks for new lines while the release runs.
const LOG_POLL: Duration = Duration::from_secs(1);
/// Lines per logs request.
const LOG_PAGE: usize = 1000;

/// Percent-encodes a path segment or query value.
pub fn enc(text: &str) -> String {
    ferry_api::path::encode(text)
}

/// Filters of `release list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    /// Statuses (repeatable or comma-separated).
    pub statuses: Vec<String>,
    /// Flow.
    pub flow: Option<String>,
    /// Created at or after (date or RFC 3339).
    pub since: Option<String>,
    /// Created before (date, inclusive, or RFC 3339).
    pub until: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor from a previous page.
    pub cursor: Option<String>,
}

/// `release list` (and `get releases`).
pub async fn list(
    client: &Client,
    product: Option<&str>,
    f: &ListFilters,
    output: ListOutput,
) -> anyhow::Result<ExitCode> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(p) = product {
        query.push(("product", p.to_owned()));
    }
    for st in &f.statuses {
        query.push(("status", st.clone()));
    }
    for (key, value) in [("flow", &f.flow), ("since", &f.since), ("until", &f.until), ("cursor", &f.cursor)] {
        if let Some(v) = value {
            query.push((key, v.clone()));
        }
    }
    if let Some(limit) = f.limit {
        query.push(("limit", limit.to_string()));
    }
    let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    let path = if qs.is_empty() { "/api/v1/releases".to_owned() } else { format!("/api/v1/releases?{}", qs.join("&")) };
    let page: ReleasePage = client.get_as(&path).await?;
    if let Some(format) = output.data() {
        print_data(&page, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = &page.items;
    if items.is_empty() {
        match product {
            Some(p) => println!("No releases of {p} match."),
            None => println!("No releases match."),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let columns = env_columns(client, product, items).await;
    // Wide: every column, always (product, reason).
    let show_product = product.is_none() || output.wide();
    let reason = |i: &ReleaseItem| i.reason.clone().unwrap_or_default();
    let show_reason = output.wide() || items.iter().any(|i| !reason(i).is_empty());
    let mut header = vec!["CREATED"];
    if show_product {
        header.push("PRODUCT");
    }
    header.extend(["STATUS", "INITIATOR", "FLOW"]);
    header.extend(columns.iter().map(String::as_str));
    header.push("ID");
    if show_reason {
        header.push("REASON");
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let mut row = vec![time_of(Some(i.created_at))];
            if show_product {
                row.push(i.product.clone());
            }
            let flow = match (i.flow.as_str(), i.flow_version.as_deref().unwrap_or_default()) {
                ("manual", _) => "Manual".to_owned(),
                (f, "") => f.to_owned(),
                (f, v) => format!("{f} {v}"),
            };
            row.extend([label(i.status.as_str()), i.initiator.clone(), flow]);
            for env in &columns {
                row.push(i.environments.get(env).map_or_else(|| "-".to_owned(), |s| s.symbol().to_owned()));
            }
            row.push(i.id.to_string());
            if show_reason {
                row.push(reason(i));
            }
            row
        })
        .collect();
    print!("{}", table(&header, &rows));
    println!();
    println!("{}", style::hint(&env_legend()));
    if let Some(next) = &page.next {
        let product = product.map(|p| format!(" {p}")).unwrap_or_default();
        println!("{}", style::hint(&format!("More: ferry release list{product} --cursor {next}")));
    }
    Ok(ExitCode::SUCCESS)
}

/// Environment columns: the product's environments in dashboard order, then any other the rows name.
async fn env_columns(client: &Client, product: Option<&str>, items: &[ReleaseItem]) -> Vec<String> {
    let mut ordered: Vec<String> = Vec::new();
    if let Some(p) = product
        && let Ok(detail) = client.get_as::<ProductDetail>(&format!("/api/v1/products/{}", enc(p))).await
    {
        ordered = detail.environments;
    }
    if ordered.is_empty()
        && let Ok(envs) = client.get_as::<EnvironmentList>("/api/v1/environments").await
    {
        ordered = envs.items.into_iter().map(|e| e.name).collect();
    }
    let used: BTreeSet<String> = items.iter().flat_map(|i| i.environments.keys().cloned()).collect();
    let mut columns: Vec<String> = ordered.into_iter().filter(|e| used.contains(e)).collect();
    for e in used {
        if !columns.contains(&e) {
            columns.push(e);
        }
    }
    columns
}

/// `release show`.
pub async fn show(client: &Client, id: &str, output: ReadOutput) -> anyhow::Result<ExitCode> {
    let view: ReleaseView = client.get_as(&format!("/api/v1/releases/{}", enc(id))).await?;
    if let Some(format) = output.data() {
        print_data(&view, format)?;
    } else {
        print!("{}", release_tree(&view));
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows a release over the event stream until its status is final; `report` is called with the
/// previous and the new view after each change. Returns the final view.
async fn follow(
    client: &Client,
    id: &str,
    mut report: impl FnMut(Option<&ReleaseView>, &ReleaseView),
) -> Result<ReleaseView, ClientError> {
    let stream_path = format!("/api/v1/events?release={}", enc(id));
    let view_path = format!("/api/v1/releases/{}", enc(id));
    // Subscribe before reading the view, so no change after the read is missed.
    let mut stream = client.events(&stream_path, None).await?;
    let mut view: ReleaseView = client.get_as(&view_path).await?;
    report(None, &view);
    let mut last_id = None;
    let mut reconnects = 0;
    while !ended(&view) {
        match stream.next().await {
            Ok(Some(event)) => {
                last_id = event.id.or(last_id);
                last_id = stream.skip_buffered().or(last_id);
            }
            Ok(None) | Err(_) => {
                reconnects += 1;
                if reconnects > 5 {
                    return Err(ClientError::Protocol(format!(
                        "the server at {} keeps closing the event stream",
                        client.base()
                    )));
                }
                stream = client.events(&stream_path, last_id).await?;
            }
        }
        let new: ReleaseView = client.get_as(&view_path).await?;
        report(Some(&view), &new);
        view = new;
    }
    Ok(view)
}

/// Whether the release has ended: a final status and nothing left running (a release can be Failed
/// while a parallel branch still finishes, SPEC §3.4).
fn ended(view: &ReleaseView) -> bool {
    view.status.is_final() && view.finished_at.is_some()
}

fn outcome(view: &ReleaseView) -> ExitCode {
    if view.status == ReleaseStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(exit::FAILED) }
}

/// Like [`follow`], giving up after `timeout`: `Ok(None)` then.
async fn follow_for(
    client: &Client,
    id: &str,
    timeout: Option<Duration>,
    report: impl FnMut(Option<&ReleaseView>, &ReleaseView),
) -> Result<Option<ReleaseView>, ClientError> {
    match timeout {
        None => follow(client, id, report).await.map(Some),
        Some(limit) => match tokio::time::timeout(limit, follow(client, id, report)).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        },
    }
}

/// The end of a wait that `--timeout` cut short: says so on standard error, exit status 1.
fn timed_out(id: &str, timeout: Option<Duration>) -> ExitCode {
    let after = timeout.map(ferry_model::format_duration).unwrap_or_default();
    eprintln!(
        "{} timed out after {after} waiting for release {id}; it goes on (follow it: ferry release watch {id})",
        style::error_label()
    );
    ExitCode::from(exit::FAILED)
}

/// `release watch`: redraws the tree on a terminal, prints one line per change otherwise.
pub async fn watch(client: &Client, id: &str, timeout: Option<Duration>) -> anyhow::Result<ExitCode> {
    let terminal = std::io::stdout().is_terminal();
    let view = follow_for(client, id, timeout, |old, new| {
        if terminal {
            print!("\x1b[2J\x1b[H{}", release_tree(new));
            if !ended(new) {
                println!("\n{}", style::hint(&format!("{} — watching; Ctrl-C to stop", progress::line(new))));
            }
        } else if old.is_none() {
            print!("{}", release_tree(new));
            println!();
        } else {
            for line in changes(old, new) {
                println!("{line}");
            }
        }
    })
    .await?;
    let Some(view) = view else { return Ok(timed_out(id, timeout)) };
    println!("release {} finished: {}", view.id, label(view.status.as_str()));
    Ok(outcome(&view))
}

/// Waits for release `id` with the progress display (on standard error when standard output carries
/// JSON); `None` when `timeout` ran out.
async fn wait_for(
    client: &Client,
    id: &str,
    timeout: Option<Duration>,
    json: bool,
) -> Result<Option<ReleaseView>, ClientError> {
    let mut progress = Progress::new(json);
    let view = follow_for(client, id, timeout, |old, new| progress.update(&changes(old, new), new)).await;
    progress.finish();
    view
}

/// `promote`.
pub async fn promote(
    client: &Client,
    product: &str,
    flow: Option<String>,
    from: Option<String>,
    to: Option<String>,
    wait: Wait,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let body = serde_json::to_value(PromoteRequest { flow, from, to })?;
    let created: ReleaseView = client.post_as(&format!("/api/v1/products/{}/promote", enc(product)), &body).await?;
    follow_created(client, created, product, wait, output).await
}

/// `release rollback` (SPEC §10): a release of flow `rollback` into `env`.
pub async fn rollback(
    client: &Client,
    product: &str,
    request: RollbackRequest,
    wait: Wait,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let body = serde_json::to_value(request)?;
    let created: ReleaseView = client.post_as(&format!("/api/v1/products/{}/rollback", enc(product)), &body).await?;
    if output != Output::Json
        && let Some(r) = &created.rollback
    {
        let replaces = r.replaces.map(|id| format!(", replacing release {id}")).unwrap_or_default();
        println!("rolling {} back to release {}{replaces}", r.environment, r.target);
    }
    follow_created(client, created, product, wait, output).await
}

/// Prints a release just created, and with `wait`, follows it until it finishes.
async fn follow_created(
    client: &Client,
    created: ReleaseView,
    product: &str,
    wait: Wait,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let id = created.id.to_string();
    if !wait.wait {
        if output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&created)?);
        } else {
            let flow = match created.flow.as_str() {
                "" => String::new(),
                f => format!(" (flow {f})"),
            };
            println!("{}", style::ok(&format!("release {id} created for {product}{flow}")));
            println!("{}", style::hint(&format!("Follow it: ferry release watch {id}")));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if output != Output::Json {
        println!("{}", style::ok(&format!("release {id} created for {product}; waiting for it to finish")));
    }
    let json = output == Output::Json;
    let Some(view) = wait_for(client, &id, wait.timeout, json).await? else {
        return Ok(timed_out(&id, wait.timeout));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!("release {id} finished: {}", label(view.status.as_str()));
    }
    Ok(outcome(&view))
}

/// `--wait` and its `--timeout`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wait {
    /// Follow the release until it ends.
    pub wait: bool,
    /// Give up after this long.
    pub timeout: Option<Duration>,
}

/// `release terminate`: asks the server to terminate the release and prints its new status.
pub async fn terminate(client: &Client, id: &str, reason: &str, output: Output) -> anyhow::Result<ExitCode> {
    let view: ReleaseView = client
        .post_as(
            &format!("/api/v1/releases/{}/terminate", enc(id)),
            &serde_json::to_value(TerminateRequest { reason: Some(reason.to_owned()) })?,
        )
        .await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", style::ok(&format!("termination of release {id} requested")));
    print_status(id, &view);
    Ok(ExitCode::SUCCESS)
}

/// `release retry`: asks the server to retry a failed release; with `wait`, follows it like `watch` and
/// exits 0 when it Succeeded, 1 otherwise.
pub async fn retry(client: &Client, id: &str, wait: Wait, output: Output) -> anyhow::Result<ExitCode> {
    let view: ReleaseView = client.post_as(&format!("/api/v1/releases/{}/retry", enc(id)), &json!({})).await?;
    let json = output == Output::Json;
    if !wait.wait {
        if json {
            println!("{}", serde_json::to_string_pretty(&view)?);
        } else {
            println!("{}", style::ok(&format!("retry of release {id} requested")));
            print_status(id, &view);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !json {
        println!("{}", style::ok(&format!("retry of release {id} requested; waiting for it to finish")));
    }
    let Some(view) = wait_for(client, id, wait.timeout, json).await? else {
        return Ok(timed_out(id, wait.timeout));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!("release {id} finished: {}", label(view.status.as_str()));
    }
    Ok(outcome(&view))
}

/// `release approve`: approves the approval steps and the policy approvals waiting in one environment.
pub async fn approve(
    client: &Client,
    id: &str,
    env: &str,
    comment: Option<String>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let body = serde_json::to_value(ApproveRequest { environment: Some(env.to_owned()), comment })?;
    let answer: Approved = client.post_as(&format!("/api/v1/releases/{}/approve", enc(id)), &body).await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let steps = answer.approved;
    println!("{}", style::ok(&format!("approved in {env} of release {id}:")));
    for step in steps {
        println!("  {step}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `release ID: ● Running`, plus how to follow it while it is not final.
fn print_status(id: &str, view: &ReleaseView) {
    println!("release {id}: {}", label(view.status.as_str()));
    if !view.status.is_final() {
        println!("{}", style::hint(&format!("Follow it: ferry release watch {id}")));
    }
}

/// What `release logs` shows: filters, following, output.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Only this environment's runs.
    pub env: Option<String>,
    /// Only this application's runs.
    pub app: Option<String>,
    /// Only this step.
    pub step: Option<String>,
    /// Until the release finishes.
    pub follow: bool,
    /// Text, or every line in one JSON/YAML document (`{"items": [...]}`) at the end.
    pub output: ReadOutput,
}

/// `release logs`.
pub async fn logs(client: &Client, id: &str, options: &LogOptions) -> anyhow::Result<ExitCode> {
    let LogOptions { env, app, step, follow, output } = options;
    let (env, app, step, follow) = (env.as_deref(), app.as_deref(), step.as_deref(), *follow);
    let mut collected = Vec::new();
    let mut filters = String::new();
    for (key, value) in [("env", env), ("app", app), ("step", step)] {
        if let Some(v) = value {
            filters.push_str(&format!("&{key}={}", enc(v)));
        }
    }
    let view_path = format!("/api/v1/releases/{}", enc(id));
    let mut after = 0;
    let mut finishing = false;
    loop {
        let page: LogPage = client
            .get_as(&format!("/api/v1/releases/{}/logs?after={after}&limit={LOG_PAGE}{filters}", enc(id)))
            .await?;
        let items = page.items;
        for line in &items {
            if output.data().is_some() {
                collected.push(line.clone());
                continue;
            }
            let place = match (line.environment.as_deref(), line.application.as_deref()) {
                (None | Some(""), _) => "release".to_owned(),
                (Some(e), None | Some("")) => e.to_owned(),
                (Some(e), Some(a)) => format!("{e}/{a}"),
            };
            let what = match line.workflow.as_deref() {
                None | Some("") => line.step.clone(),
                Some(w) => format!("{w}/{}", line.step),
            };
            let text = format!("{place} {what} | {}", line.text);
            if line.stream == LogStream::Stderr {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        }
        after = page.next;
        if items.len() == LOG_PAGE {
            continue;
        }
        if !follow || finishing {
            if let Some(format) = output.data() {
                print_data(&serde_json::json!({ "items": collected }), format)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        let view: ReleaseView = client.get_as(&view_path).await?;
        if ended(&view) {
            // One more read for lines written before the release finished.
            finishing = true;
            continue;
        }
        tokio::time::sleep(LOG_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(id: &str, seq: i64, status: &str) -> ferry_store::Write {
        let at = jiff::Timestamp::UNIX_EPOCH;
        ferry_store::Write::Release(Box::new(ferry_store::ReleaseWrite {
            view: Some(serde_json::to_value(view(id, status)).unwrap()),
            ..ferry_store::test_support::release_write(id, "shop", status, at, seq, 1)
        }))
    }

    /// A release view of `status` with no environments, finished when the status is final.
    fn view(id: &str, status: &str) -> ReleaseView {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let status: ReleaseStatus = status.parse().unwrap();
        ReleaseView {
            id: id.parse().unwrap(),
            product: "shop".into(),
            flow: "standard".into(),
            flow_version: None,
            version: None,
            status,
            initiator: "alice".into(),
            created_at: at,
            started_at: Some(at),
            finished_at: status.is_final().then_some(at),
            reason: None,
            retries: 0,
            terminate: None,
            last_retry: None,
            trigger: ferry_api::TriggerView {
                environment: "dev".into(),
                sha: "00e81fed5f2da0ab8310f4d032695b9ec0548e06".into(),
                short_sha: "00e81fe".into(),
                message: "feat: x".into(),
                author: "Dana".into(),
                author_email: "dana@example.com".into(),
                date: at,
                repo: "https://git.example.com/shop.git".into(),
                branch: "main".into(),
                web_url: None,
            },
            counters: ferry_api::Counters::default(),
            environments: vec![],
            hooks: vec![],
            context: Default::default(),
            issues: vec![],
            rollback: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn follow_reports_changes_until_the_release_is_final() {
        use ferry_store::Store;
        let dir = tempfile::tempdir().unwrap();
        let store = ferry_store::SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = ferry_engine::EngineConfig::new(dir.path().to_path_buf(), base.clone());
        let (engine, _task) = ferry_engine::start(store.clone(), config).await.unwrap();
        let settings = ferry_server::ServerSettings::default();
        tokio::spawn(ferry_server::serve(listener, store.clone(), engine, settings));
        let id = "01940000-0000-7000-8000-0000000000aa";
        assert!(store.write(vec![write(id, 0, "Running")]).await.unwrap()[0].is_ok());

        let client = Client::new(&base, crate::client::Credentials::default()).unwrap();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        let follower = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut first = Some(first_tx);
            let view = follow(&client, id, |_, new| {
                seen.push(new.status.as_str().to_owned());
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
            })
            .await
            .unwrap();
            (view, seen)
        });
        // The follower has subscribed and read the view: later changes reach it as events.
        first_rx.await.unwrap();
        assert!(store.write(vec![write(id, 1, "Suspended")]).await.unwrap()[0].is_ok());
        assert!(store.write(vec![write(id, 2, "Succeeded")]).await.unwrap()[0].is_ok());
        let (view, seen) = follower.await.unwrap();
        assert_eq!(view.status, ReleaseStatus::Succeeded);
        assert_eq!(seen.first().map(String::as_str), Some("Running"), "{seen:?}");
        assert!(seen.len() >= 2, "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("Succeeded"), "{seen:?}");
        assert_eq!(outcome(&view), ExitCode::SUCCESS);
    }

    #[test]
    fn encoding() {
        assert_eq!(enc("shop"), "shop");
        assert_eq!(enc("2026-01-01T00:00:00+02:00"), "2026-01-01T00%3A00%3A00%2B02%3A00");
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
    }
}
