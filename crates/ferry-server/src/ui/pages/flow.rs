//! A promotion flow drawn as a graph.

use super::*;

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
