//! `ferry image report` and `ferry release notes` end to end: the real binary as server and client,
//! over the scripted repositories of the release-notes fixtures (pinned dates).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Server, path};

fn script(name: &str, args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ferry-notes/tests/fixtures").join(name);
    let out = Command::new("sh").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
}

fn rev(repo: &Path, tag: &str) -> String {
    let out = Command::new("git").args(["rev-parse", &format!("{tag}^{{commit}}")]).current_dir(repo).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn config(url: &str) -> String {
    let mut yaml = String::new();
    for env in ["dev", "prod"] {
        let ty = if env == "prod" { "production" } else { "non-production" };
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty} }}\n---\n"
        ));
        for comp in ["api", "web"] {
            yaml.push_str(&format!(
                "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-{comp}-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: {comp}\n  source: {{ repoURL: \"{url}\", path: envs/{env}/{comp}, targetRevision: main }}\n---\n"
            ));
        }
    }
    yaml.push_str(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: { name: shop }\nspec:\n  promotionTemplate:\n    versionSource: { file: values.yaml, jsonPath: $.image.tag }\n    promotion:\n      values.yaml: { jsonPaths: [\"$.image.tag\"] }\n  promotionFlows: [ { name: standard } ]\n  releaseNotes: { jiraProjects: [SHOP, OPS] }\n---\napiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: standard }\nspec:\n  triggerEnvironment: dev\n  steps:\n    - { environment: prod, dependsOn: [dev], policy: { action: commit } }\n",
    );
    yaml
}

#[test]
fn images_are_reported_and_release_notes_printed_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let root = path(dir.path());
    script("source-repo.sh", &[root]);
    // The GitOps history starts with a promotion by a release this server never saw.
    script("gitops-repo.sh", &[root, "01900000-0000-7000-8000-0000000000aa"]);
    let source = dir.path().join("source.git");
    let source_url = format!("file://{}", source.display());
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("shop.yaml"), config(&format!("file://{root}/gitops.git"))).unwrap();
    let server =
        Server::start_in(&dir.path().join("data"), &["--config", path(&config_dir), "--health-poll-interval", "50ms"]);

    let old = rev(&source, "image-1.0.0");
    let r = server.ferry(&[
        "image",
        "report",
        "--image",
        "registry.example/shop/api:1.0.0",
        "--git-repo",
        &source_url,
        "--git-revision",
        &old,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "recorded image registry.example/shop/api:1.0.0 (report 1) built from {source_url} at {}",
            &old[..7]
        )),
        "{}",
        r.stdout
    );
    let new = rev(&source, "image-1.1.0");
    let r = server.ferry(&[
        "image",
        "report",
        "--image",
        "registry.example/shop/api:1.1.0",
        "--git-repo",
        &source_url,
        "--git-revision",
        &new,
        "--git-branch",
        "main",
        "--annotation",
        "ferry/pull-request=#13",
        "--annotation",
        "team=payments",
        "--issues",
        "SHOP-105",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stored = r.json();
    assert_eq!(stored["annotations"]["team"], "payments");
    assert_eq!(stored["annotations"]["org.opencontainers.image.revision"], new);
    assert_eq!(stored["gitBranch"], "main");
    let r = server.ferry(&[
        "image",
        "report",
        "--image",
        "api:1",
        "--git-repo",
        "r",
        "--git-revision",
        &new,
        "--annotation",
        "oops",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("expected KEY=VALUE"), "{}", r.stderr);
    let r = server.ferry(&["image", "report", "--image", "api:1", "--git-repo", "r", "--git-revision", "abc"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("gitRevision"), "{}", r.stderr);

    let r = server.ferry(&["promote", "shop", "--wait", "-o", "json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = r.json()["id"].as_str().unwrap().to_owned();

    let r = server.ferry(&["release", "notes", &id, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let notes = r.json();
    let api = notes["components"].as_array().unwrap().iter().find(|c| c["component"] == "api").unwrap();
    assert_eq!(api["gitops"]["from"][0]["foundBy"], "version");
    assert_eq!(api["sourceRange"], "known");
    assert_eq!(api["source"]["commits"].as_array().unwrap().len(), 8);

    let r = server.ferry(&["release", "notes", &id, "--format", "markdown"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = &r.stdout;
    for part in [
        "## shop 2.1.0",
        "### Pull requests",
        "- #31 Bump api to 1.1.0 (api)",
        "- #13 Shopping cart (api)",
        "- SHOP-104",
        "- Source: 8 commits in",
        "Source range unknown: no image report carries 2.1.0",
        "### Warnings",
        "which Ferry does not know",
    ] {
        assert!(md.contains(part), "{part:?} missing from:\n{md}");
    }
    let r = server.ferry(&["release", "notes", &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("COMPONENT") && r.stdout.contains("PULL REQUEST") && r.stdout.contains("SHOP-103"),
        "{}",
        r.stdout
    );
    let r = server.ferry(&["release", "notes", &id, "--first-parent", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["components"][0]["source"]["commits"].as_array().unwrap().len(), 5);
    let r = server.ferry(&["release", "notes", "01900000-0000-7000-8000-000000000000"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no release with id"), "{}", r.stderr);
}
