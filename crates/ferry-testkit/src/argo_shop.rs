//! The product the Argo tests promote (features `argocd`, `argowf`): `shop`, whose component `api`
//! goes from `dev` (1.4.2) to `qa` (1.3.0) in one GitOps repository, with qa's application reporting
//! through Argo CD and/or its post-action running on Argo Workflows, as [`ShopConfig`] says.

use std::path::Path;

use crate::Repo;

/// The Argo CD token the tests' stand-ins require.
pub const ARGOCD_TOKEN: &str = "argocd-token-for-tests";

/// The Argo Server token the tests' stand-ins require.
pub const ARGO_TOKEN: &str = "argo-token-for-tests";

/// qa's application.
pub const QA_APP: &str = "shop-api-qa";

/// qa's application's path in the repository.
pub const QA_PATH: &str = "apps/api/qa";

/// A `values.yaml` with the image tag `tag` (promoted) and lines that are not promoted.
pub fn values(tag: &str, env: &str) -> String {
    format!(
        "# values for {env}\nreplicas: 2   # keep\nimage:\n  repository: 'registry.example.com/shop'\n  tag: \"{tag}\"   # promoted\nenv: {{ NAME: \"{env}\" }}\n"
    )
}

/// A `Chart.yaml` whose `appVersion` is `version`.
pub fn chart(version: &str) -> String {
    format!("apiVersion: v2\nname: shop\nversion: 0.1.0\nappVersion: \"{version}\"\n")
}

/// The repository's files: dev at 1.4.2, qa at 1.3.0.
pub fn files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for (env, ver) in [("dev", "1.4.2"), ("qa", "1.3.0")] {
        files.push((format!("apps/api/{env}/values.yaml"), values(ver, env)));
        files.push((format!("apps/api/{env}/Chart.yaml"), chart(ver)));
    }
    files
}

/// The GitOps repository `root/gitops.git` with [`files`].
pub fn repo(root: &Path) -> Repo {
    let files = files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    Repo::new(root, "gitops", &refs)
}

/// The configuration of `shop`: dev (exec, no commands) promotes to qa with action `commit`.
#[derive(Debug, Clone, Default)]
pub struct ShopConfig {
    argocd: Option<String>,
    argo: Option<String>,
    soak_time: Option<String>,
}

impl ShopConfig {
    /// Neither Argo CD nor Argo Workflows yet.
    pub fn new() -> ShopConfig {
        ShopConfig::default()
    }

    /// qa's application is deployed by Argo CD; `body` is the content of its `status.argocd`
    /// mapping (`server: …, tokenSecret: …`; empty for the server's defaults).
    pub fn argocd(mut self, body: impl Into<String>) -> ShopConfig {
        self.argocd = Some(body.into());
        self
    }

    /// qa's post-action is the Workflow `e2e` (parameter `SUITE`, default `smoke`) running on Argo
    /// Workflows; `body` is the content of its `spec.argo` mapping (`template: e2e, namespace: ci, …`).
    pub fn argo_post_action(mut self, body: impl Into<String>) -> ShopConfig {
        self.argo = Some(body.into());
        self
    }

    /// qa's policy soaks for `time` (`policy.soakTime`, e.g. `1h`) after its post-action.
    pub fn soak_time(mut self, time: impl Into<String>) -> ShopConfig {
        self.soak_time = Some(time.into());
        self
    }

    /// The configuration's YAML for the repository at `url`.
    pub fn yaml(&self, url: &str) -> String {
        let status = match &self.argocd {
            Some(body) => format!("  status:\n    argocd: {{ {body} }}\n"),
            None => String::new(),
        };
        let (workflow, post_action) = match &self.argo {
            Some(body) => (
                format!(
                    "---\napiVersion: ferry/v1\nkind: Workflow\nmetadata: {{ name: e2e }}\nspec:\n  params: [ {{ name: SUITE, default: smoke }} ]\n  argo: {{ {body} }}\n"
                ),
                ", postAction: e2e",
            ),
            None => (String::new(), ""),
        };
        let soak = self.soak_time.as_ref().map(|t| format!(", soakTime: {t}")).unwrap_or_default();
        format!(
            r#"apiVersion: ferry/v1
kind: Environment
metadata: {{ name: dev }}
spec: {{ type: non-production, order: 0 }}
---
apiVersion: ferry/v1
kind: Environment
metadata: {{ name: qa }}
spec: {{ type: non-production, order: 1 }}
---
apiVersion: ferry/v1
kind: Application
metadata: {{ name: shop-api-dev }}
spec:
  product: shop
  environment: dev
  component: api
  source: {{ repoURL: "{url}", path: apps/api/dev, targetRevision: main }}
---
apiVersion: ferry/v1
kind: Application
metadata: {{ name: {QA_APP} }}
spec:
  product: shop
  environment: qa
  component: api
  source: {{ repoURL: "{url}", path: {QA_PATH}, targetRevision: main }}
{status}{workflow}---
apiVersion: ferry/v1
kind: Product
metadata: {{ name: shop }}
spec:
  promotionTemplate:
    versionSource: {{ file: Chart.yaml, jsonPath: $.appVersion }}
    promotion:
      values.yaml: {{ jsonPaths: ["$.image.tag"] }}
      Chart.yaml: {{ jsonPaths: [$.appVersion] }}
  promotionFlows: [ {{ name: standard }} ]
---
apiVersion: ferry/v1
kind: PromotionFlow
metadata: {{ name: standard }}
spec:
  triggerEnvironment: dev
  steps:
    - {{ environment: qa, dependsOn: [dev], policy: {{ action: commit{post_action}{soak} }} }}
"#
        )
    }
}

/// The Argo CD stand-in watching `repo` for qa's application (auto-sync as `auto_sync` says),
/// requiring [`ARGOCD_TOKEN`], finishing sync operations `delay` after they start.
#[cfg(feature = "argocd")]
pub async fn argocd(repo: &Repo, auto_sync: bool, delay: std::time::Duration) -> crate::argocd::ArgoCdStandIn {
    let apps = vec![crate::argocd::StandInApp { name: QA_APP.into(), path: QA_PATH.into(), auto_sync }];
    crate::argocd::start(repo.bare.clone(), "main", apps, Some(ARGOCD_TOKEN), delay).await
}

/// The Argo Server stand-in knowing the WorkflowTemplate `ci/e2e` with `steps` (and `outputs` once it
/// succeeded), requiring [`ARGO_TOKEN`], advancing workflows every `tick`.
#[cfg(feature = "argowf")]
pub async fn argo_server(
    steps: Vec<crate::argowf::TemplateStep>,
    outputs: Vec<(String, String)>,
    tick: std::time::Duration,
) -> crate::argowf::ArgoServerStandIn {
    let template = crate::argowf::Template { name: "e2e".into(), namespace: "ci".into(), steps, outputs };
    crate::argowf::ArgoServerStandIn::start(vec![template], Some(ARGO_TOKEN), tick).await
}
