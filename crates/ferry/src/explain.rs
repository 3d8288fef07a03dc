//! `ferry policy explain`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ferry_model::names::{EnvName, FlowName, ProductName};
use ferry_model::policy::Resolved;
use serde_json::json;

use crate::{Output, exit, style, validate};

/// Runs the command.
pub fn run(
    product: &str,
    env: &str,
    flow: Option<&str>,
    files: &[PathBuf],
    output: Output,
) -> anyhow::Result<ExitCode> {
    let usage = |msg: String| {
        eprintln!("{} {msg}", style::error_label());
        Ok(ExitCode::from(exit::INVALID))
    };
    let product = match ProductName::new(product) {
        Ok(p) => p,
        Err(e) => return usage(format!("PRODUCT: {e}")),
    };
    let env = match EnvName::new(env) {
        Ok(e) => e,
        Err(e) => return usage(format!("ENV: {e}")),
    };
    let flow = match flow.map(FlowName::new).transpose() {
        Ok(f) => f,
        Err(e) => return usage(format!("--flow: {e}")),
    };
    let loaded = match validate::load(files) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let catalog = &loaded.catalog;
    let Some(prod) = catalog.products.get(&product) else {
        let known: Vec<&str> = catalog.products.keys().map(|p| p.as_str()).collect();
        return usage(format!("unknown product {:?} (known: {})", product.as_str(), known.join(", ")));
    };
    if !catalog.environments.contains_key(&env) {
        let known: Vec<&str> = catalog.environments.keys().map(|e| e.as_str()).collect();
        return usage(format!("unknown environment {:?} (known: {})", env.as_str(), known.join(", ")));
    }
    // Without --flow: the product's first flow in which ENV is a step.
    let flow = flow.or_else(|| {
        prod.promotion_flows
            .iter()
            .map(|sel| &sel.flow)
            .find(|f| catalog.flows.get(*f).is_some_and(|flow| flow.step(&env).is_some()))
            .cloned()
    });
    let resolved = match catalog.resolve_policy(&product, flow.as_ref(), &env) {
        Ok(r) => r,
        Err(e) => return usage(e.to_string()),
    };
    let flow_label = flow.as_ref().map_or("none (manual promotion)".to_string(), |f| f.to_string());
    let row = |field: &str, r: Option<(String, String)>| match r {
        Some((value, source)) => json!({"field": field, "value": value, "source": source}),
        None => json!({"field": field, "value": null, "source": null}),
    };
    let text = |r: &Option<Resolved<ferry_model::names::WorkflowName>>| {
        r.as_ref().map(|r| (r.value.to_string(), r.source.to_string()))
    };
    let rows = [
        row("action", Some((resolved.action.value.as_str().to_string(), resolved.action.source.to_string()))),
        row("preAction", text(&resolved.pre_action)),
        row("postAction", text(&resolved.post_action)),
        row(
            "soakTime",
            resolved.soak_time.as_ref().map(|r| (ferry_model::format_duration(r.value), r.source.to_string())),
        ),
        row(
            "approval",
            resolved.approval.as_ref().map(|r| {
                let a = &r.value;
                let mut who: Vec<String> = a.roles.iter().map(|x| format!("role {x}")).collect();
                who.extend(a.tokens.iter().map(|t| format!("token {t}")));
                let by = if who.is_empty() { String::new() } else { format!(" by {}", who.join(", ")) };
                let own = if a.allow_self_approval { ", self-approval allowed" } else { "" };
                (format!("{} required{by}{own}", a.required), r.source.to_string())
            }),
        ),
    ];
    let matched: Vec<serde_json::Value> = resolved
        .matched
        .iter()
        .map(|name| json!({"name": name, "priority": catalog.policies.get(name).map(|p| p.priority)}))
        .collect();
    if output == Output::Json {
        let doc = json!({
            "product": product, "environment": env, "flow": flow, "fields": rows, "matchingPolicies": matched,
        });
        println!("{}", serde_json::to_string_pretty(&doc).context("rendering JSON")?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Policy of product {product} for environment {env} (flow: {flow_label})");
    println!();
    println!("{:<12} {:<24} SOURCE", "FIELD", "VALUE");
    for r in &rows {
        let value = r["value"].as_str().unwrap_or("-");
        let source = r["source"].as_str().unwrap_or("not set by any source");
        println!("{:<12} {:<24} {}", r["field"].as_str().unwrap_or_default(), value, source);
    }
    println!();
    if resolved.matched.is_empty() {
        println!("{}", style::hint("No PromotionPolicy matches this product and environment."));
    } else {
        let list: Vec<String> = matched
            .iter()
            .map(|m| format!("{} (priority {})", m["name"].as_str().unwrap_or_default(), m["priority"]))
            .collect();
        println!("{}", style::hint(&format!("Matching policies, strongest first: {}", list.join(", "))));
    }
    Ok(ExitCode::SUCCESS)
}
