//! `ferry get KIND [NAME]`: the configuration in use, as tables or JSON.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::ValueEnum;

use ferry_api as wire;
use serde_json::Value;

use crate::client::{Client, ClientError};
use crate::output::ListOutput;
use crate::release::{self, ListFilters, enc};
use crate::render::{label, table, time_of};
use crate::{exit, style};

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
    /// Git providers: which forge serves which repositories (credentials only as where they are read).
    #[value(alias = "gitproviders")]
    GitProviders,
    /// Outgoing notifications (webhook URLs cut to scheme and host; secrets never shown).
    Notifications,
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
            Kind::GitProviders => "/api/v1/gitproviders",
            Kind::Notifications => "/api/v1/notifications",
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
            Kind::GitProviders => "git provider",
            Kind::Notifications => "notification",
            Kind::Releases => "release",
        }
    }
}

fn or_dash(text: &str) -> String {
    if text.is_empty() { "-".to_owned() } else { text.to_owned() }
}

fn opt(text: Option<&String>) -> String {
    text.map_or_else(|| "-".to_owned(), |t| or_dash(t))
}

fn labels(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Where a secret is read from (`env NAME`, `file PATH`); the server never sends the secret.
fn secret_ref(r: &wire::SecretRef) -> String {
    match (&r.env, &r.file) {
        (Some(name), _) => format!("env {name}"),
        (None, Some(path)) => format!("file {path}"),
        (None, None) => "-".to_owned(),
    }
}

/// A list of one kind of resource, as the API answers it.
#[derive(Debug)]
enum Listing {
    Products(wire::ProductList),
    Environments(wire::EnvironmentList),
    Applications(wire::ApplicationList),
    Flows(wire::FlowList),
    Policies(wire::PolicyList),
    Workflows(wire::WorkflowList),
    GitProviders(wire::GitProviderList),
    Notifications(wire::NotificationList),
}

impl Listing {
    async fn read(client: &Client, kind: Kind) -> Result<Listing, ClientError> {
        let path = kind.path();
        Ok(match kind {
            Kind::Environments => Listing::Environments(client.get_as(path).await?),
            Kind::Applications => Listing::Applications(client.get_as(path).await?),
            Kind::Flows => Listing::Flows(client.get_as(path).await?),
            Kind::Policies => Listing::Policies(client.get_as(path).await?),
            Kind::Workflows => Listing::Workflows(client.get_as(path).await?),
            Kind::GitProviders => Listing::GitProviders(client.get_as(path).await?),
            Kind::Notifications => Listing::Notifications(client.get_as(path).await?),
            Kind::Products | Kind::Releases => Listing::Products(client.get_as(path).await?),
        })
    }

    /// Keeps the item named `name`; `false` when there is none.
    fn keep(&mut self, name: &str) -> bool {
        fn keep<T>(items: &mut Vec<T>, name: &str, of: impl Fn(&T) -> &str) -> bool {
            items.retain(|i| of(i) == name);
            !items.is_empty()
        }
        match self {
            Listing::Products(l) => keep(&mut l.items, name, |i| &i.name),
            Listing::Environments(l) => keep(&mut l.items, name, |i| &i.name),
            Listing::Applications(l) => keep(&mut l.items, name, |i| &i.name),
            Listing::Flows(l) => keep(&mut l.items, name, |i| &i.name),
            Listing::Policies(l) => keep(&mut l.items, name, |i| &i.name),
            Listing::Workflows(l) => keep(&mut l.items, name, |i| &i.name),
            Listing::GitProviders(l) => keep(&mut l.items, name, |i| &i.name),
            Listing::Notifications(l) => keep(&mut l.items, name, |i| &i.name),
        }
    }

    fn to_json(&self) -> Result<Value, serde_json::Error> {
        match self {
            Listing::Products(l) => serde_json::to_value(l),
            Listing::Environments(l) => serde_json::to_value(l),
            Listing::Applications(l) => serde_json::to_value(l),
            Listing::Flows(l) => serde_json::to_value(l),
            Listing::Policies(l) => serde_json::to_value(l),
            Listing::Workflows(l) => serde_json::to_value(l),
            Listing::GitProviders(l) => serde_json::to_value(l),
            Listing::Notifications(l) => serde_json::to_value(l),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Listing::Products(l) => l.items.is_empty(),
            Listing::Environments(l) => l.items.is_empty(),
            Listing::Applications(l) => l.items.is_empty(),
            Listing::Flows(l) => l.items.is_empty(),
            Listing::Policies(l) => l.items.is_empty(),
            Listing::Workflows(l) => l.items.is_empty(),
            Listing::GitProviders(l) => l.items.is_empty(),
            Listing::Notifications(l) => l.items.is_empty(),
        }
    }
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
        let output = if output == GetOutput::Json { ListOutput::Json } else { ListOutput::Text };
        return release::list(client, name, &ListFilters::default(), output).await;
    }
    if kind == Kind::Products
        && let Some(name) = name
    {
        let detail: wire::ProductDetail = client.get_as(&format!("/api/v1/products/{}", enc(name))).await?;
        if output == GetOutput::Json {
            println!("{}", serde_json::to_string_pretty(&detail)?);
        } else if output == GetOutput::Yaml {
            print_yaml(&serde_json::to_value(&detail)?)?;
        } else {
            print!("{}", product_detail(&detail));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut list = Listing::read(client, kind).await?;
    if let Some(name) = name
        && !list.keep(name)
    {
        eprintln!("{} no {} named {name:?}", style::error_label(), kind.noun());
        return Ok(ExitCode::from(exit::FAILED));
    }
    if output == GetOutput::Json {
        println!("{}", serde_json::to_string_pretty(&list.to_json()?)?);
        return Ok(ExitCode::SUCCESS);
    }
    if output == GetOutput::Yaml {
        print_yaml(&list.to_json()?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        let message = format!("No {}s configured. Apply a configuration with `ferry apply -f DIR`.", kind.noun());
        println!("{}", message.replace("policys", "policies"));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&list));
    Ok(ExitCode::SUCCESS)
}

fn render(list: &Listing) -> String {
    match list {
        Listing::Products(l) => table(
            &["NAME", "FLOWS", "CONCURRENCY", "TEMPLATE", "APPLICATIONS", "LABELS"],
            &l.items
                .iter()
                .map(|p| {
                    let flows: Vec<&str> = p.promotion_flows.iter().map(|f| f.name.as_str()).collect();
                    let template = if p.inline_promotion_template {
                        "inline".to_owned()
                    } else {
                        opt(p.promotion_template_ref.as_ref())
                    };
                    vec![
                        p.name.clone(),
                        flows.join(", "),
                        p.concurrency.to_string(),
                        template,
                        p.applications.to_string(),
                        or_dash(&labels(&p.labels)),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Listing::Environments(l) => table(
            &["NAME", "TYPE", "ORDER", "CLUSTERS"],
            &l.items
                .iter()
                .map(|e| {
                    let clusters: Vec<String> = e
                        .clusters
                        .iter()
                        .map(|c| {
                            if c.namespaces.is_empty() {
                                c.name.clone()
                            } else {
                                format!("{}/{}", c.name, c.namespaces.join("+"))
                            }
                        })
                        .collect();
                    vec![
                        e.name.clone(),
                        e.env_type.to_string(),
                        e.order.map_or("-".to_owned(), |o| o.to_string()),
                        or_dash(&clusters.join(", ")),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Listing::Applications(l) => table(
            &["NAME", "ENVIRONMENT", "COMPONENT", "REPOSITORY", "PATH", "BRANCH", "STATUS"],
            &l.items
                .iter()
                .map(|a| {
                    [&a.name, &a.environment, &a.component, &a.repo_url, &a.path, &a.target_revision]
                        .into_iter()
                        .map(|t| or_dash(t))
                        .chain([a.status_source.to_string()])
                        .collect()
                })
                .collect::<Vec<_>>(),
        ),
        Listing::Flows(l) => table(
            &["NAME", "VERSION", "TRIGGER", "STEPS (environment←dependencies)", "TIMEOUT", "DESCRIPTION"],
            &l.items
                .iter()
                .map(|f| {
                    let steps: Vec<String> =
                        f.steps.iter().map(|st| format!("{}←{}", st.environment, st.depends_on.join("+"))).collect();
                    vec![
                        f.name.clone(),
                        opt(f.version.as_ref()),
                        f.trigger_environment.clone(),
                        steps.join(" "),
                        f.timeout.clone(),
                        opt(f.description.as_ref()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Listing::Policies(l) => table(
            &["NAME", "PRIORITY", "PRODUCTS", "ENVIRONMENTS", "ACTION", "PRE-ACTION", "POST-ACTION"],
            &l.items
                .iter()
                .map(|p| {
                    let any = |v: Option<Vec<String>>| v.map_or_else(|| "any".to_owned(), |v| v.join(", "));
                    let mut products = any(p.product_names.clone());
                    if let Some(l) = &p.product_labels {
                        products = format!("{products} ({})", labels(l));
                    }
                    let mut envs = any(p.environment_names.clone());
                    if let Some(types) = &p.environment_types {
                        let types: Vec<String> = types.iter().map(ToString::to_string).collect();
                        envs = format!("{envs} [{}]", types.join(", "));
                    }
                    let fields = &p.policy;
                    vec![
                        p.name.clone(),
                        p.priority.to_string(),
                        products,
                        envs,
                        fields.action.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                        opt(fields.pre_action.as_ref()),
                        opt(fields.post_action.as_ref()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Listing::Workflows(l) => table(
            &["NAME", "BACKEND", "STEPS", "TIMEOUT"],
            &l.items
                .iter()
                .map(|w| {
                    let steps: Vec<&str> = w.steps.iter().map(|st| st.name.as_str()).collect();
                    let backend = match &w.template {
                        None => w.backend.to_string(),
                        Some(t) => format!("{} ({t})", w.backend),
                    };
                    vec![w.name.clone(), backend, or_dash(&steps.join(", ")), opt(w.timeout.as_ref())]
                })
                .collect::<Vec<_>>(),
        ),
        Listing::GitProviders(l) => table(
            &["NAME", "TYPE", "API", "CREDENTIALS", "WEBHOOK SECRET", "REPOSITORIES"],
            &l.items
                .iter()
                .map(|g| {
                    let credentials = match (&g.app_id, &g.token) {
                        (Some(id), _) => format!("GitHub App {id}"),
                        (None, Some(token)) => secret_ref(token),
                        (None, None) => "-".to_owned(),
                    };
                    let repos: Vec<String> = g
                        .repositories
                        .iter()
                        .map(|r| match &r.name {
                            Some(name) => format!("{} ({name})", r.url),
                            None => r.url.clone(),
                        })
                        .collect();
                    vec![
                        g.name.clone(),
                        g.forge_type.clone(),
                        opt(g.api_url.as_ref()),
                        credentials,
                        g.webhook_secret.as_ref().map_or_else(|| "-".to_owned(), secret_ref),
                        or_dash(&repos.join(", ")),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Listing::Notifications(l) => table(
            &["NAME", "URL", "FORMAT", "SECRET", "PRODUCTS", "ENVIRONMENTS", "STATUSES"],
            &l.items
                .iter()
                .map(|n| {
                    let any = |v: &[String]| if v.is_empty() { "any".to_owned() } else { v.join(", ") };
                    vec![
                        n.name.clone(),
                        n.url.clone(),
                        n.format.clone(),
                        n.secret.as_ref().map_or_else(|| "unsigned".to_owned(), secret_ref),
                        any(&n.products),
                        any(&n.environments),
                        any(&n.statuses),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// One product: summary, live environment × application state, latest release, recent events.
fn product_detail(d: &wire::ProductDetail) -> String {
    let p = &d.product;
    let mut out = String::new();
    let flows: Vec<&str> = d.flows.iter().map(|f| f.name.as_str()).collect();
    out.push_str(&format!(
        "Product {} · concurrency {} · template {} · flows: {}\n",
        p.name,
        p.concurrency,
        opt(p.promotion_template_ref.as_ref()),
        or_dash(&flows.join(", "))
    ));
    match &d.latest_release {
        Some(latest) => out.push_str(&format!(
            "Latest release: {} {} · {} by {}\n",
            latest.id,
            label(latest.status.as_str()),
            time_of(Some(latest.created_at)),
            latest.initiator
        )),
        None => out.push_str("Latest release: none yet\n"),
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = d
        .applications
        .iter()
        .map(|a| {
            let state = d.live.iter().find(|l| l.application == a.name);
            let revision = state.map_or_else(|| "-".to_owned(), |l| opt(l.revision.as_ref()));
            vec![
                a.environment.clone(),
                a.component.clone(),
                a.name.clone(),
                state.map_or_else(|| "-".to_owned(), |l| opt(l.version.as_ref())),
                revision.get(..7).unwrap_or(&revision).to_owned(),
                state.map_or_else(|| "-".to_owned(), |l| label(l.sync.as_str())),
                state.map_or_else(|| "-".to_owned(), |l| label(l.health.as_str())),
            ]
        })
        .collect();
    out.push_str(&table(&["ENVIRONMENT", "COMPONENT", "APPLICATION", "VERSION", "COMMIT", "SYNC", "HEALTH"], &rows));
    if !d.events.is_empty() {
        out.push_str("\nRecent events:\n");
        for e in &d.events {
            out.push_str(&format!("  {} {}: {}\n", time_of(Some(e.at)), e.kind, e.message));
        }
    }
    out
}
