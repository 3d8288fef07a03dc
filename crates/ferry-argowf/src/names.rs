//! Names Ferry gives to what it submits: deterministic workflow names, label values, and the pod
//! names Argo gives to nodes (to ask for their logs).

use sha2::{Digest, Sha256};

/// Longest workflow name Ferry makes (a Kubernetes label value holds at most 63 characters, and
/// Argo copies the workflow name into labels).
pub const MAX_WORKFLOW_NAME: usize = 63;

/// The annotation naming the pod-name format of a workflow (`v1`: pods are named after node ids).
pub const POD_NAME_FORMAT: &str = "workflows.argoproj.io/pod-name-format";

/// A deterministic workflow name of at most [`MAX_WORKFLOW_NAME`] characters: `ferry-` and the
/// readable `parts` (lowercased, other characters turned into `-`), cut to fit, then `-` and 10 hex
/// digits of a hash of `key` (which identifies the run exactly).
pub fn workflow_name(parts: &[&str], key: &str) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let suffix = &hash[..10];
    let mut readable = String::from("ferry");
    for part in parts {
        let clean = dns_label(part);
        if !clean.is_empty() {
            readable.push('-');
            readable.push_str(&clean);
        }
    }
    let room = MAX_WORKFLOW_NAME - suffix.len() - 1;
    readable.truncate(room);
    let readable = readable.trim_end_matches('-');
    format!("{readable}-{suffix}")
}

/// `text` lowercased with every character other than `a-z0-9` replaced by `-`, runs of `-` folded,
/// no `-` at either end.
fn dns_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Whether `value` is a valid Kubernetes label value: at most 63 characters of `[A-Za-z0-9-_.]`,
/// starting and ending alphanumeric (or empty).
pub fn is_label_value(value: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    value.len() <= 63
        && value.chars().all(ok)
        && value.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && value.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// A label value for `value`: itself when valid, else its valid characters cut to 63 and trimmed to
/// alphanumeric ends (the full value then goes in an annotation).
pub fn label_value(value: &str) -> String {
    if is_label_value(value) {
        return value.to_owned();
    }
    let kept: String =
        value.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(63).collect();
    kept.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// The pod Argo runs for a node (Argo's `GeneratePodName`): the node id in the `v1` format, else
/// `<workflow>-<template>-<fnv32a(node name)>`, the workflow's own name for its root node.
pub fn pod_name(workflow: &str, node_name: &str, template: Option<&str>, node_id: &str, v1: bool) -> String {
    if v1 {
        return node_id.to_owned();
    }
    if workflow == node_name {
        return workflow.to_owned();
    }
    let mut prefix = workflow.to_owned();
    if let Some(t) = template.filter(|t| !t.is_empty()) {
        prefix.push('-');
        prefix.push_str(t);
    }
    // Kubernetes names hold 253 characters; Argo keeps 10 for the hash and a separator.
    if prefix.len() > 253 - 10 - 1 {
        let mut cut = 253 - 10 - 1;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    format!("{prefix}-{}", fnv32a(node_name.as_bytes()))
}

/// 32-bit FNV-1a.
fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_names_fit_and_differ_by_key() {
        let long = "x".repeat(200);
        let a = workflow_name(&["0190c0de", &long, "Shop API", "post"], "k1");
        let b = workflow_name(&["0190c0de", &long, "Shop API", "post"], "k2");
        assert!(a.len() <= MAX_WORKFLOW_NAME && b.len() <= MAX_WORKFLOW_NAME, "{a}");
        assert_ne!(a, b);
        assert!(a.starts_with("ferry-0190c0de-xxx"), "{a}");
        let short = workflow_name(&["0190c0de", "qa", "Shop API", "post-action"], "k");
        assert!(short.starts_with("ferry-0190c0de-qa-shop-api-post-action-"), "{short}");
        assert_eq!(short, workflow_name(&["0190c0de", "qa", "Shop API", "post-action"], "k"));
    }

    #[test]
    fn label_values() {
        assert!(is_label_value("shop-api_1.2"));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value(&"a".repeat(64)));
        assert_eq!(label_value(&"a".repeat(70)), "a".repeat(63));
        assert_eq!(label_value("_ok_"), "ok");
    }

    #[test]
    fn pod_names_follow_argo() {
        // fnv32a("") is the offset basis.
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(pod_name("wf", "wf", Some("main"), "wf", false), "wf");
        assert_eq!(pod_name("wf", "wf[0].a", Some("echo"), "wf-1", false), format!("wf-echo-{}", fnv32a(b"wf[0].a")));
        assert_eq!(pod_name("wf", "wf[0].a", Some("echo"), "wf-1", true), "wf-1");
    }
}
