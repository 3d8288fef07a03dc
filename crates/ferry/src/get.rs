//! `ferry get KIND [NAME]`: the configuration in use, as tables or JSON.

use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::Value;

use crate::client::Client;
use crate::release::{self, ListFilters, enc};
use crate::render::{label, s, table, time};
use crate::{Output, exit, style};

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Products (with NAME: one product with its live state).
    Products,
    /// Environments, in dashboard order.
    Environments,
    /// Applications.
    Applications,
    /// Promotion flows.
    Flows,
    /// Promotion policies, strongest first.
    Policies,
    /// Workflows.
    Workflows,
    /// Releases (NAME: a product).
    Releases,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Products => "/api/v1/products",
            Kind::Environments => "/api/v1/environments",
            Kind::Applications => "/api/v1/applications",
            Kind::Flows => "/api/v1/flows",
            Kind::Policies => "/api/v1/policies",
            Kind::Workflows => "/api/v1/workflows",
            Kind::Releases => "/api/v1/releases",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Products => "product",
            Kind::Environments => "environment",
            Kind::Applications => "application",
            Kind::Flows => "flow",
            Kind::Policies => "policy",
            Kind::Workflows => "workflow",
            Kind::Releases => "release",
        }
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn or_dash(text: &str) -> String {
    if text.is_empty() { "-".to_owned() } else { text.to_owned() }
}

fn labels(v: &Value) -> String {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// Output formats of `ferry get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum GetOutput {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON for machines.
    Json,
    /// YAML for machines and people.
    Yaml,
}

/// Prints a document as YAML.
fn print_yaml(doc: &serde_json::Value) -> anyhow::Result<()> {
    print!("{}", serde_saphyr::to_string(doc).map_err(|e| anyhow::anyhow!("rendering YAML: {e}"))?);
    Ok(())
}

/// Runs the command.
pub async fn run(client: &Client, kind: Kind, name: Option<&str>, output: GetOutput) -> anyhow::Result<ExitCode> {
    if kind == Kind::Releases {
        if output == GetOutput::Yaml {
            let path = match name {
                Some(product) => format!("/api/v1/releases?product={}", enc(product)),
                None => "/api/v1/releases".to_owned(),
            };
            print_yaml(&client.get(&path).await?)?;
            return Ok(ExitCode::SUCCESS);
        }
        let output = if output == GetOutput::Json { Output::Json } else { Output::Text };
        return release::list(client, name, &ListFilters::default(), output).await;
    }
    if kind == Kind::Products
        && let Some(name) = name
    {
        let detail = client.get(&format!("/api/v1/products/{}", enc(name))).await?;
        if output == GetOutput::Json {
            println!("{}", serde_json::to_string_pretty(&detail)?);
        } else if output == GetOutput::Yaml {
            print_yaml(&detail)?;
        } else {
            print!("{}", product_detail(&detail));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut list = client.get(kind.path()).await?;
    if let Some(name) = name
        && let Some(items) = list["items"].as_array_mut()
    {
        items.retain(|i| s(i, "name") == name);
        if items.is_empty() {
            eprintln!("{} no {} named {name:?}", style::error_label(), kind.noun());
            return Ok(ExitCode::from(exit::FAILED));
        }
    }
    if output == GetOutput::Json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if output == GetOutput::Yaml {
        print_yaml(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        let message = format!("No {}s configured. Apply a configuration with `ferry apply -f DIR`.", kind.noun());
        println!("{}", message.replace("policys", "policies"));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(kind, &items));
    Ok(ExitCode::SUCCESS)
}

fn render(kind: Kind, items: &[Value]) -> String {
    match kind {
        Kind::Products => table(
            &["NAME", "FLOWS", "CONCURRENCY", "TEMPLATE", "APPLICATIONS", "LABELS"],
            &items
                .iter()
                .map(|p| {
                    let flows: Vec<&str> =
                        p["promotionFlows"].as_array().into_iter().flatten().map(|f| s(f, "name")).collect();
                    let template = if p["inlinePromotionTemplate"] == true {
                        "inline".to_owned()
                    } else {
                        or_dash(s(p, "promotionTemplateRef"))
                    };
                    vec![
                        s(p, "name").to_owned(),
                        flows.join(", "),
                        s(p, "concurrency").to_owned(),
                        template,
                        p["applications"].to_string(),
                        or_dash(&labels(&p["labels"])),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Environments => table(
            &["NAME", "TYPE", "ORDER", "CLUSTERS"],
            &items
                .iter()
                .map(|e| {
                    let clusters: Vec<String> = e["clusters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            let ns = strings(&c["namespaces"]);
                            if ns.is_empty() {
                                s(c, "name").to_owned()
                            } else {
                                format!("{}/{}", s(c, "name"), ns.join("+"))
                            }
                        })
                        .collect();
                    vec![
                        s(e, "name").to_owned(),
                        s(e, "type").to_owned(),
                        e["order"].as_i64().map_or("-".to_owned(), |o| o.to_string()),
                        or_dash(&clusters.join(", ")),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Applications => table(
            &["NAME", "ENVIRONMENT", "COMPONENT", "REPOSITORY", "PATH", "BRANCH", "STATUS"],
            &items
                .iter()
                .map(|a| {
                    ["name", "environment", "component", "repoURL", "path", "targetRevision", "statusSource"]
                        .iter()
                        .map(|k| or_dash(s(a, k)))
                        .collect()
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Flows => table(
            &["NAME", "VERSION", "TRIGGER", "STEPS (environment←dependencies)", "TIMEOUT", "DESCRIPTION"],
            &items
                .iter()
                .map(|f| {
                    let steps: Vec<String> = f["steps"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|st| format!("{}←{}", s(st, "environment"), strings(&st["dependsOn"]).join("+")))
                        .collect();
                    vec![
                        s(f, "name").to_owned(),
                        or_dash(s(f, "version")),
                        s(f, "triggerEnvironment").to_owned(),
                        steps.join(" "),
                        s(f, "timeout").to_owned(),
                        or_dash(s(f, "description")),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Policies => table(
            &["NAME", "PRIORITY", "PRODUCTS", "ENVIRONMENTS", "ACTION", "PRE-ACTION", "POST-ACTION"],
            &items
                .iter()
                .map(|p| {
                    let any = |v: &Value| if v.is_null() { "any".to_owned() } else { strings(v).join(", ") };
                    let mut products = any(&p["productNames"]);
                    if !p["productLabels"].is_null() {
                        products = format!("{products} ({})", labels(&p["productLabels"]));
                    }
                    let mut envs = any(&p["environmentNames"]);
                    if !p["environmentTypes"].is_null() {
                        envs = format!("{envs} [{}]", strings(&p["environmentTypes"]).join(", "));
                    }
                    let fields = &p["policy"];
                    vec![
                        s(p, "name").to_owned(),
                        p["priority"].to_string(),
                        products,
                        envs,
                        or_dash(s(fields, "action")),
                        or_dash(s(fields, "preAction")),
                        or_dash(s(fields, "postAction")),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Workflows => table(
            &["NAME", "BACKEND", "STEPS", "TIMEOUT"],
            &items
                .iter()
                .map(|w| {
                    let steps: Vec<&str> =
                        w["steps"].as_array().into_iter().flatten().map(|st| s(st, "name")).collect();
                    let backend = match s(w, "template") {
                        "" => s(w, "backend").to_owned(),
                        t => format!("{} ({t})", s(w, "backend")),
                    };
                    vec![s(w, "name").to_owned(), backend, or_dash(&steps.join(", ")), or_dash(s(w, "timeout"))]
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Releases => String::new(),
    }
}

/// One product: summary, live environment × application state, latest release, recent events.
fn product_detail(d: &Value) -> String {
    let p = &d["product"];
    let mut out = String::new();
    let flows: Vec<&str> = d["flows"].as_array().into_iter().flatten().map(|f| s(f, "name")).collect();
    out.push_str(&format!(
        "Product {} · concurrency {} · template {} · flows: {}\n",
        s(p, "name"),
        s(p, "concurrency"),
        or_dash(s(p, "promotionTemplateRef")),
        or_dash(&flows.join(", "))
    ));
    let latest = &d["latestRelease"];
    if latest.is_object() {
        out.push_str(&format!(
            "Latest release: {} {} · {} by {}\n",
            s(latest, "id"),
            label(s(latest, "status")),
            time(s(latest, "createdAt")),
            s(latest, "initiator")
        ));
    } else {
        out.push_str("Latest release: none yet\n");
    }
    out.push('\n');
    let live = d["live"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = d["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let state = live.iter().find(|l| s(l, "application") == s(a, "name"));
            let get = |k: &str| state.map_or("-".to_owned(), |l| or_dash(s(l, k)));
            let status = |k: &str| state.map_or("-".to_owned(), |l| label(s(l, k)));
            let revision = get("revision");
            vec![
                s(a, "environment").to_owned(),
                s(a, "component").to_owned(),
                s(a, "name").to_owned(),
                get("version"),
                revision.get(..7).unwrap_or(&revision).to_owned(),
                status("sync"),
                status("health"),
            ]
        })
        .collect();
    out.push_str(&table(&["ENVIRONMENT", "COMPONENT", "APPLICATION", "VERSION", "COMMIT", "SYNC", "HEALTH"], &rows));
    let events = d["events"].as_array().cloned().unwrap_or_default();
    if !events.is_empty() {
        out.push_str("\nRecent events:\n");
        for e in events {
            out.push_str(&format!("  {} {}: {}\n", time(s(&e, "at")), s(&e, "kind"), s(&e, "message")));
        }
    }
    out
}
