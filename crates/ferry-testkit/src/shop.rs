//! The `shop` product as tests configure it ([`ShopYaml`]): environments, one application per
//! component and environment in one GitOps repository (`apps/<component>/<env>/values.yaml`), the
//! product with its inline promotion template (`values.yaml`, `$.image.tag`) and its flow `standard`,
//! plus whatever documents a test adds (policies, workflows, git providers).

/// Builds the YAML of the `shop` product.
#[derive(Debug, Clone)]
pub struct ShopYaml {
    url: String,
    environments: Vec<(String, bool)>,
    components: Vec<String>,
    status: Option<String>,
    flow_version: Option<String>,
    steps: Vec<String>,
    documents: Vec<String>,
}

impl ShopYaml {
    /// The product over the GitOps repository at `url`, with the component `api` and nothing else yet.
    pub fn new(url: &str) -> ShopYaml {
        ShopYaml {
            url: url.to_owned(),
            environments: Vec::new(),
            components: vec!["api".to_owned()],
            status: None,
            flow_version: None,
            steps: Vec::new(),
            documents: Vec::new(),
        }
    }

    /// Adds environment `name` (the first added is the flow's trigger environment).
    pub fn environment(mut self, name: &str, production: bool) -> ShopYaml {
        self.environments.push((name.to_owned(), production));
        self
    }

    /// The components (one application each per environment).
    pub fn components(mut self, components: &[&str]) -> ShopYaml {
        self.components = components.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Every application's `status:` block, e.g. `exec: { health: "true", healthTimeout: 1s }`.
    pub fn status(mut self, status: &str) -> ShopYaml {
        self.status = Some(status.to_owned());
        self
    }

    /// The flow's `version` annotation.
    pub fn flow_version(mut self, version: &str) -> ShopYaml {
        self.flow_version = Some(version.to_owned());
        self
    }

    /// A step of the flow: `env` after `depends_on`, with an inline `policy` when given.
    pub fn step(mut self, env: &str, depends_on: &[&str], policy: Option<&str>) -> ShopYaml {
        let policy = policy.map(|p| format!(", policy: {p}")).unwrap_or_default();
        self.steps.push(format!("    - {{ environment: {env}, dependsOn: [{}]{policy} }}\n", depends_on.join(", ")));
        self
    }

    /// One more YAML document (a policy, a workflow, a git provider…).
    pub fn document(mut self, yaml: &str) -> ShopYaml {
        self.documents.push(yaml.trim_end().to_owned());
        self
    }

    /// The configuration.
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        for (env, production) in &self.environments {
            let ty = if *production { "production" } else { "non-production" };
            out.push_str(&format!(
                "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty} }}\n---\n"
            ));
            for comp in &self.components {
                let status = self.status.as_ref().map(|s| format!("  status:\n    {s}\n")).unwrap_or_default();
                out.push_str(&format!(
                    "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-{comp}-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: {comp}\n  source: {{ repoURL: \"{}\", path: apps/{comp}/{env}, targetRevision: main }}\n{status}---\n",
                    self.url
                ));
            }
        }
        let trigger = self.environments.first().map_or("dev", |(e, _)| e.as_str());
        let annotations =
            self.flow_version.as_ref().map(|v| format!(", annotations: {{ version: \"{v}\" }}")).unwrap_or_default();
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Product\nmetadata: {{ name: shop }}\nspec:\n  promotionTemplate:\n    versionSource: {{ file: values.yaml, jsonPath: $.image.tag }}\n    promotion:\n      values.yaml: {{ jsonPaths: [\"$.image.tag\"] }}\n  promotionFlows: [ {{ name: standard }} ]\n---\n\
             apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: {{ name: standard{annotations} }}\nspec:\n  triggerEnvironment: {trigger}\n  steps:\n{}",
            self.steps.concat()
        ));
        for doc in &self.documents {
            out.push_str("---\n");
            out.push_str(doc);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_has_its_environments_applications_flow_and_extra_documents() {
        let yaml = ShopYaml::new("file:///tmp/gitops.git")
            .environment("dev", false)
            .environment("prod", true)
            .components(&["api", "web"])
            .status("exec: { health: \"true\" }")
            .flow_version("2.1")
            .step("prod", &["dev"], Some("{ action: pr }"))
            .document("apiVersion: ferry/v1\nkind: Workflow\nmetadata: { name: smoke }\n")
            .yaml();
        let docs: Vec<&str> = yaml.split("---\n").collect();
        assert_eq!(docs.len(), 9, "2 environments, 4 applications, product, flow, workflow:\n{yaml}");
        assert!(docs[5].contains("name: shop-web-prod") && docs[5].contains("path: apps/web/prod"), "{}", docs[5]);
        assert!(docs[5].contains("  status:\n    exec: { health: \"true\" }\n"), "{}", docs[5]);
        assert!(docs[3].contains("spec: { type: production }"));
        assert!(docs[7].contains("version: \"2.1\"") && docs[7].contains("triggerEnvironment: dev"));
        assert!(docs[7].contains("- { environment: prod, dependsOn: [dev], policy: { action: pr } }"));
        assert!(docs[8].starts_with("apiVersion: ferry/v1\nkind: Workflow"));
    }
}
