//! A product: the environment × component matrix and the releases table.

use super::*;

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

    pub(super) fn pairs(&self) -> Vec<(&'static str, &str)> {
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
