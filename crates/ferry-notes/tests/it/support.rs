//! Fixtures: the scripted repositories, a product catalog over them, release snapshots and a fake
//! store lookup.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use ferry_git::GitCache;
use ferry_model::ReleaseId;
use ferry_model::release::{ReleaseSnapshot, ReleaseState};
use ferry_model::resources::Catalog;
use ferry_notes::{ImageQuery, ImageReport, Lookup};
use serde_json::json;
use tempfile::TempDir;

/// Release 1 (promoted dev → prod before the tests start).
pub const RELEASE_1: &str = "01900000-0000-7000-8000-000000000001";
/// Release 2 (the one whose notes are computed).
pub const RELEASE_2: &str = "01900000-0000-7000-8000-000000000002";

/// The two scripted repositories in a temporary directory, and a mirror cache.
pub struct Fixture {
    pub dir: TempDir,
    pub git: GitCache,
}

fn run_script(name: &str, args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let out = Command::new("sh").arg(&script).args(args).output().expect("sh runs");
    assert!(out.status.success(), "{name} failed: {}", String::from_utf8_lossy(&out.stderr));
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = TempDir::new().expect("tempdir");
        let root = dir.path().to_str().expect("utf-8 path");
        run_script("source-repo.sh", &[root]);
        run_script("gitops-repo.sh", &[root, RELEASE_1]);
        let git = GitCache::new(dir.path().join("mirrors"));
        Fixture { dir, git }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, repo: &str) -> String {
        format!("file://{}/{repo}.git", self.root().display())
    }

    /// The commit a tag of a scripted repository points to.
    pub fn rev(&self, repo: &str, tag: &str) -> String {
        let out = Command::new("git")
            .args(["rev-parse", &format!("{tag}^{{commit}}")])
            .current_dir(self.root().join(format!("{repo}.git")))
            .output()
            .expect("git runs");
        assert!(out.status.success(), "rev-parse {tag}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Replaces the temporary directory in `text` with `<tmp>` (for snapshots).
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.root().display().to_string(), "<tmp>")
    }

    /// The product configuration: dev → prod, components api and web, image tags promoted, Jira keys
    /// limited to SHOP and OPS.
    pub fn catalog(&self) -> Catalog {
        let url = self.url("gitops");
        let mut yaml = String::new();
        for (i, env) in ["dev", "prod"].iter().enumerate() {
            let ty = if *env == "prod" { "production" } else { "non-production" };
            yaml.push_str(&format!(
                "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty}, order: {i} }}\n---\n"
            ));
            for comp in ["api", "web"] {
                yaml.push_str(&format!(
                    "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-{comp}-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: {comp}\n  source: {{ repoURL: \"{url}\", path: envs/{env}/{comp}, targetRevision: main }}\n  status: {{ push: {{}} }}\n---\n"
                ));
            }
        }
        yaml.push_str(
            r#"apiVersion: ferry/v1
kind: Product
metadata: { name: shop }
spec:
  promotionTemplate:
    versionSource: { file: values.yaml, jsonPath: $.image.tag }
    promotion:
      values.yaml: { jsonPaths: ["$.image.tag", "$.replicas"] }
  promotionFlows: [ { name: standard } ]
  releaseNotes:
    jiraProjects: [SHOP, OPS]
    issueUrl: { JIRA: "https://jira.example/browse/{id}" }
---
apiVersion: ferry/v1
kind: PromotionFlow
metadata: { name: standard }
spec:
  triggerEnvironment: dev
  steps:
    - { environment: prod, dependsOn: [dev], policy: { action: commit } }
"#,
        );
        ferry_config::load_sources(&[ferry_config::Source { name: "shop.yaml".into(), text: yaml }])
            .unwrap_or_else(|d| panic!("{}", d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))
            .catalog
    }

    /// A snapshot of dev → prod with the given source revisions (api, web).
    pub fn snapshot(&self, version: &str, api: &str, web: &str) -> ReleaseSnapshot {
        let url = self.url("gitops");
        let app = |name: &str, comp: &str, env: &str, source: Option<&str>, rev: &str| {
            json!({
                "name": name, "component": comp, "repoUrl": url, "path": format!("envs/{env}/{comp}"),
                "branch": "main", "sourceApp": source, "sourceRevision": rev,
            })
        };
        serde_json::from_value(json!({
            "product": "shop",
            "flow": "standard",
            "flowVersion": null,
            "initiator": "alice",
            "version": version,
            "trigger": {
                "environment": "dev", "sha": api, "message": "m", "authorName": "Ada Dev",
                "authorEmail": "ada@example.com", "date": "2026-01-01T00:00:00Z", "repo": url,
                "branch": "main", "webUrl": null,
            },
            "triggerWorkflow": null,
            "environments": [
                {
                    "name": "dev", "type": "non-production", "dependsOn": [], "isTrigger": true, "policy": null,
                    "hooks": {},
                    "applications": [
                        app("shop-api-dev", "api", "dev", None, api),
                        app("shop-web-dev", "web", "dev", None, web),
                    ],
                },
                {
                    "name": "prod", "type": "production", "dependsOn": ["dev"], "isTrigger": false,
                    "policy": {"action": "commit", "preAction": null, "postAction": null, "sources": {}},
                    "hooks": {},
                    "applications": [
                        app("shop-api-prod", "api", "prod", Some("shop-api-dev"), api),
                        app("shop-web-prod", "web", "prod", Some("shop-web-dev"), web),
                    ],
                },
            ],
            "releaseHooks": {},
            "timeout": "1h",
        }))
        .expect("snapshot JSON")
    }

    /// Release 2 as created (nothing promoted yet: prod's tip is release 1's promotion).
    pub fn release_2(&self) -> ReleaseState {
        let snapshot = self.snapshot("1.1.0", &self.rev("gitops", "r2-api"), &self.rev("gitops", "r2-web"));
        let id = ReleaseId::from_str(RELEASE_2).expect("id");
        ReleaseState::new(id, snapshot, jiff::Timestamp::from_second(1_767_300_000).expect("ts")).expect("state")
    }

    /// The store as the tests see it: release 1 and the two reported api images.
    pub fn lookup(&self) -> FakeLookup {
        let mut lookup = FakeLookup::default();
        let r1 = self.snapshot("1.0.0", &self.rev("gitops", "r1-api"), &self.rev("gitops", "r1-web"));
        lookup.snapshots.insert(RELEASE_1.into(), r1);
        lookup.images.push(self.report("1.0.0", &self.rev("source", "image-1.0.0"), None, &[]));
        lookup.images.push(self.report(
            "1.1.0",
            &self.rev("source", "image-1.1.0"),
            Some("SHOP-105, and the cart work of SHOP-102"),
            &[("ferry/pull-request", "#13")],
        ));
        lookup
    }

    pub fn report(&self, tag: &str, revision: &str, issues: Option<&str>, extra: &[(&str, &str)]) -> ImageReport {
        let mut annotations: std::collections::BTreeMap<String, String> = [
            ("org.opencontainers.image.revision".to_owned(), revision.to_owned()),
            ("org.opencontainers.image.source".to_owned(), self.url("source")),
            ("org.opencontainers.image.version".to_owned(), tag.to_owned()),
            ("org.opencontainers.image.created".to_owned(), "2026-01-02T00:00:00Z".to_owned()),
        ]
        .into();
        annotations.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        ImageReport {
            image: format!("registry.example/shop/api:{tag}"),
            repository: "registry.example/shop/api".into(),
            tag: Some(tag.into()),
            digest: None,
            git_repo: self.url("source"),
            git_revision: revision.into(),
            git_branch: Some("main".into()),
            annotations,
            issues: issues.map(Into::into),
            reported_at: jiff::Timestamp::from_second(1_767_312_000).expect("ts"),
        }
    }
}

/// Releases and image reports held in memory.
#[derive(Default)]
pub struct FakeLookup {
    pub snapshots: HashMap<String, ReleaseSnapshot>,
    /// Oldest first.
    pub images: Vec<ImageReport>,
}

impl Lookup for FakeLookup {
    fn release_snapshot(&self, id: &str) -> Result<Option<ReleaseSnapshot>, String> {
        Ok(self.snapshots.get(id).cloned())
    }

    fn images(&self, q: &ImageQuery) -> Result<Vec<ImageReport>, String> {
        Ok(self
            .images
            .iter()
            .rev()
            .filter(|r| {
                q.repository.as_ref().is_none_or(|x| *x == r.repository)
                    && q.tag.as_ref().is_none_or(|x| r.tag.as_ref() == Some(x))
                    && q.digest.as_ref().is_none_or(|x| r.digest.as_ref() == Some(x))
            })
            .cloned()
            .collect())
    }
}
