//! Policy resolution (SPEC §2.6): the flow step's inline policy first, then, field by field, the
//! strongest matching PromotionPolicy (lower priority number wins, ties by name); `action` defaults to `commit`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{EnvName, FlowName, PolicyName, ProductName, WorkflowName};
use crate::resources::{
    Action, ApprovalPolicy, Catalog, Environment, PolicyFields, Product, PromotionPolicy, PullRequestOptions,
};

/// Which source supplied a resolved field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "camelCase")]
pub enum FieldSource {
    /// The flow step's inline `policy`.
    Flow,
    /// A PromotionPolicy.
    Policy(PolicyName),
    /// The built-in default (`action: commit`).
    Default,
}

impl fmt::Display for FieldSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldSource::Flow => f.write_str("flow"),
            FieldSource::Policy(name) => write!(f, "policy {name}"),
            FieldSource::Default => f.write_str("default"),
        }
    }
}

/// A resolved value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved<T> {
    /// The value.
    pub value: T,
    /// Its source.
    pub source: FieldSource,
}

/// The effective policy of one target environment of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedPolicy {
    /// Promotion action (always set).
    pub action: Resolved<Action>,
    /// Pre-Action workflow, if any source sets one.
    pub pre_action: Option<Resolved<WorkflowName>>,
    /// Post-Action workflow, if any source sets one.
    pub post_action: Option<Resolved<WorkflowName>>,
    /// The `pullRequest` block of `action: pr`, if any source sets one (absent in releases stored
    /// before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Resolved<PullRequestOptions>>,
    /// `soakTime` (SPEC §10), if any source sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_time: Option<Resolved<std::time::Duration>>,
    /// `approval` (SPEC §10), if any source sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Resolved<ApprovalPolicy>>,
    /// `autoRollback` (SPEC §10), if any source sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<Resolved<bool>>,
    /// Every matching PromotionPolicy, strongest first.
    pub matched: Vec<PolicyName>,
}

/// Resolves the policy for `product` promoting into `target`, given the step's inline fields.
pub fn resolve_policy<'a>(
    product: &Product,
    target: &Environment,
    inline: &PolicyFields,
    policies: impl IntoIterator<Item = &'a PromotionPolicy>,
) -> ResolvedPolicy {
    let mut matching: Vec<&PromotionPolicy> =
        policies.into_iter().filter(|p| p.selector.matches(product, target)).collect();
    matching.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));

    fn pick<T: Clone>(
        inline: &Option<T>,
        matching: &[&PromotionPolicy],
        field: impl Fn(&PolicyFields) -> &Option<T>,
    ) -> Option<Resolved<T>> {
        if let Some(value) = inline {
            return Some(Resolved { value: value.clone(), source: FieldSource::Flow });
        }
        matching.iter().find_map(|p| {
            field(&p.policy)
                .as_ref()
                .map(|v| Resolved { value: v.clone(), source: FieldSource::Policy(p.name.clone()) })
        })
    }

    ResolvedPolicy {
        action: pick(&inline.action, &matching, |f| &f.action)
            .unwrap_or(Resolved { value: Action::Commit, source: FieldSource::Default }),
        pre_action: pick(&inline.pre_action, &matching, |f| &f.pre_action),
        post_action: pick(&inline.post_action, &matching, |f| &f.post_action),
        pull_request: pick(&inline.pull_request, &matching, |f| &f.pull_request),
        soak_time: pick(&inline.soak_time, &matching, |f| &f.soak_time),
        approval: pick(&inline.approval, &matching, |f| &f.approval),
        auto_rollback: pick(&inline.auto_rollback, &matching, |f| &f.auto_rollback),
        matched: matching.iter().map(|p| p.name.clone()).collect(),
    }
}

/// Why a policy could not be resolved from a catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No such product.
    #[error("unknown product {0:?}")]
    UnknownProduct(String),
    /// No such flow.
    #[error("unknown flow {0:?}")]
    UnknownFlow(String),
    /// No such environment.
    #[error("unknown environment {0:?}")]
    UnknownEnvironment(String),
    /// The environment is not a target of the flow.
    #[error("environment {env:?} is not a step of flow {flow:?} (its steps: {steps})")]
    NotAStep {
        /// Environment.
        env: String,
        /// Flow.
        flow: String,
        /// The flow's step environments, comma-separated.
        steps: String,
    },
}

impl Catalog {
    /// Resolves the policy of `env` for `product` in `flow` (or with no inline policy when `flow` is `None`,
    /// as for a manual single-environment promotion).
    pub fn resolve_policy(
        &self,
        product: &ProductName,
        flow: Option<&FlowName>,
        env: &EnvName,
    ) -> Result<ResolvedPolicy, ResolveError> {
        let product = self.products.get(product).ok_or_else(|| ResolveError::UnknownProduct(product.to_string()))?;
        let target = self.environments.get(env).ok_or_else(|| ResolveError::UnknownEnvironment(env.to_string()))?;
        let inline = match flow {
            None => PolicyFields::default(),
            Some(flow_name) => {
                let flow = self.flows.get(flow_name).ok_or_else(|| ResolveError::UnknownFlow(flow_name.to_string()))?;
                let step = flow.step(env).ok_or_else(|| ResolveError::NotAStep {
                    env: env.to_string(),
                    flow: flow_name.to_string(),
                    steps: flow.steps.iter().map(|s| s.environment.as_str()).collect::<Vec<_>>().join(", "),
                })?;
                step.policy.clone()
            }
        };
        Ok(resolve_policy(product, target, &inline, self.policies.values()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::*;

    fn wf(name: &str) -> WorkflowName {
        WorkflowName::new(name).unwrap()
    }

    fn product(name: &str) -> Product {
        Product {
            name: ProductName::new(name).unwrap(),
            labels: [("team".to_string(), "payments".to_string())].into(),
            promotion_template: None,
            promotion_template_ref: None,
            promotion_flows: vec![],
            concurrency: Concurrency::Queue,
            release_notes: ReleaseNotesConfig::default(),
        }
    }

    fn env(name: &str, env_type: EnvironmentType) -> Environment {
        Environment {
            name: EnvName::new(name).unwrap(),
            env_type,
            clusters: vec![],
            order: None,
            labels: Labels::new(),
        }
    }

    fn fields(action: Option<Action>, pre: Option<&str>, post: Option<&str>) -> PolicyFields {
        PolicyFields { action, pre_action: pre.map(wf), post_action: post.map(wf), ..PolicyFields::default() }
    }

    struct P {
        name: &'static str,
        priority: i64,
        products: Option<&'static [&'static str]>,
        envs: Option<&'static [&'static str]>,
        types: Option<&'static [EnvironmentType]>,
        fields: PolicyFields,
    }

    fn policy(p: P) -> PromotionPolicy {
        PromotionPolicy {
            name: PolicyName::new(p.name).unwrap(),
            priority: p.priority,
            selector: PolicySelector {
                product: ProductSelector {
                    names: p.products.map(|n| n.iter().map(|s| ProductName::new(*s).unwrap()).collect()),
                    match_labels: None,
                },
                target_environment: EnvironmentSelector {
                    names: p.envs.map(|n| n.iter().map(|s| EnvName::new(*s).unwrap()).collect()),
                    types: p.types.map(|t| t.to_vec()),
                },
            },
            policy: p.fields,
        }
    }

    /// (value, source) per field, as text: `commit@default`, `smoke@policy x`, `-`.
    fn explain(r: &ResolvedPolicy) -> [String; 3] {
        let show = |v: Option<(String, &FieldSource)>| v.map_or("-".to_string(), |(v, s)| format!("{v}@{s}"));
        [
            show(Some((r.action.value.as_str().to_string(), &r.action.source))),
            show(r.pre_action.as_ref().map(|p| (p.value.to_string(), &p.source))),
            show(r.post_action.as_ref().map(|p| (p.value.to_string(), &p.source))),
        ]
    }

    #[test]
    fn precedence_cases() {
        use EnvironmentType::*;
        let prod = env("prod", Production);
        let staging = env("staging", NonProduction);
        let shop = product("shop");
        let all = || {
            vec![
                policy(P {
                    name: "prod-needs-pr",
                    priority: 10,
                    products: Some(&["shop"]),
                    envs: Some(&["prod"]),
                    types: Some(&[Production]),
                    fields: fields(Some(Action::Pr), Some("change-freeze"), None),
                }),
                policy(P {
                    name: "global",
                    priority: 100,
                    products: None,
                    envs: None,
                    types: None,
                    fields: fields(Some(Action::Commit), Some("lint"), Some("smoke")),
                }),
                policy(P {
                    name: "b-tie",
                    priority: 50,
                    products: None,
                    envs: None,
                    types: Some(&[Production]),
                    fields: fields(None, None, Some("e2e-b")),
                }),
                policy(P {
                    name: "a-tie",
                    priority: 50,
                    products: None,
                    envs: None,
                    types: Some(&[Production]),
                    fields: fields(None, None, Some("e2e-a")),
                }),
                policy(P {
                    name: "other-product",
                    priority: 1,
                    products: Some(&["cart"]),
                    envs: None,
                    types: None,
                    fields: fields(Some(Action::None), None, None),
                }),
                policy(P {
                    name: "names-and-types",
                    priority: 0,
                    products: None,
                    envs: Some(&["staging"]),
                    types: Some(&[Production]),
                    fields: fields(Some(Action::None), None, None),
                }),
            ]
        };
        type Case<'a> = (&'a str, &'a Environment, PolicyFields, [&'a str; 3], Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "strongest policy per field; ties broken by name",
                &prod,
                PolicyFields::default(),
                ["pr@policy prod-needs-pr", "change-freeze@policy prod-needs-pr", "e2e-a@policy a-tie"],
                vec!["prod-needs-pr", "a-tie", "b-tie", "global"],
            ),
            (
                "inline field overrides; the others fall through",
                &prod,
                fields(None, None, Some("canary")),
                ["pr@policy prod-needs-pr", "change-freeze@policy prod-needs-pr", "canary@flow"],
                vec!["prod-needs-pr", "a-tie", "b-tie", "global"],
            ),
            (
                "names AND types must both match",
                &staging,
                PolicyFields::default(),
                ["commit@policy global", "lint@policy global", "smoke@policy global"],
                vec!["global"],
            ),
            (
                "inline everything",
                &staging,
                fields(Some(Action::None), Some("x"), Some("y")),
                ["none@flow", "x@flow", "y@flow"],
                vec!["global"],
            ),
        ];
        let policies = all();
        for (what, target, inline, expect, matched) in cases {
            let r = resolve_policy(&shop, target, &inline, &policies);
            assert_eq!(explain(&r), expect.map(String::from), "{what}");
            assert_eq!(r.matched.iter().map(|m| m.as_str()).collect::<Vec<_>>(), matched, "{what}");
        }
    }

    #[test]
    fn action_defaults_to_commit_when_nothing_matches() {
        let r =
            resolve_policy(&product("shop"), &env("qa", EnvironmentType::NonProduction), &PolicyFields::default(), &[]);
        assert_eq!(explain(&r), ["commit@default", "-", "-"].map(String::from));
        assert!(r.matched.is_empty());
    }

    #[test]
    fn product_label_selector() {
        let mut p = policy(P {
            name: "payments",
            priority: 1,
            products: None,
            envs: None,
            types: None,
            fields: fields(Some(Action::Pr), None, None),
        });
        p.selector.product.match_labels = Some([("team".to_string(), "payments".to_string())].into());
        let qa = env("qa", EnvironmentType::NonProduction);
        assert_eq!(resolve_policy(&product("shop"), &qa, &PolicyFields::default(), [&p]).action.value, Action::Pr);
        let mut other = product("cart");
        other.labels.clear();
        assert_eq!(resolve_policy(&other, &qa, &PolicyFields::default(), [&p]).action.value, Action::Commit);
    }
}
