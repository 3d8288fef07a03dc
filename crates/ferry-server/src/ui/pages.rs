//! The pages: askama templates (in `templates/`) and the plain data they render, built from the
//! store's projections. Builders are pure functions of their inputs (plus `now` for running
//! durations), so they are unit-tested without a server.
//!
//! Each page that updates live has a *fragment*: the same data rendered without the layout
//! (`?fragment=body`), which the script swaps in when events arrive.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use askama::Template;
use ferry_model::resources::{Catalog, PromotionFlow};
use ferry_model::status::ReleaseStatus;
use ferry_model::{EnvName, ProductName};
use ferry_store::{AppStateRow, ReleaseRow};
use jiff::Timestamp;

use super::assets;
use super::format::{self, iso, query, segment, short_sha, short_time, time};
use super::graph::{self, Graph};
use super::status::{Badge, Icon, Size};
use super::view::{EnvView, IssueFull, ReleaseView, WorkflowLine};
use crate::dto::redact_url;

// ---------------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------------

/// A breadcrumb.
#[derive(Debug, Clone)]
pub(crate) struct Crumb {
    pub(crate) label: String,
    pub(crate) href: Option<String>,
}

/// What the script follows: an SSE stream, and the fragment to fetch when an event arrives.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub(crate) events: String,
    pub(crate) fragment: String,
    pub(crate) target: &'static str,
}

/// The layout's data.
#[derive(Debug, Clone)]
pub(crate) struct PageMeta {
    pub(crate) title: String,
    pub(crate) crumbs: Vec<Crumb>,
    pub(crate) live: Option<Live>,
    pub(crate) css: String,
    pub(crate) js: String,
    /// The signed-in token's name (none on an auth-less server).
    pub(crate) user: Option<String>,
    /// Its role.
    pub(crate) role: &'static str,
    /// The CSRF token for the page's forms.
    pub(crate) csrf: String,
}

impl PageMeta {
    pub(crate) fn new(title: impl Into<String>, crumbs: Vec<Crumb>) -> PageMeta {
        let context = super::session::context();
        PageMeta {
            title: title.into(),
            crumbs,
            live: None,
            css: assets::url("ferry.css"),
            js: assets::url("ferry.js"),
            user: context.user(),
            role: context.role(),
            csrf: context.csrf,
        }
    }

    pub(crate) fn live(mut self, events: String, fragment: String, target: &'static str) -> PageMeta {
        self.live = Some(Live { events, fragment, target });
        self
    }
}

fn crumb(label: impl Into<String>, href: impl Into<String>) -> Crumb {
    Crumb { label: label.into(), href: Some(href.into()) }
}

fn here(label: impl Into<String>) -> Crumb {
    Crumb { label: label.into(), href: None }
}

pub(crate) fn product_href(name: &str) -> String {
    format!("/products/{}", segment(name))
}

pub(crate) fn release_href(id: &str) -> String {
    format!("/releases/{}", segment(id))
}

fn flow_href(name: &str) -> String {
    format!("/flows/{}", segment(name))
}

/// The first 8 characters of a release id.
pub(crate) fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Error page.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) page: PageMeta,
    pub(crate) message: String,
    pub(crate) details: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------------

/// A release in one line (latest release of a product).
#[derive(Debug, Clone)]
pub(crate) struct ReleaseLine {
    pub(crate) href: String,
    pub(crate) date: String,
    pub(crate) date_iso: String,
    pub(crate) initiator: String,
    pub(crate) badge: Badge,
    pub(crate) version: String,
    pub(crate) flow: String,
    pub(crate) reason: String,
}

impl ReleaseLine {
    fn of(r: &ReleaseRow) -> ReleaseLine {
        ReleaseLine {
            href: release_href(&r.id),
            date: short_time(Some(r.created_at)),
            date_iso: iso(Some(r.created_at)),
            initiator: r.initiator.clone(),
            badge: Badge::new(&r.status),
            version: r.version.clone().unwrap_or_default(),
            flow: if r.flow == "manual" { "Manual".to_owned() } else { r.flow.clone() },
            reason: r.reason.clone().unwrap_or_default(),
        }
    }
}

/// A product on the products page.
#[derive(Debug, Clone)]
pub(crate) struct ProductLine {
    pub(crate) name: String,
    pub(crate) href: String,
    pub(crate) applications: usize,
    pub(crate) environments: String,
    pub(crate) latest: Option<ReleaseLine>,
}

/// Products page data.
#[derive(Debug, Clone)]
pub(crate) struct ProductsData {
    pub(crate) products: Vec<ProductLine>,
}

/// `/`.
#[derive(Template)]
#[template(path = "products.html")]
pub(crate) struct ProductsPage {
    pub(crate) page: PageMeta,
    pub(crate) d: ProductsData,
}

/// `/?fragment=body`.
#[derive(Template)]
#[template(path = "products_body.html")]
pub(crate) struct ProductsFragment {
    pub(crate) d: ProductsData,
}

/// Builds the products page from the catalog and each product's latest release.
pub(crate) fn products(catalog: &Catalog, latest: &[ReleaseRow]) -> ProductsData {
    let latest: HashMap<&str, &ReleaseRow> = latest.iter().map(|r| (r.product.as_str(), r)).collect();
    let mut names: BTreeSet<String> = catalog.products.keys().map(ToString::to_string).collect();
    // Products with history but no longer configured still show their last release.
    names.extend(latest.keys().map(|p| (*p).to_owned()));
    let products = names
        .into_iter()
        .map(|name| {
            let pname = ProductName::new(name.clone()).ok();
            let envs = pname.as_ref().map(|p| product_environments(catalog, p)).unwrap_or_default();
            let applications = catalog.applications.values().filter(|a| Some(&a.product) == pname.as_ref()).count();
            ProductLine {
                href: product_href(&name),
                latest: latest.get(name.as_str()).map(|r| ReleaseLine::of(r)),
                applications,
                environments: envs.join(" · "),
                name,
            }
        })
        .collect();
    ProductsData { products }
}

/// A product's environments: its flows' environments by depth (trigger first, joins last), then the
/// environments of its applications that no flow names, in dashboard order.
pub(crate) fn product_environments(catalog: &Catalog, product: &ProductName) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = catalog.products.get(product) {
        for selection in &p.promotion_flows {
            if let Some(flow) = catalog.flows.get(&selection.flow) {
                for env in flow_order(flow) {
                    if !out.contains(&env) {
                        out.push(env);
                    }
                }
            }
        }
    }
    let used: BTreeSet<&EnvName> =
        catalog.applications.values().filter(|a| a.product == *product).map(|a| &a.environment).collect();
    for env in catalog.environments_in_order() {
        if used.contains(&env.name) && !out.iter().any(|e| e == env.name.as_str()) {
            out.push(env.name.to_string());
        }
    }
    out
}

/// A flow's environments and their dependencies (a step without `dependsOn` waits for the trigger).
fn flow_nodes(flow: &PromotionFlow) -> Vec<(String, Vec<String>)> {
    let mut nodes = vec![(flow.trigger_environment.to_string(), Vec::new())];
    for step in &flow.steps {
        let deps: Vec<String> = if step.depends_on.is_empty() {
            vec![flow.trigger_environment.to_string()]
        } else {
            step.depends_on.iter().map(ToString::to_string).collect()
        };
        nodes.push((step.environment.to_string(), deps));
    }
    nodes
}

/// A flow's environments ordered by column, then by the list order.
fn flow_order(flow: &PromotionFlow) -> Vec<String> {
    let nodes = flow_nodes(flow);
    let inputs: Vec<graph::Input<'_>> = nodes
        .iter()
        .map(|(n, d)| graph::Input { name: n, depends_on: d, status: "", note: String::new(), href: String::new() })
        .collect();
    let g = graph::layout(&inputs);
    let mut placed: Vec<(u32, usize, String)> =
        g.nodes.iter().enumerate().map(|(i, n)| (n.x, i, n.name.clone())).collect();
    placed.sort();
    placed.into_iter().map(|(_, _, n)| n).collect()
}

// ---------------------------------------------------------------------------------------------------
// Flow
// ---------------------------------------------------------------------------------------------------

/// A step of a flow as listed.
#[derive(Debug, Clone)]
pub(crate) struct FlowStepLine {
    pub(crate) environment: String,
    pub(crate) depends_on: String,
    pub(crate) action: String,
    pub(crate) pre_action: String,
    pub(crate) post_action: String,
}

/// `/flows/{name}`.
#[derive(Template)]
#[template(path = "flow.html")]
pub(crate) struct FlowPage {
    pub(crate) page: PageMeta,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) version: String,
    pub(crate) trigger: String,
    pub(crate) timeout: String,
    pub(crate) graph: Graph,
    pub(crate) steps: Vec<FlowStepLine>,
    pub(crate) products: Vec<(String, String)>,
}

/// Builds the flow page.
pub(crate) fn flow_page(catalog: &Catalog, flow: &PromotionFlow) -> FlowPage {
    let nodes = flow_nodes(flow);
    let notes: Vec<String> = nodes
        .iter()
        .map(|(n, _)| {
            let ty = EnvName::new(n.clone())
                .ok()
                .and_then(|e| catalog.environments.get(&e).map(|e| e.env_type.as_str().to_owned()))
                .unwrap_or_default();
            if *n == flow.trigger_environment.as_str() { format!("trigger · {ty}") } else { ty }
        })
        .collect();
    let inputs: Vec<graph::Input<'_>> = nodes
        .iter()
        .zip(notes)
        .map(|((n, d), note)| graph::Input { name: n, depends_on: d, status: "", note, href: String::new() })
        .collect();
    let graph = graph::layout(&inputs);
    let steps = flow
        .steps
        .iter()
        .map(|s| FlowStepLine {
            environment: s.environment.to_string(),
            depends_on: if s.depends_on.is_empty() {
                flow.trigger_environment.to_string()
            } else {
                s.depends_on.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            },
            action: s.policy.action.map(|a| a.as_str().to_owned()).unwrap_or_else(|| "from policies".to_owned()),
            pre_action: s.policy.pre_action.as_ref().map(ToString::to_string).unwrap_or_default(),
            post_action: s.policy.post_action.as_ref().map(ToString::to_string).unwrap_or_default(),
        })
        .collect();
    let products = catalog
        .products
        .values()
        .filter(|p| p.promotion_flows.iter().any(|s| s.flow == flow.name))
        .map(|p| (p.name.to_string(), product_href(p.name.as_str())))
        .collect();
    FlowPage {
        page: PageMeta::new(
            format!("Flow {}", flow.name),
            vec![crumb("Products", "/"), here(format!("Flow {}", flow.name))],
        ),
        name: flow.name.to_string(),
        description: flow.description.clone().unwrap_or_default(),
        version: flow.version.clone().unwrap_or_default(),
        trigger: flow.trigger_environment.to_string(),
        timeout: ferry_model::format_duration(flow.timeout),
        graph,
        steps,
        products,
    }
}

// ---------------------------------------------------------------------------------------------------
// Product
// ---------------------------------------------------------------------------------------------------

/// One application's live state in the matrix.
#[derive(Debug, Clone)]
pub(crate) struct MatrixCell {
    pub(crate) application: String,
    pub(crate) version: String,
    pub(crate) commit: String,
    pub(crate) commit_short: String,
    pub(crate) sync: Badge,
    pub(crate) health: Badge,
    pub(crate) message: String,
    pub(crate) release: Option<String>,
}

/// A component's row of the matrix: one cell per environment.
#[derive(Debug, Clone)]
pub(crate) struct MatrixRow {
    pub(crate) component: String,
    pub(crate) cells: Vec<Option<MatrixCell>>,
}

/// A row of the releases table.
#[derive(Debug, Clone)]
pub(crate) struct ReleaseTableRow {
    pub(crate) line: ReleaseLine,
    pub(crate) flow_version: String,
    pub(crate) flow_href: Option<String>,
    pub(crate) cells: Vec<Option<Badge>>,
}

/// The filter form's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) status: String,
    pub(crate) flow: String,
    pub(crate) cursor: String,
}

impl Filters {
    /// Whether any filter narrows the list.
    pub(crate) fn active(&self) -> bool {
        !(self.since.is_empty() && self.until.is_empty() && self.status.is_empty() && self.flow.is_empty())
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![("since", &self.since), ("until", &self.until), ("status", &self.status), ("flow", &self.flow)]
    }
}

/// An option of a select.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// Product page data.
#[derive(Debug, Clone)]
pub(crate) struct ProductData {
    pub(crate) name: String,
    pub(crate) href: String,
    pub(crate) environments: Vec<String>,
    pub(crate) matrix: Vec<MatrixRow>,
    pub(crate) releases: Vec<ReleaseTableRow>,
    pub(crate) filters: Filters,
    pub(crate) statuses: Vec<Choice>,
    pub(crate) flows: Vec<Choice>,
    pub(crate) error: Option<String>,
    pub(crate) older: Option<String>,
    pub(crate) newest: Option<String>,
    pub(crate) flow_links: Vec<(String, String)>,
}

/// `/products/{name}`.
#[derive(Template)]
#[template(path = "product.html")]
pub(crate) struct ProductPage {
    pub(crate) page: PageMeta,
    pub(crate) d: ProductData,
}

/// `/products/{name}?fragment=body`.
#[derive(Template)]
#[template(path = "product_body.html")]
pub(crate) struct ProductFragment {
    pub(crate) d: ProductData,
}

/// Inputs of the product page.
pub(crate) struct ProductInput<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) name: &'a str,
    pub(crate) live: &'a [AppStateRow],
    pub(crate) rows: &'a [ReleaseRow],
    pub(crate) next: Option<&'a str>,
    pub(crate) filters: Filters,
    pub(crate) error: Option<String>,
}

/// Builds the product page.
pub(crate) fn product(input: ProductInput<'_>) -> ProductData {
    let ProductInput { catalog, name, live, rows, next, filters, error } = input;
    let pname = ProductName::new(name.to_owned()).ok();
    let mut environments = pname.as_ref().map(|p| product_environments(catalog, p)).unwrap_or_default();
    // Environments of listed releases that the configuration no longer names get their own columns.
    for r in rows {
        if let Some(map) = r.environments.as_object() {
            for env in map.keys() {
                if !environments.contains(env) {
                    environments.push(env.clone());
                }
            }
        }
    }
    for s in live {
        if !environments.contains(&s.environment) {
            environments.push(s.environment.clone());
        }
    }
    let components: BTreeSet<&str> = catalog
        .applications
        .values()
        .filter(|a| Some(&a.product) == pname.as_ref())
        .map(|a| a.component.as_str())
        .chain(live.iter().map(|s| s.component.as_str()))
        .collect();
    let matrix = components
        .into_iter()
        .map(|component| MatrixRow {
            component: component.to_owned(),
            cells: environments
                .iter()
                .map(|env| {
                    live.iter().find(|s| s.component == component && s.environment == *env).map(|s| MatrixCell {
                        application: s.application.clone(),
                        version: s.version.clone().unwrap_or_default(),
                        commit: s.revision.clone().unwrap_or_default(),
                        commit_short: s.revision.as_deref().map(short_sha).unwrap_or_default(),
                        sync: Badge::sized(&s.sync, Size::Inline),
                        health: Badge::sized(&s.health, Size::Inline),
                        message: s.message.clone().unwrap_or_default(),
                        release: s.release_id.as_deref().map(release_href),
                    })
                })
                .collect(),
        })
        .collect();
    let releases = rows
        .iter()
        .map(|r| ReleaseTableRow {
            line: ReleaseLine::of(r),
            flow_version: r.flow_version.clone().unwrap_or_default(),
            flow_href: (r.flow != "manual").then(|| flow_href(&r.flow)),
            cells: environments
                .iter()
                .map(|env| r.environments.get(env).and_then(|s| s.as_str()).map(|s| Badge::sized(s, Size::Icon)))
                .collect(),
        })
        .collect();
    let statuses = ReleaseStatus::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str().to_owned(),
            label: s.as_str().to_owned(),
            selected: filters.status == s.as_str(),
        })
        .collect();
    let mut flow_names: Vec<String> = pname
        .as_ref()
        .and_then(|p| catalog.products.get(p))
        .map(|p| p.promotion_flows.iter().map(|s| s.flow.to_string()).collect())
        .unwrap_or_default();
    let flow_links = flow_names.iter().map(|f| (f.clone(), flow_href(f))).collect();
    flow_names.push("manual".to_owned());
    if !filters.flow.is_empty() && !flow_names.contains(&filters.flow) {
        flow_names.push(filters.flow.clone());
    }
    let flows = flow_names
        .into_iter()
        .map(|f| Choice {
            label: if f == "manual" { "Manual".to_owned() } else { f.clone() },
            selected: filters.flow == f,
            value: f,
        })
        .collect();
    let base = product_href(name);
    let mut older_pairs = filters.pairs();
    let older = next.map(|cursor| {
        older_pairs.push(("cursor", cursor));
        format!("{base}{}", query(&older_pairs))
    });
    let newest = (!filters.cursor.is_empty()).then(|| format!("{base}{}", query(&filters.pairs())));
    ProductData {
        name: name.to_owned(),
        href: base.clone(),
        environments,
        matrix,
        releases,
        filters,
        statuses,
        flows,
        error,
        older,
        newest,
        flow_links,
    }
}

// ---------------------------------------------------------------------------------------------------
// Release
// ---------------------------------------------------------------------------------------------------

/// An issue in a list.
#[derive(Debug, Clone)]
pub(crate) struct IssueItem {
    pub(crate) href: String,
    pub(crate) kind: String,
    pub(crate) icon: Icon,
    pub(crate) summary: String,
    pub(crate) place: String,
    pub(crate) at: String,
}

fn kind_icon(kind: &str) -> Icon {
    match kind {
        "application" => Icon("i-app"),
        "git" => Icon("i-git"),
        _ => Icon("i-error"),
    }
}

fn issue_href(release: &str, issue: &str) -> String {
    format!("{}/steps{}", release_href(release), query(&[("issue", issue)]))
}

/// A step of a workflow line.
#[derive(Debug, Clone)]
pub(crate) struct StepItem {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) class: &'static str,
    pub(crate) icon: Icon,
    pub(crate) href: String,
}

/// A workflow line of a card.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowItem {
    pub(crate) stage: String,
    pub(crate) name: String,
    pub(crate) badge: Badge,
    pub(crate) hook: bool,
    pub(crate) steps: Vec<StepItem>,
}

/// The link of a step line: every run of the line, and the step.
pub(crate) fn step_href(release: &str, runs: &[String], step: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = runs.iter().map(|r| ("run", r.as_str())).collect();
    pairs.push(("step", step));
    format!("{}/steps{}", release_href(release), query(&pairs))
}

fn workflow_item(release: &str, line: &WorkflowLine) -> WorkflowItem {
    WorkflowItem {
        stage: format::stage(&line.stage, line.hook.as_deref()),
        name: line.name.clone(),
        badge: Badge::sized(&line.status, Size::Inline),
        hook: line.stage == "hook",
        steps: line
            .steps
            .iter()
            .map(|s| {
                let badge = Badge::sized(&s.status, Size::Inline);
                StepItem {
                    name: s.name.clone(),
                    status: badge.text.clone(),
                    class: badge.class(),
                    icon: Icon(badge.tone.icon()),
                    href: step_href(release, &line.runs, &s.name),
                }
            })
            .collect(),
    }
}

/// An application of a card.
#[derive(Debug, Clone)]
pub(crate) struct AppItem {
    pub(crate) name: String,
    pub(crate) component: String,
    pub(crate) version: String,
    pub(crate) phase: String,
    pub(crate) sync: Option<Badge>,
    pub(crate) health: Option<Badge>,
    pub(crate) failed: bool,
}

/// The promotion action's result.
#[derive(Debug, Clone)]
pub(crate) struct ActionItem {
    pub(crate) label: String,
    pub(crate) title: String,
    pub(crate) href: Option<String>,
    pub(crate) code: bool,
    pub(crate) badge: Badge,
}

/// An environment card.
#[derive(Debug, Clone)]
pub(crate) struct EnvCard {
    pub(crate) name: String,
    pub(crate) anchor: String,
    pub(crate) env_type: String,
    pub(crate) is_trigger: bool,
    pub(crate) badge: Badge,
    pub(crate) started: String,
    pub(crate) started_iso: String,
    pub(crate) duration: String,
    pub(crate) issues: Vec<IssueItem>,
    pub(crate) action_kind: String,
    pub(crate) actions: Vec<ActionItem>,
    pub(crate) apps: Vec<AppItem>,
    pub(crate) workflows: Vec<WorkflowItem>,
    pub(crate) depends_on: String,
}

/// The trigger commit.
#[derive(Debug, Clone, Default)]
pub(crate) struct TriggerItem {
    pub(crate) sha: String,
    pub(crate) short: String,
    pub(crate) url: Option<String>,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) author: String,
    pub(crate) email: String,
    pub(crate) repo: String,
    pub(crate) branch: String,
    pub(crate) environment: String,
}

/// Header counters.
#[derive(Debug, Clone)]
pub(crate) struct CounterItem {
    pub(crate) label: &'static str,
    pub(crate) value: u64,
    pub(crate) icon: Icon,
    pub(crate) class: &'static str,
}

/// Release page data.
#[derive(Debug, Clone)]
pub(crate) struct ReleaseData {
    pub(crate) id: String,
    pub(crate) short_id: String,
    pub(crate) href: String,
    pub(crate) product: String,
    pub(crate) product_href: String,
    pub(crate) flow: String,
    pub(crate) flow_href: Option<String>,
    pub(crate) flow_version: String,
    pub(crate) version: String,
    pub(crate) initiator: String,
    pub(crate) created: String,
    pub(crate) created_iso: String,
    pub(crate) finished: String,
    pub(crate) duration: String,
    pub(crate) retries: i64,
    pub(crate) reason: String,
    pub(crate) status: String,
    pub(crate) badge: Badge,
    pub(crate) active: bool,
    pub(crate) counters: Vec<CounterItem>,
    pub(crate) trigger: TriggerItem,
    pub(crate) can_retry: bool,
    pub(crate) can_terminate: bool,
    pub(crate) notes_href: String,
    pub(crate) issues: Vec<IssueItem>,
    pub(crate) graph: Graph,
    pub(crate) envs: Vec<EnvCard>,
    pub(crate) hooks: Vec<WorkflowItem>,
    pub(crate) hook_count: usize,
    pub(crate) show_hooks: bool,
    pub(crate) error: Option<String>,
    /// The CSRF token of the retry and terminate forms.
    pub(crate) csrf: String,
}

/// `/releases/{id}`.
#[derive(Template)]
#[template(path = "release.html")]
pub(crate) struct ReleasePage {
    pub(crate) page: PageMeta,
    pub(crate) d: ReleaseData,
}

/// `/releases/{id}?fragment=body`.
#[derive(Template)]
#[template(path = "release_body.html")]
pub(crate) struct ReleaseFragment {
    pub(crate) d: ReleaseData,
}

fn issue_item(release: &str, id: &str, kind: &str, summary: &str, at: Option<Timestamp>, place: String) -> IssueItem {
    IssueItem {
        href: issue_href(release, id),
        kind: kind.to_owned(),
        icon: kind_icon(kind),
        summary: summary.to_owned(),
        place,
        at: time(at),
    }
}

fn top_issue(release: &str, i: &IssueFull) -> IssueItem {
    let place = match (&i.env, &i.app) {
        (Some(e), Some(a)) => format!("{e} · {a}"),
        (Some(e), None) => e.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => "release".to_owned(),
    };
    issue_item(release, &i.id, i.kind(), &i.summary, i.at, place)
}

fn actions_of(env: &EnvView) -> Vec<ActionItem> {
    let mut out: Vec<ActionItem> = Vec::new();
    let mut seen = BTreeSet::new();
    for app in &env.applications {
        let Some(a) = &app.action else { continue };
        let badge = Badge::sized(&a.status, Size::Icon);
        let item = if let Some(pr) = &a.pull_request {
            ActionItem {
                label: format!("PR #{}", pr.number),
                title: pr.branch.clone(),
                href: (!pr.url.is_empty()).then(|| pr.url.clone()),
                code: false,
                badge,
            }
        } else if let Some(commit) = &a.commit {
            let repo = a.repo.as_deref().map(redact_url).unwrap_or_default();
            ActionItem { label: short_sha(commit), title: format!("{commit} in {repo}"), href: None, code: true, badge }
        } else if a.unchanged {
            ActionItem {
                label: "unchanged".to_owned(),
                title: "the values were already in place".to_owned(),
                href: None,
                code: false,
                badge,
            }
        } else if let Some(e) = &a.error {
            ActionItem { label: "failed".to_owned(), title: e.clone(), href: None, code: false, badge }
        } else {
            ActionItem { label: a.status.to_lowercase(), title: String::new(), href: None, code: false, badge }
        };
        if seen.insert(item.label.clone()) {
            out.push(item);
        }
    }
    out
}

fn env_card(v: &ReleaseView, env: &EnvView, now: Timestamp) -> EnvCard {
    let release = v.id.as_str();
    EnvCard {
        anchor: format!("env-{}", env.name),
        env_type: env.env_type.clone(),
        is_trigger: env.is_trigger,
        badge: Badge::new(&env.status),
        started: env.started_at.map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
        started_iso: iso(env.started_at),
        duration: format::duration(env.started_at, env.finished_at, now),
        issues: env
            .issues
            .iter()
            .map(|i| issue_item(release, &i.id, &i.kind, &i.summary, i.at, i.app.clone().unwrap_or_default()))
            .collect(),
        action_kind: env.policy.as_ref().map(|p| p.action.clone()).unwrap_or_default(),
        actions: actions_of(env),
        apps: env
            .applications
            .iter()
            .map(|a| AppItem {
                name: a.name.clone(),
                component: a.component.clone(),
                version: a.version.clone().unwrap_or_default(),
                phase: a.phase.clone(),
                sync: a.app.as_ref().and_then(|o| o.sync.as_deref()).map(|s| Badge::sized(s, Size::Inline)),
                health: a.app.as_ref().and_then(|o| o.health.as_deref()).map(|s| Badge::sized(s, Size::Inline)),
                failed: a.failed,
            })
            .collect(),
        workflows: env.workflows.iter().map(|l| workflow_item(release, l)).collect(),
        depends_on: env.depends_on.join(", "),
        name: env.name.clone(),
    }
}

/// Builds the release page from its view.
pub(crate) fn release(v: &ReleaseView, now: Timestamp) -> ReleaseData {
    let context = super::session::context();
    let may_change = context.may_change(&v.product);
    let id = v.id.as_str();
    let inputs: Vec<graph::Input<'_>> = v
        .environments
        .iter()
        .map(|e| graph::Input {
            name: &e.name,
            depends_on: &e.depends_on,
            status: if e.status.is_empty() { "Pending" } else { &e.status },
            note: if e.is_trigger {
                "trigger".to_owned()
            } else if e.env_type == "production" {
                "production".to_owned()
            } else {
                String::new()
            },
            href: format!("#env-{}", e.name),
        })
        .collect();
    let graph = graph::layout(&inputs);
    let t = &v.trigger;
    let message = t.message.clone().unwrap_or_default();
    let trigger = TriggerItem {
        sha: t.sha.clone().unwrap_or_default(),
        short: t.short_sha.clone().or_else(|| t.sha.as_deref().map(short_sha)).unwrap_or_default(),
        url: t.web_url.clone().filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        subject: format::subject(&message).to_owned(),
        body: format::body(&message).to_owned(),
        author: t.author.clone().unwrap_or_default(),
        email: t.author_email.clone().unwrap_or_default(),
        repo: t.repo.as_deref().map(redact_url).unwrap_or_default(),
        branch: t.branch.clone().unwrap_or_default(),
        environment: t.environment.clone().unwrap_or_default(),
    };
    let c = &v.counters;
    let counters = vec![
        CounterItem { label: "Successful", value: c.successful, icon: Icon("i-ok"), class: "st-ok" },
        CounterItem { label: "Running", value: c.running, icon: Icon("i-run"), class: "st-run" },
        CounterItem { label: "Failed", value: c.failed, icon: Icon("i-fail"), class: "st-fail" },
        CounterItem { label: "Pending", value: c.pending, icon: Icon("i-pending"), class: "st-pending" },
    ];
    let hooks: Vec<WorkflowItem> = v.hooks.iter().map(|l| workflow_item(id, l)).collect();
    let hook_count = hooks.len()
        + v.environments.iter().map(|e| e.workflows.iter().filter(|l| l.stage == "hook").count()).sum::<usize>();
    ReleaseData {
        id: v.id.clone(),
        short_id: short_id(id),
        href: release_href(id),
        product: v.product.clone(),
        product_href: product_href(&v.product),
        flow: if v.flow == "manual" { "Manual".to_owned() } else { v.flow.clone() },
        flow_href: (v.flow != "manual" && !v.flow.is_empty()).then(|| flow_href(&v.flow)),
        flow_version: v.flow_version.clone().unwrap_or_default(),
        version: v.version.clone().unwrap_or_default(),
        initiator: v.initiator.clone(),
        created: time(v.created_at),
        created_iso: iso(v.created_at),
        finished: time(v.finished_at),
        duration: format::duration(v.started_at.or(v.created_at), v.finished_at, now),
        retries: v.retries,
        reason: v.reason.clone().unwrap_or_default(),
        status: v.status.clone(),
        badge: Badge::new(&v.status),
        active: v.is_active(),
        counters,
        trigger,
        can_retry: v.can_retry() && may_change,
        can_terminate: v.can_terminate() && may_change,
        notes_href: format!("{}/notes", release_href(id)),
        issues: v.issues.iter().map(|i| top_issue(id, i)).collect(),
        graph,
        envs: v.environments.iter().map(|e| env_card(v, e, now)).collect(),
        hooks,
        hook_count,
        show_hooks: false,
        error: None,
        csrf: context.csrf,
    }
}

// ---------------------------------------------------------------------------------------------------
// Terminate confirmation
// ---------------------------------------------------------------------------------------------------

/// `POST /releases/{id}/terminate` without `confirm`: asks once more.
#[derive(Template)]
#[template(path = "terminate.html")]
pub(crate) struct TerminatePage {
    pub(crate) page: PageMeta,
    pub(crate) id: String,
    pub(crate) href: String,
    pub(crate) product: String,
    pub(crate) status: Badge,
    pub(crate) running: String,
    pub(crate) reason: String,
}

// ---------------------------------------------------------------------------------------------------
// Step and issue panel
// ---------------------------------------------------------------------------------------------------

/// A log line.
#[derive(Debug, Clone)]
pub(crate) struct LogItem {
    pub(crate) text: String,
    pub(crate) stderr: bool,
}

/// One run's view of the step.
#[derive(Debug, Clone)]
pub(crate) struct RunItem {
    pub(crate) run: String,
    pub(crate) step: String,
    pub(crate) application: String,
    pub(crate) badge: Badge,
    pub(crate) started: String,
    pub(crate) duration: String,
    pub(crate) attempts: u32,
    pub(crate) exit_code: Option<i32>,
    pub(crate) error: String,
    pub(crate) approval: String,
    pub(crate) log: Vec<LogItem>,
    pub(crate) log_total: usize,
    pub(crate) log_after: i64,
    pub(crate) log_href: String,
    pub(crate) live: bool,
}

impl RunItem {
    /// Lines left out above the tail.
    pub(crate) fn hidden(&self) -> usize {
        self.log_total.saturating_sub(self.log.len())
    }
}

/// A labelled value of an issue's detail.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    pub(crate) href: Option<String>,
}

/// Step / issue panel data.
#[derive(Debug, Clone)]
pub(crate) struct StepData {
    pub(crate) release: String,
    pub(crate) release_href: String,
    pub(crate) title: String,
    pub(crate) subtitle: String,
    pub(crate) badge: Option<Badge>,
    pub(crate) issue: Option<IssueItem>,
    pub(crate) fields: Vec<Field>,
    pub(crate) tail: Vec<String>,
    pub(crate) runs: Vec<RunItem>,
    pub(crate) definition: String,
    pub(crate) definition_source: String,
    pub(crate) step_href: Option<String>,
    pub(crate) refresh: String,
    pub(crate) live: bool,
}

/// `/releases/{id}/steps`.
#[derive(Template)]
#[template(path = "step.html")]
pub(crate) struct StepPage {
    pub(crate) page: PageMeta,
    pub(crate) d: StepData,
}

/// `/releases/{id}/steps?fragment=panel`.
#[derive(Template)]
#[template(path = "step_body.html")]
pub(crate) struct StepFragment {
    pub(crate) d: StepData,
}

/// The fields of an issue's detail, by kind (SPEC §4 Issues).
pub(crate) fn issue_fields(i: &IssueFull) -> Vec<Field> {
    let f = |label: &'static str, v: Option<String>| {
        v.filter(|v| !v.is_empty()).map(|value| Field { label, value, href: None })
    };
    let mut out: Vec<Option<Field>> = vec![f("Environment", i.env.clone()), f("Application", i.app.clone())];
    match i.kind() {
        "workflow" => {
            out.push(f("Workflow", i.text("workflow")));
            out.push(f("Stage", i.text("stage").map(|s| format::stage(&s, None))));
            out.push(f("Step", i.text("step")));
            out.push(f("Run", i.text("runId")));
            out.push(f("Exit code", i.text("exitCode")));
            out.push(f("Error", i.text("error")));
        }
        "application" => {
            out.push(f("Sync", i.text("sync")));
            out.push(f("Health", i.text("health")));
            out.push(f("Reason", i.text("reason")));
            out.push(f("Observed", i.text("observedAt")));
            let url = i.text("url").filter(|u| u.starts_with("https://") || u.starts_with("http://"));
            if let Some(url) = url {
                out.push(Some(Field { label: "Application", value: url.clone(), href: Some(url) }));
            }
        }
        "git" => {
            out.push(f("Operation", i.text("operation")));
            out.push(f("Remote", i.text("remote").map(|r| redact_url(&r))));
            out.push(f("Error", i.text("error")));
        }
        _ => {}
    }
    out.push(f("When", i.at.map(|t| time(Some(t)))));
    out.into_iter().flatten().collect()
}

/// The issue's log tail (workflow issues).
pub(crate) fn issue_tail(i: &IssueFull) -> Vec<String> {
    i.detail
        .get("logTail")
        .and_then(serde_json::Value::as_array)
        .map(|lines| lines.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A workflow definition as readable YAML-like text, from the API form of a workflow.
pub(crate) fn definition_text(w: &crate::dto::WorkflowDto) -> String {
    let mut out = format!("name: {}\n", w.name);
    if w.backend != "local" {
        out.push_str(&format!("backend: {}\n", w.backend));
    }
    if let Some(t) = &w.template {
        out.push_str(&format!("template: {t}\n"));
    }
    if let Some(t) = &w.timeout {
        out.push_str(&format!("timeout: {t}\n"));
    }
    if !w.params.is_empty() {
        out.push_str("params:\n");
        for p in &w.params {
            out.push_str(&format!("  - name: {}\n", p.name));
            if let Some(d) = &p.default {
                out.push_str(&format!("    default: {d:?}\n"));
            }
            if p.secret {
                out.push_str("    secret: true\n");
            }
        }
    }
    if !w.steps.is_empty() {
        out.push_str("steps:\n");
    }
    for s in &w.steps {
        out.push_str(&format!("  - name: {}\n", s.name));
        if let Some(deps) = &s.depends_on {
            out.push_str(&format!("    dependsOn: [{}]\n", deps.join(", ")));
        }
        if let Some(t) = &s.timeout {
            out.push_str(&format!("    timeout: {t}\n"));
        }
        if s.retries > 0 {
            out.push_str(&format!("    retries: {}\n", s.retries));
        }
        if let Some(run) = &s.run {
            if run.contains('\n') {
                out.push_str("    run: |\n");
                for line in run.trim_end().lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            } else {
                out.push_str(&format!("    run: {run}\n"));
            }
        }
        if let Some(m) = &s.message {
            out.push_str(&format!("    approval: {m:?}\n"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Release notes
// ---------------------------------------------------------------------------------------------------

/// A promotion commit.
#[derive(Debug, Clone)]
pub(crate) struct NoteCommit {
    pub(crate) environment: String,
    pub(crate) sha: String,
    pub(crate) short: String,
    pub(crate) repo: String,
    pub(crate) applications: String,
    pub(crate) pull_request: Option<(String, String)>,
    pub(crate) badge: Badge,
}

/// Release notes data.
#[derive(Debug, Clone)]
pub(crate) struct NotesData {
    pub(crate) release_href: String,
    pub(crate) version: String,
    pub(crate) trigger: TriggerItem,
    pub(crate) commits: Vec<NoteCommit>,
    pub(crate) versions: Vec<(String, String)>,
    /// The notes of SPEC §5, or why they could not be computed.
    pub(crate) notes: Result<NotesView, String>,
    /// Whether the history walks followed first parents only.
    pub(crate) first_parent: bool,
    /// Link that flips `first_parent`.
    pub(crate) first_parent_href: String,
}

/// A link that may be missing.
#[derive(Debug, Clone)]
pub(crate) struct Linked {
    pub(crate) text: String,
    pub(crate) url: String,
}

impl Linked {
    fn new(text: impl Into<String>, url: Option<&str>) -> Linked {
        Linked { text: text.into(), url: url.unwrap_or_default().to_owned() }
    }
}

/// A pull request in the notes.
#[derive(Debug, Clone)]
pub(crate) struct NotePr {
    pub(crate) link: Linked,
    pub(crate) title: String,
    pub(crate) components: String,
    pub(crate) found_in: String,
}

/// An issue in the notes.
#[derive(Debug, Clone)]
pub(crate) struct NoteIssue {
    pub(crate) link: Linked,
    pub(crate) kind: String,
    pub(crate) summary: String,
    pub(crate) status: String,
    pub(crate) assignee: String,
    pub(crate) closes: bool,
    pub(crate) components: String,
}

/// A commit of a range.
#[derive(Debug, Clone)]
pub(crate) struct RangeCommit {
    pub(crate) link: Linked,
    pub(crate) sha: String,
    pub(crate) subject: String,
    pub(crate) author: String,
    pub(crate) date: String,
    pub(crate) merge: bool,
    pub(crate) refs: String,
}

/// One component of the notes.
#[derive(Debug, Clone)]
pub(crate) struct NoteComponent {
    pub(crate) name: String,
    pub(crate) image_from: String,
    pub(crate) image_to: String,
    pub(crate) gitops_where: String,
    pub(crate) gitops_from: String,
    pub(crate) gitops: Vec<RangeCommit>,
    pub(crate) gitops_truncated: bool,
    /// `known`, `unknown` or `unchanged`.
    pub(crate) source_range: String,
    pub(crate) source_reason: String,
    pub(crate) source_where: String,
    pub(crate) source: Vec<RangeCommit>,
    pub(crate) source_truncated: bool,
    pub(crate) warnings: Vec<String>,
    /// The image reports of the image live before and the image promoted.
    pub(crate) reports: Vec<NoteImage>,
}

/// An image report shown with a component's notes.
#[derive(Debug, Clone)]
pub(crate) struct NoteImage {
    /// `before` or `promoted`.
    pub(crate) side: &'static str,
    pub(crate) image: String,
    pub(crate) digest: String,
    pub(crate) annotations: Vec<(String, String)>,
}

/// The notes of SPEC §5, ready for the template.
#[derive(Debug, Clone)]
pub(crate) struct NotesView {
    pub(crate) final_environments: String,
    pub(crate) pull_requests: Vec<NotePr>,
    pub(crate) issues: Vec<NoteIssue>,
    pub(crate) components: Vec<NoteComponent>,
    pub(crate) warnings: Vec<String>,
    pub(crate) settled: bool,
}

/// `/releases/{id}/notes`.
#[derive(Template)]
#[template(path = "notes.html")]
pub(crate) struct NotesPage {
    pub(crate) page: PageMeta,
    pub(crate) d: NotesData,
}

/// `/releases/{id}/notes?fragment=panel`.
#[derive(Template)]
#[template(path = "notes_body.html")]
pub(crate) struct NotesFragment {
    pub(crate) d: NotesData,
}

/// Release notes: the trigger and promotion commits of the release, and the notes of SPEC §5 (the
/// same data as `GET /api/v1/releases/{id}/notes`).
pub(crate) fn notes(v: &ReleaseView, computed: Result<&ferry_notes::Notes, String>, first_parent: bool) -> NotesData {
    let data = release(v, Timestamp::now());
    let mut commits: Vec<NoteCommit> = Vec::new();
    for env in &v.environments {
        let mut by_commit: BTreeMap<String, NoteCommit> = BTreeMap::new();
        for app in &env.applications {
            let Some(a) = &app.action else { continue };
            let Some(commit) = &a.commit else { continue };
            let entry = by_commit.entry(commit.clone()).or_insert_with(|| NoteCommit {
                environment: env.name.clone(),
                sha: commit.clone(),
                short: short_sha(commit),
                repo: a.repo.as_deref().map(redact_url).unwrap_or_default(),
                applications: String::new(),
                pull_request: a.pull_request.as_ref().map(|p| (format!("#{}", p.number), p.url.clone())),
                badge: Badge::sized(&a.status, Size::Icon),
            });
            if !entry.applications.is_empty() {
                entry.applications.push_str(", ");
            }
            entry.applications.push_str(&app.name);
        }
        commits.extend(by_commit.into_values());
    }
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    for env in &v.environments {
        for app in &env.applications {
            if let Some(version) = &app.version {
                versions.entry(app.component.clone()).or_insert_with(|| version.clone());
            }
        }
    }
    let flip = if first_parent { String::new() } else { format::query(&[("firstParent", "true")]) };
    NotesData {
        first_parent_href: format!("{}/notes{flip}", data.href),
        release_href: data.href,
        version: data.version,
        trigger: data.trigger,
        commits,
        versions: versions.into_iter().collect(),
        notes: computed.map(notes_view),
        first_parent,
    }
}

fn range_commits(commits: &[ferry_notes::Commit]) -> Vec<RangeCommit> {
    commits
        .iter()
        .map(|c| RangeCommit {
            link: Linked::new(c.short_sha.clone(), c.url.as_deref()),
            sha: c.sha.clone(),
            subject: c.subject.clone(),
            author: c.author.clone(),
            date: format::time(Some(c.date)),
            merge: c.merge,
            refs: c.pull_requests.iter().chain(&c.issues).cloned().collect::<Vec<_>>().join(" "),
        })
        .collect()
}

fn notes_view(n: &ferry_notes::Notes) -> NotesView {
    let pull_requests = n
        .pull_requests
        .iter()
        .map(|p| NotePr {
            link: Linked::new(p.reference.clone(), p.url.as_deref()),
            title: p.title.clone().unwrap_or_default(),
            components: p.components.join(", "),
            found_in: p.found_in.clone(),
        })
        .collect();
    let issues = n
        .issues
        .iter()
        .map(|i| NoteIssue {
            link: Linked::new(i.key.clone(), i.url.as_deref()),
            kind: i.kind.clone(),
            summary: i.summary.clone().unwrap_or_default(),
            status: i.status.clone().unwrap_or_default(),
            assignee: i.assignee.clone().unwrap_or_default(),
            closes: i.closes,
            components: i.components.join(", "),
        })
        .collect();
    let components = n
        .components
        .iter()
        .map(|c| {
            let side = |s: &Option<ferry_notes::ImageSide>| s.as_ref().map(|s| s.value.clone()).unwrap_or_default();
            let starts: Vec<String> = c
                .gitops
                .from
                .iter()
                .map(|s| match &s.revision {
                    Some(r) => format!("{} at {} ({})", s.environment, short_sha(r), s.found_by),
                    None => format!("{} ({})", s.environment, s.found_by),
                })
                .collect();
            let (source_where, source, source_truncated) = match &c.source {
                Some(s) => (
                    format!("{} {}..{}", s.repository, short_sha(&s.from), short_sha(&s.to)),
                    range_commits(&s.commits),
                    s.truncated,
                ),
                None => (String::new(), Vec::new(), false),
            };
            NoteComponent {
                name: c.component.clone(),
                image_from: side(&c.images.from),
                image_to: side(&c.images.to),
                gitops_where: format!("{} · {} · {}", c.gitops.repository, c.gitops.branch, c.gitops.path),
                gitops_from: starts.join(", "),
                gitops: range_commits(&c.gitops.commits),
                gitops_truncated: c.gitops.truncated,
                source_range: c.source_range.clone(),
                source_reason: c.source_range_reason.clone().unwrap_or_default(),
                source_where,
                source,
                source_truncated,
                warnings: c.warnings.clone(),
                reports: [("before", &c.images.from), ("promoted", &c.images.to)]
                    .into_iter()
                    .filter_map(|(side, s)| {
                        let r = s.as_ref()?.report.as_ref()?;
                        Some(NoteImage {
                            side,
                            image: r.image.clone(),
                            digest: r.digest.clone().unwrap_or_default(),
                            annotations: r.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    NotesView {
        final_environments: n.final_environments.join(", "),
        pull_requests,
        issues,
        components,
        warnings: n.warnings.clone(),
        settled: n.settled,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use serde_json::{Value, json};

    use super::*;

    /// A release view of `envs` environments (a trigger, a fan-out, a join) with `apps` applications
    /// each, every application with a post-action workflow of three steps.
    fn big_view(envs: usize, apps: usize) -> Value {
        let statuses = ["Successful", "Running", "Failed", "Pending", "Suspended", "Terminated"];
        let environments: Vec<Value> = (0..envs)
            .map(|i| {
                let name = format!("env-{i:02}");
                let depends: Vec<String> = match i {
                    0 => vec![],
                    i if i == envs - 1 => (1..envs - 1).map(|j| format!("env-{j:02}")).collect(),
                    _ => vec!["env-00".to_owned()],
                };
                json!({
                    "name": name, "type": if i == envs - 1 { "production" } else { "non-production" },
                    "isTrigger": i == 0, "dependsOn": depends, "status": statuses[i % statuses.len()],
                    "startedAt": "2026-03-01T10:00:00Z", "finishedAt": null,
                    "policy": {"action": "commit"},
                    "applications": (0..apps).map(|a| json!({
                        "name": format!("app-{a}-{name}"), "component": format!("c{a}"), "phase": "postAction",
                        "action": {"action": "commit", "status": "Succeeded", "commit": "0123456789abcdef", "repo": "https://u:t@git.example.com/x.git"},
                        "app": {"sync": "Synced", "health": "Healthy"}, "version": "1.2.3", "failed": false,
                    })).collect::<Vec<_>>(),
                    "workflows": [{"stage": "postAction", "name": "e2e", "status": "Running",
                        "steps": [{"name": "a", "status": "Success"}, {"name": "b", "status": "Running"}, {"name": "c", "status": "Pending"}],
                        "runs": (0..apps).map(|a| format!("run-{i}-{a}")).collect::<Vec<_>>()}],
                    "issues": [{"id": format!("{name}:workflow:1"), "kind": "workflow", "summary": "step <b> failed", "at": "2026-03-01T10:01:00Z"}],
                })
            })
            .collect();
        json!({
            "id": "01a219a2-582c-7416-a783-c74bd3b3c656", "product": "shop", "flow": "standard", "flowVersion": "3.0",
            "version": "1.4.2", "status": "Running", "initiator": "alice", "createdAt": "2026-03-01T10:00:00Z",
            "trigger": {"sha": "00e81fed5f2da0ab8310f4d032695b9ec0548e06", "shortSha": "00e81fe",
                        "message": "feat: x <script>\n\nbody", "author": "Dana", "repo": "https://user:secret@git.example.com/r.git", "branch": "main"},
            "counters": {"successful": 5, "running": 5, "failed": 5, "pending": 15},
            "environments": environments, "hooks": [],
            "issues": [{"id": "env-01:workflow:1", "env": "env-01", "summary": "step <b> failed", "detail": {"kind": "workflow"}}],
        })
    }

    #[test]
    fn a_release_of_30_environments_and_10_applications_renders_escaped_and_complete() {
        let view = ReleaseView::from_json(big_view(30, 10)).expect("reads");
        let now = Timestamp::from_str("2026-03-01T10:05:00Z").expect("time");
        let started = std::time::Instant::now();
        let d = crate::ui::session::as_local(|| release(&view, now));
        let page = ReleasePage { page: PageMeta::new("t", vec![]), d };
        let html = page.render().expect("renders");
        let elapsed = started.elapsed();
        eprintln!("rendered a 30 × 10 release page ({} KiB) in {elapsed:?}", html.len() / 1024);
        assert_eq!(html.matches("<a class=\"node ").count(), 30, "one graph node per environment");
        assert_eq!(html.matches("class=\"card env ").count(), 30);
        assert!(html.contains("feat: x &#60;script&#62;") || html.contains("feat: x &lt;script&gt;"), "escaped");
        assert!(!html.contains("<script>") && !html.contains("<b>"), "nothing unescaped");
        assert!(!html.contains("secret") && !html.contains("u:t@"), "credentials are redacted");
        assert!(html.contains("id=\"terminate\""), "a running release can be terminated");
        assert!(!html.contains("id=\"retry\""), "a running release cannot be retried");
    }

    #[test]
    fn product_columns_follow_the_flow_and_missing_environments_read_as_not_included() {
        let catalog = Catalog::default();
        let row = ReleaseRow {
            id: "01a219a2-582c-7416-a783-c74bd3b3c656".into(),
            product: "shop".into(),
            flow: "manual".into(),
            flow_version: None,
            status: "Failed".into(),
            initiator: "bob".into(),
            created_at: Timestamp::UNIX_EPOCH,
            finished_at: None,
            reason: Some("qa failed".into()),
            retries: 0,
            version: None,
            environments: json!({"qa": "Failed", "dev": "Successful"}),
        };
        let d = product(ProductInput {
            catalog: &catalog,
            name: "shop",
            live: &[],
            rows: std::slice::from_ref(&row),
            next: Some("01a219a2-0000-7416-a783-c74bd3b3c656"),
            filters: Filters { status: "Failed".into(), ..Filters::default() },
            error: None,
        });
        assert_eq!(d.releases[0].flow_href, None, "manual releases have no flow link");
        assert_eq!(d.releases[0].line.flow, "Manual");
        assert_eq!(
            d.older.as_deref(),
            Some("/products/shop?status=Failed&cursor=01a219a2-0000-7416-a783-c74bd3b3c656")
        );
        let html = ProductFragment { d }.render().expect("renders");
        assert!(html.contains(r#"title="qa failed""#), "the date's tooltip is the reason");
        assert!(html.contains("<em>Manual</em>"));
    }
}
