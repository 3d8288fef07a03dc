//! Promotion-template resolution: the product's inline template, else its referenced template, else the
//! strongest template whose `applicationSourceSelector` matches the source application (lower priority
//! number wins, ties by name), else the default (promote every file, version unknown).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::TemplateName;
use crate::resources::{Application, Product, PromotionTemplate, TemplateSpec};

/// Where the effective template came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "camelCase")]
pub enum TemplateOrigin {
    /// The product's inline `promotionTemplate`.
    Inline,
    /// The product's `promotionTemplateRef`.
    Ref(TemplateName),
    /// A template whose selector matched the application.
    Selector(TemplateName),
    /// No template: every file is promoted and the version is unknown.
    Default,
}

impl fmt::Display for TemplateOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateOrigin::Inline => f.write_str("inline in the product"),
            TemplateOrigin::Ref(n) => write!(f, "template {n} (referenced by the product)"),
            TemplateOrigin::Selector(n) => write!(f, "template {n} (selector matched)"),
            TemplateOrigin::Default => f.write_str("default (every file, no version source)"),
        }
    }
}

/// Why no template could be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("product {product:?} references promotion template {template:?}, which does not exist")]
pub struct TemplateError {
    /// The product.
    pub product: String,
    /// The missing template.
    pub template: String,
}

/// The effective template for promoting `source_app` of `product`.
pub fn resolve_template<'a>(
    product: &'a Product,
    source_app: &Application,
    templates: impl IntoIterator<Item = &'a PromotionTemplate>,
) -> Result<(TemplateSpec, TemplateOrigin), TemplateError> {
    if let Some(inline) = &product.promotion_template {
        return Ok((inline.clone(), TemplateOrigin::Inline));
    }
    let templates: Vec<&PromotionTemplate> = templates.into_iter().collect();
    if let Some(name) = &product.promotion_template_ref {
        return templates
            .iter()
            .find(|t| t.name == *name)
            .map(|t| (t.spec.clone(), TemplateOrigin::Ref(name.clone())))
            .ok_or_else(|| TemplateError { product: product.name.to_string(), template: name.to_string() });
    }
    let labels = source_app.selector_labels();
    let best = templates
        .iter()
        .filter(|t| t.application_source_selector.as_ref().is_some_and(|s| s.matches(&labels)))
        .min_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    Ok(match best {
        Some(t) => (t.spec.clone(), TemplateOrigin::Selector(t.name.clone())),
        None => (TemplateSpec::default(), TemplateOrigin::Default),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonpath::JsonPath;
    use crate::names::*;
    use crate::resources::*;

    fn spec(path: &str) -> TemplateSpec {
        TemplateSpec {
            version_source: None,
            promotion: [("values.yaml".to_string(), vec![JsonPath::parse(path).unwrap()])].into(),
        }
    }

    fn template(name: &str, priority: i64, labels: Option<&[(&str, &str)]>, path: &str) -> PromotionTemplate {
        PromotionTemplate {
            name: TemplateName::new(name).unwrap(),
            application_source_selector: labels.map(|l| LabelSelector {
                match_labels: l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            }),
            priority,
            spec: spec(path),
        }
    }

    fn app(labels: &[(&str, &str)]) -> Application {
        Application {
            name: AppName::new("shop-api-dev").unwrap(),
            product: ProductName::new("shop").unwrap(),
            environment: EnvName::new("dev").unwrap(),
            component: ComponentName::new("api").unwrap(),
            source: AppSource {
                repo_url: "file:///x.git".into(),
                path: "apps/api/dev".into(),
                target_revision: "main".into(),
            },
            status: StatusSource::Exec(ExecStatus::default()),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            namespace: None,
        }
    }

    fn product(inline: Option<&str>, reference: Option<&str>) -> Product {
        Product {
            name: ProductName::new("shop").unwrap(),
            labels: Labels::new(),
            promotion_template: inline.map(spec),
            promotion_template_ref: reference.map(|r| TemplateName::new(r).unwrap()),
            promotion_flows: vec![],
            concurrency: Concurrency::Queue,
            release_notes: ReleaseNotesConfig::default(),
        }
    }

    fn first_path(spec: &TemplateSpec) -> String {
        spec.promotion.values().next().map(|p| p[0].to_string()).unwrap_or_default()
    }

    #[test]
    fn precedence() {
        let templates = vec![
            template("by-ref", 99, None, "$.ref"),
            template("helm-b", 10, Some(&[("ferry/product", "shop")]), "$.b"),
            template("helm-a", 10, Some(&[("ferry/product", "shop")]), "$.a"),
            template("strong", 1, Some(&[("tier", "backend")]), "$.strong"),
            template("other", 0, Some(&[("ferry/product", "cart")]), "$.other"),
        ];
        let cases: Vec<(&str, Product, Application, TemplateOrigin, &str)> = vec![
            (
                "inline wins over ref",
                product(Some("$.inline"), Some("by-ref")),
                app(&[]),
                TemplateOrigin::Inline,
                "$.inline",
            ),
            (
                "ref wins over selectors",
                product(None, Some("by-ref")),
                app(&[("tier", "backend")]),
                TemplateOrigin::Ref(TemplateName::new("by-ref").unwrap()),
                "$.ref",
            ),
            (
                "lower priority number wins among selector matches",
                product(None, None),
                app(&[("tier", "backend")]),
                TemplateOrigin::Selector(TemplateName::new("strong").unwrap()),
                "$.strong",
            ),
            (
                "ties broken by name; implicit ferry/product label matches",
                product(None, None),
                app(&[]),
                TemplateOrigin::Selector(TemplateName::new("helm-a").unwrap()),
                "$.a",
            ),
        ];
        for (what, product, app, origin, path) in cases {
            let (spec, got) = resolve_template(&product, &app, &templates).unwrap();
            assert_eq!(got, origin, "{what}");
            assert_eq!(first_path(&spec), path, "{what}");
        }
    }

    #[test]
    fn no_template_means_every_file() {
        let (spec, origin) = resolve_template(&product(None, None), &app(&[]), &[]).unwrap();
        assert_eq!(origin, TemplateOrigin::Default);
        assert!(spec.promotes_all_files());
    }

    #[test]
    fn missing_ref_is_an_error() {
        let err = resolve_template(&product(None, Some("nope")), &app(&[]), &[]).unwrap_err();
        assert_eq!(err.to_string(), "product \"shop\" references promotion template \"nope\", which does not exist");
    }
}
