//! The products page.

use super::*;

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
    pub(super) fn of(r: &ReleaseRow) -> ReleaseLine {
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
    let mut listed: HashSet<String> = HashSet::new();
    if let Some(p) = catalog.products.get(product) {
        for selection in &p.promotion_flows {
            if let Some(flow) = catalog.flows.get(&selection.flow) {
                for env in flow_order(flow) {
                    if listed.insert(env.clone()) {
                        out.push(env);
                    }
                }
            }
        }
    }
    let used: BTreeSet<&EnvName> =
        catalog.applications.values().filter(|a| a.product == *product).map(|a| &a.environment).collect();
    for env in catalog.environments_in_order() {
        if used.contains(&env.name) && listed.insert(env.name.to_string()) {
            out.push(env.name.to_string());
        }
    }
    out
}

/// A flow's environments and their dependencies (a step without `dependsOn` waits for the trigger).
pub(super) fn flow_nodes(flow: &PromotionFlow) -> Vec<(String, Vec<String>)> {
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
pub(super) fn flow_order(flow: &PromotionFlow) -> Vec<String> {
    let nodes = flow_nodes(flow);
    let inputs: Vec<graph::Input<'_>> = nodes
        .iter()
        .map(|(n, d)| graph::Input { name: n, depends_on: d, status: "", note: String::new(), href: String::new() })
        .collect();
    // The graph's columns left to right, each in flow order (no drawing needed).
    let depth = graph::columns(&inputs);
    let mut placed: Vec<(usize, usize)> = depth.into_iter().enumerate().map(|(i, d)| (d, i)).collect();
    placed.sort_unstable();
    placed.into_iter().map(|(_, i)| nodes[i].0.clone()).collect()
}
