//! Rollback end to end (SPEC §10): the real binary as server and client on a real bare repository.
//! After two releases, `ferry release rollback shop --env prod` restores, byte for byte, the files
//! the first release left in prod, with exactly one new commit; nothing else changes. Waiting is done
//! with `--wait` (the server's event stream), never by sleeping.

use super::e2e_releases::{Product, git, values};
use super::{Server, path};

/// prod's files on main, in a fixed order.
fn prod_files(product: &Product) -> Vec<String> {
    ["api", "web"].iter().map(|c| git(&product.bare, &["show", &format!("main:apps/{c}/prod/values.yaml")])).collect()
}

fn commits_on_main(product: &Product) -> usize {
    git(&product.bare, &["rev-list", "--count", "main"]).trim().parse().unwrap()
}

#[test]
fn a_rollback_restores_the_previous_release_in_prod_byte_for_byte_with_one_commit() {
    let product = Product::new("echo gate passed");
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    let first = server.ferry(&["promote", "shop", "--flow", "standard", "--wait", "-o", "json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let first_id = first.json()["id"].as_str().unwrap().to_owned();
    let after_first = prod_files(&product);
    assert!(after_first[0].contains("tag: \"2.0.0\""), "{}", after_first[0]);

    // A new version in dev, released everywhere.
    git(&product.work, &["pull", "-q", "--rebase", "origin", "main"]);
    for comp in ["api", "web"] {
        std::fs::write(product.work.join(format!("apps/{comp}/dev/values.yaml")), values("3.0.0", "dev")).unwrap();
    }
    git(&product.work, &["commit", "-q", "-am", "shop 3.0.0"]);
    git(&product.work, &["push", "-q", "origin", "main"]);
    let second = server.ferry(&["promote", "shop", "--flow", "standard", "--wait", "-o", "json"]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let second_id = second.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(prod_files(&product), after_first);
    let qa_before = git(&product.bare, &["show", "main:apps/api/qa/values.yaml"]);
    let (commits_before, prod_commits_before) = (commits_on_main(&product), product.promotion_commits("prod").len());

    let rollback = server.ferry(&[
        "release",
        "rollback",
        "shop",
        "--env",
        "prod",
        "--reason",
        "checkout errors",
        "--wait",
        "-o",
        "json",
    ]);
    assert_eq!(rollback.code, 0, "{}\n{}", rollback.stdout, rollback.stderr);
    let view = rollback.json();
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["flow"], "rollback");
    assert_eq!(view["version"], "2.0.0");
    assert_eq!(view["rollback"]["target"], first_id.as_str());
    assert_eq!(view["rollback"]["replaces"], second_id.as_str());
    assert_eq!(prod_files(&product), after_first, "prod's files are byte for byte as the first release left them");
    assert_eq!(commits_on_main(&product), commits_before + 1, "exactly one new commit");
    assert_eq!(product.promotion_commits("prod").len(), prod_commits_before + 1, "and it is a promotion into prod");
    assert_eq!(git(&product.bare, &["show", "main:apps/api/qa/values.yaml"]), qa_before, "qa is not touched");
    let listed = server.ferry(&["release", "list", "shop", "--flow", "rollback", "-o", "json"]).json();
    assert_eq!(listed["items"][0]["id"], view["id"], "{listed:#}");

    // Refusals name what is wrong, and create nothing.
    let unknown = server.ferry(&["release", "rollback", "shop", "--env", "nowhere"]);
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("unknown environment \"nowhere\""), "{}", unknown.stderr);
    let rollback_id = view["id"].as_str().unwrap();
    let current = server.ferry(&["release", "rollback", "shop", "--env", "prod", "--to", rollback_id]);
    assert_ne!(current.code, 0);
    assert!(current.stderr.contains("nothing to roll back"), "{}", current.stderr);
    assert_eq!(commits_on_main(&product), commits_before + 1);
}
