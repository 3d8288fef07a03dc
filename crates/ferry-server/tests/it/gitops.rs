//! Local git repositories for the tests, built with a pinned identity and pinned dates: a GitOps
//! repository (bare, plus a work tree to commit from) and the example product `examples/shop` with its
//! applications pointed at such a repository, so that no test reaches for a host outside the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// Runs git with a pinned identity and, for commits, the `n`-th pinned date.
pub(crate) fn git(dir: &Path, args: &[&str], n: Option<u32>) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Dev")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Dev")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com");
    if let Some(n) = n {
        let date = format!("@{} +0000", 1_767_225_600 + u64::from(n) * 3600);
        cmd.env("GIT_AUTHOR_DATE", &date).env("GIT_COMMITTER_DATE", &date);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A Helm-style `values.yaml` for a component.
pub(crate) fn values(component: &str, tag: &str, replicas: u32) -> String {
    format!("replicas: {replicas}\nimage:\n  repository: registry.example/shop/{component}\n  tag: \"{tag}\"\n")
}

/// A GitOps repository (bare) and its work tree.
pub(crate) struct Gitops {
    pub(crate) bare: PathBuf,
    pub(crate) work: PathBuf,
    tick: std::cell::Cell<u32>,
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
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}-work"));
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"], None);
        git(root, &["init", "-q", "-b", "main", work.file_name().unwrap().to_str().unwrap()], None);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()], None);
        Gitops { bare, work, tick: std::cell::Cell::new(100) }
    }

    pub(crate) fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    pub(crate) fn write(&self, files: &[(&str, String)]) {
        for (path, text) in files {
            let p = self.work.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    pub(crate) fn next(&self) -> u32 {
        self.tick.set(self.tick.get() + 1);
        self.tick.get()
    }

    /// Commits everything and pushes (after taking in what Ferry pushed meanwhile).
    pub(crate) fn commit(&self, message: &str) {
        git(&self.work, &["add", "-A"], None);
        git(&self.work, &["commit", "-q", "-m", message], Some(self.next()));
        self.push();
    }

    pub(crate) fn push(&self) {
        if !git(&self.bare, &["branch", "--list", "main"], None).is_empty() {
            git(&self.work, &["pull", "-q", "--rebase", "origin", "main"], None);
        }
        git(&self.work, &["push", "-q", "origin", "HEAD:main"], None);
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
