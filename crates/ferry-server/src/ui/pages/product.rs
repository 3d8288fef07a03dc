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
    /// The release's environments outside the shown column group, counted by status (worst first).
    pub(crate) others: Vec<OtherCount>,
}

/// A count of environments with one status, outside the shown columns.
#[derive(Debug, Clone)]
pub(crate) struct OtherCount {
    pub(crate) count: usize,
    pub(crate) badge: Badge,
}

/// Above this many environments the product page shows their columns in groups of this many.
pub(crate) const COLUMN_LIMIT: usize = 20;

/// A group of environment columns to choose.
#[derive(Debug, Clone)]
pub(crate) struct ColumnGroup {
    pub(crate) number: usize,
    pub(crate) label: String,
    pub(crate) current: bool,
}

/// Which environment columns are shown, when there are more than [`COLUMN_LIMIT`].
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    /// 1-based positions of the first and last shown environment, and how many there are.
    pub(crate) first: usize,
    pub(crate) last: usize,
    pub(crate) total: usize,
    pub(crate) groups: Vec<ColumnGroup>,
    pub(crate) previous: Option<String>,
    pub(crate) next: Option<String>,
    /// The other query parameters of the page, kept by the group form.
    pub(crate) keep: Vec<(&'static str, String)>,
}

/// The filter form's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) status: String,
    pub(crate) flow: String,
    pub(crate) cursor: String,
    /// The environment column group (`columns`, 1-based; empty = the first).
    pub(crate) columns: String,
}

impl Filters {
    /// Whether any filter narrows the list.
    pub(crate) fn active(&self) -> bool {
        !(self.since.is_empty() && self.until.is_empty() && self.status.is_empty() && self.flow.is_empty())
    }

    pub(super) fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("since", &self.since),
            ("until", &self.until),
            ("status", &self.status),
            ("flow", &self.flow),
            ("columns", &self.columns),
        ]
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
    /// The environment columns shown.
    pub(crate) environments: Vec<String>,
    /// The column groups, when the product has more than [`COLUMN_LIMIT`] environments.
    pub(crate) columns: Option<Columns>,
    pub(crate) matrix: Vec<MatrixRow>,
    pub(crate) releases: Vec<ReleaseTableRow>,
    pub(crate) filters: Filters,
    pub(crate) statuses: Vec<Choice>,
    pub(crate) flows: Vec<Choice>,
    pub(crate) error: Option<String>,
    pub(crate) older: Option<String>,
    pub(crate) newest: Option<String>,
    pub(crate) flow_links: Vec<(String, String)>,
    /// The product's DORA metrics page.
    pub(crate) dora_href: String,
    /// The freeze windows covering the product: holding now, or coming next.
    pub(crate) freezes: Vec<FreezeLine>,
}

/// A freeze window covering a product (or one of its environments), as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct FreezeLine {
    pub(crate) name: String,
    pub(crate) environments: String,
    /// `active until …` or `next …`.
    pub(crate) when: String,
    pub(crate) active: bool,
    pub(crate) reason: String,
}

/// The freeze windows of `freezes` covering `product` (in `env`, when given) as seen at `now`: active
/// ones first.
pub(crate) fn freeze_lines(
    freezes: &ferry_model::freeze::FreezeSet,
    product: &str,
    env: Option<&str>,
    now: jiff::Timestamp,
) -> Vec<FreezeLine> {
    let mut lines: Vec<FreezeLine> = freezes
        .windows(product, env, now)
        .into_iter()
        .map(|w| {
            let (when, active) = match (w.active, w.next) {
                (Some((_, until)), _) => (format!("frozen until {}", format::time(Some(until))), true),
                (None, Some((from, until))) => {
                    (format!("next {} until {}", format::time(Some(from)), format::time(Some(until))), false)
                }
                (None, None) => (String::new(), false),
            };
            let envs = &w.freeze.environments;
            FreezeLine {
                name: w.freeze.name.to_string(),
                environments: if envs.is_empty() { "every environment".to_owned() } else { envs.join(", ") },
                when,
                active,
                reason: w.freeze.reason.clone().unwrap_or_default(),
            }
        })
        .collect();
    lines.sort_by_key(|l| !l.active);
    lines
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
    /// The column group asked for (1-based; beyond the last group reads as the last).
    pub(crate) column_group: usize,
    /// The freeze windows covering the product.
    pub(crate) freezes: Vec<FreezeLine>,
}

/// The shown part of `environments` and the navigation between groups.
fn column_groups(environments: &[String], group: usize, base: &str, filters: &Filters) -> (usize, Option<Columns>) {
    let total = environments.len();
    if total <= COLUMN_LIMIT {
        return (0, None);
    }
    let count = total.div_ceil(COLUMN_LIMIT);
    let current = group.clamp(1, count);
    let start = (current - 1) * COLUMN_LIMIT;
    let end = (start + COLUMN_LIMIT).min(total);
    let link = |n: usize| {
        let n = n.to_string();
        let mut pairs: Vec<(&str, &str)> = filters.pairs().into_iter().filter(|(k, _)| *k != "columns").collect();
        pairs.push(("cursor", &filters.cursor));
        pairs.push(("columns", &n));
        format!("{base}{}", query(&pairs))
    };
    let groups = (1..=count)
        .map(|n| {
            let a = (n - 1) * COLUMN_LIMIT;
            let b = (a + COLUMN_LIMIT).min(total) - 1;
            ColumnGroup {
                number: n,
                label: format!("{}–{}: {} … {}", a + 1, b + 1, environments[a], environments[b]),
                current: n == current,
            }
        })
        .collect();
    let keep = [
        ("since", &filters.since),
        ("until", &filters.until),
        ("status", &filters.status),
        ("flow", &filters.flow),
        ("cursor", &filters.cursor),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k, v.clone()))
    .collect();
    let columns = Columns {
        first: start + 1,
        last: end,
        total,
        groups,
        previous: (current > 1).then(|| link(current - 1)),
        next: (current < count).then(|| link(current + 1)),
        keep,
    };
    (start, Some(columns))
}

/// Builds the product page.
pub(crate) fn product(input: ProductInput<'_>) -> ProductData {
    let ProductInput { catalog, name, live, rows, next, filters, error, column_group, freezes } = input;
    let pname = ProductName::new(name.to_owned()).ok();
    let mut environments = pname.as_ref().map(|p| product_environments(catalog, p)).unwrap_or_default();
    let mut listed: HashSet<String> = environments.iter().cloned().collect();
    // Environments of listed releases that the configuration no longer names get their own columns.
    for r in rows {
        if let Some(map) = r.environments.as_object() {
            for env in map.keys() {
                if listed.insert(env.clone()) {
                    environments.push(env.clone());
                }
            }
        }
    }
    for s in live {
        if listed.insert(s.environment.clone()) {
            environments.push(s.environment.clone());
        }
    }
    let base = product_href(name);
    let (start, columns) = column_groups(&environments, column_group, &base, &filters);
    let shown: Vec<String> = match &columns {
        Some(c) => environments[start..c.last].to_vec(),
        None => environments.clone(),
    };
    let live_at: HashMap<(&str, &str), &AppStateRow> =
        live.iter().map(|s| ((s.component.as_str(), s.environment.as_str()), s)).collect();
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
            cells: shown
                .iter()
                .map(|env| {
                    live_at.get(&(component, env.as_str())).map(|s| MatrixCell {
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
            cells: shown
                .iter()
                .map(|env| r.environments.get(env).and_then(|s| s.as_str()).map(|s| Badge::sized(s, Size::Icon)))
                .collect(),
            others: match &columns {
                Some(_) => others(r, &shown),
                None => Vec::new(),
            },
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
    let mut older_pairs = filters.pairs();
    let older = next.map(|cursor| {
        older_pairs.push(("cursor", cursor));
        format!("{base}{}", query(&older_pairs))
    });
    let newest = (!filters.cursor.is_empty()).then(|| format!("{base}{}", query(&filters.pairs())));
    ProductData {
        name: name.to_owned(),
        href: base.clone(),
        environments: shown,
        columns,
        matrix,
        releases,
        filters,
        statuses,
        flows,
        error,
        older,
        newest,
        flow_links,
        dora_href: format!("{}/dora", product_href(name)),
        freezes,
    }
}

/// A release's environments outside `shown`, counted by status, worst first.
fn others(r: &ReleaseRow, shown: &[String]) -> Vec<OtherCount> {
    const ORDER: [&str; 6] = ["Failed", "Terminated", "Suspended", "Running", "Pending", "Successful"];
    let shown: HashSet<&str> = shown.iter().map(String::as_str).collect();
    let mut counts: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    if let Some(map) = r.environments.as_object() {
        for (env, status) in map {
            let Some(status) = status.as_str() else { continue };
            if shown.contains(env.as_str()) {
                continue;
            }
            let rank = ORDER.iter().position(|s| *s == status).unwrap_or(ORDER.len());
            *counts.entry((rank, status)).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|((_, status), count)| OtherCount { count, badge: Badge::sized(status, Size::Icon) })
        .collect()
}
