//! Local git repositories for the tests, built with a pinned identity and pinned dates: a GitOps
//! repository (bare, plus a work tree to commit from) and the example product `examples/shop` with its
//! applications pointed at such a repository, so that no test reaches for a host outside the machine.

use std::path::{Path, PathBuf};

use ferry_testkit::{Dates, Git, Repo};
use serde_json::{Value, json};

/// Ada Dev <ada@example.com>, the `n`-th commit `n` hours after 2026-01-01.
fn ada() -> Git {
    Git::new("Ada Dev", "ada@example.com", Dates::Counting { base: 1_767_225_600, step: 3600 })
}

/// Runs git with a pinned identity and, for commits, the `n`-th pinned date.
pub(crate) fn git(dir: &Path, args: &[&str], n: Option<u32>) -> String {
    ada().run_raw_at(dir, args, n).trim().to_owned()
}

/// A Helm-style `values.yaml` for a component.
pub(crate) fn values(component: &str, tag: &str, replicas: u32) -> String {
    format!("replicas: {replicas}\nimage:\n  repository: registry.example/shop/{component}\n  tag: \"{tag}\"\n")
}

/// A GitOps repository (bare) and its work tree.
pub(crate) struct Gitops {
    pub(crate) work: PathBuf,
    repo: Repo,
}

impl Gitops {
    /// The layout of the release-notes tests: `envs/{dev,prod}/{api,web}/values.yaml`.
    pub(crate) fn new(root: &Path) -> Gitops {
        let g = Gitops::init(root, "gitops");
        g.write(&[
            ("envs/dev/api/values.yaml", values("api", "0.9.0", 2)),
            ("envs/dev/web/values.yaml", values("web", "1.9.0", 2)),
            ("envs/prod/api/values.yaml", values("api", "0.9.0", 2)),
            ("envs/prod/web/values.yaml", values("web", "1.9.0", 2)),
        ]);
        g.commit("Initial layout");
        g
    }

    /// An empty bare repository `root/name.git` with branch `main`, and a work tree beside it.
    pub(crate) fn init(root: &Path, name: &str) -> Gitops {
        let repo = Repo::init(root, name, ada(), 101);
        Gitops { work: repo.work.clone(), repo }
    }

    pub(crate) fn url(&self) -> String {
        self.repo.url()
    }

    pub(crate) fn write(&self, files: &[(&str, String)]) {
        self.repo.write(files);
    }

    /// The number of the next commit, for its pinned date.
    pub(crate) fn next(&self) -> u32 {
        self.repo.next_commit()
    }

    /// Commits everything and pushes (after taking in what Ferry pushed meanwhile).
    pub(crate) fn commit(&self, message: &str) {
        self.repo.commit::<&str>(&[], message);
        self.push();
    }

    pub(crate) fn push(&self) {
        self.repo.push();
    }
}

/// Where the example's applications keep their GitOps files.
const SHOP_REPO_URL: &str = "https://git.example.com/shop/gitops.git";
pub(crate) const SHOP_COMPONENTS: [&str; 3] = ["api", "web", "worker"];
pub(crate) const SHOP_ENVIRONMENTS: [&str; 5] = ["dev", "qa", "staging", "prod-eu", "prod-us"];

/// The GitOps repository of the example product, in `root/shop-gitops.git`: every application's
/// directory with its `values.yaml` and `Chart.yaml`, dev one version ahead of the others.
pub(crate) fn shop_repo(root: &Path) -> Gitops {
    let g = Gitops::init(root, "shop-gitops");
    let mut files = Vec::new();
    for component in SHOP_COMPONENTS {
        for env in SHOP_ENVIRONMENTS {
            let version = if env == "dev" { "1.5.0" } else { "1.4.2" };
            files.push((format!("apps/{component}/{env}/values.yaml"), values(component, version, 2)));
            files.push((
                format!("apps/{component}/{env}/Chart.yaml"),
                format!("apiVersion: v2\nname: {component}\nversion: 0.1.0\nappVersion: \"{version}\"\n"),
            ));
        }
    }
    let refs: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    g.write(&refs);
    g.commit("Initial layout");
    g
}

/// The files of `examples/shop` as the CLI would send them, with the applications' `repoURL`
/// replaced by `url`.
pub(crate) fn shop_sources(url: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    let sources = ferry_config::read_paths(&[dir]).unwrap();
    assert!(sources.iter().any(|s| s.text.contains(SHOP_REPO_URL)), "examples/shop moved its repository");
    let sources: Vec<Value> =
        sources.iter().map(|s| json!({"name": s.name, "text": s.text.replace(SHOP_REPO_URL, url)})).collect();
    assert!(!sources.iter().any(|s| s["text"].as_str().unwrap().contains("git.example.com")));
    json!({ "sources": sources })
}

/// The environments `dev` (non-production) and `prod` (production) and the applications `shop-api-*`
/// and `shop-web-*` in them, from `url` at `envs/ENV/COMPONENT`; `status` gives each environment's
/// application status source (`None`: the default).
/// Product `shop` promoting `values.yaml` at `json_paths` (a YAML list's items, e.g.
/// `"$.image.tag"`), with `product_extra` appended to its spec (indented lines), and flow `standard`
/// taking it from dev to prod with `prod_step` added to the prod step (e.g. `policy: { action: commit }`).
pub(crate) fn shop_flow(json_paths: &str, product_extra: &str, prod_step: &str) -> String {
    let step = if prod_step.is_empty() { String::new() } else { format!(", {prod_step}") };
    format!(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: {{ name: shop }}\nspec:\n  promotionTemplate:\n    \
         versionSource: {{ file: values.yaml, jsonPath: $.image.tag }}\n    promotion:\n      \
         values.yaml: {{ jsonPaths: [{json_paths}] }}\n  promotionFlows: [ {{ name: standard }} ]\n{product_extra}---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: {{ name: standard }}\nspec:\n  triggerEnvironment: dev\n  \
         steps:\n    - {{ environment: prod, dependsOn: [dev]{step} }}\n"
    )
}

pub(crate) fn dev_and_prod(url: &str, status: impl Fn(&str) -> Option<&'static str>) -> String {
    let mut yaml = String::new();
    for (i, env) in ["dev", "prod"].iter().enumerate() {
        let ty = if *env == "prod" { "production" } else { "non-production" };
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty}, order: {i} }}\n---\n"
        ));
        let status = status(env).map(|s| format!("  status: {{ {s} }}\n")).unwrap_or_default();
        for comp in ["api", "web"] {
            yaml.push_str(&format!(
                "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-{comp}-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: {comp}\n  source: {{ repoURL: \"{url}\", path: envs/{env}/{comp}, targetRevision: main }}\n{status}---\n"
            ));
        }
    }
    yaml
}
