//! Checks across resources, after every document was decoded: duplicate names, references, flow graphs,
//! Argo CD application placement, components and missing applications.

use std::collections::{BTreeMap, BTreeSet};

use ferry_model::flow::FlowGraph;
use ferry_model::names::*;
use ferry_model::resources::*;

use crate::decode::{concat, index, join, path_exists, position_of};
use crate::diagnostic::{Diagnostic, Severity};
use crate::kinds::{ArgoApp, Decoded, Kind, Outcome, destination_aliases};
use crate::node::Document;
use crate::suggest;
use crate::{Origin, ResourceKey};

/// One decoded document and where it came from.
pub(crate) struct Record {
    /// File name as shown.
    pub file: String,
    /// The parsed document.
    pub document: Document,
    /// What decoding produced.
    pub outcome: Outcome,
}

struct Checker<'a> {
    records: &'a [Record],
    diags: &'a mut Vec<Diagnostic>,
    /// Every named document by kind, including documents with errors (so references to them do not
    /// produce a second, misleading error).
    names: BTreeMap<Kind, BTreeMap<&'a str, Vec<usize>>>,
}

impl Checker<'_> {
    fn report(&mut self, severity: Severity, rec: usize, field: &str, message: String, hint: Option<String>) {
        let r = &self.records[rec];
        let pos = position_of(&r.document.root, field);
        self.diags.push(Diagnostic {
            severity,
            file: r.file.clone(),
            document: r.document.index,
            line: pos.line,
            column: pos.column,
            field: field.to_owned(),
            message,
            hint,
        });
    }

    fn exists(&self, kind: Kind, name: &str) -> bool {
        self.names.get(&kind).is_some_and(|m| m.contains_key(name))
    }

    fn known(&self, kind: Kind) -> Vec<&str> {
        self.names.get(&kind).map(|m| m.keys().copied().collect()).unwrap_or_default()
    }

    /// Reports `name` at `field` when no resource of `kind` has it.
    fn reference(&mut self, severity: Severity, rec: usize, field: &str, kind: Kind, name: &str) {
        if self.exists(kind, name) {
            return;
        }
        let known = self.known(kind);
        let hint = suggest::hint(name, known.iter().copied()).or_else(|| {
            if known.is_empty() {
                Some(format!("no {} is defined", kind.noun()))
            } else if known.len() <= 8 {
                suggest::list(known.iter().copied(), &format!("defined {}s", kind.noun()))
            } else {
                None
            }
        });
        self.report(severity, rec, field, format!("unknown {} {name:?}", kind.noun()), hint);
    }

    fn workflow_ref(&mut self, rec: usize, field: &str, name: &WorkflowName) {
        self.reference(Severity::Error, rec, field, Kind::Workflow, name.as_str());
    }
}

/// Runs every cross-resource check and builds the catalog (meaningful only when no error was reported).
pub(crate) fn validate(records: &[Record], diags: &mut Vec<Diagnostic>) -> (Catalog, BTreeMap<ResourceKey, Origin>) {
    let mut names: BTreeMap<Kind, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if let (Some(kind), Some((name, _))) = (r.outcome.kind, &r.outcome.name) {
            names.entry(kind).or_default().entry(name.as_str()).or_default().push(i);
        }
    }
    let mut ck = Checker { records, diags, names };
    duplicates(&mut ck);
    let origins = origins(&ck);

    let mut catalog = Catalog::default();
    let mut argo: Vec<(usize, &ArgoApp)> = Vec::new();
    let mut apps: Vec<(usize, &Application)> = Vec::new();
    let mut products: Vec<(usize, &Product)> = Vec::new();
    let mut flows: Vec<(usize, &PromotionFlow)> = Vec::new();
    let mut policies: Vec<(usize, &PromotionPolicy)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match &r.outcome.resource {
            None => {}
            Some(Decoded::Environment(e)) => {
                catalog.environments.entry(e.name.clone()).or_insert_with(|| e.clone());
            }
            Some(Decoded::Application(a)) => apps.push((i, a)),
            Some(Decoded::ArgoApp(a)) => argo.push((i, a)),
            Some(Decoded::Product(p)) => {
                products.push((i, p));
                catalog.products.entry(p.name.clone()).or_insert_with(|| p.clone());
            }
            Some(Decoded::Template(t)) => {
                catalog.templates.entry(t.name.clone()).or_insert_with(|| t.clone());
            }
            Some(Decoded::Flow(f)) => {
                flows.push((i, f));
                catalog.flows.entry(f.name.clone()).or_insert_with(|| f.clone());
            }
            Some(Decoded::Policy(p)) => {
                policies.push((i, p));
                catalog.policies.entry(p.name.clone()).or_insert_with(|| p.clone());
            }
            Some(Decoded::Workflow(w)) => {
                catalog.workflows.entry(w.name.clone()).or_insert_with(|| w.clone());
            }
            Some(Decoded::Notification(n)) => {
                catalog.notifications.entry(n.name.clone()).or_insert_with(|| n.clone());
            }
            Some(Decoded::GitProvider(g)) => {
                catalog.git_providers.entry(g.name.clone()).or_insert_with(|| g.clone());
            }
            Some(Decoded::Freeze(f)) => {
                catalog.freezes.entry(f.name.clone()).or_insert_with(|| f.clone());
            }
        }
    }

    // Applications: native ones as written, Argo CD ones placed by destination.
    let env_docs_failed =
        records.iter().any(|r| r.outcome.kind == Some(Kind::Environment) && r.outcome.resource.is_none());
    let mut placed: Vec<(usize, Application, bool)> = apps.iter().map(|(i, a)| (*i, (*a).clone(), false)).collect();
    for (i, a) in &argo {
        if let Some(app) = place(&mut ck, *i, a, &catalog, env_docs_failed) {
            placed.push((*i, app, true));
        }
    }
    let mut components: BTreeMap<(&ProductName, &EnvName, &ComponentName), &AppName> = BTreeMap::new();
    for (i, app, is_argo) in &placed {
        let (product_field, env_field) = if *is_argo {
            let key = argo.iter().find(|(r, _)| r == i).map(|(_, a)| a.product_key).unwrap_or("ferry/product");
            (join(&join("metadata", "annotations"), key), "spec.destination".to_owned())
        } else {
            ("spec.product".to_owned(), "spec.environment".to_owned())
        };
        ck.reference(Severity::Error, *i, &product_field, Kind::Product, app.product.as_str());
        if !*is_argo {
            ck.reference(Severity::Error, *i, &env_field, Kind::Environment, app.environment.as_str());
        }
        match components.get(&(&app.product, &app.environment, &app.component)) {
            Some(other) => {
                let field = if !*is_argo && path_exists(&ck.records[*i].document.root, "spec.component") {
                    "spec.component"
                } else {
                    "metadata.name"
                };
                let other = other.to_string();
                ck.report(
                    Severity::Error,
                    *i,
                    field,
                    format!(
                        "applications {other:?} and {:?} are both component {:?} of product {:?} in environment {:?}",
                        app.name.as_str(),
                        app.component.as_str(),
                        app.product.as_str(),
                        app.environment.as_str()
                    ),
                    Some("set a distinct spec.component (or ferry/component annotation) on each".into()),
                );
            }
            None => {
                components.insert((&app.product, &app.environment, &app.component), &app.name);
            }
        }
    }
    for (_, app, _) in &placed {
        catalog.applications.entry(app.name.clone()).or_insert_with(|| app.clone());
    }

    for (i, flow) in &flows {
        check_flow(&mut ck, *i, flow);
    }
    for (i, policy) in &policies {
        check_policy(&mut ck, *i, policy);
    }
    for (i, product) in &products {
        check_product(&mut ck, *i, product, &catalog);
    }
    (catalog, origins)
}

fn duplicates(ck: &mut Checker<'_>) {
    let mut found = Vec::new();
    for (kind, by_name) in &ck.names {
        for (name, recs) in by_name {
            if recs.len() > 1 {
                found.push((*kind, name.to_string(), recs.clone()));
            }
        }
    }
    for (kind, name, recs) in found {
        for &r in &recs {
            let others: Vec<String> = recs
                .iter()
                .filter(|&&o| o != r)
                .map(|&o| {
                    let rec = &ck.records[o];
                    format!("{}#{}", rec.file, rec.document.index)
                })
                .collect();
            ck.report(
                Severity::Error,
                r,
                "metadata.name",
                format!("duplicate {} name {name:?}", kind.noun()),
                Some(format!("also defined in {}", others.join(", "))),
            );
        }
    }
}

fn origins(ck: &Checker<'_>) -> BTreeMap<ResourceKey, Origin> {
    let mut out = BTreeMap::new();
    for (kind, by_name) in &ck.names {
        for (name, recs) in by_name {
            let r = &ck.records[recs[0]];
            out.insert(
                (*kind, (*name).to_owned()),
                Origin {
                    file: r.file.clone(),
                    document: r.document.index,
                    line: r.document.root.pos.line,
                    api_version: r.outcome.api_version.clone(),
                },
            );
        }
    }
    out
}

/// Finds the one environment whose clusters contain the Argo CD application's destination.
fn place(
    ck: &mut Checker<'_>,
    rec: usize,
    argo: &ArgoApp,
    catalog: &Catalog,
    env_docs_failed: bool,
) -> Option<Application> {
    let aliases = destination_aliases(argo.dest_name.as_deref(), argo.dest_server.as_deref());
    let namespace = argo.app.namespace.as_deref();
    let matching: Vec<&Environment> = catalog
        .environments
        .values()
        .filter(|e| aliases.iter().any(|c| e.contains_destination(c, namespace)))
        .collect();
    let cluster = argo.dest_name.as_deref().or(argo.dest_server.as_deref()).unwrap_or_default();
    let shown = match namespace {
        Some(ns) => format!("cluster {cluster:?}, namespace {ns:?}"),
        None => format!("cluster {cluster:?}"),
    };
    match matching.as_slice() {
        [env] => {
            let mut app = argo.app.clone();
            app.environment = env.name.clone();
            Some(app)
        }
        [] => {
            if !env_docs_failed {
                let clusters: Vec<String> = catalog
                    .environments
                    .values()
                    .flat_map(|e| {
                        e.clusters.iter().map(move |c| {
                            if c.namespaces.is_empty() {
                                format!("{} ({})", e.name, c.name)
                            } else {
                                format!("{} ({}: {})", e.name, c.name, c.namespaces.join(", "))
                            }
                        })
                    })
                    .collect();
                let hint = if clusters.is_empty() {
                    "no environment lists clusters; add spec.clusters to the environment of this application".to_owned()
                } else {
                    format!("environments with clusters: {}", clusters.join("; "))
                };
                ck.report(
                    Severity::Error,
                    rec,
                    "spec.destination",
                    format!("destination ({shown}) belongs to no environment"),
                    Some(hint),
                );
            }
            None
        }
        several => {
            let names: Vec<&str> = several.iter().map(|e| e.name.as_str()).collect();
            ck.report(
                Severity::Error,
                rec,
                "spec.destination",
                format!("destination ({shown}) belongs to several environments: {}", names.join(", ")),
                Some("give each environment its own clusters or namespaces".into()),
            );
            None
        }
    }
}

fn check_flow(ck: &mut Checker<'_>, rec: usize, flow: &PromotionFlow) {
    ck.reference(Severity::Error, rec, "spec.triggerEnvironment", Kind::Environment, flow.trigger_environment.as_str());
    if let Some(w) = &flow.trigger_workflow {
        ck.workflow_ref(rec, "spec.triggerWorkflow", w);
    }
    for (hook, w) in flow.hooks.iter() {
        ck.workflow_ref(rec, &join("spec.hooks", hook), w);
    }
    for (i, step) in flow.steps.iter().enumerate() {
        let base = index("spec.steps", i);
        ck.reference(Severity::Error, rec, &join(&base, "environment"), Kind::Environment, step.environment.as_str());
        for (hook, w) in step.hooks.iter() {
            ck.workflow_ref(rec, &join(&join(&base, "hooks"), hook), w);
        }
        if let Some(w) = &step.policy.pre_action {
            ck.workflow_ref(rec, &join(&join(&base, "policy"), "preAction"), w);
        }
        if let Some(w) = &step.policy.post_action {
            ck.workflow_ref(rec, &join(&join(&base, "policy"), "postAction"), w);
        }
    }
    if let Err(errors) = FlowGraph::build(flow) {
        for e in errors {
            let hint =
                suggest::hint(e.message.split('"').nth(1).unwrap_or_default(), e.candidates.iter().map(String::as_str))
                    .or_else(|| suggest::list(e.candidates.iter().map(String::as_str), "environments of this flow"));
            ck.report(Severity::Error, rec, &concat("spec", &e.field), e.message, hint);
        }
    }
}

fn check_policy(ck: &mut Checker<'_>, rec: usize, policy: &PromotionPolicy) {
    if let Some(w) = &policy.policy.pre_action {
        ck.workflow_ref(rec, "spec.policy.preAction", w);
    }
    if let Some(w) = &policy.policy.post_action {
        ck.workflow_ref(rec, "spec.policy.postAction", w);
    }
    if let Some(names) = &policy.selector.product.names {
        for (i, n) in names.iter().enumerate() {
            ck.reference(Severity::Warning, rec, &index("spec.selector.product.names", i), Kind::Product, n.as_str());
        }
    }
    if let Some(names) = &policy.selector.target_environment.names {
        for (i, n) in names.iter().enumerate() {
            let field = index("spec.selector.targetEnvironment.names", i);
            ck.reference(Severity::Warning, rec, &field, Kind::Environment, n.as_str());
        }
    }
}

fn check_product(ck: &mut Checker<'_>, rec: usize, product: &Product, catalog: &Catalog) {
    if let Some(t) = &product.promotion_template_ref {
        ck.reference(Severity::Error, rec, "spec.promotionTemplateRef", Kind::PromotionTemplate, t.as_str());
    }
    // A flow without selectors matches every commit: later flows from the same environment never run.
    for (j, later) in product.promotion_flows.iter().enumerate() {
        let Some(later_flow) = catalog.flows.get(&later.flow) else { continue };
        let shadow = product.promotion_flows[..j].iter().find(|earlier| {
            earlier.git_trigger_selectors.is_empty()
                && earlier.flow != later.flow
                && catalog
                    .flows
                    .get(&earlier.flow)
                    .is_some_and(|f| f.trigger_environment == later_flow.trigger_environment)
        });
        if let Some(earlier) = shadow {
            ck.report(
                Severity::Warning,
                rec,
                &join(&index("spec.promotionFlows", j), "name"),
                format!(
                    "flow {:?} is never chosen automatically: {:?} comes first, starts in {:?} too and has no gitTriggerSelectors",
                    later.flow.as_str(),
                    earlier.flow.as_str(),
                    later_flow.trigger_environment.as_str()
                ),
                Some("list the flow with selectors first".into()),
            );
        }
    }
    let mut warned: BTreeSet<&EnvName> = BTreeSet::new();
    for (i, sel) in product.promotion_flows.iter().enumerate() {
        let field = join(&index("spec.promotionFlows", i), "name");
        ck.reference(Severity::Error, rec, &field, Kind::PromotionFlow, sel.flow.as_str());
        let Some(flow) = catalog.flows.get(&sel.flow) else { continue };
        for env in flow.environments() {
            if !catalog.environments.contains_key(env) || warned.contains(env) {
                continue;
            }
            if catalog.apps_in(&product.name, env).is_empty() {
                warned.insert(env);
                ck.report(
                    Severity::Warning,
                    rec,
                    &field,
                    format!(
                        "product {:?} has no application in environment {:?} of flow {:?}; a release reaching it will fail",
                        product.name.as_str(),
                        env.as_str(),
                        flow.name.as_str()
                    ),
                    None,
                );
            }
        }
    }
}
